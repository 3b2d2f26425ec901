"""Tests of the MATLAB-compatible bicubic imresize: against a direct, loop-by-loop evaluation of MATLAB's formula
(written independently here, one output pixel at a time) and against properties any correct resize has."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lightning_gans.imresize import imresize


def matlab_kernel(x: float) -> float:
    """Keys' cubic, a = -0.5, as in MATLAB's imresize.m."""
    x = abs(x)
    if x <= 1:
        return 1.5 * x**3 - 2.5 * x**2 + 1
    if x <= 2:
        return -0.5 * x**3 + 2.5 * x**2 - 4 * x + 2
    return 0.0


def matlab_resize_axis(values: list[float], out_length: int, scale: float) -> list[float]:
    """One axis of MATLAB's bicubic imresize (antialiased), by the book: 1-based coordinates, symmetric folding."""
    n = len(values)
    width = 4 / scale if scale < 1 else 4
    aux = list(range(1, n + 1)) + list(range(n, 0, -1))  # MATLAB's [1:n, n:-1:1]
    out = []
    for x in range(1, out_length + 1):
        u = x / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        taps = [left + k for k in range(math.ceil(width) + 2)]
        if scale < 1:
            weights = [scale * matlab_kernel(scale * (u - j)) for j in taps]
        else:
            weights = [matlab_kernel(u - j) for j in taps]
        total = sum(weights)
        out.append(sum(w / total * values[aux[(j - 1) % (2 * n)] - 1] for w, j in zip(weights, taps)))
    return out


def matlab_resize(image: torch.Tensor, out_h: int, out_w: int, scale_h: float, scale_w: float) -> torch.Tensor:
    """``(C, H, W)`` image resized along H, then W, with the loop version above (float64)."""
    channels, height, width = image.shape
    rows = torch.zeros(channels, out_h, width, dtype=torch.float64)
    for c in range(channels):
        for col in range(width):
            column = matlab_resize_axis(image[c, :, col].tolist(), out_h, scale_h)
            rows[c, :, col] = torch.tensor(column, dtype=torch.float64)
    out = torch.zeros(channels, out_h, out_w, dtype=torch.float64)
    for c in range(channels):
        for row in range(out_h):
            line = matlab_resize_axis(rows[c, row, :].tolist(), out_w, scale_w)
            out[c, row, :] = torch.tensor(line, dtype=torch.float64)
    return out


@pytest.mark.parametrize(
    ("height", "width", "scale"),
    [(12, 16, 1 / 4), (9, 12, 1 / 3), (10, 7, 1 / 2), (11, 13, 0.37), (5, 6, 2.0), (4, 5, 3.0), (3, 2, 1 / 4)],
)
def test_matches_a_direct_evaluation_of_the_matlab_formula(height: int, width: int, scale: float) -> None:
    image = torch.rand(2, height, width, generator=torch.Generator().manual_seed(height * width), dtype=torch.float64)
    out_h, out_w = math.ceil(scale * height - 1e-9), math.ceil(scale * width - 1e-9)
    expected = matlab_resize(image, out_h, out_w, scale, scale)
    result = imresize(image, scale=scale)
    assert result.shape == (2, out_h, out_w)
    torch.testing.assert_close(result, expected, rtol=0, atol=1e-12)
    result32 = imresize(image.float(), scale=scale)
    assert result32.dtype == torch.float32
    assert (result32.double() - expected).abs().max() < 2e-6


def test_size_argument_uses_the_size_ratio_per_axis() -> None:
    image = torch.rand(1, 10, 9, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    expected = matlab_resize(image, 4, 6, 4 / 10, 6 / 9)
    torch.testing.assert_close(imresize(image, size=(4, 6)), expected, rtol=0, atol=1e-12)


def test_linear_ramp_is_sampled_at_the_output_pixel_centres() -> None:
    # Keys' cubic reproduces linear functions, so away from the borders a ramp x -> x maps to the ramp sampled at
    # each output pixel's centre in input coordinates, (i + 0.5) / scale - 0.5 (0-based pixel centres).
    ramp = torch.arange(48, dtype=torch.float64).expand(1, 8, 48)
    for scale in (1 / 4, 1 / 3, 1 / 2, 2.0, 3.0):
        out = imresize(ramp, scale=scale)[0, 0]  # (out_w,)
        centres = (torch.arange(out.shape[0], dtype=torch.float64) + 0.5) / scale - 0.5
        inside = (centres > 2 / min(scale, 1) + 1) & (centres < 47 - 2 / min(scale, 1) - 1)
        assert inside.sum() > 4
        torch.testing.assert_close(out[inside], centres[inside], rtol=0, atol=1e-9)


def test_output_size_is_ceil_of_scale_times_size() -> None:
    image = torch.rand(3, 301, 299)
    assert imresize(image, scale=1 / 3).shape == (3, 101, 100)
    assert imresize(torch.rand(3, 300, 12), scale=1 / 3).shape == (3, 100, 4)  # 300 * (1/3) is not rounded up to 101
    assert imresize(image, scale=(1 / 4, 2)).shape == (3, 76, 598)
    assert imresize(image, size=17).shape == (3, 17, 17)


def test_constant_stays_constant_and_scale_one_is_identity() -> None:
    constant = torch.full((2, 3, 13, 11), 0.3)
    for scale in (1 / 4, 1 / 3, 0.6, 2.0, 3.0):
        resized = imresize(constant, scale=scale)
        torch.testing.assert_close(resized, torch.full_like(resized, 0.3))
    image = torch.rand(2, 3, 13, 11)
    torch.testing.assert_close(imresize(image, scale=1.0), image, rtol=0, atol=1e-6)


def test_batched_equals_one_by_one_and_is_differentiable() -> None:
    images = torch.rand(3, 2, 16, 12, requires_grad=True)
    batched = imresize(images, scale=1 / 4)  # (3, 2, 4, 3)
    for i in range(3):
        torch.testing.assert_close(batched[i], imresize(images[i], scale=1 / 4))
    batched.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_downscale_is_antialiased() -> None:
    # A pixel-scale checkerboard is pure aliasing: MATLAB's antialiased kernel averages it to grey, plain bicubic
    # sampling (antialias=False) at x1/3 lands on pixel centres and keeps the full pattern.
    checker = ((torch.arange(42)[:, None] + torch.arange(42)[None, :]) % 2).float()[None]  # (1, 42, 42)
    smooth = imresize(checker, scale=1 / 3)[:, 2:-2, 2:-2]
    aliased = imresize(checker, scale=1 / 3, antialias=False)[:, 2:-2, 2:-2]
    assert (smooth - 0.5).abs().max() < 0.02
    assert (aliased - 0.5).abs().max() > 0.2


def test_torch_antialiased_bicubic_differs_at_the_border() -> None:
    # What the module docstring claims: torch/Pillow agree inside for exact ratios, not near the border.
    image = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    ours = imresize(image, scale=1 / 4)
    theirs = F.interpolate(image, size=(12, 12), mode="bicubic", antialias=True)
    assert (ours - theirs)[..., 3:-3, 3:-3].abs().max() < 1e-5
    assert (ours - theirs).abs().max() > 1e-2


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        imresize(torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match="exactly one"):
        imresize(torch.rand(3, 8, 8), scale=0.5, size=4)
    with pytest.raises(ValueError, match="float"):
        imresize(torch.zeros(3, 8, 8, dtype=torch.uint8), scale=0.5)
    with pytest.raises(ValueError, match="scale"):
        imresize(torch.rand(3, 8, 8), scale=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_the_gpu() -> None:
    image = torch.rand(2, 3, 40, 36)
    torch.testing.assert_close(imresize(image.cuda(), scale=1 / 4).cpu(), imresize(image, scale=1 / 4))
