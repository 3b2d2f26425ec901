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


class GeneratorEMA(nn.Module):
    """EMA copy of a generator: ``theta_ema <- decay * theta_ema + (1 - decay) * theta`` after each G step.

    Buffers (BatchNorm running statistics) are copied, not averaged. The copy's parameters do not require
    gradients, so DDP and the optimizers ignore them.

    Args:
        generator: the network to average.
        decay: the EMA decay per generator step, in (0, 1); e.g. 0.999.
    """

    def __init__(self, generator: nn.Module, decay: float) -> None:
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1), got {decay}; use e.g. 0.999, or null to turn EMA off")
        self.decay = decay
        self.averaged = AveragedModel(generator, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=False)
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
