"""Loading the translation reference's weight files (junyanz/pytorch-CycleGAN-and-pix2pix) into these networks.

Its checkpoints are bare network state dicts (``latest_net_G.pth``, ``<epoch>_net_G_A.pth``, ...) named after its
module tree (``model.1.weight``, ``model.model.1.model.3.model.1.weight``, ``model.10.conv_block.1.weight``).
``load_reference_weights`` renames them with each network's ``*_reference_modules`` table, drops the InstanceNorm
``running_mean`` / ``running_var`` / ``num_batches_tracked`` entries that files from before PyTorch 0.4 carry (as
the reference's own loader does), and loads strictly. A file for another architecture fails with one line that
names what the file holds and what the network is.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping

from torch import Tensor, nn

from lightning_gans.errors import UserInputError
from lightning_gans.networks.patchgan import (
    PatchDiscriminator,
    PixelDiscriminator,
    patch_reference_modules,
    pixel_reference_modules,
)
from lightning_gans.networks.resnet_generator import ResNetGenerator, resnet_reference_modules
from lightning_gans.networks.unet import UNetGenerator, unet_reference_modules
from lightning_gans.pretrained import read_state_dict

__all__ = ["describe_reference_state", "load_reference_weights"]

TranslationNetwork = UNetGenerator | ResNetGenerator | PatchDiscriminator | PixelDiscriminator

# Buffers an InstanceNorm layer had before PyTorch 0.4 and has no longer (affine=False, no running statistics).
STALE_INSTANCE_NORM_KEYS = ("running_mean", "running_var", "num_batches_tracked")


def load_reference_weights(
    network: TranslationNetwork, path_or_state_dict: str | os.PathLike | Mapping[str, Tensor]
) -> None:
    """Load a reference checkpoint into ``network`` in place (e.g. a released ``latest_net_G.pth``).

    Build the network with the file's architecture first: pix2pix's released generators are
    ``unet_generator(256)`` with ``norm="batch"``, CycleGAN's ``ResNetGenerator(num_blocks=9, norm="instance")``.

    Args:
        network: a ``UNetGenerator``, ``ResNetGenerator``, ``PatchDiscriminator`` or ``PixelDiscriminator``.
        path_or_state_dict: the reference's ``.pth`` file (read with ``weights_only=True``), or its state dict.

    Raises:
        UserInputError: unreadable file, or one whose tensors do not fit ``network``.
    """
    if isinstance(path_or_state_dict, Mapping):
        source, state = "the state dict", dict(path_or_state_dict)
    else:
        source, state = str(path_or_state_dict), read_state_dict(path_or_state_dict)
    state = {key.removeprefix("module."): tensor for key, tensor in state.items()}  # DataParallel-saved files
    reference_names = _reference_modules(network, state)
    our_name = {ref: ours for ours, ref in reference_names.items()}
    expected = network.state_dict()

    converted: dict[str, Tensor] = {}
    problems: list[str] = []
    for key, tensor in state.items():
        module, _, leaf = key.rpartition(".")
        ours = our_name.get(module)
        if ours is not None and f"{ours}.{leaf}" in expected:
            converted[f"{ours}.{leaf}"] = tensor
            if tensor.shape != expected[f"{ours}.{leaf}"].shape:
                wanted = tuple(expected[f"{ours}.{leaf}"].shape)
                problems.append(f"{key} is {tuple(tensor.shape)} where the network has {wanted}")
        elif ours is not None and leaf in STALE_INSTANCE_NORM_KEYS and isinstance(
            network.get_submodule(ours), nn.InstanceNorm2d
        ):
            continue  # the reference's __patch_instance_norm_state_dict drops these too
        else:
            problems.append(f"{key} has no place in the network")
    for key in expected:
        # A BatchNorm counter missing from an old file is filled in by load_state_dict (state-dict version < 2).
        if key not in converted and not key.endswith("num_batches_tracked"):
            problems.append(f"the file lacks a tensor for {key}")
    if problems:
        held = describe_reference_state(state)
        raise UserInputError(
            f"{source} holds {held}, but the network is {_describe_network(network)}{_norm_none_note(network, held)}: "
            f"build it with the file's arguments ({len(problems)} mismatches, first: {problems[0]})"
        )
    network.load_state_dict(converted, strict=True)


def _reference_modules(network: nn.Module, state: Mapping[str, Tensor]) -> dict[str, str]:
    """The name table of ``network``'s class; for a ResNet, in the block layout that ``state`` uses."""
    if isinstance(network, ResNetGenerator):
        # With --use_dropout the second conv of a block sits at index 6 (index 5 is then a pad, without weights).
        dropout_layout = any(re.search(r"\.conv_block\.6\.weight$", k) and v.ndim == 4 for k, v in state.items())
        return resnet_reference_modules(network, dropout_layout)
    tables: dict[type, Callable[[nn.Module], dict[str, str]]] = {
        UNetGenerator: unet_reference_modules,
        PatchDiscriminator: patch_reference_modules,
        PixelDiscriminator: pixel_reference_modules,
    }
    for cls, table in tables.items():
        if isinstance(network, cls):
            return table(network)
    raise UserInputError(
        f"load_reference_weights takes a UNetGenerator, ResNetGenerator, PatchDiscriminator or PixelDiscriminator, "
        f"got {type(network).__name__}"
    )


def _describe_network(network: nn.Module) -> str:
    """``network`` as its constructor call, with the arguments that shape its weights."""
    if isinstance(network, UNetGenerator):
        args = dict(in_channels=network.in_channels, out_channels=network.out_channels, num_downs=network.num_downs)
    elif isinstance(network, ResNetGenerator):
        args = dict(in_channels=network.in_channels, out_channels=network.out_channels, num_blocks=network.num_blocks)
    elif isinstance(network, PatchDiscriminator):
        args = dict(in_channels=network.in_channels, num_layers=network.num_layers)
    else:
        args = dict(in_channels=network.in_channels)
    args.update(base_channels=network.base_channels, norm=network.norm)
    return f"{type(network).__name__}({', '.join(f'{k}={v!r}' for k, v in args.items())})"


def _norm_none_note(network: nn.Module, held: str) -> str:
    """Why a ``--norm none`` file cannot fit a ``norm="none"`` network (see ``lightning_gans.networks.norms``)."""
    if getattr(network, "norm", None) == "none" and "norm='none'" in held:
        return " (reference files trained with --norm none have no conv biases, ours with norm='none' do)"
    return ""


def describe_reference_state(state: Mapping[str, Tensor]) -> str:
    """What a reference state dict holds, as the constructor call of the matching network here.

    Recognises the reference's U-Net, ResNet, n-layer and pixel discriminators by their key layout and reads the
    channel counts off the tensor shapes; anything else is described by its first keys.

    Args:
        state: a state dict in the reference's naming (``module.`` prefixes removed).
    """

    def norm_of(norm_weight: str, conv_bias: str) -> str:
        if norm_weight in state and state[norm_weight].ndim == 1:
            return "batch"
        return "instance" if conv_bias in state else "none"

    def call(name: str, **args) -> str:
        return f"{name}({', '.join(f'{k}={v!r}' for k, v in args.items())})"

    if "model.model.0.weight" in state:  # U-Net: level k nests at model.model(.1.model)(.3.model)*
        first = state["model.model.0.weight"]  # (ngf, C_in, 4, 4)
        depth, prefix = 1, "model.model.1.model."
        while any(key.startswith(prefix) for key in state):
            depth, prefix = depth + 1, prefix + "3.model."
        last = state.get("model.model.3.weight")  # ConvTranspose2d: (2 ngf, C_out, 4, 4)
        return "the reference's weights of " + call(
            "UNetGenerator",
            in_channels=first.shape[1],
            out_channels=last.shape[1] if last is not None else "?",
            num_downs=depth,
            base_channels=first.shape[0],
            norm=norm_of("model.model.1.model.2.weight", "model.model.1.model.1.bias"),
        )
    blocks = {int(m.group(1)) for key in state if (m := re.match(r"model\.(\d+)\.conv_block\.", key))}
    if blocks or ("model.1.weight" in state and state["model.1.weight"].shape[-1] == 7):  # ResNet generator
        first, last = state["model.1.weight"], state.get(f"model.{17 + len(blocks)}.weight")  # (ngf, C_in, 7, 7)
        return "the reference's weights of " + call(
            "ResNetGenerator",
            in_channels=first.shape[1],
            out_channels=last.shape[0] if last is not None else "?",
            num_blocks=len(blocks),
            base_channels=first.shape[0],
            norm=norm_of("model.2.weight", "model.1.bias"),
        )
    if "model.0.weight" in state and state["model.0.weight"].ndim == 4:  # n-layer (PatchGAN) discriminator
        convs = sum(1 for key, v in state.items() if re.fullmatch(r"model\.\d+\.weight", key) and v.ndim == 4)
        return "the reference's weights of " + call(
            "PatchDiscriminator",
            in_channels=state["model.0.weight"].shape[1],
            num_layers=convs - 2,
            base_channels=state["model.0.weight"].shape[0],
            norm=norm_of("model.3.weight", "model.2.bias"),
        )
    if "net.0.weight" in state:  # pixel discriminator
        return "the reference's weights of " + call(
            "PixelDiscriminator",
            in_channels=state["net.0.weight"].shape[1],
            base_channels=state["net.0.weight"].shape[0],
            norm=norm_of("net.3.weight", "net.2.bias"),
        )
    return f"no network layout of the reference (first keys: {', '.join(list(state)[:3])})"
