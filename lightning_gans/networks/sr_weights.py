"""Loading the released super-resolution weight files into ``MSRResNet`` and ``RRDBNet``: one entry point,
``load_sr_weights``, that detects the file's key layout, renames its keys to ours (which are BasicSR's), checks that
the file's architecture, scale and sizes match the network, and loads strictly.

Layouts (the key that identifies each, then what it holds):

=============  ===========================================  ====================================================
layout         identifying key                              files
=============  ===========================================  ====================================================
``basicsr``    ``body.0.rdb1.conv1.weight``                 BasicSR's RRDBNet (``params_ema`` preferred over
                                                            ``params``); Real-ESRGAN's ``RealESRGAN_x4plus.pth``,
                                                            ``RealESRGAN_x2plus.pth``, ``RealESRNet_x4plus.pth``
``esrgan``     ``RRDB_trunk.0.RDB1.conv1.weight``           xinntao/ESRGAN's ``RRDB_ESRGAN_x4.pth``,
                                                            ``RRDB_PSNR_x4.pth`` (``RRDBNet_arch.py`` names)
``old_arch``   ``model.1.sub.0.RDB1.conv1.0.weight``        the 2018 sequential layout (and many community
                                                            models): ``model.0`` conv_first, ``model.1.sub.N``
                                                            RRDBs, ``model.1.sub.<num_blocks>`` trunk conv,
                                                            ``model.3`` / ``model.6`` up-convs, ``model.8`` HR conv,
                                                            ``model.10`` last conv (xinntao's
                                                            ``transer_RRDB_models.py`` maps it to ``esrgan``)
``msrresnet``  ``body.0.conv1.weight`` + ``upconv1.weight``  BasicSR's ``MSRResNet_x{2,3,4}`` files
=============  ===========================================  ====================================================

A leading ``module.`` (``nn.DataParallel``) is stripped first. Files are opened by
``lightning_gans.pretrained.read_state_dict`` (``weights_only=True``); every mismatch is one ``UserInputError`` line
that says what the file holds and how the network was built.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping

from torch import Tensor, nn

from lightning_gans.errors import UserInputError
from lightning_gans.networks.rrdbnet import RRDBNet
from lightning_gans.networks.srresnet import MSRResNet
from lightning_gans.pretrained import read_state_dict

__all__ = ["detect_layout", "load_sr_weights", "to_basicsr_names"]

# Key renames to our (BasicSR's) names, applied in order; the first pattern that matches a key renames it.
RENAMES: dict[str, list[tuple[str, str]]] = {
    "basicsr": [],
    "msrresnet": [],
    # BasicSR's scripts/model_conversion/convert_models.py (convert_esrgan_model) reads the same correspondence.
    "esrgan": [
        (r"^RRDB_trunk\.(\d+)\.RDB([123])\.", r"body.\1.rdb\2."),
        (r"^trunk_conv\.", "conv_body."),
        (r"^upconv([12])\.", r"conv_up\1."),
        (r"^HRconv\.", "conv_hr."),
    ],
    # Sequential indices of the old architecture: 0 conv, 1 shortcut(RRDBs + trunk conv), 2 upsample, 3 conv,
    # 4 lrelu, 5 upsample, 6 conv, 7 lrelu, 8 HR conv, 9 lrelu, 10 last conv. Each old conv is a block whose conv is
    # its entry 0, hence ``conv1.0.weight``.
    "old_arch": [
        (r"^model\.0\.", "conv_first."),
        (r"^model\.1\.sub\.(\d+)\.RDB([123])\.conv([1-5])\.0\.", r"body.\1.rdb\2.conv\3."),
        (r"^model\.1\.sub\.\d+\.(weight|bias)$", r"conv_body.\1"),
        (r"^model\.3\.", "conv_up1."),
        (r"^model\.6\.", "conv_up2."),
        (r"^model\.8\.", "conv_hr."),
        (r"^model\.10\.", "conv_last."),
    ],
}
LAYOUT_KEYS: dict[str, tuple[str, ...]] = {
    "basicsr": ("body.0.rdb1.conv1.weight",),
    "esrgan": ("RRDB_trunk.0.RDB1.conv1.weight",),
    "old_arch": ("model.1.sub.0.RDB1.conv1.0.weight",),
    "msrresnet": ("body.0.conv1.weight", "upconv1.weight"),
}
ARCHITECTURE: dict[str, str] = {
    "basicsr": "RRDBNet",
    "esrgan": "RRDBNet",
    "old_arch": "RRDBNet",
    "msrresnet": "MSRResNet",
}
OLD_ARCH_X4_CONVS = [0, 3, 6, 8, 10]  # top-level ``model.N`` convs of the x4 old architecture (``model.1`` aside)


def detect_layout(state_dict: Mapping[str, Tensor]) -> str | None:
    """The layout of a state dict (see the module docstring), or None when it is none of them.

    Args:
        state_dict: tensors by name, ``module.`` already stripped.
    """
    for layout, keys in LAYOUT_KEYS.items():
        if all(key in state_dict for key in keys):
            return layout
    return None


def to_basicsr_names(state_dict: Mapping[str, Tensor], layout: str) -> dict[str, Tensor]:
    """The state dict with its keys renamed from ``layout`` to our (BasicSR's) module names.

    Args:
        state_dict: tensors by name in ``layout``.
        layout: one of ``RENAMES``.
    """
    renamed = {}
    for key, value in state_dict.items():
        for pattern, replacement in RENAMES[layout]:
            new_key, count = re.subn(pattern, replacement, key)
            if count:
                key = new_key
                break
        renamed[key] = value
    return renamed


def _num_blocks(state_dict: Mapping[str, Tensor]) -> int:
    indices = {int(match.group(1)) for key in state_dict if (match := re.match(r"body\.(\d+)\.", key))}
    return max(indices) + 1 if indices else 0


def _describe(state_dict: Mapping[str, Tensor], architecture: str) -> dict[str, int]:
    """The constructor arguments a state dict in our names was saved from (scale assumes in = out channels)."""
    first, last = state_dict["conv_first.weight"], state_dict["conv_last.weight"]
    out_channels, features = last.shape[0], first.shape[0]
    config = {"out_channels": out_channels, "num_features": features, "num_blocks": _num_blocks(state_dict)}
    if architecture == "RRDBNet":
        # BasicSR's x2 / x1 networks pixel-unshuffle the input: conv_first sees 4x / 16x the image channels.
        ratio = first.shape[1] / out_channels
        config["scale"] = {1.0: 4, 4.0: 2, 16.0: 1}.get(ratio, 0)
        config["in_channels"] = first.shape[1] // {4: 1, 2: 4, 1: 16}.get(config["scale"], 1)
        config["growth_channels"] = state_dict["body.0.rdb1.conv1.weight"].shape[0]
    else:
        config["in_channels"] = first.shape[1]
        stage = round(math.sqrt(state_dict["upconv1.weight"].shape[0] / features))
        config["scale"] = 4 if "upconv2.weight" in state_dict else stage
    return config


def _network_config(network: nn.Module) -> dict[str, int]:
    """The same description, read from a built network's state dict."""
    architecture = type(network).__name__
    return _describe(network.state_dict(), architecture)


def _as_text(architecture: str, config: Mapping[str, int]) -> str:
    order = ("scale", "in_channels", "out_channels", "num_features", "num_blocks", "growth_channels")
    return f"{architecture}(" + ", ".join(f"{name}={config[name]}" for name in order if name in config) + ")"


def load_sr_weights(
    network: nn.Module, path_or_state_dict: str | os.PathLike | Mapping[str, Tensor], strict: bool = True
) -> str:
    """Load a released weight file (any layout of the module docstring) into ``network``.

    Args:
        network: an ``RRDBNet`` or ``MSRResNet`` built with the file's scale and sizes (e.g.
            ``RRDBNet(scale=4)`` for ``RRDB_ESRGAN_x4.pth`` or ``RealESRGAN_x4plus.pth``,
            ``RRDBNet(scale=2)`` for ``RealESRGAN_x2plus.pth``, ``MSRResNet(scale=3)`` for BasicSR's x3 file).
        path_or_state_dict: a weight file, or a state dict already in memory (BasicSR's ``params_ema`` /
            ``params`` wrappers are unwrapped in both cases, ``params_ema`` first).
        strict: require every key of the network to be in the file and nothing else (``load_state_dict``'s).

    Returns:
        The detected layout (``"basicsr"``, ``"esrgan"``, ``"old_arch"`` or ``"msrresnet"``).

    Raises:
        UserInputError: the file is unreadable, in no known layout, or holds another architecture, scale or size
            than ``network``.
    """
    architecture = type(network).__name__
    if not isinstance(network, (RRDBNet, MSRResNet)):
        raise UserInputError(f"load_sr_weights loads RRDBNet and MSRResNet files; got a {architecture}")
    if isinstance(path_or_state_dict, Mapping):
        source = "the given state dict"
        state_dict = dict(path_or_state_dict)
        for wrapper in ("params_ema", "params"):
            if isinstance(state_dict.get(wrapper), Mapping):
                state_dict = dict(state_dict[wrapper])
                break
    else:
        source = str(path_or_state_dict)
        state_dict = read_state_dict(path_or_state_dict)
    state_dict = {key.removeprefix("module."): value for key, value in state_dict.items()}

    layout = detect_layout(state_dict)
    if layout is None:
        raise UserInputError(
            f"{source} is in no known super-resolution layout (BasicSR RRDBNet / MSRResNet, ESRGAN release, "
            f"old-arch); its first keys: {', '.join(list(state_dict)[:4])}"
        )
    if layout == "old_arch":
        convs = sorted({int(m.group(1)) for k in state_dict if (m := re.match(r"model\.(\d+)\.weight$", k))})
        if convs != OLD_ARCH_X4_CONVS:
            stages = len(convs) - 3  # all but conv_first, HR conv and last conv are up-convs
            raise UserInputError(
                f"{source} holds an old-arch RRDBNet with {stages} upsampling stage(s) (convs at model.{convs}); "
                f"RRDBNet here has two (x4, or x2 / x1 by pixel-unshuffling the input), old-arch files must be x4"
            )
    state_dict = to_basicsr_names(state_dict, layout)
    try:
        held = _describe(state_dict, ARCHITECTURE[layout])
    except KeyError as error:
        raise UserInputError(
            f"{source} ({layout} layout) lacks {error.args[0]} (after renaming): a truncated file?"
        ) from None
    if ARCHITECTURE[layout] != architecture or held != _network_config(network):
        raise UserInputError(
            f"{source} holds {_as_text(ARCHITECTURE[layout], held)} ({layout} layout); the network is "
            f"{_as_text(architecture, _network_config(network))}: build the network with the file's class and arguments"
        )
    try:
        network.load_state_dict(state_dict, strict=strict)
    except RuntimeError as error:
        reason = " ".join(str(error).split())
        raise UserInputError(f"{source} ({layout} layout) does not fit {architecture}: {reason[:300]}") from None
    return layout
