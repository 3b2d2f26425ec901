"""Translation training throughput on CPU: Pix2Pix / CycleGAN through Lightning, a raw loop of the same math, and the
reference pytorch-CycleGAN-and-pix2pix, all timed in one run (targets: Lightning overhead <= 3%, >= 1.3x the
reference's iterations per second at equal settings).

Run from the repository root (not run by CI; the reference is a copy outside the repository, never committed)::

    git --git-dir=<mirror of junyanz/pytorch-CycleGAN-and-pix2pix> archive 2a7afba models options data util \\
        | tar -x -C /tmp/ref_cyclegan
    OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/translation_throughput.py \\
        --reference_dir /tmp/ref_cyclegan

``--cases`` picks from ``CASES`` (default: pix2pix U-Net 256 at 256x256, CycleGAN ResNet-9 at 128x128 and at
256x256; ``pix2pix_unet128_128`` on request), ``--levers`` overrides each case's lever list, ``--threads`` (2),
``--warmup`` (2 untimed steps per fit), ``--steps`` (3 timed steps per repetition), ``--repeats`` (5),
``--paired-steps`` (6), ``--quality-steps`` (30), ``--no-files``, ``--quick`` (a smoke run: 1 + 1 steps, 2
repetitions, 2 paired steps, 3 quality steps).

Settings are equal on every side: the same networks (3 -> 3 channels, ngf = ndf = 64, the reference's defaults for
its ``--model pix2pix`` / ``--model cycle_gan``), batch 1, the same resolution, the same thread count, synthetic
in-memory images (smooth random images; B = -A for pix2pix, independent for CycleGAN).

Arms, interleaved in every repetition (the order rotates by one arm per repetition), each a fresh model:

- **R, reference**: its ``TrainOptions`` parser with the case's argv (``--model pix2pix --netG unet_256
  --direction AtoB --dataset_mode aligned``, ...) builds the options, ``create_model`` + ``model.setup`` build the
  model as its ``train.py`` does (device CPU, as its ``init_ddp`` returns without CUDA), and the timed step is its
  own ``model.set_input(data); model.optimize_parameters()``. Always at its defaults: fp32, NCHW, ``torch.optim.Adam``
  with its default (for-loop) implementation -- what its users get.
- **L:<lever>, Lightning**: ``Pix2Pix`` / ``CycleGAN`` trained by a real ``lightning.Trainer`` (CPU, CSVLogger,
  no checkpointing, progress bar, summary or validation) on an in-memory data module (``DataLoader(batch_size=None)``
  over pre-made batches: fetching costs microseconds).
- **P:<lever>, raw PyTorch**: the same networks (same seed and construction order: same weights), the same losses,
  the same two Adam optimizers, the same order as the family's ``training_step`` (including the image pools, the
  finite checks and the dashboard values it logs, computed but not logged), without Lightning. Before timing, L and P
  train 2 batches from the same seed and the script prints the largest weight difference (0: bit-identical).
- **L:fp32 files**: L at fp32 on the real ``PairedImageDataModule`` / ``UnpairedImageDataModule`` over PNG files
  written to a temporary folder (the whole step a user waits for, loading included).

Levers (``LEVERS``, rows of data; the family needs no change for any of them): ``fused`` is
``torch.optim.Adam(fused=True)`` passed as the family's ``generator_optimizer`` / ``discriminator_optimizer``
(``foreach`` likewise); ``cl`` puts the networks in ``torch.channels_last`` from a callback's ``setup`` (before the
optimizers are built) and feeds channels_last inputs; ``bf16`` is ``Trainer(precision="bf16-mixed")`` for L and
``torch.autocast("cpu", torch.bfloat16)`` around the whole step for P (where Lightning puts it). The reference never
gets a lever.

Checks per lever, before timing: (1) *gradients*: one step's G and D gradients at the initial weights (no update,
dropout off) against the fp32 ones, median and worst per-tensor relative L2 error over tensors whose gradient is not
~0 (conv biases right before a normalisation have exactly-zero gradients in exact arithmetic and are skipped); a
median >= ``WRONG_GRADIENTS`` marks a lever that computes other gradients (it is then never the "best lever");
(2) *quality*: the P loss
trajectories (G and D losses) over ``--quality-steps`` steps against fp32's, as median and largest relative
difference per step. ``fp32-fused`` only reorders the Adam arithmetic, so its row is the rounding-noise floor of a
GAN trajectory: a lever "keeps quality" when its differences are of that order.

Timing: a callback stamps ``time.perf_counter()`` and ``time.process_time()`` at every batch start and end (the raw
loop and the reference loop stamp the same places). Whole step of batch i = ``start[i + 1] - start[i]``; a
repetition's figure is the mean over its timed steps; each arm's figure is the median over repetitions. Overhead =
``median(L) / median(P) - 1``; speed-up = ``median(R) / median(L)``; both with 90% bootstrap intervals over the
repetitions (``benchmarks.throughput.bootstrap_interval``). Then, for fp32 and the fastest lever with right
gradients, a *step-interleaved* measurement: one L fit whose callback runs a P step and an R step on the same batch
after every L step (``--paired-steps`` timed steps), so the three alternate step by step under the same load; L's
step is ``start[i + 1] - start[i]`` minus the P and R blocks inside it, and the ratios are ratios of sums over the
steps, with bootstrap intervals over steps. CPU time is the process's (all its threads): on a
loaded machine wall time includes waiting for a core, so judge ratios on CPU time there and on wall time on a quiet
one. The header prints the CPU model, its bf16 flags, the threads, the allocator settings and the load average.
"""

from __future__ import annotations

import os

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # a CPU benchmark: the reference moves its networks to cuda:0 if any

import argparse
import contextlib
import functools
import gc
import io
import logging
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere: import the repo

import lightning
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch import Callback, LightningDataModule, LightningModule, Trainer, seed_everything
from lightning.pytorch.loggers import CSVLogger
from torch import Tensor, nn
from torch.utils.data import DataLoader

from benchmarks._common import REPO_ROOT, RunInfo
from benchmarks.throughput import (
    Stamp,
    StepClock,
    StepClockCallback,
    bootstrap_interval,
    mean_stamp,
    stamp,
)
from datamodules import PairedImageDataModule, UnpairedImageDataModule
from lightning_gans import CycleGAN, Pix2Pix
from lightning_gans.image_pool import ImagePool
from lightning_gans.images import save_image
from lightning_gans.losses import adversarial_target_loss
from lightning_gans.training import _global_seed, _mix, check_finite, discriminator_outputs, reseed_for_epoch
from lightning_gans.translation import build_discriminator, build_generator

SEED = 0  # the CLI's seed_everything default
ADAM = {"lr": 2e-4, "betas": (0.5, 0.999)}  # both papers and the reference: what the families build by default
WIDTH = 64  # ngf = ndf, the reference's default
CHANNELS = 3
SAME_MATH_BATCHES = 2
# Median over tensors of the relative L2 gradient error above which a lever computes other gradients, not rounded
# ones: the InstanceNorm channels_last bug gives ~1.4 (uncorrelated: ~1.4); bf16 rounding gives 0.1-0.4 here
WRONG_GRADIENTS = 0.7
SPEEDUP_TARGET = 1.3
OVERHEAD_TARGET = 0.03


# ---------------------------------------------------------------------------------------------------------------
# What is measured: cases and levers are rows of data
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One network at one resolution, with the reference's argv for the same model.

    Args:
        family: ``pix2pix`` or ``cyclegan``.
        generator: the family's ``generator`` (the reference's ``--netG``).
        size: image side (batch 1).
        reference_argv: the reference's ``train.py`` options for the same model (its defaults do the rest).
        levers: the levers measured by default (``--levers`` overrides).
        real_loader: also time L at fp32 on the real data module over PNG files.
        quality: run the loss-trajectory check (skipped where a smaller case checks the same networks).
    """

    family: Literal["pix2pix", "cyclegan"]
    generator: str
    size: int
    reference_argv: tuple[str, ...]
    levers: tuple[str, ...]
    real_loader: bool = True
    quality: bool = True


PIX2PIX_ARGV = ("--model", "pix2pix", "--direction", "AtoB", "--dataset_mode", "aligned")
CYCLEGAN_ARGV = ("--model", "cycle_gan", "--dataset_mode", "unaligned")
ALL_PIX2PIX_LEVERS = ("fp32", "fp32-fused", "fp32-fused-cl", "bf16-fused", "bf16-fused-cl")
# CycleGAN: no channels_last by default -- on torch 2.14 CPU, InstanceNorm's backward at batch 1 returns wrong input
# gradients when its output gradient is channels_last (the gradient check shows it: --levers ... bf16-fused-cl)
CYCLEGAN_LEVERS = ("fp32", "fp32-fused", "bf16-fused")
CASES: dict[str, Case] = {
    "pix2pix_unet256_256": Case("pix2pix", "unet_256", 256, (*PIX2PIX_ARGV, "--netG", "unet_256"), ALL_PIX2PIX_LEVERS),
    "cyclegan_resnet9_128": Case(
        "cyclegan", "resnet_9blocks", 128, (*CYCLEGAN_ARGV, "--netG", "resnet_9blocks", "--load_size", "143",
                                            "--crop_size", "128"), CYCLEGAN_LEVERS),
    "cyclegan_resnet9_256": Case(
        "cyclegan", "resnet_9blocks", 256, (*CYCLEGAN_ARGV, "--netG", "resnet_9blocks"), ("fp32", "bf16-fused"),
        real_loader=False, quality=False),  # 4x the 128 case's work; the same networks' numerics are checked there
    "pix2pix_unet128_128": Case(
        "pix2pix", "unet_128", 128, (*PIX2PIX_ARGV, "--netG", "unet_128", "--load_size", "143", "--crop_size", "128"),
        ALL_PIX2PIX_LEVERS),
}
DEFAULT_CASES = ("pix2pix_unet256_256", "cyclegan_resnet9_128", "cyclegan_resnet9_256")


@dataclass(frozen=True)
class Lever:
    """A way of running the same math faster.

    Args:
        bf16: bf16 autocast (``precision="bf16-mixed"``); weights, optimizer state and losses stay fp32.
        channels_last: networks and inputs in ``torch.channels_last`` memory format.
        adam: Adam's implementation: ``default`` (for-loop on CPU, what the families and the reference build),
            ``foreach`` or ``fused``.
    """

    bf16: bool
    channels_last: bool
    adam: Literal["default", "foreach", "fused"]


LEVERS: dict[str, Lever] = {
    "fp32": Lever(False, False, "default"),  # the reference's settings: the baseline
    "fp32-foreach": Lever(False, False, "foreach"),
    "fp32-fused": Lever(False, False, "fused"),
    "fp32-fused-cl": Lever(False, True, "fused"),
    "bf16-fused": Lever(True, False, "fused"),
    "bf16-fused-cl": Lever(True, True, "fused"),
}
ADAM_IMPLEMENTATIONS = {"default": {}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def make_adam(parameters, lever: Lever) -> torch.optim.Adam:
    """The papers' Adam over ``parameters`` in the lever's implementation."""
    return torch.optim.Adam(parameters, **ADAM, **ADAM_IMPLEMENTATIONS[lever.adam])


def memory_format(lever: Lever) -> torch.memory_format:
    """The lever's memory format for networks and inputs."""
    return torch.channels_last if lever.channels_last else torch.contiguous_format


def autocast(lever: Lever) -> contextlib.AbstractContextManager:
    """bf16 autocast on CPU for bf16 levers, else nothing."""
    if lever.bf16:
        # no weight-cast cache, as Lightning's MixedPrecision: the step updates D (or G) inside the region, and a
        # cached bf16 copy would hand the next forward the weights from before that update
        return torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=False)
    return contextlib.nullcontext()


# ---------------------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------------------
def smooth_images(count: int, size: int, generator: torch.Generator) -> Tensor:
    """``count`` smooth random RGB images ``(count, 3, size, size)`` in [-1, 1] (bilinearly upsampled 8x8 noise)."""
    coarse = torch.rand((count, CHANNELS, 8, 8), generator=generator) * 2 - 1
    return F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)  # (count, 3, S, S)


def synthetic_batches(case: Case, count: int) -> list[dict[str, Tensor]]:
    """``count`` batches ``{"A", "B"}`` of one image each; pix2pix's target is the colour inversion of its input."""
    generator = torch.Generator().manual_seed(1234)
    images_a = smooth_images(count, case.size, generator)
    images_b = -images_a if case.family == "pix2pix" else smooth_images(count, case.size, generator)
    return [{"A": images_a[i : i + 1].clone(), "B": images_b[i : i + 1].clone()} for i in range(count)]


def in_format(batches: list[dict[str, Tensor]], lever: Lever) -> list[dict[str, Tensor]]:
    """The batches in the lever's memory format."""
    return [{key: value.contiguous(memory_format=memory_format(lever)) for key, value in b.items()} for b in batches]


def reference_batches(batches: list[dict[str, Tensor]]) -> list[dict]:
    """The reference's data dicts: ``A``, ``B`` and the file paths its ``set_input`` reads."""
    return [{**b, "A_paths": [f"synthetic_{i}_A.png"], "B_paths": [f"synthetic_{i}_B.png"]} for i, b in enumerate(batches)]


class InMemoryBatches(LightningDataModule):
    """Pre-made batches as a data module: ``DataLoader(batch_size=None)`` yields them unchanged, in order.

    Args:
        batches: ``{"A": (1, 3, S, S), "B": (1, 3, S, S)}`` in [-1, 1].
    """

    def __init__(self, batches: list[dict[str, Tensor]]) -> None:
        super().__init__()
        self.batches = batches
        self.input_channels = self.output_channels = CHANNELS  # what the families' setup checks

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.batches, batch_size=None, shuffle=False)


def file_datamodule(case: Case, count: int, root: Path) -> LightningDataModule:
    """The real data module over ``count`` PNG files written under ``root`` (the reference's preprocessing)."""
    generator = torch.Generator().manual_seed(4321)
    load_size = case.size * 286 // 256  # the reference's 286 -> 256 resize-and-crop, scaled
    images = (smooth_images(2 * count, case.size, generator) + 1) / 2  # (2N, 3, S, S) in [0, 1]
    for i in range(count):
        if case.family == "pix2pix":  # aligned layout: A | B side by side
            save_image(torch.cat([images[i], 1 - images[i]], dim=-1), root / "train" / f"{i:04d}.png")
        else:
            save_image(images[i], root / "trainA" / f"{i:04d}.png")
            save_image(images[count + i], root / "trainB" / f"{i:04d}.png")
    if case.family == "pix2pix":
        datamodule = PairedImageDataModule(str(root), load_size=load_size, crop_size=case.size, val_split=None,
                                           test_split=None)
    else:
        datamodule = UnpairedImageDataModule(str(root), test_a=None, test_b=None, load_size=load_size,
                                             crop_size=case.size)
    datamodule.setup("fit")
    return datamodule


# ---------------------------------------------------------------------------------------------------------------
# R: the reference, from a copy outside the repository
# ---------------------------------------------------------------------------------------------------------------
def import_reference(reference_dir: Path) -> tuple[type, Callable]:
    """The reference's ``TrainOptions`` and ``create_model``, imported from ``reference_dir`` (added to sys.path)."""
    needed = [reference_dir / "options" / "train_options.py", reference_dir / "models" / "cycle_gan_model.py"]
    if not all(path.is_file() for path in needed):
        raise SystemExit(
            f"translation_throughput: --reference_dir {reference_dir} holds no copy of pytorch-CycleGAN-and-pix2pix "
            "(options/train_options.py, models/cycle_gan_model.py): export one with `git --git-dir=<mirror> archive "
            f"2a7afba models options data util | tar -x -C {reference_dir}`"
        )
    if reference_dir.resolve().is_relative_to(REPO_ROOT):
        raise SystemExit(f"translation_throughput: --reference_dir {reference_dir} is inside the repository: copy it "
                         "outside (e.g. /tmp/ref_cyclegan)")
    sys.path.insert(0, str(reference_dir.resolve()))
    from models import create_model  # the reference's packages: models/, options/, data/, util/
    from options.train_options import TrainOptions

    return TrainOptions, create_model


def reference_model(reference: tuple[type, Callable], case: Case, root_dir: str):
    """The reference's model for ``case``, built as its ``train.py`` builds it (options parser, ``create_model``,
    ``setup``) on CPU, from seed ``SEED``; its printing is swallowed."""
    train_options, create_model = reference
    argv = ["--dataroot", "unused", "--checkpoints_dir", root_dir, "--name", "throughput", *case.reference_argv]
    saved_argv, sys.argv = sys.argv, ["train.py", *argv]
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            opt = train_options().parse()
            opt.device = torch.device("cpu")  # what its util.init_ddp() returns without CUDA
            model = create_model(opt)
            model.setup(opt)
    finally:
        sys.argv = saved_argv
    return model


def reference_run(reference: tuple[type, Callable], case: Case, batches: list[dict], clock: StepClock,
                  root_dir: str) -> None:
    """Train a fresh reference model on ``batches``, stamping ``clock`` around its own set_input + optimize."""
    model = reference_model(reference, case, root_dir)
    for batch_idx, batch in enumerate(batches):
        clock.start(batch_idx)
        model.set_input(batch)
        model.optimize_parameters()
        clock.end()


# ---------------------------------------------------------------------------------------------------------------
# L: Lightning
# ---------------------------------------------------------------------------------------------------------------
class ChannelsLast(Callback):
    """Puts the family's networks in channels_last memory format in ``setup``, before the optimizers are built.

    (A family argument would do this without a callback; see the report in benchmarks/RESULTS.md.)
    """

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        pl_module.to(memory_format=torch.channels_last)


def build_family(case: Case, lever: Lever) -> LightningModule:
    """The family with its defaults and ``case``'s generator; a non-default Adam goes in as the optimizer callables."""
    optimizer = None if lever.adam == "default" else functools.partial(make_adam, lever=lever)
    family = Pix2Pix if case.family == "pix2pix" else CycleGAN
    return family(generator=case.generator, generator_optimizer=optimizer, discriminator_optimizer=optimizer)


def lightning_fit(case: Case, lever: Lever, datamodule: LightningDataModule, callbacks: list[Callback],
                  root_dir: str) -> LightningModule:
    """Train a fresh family for one epoch of ``datamodule`` with a real ``Trainer``; returns the trained model."""
    seed_everything(SEED, verbose=False)
    model = build_family(case, lever)
    trainer = Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        precision="bf16-mixed" if lever.bf16 else "32-true",
        logger=CSVLogger(root_dir),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        default_root_dir=root_dir,
        callbacks=callbacks + ([ChannelsLast()] if lever.channels_last else []),
    )
    trainer.fit(model, datamodule=datamodule)
    return model


# ---------------------------------------------------------------------------------------------------------------
# P: the same math without Lightning
# ---------------------------------------------------------------------------------------------------------------
def set_requires_grad(parameters: list[nn.Parameter], value: bool) -> None:
    """Set ``requires_grad`` of every parameter (what ``toggled_optimizer`` does to the other networks')."""
    for parameter in parameters:
        parameter.requires_grad = value


def pool_generator(batch_idx: int, stream: int) -> torch.Generator:
    """``rank_generator(module, batch_idx, stream)`` of rank 0, epoch 0 on CPU."""
    return torch.Generator().manual_seed(_mix(_global_seed(), 0, 0, batch_idx, stream))


class RawPix2Pix:
    """G, D and their Adams, trained one batch at a time with the math of ``Pix2Pix.training_step``.

    Args:
        case: the generator.
        lever: precision, memory format and Adam implementation.
    """

    loss_names = ("train/loss_g", "train/loss_d")

    def __init__(self, case: Case, lever: Lever) -> None:
        seed_everything(SEED, verbose=False)  # same seed and construction order as Pix2Pix.__init__: same weights
        self.generator = build_generator(case.generator, CHANNELS, CHANNELS, WIDTH, "batch", True)
        self.discriminator = build_discriminator("patch", 2 * CHANNELS, WIDTH, 3, "batch")
        self.networks = {"generator": self.generator, "discriminator": self.discriminator}
        for network in self.networks.values():
            network.to(memory_format=memory_format(lever)).train()
        self.generator_params = list(self.generator.parameters())
        self.discriminator_params = list(self.discriminator.parameters())
        self.opt_g = make_adam(self.generator_params, lever)
        self.opt_d = make_adam(self.discriminator_params, lever)
        self.lever, self.generator_steps = lever, 0
        self.metrics: dict[str, Tensor | float] = {}

    def step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        """One D and one G update on ``batch`` (``A``, ``B``: ``(1, 3, S, S)`` in [-1, 1])."""
        with autocast(self.lever):
            real_a, real_b = batch["A"], batch["B"]
            fake_b = self.generator(real_a)  # (1, 3, S, S)

            set_requires_grad(self.generator_params, False)  # as toggled_optimizer(opt_d) leaves it
            real_logits = self.discriminator(torch.cat([real_a, real_b], dim=1))  # (1, 1, h, w)
            fake_logits = self.discriminator(torch.cat([real_a, fake_b.detach()], dim=1))
            loss_d = 0.5 * (adversarial_target_loss("non_saturating", real_logits, True)
                            + adversarial_target_loss("non_saturating", fake_logits, False))
            check_finite(self.generator_steps, loss_d=loss_d)
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
            set_requires_grad(self.generator_params, True)

            set_requires_grad(self.discriminator_params, False)  # as toggled_optimizer(opt_g) leaves it
            fake_logits_g = self.discriminator(torch.cat([real_a, fake_b], dim=1))
            loss_g_gan = adversarial_target_loss("non_saturating", fake_logits_g, True)
            loss_l1 = F.l1_loss(fake_b.float(), real_b.float())
            loss_g = loss_g_gan + 100.0 * loss_l1
            check_finite(self.generator_steps, loss_g=loss_g)
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            self.opt_g.step()
            set_requires_grad(self.discriminator_params, True)
        self.generator_steps += 1
        # what Pix2Pix.training_step hands to log_dict, computed but not logged
        self.metrics = {"train/loss_d": loss_d, "train/loss_g": loss_g, "train/loss_g_gan": loss_g_gan,
                        "train/loss_l1": loss_l1, **discriminator_outputs("non_saturating", real_logits, fake_logits),
                        "train/lr_g": self.opt_g.param_groups[0]["lr"], "train/lr_d": self.opt_d.param_groups[0]["lr"]}


class RawCycleGAN:
    """Both generators, both discriminators, the pools and the two Adams, with the math of ``CycleGAN.training_step``.

    Args:
        case: the generator.
        lever: precision, memory format and Adam implementation.
    """

    loss_names = ("train/loss_g", "train/loss_d")

    def __init__(self, case: Case, lever: Lever) -> None:
        seed_everything(SEED, verbose=False)  # same seed and construction order as CycleGAN.__init__
        self.generator_ab = build_generator(case.generator, CHANNELS, CHANNELS, WIDTH, "instance", False)  # G
        self.generator_ba = build_generator(case.generator, CHANNELS, CHANNELS, WIDTH, "instance", False)  # F
        self.discriminator_a = build_discriminator("patch", CHANNELS, WIDTH, 3, "instance")  # D_X
        self.discriminator_b = build_discriminator("patch", CHANNELS, WIDTH, 3, "instance")  # D_Y
        self.networks = {"generator_ab": self.generator_ab, "generator_ba": self.generator_ba,
                         "discriminator_a": self.discriminator_a, "discriminator_b": self.discriminator_b}
        for network in self.networks.values():
            network.to(memory_format=memory_format(lever)).train()
        self.pool_a, self.pool_b = ImagePool(50), ImagePool(50)
        self.generator_params = [*self.generator_ab.parameters(), *self.generator_ba.parameters()]
        self.discriminator_params = [*self.discriminator_a.parameters(), *self.discriminator_b.parameters()]
        self.opt_g = make_adam(self.generator_params, lever)
        self.opt_d = make_adam(self.discriminator_params, lever)
        self.lever, self.generator_steps = lever, 0
        self.metrics: dict[str, Tensor | float] = {}

    def step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        """One update of both generators, then of both discriminators, on ``batch`` (unpaired ``A``, ``B``)."""
        with autocast(self.lever):
            real_a, real_b = batch["A"], batch["B"]  # (1, 3, S, S) each

            set_requires_grad(self.discriminator_params, False)  # as toggled_optimizer(opt_g) leaves it
            fake_b = self.generator_ab(real_a)  # G(x)
            rec_a = self.generator_ba(fake_b)  # F(G(x))
            fake_a = self.generator_ba(real_b)  # F(y)
            rec_b = self.generator_ab(fake_a)  # G(F(y))
            loss_gan_ab = adversarial_target_loss("least_squares", self.discriminator_b(fake_b), True)
            loss_gan_ba = adversarial_target_loss("least_squares", self.discriminator_a(fake_a), True)
            loss_cycle_a = 10.0 * F.l1_loss(rec_a.float(), real_a.float())
            loss_cycle_b = 10.0 * F.l1_loss(rec_b.float(), real_b.float())
            loss_g = loss_gan_ab + loss_gan_ba + loss_cycle_a + loss_cycle_b
            loss_identity_b = 10.0 * 0.5 * F.l1_loss(self.generator_ab(real_b).float(), real_b.float())
            loss_identity_a = 10.0 * 0.5 * F.l1_loss(self.generator_ba(real_a).float(), real_a.float())
            loss_g = loss_g + loss_identity_a + loss_identity_b
            check_finite(self.generator_steps, loss_g=loss_g)
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            self.opt_g.step()
            set_requires_grad(self.discriminator_params, True)

            set_requires_grad(self.generator_params, False)  # as toggled_optimizer(opt_d) leaves it
            pooled_b = self.pool_b.query(fake_b, pool_generator(batch_idx, 1))
            pooled_a = self.pool_a.query(fake_a, pool_generator(batch_idx, 2))
            real_logits_b, fake_logits_b = self.discriminator_b(real_b), self.discriminator_b(pooled_b)
            real_logits_a, fake_logits_a = self.discriminator_a(real_a), self.discriminator_a(pooled_a)
            loss_d_b = 0.5 * (adversarial_target_loss("least_squares", real_logits_b, True)
                              + adversarial_target_loss("least_squares", fake_logits_b, False))
            loss_d_a = 0.5 * (adversarial_target_loss("least_squares", real_logits_a, True)
                              + adversarial_target_loss("least_squares", fake_logits_a, False))
            check_finite(self.generator_steps, loss_d_a=loss_d_a, loss_d_b=loss_d_b)
            self.opt_d.zero_grad(set_to_none=True)
            (loss_d_a + loss_d_b).backward()
            self.opt_d.step()
            set_requires_grad(self.generator_params, True)
        self.generator_steps += 1
        self.metrics = {"train/loss_g": loss_g, "train/loss_gan_ab": loss_gan_ab, "train/loss_gan_ba": loss_gan_ba,
                        "train/loss_cycle_a": loss_cycle_a, "train/loss_cycle_b": loss_cycle_b,
                        "train/loss_identity_a": loss_identity_a, "train/loss_identity_b": loss_identity_b,
                        "train/loss_d_a": loss_d_a, "train/loss_d_b": loss_d_b, "train/loss_d": loss_d_a + loss_d_b,
                        "train/lr_g": self.opt_g.param_groups[0]["lr"], "train/lr_d": self.opt_d.param_groups[0]["lr"]}


def raw_model(case: Case, lever: Lever) -> RawPix2Pix | RawCycleGAN:
    """A fresh raw loop for ``case``."""
    return RawPix2Pix(case, lever) if case.family == "pix2pix" else RawCycleGAN(case, lever)


def raw_loop(case: Case, lever: Lever, batches: list[dict[str, Tensor]], clock: StepClock) -> RawPix2Pix | RawCycleGAN:
    """Train a fresh raw loop for one epoch over ``batches`` as Lightning's loop feeds them; returns it.

    The epoch starts like ``GANTrainingHooks``' (reseed from (seed, epoch 0), then make the iterator, which draws
    its base seed), so dropout draws the same masks as in the Lightning fit.
    """
    raw = raw_model(case, lever)
    reseed_for_epoch(0)
    for batch_idx, batch in enumerate(DataLoader(batches, batch_size=None, shuffle=False)):
        clock.start(batch_idx)
        raw.step(batch, batch_idx)
        clock.end()
    return raw


def difference(later: Stamp, earlier: Stamp) -> Stamp:
    """(wall, CPU) seconds from ``earlier`` to ``later``."""
    return later[0] - earlier[0], later[1] - earlier[1]


class InterleavedSteps(StepClockCallback):
    """Times L's steps like ``StepClockCallback`` and, after each of them, one P step and one R step on the same batch.

    L, P and R then alternate step by step and share the machine's load of the moment (on a loaded machine the
    repetitions' figures drift by more than the overhead being measured).

    Args:
        raw: P, built before the fit (its construction reseeds).
        reference: R, built before the fit.
        reference_data: R's data dicts, one per batch index.
        clock: receives L's stamps.
    """

    def __init__(self, raw: RawPix2Pix | RawCycleGAN, reference, reference_data: list[dict], clock: StepClock) -> None:
        super().__init__(clock)
        self.raw, self.reference, self.reference_data = raw, reference, reference_data
        self.blocks: list[tuple[Stamp, Stamp, Stamp]] = []  # (before P, between P and R, after R) per batch

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx: int) -> None:
        self.clock.end()
        before_raw = stamp()
        self.raw.step(batch, batch_idx)  # outside Lightning's autocast region: P brings its own
        before_reference = stamp()
        self.reference.set_input(self.reference_data[batch_idx])
        self.reference.optimize_parameters()
        self.blocks.append((before_raw, before_reference, stamp()))

    def triples(self, warmup: int, steps: int) -> list[tuple[Stamp, Stamp, Stamp]]:
        """Per timed step: (L's whole step without the P and R blocks inside it, P's step, R's step)."""
        rows = []
        for i in range(warmup, warmup + steps):
            before_raw, before_reference, after = self.blocks[i]
            inside = difference(after, before_raw)
            lightning = difference(difference(self.clock.starts[i + 1], self.clock.starts[i]), inside)
            rows.append((lightning, difference(before_reference, before_raw), difference(after, before_reference)))
        return rows


def step_interleaved(case: Case, lever: str, reference: tuple[type, Callable], batches: list[dict[str, Tensor]],
                     steps: int, warmup: int, root_dir: str) -> list[tuple[Stamp, Stamp, Stamp]]:
    """One L fit at ``lever`` over ``warmup + steps + 1`` batches with a P and an R step after every L step."""
    batches = synthetic_batches(case, warmup + steps + 1) if len(batches) < warmup + steps + 1 else batches
    raw = raw_model(case, LEVERS[lever])
    reference_model_ = reference_model(reference, case, root_dir)
    callback = InterleavedSteps(raw, reference_model_, reference_batches(batches), StepClock())
    gc.collect()
    lightning_fit(case, LEVERS[lever], InMemoryBatches(in_format(batches, LEVERS[lever])), [callback], root_dir)
    return callback.triples(warmup, steps)


# ---------------------------------------------------------------------------------------------------------------
# Checks: same math, gradients, loss trajectories
# ---------------------------------------------------------------------------------------------------------------
def same_math_difference(case: Case, lever: Lever, batches: list[dict[str, Tensor]], root_dir: str) -> float:
    """Largest |L - P| over every network's parameters and buffers after ``SAME_MATH_BATCHES`` batches."""
    batches = in_format(batches[:SAME_MATH_BATCHES], lever)
    model = lightning_fit(case, lever, InMemoryBatches(batches), [], root_dir)
    raw = raw_loop(case, lever, batches, StepClock())
    worst = 0.0
    for name, network in raw.networks.items():
        ours, theirs = getattr(model, name).state_dict(), network.state_dict()
        if ours.keys() != theirs.keys():
            raise RuntimeError(f"same-math check: {name} holds different tensors in the Lightning and raw models")
        worst = max([worst, *(float((ours[k].double() - theirs[k].double()).abs().max()) for k in ours)])
    return worst


def first_gradients(case: Case, lever: Lever, batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """Every parameter's gradient in one raw step at the initial weights (each optimizer's step only records).

    Dropout is off here (BatchNorm stays in train mode): its masks are drawn in memory order, so a channels_last or
    bf16 tensor gets other masks than an NCHW fp32 one, which is a different sample, not an arithmetic error.
    """
    raw = raw_model(case, lever)
    named = {id(p): f"{net}.{n}" for net, network in raw.networks.items() for n, p in network.named_parameters()}
    gradients: dict[str, Tensor] = {}

    def record(optimizer: torch.optim.Optimizer) -> None:
        for group in optimizer.param_groups:
            for parameter in group["params"]:
                if parameter.grad is not None:
                    gradients[named[id(parameter)]] = parameter.grad.detach().float().contiguous().clone()

    raw.opt_g.step = functools.partial(record, raw.opt_g)  # no update: D's and G's gradients at the same weights
    raw.opt_d.step = functools.partial(record, raw.opt_d)
    for network in raw.networks.values():  # dropout masks depend on memory layout and dtype: compare without them
        for module in network.modules():
            if isinstance(module, nn.Dropout):
                module.eval()
    raw.step(in_format([batch], lever)[0], 0)
    return gradients


def gradient_errors(gradients: dict[str, Tensor], reference: dict[str, Tensor]) -> tuple[float, float, str]:
    """Median and worst per-tensor ``||g - g_ref|| / ||g_ref||`` and the worst tensor, over gradients not ~0.

    bf16 errors are large in these networks: every conv feeding a BatchNorm / InstanceNorm receives an output
    gradient with zero mean over its normalised axes, and its weight gradient, a sum of that gradient times
    positive (post-ReLU) inputs, cancels in exact arithmetic what bf16's rounding of the gradient leaves as noise.
    """
    norms = {name: float(g.norm()) for name, g in reference.items()}
    floor = 1e-6 * max(norms.values())  # conv biases before a norm: exactly 0 in exact arithmetic, rounding here
    errors = {name: float((gradients[name] - g).norm()) / norms[name] for name, g in reference.items()
              if norms[name] > floor}
    worst = max(errors, key=errors.get)
    return statistics.median(errors.values()), errors[worst], worst


def loss_trajectory(case: Case, lever: Lever, batches: list[dict[str, Tensor]], steps: int) -> list[tuple[float, float]]:
    """(G loss, D loss) of each of ``steps`` raw steps cycling over ``batches``."""
    raw = raw_model(case, lever)
    batches = in_format(batches, lever)
    reseed_for_epoch(0)
    losses = []
    for batch_idx in range(steps):
        raw.step(batches[batch_idx % len(batches)], batch_idx)
        losses.append(tuple(float(raw.metrics[name].detach()) for name in raw.loss_names))
    return losses


# ---------------------------------------------------------------------------------------------------------------
# Machine facts and statistics
# ---------------------------------------------------------------------------------------------------------------
def cpu_facts() -> str:
    """lscpu's model name, vCPU count and which bf16 instructions its flags list."""
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        lines = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    fields = {}
    for line in lines:
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    flags = set((fields.get("flags") or "").split())
    bf16 = [flag for flag in ("amx_bf16", "avx512_bf16") if flag in flags]
    return (f"{fields.get('model name', 'unknown CPU')}, {os.cpu_count()} vCPUs, bf16 flags: "
            f"{', '.join(bf16) if bf16 else 'none (no amx_bf16, no avx512_bf16)'}")


def ratio_interval(numerator: list[float], denominator: list[float]) -> tuple[float, float, float]:
    """``median(numerator) / median(denominator)`` and its 90% bootstrap interval (repetitions resampled in pairs)."""
    def statistic(a: list[float], b: list[float]) -> float:
        return statistics.median(a) / statistics.median(b)

    return (statistic(numerator, denominator), *bootstrap_interval(statistic, numerator, denominator))


def relative_differences(losses: list[tuple[float, float]], reference: list[tuple[float, float]], which: int) -> list[float]:
    """Per step ``|loss - loss_ref| / |loss_ref|`` of loss ``which`` (0 = G, 1 = D)."""
    return [abs(a[which] - b[which]) / max(abs(b[which]), 1e-12) for a, b in zip(losses, reference)]


# ---------------------------------------------------------------------------------------------------------------
# One case
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Arm:
    """One timed arm: ``R`` (reference), ``L`` (Lightning) or ``P`` (raw), at a lever, on memory or file data."""

    kind: Literal["R", "L", "P"]
    lever: str
    data: Literal["memory", "files"] = "memory"

    @property
    def label(self) -> str:
        if self.kind == "R":
            return "R:reference"
        return f"{self.kind}:{self.lever}" + (" files" if self.data == "files" else "")


def run_case(name: str, case: Case, levers: list[str], args: argparse.Namespace,
             reference: tuple[type, Callable], tmp: Path) -> dict:
    """Checks, interleaved timing and the report of one case; returns its headline figures."""
    num_batches = args.warmup + args.steps + 1  # the last timed step needs the next batch's start stamp
    print(f"\n=== {name}: {case.family} {case.generator} at {case.size}x{case.size}, batch 1; reference argv: "
          f"{' '.join(case.reference_argv)} ===", flush=True)
    batches = synthetic_batches(case, num_batches)
    root = str(tmp / name)

    print("checks (before timing):")
    gradients = {lever: first_gradients(case, LEVERS[lever], batches[0]) for lever in levers}
    valid = {}
    for lever in levers:
        difference = same_math_difference(case, LEVERS[lever], batches, root)
        median, worst, tensor = gradient_errors(gradients[lever], gradients["fp32"])
        valid[lever] = median < WRONG_GRADIENTS
        print(f"  {lever:14} same math L vs P after {SAME_MATH_BATCHES} batches: max |diff| {difference:.3g}"
              f"{' (bit-identical)' if difference == 0 else ''}; gradients vs fp32, relative error per tensor: "
              f"median {median:.2e}, worst {worst:.2e} ({tensor})"
              f"{'' if valid[lever] else f' -- median >= {WRONG_GRADIENTS}: WRONG GRADIENTS'}", flush=True)
    del gradients

    if args.quality_steps and case.quality:
        trajectories = {lever: loss_trajectory(case, LEVERS[lever], batches[:8], args.quality_steps) for lever in levers}
        base = trajectories["fp32"]
        print(f"  loss trajectories over {args.quality_steps} raw steps vs fp32 (relative |diff| per step, median / "
              f"max; fp32 at the last step: G {base[-1][0]:.4g}, D {base[-1][1]:.4g}; fp32-fused, which only reorders "
              "Adam's arithmetic, is the rounding floor):")
        for lever in levers[1:]:
            cells = []
            for which, label in ((0, "G"), (1, "D")):
                diffs = relative_differences(trajectories[lever], base, which)
                cells.append(f"{label} {statistics.median(diffs):.2e} / {max(diffs):.2e}")
            last = trajectories[lever][-1]
            print(f"    {lever:14} {'; '.join(cells)}; last step G {last[0]:.4g}, D {last[1]:.4g}", flush=True)

    arms = [Arm("R", "fp32")]
    for lever in levers:
        arms += [Arm("L", lever), Arm("P", lever)]
    if case.real_loader and not args.no_files:
        arms.append(Arm("L", "fp32", "files"))
        files = file_datamodule(case, num_batches, tmp / f"{name}_files")
    data = {lever: in_format(batches, LEVERS[lever]) for lever in levers}
    reference_data = reference_batches(batches)
    whole: dict[str, list[Stamp]] = {arm.label: [] for arm in arms}
    model: dict[str, list[Stamp]] = {arm.label: [] for arm in arms}

    print(f"\nrepetitions ({args.warmup} warm-up + {args.steps} timed steps per fit; seconds per iteration, wall (CPU)):")
    print("rep load1 | " + " | ".join(f"{arm.label:>17}" for arm in arms), flush=True)
    for repeat in range(args.repeats):
        load = os.getloadavg()[0]
        order = arms[repeat % len(arms):] + arms[: repeat % len(arms)]  # rotate: no arm always runs first
        for arm in order:
            clock = StepClock()
            gc.collect()
            if arm.kind == "R":
                reference_run(reference, case, reference_data, clock, root)
            elif arm.kind == "P":
                raw_loop(case, LEVERS[arm.lever], data[arm.lever], clock)
            else:
                datamodule = files if arm.data == "files" else InMemoryBatches(data[arm.lever])
                lightning_fit(case, LEVERS[arm.lever], datamodule, [StepClockCallback(clock)], root)
            whole[arm.label].append(mean_stamp(clock.whole_steps(args.warmup, args.steps)))
            model[arm.label].append(mean_stamp(clock.model_steps(args.warmup, args.steps)))
        cells = [f"{whole[arm.label][-1][0]:7.3f} ({whole[arm.label][-1][1]:7.3f})" for arm in arms]
        print(f"{repeat + 1:3d} {load:5.2f} | " + " | ".join(cells), flush=True)

    print(f"\nmedians over {args.repeats} repetitions, s/iter whole step wall (CPU); model step wall:")
    for arm in arms:
        wall = statistics.median(t[0] for t in whole[arm.label])
        cpu = statistics.median(t[1] for t in whole[arm.label])
        step = statistics.median(t[0] for t in model[arm.label])
        print(f"  {arm.label:17} {wall:7.3f} ({cpu:7.3f}); model step {step:7.3f}")

    reference_wall = [t[0] for t in whole["R:reference"]]
    reference_cpu = [t[1] for t in whole["R:reference"]]
    print("per lever: Lightning overhead L/P - 1, and speed-up reference/L (90% bootstrap intervals), wall | CPU:")
    results = {}
    for lever in levers:
        lightning, raw = whole[f"L:{lever}"], whole[f"P:{lever}"]
        overhead = [ratio_interval([t[i] for t in lightning], [t[i] for t in raw]) for i in (0, 1)]
        speedup = [ratio_interval(ref, [t[i] for t in lightning]) for i, ref in ((0, reference_wall), (1, reference_cpu))]
        results[lever] = {"overhead": overhead, "speedup": speedup, "valid": valid[lever]}
        cells = [f"overhead {o[0] - 1:+6.2%} [{o[1] - 1:+6.2%}, {o[2] - 1:+6.2%}]" for o in overhead]
        cells += [f"speed-up {s[0]:5.2f}x [{s[1]:5.2f}, {s[2]:5.2f}]" for s in speedup]
        print(f"  {lever:14} wall: {cells[0]}, {cells[2]} | CPU: {cells[1]}, {cells[3]}"
              f"{'' if valid[lever] else '  (wrong gradients: not a valid lever)'}")
    if "L:fp32 files" in whole:
        files_wall = statistics.median(t[0] for t in whole["L:fp32 files"])
        memory_wall = statistics.median(t[0] for t in whole["L:fp32"])
        print(f"  real data module (PNG files, num_workers 0) vs in-memory batches, L at fp32: "
              f"{files_wall - memory_wall:+.3f} s/iter wall ({files_wall / memory_wall - 1:+.1%})")

    if args.paired_steps:
        fastest = max((lever for lever in levers if valid[lever]), key=lambda lever: results[lever]["speedup"][1][0])
        print(f"\nstep-interleaved (one L fit, a P and an R step after every L step; {args.warmup} warm-up + "
              f"{args.paired_steps} timed steps; ratios of sums, 90% bootstrap over steps), wall | CPU:")
        for lever in dict.fromkeys(["fp32", fastest]):
            load = os.getloadavg()[0]
            rows = step_interleaved(case, lever, reference, batches, args.paired_steps, args.warmup, root)
            cells = []
            for index in (0, 1):
                lightning, raw, ref = ([row[k][index] for row in rows] for k in range(3))
                overhead = (sum(lightning) / sum(raw), *bootstrap_interval(lambda a, b: sum(a) / sum(b), lightning, raw))
                speedup = (sum(ref) / sum(lightning), *bootstrap_interval(lambda a, b: sum(a) / sum(b), ref, lightning))
                cells.append(f"L {statistics.fmean(lightning):.3f} s, P {statistics.fmean(raw):.3f} s, R "
                             f"{statistics.fmean(ref):.3f} s; overhead {overhead[0] - 1:+6.2%} [{overhead[1] - 1:+6.2%}, "
                             f"{overhead[2] - 1:+6.2%}], speed-up {speedup[0]:5.2f}x [{speedup[1]:5.2f}, {speedup[2]:5.2f}]")
                results[lever][f"interleaved_{('wall', 'CPU')[index]}"] = (overhead, speedup)
            print(f"  {lever:14} (load1 {load:.2f}) {cells[0]} | {cells[1]}", flush=True)
    return results


# ---------------------------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference_dir", type=Path, required=True,
                        help="a copy of pytorch-CycleGAN-and-pix2pix outside the repository (models/, options/, ...)")
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(DEFAULT_CASES),
                        help=f"cases to run (default: {' '.join(DEFAULT_CASES)})")
    parser.add_argument("--levers", nargs="+", choices=list(LEVERS), default=None,
                        help="levers for every case instead of each case's own list (fp32 is always included)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per fit (default 2)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per repetition (default 3)")
    parser.add_argument("--repeats", type=int, default=5, help="repetitions of every arm, >= 5 (default 5)")
    parser.add_argument("--quality-steps", type=int, default=30,
                        help="steps of the loss-trajectory check, 0 skips it (default 30)")
    parser.add_argument("--paired-steps", type=int, default=6,
                        help="timed steps of the step-interleaved measurement (fp32 and the fastest lever), 0 skips it "
                             "(default 6)")
    parser.add_argument("--no-files", action="store_true", help="skip the arm on the real data module over files")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 1 warm-up + 1 timed step, 2 repetitions, 3 quality steps")
    args = parser.parse_args(argv)
    if args.quick:
        args.warmup, args.steps, args.repeats = 1, 1, 2
        args.quality_steps, args.paired_steps = min(args.quality_steps, 3), min(args.paired_steps, 2)
    elif args.repeats < 5:
        parser.error(f"--repeats must be >= 5 for a median worth quoting (or use --quick), got {args.repeats}")
    if args.threads < 1 or args.steps < 1 or min(args.warmup, args.quality_steps, args.paired_steps) < 0:
        parser.error("--threads and --steps must be >= 1, --warmup, --quality-steps and --paired-steps >= 0")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the report (module docstring)."""
    args = parse_args(argv)
    reference = import_reference(args.reference_dir)
    torch.set_num_threads(args.threads)
    run_info = RunInfo()
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # GPU/TPU availability lines
    for message in (".*does not have many workers.*", ".*number of training batches.*", ".*val_dataloader.*",
                    ".*LeafSpec.*"):
        warnings.filterwarnings("ignore", message=message)

    print("Translation training throughput: R = reference pytorch-CycleGAN-and-pix2pix (its defaults: fp32, NCHW, "
          "for-loop Adam), L = Lightning Trainer, P = raw PyTorch loop of the same math")
    print(f"CPU: {cpu_facts()}")
    print(f"versions: torch {torch.__version__} (oneDNN {torch.backends.mkldnn.is_available()}), lightning "
          f"{lightning.__version__}, python {platform.python_version()}; torch threads {torch.get_num_threads()}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")
    if os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE" and args.threads > 1:
        print("  note: OMP_WAIT_POLICY is not PASSIVE: on a shared machine spinning OpenMP threads slow every arm")
    allocator = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_") or k == "LD_PRELOAD"}
    print("allocator: " + (", ".join(f"{k}={v}" for k, v in sorted(allocator.items())) or "glibc malloc defaults"))
    print(f"reference: {args.reference_dir.resolve()}; load average at start {os.getloadavg()[0]:.2f}")

    results = {}
    with tempfile.TemporaryDirectory(prefix="translation_throughput_") as tmp:
        for name in args.cases:
            case = CASES[name]
            levers = list(dict.fromkeys(["fp32", *(args.levers or case.levers)]))
            results[name] = run_case(name, case, levers, args, reference, Path(tmp))

    print(f"\ntargets: Lightning overhead <= {OVERHEAD_TARGET:.0%} (L/P - 1, CPU time) at every lever; speed-up "
          f">= {SPEEDUP_TARGET}x the reference (wall time; CPU time in brackets) with the fastest lever whose "
          "gradients are right")
    for name, levers in results.items():
        overheads = ", ".join(f"{lever} {r['overhead'][1][0] - 1:+.1%}" for lever, r in levers.items())
        print(f"  {name}: overhead (CPU) {overheads} -> "
              f"{'met' if all(r['overhead'][1][0] - 1 <= OVERHEAD_TARGET for r in levers.values()) else 'NOT met'}")
        for lever, r in levers.items():
            if "interleaved_CPU" in r:
                (overhead, speedup), (overhead_cpu, speedup_cpu) = r["interleaved_wall"], r["interleaved_CPU"]
                print(f"    step-interleaved {lever}: overhead {overhead[0] - 1:+.1%} wall, {overhead_cpu[0] - 1:+.1%} "
                      f"CPU; speed-up vs reference {speedup[0]:.2f}x wall, {speedup_cpu[0]:.2f}x CPU")
        candidates = {lever: r for lever, r in levers.items() if r["valid"]}
        for clock, index in (("wall", 0), ("CPU", 1)):
            best = max(candidates, key=lambda lever: candidates[lever]["speedup"][index][0])
            speedup = candidates[best]["speedup"][index][0]
            print(f"    speed-up vs reference, {clock:4}: best lever {best} {speedup:.2f}x -> "
                  f"{'met' if speedup >= SPEEDUP_TARGET else 'NOT met'}; "
                  + ", ".join(f"{lever} {r['speedup'][index][0]:.2f}x" for lever, r in candidates.items()))
    print(f"CPU: {cpu_facts()}")
    print()
    run_info.print()


if __name__ == "__main__":
    main()
