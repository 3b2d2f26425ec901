"""Inference on images of any size: pad to what a network can take, run it, crop the result back.

Translation networks need sides that are multiples of their stride (U-Net 256: 256, ResNet generator: 4); a
super-resolution network maps an ``h x w`` input to ``scale*h x scale*w``. ``run_padded`` pads the input by
reflection (replicate where the image is too small to reflect), runs the network once and crops back, so the
output has exactly the input's size (times ``scale``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor

__all__ = ["pad_to_multiple", "run_padded"]


def pad_to_multiple(images: Tensor, multiple: int) -> tuple[Tensor, tuple[int, int]]:
    """Pad ``(B, C, H, W)`` images on the bottom and right so that H and W are multiples of ``multiple``.

    Reflection padding keeps image statistics at the border (no black frame for the network to react to); where
    the pad is as large as the image side, reflection is impossible and the edge is replicated instead.

    Args:
        images: ``(B, C, H, W)`` tensor.
        multiple: the stride the network needs (>= 1).

    Returns:
        ``(padded, (H, W))``: the padded tensor and the original size, for cropping back.
    """
    height, width = images.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if pad_h == 0 and pad_w == 0:
        return images, (height, width)
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(images, (0, pad_w, 0, pad_h), mode=mode), (height, width)


def run_padded(network: Callable[[Tensor], Tensor], images: Tensor, multiple: int, scale: int = 1) -> Tensor:
    """``network(images)`` for images of any size: pad to ``multiple``, run, crop to ``scale`` x the input size.

    Args:
        network: maps ``(B, C_in, H', W')`` to ``(B, C_out, scale*H', scale*W')`` for H', W' multiples of ``multiple``.
        images: ``(B, C_in, H, W)`` with any H, W.
        multiple: the network's stride.
        scale: the network's upscaling factor (1 for translation).
    """
    padded, (height, width) = pad_to_multiple(images, multiple)
    output = network(padded)  # (B, C_out, scale * H', scale * W')
    return output[..., : scale * height, : scale * width]
