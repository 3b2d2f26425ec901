"""What the super-resolution families (``SRResNet``, ``SRGAN``, ``ESRGAN``) share beyond their networks.

- ``build_sr_generator`` / ``build_sr_discriminator``: the generator and discriminator choices as rows of data;
- ``make_lr_schedule``: the papers' and BasicSR's learning-rate schedules, per generator step, as rows of data;
- ``load_pretrained_generator``: a fit checkpoint of any SR family (its EMA weights when present) or an official
  weight file (BasicSR / ESRGAN release / old-arch layouts, ``networks.load_sr_weights``) as G's initialisation;
- ``SRInference`` / ``super_resolve``: inference on any size: padded to the network's stride, optionally tiled
  (``inference.tiled``) and x8 self-ensembled (``inference.self_ensemble``), clamped to [0, 1];
- ``sr_scores``: PSNR / SSIM on Y and RGB PSNR (BasicSR's conventions, crop_border = scale) and LPIPS, logged per
  validation set as ``val/<set name>/psnr_y`` ...;
- ``sr_panels``: LR | SR | HR crops for ``SampleImages``;
- ``sr_predict_step``: what ``PredictionWriter`` writes: greyscale stays greyscale, an alpha channel is upscaled
  by MATLAB bicubic beside the network (not through it), the input's bit depth is kept.

Precision: ``bf16-mixed`` trains and evaluates every family (tested on CPU). Under ``16-mixed`` (float16, GPUs)
the GradScaler guards the gradients, but the activations of deep trunks can pass float16's 65504 (the black or NaN
outputs BasicSR's and Real-ESRGAN's users report): ``super_resolve`` then computes that batch again in float32, and
training stops with ``NonFiniteLossError`` before the bad update, the fallback being ``bf16-mixed`` (or ``32``).

Images are ``(B, C, H, W)`` in [0, 1] throughout (BasicSR's range; see ``datamodules.super_resolution``): LR
``(B, C, h, w)``, HR and SR ``(B, C, scale*h, scale*w)``. Only ``sr_panels`` and ``sr_predict_step`` map to the
[-1, 1] that ``SampleImages`` and ``PredictionWriter`` expect of every family.
"""

from __future__ import annotations

import bisect
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch import Tensor, nn

from lightning_gans.errors import UserInputError
from lightning_gans.imresize import imresize
from lightning_gans.inference import run_padded, self_ensemble, tiled
from lightning_gans.metrics import psnr_rgb, psnr_y, ssim_y
from lightning_gans.networks import (
    MSRResNet,
    RRDBNet,
    SRResNet,
    UNetDiscriminatorSN,
    VGGStyleDiscriminator,
    load_sr_weights,
)
from lightning_gans.perceptual import VGG19_LAYERS, PerceptualLoss
from lightning_gans.pretrained import read_state_dict
from lightning_gans.training import make_optimizer

__all__ = [
    "DISCRIMINATORS",
    "GENERATORS",
    "LR_SCHEDULES",
    "DiscriminatorName",
    "GeneratorName",
    "LRSchedule",
    "PixelLoss",
    "SRInference",
    "as_rgb",
    "build_sr_discriminator",
    "build_sr_generator",
    "check_sr_data",
    "input_multiple",
    "load_pretrained_generator",
    "make_lpips",
    "make_lr_schedule",
    "pixel_loss",
    "sr_panels",
    "sr_predict_step",
    "sr_scores",
    "super_resolve",
    "val_set_name",
]

GeneratorName = Literal["srresnet", "srresnet_instance_norm", "msrresnet", "rrdbnet"]
DiscriminatorName = Literal["vgg_srgan", "vgg_esrgan", "unet_sn"]
PixelLoss = Literal["l1", "mse"]
LRSchedule = Literal["cosine_restarts", "multistep", "srgan", "constant"]

# ---------------------------------------------------------------------------------------------------------------
# Networks, as rows: name -> (class, fixed keyword arguments).
# ---------------------------------------------------------------------------------------------------------------
GENERATORS: dict[str, tuple[type[nn.Module], dict]] = {
    "srresnet": (SRResNet, {"variant": "srgan"}),  # Ledig et al. 2017, Fig. 4: BatchNorm, PReLU
    "srresnet_instance_norm": (SRResNet, {"variant": "instance_norm"}),  # twtygqyy/pytorch-SRResNet
    "msrresnet": (MSRResNet, {}),  # BasicSR's modified SRResNet: no BN, bilinear global skip
    "rrdbnet": (RRDBNet, {}),  # ESRGAN, Wang et al. 2018, Sec. 3.1
}
DISCRIMINATORS: dict[str, tuple[type[nn.Module], dict]] = {
    "vgg_srgan": (VGGStyleDiscriminator, {"variant": "srgan"}),  # Ledig et al. 2017, Fig. 4 (bottom)
    "vgg_esrgan": (VGGStyleDiscriminator, {"variant": "esrgan"}),  # BasicSR's VGGStyleDiscriminator (ESRGAN, MSRGAN)
    "unet_sn": (UNetDiscriminatorSN, {}),  # Real-ESRGAN's U-Net with spectral norm (one logit per pixel)
}
PIXEL_LOSSES = {"l1": F.l1_loss, "mse": F.mse_loss}


def build_sr_generator(
    name: GeneratorName, scale: int, channels: int, num_features: int, num_blocks: Optional[int], growth_channels: int
) -> nn.Module:
    """The generator ``name`` for ``scale`` and ``channels`` (in = out), initialised as its network does.

    Args:
        name: ``srresnet`` (Ledig's, BatchNorm), ``srresnet_instance_norm``, ``msrresnet`` (BasicSR's) or
            ``rrdbnet`` (ESRGAN's; x2 and x4 only).
        scale: upscaling factor.
        channels: image channels (1 or 3).
        num_features: feature maps of the trunk (64 in every paper).
        num_blocks: residual blocks / RRDBs; None takes the network's paper default (16, 16, 16, 23).
        growth_channels: growth of RRDBNet's dense blocks (ESRGAN's 32); ignored by the others.
    """
    if name not in GENERATORS:
        raise UserInputError(f"generator {name!r} is not one of {', '.join(GENERATORS)}")
    network, fixed = GENERATORS[name]
    if network is RRDBNet and scale not in (2, 4):
        raise UserInputError(f"generator rrdbnet builds x4 and x2 networks (BasicSR), not x{scale}: use msrresnet for x3")
    kwargs = {**fixed, "scale": scale, "in_channels": channels, "out_channels": channels, "num_features": num_features}
    if num_blocks is not None:
        kwargs["num_blocks"] = num_blocks
    if network is RRDBNet:
        kwargs["growth_channels"] = growth_channels
    return network(**kwargs)


def input_multiple(generator: nn.Module) -> int:
    """The input stride a generator needs: 2 / 4 for RRDBNet x2 / x1 (pixel-unshuffled input), else 1."""
    return int(getattr(generator, "unshuffle", 1))


def build_sr_discriminator(name: DiscriminatorName, channels: int, num_features: int, input_size: int) -> nn.Module:
    """The discriminator ``name`` judging ``channels``-channel HR crops.

    Args:
        name: ``vgg_srgan`` (Ledig's Fig. 4), ``vgg_esrgan`` (BasicSR's, ESRGAN) or ``unet_sn`` (Real-ESRGAN's).
        channels: image channels.
        num_features: width of the first stage (64 in every paper).
        input_size: side of the HR training crops; the VGG-style networks' linear layer depends on it.
    """
    if name not in DISCRIMINATORS:
        raise UserInputError(f"discriminator {name!r} is not one of {', '.join(DISCRIMINATORS)}")
    network, fixed = DISCRIMINATORS[name]
    kwargs = {**fixed, "in_channels": channels, "num_features": num_features}
    if network is VGGStyleDiscriminator:
        kwargs["input_size"] = input_size
    return network(**kwargs)


def pixel_loss(kind: PixelLoss, sr: Tensor, hr: Tensor) -> Tensor:
    """Mean L1 or squared error of SR against HR, in float32 (both ``(B, C, H, W)`` in [0, 1]).

    Args:
        kind: ``l1`` (BasicSR, ESRGAN) or ``mse`` (Ledig et al.'s SRResNet, eq. 4).
        sr: the generator's output.
        hr: the ground truth.
    """
    return PIXEL_LOSSES[kind](sr.float(), hr.float())


def as_rgb(images: Tensor) -> Tensor:
    """Greyscale ``(B, 1, H, W)`` repeated to 3 channels (VGG features, panels); RGB passes through."""
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


# ---------------------------------------------------------------------------------------------------------------
# Learning-rate schedules, per generator step (lr_scheduler_interval "step"), as rows. Each row is the factor on
# the initial learning rate after `step` generator steps; BasicSR steps its schedulers once per iteration too.
# ---------------------------------------------------------------------------------------------------------------
LR_SCHEDULES: dict[str, dict] = {
    # BasicSR's CosineAnnealingRestartLR (train_MSRResNet_x4.yml, train_RRDBNet_PSNR_x4.yml): four cosine cycles of
    # 250k iterations from the initial rate down to 1e-7, each restarting at the initial rate; 1M iterations.
    "cosine_restarts": {"periods": (250_000, 250_000, 250_000, 250_000), "eta_min": 1e-7},
    # ESRGAN Sec. 4.1 / BasicSR train_ESRGAN_x4.yml, train_MSRGAN_x4.yml: halved at 50k, 100k, 200k, 300k; 400k.
    "multistep": {"milestones": (50_000, 100_000, 200_000, 300_000), "gamma": 0.5},
    # Ledig et al. 2017, Sec. 3.2: SRGAN at 1e-4 for 1e5 updates, then 1e-5 for another 1e5.
    "srgan": {"milestones": (100_000,), "gamma": 0.1},
    # Ledig et al.'s SRResNet: 1e-4 for 1e6 updates, no decay.
    "constant": {"milestones": (), "gamma": 1.0},
}


def _cosine_restarts_factor(step: int, base_lr: float, periods: tuple[int, ...], eta_min: float) -> float:
    """BasicSR's CosineAnnealingRestartLR at ``step``: cycle i covers steps (sum of earlier periods, its end]."""
    ends = [sum(periods[: i + 1]) for i in range(len(periods))]
    cycle = bisect.bisect_left(ends, step)  # first cycle whose end is >= step (the end itself belongs to it)
    if cycle == len(periods):
        return eta_min / base_lr  # past the last cycle: stay at the floor
    start = ends[cycle - 1] if cycle > 0 else 0
    progress = (step - start) / periods[cycle]
    return (eta_min + 0.5 * (base_lr - eta_min) * (1 + math.cos(math.pi * progress))) / base_lr


def make_lr_schedule(name: LRSchedule, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LambdaLR:
    """The schedule ``name`` of ``LR_SCHEDULES`` on ``optimizer``, one factor per generator step.

    Args:
        name: ``cosine_restarts``, ``multistep``, ``srgan`` or ``constant``.
        optimizer: the optimizer whose learning rate to schedule (its current rates are the initial ones).
    """
    if name not in LR_SCHEDULES:
        raise UserInputError(f"lr_schedule {name!r} is not one of {', '.join(LR_SCHEDULES)}")
    row = LR_SCHEDULES[name]
    if "periods" in row:
        factors = [
            (lambda step, base=group["lr"]: _cosine_restarts_factor(step, base, row["periods"], row["eta_min"]))
            for group in optimizer.param_groups
        ]
        return torch.optim.lr_scheduler.LambdaLR(optimizer, factors)
    milestones, gamma = row["milestones"], row["gamma"]
    # MultiStepLR's rule: the rate has been multiplied by gamma once per milestone reached
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: gamma ** bisect.bisect_right(milestones, step))


# ---------------------------------------------------------------------------------------------------------------
# Initialisation from a PSNR-trained generator (SRGAN Sec. 3.2, ESRGAN Sec. 4.1).
# ---------------------------------------------------------------------------------------------------------------
EMA_PREFIX = "generator_ema.averaged.module."  # GeneratorEMA's copy inside a family's state_dict
GENERATOR_PREFIX = "generator."


def load_pretrained_generator(generator: nn.Module, name: str, path: str | os.PathLike) -> str:
    """Load G's weights from a fit checkpoint of an SR family or from an official weight file.

    A Lightning checkpoint (``state_dict`` with ``generator.*`` keys) gives its generator EMA weights when it has
    them (what BasicSR validates and releases as ``params_ema``), else its generator weights. Any other file goes
    to ``networks.load_sr_weights`` (BasicSR, Real-ESRGAN, ESRGAN release and old-arch layouts, for ``msrresnet`` and
    ``rrdbnet``), or, for Ledig's ``srresnet`` (no official release), must be a state dict in this project's names.
    Files are read with ``weights_only=True``.

    Args:
        generator: the network built from the family's arguments.
        name: its generator choice, for messages.
        path: the file.

    Returns:
        What was loaded: ``"checkpoint EMA"``, ``"checkpoint"``, or the official file's layout.
    """
    state_dict = read_state_dict(path)  # unwraps Lightning's "state_dict" and BasicSR's "params_ema" / "params"
    if any(key.startswith(GENERATOR_PREFIX) for key in state_dict):
        use_ema = any(key.startswith(EMA_PREFIX) for key in state_dict)
        prefix = EMA_PREFIX if use_ema else GENERATOR_PREFIX
        weights = {key[len(prefix) :]: value for key, value in state_dict.items() if key.startswith(prefix)}
        _load_strictly(generator, weights, f"{path} (a fit checkpoint)", name)
        return "checkpoint EMA" if use_ema else "checkpoint"
    if isinstance(generator, (MSRResNet, RRDBNet)):
        return load_sr_weights(generator, path)
    _load_strictly(generator, state_dict, str(path), name)
    return "state dict"


def _load_strictly(generator: nn.Module, weights: dict[str, Tensor], source: str, name: str) -> None:
    try:
        generator.load_state_dict(weights)
    except RuntimeError as error:
        reason = " ".join(str(error).split())
        raise UserInputError(
            f"{source} does not hold a generator={name!r} of this size ({reason[:200]}); build the model with the "
            f"generator, channels, scale and sizes the file was trained with"
        ) from None


# ---------------------------------------------------------------------------------------------------------------
# Inference on any size.
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SRInference:
    """How a family runs its generator at validation, test, predict and in the panels.

    Args:
        scale: the generator's upscaling factor.
        multiple: the generator's input stride (``input_multiple``).
        tile_size: LR tile side; None runs each image whole.
        tile_overlap: LR pixels shared by neighbouring tiles (``inference.tiled``: exact when overlap // 4 is at
            least the network's receptive radius in LR pixels).
        tile_batch_size: tiles per network call.
    """

    scale: int
    multiple: int
    tile_size: Optional[int]
    tile_overlap: int
    tile_batch_size: int

    def check(self) -> None:
        """One-line ``UserInputError`` for tile options ``inference.tiled`` cannot use."""
        if self.tile_overlap < 0 or self.tile_overlap % self.multiple or self.tile_batch_size < 1:
            raise UserInputError(
                f"model.tile_overlap must be >= 0 and a multiple of {self.multiple}, model.tile_batch_size >= 1; got "
                f"{self.tile_overlap} and {self.tile_batch_size}"
            )
        if self.tile_size is not None and (self.tile_size <= 2 * self.tile_overlap or self.tile_size % self.multiple):
            raise UserInputError(
                f"model.tile_size ({self.tile_size}) must be > 2 * model.tile_overlap ({self.tile_overlap}) and a "
                f"multiple of {self.multiple}: e.g. --model.tile_size {max(256, 4 * self.tile_overlap)}"
            )


def _under_float16(device_type: str) -> bool:
    """True inside a float16 autocast region on ``device_type`` (``16-mixed`` on a GPU)."""
    return torch.is_autocast_enabled(device_type) and torch.get_autocast_dtype(device_type) == torch.float16


@torch.no_grad()
def super_resolve(network: nn.Module, lr: Tensor, inference: SRInference, ensemble: bool = False) -> Tensor:
    """SR of ``lr`` ``(B, C, h, w)`` in [0, 1], any h and w, as ``(B, C, scale*h, scale*w)`` float32 in [0, 1].

    Pads to the network's stride (``run_padded``) or runs overlapping tiles (``tiled``); ``ensemble`` averages the
    8 flips / rotations (``self_ensemble``, EDSR's x8). Under float16 autocast a batch whose output is not finite
    (activations past 65504: deep residual trunks can get there) is computed again in float32, with a warning.

    Args:
        network: the generator (in eval mode for BatchNorm networks).
        lr: low-resolution images.
        inference: scale, stride and tiling.
        ensemble: x8 self-ensemble (8 times the cost).
    """

    def run(images: Tensor) -> Tensor:
        if inference.tile_size is None:
            return run_padded(network, images, inference.multiple, inference.scale)
        return tiled(network, images, inference.scale, inference.tile_size, inference.tile_overlap,
                     inference.tile_batch_size, inference.multiple)  # fmt: skip

    output = self_ensemble(run, lr) if ensemble else run(lr)  # (B, C, sh, sw)
    if _under_float16(lr.device.type) and not torch.isfinite(output).all():
        rank_zero_warn("super-resolution: float16 output not finite; this batch was recomputed in float32")
        with torch.autocast(lr.device.type, enabled=False):
            output = self_ensemble(run, lr.float()) if ensemble else run(lr.float())
    return output.float().clamp(0, 1)


# ---------------------------------------------------------------------------------------------------------------
# Data checks and scores.
# ---------------------------------------------------------------------------------------------------------------
def check_sr_data(module: LightningModule, channels: int, scale: int, crop_size: Optional[int] = None) -> None:
    """One-line errors when the data module's channels, scale or (for VGG-style D) crop size differ from the model's.

    Args:
        module: the family (for its trainer's data module).
        channels: image channels the model was built for.
        scale: its upscaling factor.
        crop_size: HR crop side its discriminator judges, or None when any size is fine.
    """
    datamodule = module.trainer.datamodule if module._trainer is not None else None
    for argument, expected in (("channels", channels), ("scale", scale), ("gt_size", crop_size)):
        found = getattr(datamodule, argument, None)
        if expected is not None and found is not None and found != expected:
            model_argument = "discriminator_input_size" if argument == "gt_size" else argument
            raise UserInputError(
                f"the data's {argument} is {found} but model.{model_argument} is {expected}: set "
                f"--model.{model_argument} {found} (or --data.{argument} {expected})"
            )


def val_set_name(module: LightningModule, dataloader_idx: int) -> str:
    """The name of validation set ``dataloader_idx``: the data module's ``val_set_names``, else ``set<idx>``."""
    names = getattr(module.trainer.datamodule, "val_set_names", None) if module._trainer is not None else None
    return str(names[dataloader_idx]) if names and dataloader_idx < len(names) else f"set{dataloader_idx}"


def quantize(images: Tensor, bit_depth: Optional[Tensor]) -> Tensor:
    """Round ``(B, C, H, W)`` in [0, 1] to the grid of each image's bit depth (8 when unknown), as saved files are."""
    depth = bit_depth if bit_depth is not None else torch.full((images.shape[0],), 8)
    levels = (2.0 ** depth.to(images.device, torch.float64) - 1).view(-1, 1, 1, 1)  # (B, 1, 1, 1)
    return ((images.double() * levels).round() / levels).to(images.dtype)


LPIPS_NET = "alex"  # Zhang et al. 2018 (arXiv 1801.03924) recommend AlexNet features for a forward metric


def lpips_backbone_path() -> Path:
    """Where torchvision keeps the AlexNet ImageNet weights LPIPS needs (``torch.hub.get_dir()/checkpoints``)."""
    from torchvision.models import AlexNet_Weights  # torchvision.models is slow to import; only needed here

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(AlexNet_Weights.IMAGENET1K_V1.url)


def make_lpips(enabled: bool) -> Optional[nn.Module]:
    """torchmetrics' LPIPS network (AlexNet, ``normalize=True``: inputs in [0, 1]) or None.

    Nothing is downloaded: when the AlexNet weights are not in torch's hub cache, LPIPS is off and one line says
    where to put them. The linear LPIPS layers ship with torchmetrics.

    Args:
        enabled: the family's ``lpips`` argument.
    """
    if not enabled:
        return None
    path = lpips_backbone_path()
    if not path.is_file():
        rank_zero_info(f"lightning-gans: LPIPS off: no AlexNet weights at {path} (they are never downloaded)")
        return None
    from torchmetrics.image import LearnedPerceptualImagePatchSimilarity

    network = LearnedPerceptualImagePatchSimilarity(net_type=LPIPS_NET, normalize=True).net
    return network.eval().requires_grad_(False)


def sr_scores(
    sr: Tensor, hr: Tensor, bit_depth: Optional[Tensor], scale: int, prefix: str, lpips: Optional[nn.Module] = None
) -> dict[str, Tensor]:
    """Per-image mean scores of SR against HR for ``log_dict``: ``<prefix>/psnr_y``, ``ssim_y``, ``psnr_rgb``, ``lpips``.

    SR is first rounded to the HR's bit depth (BasicSR scores the saved 8-bit image, ``tensor2img``); PSNR / SSIM
    crop ``scale`` pixels from every edge (BasicSR's ``crop_border``); Y is MATLAB's ``rgb2ycbcr`` luma (the
    papers' figure), ``psnr_rgb`` BasicSR's model-zoo figure. LPIPS (lower is better) when ``lpips`` is given.

    Args:
        sr: ``(B, C, H, W)`` super-resolved images in [0, 1].
        hr: ``(B, C, H, W)`` ground truth in [0, 1].
        bit_depth: ``(B,)`` bits per sample of the HR files, or None for 8.
        scale: the upscaling factor (the crop border).
        prefix: e.g. ``val/Set5``.
        lpips: the network from ``make_lpips``, or None.
    """
    sr, hr = quantize(sr.float(), bit_depth), hr.float()
    scores = {
        f"{prefix}/psnr_y": psnr_y(sr, hr, crop_border=scale).mean(),
        f"{prefix}/ssim_y": ssim_y(sr, hr, crop_border=scale).mean(),
        f"{prefix}/psnr_rgb": psnr_rgb(sr, hr, crop_border=scale).mean(),
    }
    if lpips is not None:
        lpips.to(sr.device)
        scores[f"{prefix}/lpips"] = lpips(as_rgb(sr), as_rgb(hr), normalize=True).mean()
    return scores



def sr_evaluation_step(module: LightningModule, batch: dict, dataloader_idx: int, stage: Literal["val", "test"]) -> None:
    """A family's ``validation_step`` / ``test_step``: score its evaluated generator on one batch of whole images.

    Logs ``sr_scores`` under ``<stage>/<set name>/`` (one curve per validation set); test averages the x8
    self-ensemble when the family's ``self_ensemble`` is on, validation never does.

    Args:
        module: an SR family (``evaluated_generator``, ``inference``, ``lpips_network``, ``hparams``).
        batch: ``{"lr", "hr"}`` (+ ``bit_depth``) of one validation or test set.
        dataloader_idx: which set.
        stage: ``val`` or ``test``.
    """
    ensemble = stage == "test" and module.hparams.self_ensemble
    sr = super_resolve(module.evaluated_generator, batch["lr"], module.inference, ensemble)
    prefix = f"{stage}/{val_set_name(module, dataloader_idx)}"
    scores = sr_scores(sr, batch["hr"], batch.get("bit_depth"), module.hparams.scale, prefix, module.lpips_network)
    module.log_dict(scores, batch_size=sr.shape[0], sync_dist=True, add_dataloader_idx=False)


# ---------------------------------------------------------------------------------------------------------------
# What SRGAN and ESRGAN share: argument checks, setup (VGG loss, data checks, LPIPS), two optimizers.
# ---------------------------------------------------------------------------------------------------------------
def check_sr_gan_arguments(weights: dict[str, float], perceptual_layers: Optional[dict[str, float]]) -> None:
    """One-line errors for a negative loss weight (``{"pixel_weight": ..., ...}``) or an unknown VGG19 layer."""
    for name, value in weights.items():
        if value < 0:
            raise UserInputError(f"model.{name} must be >= 0, got {value}")
    unknown = [name for name in (perceptual_layers or {}) if name not in VGG19_LAYERS]
    if unknown:
        raise UserInputError(f"model.perceptual_layers: {unknown[0]!r} is not a VGG19 layer (conv5_4, relu5_4, ...)")


def setup_sr_gan(module: LightningModule, stage: str, default_layers: dict[str, float]) -> None:
    """An SR GAN family's ``setup``: its VGG19 loss when fitting, the data checks, the LPIPS network.

    The VGG19 loss is built only for ``fit`` (predict and test need no VGG weights); without the weight file this
    is one line saying where to put it, before any step. A VGG-style discriminator also checks the data's crop size.

    Args:
        module: SRGAN or ESRGAN (``hparams``, ``discriminator``, ``perceptual``, ``lpips_network``).
        stage: Lightning's stage.
        default_layers: the family's VGG19 layers and weights when ``perceptual_layers`` is None.
    """
    hparams = module.hparams
    if stage == "fit" and module.perceptual is None and hparams.perceptual_weight > 0:
        layers = hparams.perceptual_layers or default_layers
        module.perceptual = PerceptualLoss(layers, hparams.perceptual_criterion, hparams.vgg_weights,
                                           hparams.vgg_weights_path)  # fmt: skip
    crop = hparams.discriminator_input_size if isinstance(module.discriminator, VGGStyleDiscriminator) else None
    check_sr_data(module, hparams.channels, hparams.scale, crop if stage == "fit" else None)
    if stage in ("fit", "validate", "test") and module.lpips_network is None:
        object.__setattr__(module, "lpips_network", make_lpips(hparams.lpips))  # not a submodule


def sr_gan_optimizers(module: LightningModule, defaults: dict) -> tuple[list, list]:
    """``configure_optimizers`` of an SR GAN family: G's and D's optimizer (``defaults`` when not configured) and
    their LR schedules (a configured scheduler, else the family's ``lr_schedule``)."""
    networks = (module.generator, module.discriminator)
    optimizers = [make_optimizer(factory, network.parameters(), defaults)
                  for factory, network in zip(module.optimizer_factories, networks)]  # fmt: skip
    schedulers = [
        factory(opt) if factory is not None else make_lr_schedule(module.hparams.lr_schedule, opt)
        for factory, opt in zip(module.scheduler_factories, optimizers)
    ]
    return optimizers, schedulers

# ---------------------------------------------------------------------------------------------------------------
# Panels (SampleImages) and prediction (PredictionWriter).
# ---------------------------------------------------------------------------------------------------------------
PANEL_HR_SIZE = 128  # HR side of each panel crop (smaller when the images are)


def _panel_items(module: LightningModule, count: int) -> dict:
    """The first ``count`` images of the first validation set as a list-batch, else one training batch."""
    datamodule = module.trainer.datamodule
    try:
        loaders = datamodule.val_dataloader()
    except Exception:  # a data module without validation sets
        loaders = []
    loaders = loaders if isinstance(loaders, (list, tuple)) else [loaders]
    if loaders and len(loaders[0].dataset) > 0:
        dataset = loaders[0].dataset
        items = [dataset[i] for i in range(min(count, len(dataset)))]  # whole images of any size: not collated
        return {key: [item[key] for item in items] for key in ("lr", "hr") if key in items[0]}
    with torch.random.fork_rng(devices=[]):  # a DataLoader iterator draws from the global RNG
        batch = next(iter(datamodule.train_dataloader()))
    return {key: list(batch[key][:count]) for key in ("lr", "hr") if key in batch}


def sr_panels(module: LightningModule, network: nn.Module, inference: SRInference, count: int) -> tuple[Tensor, int]:
    """Rows of LR (nearest-upscaled) | SR | HR centre crops of fixed inputs, in [-1, 1], for ``SampleImages``.

    The inputs are the first ``count`` (at most 8) images of the first validation set (the same at every call), or
    a training batch when there is none. Crops are ``PANEL_HR_SIZE`` HR pixels (less for smaller images).

    Args:
        module: the family.
        network: the generator to show (the EMA copy when there is one).
        inference: scale, stride and tiling.
        count: images wanted.

    Returns:
        ``(3N, 3, H, W)`` images and 3 (images per row).
    """
    items = _panel_items(module, min(count, 8))
    scale, step = inference.scale, inference.scale * inference.multiple
    side = min([PANEL_HR_SIZE] + [min(hr.shape[-2:]) for hr in items["hr"]]) // step * step  # HR crop side
    lr_side = side // scale
    lows, highs = [], []
    for index, hr in enumerate(items["hr"]):
        top = (hr.shape[-2] - side) // 2 // step * step  # centre crop on the LR grid
        left = (hr.shape[-1] - side) // 2 // step * step
        highs.append(hr[:, top : top + side, left : left + side])  # (C, side, side)
        if "lr" in items:
            lr_top, lr_left = top // scale, left // scale
            lows.append(items["lr"][index][:, lr_top : lr_top + lr_side, lr_left : lr_left + lr_side])
        else:
            lows.append(imresize(highs[-1], scale=1 / scale).clamp(0, 1))  # the data module makes LR on device
    device = module.device
    lr = torch.stack(lows).to(device)  # (N, C, side / scale, side / scale)
    hr = torch.stack(highs).to(device)  # (N, C, side, side)
    sr = super_resolve(network, lr, inference)  # (N, C, side, side)
    lr_up = F.interpolate(lr, scale_factor=scale, mode="nearest")
    rows = [as_rgb(lr_up.float()), as_rgb(sr), as_rgb(hr.float())]
    return torch.stack(rows, dim=1).flatten(0, 1) * 2 - 1, 3  # (3N, 3, side, side), three images per row


def split_channels(lr: Tensor, channels: int) -> tuple[Tensor, Optional[Tensor], bool]:
    """Split a predict batch into the image the network takes, its alpha channel, and whether it is greyscale.

    ``channels`` is the model's (1 or 3). Inputs with ``channels`` channels pass; ``channels + 1`` carry alpha;
    greyscale (+ alpha) into an RGB model is repeated to RGB and marked to come back greyscale.

    Args:
        lr: ``(B, C, h, w)`` with C in 1..4.
        channels: the model's channels.
    """
    count = lr.shape[1]
    if count in (channels, channels + 1):
        return lr[:, :channels], (lr[:, channels:] if count > channels else None), False
    if channels == 3 and count in (1, 2):
        return lr[:, :1].expand(-1, 3, -1, -1), (lr[:, 1:] if count == 2 else None), True
    raise UserInputError(
        f"the model super-resolves {channels}-channel images, got {count}-channel inputs: "
        f"{'build the model with channels 3 for RGB' if channels == 1 else 'give greyscale or RGB (+ alpha) images'}"
    )


def sr_predict_step(
    module: LightningModule, network: nn.Module, batch: dict, channels: int, inference: SRInference, ensemble: bool
) -> dict:
    """Super-resolve a predict batch ``{"lr", "name", "bit_depth"}`` for ``PredictionWriter``.

    Greyscale inputs to an RGB model come back greyscale (the mean of the output's channels); an alpha channel is
    upscaled with MATLAB bicubic (``imresize``), not by the network; names and bit depths are kept, so 16-bit
    files are written as 16-bit files.

    Args:
        module: the family (for the global rank, which makes the indices unique).
        network: the generator to run.
        batch: ``{"lr": (B, C, h, w) in [0, 1], "name": [...], "bit_depth": (B,)}``; C may add an alpha channel.
        channels: the model's image channels (1 or 3).
        inference: scale, stride and tiling.
        ensemble: x8 self-ensemble.
    """
    images, alpha, greyscale = split_channels(batch["lr"], channels)
    sr = super_resolve(network, images, inference, ensemble)  # (B, C, sh, sw) in [0, 1]
    if greyscale:
        sr = sr.mean(dim=1, keepdim=True)  # (B, 1, sh, sw)
    if alpha is not None:
        alpha_up = imresize(alpha.float(), scale=inference.scale).clamp(0, 1)  # (B, 1, sh, sw)
        sr = torch.cat([sr, alpha_up], dim=1)
    indices = torch.arange(sr.shape[0]) + 1_000_000 * module.global_rank
    return {"samples": sr * 2 - 1, "labels": None, "indices": indices, "names": list(batch["name"]),
            "bit_depth": batch.get("bit_depth")}  # fmt: skip

