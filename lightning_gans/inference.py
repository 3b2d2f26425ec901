"""Inference on images of any size: pad to what a network can take, run it, crop the result back.

Translation networks need sides that are multiples of their stride (U-Net 256: 256, ResNet generator: 4); a
super-resolution network maps an ``h x w`` input to ``scale*h x scale*w``. ``run_padded`` pads the input by
reflection (replicate where the image is too small to reflect), runs the network once and crops back, so the
output has exactly the input's size (times ``scale``).

Large images do not fit a network at once: ``tiled`` runs overlapping tiles and blends them with weights that
fall smoothly to zero towards each tile's inner edges (no seams), and ``self_ensemble`` averages the network's
output over the 8 flips and 90-degree rotations of the input (the "x8" test-time ensemble of EDSR, Lim et al.
2017, Sec. 4.4). They compose: ``self_ensemble(lambda x: tiled(network, x, 4, 256, 32), images)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["pad_to_multiple", "run_padded", "self_ensemble", "tiled"]


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


def tile_starts(length: int, tile_size: int, overlap: int) -> list[int]:
    """Start offsets of tiles of ``tile_size`` covering ``0..length`` with at least ``overlap`` shared pixels.

    Tiles are stepped by ``tile_size - overlap``; the last one is moved back to end at ``length`` (so every tile has
    full size and tiles can be batched; it overlaps its neighbour by more). One tile at 0 when ``length <= tile_size``.

    Args:
        length: image side in pixels.
        tile_size: tile side in pixels.
        overlap: pixels shared by neighbouring tiles (< ``tile_size``).
    """
    if length <= tile_size:
        return [0]
    stride = tile_size - overlap
    count = math.ceil((length - tile_size) / stride) + 1
    return [min(i * stride, length - tile_size) for i in range(count)]


def blend_window(tile_length: int, overlap: int, scale: int, inner_start: bool, inner_end: bool) -> Tensor:
    """1-D blending weights of one tile at output resolution: 0 near inner edges, a linear ramp, then 1.

    With ``margin = overlap // 4`` and ``ramp = overlap - 2 * margin`` (input pixels), an output pixel whose centre
    lies ``d`` input pixels from an inner edge gets ``clamp((d - margin) / ramp, 0, 1)``: exactly 0 on the
    ``margin`` input pixels next to the edge, where the tile's output misses context. Two tiles that share exactly
    ``overlap`` pixels get weights summing to 1 everywhere; edges on the image border are not ramped.

    Args:
        tile_length: tile side in input pixels.
        overlap: pixels shared by neighbouring tiles (0: no ramps, tiles just abut).
        scale: output pixels per input pixel.
        inner_start: the tile's first edge lies inside the image (a neighbour covers it).
        inner_end: the tile's last edge lies inside the image.

    Returns:
        ``(scale * tile_length,)`` float32 weights in [0, 1].
    """
    weights = torch.ones(scale * tile_length)
    if overlap == 0:
        return weights
    margin = overlap // 4
    ramp = overlap - 2 * margin
    centres = (torch.arange(scale * tile_length) + 0.5) / scale  # output pixel centres, in input pixels from the start
    if inner_start:
        weights = torch.minimum(weights, ((centres - margin) / ramp).clamp(0, 1))
    if inner_end:
        weights = torch.minimum(weights, ((tile_length - centres - margin) / ramp).clamp(0, 1))
    return weights


def tiled(
    network: Callable[[Tensor], Tensor],
    images: Tensor,
    scale: int,
    tile_size: int,
    overlap: int,
    tile_batch_size: int = 4,
    multiple: int = 1,
) -> Tensor:
    """``network(images)`` computed on overlapping tiles and blended without seams, for images of any size.

    The input is split into ``tile_size x tile_size`` tiles (smaller along a side shorter than ``tile_size``)
    that share at least ``overlap`` pixels with their neighbours; each output pixel is the weighted mean of the
    tiles covering it, with separable weights that are 0 on the ``overlap // 4`` pixels next to a tile's inner edge
    and rise linearly over the next ``overlap - 2 * (overlap // 4)`` pixels (``blend_window``), so neighbouring tiles
    cross-fade.

    Overlap rule: if every output pixel depends only on input pixels at most ``r`` pixels away (the network's
    receptive radius, e.g. ``r = n`` for ``n`` stacked 3x3 convolutions at input resolution) and
    ``overlap // 4 >= r``, every tile pixel with non-zero weight saw its whole receptive field, so the result equals
    the untiled ``network(images)`` up to float rounding. Deep SR networks have radii far larger than any practical
    overlap; there the ramps hide the residual differences instead of leaving seams. The network must be
    translation-equivariant by ``multiple`` input pixels (convolutions, pixel shuffle; ``multiple = 2`` or 4 for
    networks that pixel-unshuffle their input).

    Wrap the call in ``torch.inference_mode()``: only one batch of tiles and the output live at a time then.

    Args:
        network: maps ``(N, C_in, h, w)`` to ``(N, C_out, scale * h, scale * w)``.
        images: ``(B, C_in, H, W)`` with any H, W (padded by reflection to a multiple of ``multiple`` and cropped
            back, as ``run_padded``).
        scale: the network's upscaling factor (1 for same-size networks).
        tile_size: tile side in input pixels; must be > ``2 * overlap`` and a multiple of ``multiple``.
        overlap: input pixels shared by neighbouring tiles (>= 0, a multiple of ``multiple``); see the rule above.
        tile_batch_size: tiles per network call (tiles of all images in the batch are mixed).
        multiple: the network's input stride: tile positions and sizes are kept on multiples of it.

    Returns:
        ``(B, C_out, scale * H, scale * W)`` on the device of ``images``, float32 (float64 if the network returns
        float64).
    """
    if images.ndim != 4:
        raise ValueError(f"tiled: images must be (B, C, H, W), got {tuple(images.shape)}")
    for name, value, low in (("scale", scale, 1), ("tile_size", tile_size, 1), ("overlap", overlap, 0),
                             ("tile_batch_size", tile_batch_size, 1), ("multiple", multiple, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"tiled: {name} must be an integer >= {low}, got {value!r}")
    if tile_size <= 2 * overlap:
        raise ValueError(f"tiled: tile_size ({tile_size}) must be > 2 * overlap ({overlap}); use larger tiles")
    if tile_size % multiple or overlap % multiple:
        raise ValueError(f"tiled: tile_size ({tile_size}) and overlap ({overlap}) must be multiples of {multiple}")

    padded, (height, width) = pad_to_multiple(images, multiple)
    batch, _, padded_h, padded_w = padded.shape
    tile_h, tile_w = min(tile_size, padded_h), min(tile_size, padded_w)
    tops, lefts = tile_starts(padded_h, tile_h, overlap), tile_starts(padded_w, tile_w, overlap)
    rows = [blend_window(tile_h, overlap, scale, top > 0, top + tile_h < padded_h) for top in tops]
    cols = [blend_window(tile_w, overlap, scale, left > 0, left + tile_w < padded_w) for left in lefts]
    jobs = [(b, i, j) for b in range(batch) for i in range(len(tops)) for j in range(len(lefts))]

    output = weight_sum = None
    for start in range(0, len(jobs), tile_batch_size):
        chunk = jobs[start : start + tile_batch_size]
        tiles = torch.stack(
            [padded[b, :, tops[i] : tops[i] + tile_h, lefts[j] : lefts[j] + tile_w] for b, i, j in chunk]
        )  # (n, C_in, tile_h, tile_w)
        results = network(tiles)  # (n, C_out, scale * tile_h, scale * tile_w)
        if results.shape[-2:] != (scale * tile_h, scale * tile_w):
            raise ValueError(
                f"tiled: the network maps a {tile_h}x{tile_w} tile to {tuple(results.shape[-2:])}, "
                f"not {scale * tile_h}x{scale * tile_w}; check scale={scale}"
            )
        if output is None:
            dtype = torch.promote_types(results.dtype, torch.float32)
            output = padded.new_zeros((batch, results.shape[1], scale * padded_h, scale * padded_w), dtype=dtype)
            weight_sum = padded.new_zeros((scale * padded_h, scale * padded_w), dtype=dtype)
        for (b, i, j), result in zip(chunk, results):
            window = (rows[i][:, None] * cols[j][None, :]).to(output)  # (scale * tile_h, scale * tile_w)
            top, left = scale * tops[i], scale * lefts[j]
            output[b, :, top : top + scale * tile_h, left : left + scale * tile_w] += window * result
            if b == 0:
                weight_sum[top : top + scale * tile_h, left : left + scale * tile_w] += window
    # the windows of all tiles sum to > 0 everywhere (tile_size > 2 * overlap); dividing makes them sum to 1
    output = output / weight_sum  # (B, C_out, scale * H', scale * W')
    return output[..., : scale * height, : scale * width]


def self_ensemble(network: Callable[[Tensor], Tensor], images: Tensor) -> Tensor:
    """Average ``network`` over the 8 flips and 90-degree rotations of the input, each mapped back (EDSR's x8).

    For an output ``T^-1(network(T(x)))`` per transform ``T`` of the dihedral group (4 rotations, each with and
    without a horizontal flip); a network that already commutes with them returns its plain output. Costs 8
    forward passes; rotations swap H and W, so the network must take both orientations.

    Args:
        network: maps ``(B, C_in, h, w)`` to ``(B, C_out, scale * h, scale * w)`` (e.g. a ``tiled`` closure).
        images: ``(B, C_in, H, W)``.

    Returns:
        ``(B, C_out, scale * H, scale * W)``: the mean of the 8 back-transformed outputs.
    """
    total = None
    for flip in (False, True):
        flipped = images.flip(-1) if flip else images
        for quarter_turns in range(4):
            output = network(torch.rot90(flipped, quarter_turns, dims=(-2, -1)))  # (B, C_out, sW, sH) if odd turns
            output = torch.rot90(output, -quarter_turns, dims=(-2, -1))  # undo the rotation first, then the flip
            output = output.flip(-1) if flip else output
            total = output if total is None else total + output
    return total / 8
