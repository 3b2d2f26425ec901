"""Tests of the super-resolution networks: published parameter counts (build only), forward and backward on tiny
configurations, the residual and skip structure, and loading of the released weight layouts (state dicts written
here by each layout's own naming, on tiny networks, so no reference code and no download is needed)."""

import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lightning_gans.errors import UserInputError
from lightning_gans.networks.rrdbnet import RRDB, ResidualDenseBlock, RRDBNet
from lightning_gans.networks.sr_discriminators import UNetDiscriminatorSN, VGGStyleDiscriminator
from lightning_gans.networks.sr_weights import load_sr_weights
from lightning_gans.networks.srresnet import MSRResNet, SRResNet


def num_parameters(network: nn.Module) -> int:
    return sum(p.numel() for p in network.parameters())


# --------------------------------------------------------------------------------------------- parameter counts

# Ledig et al. Fig. 4, x4, B = 16, 64 features, biases on every conv, one PReLU slope per PReLU layer:
#   head 9*9*3*64 + 64 + 1 = 15,617; block 2*(9*64*64 + 64) + 2*128 + 1 = 74,113 (x16 = 1,185,808);
#   conv_body + BN 36,928 + 128 = 37,056; two up-stages 2*(9*64*256 + 256 + 1) = 295,426; tail 9*9*64*3 + 3 = 15,555.
SRRESNET_X4 = 15_617 + 16 * 74_113 + 37_056 + 295_426 + 15_555
# The InstanceNorm variant: no biases, LeakyReLU has no parameters, InstanceNorm affine 128 per layer.
SRRESNET_IN_X4 = 15_552 + 16 * (2 * 36_864 + 2 * 128) + 36_864 + 128 + 2 * 147_456 + 15_552
# SRGAN's discriminator (Fig. 4) at 96x96: conv0 with bias, 7 bias-free convs + BN, Dense(512*6*6 -> 1024), Dense(1).
SRGAN_D = (
    (27 * 64 + 64)
    + sum(
        9 * cin * cout + 2 * cout
        for cin, cout in [(64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 512), (512, 512)]
    )
    + (512 * 36 * 1024 + 1024)
    + (1024 + 1)
)

PARAMETER_COUNTS: list[tuple[str, Callable[[], nn.Module], int]] = [
    ("SRResNet x4 (Ledig et al. Fig. 4)", lambda: SRResNet(), SRRESNET_X4),
    ("SRResNet x4 instance_norm", lambda: SRResNet(variant="instance_norm"), SRRESNET_IN_X4),
    ("MSRResNet x4 (BasicSR)", lambda: MSRResNet(), 1_517_571),
    ("RRDBNet x4 (BasicSR / ESRGAN)", lambda: RRDBNet(), 16_697_987),
    ("VGGStyleDiscriminator 128 (BasicSR)", lambda: VGGStyleDiscriminator(), 14_499_401),
    ("VGGStyleDiscriminator srgan 96", lambda: VGGStyleDiscriminator(variant="srgan"), SRGAN_D),
    ("UNetDiscriminatorSN (Real-ESRGAN)", lambda: UNetDiscriminatorSN(), 4_376_897),
]


@pytest.mark.parametrize("name, build, expected", PARAMETER_COUNTS, ids=[row[0] for row in PARAMETER_COUNTS])
def test_parameter_counts(name: str, build: Callable[[], nn.Module], expected: int) -> None:
    assert num_parameters(build()) == expected


def test_srresnet_count_is_the_papers_1549462() -> None:
    assert SRRESNET_X4 == 1_549_462  # the figure the issue quotes, re-derived above from Fig. 4


# --------------------------------------------------------------------------------------- tiny forward / backward

TINY_GENERATORS: list[tuple[str, Callable[[], nn.Module], int]] = [
    *[
        (f"SRResNet-{v}-x{s}", lambda v=v, s=s: SRResNet(scale=s, variant=v, num_features=8, num_blocks=2), s)
        for v in ("srgan", "instance_norm")
        for s in (2, 3, 4)
    ],
    *[(f"MSRResNet-x{s}", lambda s=s: MSRResNet(scale=s, num_features=8, num_blocks=2), s) for s in (2, 3, 4)],
    *[
        (f"RRDBNet-x{s}", lambda s=s: RRDBNet(scale=s, num_features=8, num_blocks=2, growth_channels=4), s)
        for s in (1, 2, 4)
    ],
]


def assert_every_parameter_gets_a_gradient(network: nn.Module) -> None:
    for name, param in network.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
        if param.ndim > 1:  # weights; a bias right before BatchNorm has an exactly-zero gradient in train mode
            assert param.grad.abs().sum() > 0, name


@pytest.mark.parametrize("name, build, scale", TINY_GENERATORS, ids=[row[0] for row in TINY_GENERATORS])
def test_generator_forward_backward(name: str, build: Callable[[], nn.Module], scale: int) -> None:
    torch.manual_seed(0)
    network = build()
    images = torch.rand(2, 3, 8, 12)
    output = network(images)
    assert output.shape == (2, 3, 8 * scale, 12 * scale)
    output.square().mean().backward()
    assert_every_parameter_gets_a_gradient(network)


TINY_DISCRIMINATORS: list[tuple[str, Callable[[], nn.Module], tuple[int, ...], tuple[int, ...]]] = [
    ("VGG-esrgan-32", lambda: VGGStyleDiscriminator(num_features=4, input_size=32), (2, 3, 32, 32), (2, 1)),
    (
        "VGG-srgan-16",
        lambda: VGGStyleDiscriminator(variant="srgan", num_features=4, input_size=16),
        (2, 3, 16, 16),
        (2, 1),
    ),
    ("UNetSN", lambda: UNetDiscriminatorSN(num_features=4), (2, 3, 16, 24), (2, 1, 16, 24)),
    ("UNetSN-no-skip", lambda: UNetDiscriminatorSN(num_features=4, skip_connection=False), (2, 3, 8, 8), (2, 1, 8, 8)),
]


@pytest.mark.parametrize(
    "name, build, shape, out_shape", TINY_DISCRIMINATORS, ids=[row[0] for row in TINY_DISCRIMINATORS]
)
def test_discriminator_forward_backward(name: str, build, shape: tuple[int, ...], out_shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    network = build()
    logits = network(torch.rand(shape))
    assert logits.shape == out_shape
    logits.mean().backward()
    assert_every_parameter_gets_a_gradient(network)


def test_vgg_discriminator_stages_follow_the_crop() -> None:
    """BasicSR's network ends at 4x4 (one more stage for 256 crops); SRGAN's keeps 4 stages (96 -> 6x6)."""
    assert VGGStyleDiscriminator(num_features=4).classifier[1].in_features == 32 * 4 * 4
    assert VGGStyleDiscriminator(num_features=4, input_size=256).classifier[1].in_features == 32 * 4 * 4
    assert len(VGGStyleDiscriminator(num_features=4, input_size=256).features) == 12  # 6 stages x 2 convs
    assert VGGStyleDiscriminator(variant="srgan", num_features=4).classifier[1].in_features == 32 * 6 * 6
    srgan_convs = [
        m for m in VGGStyleDiscriminator(variant="srgan", num_features=4).modules() if isinstance(m, nn.Conv2d)
    ]
    assert [(c.kernel_size[0], c.stride[0], c.out_channels) for c in srgan_convs] == [
        (3, 1, 4),
        (3, 2, 4),
        (3, 1, 8),
        (3, 2, 8),
        (3, 1, 16),
        (3, 2, 16),
        (3, 1, 32),
        (3, 2, 32),
    ]  # Fig. 4: k3n64s1, k3n64s2, k3n128s1, ..., k3n512s2 (here / 16)


def test_unet_discriminator_is_spectrally_normalised() -> None:
    network = UNetDiscriminatorSN(num_features=4)
    keys = network.state_dict().keys()
    assert {f"conv{i}.weight_orig" for i in range(1, 9)} <= keys  # Real-ESRGAN's *_netD.pth names
    assert "conv0.weight" in keys and "conv9.weight" in keys
    with torch.no_grad():
        network.conv1.weight_orig.mul_(10.0)  # whatever the raw scale, the used weight has spectral norm ~1
    for _ in range(30):  # one power iteration per forward in train mode
        network(torch.rand(1, 3, 8, 8))
    weight = network.conv1.weight.detach().flatten(1)
    assert torch.linalg.matrix_norm(network.conv1.weight_orig.detach().flatten(1), ord=2) > 2.0
    assert torch.linalg.matrix_norm(weight, ord=2).item() == pytest.approx(1.0, rel=0.02)


# ----------------------------------------------------------------------------------------- structure by hand


def test_residual_scaling_of_rrdb() -> None:
    """ESRGAN Sec. 3.1: each dense block and the RRDB add 0.2 x their residual. With conv5 zero in rdb1 and rdb2
    and only a bias c in rdb3's conv5, rdb3 returns x + 0.2c and the RRDB x + 0.2(x + 0.2c) = 1.2x + 0.04c."""
    block = RRDB(features=4, growth=2)
    with torch.no_grad():
        for rdb in (block.rdb1, block.rdb2, block.rdb3):
            rdb.conv5.weight.zero_()
            rdb.conv5.bias.zero_()
        block.rdb3.conv5.bias.fill_(1.0)
    x = torch.randn(1, 4, 5, 5)
    torch.testing.assert_close(block.rdb1(x), x)
    torch.testing.assert_close(block(x), 1.2 * x + 0.04)


def test_msrresnet_adds_the_bilinear_input() -> None:
    network = MSRResNet(scale=3, num_features=8, num_blocks=1)
    with torch.no_grad():
        network.conv_last.weight.zero_()
        network.conv_last.bias.zero_()
    images = torch.rand(1, 3, 5, 7)
    expected = F.interpolate(images, size=(15, 21), mode="bilinear", align_corners=False)
    torch.testing.assert_close(network(images), expected)


def test_scaled_kaiming_initialisation() -> None:
    """BasicSR: kaiming-normal x 0.1 for MSRResNet's convs and RRDB's dense-block convs, zero biases."""
    torch.manual_seed(0)
    msr = MSRResNet()
    rdb = ResidualDenseBlock(64, 32)
    for conv in (msr.body[0].conv1, msr.conv_first, msr.upconv2, rdb.conv5):
        fan_in = conv.weight[0].numel()
        assert conv.weight.std().item() == pytest.approx(0.1 * math.sqrt(2 / fan_in), rel=0.1)
        assert conv.bias.abs().max() == 0


def test_rrdbnet_pixel_unshuffles_for_x2_and_x1() -> None:
    assert RRDBNet(scale=2, num_features=8, num_blocks=1, growth_channels=4).conv_first.in_channels == 12
    assert RRDBNet(scale=1, num_features=8, num_blocks=1, growth_channels=4).conv_first.in_channels == 48


def test_instance_norm_variant_layers() -> None:
    network = SRResNet(variant="instance_norm", num_features=8, num_blocks=1)
    assert isinstance(network.body[0].norm1, nn.InstanceNorm2d) and network.body[0].norm1.affine
    assert isinstance(network.body[0].act, nn.LeakyReLU) and network.body[0].act.negative_slope == 0.2
    assert all(m.bias is None for m in network.modules() if isinstance(m, nn.Conv2d))
    paper = SRResNet(num_features=8, num_blocks=1)
    assert isinstance(paper.body[0].norm1, nn.BatchNorm2d) and isinstance(paper.body[0].act, nn.PReLU)
    assert paper.conv_first.kernel_size == (9, 9) and paper.conv_last.kernel_size == (9, 9)


# ------------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "build, words",
    [
        (lambda: SRResNet(scale=8), "scale must be 2, 3 or 4"),
        (lambda: MSRResNet(scale=5), "scale must be 2, 3 or 4"),
        (lambda: RRDBNet(scale=3), "scale must be 4, 2 or 1"),
        (lambda: SRResNet(variant="nope"), "variant 'nope'"),
        (lambda: MSRResNet(in_channels=1, out_channels=3), "must equal"),
        (lambda: VGGStyleDiscriminator(input_size=100), "input_size must be 4 times a power of two"),
        (lambda: VGGStyleDiscriminator(variant="srgan", input_size=100), "input_size must be a multiple of 16"),
    ],
)
def test_bad_arguments_raise_one_line(build, words: str) -> None:
    with pytest.raises(UserInputError, match=words) as error:
        build()
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "network, shape, words",
    [
        (RRDBNet(scale=1, num_features=4, num_blocks=1, growth_channels=2), (1, 3, 6, 8), "multiples of 4"),
        (RRDBNet(num_features=4, num_blocks=1, growth_channels=2), (1, 1, 8, 8), "3-channel"),
        (VGGStyleDiscriminator(num_features=4, input_size=32), (1, 3, 64, 64), "32x32 crops, got 64x64"),
        (UNetDiscriminatorSN(num_features=4), (1, 3, 12, 16), "multiples of 8"),
    ],
)
def test_bad_inputs_raise_one_line(network: nn.Module, shape: tuple[int, ...], words: str) -> None:
    with pytest.raises(UserInputError, match=words) as error:
        network(torch.rand(shape))
    assert "\n" not in str(error.value)


# ------------------------------------------------------------------------------------- released weight layouts
# Each layout's state dict is written here from its own naming, with values taken from a source network's modules.

TINY_RRDB = {"num_features": 8, "num_blocks": 2, "growth_channels": 4}


def conv_params(prefix: str, conv: nn.Conv2d) -> dict[str, Tensor]:
    return {f"{prefix}.weight": conv.weight.detach().clone(), f"{prefix}.bias": conv.bias.detach().clone()}


def dense_convs(network: RRDBNet):
    """(block index, rdb index 1..3, conv index 1..5, conv module) over the trunk."""
    for b, rrdb in enumerate(network.body):
        for r, rdb in enumerate((rrdb.rdb1, rrdb.rdb2, rrdb.rdb3), start=1):
            for c in range(1, 6):
                yield b, r, c, getattr(rdb, f"conv{c}")


def esrgan_release_state_dict(network: RRDBNet) -> dict[str, Tensor]:
    """xinntao/ESRGAN RRDBNet_arch.py names: conv_first, RRDB_trunk.N.RDBk.convj, trunk_conv, upconv1/2, HRconv."""
    state = conv_params("conv_first", network.conv_first)
    for b, r, c, conv in dense_convs(network):
        state |= conv_params(f"RRDB_trunk.{b}.RDB{r}.conv{c}", conv)
    state |= conv_params("trunk_conv", network.conv_body)
    state |= conv_params("upconv1", network.conv_up1) | conv_params("upconv2", network.conv_up2)
    return state | conv_params("HRconv", network.conv_hr) | conv_params("conv_last", network.conv_last)


def old_arch_state_dict(network: RRDBNet) -> dict[str, Tensor]:
    """The 2018 sequential tree: model.0, model.1.sub.N.RDBk.convj.0, model.1.sub.<blocks>, model.3/6/8/10."""
    state = conv_params("model.0", network.conv_first)
    for b, r, c, conv in dense_convs(network):
        state |= conv_params(f"model.1.sub.{b}.RDB{r}.conv{c}.0", conv)
    state |= conv_params(f"model.1.sub.{len(network.body)}", network.conv_body)
    state |= conv_params("model.3", network.conv_up1) | conv_params("model.6", network.conv_up2)
    return state | conv_params("model.8", network.conv_hr) | conv_params("model.10", network.conv_last)


def perturbed(network: nn.Module) -> nn.Module:
    """Give every parameter a distinct random value, so a key mapped to the wrong layer changes the output."""
    with torch.no_grad():
        for param in network.parameters():
            param.copy_(torch.randn_like(param) * 0.2)
    return network.eval()


@pytest.mark.parametrize("layout, write", [("esrgan", esrgan_release_state_dict), ("old_arch", old_arch_state_dict)])
def test_reference_layouts_reproduce_the_output(layout: str, write, tmp_path) -> None:
    torch.manual_seed(0)
    source = perturbed(RRDBNet(**TINY_RRDB))
    path = tmp_path / "RRDB_ESRGAN_x4.pth"
    torch.save(write(source), path)  # bare state dict, as the release files are
    network = RRDBNet(**TINY_RRDB).eval()
    assert load_sr_weights(network, path) == layout
    images = torch.rand(1, 3, 6, 5)
    with torch.no_grad():
        torch.testing.assert_close(network(images), source(images), rtol=0, atol=0)


def test_data_parallel_prefix_is_stripped() -> None:
    torch.manual_seed(0)
    source = perturbed(RRDBNet(**TINY_RRDB))
    network = RRDBNet(**TINY_RRDB)
    load_sr_weights(network, {f"module.{k}": v for k, v in esrgan_release_state_dict(source).items()})
    for (name, ours), theirs in zip(network.state_dict().items(), source.state_dict().values(), strict=True):
        assert torch.equal(ours, theirs), name


@pytest.mark.parametrize(
    "build",
    [
        lambda: RRDBNet(scale=4, **TINY_RRDB),
        lambda: RRDBNet(scale=2, **TINY_RRDB),
        lambda: RRDBNet(scale=1, **TINY_RRDB),
        lambda: MSRResNet(scale=3, num_features=8, num_blocks=2),
        lambda: MSRResNet(scale=4, num_features=8, num_blocks=2),
    ],
)
def test_basicsr_files_prefer_params_ema(build, tmp_path) -> None:
    """BasicSR (and Real-ESRGAN, e.g. RealESRGAN_x4plus.pth) save {"params": ..., "params_ema": ...}."""
    torch.manual_seed(0)
    ema, raw = perturbed(build()), perturbed(build())
    path = tmp_path / "net_g.pth"
    torch.save({"params": raw.state_dict(), "params_ema": ema.state_dict()}, path)
    network = build().eval()
    assert load_sr_weights(network, path) == ("msrresnet" if isinstance(network, MSRResNet) else "basicsr")
    images = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(network(images), ema(images), rtol=0, atol=0)
    load_sr_weights(network, {"params": raw.state_dict()})  # an in-memory dict with only params
    with torch.no_grad():
        torch.testing.assert_close(network(images), raw(images), rtol=0, atol=0)


def old_arch_x2_state_dict(network: RRDBNet) -> dict[str, Tensor]:
    """An old-arch file with one upsampling stage (model.3 up-conv, model.5 HR conv, model.7 last)."""
    state = old_arch_state_dict(network)
    for key in [k for k in state if k.startswith(("model.6.", "model.8.", "model.10."))]:
        del state[key]
    return state | conv_params("model.5", network.conv_hr) | conv_params("model.7", network.conv_last)


@pytest.mark.parametrize(
    "network, write, words",
    [
        (RRDBNet(scale=2, **TINY_RRDB), esrgan_release_state_dict, r"holds RRDBNet\(scale=4"),
        (RRDBNet(scale=4, num_features=8, num_blocks=3, growth_channels=4), old_arch_state_dict, "num_blocks=2"),
        (MSRResNet(num_features=8, num_blocks=2), esrgan_release_state_dict, "holds RRDBNet.*the network is MSRResNet"),
        (RRDBNet(**TINY_RRDB), old_arch_x2_state_dict, "1 upsampling stage"),
        (RRDBNet(**TINY_RRDB), lambda net: {"features.0.weight": torch.zeros(1)}, "no known super-resolution layout"),
        (SRResNet(num_features=8, num_blocks=1), esrgan_release_state_dict, "loads RRDBNet and MSRResNet"),
    ],
)
def test_mismatched_files_raise_one_line(network: nn.Module, write, words: str) -> None:
    source = RRDBNet(**TINY_RRDB)
    with pytest.raises(UserInputError, match=words) as error:
        load_sr_weights(network, write(source))
    assert "\n" not in str(error.value)


def test_msrresnet_file_of_another_scale_says_what_it_holds() -> None:
    source = MSRResNet(scale=2, num_features=8, num_blocks=2)
    with pytest.raises(UserInputError, match=r"holds MSRResNet\(scale=2.*the network is MSRResNet\(scale=3"):
        load_sr_weights(MSRResNet(scale=3, num_features=8, num_blocks=2), {"params": source.state_dict()})


def test_missing_file_is_one_line(tmp_path) -> None:
    with pytest.raises(UserInputError, match="not found"):
        load_sr_weights(RRDBNet(**TINY_RRDB), tmp_path / "RealESRGAN_x4plus.pth")
