"""Network interpolation between a PSNR-oriented and a GAN-trained super-resolution generator (ESRGAN, Wang et al.
2018, arXiv 1809.00219, Sec. 3.4): per state-dict key,

    theta_INTERP = (1 - alpha) * theta_PSNR + alpha * theta_GAN

alpha = 0 is the PSNR model, 1 the GAN model; values between trade PSNR for perceptual quality without retraining
(the paper's Fig. 9 sweeps 0 to 1 in steps of 0.2). It only makes sense for two networks of one architecture where
the GAN model was fine-tuned from the PSNR one (the SRGAN / ESRGAN stages' ``pretrained_generator``)::

    python -m lightning_gans.interpolate --psnr runs/esrgan_psnr_x4/checkpoints/last.ckpt \\
        --gan runs/esrgan_x4/checkpoints/last.ckpt --alpha 0.8 --out runs/interp_0.8.ckpt
    lightning-gans predict --config experiments/esrgan_x4.yaml --ckpt_path runs/interp_0.8.ckpt \\
        --data.predict_dir photos/ --model.pretrained_generator null

Inputs are fit checkpoints of any SR family (``SRResNet``, ``SRGAN``, ``ESRGAN``) or released weight files
(BasicSR ``params`` / ``params_ema``, the ESRGAN release, old-arch files: ``networks.sr_weights`` layouts), in any
mix; files are read with ``weights_only=True``. A fit checkpoint contributes its generator and, separately, its
generator EMA weights; a weight file (one set of weights) stands for both.

Output: when an input is a fit checkpoint (the GAN's when both are), a copy of that checkpoint whose generator and
generator-EMA weights are the interpolated ones, everything else (discriminator, hyperparameters, step counters)
unchanged: usable as ``--ckpt_path`` for predict / test / validate and as ``--model.pretrained_generator``. When
both inputs are weight files: BasicSR's container ``{"params": ..., "params_ema": ...}`` (one set of tensors,
BasicSR's key names), which BasicSR, ``networks.load_sr_weights`` and ``--model.pretrained_generator`` read.
The file is written to a temporary name first and renamed, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
from torch import Tensor

from lightning_gans.errors import UserInputError
from lightning_gans.networks.sr_weights import detect_layout, to_basicsr_names
from lightning_gans.pretrained import read_state_dict

__all__ = ["GeneratorWeights", "interpolate_files", "interpolate_state_dicts", "main", "read_generator_weights"]

GENERATOR_PREFIX = "generator."  # the family's generator inside a checkpoint's state_dict
EMA_PREFIX = "generator_ema.averaged.module."  # GeneratorEMA's copy of it
ARCHITECTURE_HPARAMS = ("generator", "scale", "channels", "generator_features", "generator_blocks", "generator_growth")


@dataclass
class GeneratorWeights:
    """The generator weights of one input file, in this project's (BasicSR's) key names.

    Args:
        path: the file.
        generator: the generator's state dict.
        ema: the generator EMA's state dict; None when the file has none (weight files, ``ema_decay: null``).
        checkpoint: the whole Lightning checkpoint when the file is one, else None.
        description: what the file holds, for messages (e.g. ``fit checkpoint, generator='rrdbnet', scale=4``).
    """

    path: Path
    generator: dict[str, Tensor]
    ema: Optional[dict[str, Tensor]]
    checkpoint: Optional[dict]
    description: str


def _with_prefix(state_dict: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {key[len(prefix) :]: value for key, value in state_dict.items() if key.startswith(prefix)}


def read_generator_weights(path: str | os.PathLike, argument: str) -> GeneratorWeights:
    """Read the generator (and EMA) weights of a fit checkpoint or a released weight file.

    Args:
        path: a Lightning checkpoint of an SR family, or a weight file in a ``networks.sr_weights`` layout (or a
            state dict in this project's names, e.g. Ledig's ``srresnet``, or an earlier output of this module).
        argument: the option that named the file (``--psnr`` / ``--gan``), for messages.
    """
    path = Path(path)
    try:
        state_dict = read_state_dict(path)  # weights_only; unwraps "state_dict" and BasicSR's params_ema / params
    except UserInputError as error:
        raise UserInputError(f"{argument}: {error}") from None
    if any(key.startswith(GENERATOR_PREFIX) for key in state_dict):
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)  # readable: read_state_dict opened it
        if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
            checkpoint = None  # a bare state dict in a family's names (no hyperparameters to keep)
        hparams = (checkpoint or {}).get("hyper_parameters") or {}
        held = ", ".join(f"{name}={hparams[name]!r}" for name in ARCHITECTURE_HPARAMS if name in hparams)
        ema = _with_prefix(state_dict, EMA_PREFIX) or None
        return GeneratorWeights(path, _with_prefix(state_dict, GENERATOR_PREFIX), ema, checkpoint,
                                f"fit checkpoint{', ' + held if held else ''}")  # fmt: skip
    weights = {key.removeprefix("module."): value for key, value in state_dict.items()}  # nn.DataParallel files
    layout = detect_layout(weights)
    if layout is not None:
        weights = to_basicsr_names(weights, layout)
    return GeneratorWeights(path, weights, None, None, f"{layout or 'state dict'} weight file")


def interpolate_state_dicts(
    psnr: Mapping[str, Tensor], gan: Mapping[str, Tensor], alpha: float, names: tuple[str, str] = ("psnr", "gan")
) -> dict[str, Tensor]:
    """``(1 - alpha) * psnr + alpha * gan`` for every floating-point tensor (ESRGAN Sec. 3.4).

    The sum is computed in float64 and stored in the wider of the two dtypes. Integer tensors (BatchNorm's
    ``num_batches_tracked``) are counters, not weights: the GAN's is kept.

    Args:
        psnr: the PSNR-oriented network's state dict.
        gan: the GAN-trained network's state dict: the same keys and shapes.
        alpha: the GAN model's weight, in [0, 1].
        names: how to call the two in messages (e.g. their files).

    Raises:
        UserInputError: the two do not hold the same architecture (keys or shapes differ), or alpha is outside [0, 1].
    """
    if not 0.0 <= alpha <= 1.0:
        raise UserInputError(f"alpha must be in [0, 1] (0: the PSNR model, 1: the GAN model), got {alpha}")
    only_psnr, only_gan = sorted(set(psnr) - set(gan)), sorted(set(gan) - set(psnr))
    if only_psnr or only_gan:
        side, key = (names[0], only_psnr[0]) if only_psnr else (names[1], only_gan[0])
        raise UserInputError(
            f"{names[0]} and {names[1]} hold different architectures: only {side} has {key} "
            f"({len(only_psnr)} + {len(only_gan)} keys differ); interpolate two networks of one architecture and size"
        )
    interpolated = {}
    for key, low in psnr.items():
        high = gan[key]
        if low.shape != high.shape:
            raise UserInputError(
                f"{names[0]} and {names[1]} hold networks of different sizes: {key} is {tuple(low.shape)} in "
                f"{names[0]} and {tuple(high.shape)} in {names[1]}; interpolate two networks of one architecture "
                "and size"
            )
        if not (low.is_floating_point() and high.is_floating_point()):
            interpolated[key] = high.clone()
            continue
        dtype = torch.promote_types(low.dtype, high.dtype)
        mixed = (1 - alpha) * low.double() + alpha * high.double()
        interpolated[key] = mixed.to(dtype)
    return interpolated


def _hparam_difference(psnr: GeneratorWeights, gan: GeneratorWeights) -> Optional[str]:
    """The first architecture hyperparameter that differs when both inputs are fit checkpoints, as text, or None."""
    if psnr.checkpoint is None or gan.checkpoint is None:
        return None
    low = psnr.checkpoint.get("hyper_parameters") or {}
    high = gan.checkpoint.get("hyper_parameters") or {}
    for name in ARCHITECTURE_HPARAMS:
        if name in low and name in high and low[name] != high[name]:
            return f"--psnr {psnr.path} has {name}={low[name]!r} but --gan {gan.path} has {name}={high[name]!r}"
    return None


def interpolate_files(
    psnr_path: str | os.PathLike, gan_path: str | os.PathLike, alpha: float, out_path: str | os.PathLike
) -> str:
    """Interpolate two generator files and write the result (module docstring: what is written).

    Args:
        psnr_path: the PSNR-oriented model: a fit checkpoint or a weight file.
        gan_path: the GAN model, fine-tuned from it: a fit checkpoint or a weight file.
        alpha: the GAN model's weight, in [0, 1].
        out_path: the file to write (its folder is created); it may not be one of the inputs.

    Returns:
        One line saying what was written.
    """
    if not 0.0 <= alpha <= 1.0:
        raise UserInputError(f"--alpha must be in [0, 1] (0: the PSNR model, 1: the GAN model), got {alpha}")
    out_path = Path(out_path)
    for argument, given in (("--psnr", psnr_path), ("--gan", gan_path)):
        if Path(given).exists() and out_path.exists() and out_path.samefile(given):
            raise UserInputError(f"--out {out_path} is the {argument} file; write the interpolation to a new file")
    psnr = read_generator_weights(psnr_path, "--psnr")
    gan = read_generator_weights(gan_path, "--gan")
    names = (f"--psnr {psnr.path} ({psnr.description})", f"--gan {gan.path} ({gan.description})")
    try:
        generator = interpolate_state_dicts(psnr.generator, gan.generator, alpha, names)
    except UserInputError:
        difference = _hparam_difference(psnr, gan)  # clearer than a key name, when both files carry them
        if difference is None:
            raise
        raise UserInputError(
            f"{difference}; interpolate two networks of one architecture and size (the GAN stage fine-tuned from "
            "the PSNR one)"
        ) from None
    # EMA weights with EMA weights; a side without them (a weight file) stands in with its only weights
    ema = None
    if psnr.ema is not None or gan.ema is not None:
        ema = interpolate_state_dicts(psnr.ema or psnr.generator, gan.ema or gan.generator, alpha, names)

    base = gan if gan.checkpoint is not None else psnr
    if base.checkpoint is not None:
        output = dict(base.checkpoint)
        state_dict = dict(output["state_dict"])
        for prefix, weights in ((GENERATOR_PREFIX, generator), (EMA_PREFIX, ema)):
            if weights is None or not any(key.startswith(prefix) for key in state_dict):
                continue  # the base has no EMA (ema_decay: null): nothing to replace
            state_dict.update({prefix + key: value for key, value in weights.items()})
        output["state_dict"] = state_dict
        what = f"a copy of {base.path} with interpolated generator{' and EMA' if ema is not None else ''} weights"
    else:
        output = {"params": generator, "params_ema": generator}  # torch.save stores the shared tensors once
        what = "BasicSR-style weights {params, params_ema}"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(out_path.name + ".partial")
    try:
        torch.save(output, partial)
        os.replace(partial, out_path)
    finally:
        partial.unlink(missing_ok=True)
    return f"wrote {out_path}: {what}, alpha={alpha} (0: {psnr.path}, 1: {gan.path})"


def main(argv: Optional[Sequence[str]] = None) -> None:
    """``python -m lightning_gans.interpolate --psnr A --gan B --alpha 0.8 --out C`` (module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m lightning_gans.interpolate",
        description="Network interpolation (ESRGAN Sec. 3.4): theta = (1 - alpha) theta_PSNR + alpha theta_GAN.",
    )
    parser.add_argument("--psnr", required=True, help="the PSNR-oriented model: fit checkpoint or weight file")
    parser.add_argument("--gan", required=True, help="the GAN model fine-tuned from it: fit checkpoint or weight file")
    parser.add_argument("--alpha", required=True, type=float, help="weight of the GAN model, in [0, 1]")
    parser.add_argument("--out", required=True, help="file to write (a checkpoint, or BasicSR-style weights)")
    args = parser.parse_args(argv)
    try:
        print(interpolate_files(args.psnr, args.gan, args.alpha, args.out))
    except UserInputError as error:
        print(f"lightning_gans.interpolate: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
