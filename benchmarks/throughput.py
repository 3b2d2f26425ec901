"""DCGAN training throughput through Lightning against a raw PyTorch loop of the same math (target: <= 3% overhead).

Run from the repository root (not run by CI; about 7 minutes with the defaults on one thread)::

    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/throughput.py

Options: ``--image-size`` (28), ``--batch-size`` (128), ``--width`` (64, G's ngf and D's ndf), ``--warmup`` (5
untimed steps), ``--steps`` (15 timed steps per repetition), ``--repeats`` (7, at least 5), ``--paired-steps``
(60 steps of the step-interleaved measurement, 0 skips it), ``--data`` (``both``, ``memory``, ``rendered``),
``--target`` (3 percent), ``--profile`` (print the breakdown and cProfile comparison even when the target is met).

What is compared (the settings of ``experiments/dcgan_mnist.yaml``: 1 channel, image_size 28, ngf = ndf = 64,
latent 100, batch 128, non-saturating loss, Adam(2e-4, betas (0.5, 0.999)), no EMA, seed 0):

- **A, Lightning**: ``lightning_gans.DCGAN`` trained by a real ``lightning.Trainer`` (CPU, 1 device,
  ``CSVLogger`` with the default ``log_every_n_steps=50``, so ``self.log_dict`` does all its bookkeeping every
  step; progress bar, checkpointing, model summary and validation off; the CLI's ``SampleImages`` callback is not
  attached). The model's own ``ReproducibleEpochs`` callback is on, as for every user.
- **B, raw PyTorch**: the same networks (``DCGANGenerator``, ``DCGANDiscriminator``, ``normal_init_`` under the
  same seed and construction order) and per batch exactly what ``DCGAN.training_step`` does: noise from a fresh
  ``torch.Generator`` seeded as ``latent_noise`` seeds it (blake2b of global seed, rank, epoch, batch, stream);
  one G forward; the D step on real and detached fake (``discriminator_loss("non_saturating", ...)``,
  ``check_finite``, ``zero_grad(set_to_none=True)``, ``backward``, ``Adam.step``); the G step reusing the fake
  (``generator_loss``, the same checks); then the dashboard tensors (``discriminator_outputs``, both learning
  rates), which B computes but does not log. B toggles ``requires_grad`` to the state ``toggled_optimizer``
  leaves: G's parameters frozen in the D step, D's in the G step, restored after. The frozen D in the G step is
  what makes it the same *work*: G's backward then computes D's input gradients only, not its weight gradients.
  (Lightning also sets and resets every parameter of the stepped optimizer: that extra Python is its cost.)
  Before timing, A and B train 3 batches from the same seed and the script prints the largest difference of their
  weights and BatchNorm buffers: 0 means bit-identical, the same math.

Data: ``memory`` arms (A, B) get the same pre-made batches of uniform random images in [-1, 1]
(``DataLoader(batch_size=None)`` over a list of ``(x, y)`` batches: fetching costs microseconds, data is not what
is compared). ``rendered`` arms (A', B') use the real ``datamodules.RenderedDigitsDataModule`` (built-in font only,
``num_train = batch * (warmup + steps + 1)``, its shuffled ``train_dataloader()``, which scales uint8 images per
sample): the whole-step figure a user waits for, data loading included.

Method. Per-fit setup is excluded by timing steady-state steps inside one fit. A callback records
``time.perf_counter()`` (wall) and ``time.process_time()`` (CPU time of this process) in ``on_train_batch_start``
(after the batch was fetched) and ``on_train_batch_end``; the raw loop records them at the same places (after the
loader yields, after the step). The **whole step** of batch i is ``start[i + 1] - start[i]`` (the step, every hook
and the fetch of the next batch), the **model step** ``end[i] - start[i]`` (``training_step`` and what Lightning
wraps around it). Two measurements, both in this one run:

1. *Repetitions* (the headline): each repetition is a fresh model and a fresh ``Trainer.fit`` (or raw loop) over
   ``warmup + steps + 1`` batches of one epoch; a repetition's figure is the mean over its ``steps`` timed steps.
   Arms run interleaved ``A B A' B'``, ``A B A' B'``, ... each after a ``gc.collect()``. Overhead =
   ``median(A seconds per step) / median(B seconds per step) - 1``; the median of each repetition's adjacent
   ``A/B - 1`` is printed beside it.
2. *Step-interleaved*: one fit of A whose callback runs one B step (own networks, optimizers and loader over the
   same batches) after every A step, so A and B alternate step by step and share the machine's load of the moment.
   A's whole step is ``start[i + 1] - start[i]`` minus the B block inside it. Overhead = ``sum(A) / sum(B) - 1``
   over the timed steps, and the median of the per-step ratios.

CPU time is printed beside wall time: on this shared 2-core machine a step's wall time includes waiting for a core
(about half of it at load 3), which falls on A or B by chance; CPU time does not, but other jobs' cache and memory
traffic still moves it by a few percent between repetitions, which is why the step-interleaved measurement exists.
Every overhead comes with a 90% percentile-bootstrap interval (pairs resampled together, 2,000 resamples, fixed
seed). The target is judged on the CPU time of the whole step of A/B (in-memory data), by both measurements; A'/B'
(same data loading on both sides) is printed for information.

Allocator: glibc's malloc serves blocks above its mmap threshold (128 KiB at start) with ``mmap`` and returns them
on ``free``; the step's activations (several MB each) then fault their pages in again every step. The threshold
rises, up to 32 MiB, once a process frees a large mmapped block, so the cost depends on the process's history:
here a ``--data memory`` run paid 15,000-22,000 minor page faults and 30-55 ms of system time per step (11-18% of
the step's CPU time, A and B alike), while a run that first set up ``RenderedDigitsDataModule`` (which frees large
blocks) paid a few faults per step. The script prints system time and page faults per step for each arm.
``MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296 MALLOC_TOP_PAD_=268435456`` keeps those pages
in the heap from the start (a few faults per step); the header prints any ``MALLOC_*`` setting.

With ``--profile``, or when an overhead is above the target: (a) an instrumented fit of A (wrappers around
Lightning's entry points, CPU time) prints the ms per step Lightning adds: ``log_dict``, ``toggle_optimizer`` +
``untoggle_optimizer``, ``LightningOptimizer.step`` minus ``Adam.step``, ``manual_backward`` minus
``Tensor.backward``, ``optimizers()``, and the loop between steps; (b) cProfile (CPU timer) of one A fit and one B
loop lists the functions A calls more often than B, with their own time per step (cProfile inflates Python-heavy
code: read those as an upper bound and a ranking) and Lightning's functions by cumulative time.

Output: the configuration, versions, allocator settings and the same-math check; one row per repetition (1-minute
load average at its start, images/s wall and CPU of each arm, each pair's overhead); medians (with the kernel's
share), overheads with 90% intervals; the step-interleaved overheads; the verdict; the profile when asked or
needed; then the command, wall time, thread settings and load average.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import gc
import logging
import os
import platform
import pstats
import random
import resource
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere: import the repo

import lightning
import torch
from lightning.pytorch import Callback, LightningModule, Trainer, seed_everything
from lightning.pytorch.core.optimizer import LightningOptimizer
from lightning.pytorch.loggers import CSVLogger
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from benchmarks._common import RunInfo
from datamodules import RenderedDigitsDataModule
from lightning_gans import DCGAN
from lightning_gans.dcgan import DCGANDiscriminator, DCGANGenerator
from lightning_gans.init import normal_init_
from lightning_gans.losses import discriminator_loss, generator_loss
from lightning_gans.training import _global_seed, _mix, check_finite, discriminator_outputs

SEED = 0  # the CLI's seed_everything default
LOSS = "non_saturating"  # DCGAN's default adversarial loss
ADAM = {"lr": 2e-4, "betas": (0.5, 0.999)}  # DCGAN Sec. 4, what DCGAN.configure_optimizers builds
LATENT_DIM = 100
CHANNELS = 1
SAME_MATH_BATCHES = 3
BOOTSTRAP_RESAMPLES = 2000

Stamp = tuple[float, float]  # (time.perf_counter(), time.process_time()) in seconds


def stamp() -> Stamp:
    """(wall, CPU) seconds now."""
    return time.perf_counter(), time.process_time()


@dataclass(frozen=True)
class BenchConfig:
    """What one benchmark run measures.

    Args:
        image_size: image side (4*2^k or 7*2^k; 28 is MNIST's).
        batch_size: images per batch.
        width: G's ``ngf`` and D's ``ndf``.
        warmup: untimed steps at the start of every fit.
        steps: timed steps per fit.
    """

    image_size: int
    batch_size: int
    width: int
    warmup: int
    steps: int

    @property
    def num_batches(self) -> int:
        """Batches per fit: the timed window needs the start time of the batch after the last timed one."""
        return self.warmup + self.steps + 1


@dataclass
class StepClock:
    """(wall, CPU) stamps at the start and end of every batch's step, and an optional cProfile window.

    Args:
        profile_from: batch index at whose start a cProfile profiler (CPU timer) is enabled; ``None``: never.
        profile_to: batch index at whose start it is disabled.
    """

    profile_from: int | None = None
    profile_to: int | None = None
    starts: list[Stamp] = field(default_factory=list)
    usage: list[tuple[float, int]] = field(default_factory=list)  # (system CPU seconds, minor page faults) at starts
    ends: list[Stamp] = field(default_factory=list)
    profiler: cProfile.Profile | None = None

    def start(self, batch_idx: int) -> None:
        """Record the start of batch ``batch_idx``'s step (after its fetch)."""
        if batch_idx == self.profile_from:
            self.profiler = cProfile.Profile(time.process_time)  # CPU time: waiting for a core is not counted
            self.profiler.enable()
        elif batch_idx == self.profile_to and self.profiler is not None:
            self.profiler.disable()
        self.starts.append(stamp())
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.usage.append((usage.ru_stime, usage.ru_minflt))

    def end(self) -> None:
        """Record the end of the current batch's step."""
        self.ends.append(stamp())

    def whole_steps(self, warmup: int, steps: int) -> list[Stamp]:
        """(wall, CPU) seconds of each timed whole step: ``start[i + 1] - start[i]``."""
        window = range(warmup, warmup + steps)
        return [_minus(self.starts[i + 1], self.starts[i]) for i in window]

    def kernel_share(self, warmup: int, steps: int) -> tuple[float, float]:
        """(system CPU seconds, minor page faults) per timed step: the kernel's part of the CPU time."""
        first, last = self.usage[warmup], self.usage[warmup + steps]
        return (last[0] - first[0]) / steps, (last[1] - first[1]) / steps

    def model_steps(self, warmup: int, steps: int) -> list[Stamp]:
        """(wall, CPU) seconds of each timed model step: ``end[i] - start[i]``."""
        return [_minus(self.ends[i], self.starts[i]) for i in range(warmup, warmup + steps)]


def _minus(later: Stamp, earlier: Stamp) -> Stamp:
    return later[0] - earlier[0], later[1] - earlier[1]


def mean_stamp(values: list[Stamp]) -> Stamp:
    """Component-wise mean of (wall, CPU) pairs."""
    return statistics.fmean(v[0] for v in values), statistics.fmean(v[1] for v in values)


class StepClockCallback(Callback):
    """Feeds a :class:`StepClock` from Lightning's batch hooks.

    Args:
        clock: the clock to record into.
    """

    def __init__(self, clock: StepClock) -> None:
        self.clock = clock

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch, batch_idx: int) -> None:
        self.clock.start(batch_idx)

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx: int) -> None:
        self.clock.end()


class PremadeBatches(Dataset[tuple[Tensor, Tensor]]):
    """Whole batches held in memory; ``DataLoader(dataset, batch_size=None)`` yields them unchanged.

    Args:
        batches: list of ``(x (B, C, H, W) float32 in [-1, 1], y (B,) int64)``.
    """

    def __init__(self, batches: list[tuple[Tensor, Tensor]]) -> None:
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.batches[index]


def random_image_loader(config: BenchConfig, num_batches: int) -> DataLoader:
    """A DataLoader over ``num_batches`` pre-made batches of uniform random images in [-1, 1] (fixed seed).

    Args:
        config: image size and batch size.
        num_batches: how many batches it yields, always in the same order.
    """
    rng = torch.Generator().manual_seed(1234)
    shape = (config.batch_size, CHANNELS, config.image_size, config.image_size)
    batches = [
        (torch.rand(shape, generator=rng) * 2 - 1, torch.randint(0, 10, (config.batch_size,), generator=rng))
        for _ in range(num_batches)
    ]
    return DataLoader(PremadeBatches(batches), batch_size=None, shuffle=False)


def rendered_digits(config: BenchConfig) -> RenderedDigitsDataModule:
    """The real rendered-digits data module holding one fit's worth of training images, set up."""
    datamodule = RenderedDigitsDataModule(
        batch_size=config.batch_size,
        num_train=config.batch_size * config.num_batches,
        num_val=0,
        image_size=config.image_size,
        use_system_fonts=False,
        seed=SEED,
    )
    datamodule.setup("fit")
    return datamodule


# ---------------------------------------------------------------------------------------------------------------
# A: Lightning
# ---------------------------------------------------------------------------------------------------------------
def lightning_fit(
    config: BenchConfig, data: DataLoader | RenderedDigitsDataModule, callback: Callback, root_dir: str
) -> DCGAN:
    """Train a fresh ``DCGAN`` for one epoch over ``data`` with a real ``Trainer``; returns the trained model.

    Args:
        config: network and batch sizes.
        data: a DataLoader (passed as ``train_dataloaders``) or a data module (passed as ``datamodule``).
        callback: the timing callback.
        root_dir: the Trainer's ``default_root_dir`` (the CSV logger writes there).
    """
    seed_everything(SEED, verbose=False)
    model = DCGAN(
        channels=CHANNELS,
        image_size=config.image_size,
        latent_dim=LATENT_DIM,
        generator_width=config.width,
        discriminator_width=config.width,
    )
    trainer = Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        logger=CSVLogger(root_dir),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        default_root_dir=root_dir,
        callbacks=[callback],
    )
    if isinstance(data, DataLoader):
        trainer.fit(model, train_dataloaders=data)
    else:
        trainer.fit(model, datamodule=data)
    return model


# ---------------------------------------------------------------------------------------------------------------
# B: the same math without Lightning
# ---------------------------------------------------------------------------------------------------------------
def set_requires_grad(parameters: list[nn.Parameter], value: bool) -> None:
    """Set ``requires_grad`` of every parameter (what ``toggled_optimizer`` does to the other model's)."""
    for parameter in parameters:
        parameter.requires_grad = value


class RawDCGAN:
    """G, D and their Adam optimizers, trained one batch at a time with the math of ``DCGAN.training_step``.

    Args:
        config: network sizes.
    """

    def __init__(self, config: BenchConfig) -> None:
        seed_everything(SEED, verbose=False)  # same seed and construction order as DCGAN.__init__: same weights
        self.generator = DCGANGenerator(LATENT_DIM, CHANNELS, config.image_size, config.width)
        self.discriminator = DCGANDiscriminator(CHANNELS, config.image_size, config.width)
        self.generator.apply(normal_init_)
        self.discriminator.apply(normal_init_)
        self.generator.train()
        self.discriminator.train()
        self.generator_params = list(self.generator.parameters())
        self.discriminator_params = list(self.discriminator.parameters())
        self.opt_g = torch.optim.Adam(self.generator_params, **ADAM)
        self.opt_d = torch.optim.Adam(self.discriminator_params, **ADAM)
        self.device = torch.device("cpu")
        self.epoch, self.rank, self.generator_steps = 0, 0, 0
        self.metrics: dict[str, Tensor | float] = {}

    def step(self, real: Tensor, batch_idx: int) -> None:
        """One D and one G update on ``real`` ``(B, C, H, W)`` in [-1, 1], batch ``batch_idx`` of the epoch."""
        # latent_noise(module, (B, latent_dim), batch_idx): a fresh generator seeded by (seed, rank, epoch, batch, 0)
        seed = _mix(_global_seed(), self.rank, self.epoch, batch_idx, 0)
        noise_rng = torch.Generator(device=self.device).manual_seed(seed)
        z = torch.randn((real.shape[0], LATENT_DIM), generator=noise_rng, device=self.device)
        fake = self.generator(z)  # (B, C, H, W)

        set_requires_grad(self.generator_params, False)  # as toggled_optimizer(opt_d) leaves it
        real_logits = self.discriminator(real)
        fake_logits = self.discriminator(fake.detach())
        loss_d = discriminator_loss(LOSS, real_logits, fake_logits)
        check_finite(self.generator_steps, loss_d=loss_d)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        set_requires_grad(self.generator_params, True)

        set_requires_grad(self.discriminator_params, False)  # as toggled_optimizer(opt_g) leaves it
        fake_logits_g = self.discriminator(fake)
        loss_g = generator_loss(LOSS, fake_logits_g, real_logits.detach())
        check_finite(self.generator_steps, loss_g=loss_g)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        set_requires_grad(self.discriminator_params, True)
        self.generator_steps += 1

        # the values DCGAN.training_step hands to log_dict, computed but not logged
        self.metrics = {"loss_d": loss_d, "loss_g": loss_g, **discriminator_outputs(LOSS, real_logits, fake_logits)}
        self.metrics["lr_g"] = self.opt_g.param_groups[0]["lr"]
        self.metrics["lr_d"] = self.opt_d.param_groups[0]["lr"]


def raw_loop(config: BenchConfig, loader: DataLoader, clock: StepClock) -> RawDCGAN:
    """Train a fresh :class:`RawDCGAN` for one epoch over ``loader``, stamping ``clock``; returns it.

    Args:
        config: network sizes.
        loader: yields ``(x (B, C, H, W) in [-1, 1], y)``.
        clock: receives the batch stamps.
    """
    raw = RawDCGAN(config)
    for batch_idx, (real, _) in enumerate(loader):
        clock.start(batch_idx)
        raw.step(real, batch_idx)
        clock.end()
    return raw


class InterleavedRawSteps(StepClockCallback):
    """Times A's steps like :class:`StepClockCallback` and runs one B step (fetch included) after each of them.

    Args:
        config: network sizes.
        loader: B's data (the same batches as A's).
        clock: receives A's stamps.
    """

    def __init__(self, config: BenchConfig, loader: DataLoader, clock: StepClock) -> None:
        super().__init__(clock)
        self.raw = RawDCGAN(config)
        self.batches = enumerate(loader)
        self.raw_blocks: list[tuple[Stamp, Stamp]] = []  # (block start, block end) of each B step

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx: int) -> None:
        self.clock.end()
        block_start = stamp()
        raw_idx, (real, _) = next(self.batches)
        self.raw.step(real, raw_idx)
        self.raw_blocks.append((block_start, stamp()))

    def paired_whole_steps(self, warmup: int, steps: int) -> tuple[list[Stamp], list[Stamp]]:
        """Per timed step: A's whole step without the B block inside it, and the B block (fetch + step)."""
        lightning_steps, raw_steps = [], []
        for i in range(warmup, warmup + steps):
            raw = _minus(self.raw_blocks[i][1], self.raw_blocks[i][0])
            between = _minus(self.clock.starts[i + 1], self.clock.starts[i])
            lightning_steps.append(_minus(between, raw))
            raw_steps.append(raw)
        return lightning_steps, raw_steps


# ---------------------------------------------------------------------------------------------------------------
# Same-math check, breakdown and profile
# ---------------------------------------------------------------------------------------------------------------
def same_math_difference(config: BenchConfig, root_dir: str) -> tuple[float, int]:
    """Largest |A - B| over G's and D's parameters and buffers after ``SAME_MATH_BATCHES`` batches, and the count."""
    loader = random_image_loader(config, SAME_MATH_BATCHES)
    model = lightning_fit(config, loader, StepClockCallback(StepClock()), root_dir)
    raw = raw_loop(config, loader, StepClock())
    lightning_state = {**model.generator.state_dict(prefix="g."), **model.discriminator.state_dict(prefix="d.")}
    raw_state = {**raw.generator.state_dict(prefix="g."), **raw.discriminator.state_dict(prefix="d.")}
    if lightning_state.keys() != raw_state.keys():
        raise RuntimeError("same-math check: the Lightning and raw networks hold different tensors")
    worst = max(float((lightning_state[k].double() - raw_state[k].double()).abs().max()) for k in lightning_state)
    return worst, len(lightning_state)


# (owner, method, name in the report); inner entries are timed to subtract the torch work from their caller
INSTRUMENTED: list[tuple[type, str, str]] = [
    (LightningModule, "log_dict", "LightningModule.log_dict"),
    (LightningModule, "toggle_optimizer", "LightningModule.toggle_optimizer"),
    (LightningModule, "untoggle_optimizer", "LightningModule.untoggle_optimizer"),
    (LightningModule, "optimizers", "LightningModule.optimizers"),
    (LightningModule, "manual_backward", "LightningModule.manual_backward"),
    (torch.Tensor, "backward", "Tensor.backward"),
    (LightningOptimizer, "step", "LightningOptimizer.step"),
    (torch.optim.Adam, "step", "Adam.step"),
]


@contextlib.contextmanager
def instrumented(clock: StepClock, first: int, stop: int) -> Iterator[dict[str, float]]:
    """Wrap ``INSTRUMENTED`` methods to add up their CPU seconds while ``first <= batch index < stop``.

    Args:
        clock: the A clock whose ``start`` tells the batch index.
        first: first timed batch.
        stop: batch after the last timed one.
    """
    totals = dict.fromkeys([name for _, _, name in INSTRUMENTED], 0.0)
    active = [False]
    originals = [(owner, method, owner.__dict__[method]) for owner, method, _ in INSTRUMENTED]

    def timed(name: str, function: Callable) -> Callable:
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            if not active[0]:
                return function(*args, **kwargs)
            begin = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                totals[name] += time.process_time() - begin

        return wrapper

    clock_start = clock.start

    def start(batch_idx: int) -> None:
        active[0] = first <= batch_idx < stop
        clock_start(batch_idx)

    for (owner, method, name), (_, _, original) in zip(INSTRUMENTED, originals):
        setattr(owner, method, timed(name, original))
    clock.start = start  # type: ignore[method-assign]
    try:
        yield totals
    finally:
        for owner, method, original in originals:
            setattr(owner, method, original)
        clock.start = clock_start  # type: ignore[method-assign]


def print_breakdown(config: BenchConfig, loader: DataLoader, root_dir: str, raw_step_ms: float) -> None:
    """Instrumented fit of A: CPU ms per step of what Lightning adds around the torch work."""
    clock = StepClock()
    gc.collect()
    with instrumented(clock, config.warmup, config.warmup + config.steps) as totals:
        lightning_fit(config, loader, StepClockCallback(clock), root_dir)
    per_step = {name: seconds / config.steps * 1e3 for name, seconds in totals.items()}
    whole = mean_stamp(clock.whole_steps(config.warmup, config.steps))[1] * 1e3
    model = mean_stamp(clock.model_steps(config.warmup, config.steps))[1] * 1e3
    rows = [
        ("log_dict (6 x self.log)", per_step["LightningModule.log_dict"]),
        ("LightningOptimizer.step - Adam.step (2 calls)",
         per_step["LightningOptimizer.step"] - per_step["Adam.step"]),
        ("manual_backward - Tensor.backward (2 calls)",
         per_step["LightningModule.manual_backward"] - per_step["Tensor.backward"]),
        ("toggle_optimizer + untoggle_optimizer (2 each)",
         per_step["LightningModule.toggle_optimizer"] + per_step["LightningModule.untoggle_optimizer"]),
        ("optimizers() (1 call)", per_step["LightningModule.optimizers"]),
        ("between steps: hooks, logger connector, fetch (whole - model step)", whole - model),
    ]  # fmt: skip
    print(f"\nLightning's additions, instrumented fit of A ({config.steps} steps, CPU ms/step; percentages of B's "
          f"whole step, {raw_step_ms:.1f} ms):")
    for name, ms in sorted(rows, key=lambda row: row[1], reverse=True):
        print(f"  {ms:7.3f} ms  {ms / raw_step_ms:6.2%}  {name}")
    total = sum(ms for _, ms in rows)
    print(f"  {total:7.3f} ms  {total / raw_step_ms:6.2%}  sum (the raw loop's own toggling, fetch and loop are "
          "not subtracted: tens of microseconds)")


def function_name(key: tuple[str, int, str]) -> str:
    """``package/file.py:line(function)`` for a pstats key, shortened after site-packages or the repository."""
    filename, line, name = key
    for marker in ("site-packages/", str(Path(__file__).resolve().parents[1]) + "/"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
    return f"{filename}:{line}({name})" if line else name


def print_profile_difference(config: BenchConfig, loader: DataLoader, root_dir: str) -> None:
    """cProfile one A fit and one B loop; print the functions A calls more often than B, and Lightning's tree."""
    lightning_clock = StepClock(config.warmup, config.warmup + config.steps)
    raw_clock = StepClock(config.warmup, config.warmup + config.steps)
    gc.collect()
    lightning_fit(config, loader, StepClockCallback(lightning_clock), root_dir)
    gc.collect()
    raw_loop(config, loader, raw_clock)
    steps = config.steps
    a_stats = pstats.Stats(lightning_clock.profiler).stats  # key -> (primitive calls, calls, tottime, cumtime, _)
    b_stats = pstats.Stats(raw_clock.profiler).stats
    a_total = sum(v[2] for v in a_stats.values()) / steps * 1e3
    b_total = sum(v[2] for v in b_stats.values()) / steps * 1e3
    print(f"\ncProfile (CPU timer), {steps} steps each, in-memory data: A {a_total:.1f} ms/step, B {b_total:.1f} "
          f"ms/step under the profiler")
    rows = []
    for key, (_, calls, tottime, _, _) in a_stats.items():
        b_calls = b_stats[key][1] if key in b_stats else 0
        b_time = b_stats[key][2] if key in b_stats else 0.0
        if calls != b_calls:  # same calls in both = the shared math; its time difference is noise
            rows.append(((tottime - b_time) / steps * 1e3, calls / steps, b_calls / steps, key))
    rows.sort(key=lambda row: row[0], reverse=True)
    print("functions A calls more often than B, by own time A - B (ms/step)   [calls/step A, B]:")
    for ms, a_calls, b_calls, key in rows[:15]:
        print(f"  {ms:+7.3f}  [{a_calls:6.0f} {b_calls:6.0f}]  {function_name(key)}")
    framework = ("/lightning/", "/lightning_fabric/", "/lightning_utilities/", "/torchmetrics/")
    own = sum(v[2] for k, v in a_stats.items() if any(part in k[0] for part in framework)) / steps * 1e3
    print(f"own time of all code in lightning/, lightning_fabric/, lightning_utilities/, torchmetrics/: {own:.2f} "
          "ms/step")
    cumulative = sorted(
        ((v[3] / steps * 1e3, v[1] / steps, k) for k, v in a_stats.items() if "/lightning/pytorch/" in k[0]),
        reverse=True,
    )
    print("Lightning functions by cumulative time (ms/step, including the torch work they call; calls/step):")
    for ms, calls, key in cumulative[:12]:
        print(f"  {ms:8.2f}  {calls:4.0f}  {function_name(key)}")


# ---------------------------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-size", type=int, default=28, help="image side, 4*2^k or 7*2^k (default 28)")
    parser.add_argument("--batch-size", type=int, default=128, help="images per batch (default 128)")
    parser.add_argument("--width", type=int, default=64, help="G's ngf and D's ndf (default 64)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps per fit (default 5)")
    parser.add_argument("--steps", type=int, default=15, help="timed steps per repetition (default 15)")
    parser.add_argument("--repeats", type=int, default=7, help="repetitions of each arm, >= 5 (default 7)")
    parser.add_argument("--paired-steps", type=int, default=60,
                        help="timed steps of the step-interleaved measurement, 0 skips it (default 60)")
    parser.add_argument("--data", choices=("both", "memory", "rendered"), default="both",
                        help="in-memory random batches (A, B), RenderedDigitsDataModule (A', B'), or both (default)")
    parser.add_argument("--target", type=float, default=3.0, help="overhead target in percent (default 3)")
    parser.add_argument("--profile", action="store_true", help="print the breakdown and cProfile even if met")
    args = parser.parse_args(argv)
    for name in ("image_size", "batch_size", "width", "steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.repeats < 5:
        parser.error(f"--repeats must be >= 5 for a median worth quoting, got {args.repeats}")
    if args.warmup < 0 or args.paired_steps < 0:
        parser.error("--warmup and --paired-steps must be >= 0")
    return args


def bootstrap_interval(
    statistic: Callable[[list[float], list[float]], float], a: list[float], b: list[float], level: float = 0.9
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(a, b)`` resampling the (a, b) pairs together (fixed seed).

    Args:
        statistic: function of the two paired lists, e.g. the ratio of their medians minus 1.
        a: Lightning's seconds per step (one per repetition or per step).
        b: the raw loop's seconds per step, paired with ``a``.
        level: coverage of the interval.
    """
    rng = random.Random(0)
    indices = range(len(a))
    values = []
    for _ in range(BOOTSTRAP_RESAMPLES):
        pick = rng.choices(indices, k=len(a))
        values.append(statistic([a[i] for i in pick], [b[i] for i in pick]))
    values.sort()
    tail = (1 - level) / 2
    return values[int(tail * len(values))], values[int((1 - tail) * len(values)) - 1]


def overhead_lines(label: str, lightning: list[Stamp], raw: list[Stamp], paired: bool) -> dict[str, tuple]:
    """Print and return the wall and CPU overheads of ``lightning`` over ``raw`` with 90% bootstrap intervals.

    Args:
        label: what is compared, for the printed line.
        lightning: A's (wall, CPU) seconds per step, one per repetition or per step.
        raw: B's, paired with ``lightning``.
        paired: the lists are per-step pairs of the step-interleaved fit (else per-repetition figures).

    Returns:
        ``{"wall": (overhead, low, high), "CPU": (...)}``, fractions (0.01 = 1%).
    """
    if paired:  # per-step pairs: ratio of the sums
        central_name, central = "ratio of sums", lambda a, b: sum(a) / sum(b) - 1
        robust_name = "median of per-step ratios"
    else:  # repetitions: ratio of the medians
        central_name, central = "ratio of medians", lambda a, b: statistics.median(a) / statistics.median(b) - 1
        robust_name = "median of paired ratios"
    result = {}
    for kind, index in (("wall", 0), ("CPU", 1)):
        a = [value[index] for value in lightning]
        b = [value[index] for value in raw]
        value = central(a, b)
        low, high = bootstrap_interval(central, a, b)
        robust = statistics.median(x / y - 1 for x, y in zip(a, b))
        result[kind] = (value, low, high)
        print(f"  {label}, {kind:4}: {value:+6.2%} [90% CI {low:+6.2%}, {high:+6.2%}] ({central_name}), "
              f"{robust:+6.2%} ({robust_name})")
    return result


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the report (module docstring)."""
    args = parse_args(argv)
    run_info = RunInfo()
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # GPU/TPU availability lines
    for message in (
        ".*does not have many workers.*",
        ".*number of training batches.*",
        ".*have no `val_dataloader`.*",  # validation is off on purpose
        ".*LeafSpec.*",  # a deprecation inside lightning 2.6 under torch 2.14
    ):
        warnings.filterwarnings("ignore", message=message)
    config = BenchConfig(args.image_size, args.batch_size, args.width, args.warmup, args.steps)
    images = config.batch_size
    arms = [("A", "memory"), ("B", "memory")] if args.data in ("both", "memory") else []
    arms += [("A'", "rendered"), ("B'", "rendered")] if args.data in ("both", "rendered") else []
    pairs = [(arms[i][0], arms[i + 1][0]) for i in range(0, len(arms), 2)]

    print("DCGAN training throughput: A = Lightning Trainer, B = raw PyTorch loop of the same math; "
          "' = RenderedDigitsDataModule data")
    print(f"config: image_size {config.image_size}, channels {CHANNELS}, ngf = ndf = {config.width}, latent "
          f"{LATENT_DIM}, batch {config.batch_size}, Adam(lr {ADAM['lr']}, betas {ADAM['betas']}), loss {LOSS}; "
          f"per fit {config.warmup} warm-up + {config.steps} timed steps; {args.repeats} repetitions interleaved "
          f"{' '.join(arm for arm, _ in arms)} ...; step-interleaved: {args.paired_steps} steps")
    print(f"versions: torch {torch.__version__}, lightning {lightning.__version__}, python "
          f"{platform.python_version()}; torch.get_num_threads() {torch.get_num_threads()}, OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS', 'unset')}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")
    allocator = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_") or k == "LD_PRELOAD"}
    print("allocator: " + (", ".join(f"{k}={v}" for k, v in sorted(allocator.items())) or "glibc malloc defaults"))
    print("A: Trainer(accelerator='cpu', devices=1, max_epochs=1, logger=CSVLogger (log_every_n_steps 50), "
          "enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)")

    with tempfile.TemporaryDirectory() as tmp:
        worst, count = same_math_difference(config, tmp)
        print(f"same math: after {SAME_MATH_BATCHES} batches, max |A - B| over {count} G/D parameters and buffers "
              f"= {worst:.3g} ({'bit-identical' if worst == 0 else 'NOT bit-identical'})")

        memory_loader = random_image_loader(config, config.num_batches)
        datamodule = rendered_digits(config) if args.data in ("both", "rendered") else None
        whole: dict[str, list[Stamp]] = {arm: [] for arm, _ in arms}  # per repetition: mean seconds per step
        model: dict[str, list[Stamp]] = {arm: [] for arm, _ in arms}
        kernel: dict[str, list[tuple[float, float]]] = {arm: [] for arm, _ in arms}
        print("\nrepetitions: images/s per whole step, wall (CPU)")
        print("rep  load1 | " + " | ".join(f"{arm:>2} wall (  CPU)" for arm, _ in arms)
              + " | " + " | ".join(f"{a + '/' + b + '-1':>7} wall (  CPU)" for a, b in pairs))
        for repeat in range(args.repeats):
            load = os.getloadavg()[0]
            for arm, data in arms:
                clock = StepClock()
                gc.collect()
                if arm.startswith("A"):
                    lightning_fit(config, memory_loader if data == "memory" else datamodule, StepClockCallback(clock),
                                  tmp)
                else:
                    raw_loop(config, memory_loader if data == "memory" else datamodule.train_dataloader(), clock)
                whole[arm].append(mean_stamp(clock.whole_steps(config.warmup, config.steps)))
                model[arm].append(mean_stamp(clock.model_steps(config.warmup, config.steps)))
                kernel[arm].append(clock.kernel_share(config.warmup, config.steps))
            cells = [f"{images / whole[arm][-1][0]:8.1f} ({images / whole[arm][-1][1]:5.1f})" for arm, _ in arms]
            ratios = [f"{whole[a][-1][0] / whole[b][-1][0] - 1:+12.1%} ({whole[a][-1][1] / whole[b][-1][1] - 1:+5.1%})"
                      for a, b in pairs]
            print(f"{repeat + 1:3d}  {load:5.2f} | " + " | ".join(cells) + " | " + " | ".join(ratios), flush=True)

        print(f"\nmedians over the {args.repeats} repetitions:")
        for arm, data in arms:
            source = "in-memory random batches" if data == "memory" else "RenderedDigitsDataModule"
            for label, table in (("whole step", whole), ("model step", model)):
                wall = statistics.median(t[0] for t in table[arm])
                cpu = statistics.median(t[1] for t in table[arm])
                print(f"  {arm:2} {label}: {images / wall:6.1f} images/s wall ({wall * 1e3:6.1f} ms), "
                      f"{images / cpu:6.1f} images/s CPU ({cpu * 1e3:6.1f} ms)  [{source}]")
            system = statistics.median(k[0] for k in kernel[arm]) * 1e3
            faults = statistics.median(k[1] for k in kernel[arm])
            fault_range = f"{min(k[1] for k in kernel[arm]):.0f}-{max(k[1] for k in kernel[arm]):.0f}"
            print(f"  {arm:2} of the CPU time, in the kernel: {system:5.1f} ms/step system time, {faults:7.0f} "
                  f"minor page faults/step (range {fault_range})")
        print("overhead = Lightning time / raw time - 1:")
        verdicts = {}
        for a, b in pairs:
            whole_overhead = overhead_lines(f"{a}/{b} whole step", whole[a], whole[b], paired=False)
            overhead_lines(f"{a}/{b} model step", model[a], model[b], paired=False)
            if a == "A":  # A'/B' share the same data loading cost: informative, but data is not what is judged
                verdicts["repetitions A/B"] = whole_overhead

        raw_step_ms = statistics.median(t[1] for t in whole["B"]) * 1e3 if "B" in whole else float("nan")
        if args.paired_steps:
            paired_config = BenchConfig(config.image_size, config.batch_size, config.width, config.warmup,
                                        args.paired_steps)
            paired_loader = random_image_loader(paired_config, paired_config.num_batches + 1)
            clock = StepClock()
            callback = InterleavedRawSteps(paired_config, paired_loader, clock)
            load = os.getloadavg()[0]
            gc.collect()
            lightning_fit(paired_config, paired_loader, callback, tmp)
            lightning_steps, raw_steps = callback.paired_whole_steps(paired_config.warmup, paired_config.steps)
            a_wall, a_cpu = mean_stamp(lightning_steps)
            b_wall, b_cpu = mean_stamp(raw_steps)
            raw_step_ms = b_cpu * 1e3
            print(f"\nstep-interleaved (one fit of A, a B step after every A step, in-memory data, load1 {load:.2f} at "
                  f"start): A {images / a_wall:.1f} images/s wall ({images / a_cpu:.1f} CPU), B {images / b_wall:.1f} "
                  f"wall ({images / b_cpu:.1f} CPU), {paired_config.steps} steps")
            verdicts["step-interleaved A/B"] = overhead_lines("A/B whole step", lightning_steps, raw_steps, paired=True)

        print(f"\ntarget: Lightning overhead <= {args.target:g}% on the whole step, in-memory data (CPU time; wall "
              "includes waiting for a core on this shared machine)")
        met = True
        if not verdicts:
            print("  (no in-memory comparison in this run: use --data memory or both, or --paired-steps > 0)")
        for name, overhead in verdicts.items():
            value, low, high = overhead["CPU"]
            ok = value <= args.target / 100
            met &= ok
            sure = "the whole 90% CI is below the target" if high <= args.target / 100 else "the 90% CI reaches it"
            print(f"  {name}: CPU {value:+6.2%} -> {'met' if ok else 'NOT met'} ({sure}); "
                  f"wall {overhead['wall'][0]:+6.2%}")

        if args.profile or not met:
            print_breakdown(config, memory_loader, tmp, raw_step_ms)
            print_profile_difference(config, memory_loader, tmp)
    print()
    run_info.print()


if __name__ == "__main__":
    main()
