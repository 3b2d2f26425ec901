"""MATLAB-compatible bicubic ``imresize``, batched in torch on any device.

The super-resolution benchmarks (Set5, Set14, BSD100, Urban100, Manga109) make their low-resolution inputs with
MATLAB's ``imresize(hr, 1/scale, 'bicubic')``: Keys' cubic kernel (a = -0.5) and, when shrinking, *antialiasing*:
the kernel is stretched by ``1/scale`` (and its height divided by it), so each output pixel averages over the whole
footprint of the input pixels it replaces. MATLAB's ``contributions`` (imresize.m) computes, per output pixel,
the input pixels involved and their weights:

    u = x / scale + 0.5 * (1 - 1 / scale)          x = 1..out_length (1-based output coordinate)
    left = floor(u - kernel_width / 2)             kernel_width = 4, or 4 / scale when shrinking
    taps = ceil(kernel_width) + 2                  indices = left + (0..taps-1)
    weights = kernel(u - indices), normalised so that each output pixel's weights sum to 1

and indices outside ``1..in_length`` are folded back symmetrically (``[1..n, n..1]`` repeated: the edge pixel is
repeated, as ``padarray(..., 'symmetric')``). The two image axes are resized one after the other.

``torch.nn.functional.interpolate(mode="bicubic", antialias=True)`` is not this. It follows Pillow: the same kernel,
but taps outside the image are dropped and the rest renormalised instead of folding the image back, and the
kernel scale is ``out / in`` rather than the requested scale. Measured against BasicSR's MATLAB port on the
Urban100 photos mod-cropped to 12 (x1/2, 1/3, 1/4): equal inside (< 6e-7) but up to 0.11 off in the outer
pixels; on sizes that are not a multiple of the scale it is off everywhere (up to 0.54 at x1/3).

Here each axis becomes one dense ``(out_length, in_length)`` weight matrix (folded indices accumulate their
weights), and the resize is two matrix products, so it runs batched, on any device, in the input's float dtype,
and is differentiable. Unlike MATLAB on uint8 images, the result is **not rounded** (nor clamped: bicubic
overshoots slightly at edges); quantise it yourself to compare with stored 8-bit LR files.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor

__all__ = ["imresize"]

KERNEL_WIDTH = 4  # Keys' cubic kernel is non-zero on (-2, 2)


def cubic(x: Tensor) -> Tensor:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``cubic`` in imresize.m).

    Args:
        x: distances in pixels, any shape.

    Returns:
        Kernel values, same shape: ``1.5|x|^3 - 2.5|x|^2 + 1`` for ``|x| <= 1``,
        ``-0.5|x|^3 + 2.5|x|^2 - 4|x| + 2`` for ``1 < |x| <= 2``, 0 beyond.
    """
    absx = x.abs()
    near = (1.5 * absx**3 - 2.5 * absx**2 + 1) * (absx <= 1)
    far = (-0.5 * absx**3 + 2.5 * absx**2 - 4 * absx + 2) * ((absx > 1) & (absx <= 2))
    return near + far


@lru_cache(maxsize=64)
def weight_matrix(in_length: int, out_length: int, scale: float, antialias: bool = True) -> Tensor:
    """The ``(out_length, in_length)`` matrix of MATLAB's bicubic weights along one axis (float64, CPU).

    Row ``i`` holds the weights of output pixel ``i``; taps outside the image are folded back symmetrically and
    add to the weight of the pixel they land on, so every row sums to 1. Cached: training crops reuse a few sizes.

    Args:
        in_length: input pixels along the axis (>= 1).
        out_length: output pixels along the axis (>= 1).
        scale: output / input scale factor used by the kernel (MATLAB uses the given scale, not the size ratio).
        antialias: stretch the kernel by ``1 / scale`` when shrinking (MATLAB's default).
    """
    shrink = antialias and scale < 1
    width = KERNEL_WIDTH / scale if shrink else KERNEL_WIDTH
    x = torch.arange(1, out_length + 1, dtype=torch.float64)  # (out,) 1-based output coordinates
    u = x / scale + 0.5 * (1 - 1 / scale)  # (out,) matching input coordinate: pixel edges map onto pixel edges
    left = torch.floor(u - width / 2)  # (out,) left-most input pixel that can contribute
    taps = math.ceil(width) + 2  # one extra tap each side is harmless: its weight is 0
    indices = left[:, None] + torch.arange(taps, dtype=torch.float64)  # (out, taps) 1-based input pixels
    distance = u[:, None] - indices  # (out, taps)
    weights = scale * cubic(scale * distance) if shrink else cubic(distance)  # (out, taps)
    weights = weights / weights.sum(dim=1, keepdim=True)

    # MATLAB's aux = [1:n, n:-1:1]; indices = aux(mod(indices - 1, 2n) + 1): symmetric folding with period 2n
    folded = torch.remainder(indices - 1, 2 * in_length).long()  # (out, taps) 0-based, in 0..2n-1
    folded = torch.where(folded < in_length, folded, 2 * in_length - 1 - folded)
    matrix = torch.zeros(out_length, in_length, dtype=torch.float64)
    return matrix.scatter_add_(1, folded, weights)  # (out, in)


def _output_length(in_length: int, scale: float) -> int:
    """``ceil(scale * in_length)``, ignoring float noise (``300 * (1/3)`` must give 100, not 101)."""
    return max(1, math.ceil(scale * in_length - 1e-9))


def imresize(
    images: Tensor,
    scale: float | tuple[float, float] | None = None,
    size: int | tuple[int, int] | None = None,
    antialias: bool = True,
) -> Tensor:
    """Resize images with MATLAB's ``imresize`` bicubic (antialiased when shrinking), without rounding.

    Give exactly one of ``scale`` and ``size``. With ``scale`` the output has ``ceil(scale * H) x ceil(scale * W)``
    pixels and the kernel uses ``scale``; with ``size`` the kernel uses ``size / input size`` per axis, as MATLAB
    does. Values are neither rounded nor clamped.

    Args:
        images: ``(B, C, H, W)`` or ``(C, H, W)`` float tensor (any float dtype, any device; [0, 1] in this
            project, but any range works: the resize is linear).
        scale: output / input size factor, one number for both axes or ``(scale_h, scale_w)``; e.g. ``1 / 4`` makes
            the x4 super-resolution input.
        size: output ``(height, width)``, or one int for both.
        antialias: widen the kernel by ``1 / scale`` when shrinking (MATLAB's default; False gives plain bicubic
            sampling, which aliases).

    Returns:
        The resized images, same layout, dtype and device as ``images``.
    """
    if not isinstance(images, Tensor) or images.ndim not in (3, 4) or not images.is_floating_point():
        what = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"imresize: images must be a float (B, C, H, W) or (C, H, W) tensor, got {what}")
    if (scale is None) == (size is None):
        raise ValueError("imresize: give exactly one of scale and size")
    in_h, in_w = images.shape[-2:]
    if size is not None:
        out_h, out_w = (size, size) if isinstance(size, int) else size
        if out_h < 1 or out_w < 1:
            raise ValueError(f"imresize: size must be >= 1 pixel, got {size}")
        scale_h, scale_w = out_h / in_h, out_w / in_w
    else:
        scale_h, scale_w = (scale, scale) if isinstance(scale, (int, float)) else scale
        if not (scale_h > 0 and scale_w > 0 and math.isfinite(scale_h) and math.isfinite(scale_w)):
            raise ValueError(f"imresize: scale must be finite and > 0, got {scale}")
        out_h, out_w = _output_length(in_h, scale_h), _output_length(in_w, scale_w)

    options = {"device": images.device, "dtype": images.dtype}
    rows = weight_matrix(in_h, out_h, float(scale_h), antialias).to(**options)  # (out_h, H)
    cols = weight_matrix(in_w, out_w, float(scale_w), antialias).to(**options)  # (out_w, W)
    # Linear in each axis: the order only changes float rounding; shrink the axis that saves more work first.
    if out_h * in_w * (in_h + out_w) <= in_h * out_w * (in_w + out_h):
        return rows @ images @ cols.T  # (..., out_h, W) then (..., out_h, out_w)
    return rows @ (images @ cols.T)  # (..., H, out_w) then (..., out_h, out_w)
