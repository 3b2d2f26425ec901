"""What the image-to-image translation families (pix2pix, CycleGAN) share beyond their networks.

- ``build_generator`` / ``build_discriminator``: the reference's ``--netG`` / ``--netD`` choices as rows of data;
- ``translate``: inference on any size (pad to the network's stride, crop back) in the chosen inference mode;
- ``check_translation_data``: one-line errors when the data's channels differ from the model's;
- ``translation_scores``: L1 / PSNR / SSIM against the target and, for the near-infrared phantom, the SBR;
- ``panel_inputs``: a few fixed validation inputs for the image panels (input | output | target);
- ``translation_predict_step``: the ``predict`` output the ``PredictionWriter`` writes under the input's name
  and bit depth.

Batches are dicts (see ``datamodules.paired_images``): ``"A"`` and ``"B"`` images ``(B, C, H, W)`` in [-1, 1],
``"name"`` and ``"bit_depth"`` of the A file, and optionally ``"vessel_mask"`` / ``"background_mask"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule
from torch import Tensor, nn
from torch.utils.data import default_collate

from lightning_gans.errors import UserInputError
from lightning_gans.images import to_unit_range
from lightning_gans.inference import run_padded
from lightning_gans.metrics import psnr, signal_to_background_ratio, ssim
from lightning_gans.networks import (
    Norm,
    PatchDiscriminator,
    PixelDiscriminator,
    ResNetGenerator,
    UNetGenerator,
)

__all__ = [
    "GeneratorName",
    "DiscriminatorName",
    "InferenceMode",
    "build_discriminator",
    "build_generator",
    "check_translation_data",
    "panel_inputs",
    "translate",
    "translation_predict_step",
    "translation_scores",
]

GeneratorName = Literal["unet_256", "unet_128", "resnet_9blocks", "resnet_6blocks"]
DiscriminatorName = Literal["patch", "pixel"]
InferenceMode = Literal["paper", "eval"]

# The reference's --netG choices: name -> (network class, keyword arguments)
GENERATORS: dict[str, tuple[type[nn.Module], dict]] = {
    "unet_256": (UNetGenerator, {"num_downs": 8}),
    "unet_128": (UNetGenerator, {"num_downs": 7}),
    "resnet_9blocks": (ResNetGenerator, {"num_blocks": 9}),
    "resnet_6blocks": (ResNetGenerator, {"num_blocks": 6}),
}


def build_generator(
    name: GeneratorName, in_channels: int, out_channels: int, width: int, norm: Norm, dropout: bool
) -> nn.Module:
    """The generator the reference calls ``--netG name`` (N(0, 0.02) initialised by the network itself).

    Args:
        name: ``unet_256`` / ``unet_128`` (U-Net, 8 / 7 downsamplings) or ``resnet_9blocks`` / ``resnet_6blocks``.
        in_channels: input image channels.
        out_channels: output image channels.
        width: channels of the first layer (the reference's ``ngf``).
        norm: ``batch``, ``instance`` or ``none``.
        dropout: dropout 0.5 (U-Net: inner decoder levels; ResNet: inside each block).
    """
    network, kwargs = GENERATORS[name]
    return network(in_channels, out_channels, base_channels=width, norm=norm, dropout=dropout, **kwargs)


def build_discriminator(name: DiscriminatorName, in_channels: int, width: int, num_layers: int, norm: Norm) -> nn.Module:
    """The reference's ``--netD``: ``patch`` (the n-layer PatchGAN; 3 layers = 70x70 patches) or ``pixel`` (1x1).

    Args:
        name: ``patch`` or ``pixel``.
        in_channels: channels D sees.
        width: channels of D's first layer (``ndf``).
        num_layers: stride-2 layers of the PatchGAN (``n_layers_D``); ignored by ``pixel``.
        norm: ``batch``, ``instance`` or ``none``.
    """
    if name == "pixel":
        return PixelDiscriminator(in_channels, base_channels=width, norm=norm)
    return PatchDiscriminator(in_channels, base_channels=width, num_layers=num_layers, norm=norm)


# ---------------------------------------------------------------------------------------------------------------
# Inference: pix2pix, Sec. 3.3: "At inference time, we run the generator net in exactly the same manner as during
# the training phase ... we apply dropout at test time, and we apply batch normalization using the statistics of
# the test batch, rather than aggregated statistics of the training batch." That is the reference's default test
# behaviour; its --eval switches to running statistics and no dropout.
# ---------------------------------------------------------------------------------------------------------------
@contextmanager
def inference_mode(network: nn.Module, mode: InferenceMode) -> Iterator[None]:
    """Run ``network`` as pix2pix infers (``paper``: dropout on, BatchNorm from the batch) or in ``eval`` mode.

    In ``paper`` mode the BatchNorm running statistics are saved and restored, so inference never changes the
    trained network; every module's train/eval flag is restored on exit.

    Args:
        network: the generator.
        mode: ``paper`` or ``eval``.
    """
    flags = {module: module.training for module in network.modules()}
    norms = [m for m in network.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    saved = [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone()) for m in norms]
    network.train(mode == "paper")
    try:
        yield
    finally:
        for module, (mean, var, count) in zip(norms, saved):
            module.running_mean.copy_(mean)
            module.running_var.copy_(var)
            module.num_batches_tracked.copy_(count)
        for module, training in flags.items():
            module.training = training


@torch.no_grad()
def translate(network: nn.Module, images: Tensor, mode: InferenceMode) -> Tensor:
    """``network(images)`` for images ``(B, C, H, W)`` in [-1, 1] of any size: padded to its stride, cropped back.

    Args:
        network: a generator with a ``stride`` attribute.
        images: inputs of any height and width.
        mode: ``paper`` (dropout and batch statistics, pix2pix Sec. 3.3) or ``eval``.
    """
    with inference_mode(network, mode):
        return run_padded(network, images, network.stride)


# ---------------------------------------------------------------------------------------------------------------
# Data checks and scores.
# ---------------------------------------------------------------------------------------------------------------
def check_translation_data(module: LightningModule, input_channels: int, output_channels: int) -> None:
    """One-line error when the data module's channel counts differ from the model's (call from ``setup``).

    Args:
        module: the family (for its trainer's data module).
        input_channels: channels of domain A the model was built for.
        output_channels: channels of domain B the model was built for.
    """
    datamodule = module.trainer.datamodule if module._trainer is not None else None
    for side, expected in (("input", input_channels), ("output", output_channels)):
        found = getattr(datamodule, f"{side}_channels", None)
        if found is not None and found != expected:
            raise UserInputError(
                f"the data's {side} images have {found} channels but model.{side}_channels is {expected}: "
                f"set --model.{side}_channels {found}"
            )


def translation_scores(fake_b: Tensor, batch: dict, prefix: str) -> dict[str, Tensor]:
    """Per-image mean scores of a translation against the batch's target ``B``, for ``log_dict``.

    Always L1, PSNR and SSIM of ``fake_b`` against ``B`` on [0, 1]. When A and B have the same channels the same
    scores of the untranslated input A are reported as ``<prefix>/input_*`` (the baseline to beat). With the
    near-infrared phantom's masks the signal-to-background ratio of output, input and target is added.

    Args:
        fake_b: G(A), ``(B, C_B, H, W)`` in [-1, 1].
        batch: the validation batch (``A``, ``B``, optional ``vessel_mask`` / ``background_mask``).
        prefix: ``val`` or ``test``.
    """
    output, target, source = to_unit_range(fake_b.float()), to_unit_range(batch["B"].float()), to_unit_range(batch["A"].float())
    scores = {
        f"{prefix}/l1": F.l1_loss(output, target),
        f"{prefix}/psnr": psnr(output, target).mean(),
        f"{prefix}/ssim": ssim(output, target).mean(),
    }
    if source.shape == target.shape:
        scores[f"{prefix}/input_l1"] = F.l1_loss(source, target)
        scores[f"{prefix}/input_psnr"] = psnr(source, target).mean()
        scores[f"{prefix}/input_ssim"] = ssim(source, target).mean()
    if "vessel_mask" in batch and "background_mask" in batch:
        masks = batch["vessel_mask"], batch["background_mask"]
        scores[f"{prefix}/sbr"] = signal_to_background_ratio(output, *masks).mean()
        scores[f"{prefix}/input_sbr"] = signal_to_background_ratio(source, *masks).mean()
        scores[f"{prefix}/target_sbr"] = signal_to_background_ratio(target, *masks).mean()
    return scores


def panel_inputs(module: LightningModule, count: int) -> dict:
    """The first ``count`` (at most 8) items of the validation set (else the training set), batched, on device.

    Read from the dataset directly (no DataLoader workers start); the same items at every call, so panels over
    training show the same inputs.
    """
    datamodule = module.trainer.datamodule
    loader = None
    for getter in ("val_dataloader", "train_dataloader"):
        try:
            loader = getattr(datamodule, getter)()
        except Exception:  # a data module without that split
            continue
        if isinstance(loader, (list, tuple)):
            loader = loader[0] if loader else None
        if loader is not None:
            break
    if loader is None:
        raise UserInputError("image panels need a data module with a validation or training set")
    dataset = loader.dataset
    items = [dataset[i] for i in range(min(count, 8, len(dataset)))]
    batch = default_collate(items)
    return {key: value.to(module.device) if isinstance(value, Tensor) else value for key, value in batch.items()}


def as_rgb(images: Tensor) -> Tensor:
    """Images ``(B, C, H, W)`` with C = 1 repeated to 3 channels (so grey and colour panels tile together)."""
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images[:, :3]


def translation_predict_step(module: LightningModule, network: nn.Module, batch: dict, mode: InferenceMode) -> dict:
    """Translate a predict batch (``A``, ``name``, ``bit_depth``) for ``PredictionWriter``: names and depth kept.

    Args:
        module: the family (for the global rank, which makes the indices unique).
        network: the generator to run.
        batch: ``{"A": (B, C, H, W) in [-1, 1], "name": [...], "bit_depth": (B,)}``, any H, W.
        mode: ``paper`` or ``eval``.
    """
    outputs = translate(network, batch["A"], mode)
    count = outputs.shape[0]
    indices = torch.arange(count) + 1_000_000 * module.global_rank
    return {"samples": outputs, "labels": None, "indices": indices, "names": list(batch["name"]), "bit_depth": batch.get("bit_depth")}
