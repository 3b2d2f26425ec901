"""An exponential moving average of the generator's weights (generator only, never the discriminator).

Lightning's ``EMAWeightAveraging`` averages the whole LightningModule (G and D) on a ``global_step`` schedule;
with two optimizers it can never update and then copies the initial weights back at the end (see
LIGHTNING_TRAPS.md). This helper averages G alone, is updated by the family right after ``opt_g.step()``, lives
in the module's ``state_dict`` (so checkpoints carry it) and is what ``sample()`` uses when enabled.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def warmed_up_decay(decay: float, updates: int) -> float:
    """The decay of update number ``updates`` (0, 1, ...) with warm-up: ``min(decay, (1 + n) / (10 + n))``.

    TensorFlow's ``ExponentialMovingAverage(decay, num_updates)`` rule: the average forgets its start quickly while
    it is young (decay 0.1 at the first average, 0.5 at n = 8, 0.9 at n = 80) and reaches ``decay`` at
    n = (10 decay - 1) / (1 - decay) (8,990 updates for 0.999). Without it, a 0.999 average still holds
    0.999^1000 = 37% of the first weights after 1,000 steps, which matters for short runs and fine-tuning.
    """
    return min(decay, (1.0 + updates) / (10.0 + updates))


def warmed_up_ema_multi_avg_fn(decay: float):
    """``AveragedModel``'s ``multi_avg_fn`` for an EMA whose decay warms up (``warmed_up_decay``)."""

    @torch.no_grad()
    def ema_update(averaged: list[Tensor], current: list[Tensor], n_averaged: Tensor) -> None:
        # AveragedModel copies the weights at its first update (n_averaged 0) and calls this from the second on
        torch._foreach_lerp_(averaged, current, 1.0 - warmed_up_decay(decay, int(n_averaged)))

    return ema_update


class GeneratorEMA(nn.Module):
    """EMA copy of a generator: ``theta_ema <- decay * theta_ema + (1 - decay) * theta`` after each G step.

    Buffers (BatchNorm running statistics) are copied, not averaged. The copy's parameters do not require
    gradients, so DDP and the optimizers ignore them. The first update copies the weights.

    Args:
        generator: the network to average.
        decay: the EMA decay per generator step, in (0, 1); e.g. 0.999.
        warmup: use ``min(decay, (1 + n) / (10 + n))`` at update n (``warmed_up_decay``) instead of ``decay``
            from the start; off by default (BasicSR and the papers use the constant decay).
    """

    def __init__(self, generator: nn.Module, decay: float, warmup: bool = False) -> None:
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1), got {decay}; use e.g. 0.999, or null to turn EMA off")
        self.decay, self.warmup = decay, warmup
        average = warmed_up_ema_multi_avg_fn(decay) if warmup else get_ema_multi_avg_fn(decay)
        self.averaged = AveragedModel(generator, multi_avg_fn=average, use_buffers=False)
        self.averaged.requires_grad_(False)

    @torch.no_grad()
    def update(self, generator: nn.Module) -> None:
        """Fold the generator's current weights into the average and copy its buffers."""
        self.averaged.update_parameters(generator)
        for ema_buffer, buffer in zip(self.averaged.module.buffers(), generator.buffers()):
            ema_buffer.copy_(buffer)

    def forward(self, *args: Tensor, **kwargs: Tensor) -> Tensor:
        """Run the averaged generator."""
        return self.averaged.module(*args, **kwargs)
