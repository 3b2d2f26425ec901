"""Super-resolution training throughput on CPU: the families through Lightning, a raw PyTorch loop of the same math,
and BasicSR's own training step, timed interleaved in one run (targets: Lightning overhead <= 3%, >= 1.3x BasicSR's
step at equal settings).

Run from the repository root (not run by CI; ``--quick`` is a smoke run of ~15 minutes on a loaded 2-core machine,
the default ~1 hour)::

    git --git-dir=<mirror of XPixelGroup/BasicSR> archive HEAD basicsr | tar -x -C /tmp/basicsr_ref
    printf "__version__ = '1.4.2'\\n__gitsha__ = 'unknown'\\n" > /tmp/basicsr_ref/basicsr/version.py
    .venv/bin/pip install --no-deps --target /tmp/basicsr_deps scipy     # BasicSR's package import needs SciPy
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sr_throughput.py --reference_dir /tmp/basicsr_ref \\
        --reference_deps /tmp/basicsr_deps [--quick] [--cases msrresnet esrgan] [--levers fp32 cl bf16 bf16-cl]

Cases (``CASES``, rows of data), both x4, 3 channels, 128 x 128 HR crops, seed 0, synthetic smooth images in memory:

- ``msrresnet``: ``SRResNet`` family at its defaults (BasicSR's MSRResNet, L1, Adam 2e-4 / (0.9, 0.99), cosine
  restarts, EMA 0.999), batch 16 -- against BasicSR's ``SRModel`` built from ``train_MSRResNet_x4.yml``'s options.
- ``esrgan``: ``ESRGAN`` family at its defaults (RRDBNet 23 blocks, VGG-style D, VGG19 conv5_4 perceptual L1,
  RaGAN 5e-3, L1 1e-2, Adam 1e-4 / (0.9, 0.99), multistep, EMA 0.999), batch 4 -- against BasicSR's
  ``ESRGANModel`` from ``train_ESRGAN_x4.yml``'s options. VGG19's ImageNet weights are not on this machine: both
  sides use **random VGG19 weights** (``vgg_weights="random"`` here; BasicSR's ``VGGFeatureExtractor`` patched to
  build ``torchvision.models.vgg19(weights=None)`` instead of downloading): the same layers and arithmetic, so the
  timing holds; the features mean nothing. The step's work differs a little: BasicSR's D update runs D three
  times (one extra forward on the fake batch for the detached mean), ours twice, as BasicSR's 2019 code did.

Arms, interleaved in every repetition (the order rotates by one arm per repetition), each a fresh model:

- **R, BasicSR**: ``basicsr.models.build_model(opt)`` on the CPU (``num_gpu: 0``), the timed step is what its
  ``train.py`` does per iteration: ``update_learning_rate(it, warmup_iter=-1)``, ``feed_data({"lq", "gt"})``,
  ``optimize_parameters(it)``. Always fp32 NCHW, its defaults: what its users get.
- **L:<lever>, Lightning**: the family trained by a real ``lightning.Trainer`` (CPU, CSVLogger at the default
  ``log_every_n_steps=50``, no checkpointing, progress bar, summary or validation) on pre-made batches
  (``DataLoader(batch_size=None)``: fetching costs microseconds).
- **P:<lever>, raw PyTorch**: the same family object's networks (same seed: same weights) trained by a plain loop
  that does what the family's ``training_step`` does: the same losses and order, ``check_finite``, the
  ``requires_grad`` toggling ``toggled_optimizer`` does, the EMA update, the schedulers, the dashboard values
  (computed, not logged). Before timing, L and P train 2 batches from the same weights and the script prints the
  largest weight difference (0: the same math, bit for bit).

Levers (``LEVERS``; the families need no change for any): ``cl`` puts the networks in ``torch.channels_last``
(a callback's ``on_fit_start`` for L) and feeds channels_last batches; ``bf16`` is
``Trainer(precision="bf16-mixed")`` for L and ``torch.autocast("cpu", torch.bfloat16)`` around the whole step for P
(where Lightning puts it). For each lever the first step's generator (and discriminator) gradients at the initial
weights are compared with fp32's: the relative L2 error of each network's whole gradient, and its worst tensor
(bf16 keeps 8 mantissa bits: errors of ~1e-2 are its rounding).

Quality per lever (``--quality-steps``, 20): the P loop trains ``--quality-steps`` steps from the same initial
weights on the same batches with each lever, and the losses (pixel; ESRGAN also G and D) are compared step by step
with fp32's: median and largest relative difference. ``cl`` only reorders fp32's sums, so its row is the rounding
floor of a trajectory: a lever keeps quality when its differences are of that order. (At the initial weights the
relativistic D's real and fake terms nearly cancel, so ESRGAN's first gradients amplify any rounding; the
trajectory is the better test.)

Timing: stamps of ``time.perf_counter()`` and ``time.process_time()`` at every batch start and end (the same
places in all arms, ``benchmarks.throughput.StepClock``). Whole step of batch i = ``start[i + 1] - start[i]``; a
repetition's figure is the mean over its timed steps; each arm's figure the median over repetitions. Overhead =
``median(L) / median(P) - 1``; speed-up = ``median(R) / median(L)``, with 90% bootstrap intervals. CPU time is the
process's: on a loaded machine wall time includes waiting for a core, so judge ratios on CPU time there.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import types
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from lightning.pytorch import Callback, LightningModule, Trainer, seed_everything
from lightning.pytorch.loggers import CSVLogger
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere: import the repo

from benchmarks._common import RunInfo  # noqa: E402
from benchmarks.throughput import StepClock, StepClockCallback, bootstrap_interval  # noqa: E402
from lightning_gans import esrgan as esrgan_module  # noqa: E402
from lightning_gans import srresnet as srresnet_module  # noqa: E402
from lightning_gans.esrgan import ESRGAN  # noqa: E402
from lightning_gans.losses import (  # noqa: E402
    relativistic_average_discriminator_loss,
    relativistic_average_generator_loss,
)
from lightning_gans.perceptual import PerceptualLoss  # noqa: E402
from lightning_gans.srresnet import SRResNet  # noqa: E402
from lightning_gans.super_resolution import as_rgb, make_lr_schedule, pixel_loss  # noqa: E402
from lightning_gans.training import check_finite, discriminator_outputs  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED = 0
SCALE = 4
GT_SIZE = 128
SAME_MATH_BATCHES = 2
OVERHEAD_TARGET = 0.03
SPEEDUP_TARGET = 1.3


# ---------------------------------------------------------------------------------------------------------------
# Cases and levers, as rows.
# ---------------------------------------------------------------------------------------------------------------
def basicsr_msrresnet_train_opt() -> dict:
    """BasicSR ``train_MSRResNet_x4.yml``'s ``train`` section."""
    return {
        "ema_decay": 0.999,
        "optim_g": {"type": "Adam", "lr": 2e-4, "weight_decay": 0, "betas": [0.9, 0.99]},
        "scheduler": {"type": "CosineAnnealingRestartLR", "periods": [250000] * 4, "restart_weights": [1] * 4,
                      "eta_min": 1e-7},
        "total_iter": 1000000, "warmup_iter": -1,
        "pixel_opt": {"type": "L1Loss", "loss_weight": 1.0, "reduction": "mean"},
    }  # fmt: skip


def basicsr_esrgan_train_opt() -> dict:
    """BasicSR ``train_ESRGAN_x4.yml``'s ``train`` section."""
    adam = {"type": "Adam", "lr": 1e-4, "weight_decay": 0, "betas": [0.9, 0.99]}
    return {
        "ema_decay": 0.999, "optim_g": dict(adam), "optim_d": dict(adam),
        "scheduler": {"type": "MultiStepLR", "milestones": [50000, 100000, 200000, 300000], "gamma": 0.5},
        "total_iter": 400000, "warmup_iter": -1,
        "pixel_opt": {"type": "L1Loss", "loss_weight": 1e-2, "reduction": "mean"},
        "perceptual_opt": {"type": "PerceptualLoss", "layer_weights": {"conv5_4": 1}, "vgg_type": "vgg19",
                           "use_input_norm": True, "range_norm": False, "perceptual_weight": 1.0,
                           "style_weight": 0, "criterion": "l1"},
        "gan_opt": {"type": "GANLoss", "gan_type": "vanilla", "real_label_val": 1.0, "fake_label_val": 0.0,
                    "loss_weight": 5e-3},
        "net_d_iters": 1, "net_d_init_iters": 0,
    }  # fmt: skip


@dataclass(frozen=True)
class Case:
    """One throughput comparison.

    Args:
        family: the LightningModule class.
        kwargs: its arguments (beyond its defaults).
        batch_size: HR crops per batch.
        reference_model: BasicSR's ``model_type``.
        reference_networks: BasicSR's ``network_g`` (and ``network_d``) options.
        reference_train: BasicSR's ``train`` options.
    """

    family: type[LightningModule]
    kwargs: dict
    batch_size: int
    reference_model: str
    reference_networks: dict
    reference_train: Callable[[], dict]


CASES: dict[str, Case] = {
    "msrresnet": Case(
        SRResNet, {"generator": "msrresnet", "lpips": False}, 16, "SRModel",
        {"network_g": {"type": "MSRResNet", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 64, "num_block": 16,
                       "upscale": SCALE}},
        basicsr_msrresnet_train_opt,
    ),
    "esrgan": Case(
        ESRGAN, {"vgg_weights": "random", "lpips": False}, 4, "ESRGANModel",
        {"network_g": {"type": "RRDBNet", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 64, "num_block": 23},
         "network_d": {"type": "VGGStyleDiscriminator", "num_in_ch": 3, "num_feat": 64}},
        basicsr_esrgan_train_opt,
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Lever:
    """A speed lever that needs no change in the family.

    Args:
        channels_last: networks and batches in ``torch.channels_last``.
        bf16: bfloat16 autocast (``precision="bf16-mixed"``).
    """

    channels_last: bool
    bf16: bool


LEVERS: dict[str, Lever] = {
    "fp32": Lever(channels_last=False, bf16=False),
    "cl": Lever(channels_last=True, bf16=False),
    "bf16": Lever(channels_last=False, bf16=True),
    "bf16-cl": Lever(channels_last=True, bf16=True),
}


def memory_format(lever: Lever) -> torch.memory_format:
    return torch.channels_last if lever.channels_last else torch.contiguous_format


def autocast(lever: Lever) -> contextlib.AbstractContextManager:
    """bf16 autocast on the CPU for the bf16 levers, else nothing."""
    return torch.autocast("cpu", dtype=torch.bfloat16) if lever.bf16 else contextlib.nullcontext()


# ---------------------------------------------------------------------------------------------------------------
# Data: the same pre-made batches for every arm.
# ---------------------------------------------------------------------------------------------------------------
def smooth_images(count: int, size: int, generator: torch.Generator) -> Tensor:
    """``(count, 3, size, size)`` in [0, 1]: random 8 x 8 images bicubic-upsampled (image-like, not white noise)."""
    coarse = torch.rand(count, 3, 8, 8, generator=generator)
    return nn.functional.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)


def make_batches(case: Case, count: int, seed: int = SEED) -> list[dict[str, Tensor]]:
    """``count`` batches ``{"lr", "hr"}``: HR crops and their bilinear-downscaled LR (the content does not matter)."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(count):
        hr = smooth_images(case.batch_size, GT_SIZE, generator)  # (B, 3, 128, 128)
        lr = nn.functional.interpolate(hr, scale_factor=1 / SCALE, mode="bilinear", antialias=True)  # (B, 3, 32, 32)
        batches.append({"lr": lr.contiguous(), "hr": hr.contiguous()})
    return batches


def in_format(batches: list[dict[str, Tensor]], lever: Lever) -> list[dict[str, Tensor]]:
    fmt = memory_format(lever)
    return [{key: value.contiguous(memory_format=fmt) for key, value in batch.items()} for batch in batches]


class PremadeBatches(Dataset[dict]):
    """Whole batches held in memory; ``DataLoader(dataset, batch_size=None)`` yields them unchanged."""

    def __init__(self, batches: list[dict[str, Tensor]]) -> None:
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return self.batches[index]


# ---------------------------------------------------------------------------------------------------------------
# L: Lightning.
# ---------------------------------------------------------------------------------------------------------------
class ChannelsLast(Callback):
    """Puts the family's networks in channels_last memory format when fitting starts.

    ``on_fit_start`` comes after the family's ``setup`` (which builds the VGG19 of the perceptual loss) and after
    the optimizers were built; ``Module.to`` keeps the parameter objects, so the optimizers are unaffected.
    """

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        pl_module.to(memory_format=torch.channels_last)


def build_family(case: Case) -> LightningModule:
    seed_everything(SEED, verbose=False)
    return case.family(**case.kwargs)


def lightning_fit(model: LightningModule, lever: Lever, batches: list[dict], callbacks: list[Callback],
                  root_dir: str) -> LightningModule:
    """Train ``model`` on ``batches`` (one epoch) with a real Trainer."""
    extra = [ChannelsLast()] if lever.channels_last else []
    trainer = Trainer(
        accelerator="cpu", devices=1, max_epochs=1, precision="bf16-mixed" if lever.bf16 else "32-true",
        logger=CSVLogger(root_dir), enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0, callbacks=[*extra, *callbacks],
        default_root_dir=root_dir,
    )  # fmt: skip
    trainer.fit(model, train_dataloaders=DataLoader(PremadeBatches(in_format(batches, lever)), batch_size=None))
    return model


# ---------------------------------------------------------------------------------------------------------------
# P: raw PyTorch, the same math as the families' training_step.
# ---------------------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def only_trainable(trainable: list[nn.Parameter], everything: list[nn.Parameter]):
    """What ``toggled_optimizer`` does: every parameter outside ``trainable`` frozen, states restored after."""
    saved = [p.requires_grad for p in everything]
    keep = {id(p) for p in trainable}
    for p in everything:
        p.requires_grad_(id(p) in keep and p.requires_grad)
    try:
        yield
    finally:
        for p, flag in zip(everything, saved):
            p.requires_grad_(flag)


class RawSRResNet:
    """``SRResNet.training_step`` without Lightning, on the family object's networks."""

    def __init__(self, model: SRResNet, lever: Lever) -> None:
        self.model = model.to(memory_format=memory_format(lever))
        self.lever = lever
        self.optimizer = torch.optim.Adam(model.generator.parameters(), **srresnet_module.ADAM)
        self.scheduler = make_lr_schedule(model.hparams.lr_schedule, self.optimizer)
        self.step_count = 0

    def step(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        model, lr, hr = self.model, batch["lr"], batch["hr"]
        with autocast(self.lever):
            sr = model.generator(lr)  # (B, 3, 128, 128)
            loss_pixel = pixel_loss(model.hparams.pixel_loss, sr, hr)
            check_finite(self.step_count, loss_pixel=loss_pixel)
            self.optimizer.zero_grad(set_to_none=True)
            loss_pixel.backward()
            self.optimizer.step()
            model.generator_ema.update(model.generator)
            self.scheduler.step()
        self.step_count += 1
        return {"train/loss_pixel": loss_pixel, "train/lr_g": torch.tensor(self.optimizer.param_groups[0]["lr"])}


class RawESRGAN:
    """``ESRGAN.training_step`` without Lightning, on the family object's networks and a PerceptualLoss built as
    its ``setup`` builds it (or one given, for the same-math check)."""

    def __init__(self, model: ESRGAN, lever: Lever, perceptual: PerceptualLoss | None = None) -> None:
        hp = model.hparams
        self.model = model.to(memory_format=memory_format(lever))
        self.lever = lever
        self.perceptual = perceptual or PerceptualLoss(hp.perceptual_layers or esrgan_module.DEFAULT_LAYERS,
                                                       hp.perceptual_criterion, hp.vgg_weights, hp.vgg_weights_path)
        self.perceptual.to(memory_format=memory_format(lever))
        self.opt_g = torch.optim.Adam(model.generator.parameters(), **esrgan_module.ADAM)
        self.opt_d = torch.optim.Adam(model.discriminator.parameters(), **esrgan_module.ADAM)
        self.schedulers = [make_lr_schedule(hp.lr_schedule, opt) for opt in (self.opt_g, self.opt_d)]
        self.everything = [*model.parameters(), *self.perceptual.parameters()]
        self.step_count = 0

    def step(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        model, hp, lr, hr = self.model, self.model.hparams, batch["lr"], batch["hr"]
        G, D = model.generator, model.discriminator
        with autocast(self.lever):
            sr = G(lr)  # (B, 3, 128, 128)
            with only_trainable(list(G.parameters()), self.everything):  # D frozen
                loss_pixel = pixel_loss(hp.pixel_loss, sr, hr)
                loss_perceptual = self.perceptual(as_rgb(sr), as_rgb(hr))
                real_logits_g = D(hr).detach()
                fake_logits_g = D(sr)
                loss_g_gan = 0.5 * relativistic_average_generator_loss(fake_logits_g, real_logits_g)
                loss_g = (hp.perceptual_weight * loss_perceptual + hp.adversarial_weight * loss_g_gan
                          + hp.pixel_weight * loss_pixel)  # fmt: skip
                check_finite(self.step_count, loss_g=loss_g)
                self.opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                self.opt_g.step()
            model.generator_ema.update(G)
            with only_trainable(list(D.parameters()), self.everything):  # G frozen
                real_logits = D(hr)
                fake_logits = D(sr.detach())
                loss_d = 0.5 * relativistic_average_discriminator_loss(real_logits, fake_logits)
                check_finite(self.step_count, loss_d=loss_d)
                self.opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                self.opt_d.step()
            for scheduler in self.schedulers:
                scheduler.step()
        self.step_count += 1
        return {"train/loss_g": loss_g, "train/loss_d": loss_d, "train/loss_g_gan": loss_g_gan,
                "train/loss_pixel": loss_pixel,
                **discriminator_outputs("relativistic_average", real_logits, fake_logits)}  # fmt: skip


def raw_model(case: Case, model: LightningModule, lever: Lever, perceptual: PerceptualLoss | None = None):
    return RawSRResNet(model, lever) if isinstance(model, SRResNet) else RawESRGAN(model, lever, perceptual)


def raw_loop(raw, batches: list[dict], clock: StepClock) -> None:
    for batch_idx, batch in enumerate(batches):
        clock.start(batch_idx)
        raw.step(batch)
        clock.end()


# ---------------------------------------------------------------------------------------------------------------
# R: BasicSR's own step.
# ---------------------------------------------------------------------------------------------------------------
def import_basicsr(reference_dir: Path, deps: Path | None):
    """BasicSR's ``build_model``, imported from ``reference_dir`` (outside the repository); its VGG built without
    ImageNet weights."""
    if not (reference_dir / "basicsr" / "models" / "sr_model.py").is_file():
        raise SystemExit(f"sr_throughput: --reference_dir {reference_dir} holds no BasicSR copy (basicsr/models/"
                         "sr_model.py): see the module docstring for the git archive command")
    if reference_dir.resolve().is_relative_to(REPO_ROOT):
        raise SystemExit(f"sr_throughput: --reference_dir {reference_dir} is inside the repository: copy it outside")
    for path in (deps, reference_dir):
        if path is not None:
            sys.path.insert(0, str(path.resolve()))
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        import torchvision

        from basicsr.archs import vgg_arch
        from basicsr.models import build_model

    # No ImageNet VGG19 here: its VGGFeatureExtractor would download it (``vgg19(pretrained=True)``). Build the
    # same network with random weights, as vgg_weights="random" does on our side.
    vgg_arch.VGG_PRETRAIN_PATH = "/nonexistent/vgg19.pth"
    vgg_arch.vgg = types.SimpleNamespace(vgg19=lambda pretrained=False, **_: torchvision.models.vgg19(weights=None))
    logging.getLogger("basicsr").setLevel(logging.WARNING)
    return build_model


def reference_model(build_model, case: Case, root_dir: str):
    """BasicSR's model for ``case`` on the CPU, from seed ``SEED``, with its printing swallowed."""
    opt = {
        "name": "throughput", "model_type": case.reference_model, "scale": SCALE, "num_gpu": 0, "dist": False,
        "is_train": True, "rank": 0, "world_size": 1, "manual_seed": SEED, **copy.deepcopy(case.reference_networks),
        "path": {"pretrain_network_g": None, "strict_load_g": True, "resume_state": None, "models": root_dir,
                 "training_states": root_dir, "experiments_root": root_dir},
        "train": case.reference_train(), "logger": {"print_freq": 100, "use_tb_logger": False},
    }  # fmt: skip
    seed_everything(SEED, verbose=False)
    with contextlib.redirect_stdout(io.StringIO()):
        return build_model(opt)


def reference_run(build_model, case: Case, batches: list[dict], clock: StepClock, root_dir: str) -> None:
    """Train a fresh BasicSR model on ``batches``, stamping ``clock`` around what its train.py does per iteration."""
    model = reference_model(build_model, case, root_dir)
    for batch_idx, batch in enumerate(batches):
        current_iter = batch_idx + 1  # train.py counts from 1
        clock.start(batch_idx)
        model.update_learning_rate(current_iter, warmup_iter=-1)
        model.feed_data({"lq": batch["lr"], "gt": batch["hr"]})
        model.optimize_parameters(current_iter)
        clock.end()


# ---------------------------------------------------------------------------------------------------------------
# Checks: same math, gradients per lever.
# ---------------------------------------------------------------------------------------------------------------
def same_math_difference(case: Case, batches: list[dict], root_dir: str) -> float:
    """Largest |weight| difference of L and P (fp32) after ``SAME_MATH_BATCHES`` batches from the same weights."""
    lightning = build_family(case)
    raw_start = copy.deepcopy(lightning)  # same initial weights
    lightning_fit(lightning, LEVERS["fp32"], batches[:SAME_MATH_BATCHES], [], root_dir)
    perceptual = getattr(lightning, "perceptual", None)  # frozen VGG: the one L built in setup
    raw = raw_model(case, raw_start, LEVERS["fp32"], perceptual)
    for batch in batches[:SAME_MATH_BATCHES]:
        raw.step(batch)
    trained, raw_trained = lightning.state_dict(), raw.model.state_dict()
    return max((trained[k].double() - raw_trained[k].double()).abs().max().item() for k in trained)


def first_gradients(case: Case, lever: Lever, batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """Gradients of G and D after one P step at the initial weights (the update is not applied: lr 0)."""
    raw = raw_model(case, build_family(case), lever)
    for optimizer in ([raw.optimizer] if isinstance(raw, RawSRResNet) else [raw.opt_g, raw.opt_d]):
        for group in optimizer.param_groups:
            group["lr"] = 0.0
    raw.step(in_format([batch], lever)[0])
    return {name: p.grad.detach().float().clone() for name, p in raw.model.named_parameters() if p.grad is not None}


def gradient_error(gradients: dict[str, Tensor], reference: dict[str, Tensor]) -> dict[str, tuple[float, str]]:
    """Relative L2 error against ``reference`` per network (all its gradients as one vector) and its worst tensor.

    Tensors whose reference gradient is ~0 are left out of the worst-tensor search (their relative error is noise).

    Returns:
        ``{"generator": (error of the whole vector, f"worst: <name> <error>"), "discriminator": ...}``.
    """
    result = {}
    for network in ("generator", "discriminator"):
        names = [name for name in reference if name.startswith(network + ".") and name in gradients]
        if not names:
            continue
        difference = torch.cat([(gradients[n] - reference[n]).flatten() for n in names])
        whole = difference.norm().item() / torch.cat([reference[n].flatten() for n in names]).norm().item()
        worst, where = 0.0, "-"
        for name in names:
            norm = reference[name].norm().item()
            error = (gradients[name] - reference[name]).norm().item() / norm if norm > 1e-12 else 0.0
            if error > worst:
                worst, where = error, name
        result[network] = (whole, f"worst tensor {where} {worst:.2e}")
    return result


TRAJECTORY_LOSSES = ("train/loss_pixel", "train/loss_g", "train/loss_d")


def loss_trajectory(case: Case, lever: Lever, batches: list[dict]) -> dict[str, list[float]]:
    """The P loop's losses at every step over ``batches`` from the initial weights (seed ``SEED``), per loss name."""
    raw = raw_model(case, build_family(case), lever)
    trajectory: dict[str, list[float]] = {}
    for batch in in_format(batches, lever):
        for name, value in raw.step(batch).items():
            if name in TRAJECTORY_LOSSES:
                trajectory.setdefault(name, []).append(float(value))
    return trajectory


def trajectory_difference(trajectory: dict[str, list[float]], reference: dict[str, list[float]]) -> str:
    """Median and largest relative difference per step of each loss against ``reference``, and the last values."""
    parts = []
    for name, values in trajectory.items():
        relative = [abs(a - b) / max(abs(b), 1e-12) for a, b in zip(values, reference[name])]
        parts.append(f"{name.split('/')[-1]} {statistics.median(relative):.1e} / {max(relative):.1e} "
                     f"(last {values[-1]:.4g} vs {reference[name][-1]:.4g})")
    return "; ".join(parts)


# ---------------------------------------------------------------------------------------------------------------
# Running and reporting.
# ---------------------------------------------------------------------------------------------------------------
def cpu_facts() -> str:
    """lscpu's model name, vCPU count and which bf16 instructions its flags list."""
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        lines = []
    fields = {}
    for line in lines:
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    flags = set((fields.get("flags") or "").split())
    bf16 = [flag for flag in ("amx_bf16", "avx512_bf16") if flag in flags]
    return f"{fields.get('model name', 'unknown CPU')}, {os.cpu_count()} vCPUs, bf16 flags: {', '.join(bf16) or 'none'}"


@dataclass
class Timings:
    """Per-repetition (wall, CPU) seconds per whole step of each arm."""

    arms: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def add(self, arm: str, clock: StepClock, warmup: int, steps: int) -> tuple[float, float]:
        whole = clock.whole_steps(warmup, steps)
        figure = (statistics.fmean(w for w, _ in whole), statistics.fmean(c for _, c in whole))
        self.arms.setdefault(arm, []).append(figure)
        return figure

    def median(self, arm: str, index: int) -> float:
        return statistics.median(value[index] for value in self.arms[arm])


def ratio(numerator: list[float], denominator: list[float]) -> tuple[float, float, float]:
    """``median(numerator) / median(denominator)`` with its 90% bootstrap interval."""
    def statistic(a: list[float], b: list[float]) -> float:
        return statistics.median(a) / statistics.median(b)

    return (statistic(numerator, denominator), *bootstrap_interval(statistic, numerator, denominator))


def run_case(name: str, case: Case, levers: list[str], args: argparse.Namespace, build_model, tmp: Path) -> None:
    warmup, steps, repeats = (1, 2, 2) if args.quick else (args.warmup, args.steps, args.repeats)
    batches = make_batches(case, warmup + steps + 1)
    print(f"\n=== {name}: {case.family.__name__}, batch {case.batch_size}, gt {GT_SIZE}, x{SCALE}; "
          f"{warmup} warm-up + {steps} timed steps per fit, {repeats} repetitions", flush=True)
    difference = same_math_difference(case, batches, str(tmp / f"{name}_same"))
    print(f"same math: largest weight difference of L:fp32 and P:fp32 after {SAME_MATH_BATCHES} batches: "
          f"{difference:.3g}", flush=True)
    reference_gradients = first_gradients(case, LEVERS["fp32"], batches[0])
    for lever in levers:
        if lever != "fp32":
            errors = gradient_error(first_gradients(case, LEVERS[lever], batches[0]), reference_gradients)
            for network, (whole, worst) in errors.items():
                print(f"gradients, {lever} vs fp32, {network}: relative L2 error {whole:.2e} ({worst})", flush=True)

    quality_steps = 2 if args.quick else args.quality_steps
    if quality_steps:
        # does a lever keep quality? the losses along the same training from the same weights; cl (fp32, another
        # summation order) is the rounding floor of such a trajectory
        trajectory_batches = make_batches(case, quality_steps, seed=SEED + 1)
        trajectories = {lever: loss_trajectory(case, LEVERS[lever], trajectory_batches) for lever in levers}
        print(f"loss trajectories over {quality_steps} raw steps vs fp32 (relative |difference| per step, median / "
              f"largest; cl reorders fp32's sums: its row is the rounding floor):", flush=True)
        for lever in levers:
            if lever != "fp32":
                print(f"  {lever:8} {trajectory_difference(trajectories[lever], trajectories['fp32'])}", flush=True)

    arms = ([("R", "fp32")] if build_model is not None else []) + [(kind, lever) for lever in levers
                                                                     for kind in ("L", "P")]
    timings = Timings()
    for repeat in range(repeats):
        load = os.getloadavg()[0]
        order = arms[repeat % len(arms):] + arms[: repeat % len(arms)]
        for kind, lever_name in order:
            lever, clock = LEVERS[lever_name], StepClock()
            label = "R:BasicSR" if kind == "R" else f"{kind}:{lever_name}"
            if kind == "R":
                reference_run(build_model, case, batches, clock, str(tmp / f"{name}_ref"))
            elif kind == "L":
                lightning_fit(build_family(case), lever, batches, [StepClockCallback(clock)], str(tmp / name))
            else:
                raw_loop(raw_model(case, build_family(case), lever), in_format(batches, lever), clock)
            wall, cpu = timings.add(label, clock, warmup, steps)
            print(f"  rep {repeat} (load {load:.1f}) {label:12} {wall:7.2f} s wall {cpu:7.2f} s CPU per step "
                  f"({case.batch_size / cpu:5.2f} images/CPU-s)", flush=True)

    print(f"--- {name}: medians over repetitions (seconds per whole step; images per second)")
    for label, values in timings.arms.items():
        wall, cpu = timings.median(label, 0), timings.median(label, 1)
        print(f"  {label:12} {wall:7.2f} s wall {cpu:7.2f} s CPU  {case.batch_size / wall:6.2f} img/s wall "
              f"{case.batch_size / cpu:6.2f} img/s CPU")
    for lever in levers:
        for index, kind in ((0, "wall"), (1, "CPU")):
            low = [v[index] for v in timings.arms[f"L:{lever}"]]
            raw = [v[index] for v in timings.arms[f"P:{lever}"]]
            value, lo, hi = ratio(low, raw)
            verdict = "met" if value - 1 <= OVERHEAD_TARGET else "NOT met"
            print(f"  Lightning overhead {lever:8} ({kind:4}): {value - 1:+6.2%} [90% CI {lo - 1:+6.2%}, "
                  f"{hi - 1:+6.2%}]  target <= {OVERHEAD_TARGET:.0%}: {verdict}")
    if build_model is not None:
        for lever in levers:
            for index, kind in ((0, "wall"), (1, "CPU")):
                ref = [v[index] for v in timings.arms["R:BasicSR"]]
                ours = [v[index] for v in timings.arms[f"L:{lever}"]]
                value, lo, hi = ratio(ref, ours)
                verdict = "met" if value >= SPEEDUP_TARGET else "NOT met"
                print(f"  speed-up over BasicSR, L:{lever:8} ({kind:4}): {value:5.2f}x [90% CI {lo:4.2f}, {hi:4.2f}]"
                      f"  target >= {SPEEDUP_TARGET}x: {verdict}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference_dir", type=Path, default=None, help="a BasicSR copy outside the repository")
    parser.add_argument("--reference_deps", type=Path, default=None, help="folder with SciPy for BasicSR's import")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--levers", nargs="+", default=list(LEVERS), choices=list(LEVERS))
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per fit")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per fit")
    parser.add_argument("--repeats", type=int, default=5, help="repetitions (interleaved)")
    parser.add_argument("--quality-steps", type=int, default=20,
                        help="raw steps of the loss-trajectory check per lever (0: skip it)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 + 2 steps, 2 repetitions")
    args = parser.parse_args(argv)
    if "fp32" not in args.levers:
        args.levers = ["fp32", *args.levers]  # the gradient check and the same-math check compare against it
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    info = RunInfo()
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    print(f"CPU: {cpu_facts()}; torch {torch.__version__}, threads {torch.get_num_threads()}; "
          f"bf16 autocast ops on AMX when the flags list amx_bf16")
    build_model = import_basicsr(args.reference_dir, args.reference_deps) if args.reference_dir else None
    if build_model is None:
        print("no --reference_dir: BasicSR's arm is skipped")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.cases:
            run_case(name, CASES[name], args.levers, args, build_model, Path(tmp))
    info.print()


if __name__ == "__main__":
    main()
