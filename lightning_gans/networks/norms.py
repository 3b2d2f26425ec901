"""The normalisation choices of the translation networks (pix2pix / CycleGAN reference, ``get_norm_layer``).

- ``"batch"``: ``BatchNorm2d`` with learned scale and shift and running statistics (pix2pix's default).
- ``"instance"``: ``InstanceNorm2d(affine=False, track_running_stats=False)``, as the reference builds it
  (CycleGAN's default); it has no parameters and no buffers.
- ``"none"``: no normalisation.

Conv biases follow the reference's rule ``use_bias = norm is InstanceNorm`` for the layers it applies the rule to:
BatchNorm's shift makes a bias redundant. With ``"none"`` we give those layers a bias too (the reference does not,
a side effect of its rule that leaves them unable to shift their output), so reference files trained with
``--norm none`` do not load; ``"batch"`` and ``"instance"`` files do.
"""

from __future__ import annotations

from typing import Literal

from torch import nn

from lightning_gans.errors import UserInputError

__all__ = ["Norm", "conv_bias", "norm_layer"]

Norm = Literal["batch", "instance", "none"]
NORMS: tuple[str, ...] = ("batch", "instance", "none")


def check_norm(norm: str, owner: str) -> None:
    """Raise a one-line ``UserInputError`` for an unknown norm name.

    Args:
        norm: the requested norm.
        owner: the class asking, for the message.
    """
    if norm not in NORMS:
        raise UserInputError(f"{owner}: norm {norm!r} is not one of {', '.join(NORMS)}")


def norm_layer(norm: Norm, channels: int) -> nn.Module:
    """The normalisation layer for ``channels`` feature maps.

    Args:
        norm: ``"batch"``, ``"instance"`` or ``"none"`` (see the module docstring).
        channels: number of feature maps it normalises.
    """
    if norm == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    return nn.Identity()


def conv_bias(norm: Norm) -> bool:
    """Whether a conv that the reference builds with ``bias=use_bias`` gets a bias: all but batch norm.

    Args:
        norm: the network's norm.
    """
    return norm != "batch"
