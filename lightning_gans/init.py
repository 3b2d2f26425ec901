"""Weight initialisation shared by the convolutional families."""

from __future__ import annotations

from torch import nn


def normal_init_(module: nn.Module, std: float = 0.02) -> None:
    """DCGAN's initialisation (Radford et al. 2015, Sec. 4): weights ~ N(0, std), BatchNorm gamma ~ N(1, std).

    Used unchanged by pix2pix and CycleGAN. Apply with ``network.apply(normal_init_)``; biases are zeroed.

    Args:
        module: a submodule visited by ``nn.Module.apply``.
        std: standard deviation; the papers' 0.02.
    """
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d, nn.InstanceNorm2d)) and module.weight is not None:
        nn.init.normal_(module.weight, 1.0, std)
        nn.init.zeros_(module.bias)
