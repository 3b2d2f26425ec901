"""Tests of the translation networks (U-Net, ResNet generator, PatchGAN, PixelGAN) and of loading the reference's
(junyanz/pytorch-CycleGAN-and-pix2pix) weight files.

Reference-named state dicts are written here from the reference's documented module layout (its nn.Sequential
contents, enumerated), independently of the name tables in ``lightning_gans.networks``; tiny networks keep it fast.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

from lightning_gans.errors import UserInputError
from lightning_gans.networks import (
    PatchDiscriminator,
    PixelDiscriminator,
    ResNetGenerator,
    UNetGenerator,
    load_reference_weights,
    unet_generator,
)


def count(network: nn.Module) -> int:
    return sum(p.numel() for p in network.parameters())


def seeded(factory: Callable[[], nn.Module], seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return factory()


# ----------------------------------------------------------------------------------------- parameter counts


@pytest.mark.parametrize(
    "factory, expected",
    [
        (lambda: unet_generator(256), 54_413_955),  # pix2pix, reference unet_256 (ngf 64, batch norm, dropout)
        (lambda: unet_generator(128), 41_828_995),  # reference unet_128
        (lambda: ResNetGenerator(num_blocks=9), 11_378_179),  # CycleGAN resnet_9blocks (instance norm)
        (lambda: ResNetGenerator(num_blocks=6), 7_837_699),  # resnet_6blocks
        (lambda: PatchDiscriminator(6, norm="batch"), 2_768_705),  # pix2pix 70x70 D on (input, output) pairs
        (lambda: PatchDiscriminator(3, norm="instance"), 2_764_737),  # CycleGAN D
    ],
    ids=["unet_256", "unet_128", "resnet_9", "resnet_6", "patch_6ch_batch", "patch_3ch_instance"],
)
def test_parameter_counts_match_the_reference(factory, expected):
    assert count(factory()) == expected


# -------------------------------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("in_channels, out_channels", [(1, 1), (3, 3), (3, 2), (4, 1)])
@pytest.mark.parametrize("size", [(32, 32), (64, 32)])
def test_unet_shapes_and_range(in_channels, out_channels, size):
    network = UNetGenerator(in_channels, out_channels, num_downs=5, base_channels=4)
    assert network.stride == 32
    output = network(torch.randn(2, in_channels, *size) * 3)
    assert output.shape == (2, out_channels, *size)
    assert output.abs().max() <= 1  # tanh


@pytest.mark.parametrize("in_channels, out_channels", [(1, 1), (3, 3), (2, 5)])
@pytest.mark.parametrize("size", [(8, 8), (12, 20)])
def test_resnet_shapes_and_range(in_channels, out_channels, size):
    network = ResNetGenerator(in_channels, out_channels, base_channels=4, num_blocks=2)
    assert network.stride == 4
    output = network(torch.randn(2, in_channels, *size) * 3)
    assert output.shape == (2, out_channels, *size)
    assert output.abs().max() <= 1


@pytest.mark.parametrize("num_layers, size, logits", [(1, 32, 14), (2, 40, 8), (3, 24, 1), (3, 70, 6)])
@pytest.mark.parametrize("in_channels", [1, 6])
def test_patch_discriminator_logit_map(num_layers, size, logits, in_channels):
    network = PatchDiscriminator(in_channels, base_channels=4, num_layers=num_layers)
    assert network(torch.randn(2, in_channels, size, size)).shape == (2, 1, logits, logits)


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_pixel_discriminator_one_logit_per_pixel(norm):
    network = PixelDiscriminator(2, base_channels=4, norm=norm)
    assert network(torch.randn(2, 2, 5, 7)).shape == (2, 1, 5, 7)


# ----------------------------------------------------------------------------------------------- gradients

TINY: dict[str, tuple[Callable[[str], nn.Module], tuple[int, ...]]] = {
    "unet": (lambda norm: UNetGenerator(2, 3, num_downs=5, base_channels=4, norm=norm), (2, 2, 32, 32)),
    "resnet": (
        lambda norm: ResNetGenerator(1, 2, base_channels=4, num_blocks=2, norm=norm, dropout=True),
        (2, 1, 8, 12),
    ),
    "patch": (lambda norm: PatchDiscriminator(3, base_channels=4, num_layers=3, norm=norm), (2, 3, 32, 32)),
    "pixel": (lambda norm: PixelDiscriminator(3, base_channels=4, norm=norm), (2, 3, 4, 4)),
}


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
@pytest.mark.parametrize("name", list(TINY))
def test_every_parameter_gets_a_gradient(name, norm):
    factory, shape = TINY[name]
    network = factory(norm)
    network(torch.randn(shape)).square().mean().backward()
    for parameter_name, parameter in network.named_parameters():
        assert parameter.grad is not None, parameter_name
        assert torch.isfinite(parameter.grad).all() and parameter.grad.abs().sum() > 0, parameter_name


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_conv_biases_follow_the_reference_rule(norm):
    """Inner convs carry a bias only without BatchNorm; the reference's always-biased layers keep theirs."""
    unet = UNetGenerator(num_downs=5, base_channels=4, norm=norm)
    assert (unet.encoder[2].conv.bias is not None) == (norm != "batch")
    assert unet.decoder[0].conv.bias is not None  # the outermost up conv
    patch = PatchDiscriminator(3, base_channels=4, norm=norm)
    assert patch.stem.conv.bias is not None and patch.head.bias is not None
    assert (patch.body[0].conv.bias is not None) == (norm != "batch")


def test_init_is_the_papers_normal():
    network = UNetGenerator(num_downs=5, base_channels=16)
    conv = network.encoder[3].conv.weight  # 128 * 64 * 16 weights
    assert abs(conv.mean().item()) < 0.002 and 0.018 < conv.std().item() < 0.022
    gamma = network.encoder[2].norm.weight
    assert abs(gamma.mean().item() - 1) < 0.01 and 0.01 < gamma.std().item() < 0.03
    assert torch.count_nonzero(network.decoder[0].conv.bias) == 0
    assert torch.count_nonzero(ResNetGenerator(base_channels=4, num_blocks=1).blocks[0].body.conv1.bias) == 0


# ------------------------------------------------------------------------------------------------- dropout


def test_unet_dropout_is_on_in_train_mode_and_off_in_eval_mode():
    network = UNetGenerator(3, 3, num_downs=7, base_channels=4, dropout=True)
    assert sum(isinstance(m, nn.Dropout) for m in network.modules()) == 7 - 5
    images = torch.randn(2, 3, 128, 128)
    network.train()
    assert not torch.equal(network(images), network(images))
    network.eval()
    assert torch.equal(network(images), network(images))
    without = UNetGenerator(3, 3, num_downs=7, base_channels=4, dropout=False).train()
    assert sum(isinstance(m, nn.Dropout) for m in without.modules()) == 0
    assert torch.equal(without(images), without(images))  # batch statistics alone are deterministic


# ---------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "network, shape, words",
    [
        (UNetGenerator(num_downs=5, base_channels=4), (1, 3, 33, 32), ["multiples of 32", "33x32", "crop size"]),
        (UNetGenerator(num_downs=5, base_channels=4), (1, 3, 32, 16), ["multiples of 32", "32x16", "pads"]),
        (UNetGenerator(in_channels=1, num_downs=5, base_channels=4), (1, 3, 32, 32), ["1-channel", "got 3"]),
        (UNetGenerator(num_downs=5, base_channels=4), (3, 32, 32), ["(B, C, H, W)"]),
        (ResNetGenerator(base_channels=4, num_blocks=1), (1, 3, 10, 8), ["multiples of 4", "10x8"]),
        (ResNetGenerator(base_channels=4, num_blocks=1), (1, 3, 4, 4), ["at least 8", "4x4"]),
        (PatchDiscriminator(3, base_channels=4, num_layers=3), (2, 3, 23, 64), ["at least 24", "23x64", "num_layers"]),
        (PatchDiscriminator(3, base_channels=4, num_layers=5), (2, 3, 64, 64), ["at least 96", "num_layers=5"]),
        (PixelDiscriminator(3, base_channels=4, norm="instance"), (2, 3, 1, 1), ["at least 2"]),
    ],
)
def test_bad_input_is_one_clear_line(network, shape, words):
    with pytest.raises(UserInputError) as error:
        network(torch.randn(shape))
    message = str(error.value)
    assert "\n" not in message
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    "build, words",
    [
        (lambda: UNetGenerator(num_downs=4), ["num_downs 4"]),
        (lambda: UNetGenerator(norm="group"), ["'group'", "batch, instance, none"]),
        (lambda: unet_generator(64), ["size 64", "[128, 256]"]),
        (lambda: ResNetGenerator(num_blocks=-1), ["num_blocks"]),
        (lambda: PatchDiscriminator(3, num_layers=0), ["num_layers"]),
        (lambda: PixelDiscriminator(3, norm="layer"), ["'layer'"]),
    ],
)
def test_bad_arguments_are_one_clear_line(build, words):
    with pytest.raises(UserInputError) as error:
        build()
    for word in words:
        assert word in str(error.value)


# ------------------------------------------------------------ reference weights, written in the reference's naming
#
# The reference's modules as its nn.Sequential contents; a layer's name is "<prefix>.<index in its Sequential>".
# Only convs and norms hold tensors. SUB marks where a U-Net block nests the next level, BLOCK a ResnetBlock.
SUB, BLOCK = "sub", "block"
TENSOR_LAYERS = ("conv", "convT", "norm")


def reference_unet_layout(num_downs: int, dropout: bool) -> list[tuple[str, str]]:
    """(module name, layer) of the reference's UnetGenerator, in its state_dict order."""

    def block(prefix: str, level: int) -> list[tuple[str, str]]:
        if level == 0:  # outermost
            sequence = ["conv", SUB, "relu", "convT", "tanh"]
        elif level == num_downs - 1:  # innermost
            sequence = ["lrelu", "conv", "relu", "convT", "norm"]
        else:
            sequence = ["lrelu", "conv", "norm", SUB, "relu", "convT", "norm"]
            sequence += ["dropout"] if dropout and level >= 4 else []
        layout = []
        for index, layer in enumerate(sequence):
            if layer == SUB:
                layout += block(f"{prefix}.{index}.model", level + 1)
            elif layer in TENSOR_LAYERS:
                layout.append((f"{prefix}.{index}", layer))
        return layout

    return block("model.model", 0)


def reference_resnet_layout(num_blocks: int, dropout: bool) -> list[tuple[str, str]]:
    """(module name, layer) of the reference's ResnetGenerator, in its state_dict order."""
    sequence = ["pad", "conv", "norm", "relu"] + ["conv", "norm", "relu"] * 2 + [BLOCK] * num_blocks
    sequence += ["convT", "norm", "relu"] * 2 + ["pad", "conv", "tanh"]
    block = ["pad", "conv", "norm", "relu"] + (["dropout"] if dropout else []) + ["pad", "conv", "norm"]
    layout = []
    for index, layer in enumerate(sequence):
        if layer == BLOCK:
            layout += [(f"model.{index}.conv_block.{i}", kind) for i, kind in enumerate(block) if kind in TENSOR_LAYERS]
        elif layer in TENSOR_LAYERS:
            layout.append((f"model.{index}", layer))
    return layout


def reference_patch_layout(num_layers: int) -> list[tuple[str, str]]:
    """(module name, layer) of the reference's NLayerDiscriminator."""
    sequence = ["conv", "lrelu"] + ["conv", "norm", "lrelu"] * num_layers + ["conv"]
    return [(f"model.{index}", layer) for index, layer in enumerate(sequence) if layer in TENSOR_LAYERS]


def layer_kind(module: nn.Module) -> str | None:
    if isinstance(module, nn.ConvTranspose2d):
        return "convT"
    if isinstance(module, nn.Conv2d):
        return "conv"
    if isinstance(module, (nn.BatchNorm2d, nn.InstanceNorm2d)):
        return "norm"
    return None


def in_execution_order(network: nn.Module, images: Tensor) -> list[nn.Module]:
    """The network's convs and norms in the order its forward runs them (the reference's state_dict order)."""
    order: list[nn.Module] = []
    handles = [
        module.register_forward_hook(lambda module, inputs, output: order.append(module))
        for module in network.modules()
        if layer_kind(module) is not None
    ]
    with torch.no_grad():
        network.eval()(images)
    for handle in handles:
        handle.remove()
    return order


def reference_state_dict(network: nn.Module, layout: list[tuple[str, str]], images: Tensor) -> dict[str, Tensor]:
    """``network``'s tensors under the reference's names, plus the stale pre-0.4 InstanceNorm buffers."""
    modules = in_execution_order(network, images)
    assert [layer for _, layer in layout] == [layer_kind(m) for m in modules]
    state = {}
    for (name, _), module in zip(layout, modules):
        for leaf, tensor in module.state_dict().items():
            state[f"{name}.{leaf}"] = tensor.clone()
        if isinstance(module, nn.InstanceNorm2d):  # what files saved before PyTorch 0.4 carry
            channels = module.num_features
            state.update({
                f"{name}.running_mean": torch.zeros(channels),
                f"{name}.running_var": torch.ones(channels),
                f"{name}.num_batches_tracked": torch.tensor(0),
            })
    return state


def perturb_norm_statistics(network: nn.Module) -> None:
    """Non-trivial BatchNorm running statistics, so that loading them is checked too."""
    for module in network.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.bias.data.uniform_(-0.1, 0.1)


LOADING_CASES = {
    "unet_batch": (
        lambda: UNetGenerator(1, 2, num_downs=6, base_channels=4, norm="batch", dropout=True),
        lambda: reference_unet_layout(6, dropout=True),
        (2, 1, 64, 64),
    ),
    "unet_instance": (
        lambda: UNetGenerator(3, 3, num_downs=5, base_channels=4, norm="instance", dropout=False),
        lambda: reference_unet_layout(5, dropout=False),
        (1, 3, 32, 32),
    ),
    "resnet_instance": (
        lambda: ResNetGenerator(3, 1, base_channels=4, num_blocks=3, norm="instance"),
        lambda: reference_resnet_layout(3, dropout=False),
        (1, 3, 12, 8),
    ),
    "resnet_batch_dropout": (
        lambda: ResNetGenerator(2, 3, base_channels=4, num_blocks=2, norm="batch", dropout=True),
        lambda: reference_resnet_layout(2, dropout=True),
        (2, 2, 8, 8),
    ),
    "patch_batch": (
        lambda: PatchDiscriminator(6, base_channels=4, num_layers=3, norm="batch"),
        lambda: reference_patch_layout(3),
        (2, 6, 32, 32),
    ),
}


@pytest.mark.parametrize("case", list(LOADING_CASES))
def test_reference_named_weights_load_and_reproduce_outputs(case, tmp_path):
    factory, layout, shape = LOADING_CASES[case]
    source, target = seeded(factory, 0), seeded(factory, 1)
    perturb_norm_statistics(source)
    images = torch.randn(shape)
    state = reference_state_dict(source, layout(), images)
    torch.save(state, tmp_path / "latest_net_G.pth")
    with torch.no_grad():
        expected = source.eval()(images)
        assert not torch.equal(target.eval()(images), expected)
        load_reference_weights(target, tmp_path / "latest_net_G.pth")
        assert torch.equal(target(images), expected)


def test_reference_layout_shapes_are_the_documented_ones():
    """The names written above carry the reference's shapes: in/out channels at the documented ends."""
    unet = UNetGenerator(1, 2, num_downs=5, base_channels=4)
    state = reference_state_dict(unet, reference_unet_layout(5, dropout=True), torch.randn(2, 1, 32, 32))
    assert state["model.model.0.weight"].shape == (4, 1, 4, 4)  # outermost down conv (ngf, C_in, 4, 4)
    assert state["model.model.3.weight"].shape == (8, 2, 4, 4)  # outermost up conv (2 ngf, C_out, 4, 4)
    assert "model.model.0.bias" not in state and "model.model.3.bias" in state  # batch norm: bias only at the end
    innermost = "model.model.1.model" + ".3.model" * 3
    assert state[f"{innermost}.1.weight"].shape == (32, 32, 4, 4) and f"{innermost}.2.weight" not in state
    resnet = ResNetGenerator(1, 2, base_channels=4, num_blocks=2)
    state = reference_state_dict(resnet, reference_resnet_layout(2, dropout=False), torch.randn(1, 1, 8, 8))
    assert state["model.1.weight"].shape == (4, 1, 7, 7)
    assert state["model.10.conv_block.5.weight"].shape == (16, 16, 3, 3)
    assert state["model.19.weight"].shape == (2, 4, 7, 7) and "model.2.running_mean" in state


@pytest.mark.parametrize("file_dropout, network_dropout", [(True, False), (False, True)])
def test_resnet_files_load_whatever_the_dropout_setting(file_dropout, network_dropout):
    """Dropout has no weights; a file with the reference's --use_dropout layout fits either network."""
    source = seeded(lambda: ResNetGenerator(1, 1, base_channels=4, num_blocks=2, dropout=file_dropout), 0)
    target = seeded(lambda: ResNetGenerator(1, 1, base_channels=4, num_blocks=2, dropout=network_dropout), 1)
    images = torch.randn(1, 1, 8, 8)
    load_reference_weights(target, reference_state_dict(source, reference_resnet_layout(2, file_dropout), images))
    with torch.no_grad():
        assert torch.equal(target.eval()(images), source.eval()(images))


def test_old_files_without_batchnorm_counters_and_with_module_prefix_load():
    source = seeded(lambda: UNetGenerator(3, 3, num_downs=5, base_channels=4), 0)
    perturb_norm_statistics(source)
    images = torch.randn(2, 3, 32, 32)
    state = reference_state_dict(source, reference_unet_layout(5, dropout=True), images)
    state = {f"module.{k}": v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    target = seeded(lambda: UNetGenerator(3, 3, num_downs=5, base_channels=4), 1)
    load_reference_weights(target, state)
    with torch.no_grad():
        assert torch.equal(target.eval()(images), source.eval()(images))


def tiny_resnet_file(num_blocks: int = 2, in_channels: int = 3, norm: str = "instance") -> dict[str, Tensor]:
    network = ResNetGenerator(in_channels, 3, base_channels=4, num_blocks=num_blocks, norm=norm)
    return reference_state_dict(network, reference_resnet_layout(num_blocks, False), torch.randn(1, in_channels, 8, 8))


def tiny_resnet(num_blocks: int = 2, base_channels: int = 4) -> ResNetGenerator:
    return ResNetGenerator(base_channels=base_channels, num_blocks=num_blocks)


def tiny_unet_file() -> dict[str, Tensor]:
    network = UNetGenerator(3, 3, num_downs=5, base_channels=4)
    return reference_state_dict(network, reference_unet_layout(5, True), torch.randn(2, 3, 32, 32))


@pytest.mark.parametrize(
    "state, network, file_words, network_words",
    [
        (tiny_unet_file, lambda: tiny_resnet(), ["UNetGenerator(", "num_downs=5"], ["ResNetGenerator("]),
        (lambda: tiny_resnet_file(2), lambda: tiny_resnet(num_blocks=3), ["num_blocks=2"], ["num_blocks=3"]),
        (lambda: tiny_resnet_file(in_channels=1), tiny_resnet, ["in_channels=1"], ["in_channels=3"]),
        (lambda: tiny_resnet_file(norm="batch"), tiny_resnet, ["norm='batch'"], ["norm='instance'"]),
        (tiny_resnet_file, lambda: tiny_resnet(base_channels=8), ["base_channels=4"], ["base_channels=8"]),
        (tiny_resnet_file, lambda: UNetGenerator(num_downs=5, base_channels=4), ["ResNetGenerator("], ["UNetGenerator("]),
    ],
    ids=["unet_into_resnet", "blocks", "channels", "norm", "width", "resnet_into_unet"],
)
def test_a_file_for_another_architecture_is_one_line_naming_both(state, network, file_words, network_words):
    target = network()
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(UserInputError) as error:
        load_reference_weights(target, state())
    message = str(error.value)
    assert "\n" not in message
    held, expects = message.split("but the network is")
    assert all(word in held for word in file_words), message
    assert all(word in expects for word in network_words), message
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())  # nothing half-loaded


def test_a_file_missing_a_tensor_names_it(tmp_path):
    state = tiny_resnet_file()
    del state["model.10.conv_block.5.weight"]
    with pytest.raises(UserInputError, match="lacks a tensor for blocks.0.body.conv2.weight"):
        load_reference_weights(ResNetGenerator(base_channels=4, num_blocks=2), state)
    with pytest.raises(UserInputError, match="not found"):
        load_reference_weights(ResNetGenerator(base_channels=4, num_blocks=2), tmp_path / "missing.pth")
