"""Small pieces every GAN training step here uses: step counting, noise, seeding, optimizers, DDP, NaN guard.

These are functions, not a base class: each family's ``training_step`` calls them where its paper's algorithm
needs them, so the step reads top to bottom. The Lightning 2.x behaviours they design around are listed in
``LIGHTNING_TRAPS.md`` and pinned by ``tests/test_training.py``.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Literal

import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.core.optimizer import LightningOptimizer
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor, nn

from lightning_gans.errors import NonFiniteLossError, UserInputError  # re-exported for older imports

__all__ = [
    "NonFiniteLossError",
    "UserInputError",
    "check_finite",
    "configure_ddp",
    "configure_gan_optimizers",
    "constant_then_linear_decay",
    "epoch_seed",
    "latent_noise",
    "make_optimizer",
    "not_counted_in_global_step",
    "rank_generator",
    "GANTrainingHooks",
    "ReproducibleEpochs",
    "reseed_for_epoch",
    "step_lr_schedulers",
]


# ---------------------------------------------------------------------------------------------------------------
# Step counting.
# Lightning counts every optimizer.step() in `trainer.global_step`, so a D and a G step per batch advance it by 2
# and `max_steps`, `every_n_train_steps` and step schedules all run at twice the rate a user expects. Here the
# discriminator's steps are not counted: `global_step` counts generator steps, which is what GAN papers call an
# iteration (WGAN-GP's "generator iterations" with n_critic = 5 included).
# ---------------------------------------------------------------------------------------------------------------
def _do_nothing() -> None:
    return None


@contextmanager
def not_counted_in_global_step(optimizer: LightningOptimizer) -> Iterator[None]:
    """Steps of ``optimizer`` inside this block do not advance ``trainer.global_step``.

    Lightning's manual-optimization loop installs ``_on_before_step``/``_on_after_step`` hooks on each
    ``LightningOptimizer`` at the start of every batch; they only advance the step counter and the profiler.
    The AMP grad scaler and the ``on_before_optimizer_step`` hook run as usual.
    """
    before, after = optimizer._on_before_step, optimizer._on_after_step
    optimizer._on_before_step = optimizer._on_after_step = _do_nothing
    try:
        yield
    finally:
        optimizer._on_before_step, optimizer._on_after_step = before, after


# ---------------------------------------------------------------------------------------------------------------
# Randomness: per-rank latent noise, and epochs that are a pure function of (seed, epoch) so that resuming from
# any end-of-epoch checkpoint repeats an uninterrupted run bit for bit.
# ---------------------------------------------------------------------------------------------------------------
def _global_seed() -> int:
    """The seed `seed_everything` set (``PL_GLOBAL_SEED``), else torch's initial seed."""
    return int(os.environ.get("PL_GLOBAL_SEED", torch.initial_seed()))


def _mix(*numbers: int) -> int:
    """A 63-bit seed mixed from several integers (stable across processes and Python versions)."""
    digest = hashlib.blake2b("/".join(str(n) for n in numbers).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def epoch_seed(epoch: int) -> int:
    """The seed an epoch starts from: a function of the global seed and the epoch only."""
    return _mix(_global_seed(), epoch)


def reseed_for_epoch(epoch: int) -> None:
    """Seed torch (CPU and CUDA), numpy and ``random`` from (global seed, epoch)."""
    seed = epoch_seed(epoch)
    torch.manual_seed(seed)  # also seeds every CUDA device
    np.random.seed(seed % 2**32)
    random.seed(seed)


class ReproducibleEpochs(Callback):
    """Start every epoch from random state seeded by (global seed, epoch).

    Data order, dropout and every other draw from the global generators then depend only on the seed and the
    epoch, so ``fit --ckpt_path <end-of-epoch checkpoint>`` continues exactly like the uninterrupted run, without
    storing generator states. Each family returns it from ``configure_callbacks``.

    Lightning creates the first epoch's data iterator in ``FitLoop.setup_data()``, before any epoch hook (and a
    ``DataLoader`` iterator draws its base seed from the global generator when created); later epochs create it
    after ``on_train_epoch_start``. So in the first epoch of each ``fit`` call the iterator is created again after
    reseeding, and every epoch draws in the same order: reseed, iterator, batches.
    """

    def __init__(self) -> None:
        self._iterator_made_before_reseed = False

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._iterator_made_before_reseed = True

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        reseed_for_epoch(trainer.current_epoch)
        if self._iterator_made_before_reseed:
            iter(trainer.fit_loop._data_fetcher)
            self._iterator_made_before_reseed = False

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch, batch_idx: int) -> None:
        # resumed mid-epoch: no epoch start was seen; the next epoch's iterator is made by the loop as usual
        self._iterator_made_before_reseed = False


def rank_generator(module: LightningModule, batch_idx: int, stream: int = 0) -> torch.Generator:
    """A ``torch.Generator`` on the module's device seeded by (global seed, rank, epoch, batch, stream).

    ``seed_everything`` gives every DDP rank the same global generator, so draws from it (latent noise, an image
    pool's choices) would be copies across ranks; this one differs per rank and repeats on resume.

    Args:
        module: the LightningModule (for its rank, epoch and device).
        batch_idx: the batch index within the epoch.
        stream: tells apart several independent draws in one batch.
    """
    seed = _mix(_global_seed(), module.global_rank, module.current_epoch, batch_idx, stream)
    return torch.Generator(device=module.device).manual_seed(seed)


def latent_noise(
    module: LightningModule, shape: tuple[int, ...], batch_idx: int, stream: int = 0
) -> Tensor:
    """Standard normal noise that differs across ranks, epochs and batches, and is reproducible on resume.

    Drawn from :func:`rank_generator`, so the fakes of the DDP ranks are not copies of one batch.

    Args:
        module: the LightningModule (for its rank, epoch and device).
        shape: the noise shape, e.g. ``(B, latent_dim)``.
        batch_idx: the batch index within the epoch.
        stream: tells apart several independent draws in one batch.
    """
    generator = rank_generator(module, batch_idx, stream)
    return torch.randn(shape, generator=generator, device=module.device)


# ---------------------------------------------------------------------------------------------------------------
# Optimizers and schedulers from YAML.
# ---------------------------------------------------------------------------------------------------------------
def make_optimizer(optimizer_factory, parameters: Iterable[nn.Parameter], default: dict) -> torch.optim.Optimizer:
    """Build ``optimizer_factory(parameters)``, or the paper's Adam when it is ``None``.

    Defaulting to ``None`` and building the paper's optimizer here avoids jsonargparse carrying a default class's
    init_args into another class chosen in YAML (jsonargparse #460).

    Args:
        optimizer_factory: an ``OptimizerCallable`` from LightningCLI, or ``None``.
        parameters: the parameters to optimize.
        default: Adam keyword arguments from the paper, e.g. ``{"lr": 2e-4, "betas": (0.5, 0.999)}``.
    """
    if optimizer_factory is None:
        return torch.optim.Adam(parameters, **default)
    return optimizer_factory(parameters)


def configure_gan_optimizers(module: LightningModule, adam: dict) -> tuple[list, list]:
    """``([opt_g, opt_d], schedulers)`` for ``configure_optimizers``, from the family's YAML factories.

    Args:
        module: a family with ``generator``, ``discriminator``, ``optimizer_factories`` (G, D) and
            ``scheduler_factories`` (G, D); a ``None`` factory means the paper's Adam / no scheduler.
        adam: the paper's Adam keyword arguments.
    """
    generator_factory, discriminator_factory = module.optimizer_factories
    optimizers = [
        make_optimizer(generator_factory, module.generator.parameters(), adam),
        make_optimizer(discriminator_factory, module.discriminator.parameters(), adam),
    ]
    schedulers = [factory(opt) for factory, opt in zip(module.scheduler_factories, optimizers) if factory is not None]
    return optimizers, schedulers


def constant_then_linear_decay(optimizer: torch.optim.Optimizer, epochs_constant: int, epochs_decay: int):
    """pix2pix / CycleGAN's schedule: the initial LR for ``epochs_constant`` epochs, then linearly towards 0.

    The factor at (0-based) epoch ``e`` is ``1 - max(0, e + 1 - epochs_constant) / (epochs_decay + 1)``, the
    reference implementation's ``linear`` policy with ``epoch_count = 1`` (CycleGAN paper, Sec. 4: "keep the same
    learning rate for the first 100 epochs and linearly decay the rate to zero over the next 100 epochs").
    Stepped once per epoch.

    Args:
        optimizer: the optimizer whose LR to schedule.
        epochs_constant: epochs at the initial LR (the reference's ``n_epochs``, 100).
        epochs_decay: epochs of linear decay after that (``n_epochs_decay``, 100).
    """
    if epochs_constant < 0 or epochs_decay < 0:
        raise UserInputError(f"epochs_constant and epochs_decay must be >= 0, got {epochs_constant} and {epochs_decay}")

    def factor(epoch: int) -> float:
        return 1.0 - max(0, epoch + 1 - epochs_constant) / float(epochs_decay + 1)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


SchedulerInterval = Literal["epoch", "step"]


def step_lr_schedulers(module: LightningModule, interval: SchedulerInterval, now: SchedulerInterval) -> None:
    """Step every LR scheduler if ``now`` is the configured ``interval`` (manual optimization never does it).

    Args:
        module: the LightningModule whose schedulers to step.
        interval: ``"epoch"`` or ``"step"`` (a generator step), as configured.
        now: which boundary the caller is at.
    """
    if interval != now:
        return
    schedulers = module.lr_schedulers()
    if schedulers is None:
        return
    if not isinstance(schedulers, list):
        schedulers = [schedulers]
    for scheduler in schedulers:
        scheduler.step()


def check_gradient_clip_norm(max_norm: float | None) -> None:
    """Raise a one-line ``UserInputError`` unless ``model.gradient_clip_norm`` is ``None`` or > 0."""
    if max_norm is not None and max_norm <= 0:
        raise UserInputError(f"model.gradient_clip_norm must be > 0 or null (no clipping), got {max_norm}")


def clip_gradient_norm(optimizer: torch.optim.Optimizer, max_norm: float | None) -> None:
    """Clip the gradients of ``optimizer``'s parameters to a total L2 norm of ``max_norm`` (``None``: no-op).

    Call it from ``LightningModule.on_before_optimizer_step``. Lightning calls that hook inside ``opt.step()``
    after the ``16-mixed`` GradScaler has unscaled the gradients (and after DDP has averaged them), so the norm is
    the true one. Clipping right after ``manual_backward`` would clip scaled gradients (Lightning issue #18089).

    Args:
        optimizer: the optimizer about to step (one network's parameters).
        max_norm: the largest total gradient norm allowed, or ``None`` to leave the gradients alone.
    """
    if max_norm is None:
        return
    parameters = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    torch.nn.utils.clip_grad_norm_(parameters, max_norm)


# ---------------------------------------------------------------------------------------------------------------
# DDP and failures.
# ---------------------------------------------------------------------------------------------------------------
def configure_ddp(trainer: Trainer) -> None:
    """Let plain ``strategy: ddp`` train a GAN: turn on ``find_unused_parameters``.

    Lightning wraps G and D in one ``DistributedDataParallel``; each ``manual_backward`` is one reduction, and
    the D step leaves G's parameters unused (and the other way round), which DDP refuses unless it looks for
    unused parameters. Call from ``setup()``, which runs before the strategy wraps the model.
    """
    strategy = trainer.strategy
    if isinstance(strategy, DDPStrategy) and not strategy._ddp_kwargs.get("find_unused_parameters", False):
        strategy._ddp_kwargs["find_unused_parameters"] = True
        rank_zero_info("lightning-gans: DDP with find_unused_parameters=True (G and D step in turn).")


def check_finite(step: int, **losses: Tensor) -> None:
    """Raise :class:`NonFiniteLossError` naming the step and the loss if any loss is NaN or infinite.

    Called before ``backward``, so the weights (and any checkpoint written later) never see the bad update.
    """
    for name, value in losses.items():
        if not torch.isfinite(value).all():
            raise NonFiniteLossError(
                f"{name} is {value.item()} at generator step {step}; training stopped before the update, the last "
                "checkpoint is the last good one (lower the learning rate or try precision 32)."
            )


def discriminator_outputs(kind: str, real_logits: Tensor, fake_logits: Tensor) -> dict[str, Tensor]:
    """``D(x)`` and ``D(G(z))`` for the dashboard: probabilities for the logistic losses, raw scores otherwise.

    Args:
        kind: the adversarial loss name.
        real_logits: D's outputs on real data.
        fake_logits: D's outputs on generated data.
    """
    squash = torch.sigmoid if kind in ("non_saturating", "minimax") else torch.nn.Identity()
    return {
        "train/D(x)": squash(real_logits.detach().float()).mean(),
        "train/D(G(z))": squash(fake_logits.detach().float()).mean(),
    }


class GANTrainingHooks(ReproducibleEpochs):
    """The hooks every family needs around its ``training_step``, written once; return it from ``configure_callbacks``.

    A family's ``training_step`` is its paper's algorithm (D update, G update, EMA, logging). What is the same for
    every family is done here, so no family repeats it:

    - every epoch starts from random state seeded by (seed, epoch) (:class:`ReproducibleEpochs`);
    - ``setup``: plain ``strategy: ddp`` gets ``find_unused_parameters`` (:func:`configure_ddp`);
    - ``on_before_optimizer_step``: each network's gradient is clipped to ``hparams.gradient_clip_norm`` (if the
      family has that argument and it is set), on unscaled gradients under ``16-mixed`` (:func:`clip_gradient_norm`);
    - ``on_train_epoch_end``: LR schedulers are stepped when ``hparams.lr_scheduler_interval`` is ``"epoch"``
      (manual optimization never steps them). Step-interval schedulers are stepped by the family right after its
      generator update, with ``step_lr_schedulers(self, interval, now="step")``.

    Lightning calls a callback's ``setup`` after the data module's and before the LightningModule's, and its
    ``on_before_optimizer_step`` at the same point as the module's hook (after the GradScaler's unscale).
    """

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        configure_ddp(trainer)

    def on_before_optimizer_step(self, trainer: Trainer, pl_module: LightningModule, optimizer) -> None:
        clip_gradient_norm(optimizer, pl_module.hparams.get("gradient_clip_norm"))

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        step_lr_schedulers(pl_module, pl_module.hparams.get("lr_scheduler_interval", "epoch"), now="epoch")
