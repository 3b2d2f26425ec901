"""Tests of lightning_gans.metrics against closed forms and an independent, loop-by-loop NumPy SSIM."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchmetrics.functional.image import structural_similarity_index_measure

from lightning_gans.errors import UserInputError
from lightning_gans.metrics import psnr, psnr_rgb, psnr_y, rgb_to_y, signal_to_background_ratio, ssim, ssim_y

Y_WEIGHTS = np.array([65.481, 128.553, 24.966])


def gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """The 2-D SSIM window of Wang et al.: outer product of a sampled, normalised 1-D Gaussian."""
    offsets = np.arange(size) - size // 2
    g = np.exp(-(offsets**2) / (2 * sigma**2))
    g /= g.sum()
    return np.outer(g, g)


def direct_ssim(x: np.ndarray, y: np.ndarray, peak: float) -> float:
    """SSIM of two 2-D images, one window position at a time over the valid region (no filtering library)."""
    w = gaussian_window()
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    values = []
    for i in range(x.shape[0] - 10):
        for j in range(x.shape[1] - 10):
            a, b = x[i : i + 11, j : j + 11], y[i : i + 11, j : j + 11]
            mu_a, mu_b = (w * a).sum(), (w * b).sum()
            var_a, var_b = (w * (a - mu_a) ** 2).sum(), (w * (b - mu_b) ** 2).sum()
            cov = (w * (a - mu_a) * (b - mu_b)).sum()
            values.append(((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)))
    return float(np.mean(values))


def random_pair(shape: tuple[int, ...], seed: int = 0, noise: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    target = torch.rand(shape, generator=generator, dtype=torch.float64)
    pred = (target + noise * torch.randn(shape, generator=generator, dtype=torch.float64)).clamp(0, 1)
    return pred, target


# ----------------------------------------------------------------------------------------------- PSNR


def test_psnr_of_a_constant_offset_is_the_closed_form() -> None:
    target = torch.full((2, 3, 16, 16), 0.5)
    offsets = torch.tensor([0.1, 0.05]).view(2, 1, 1, 1)
    values = psnr(target + offsets, target)  # MSE = offset^2, so PSNR = -20 log10(offset)
    assert values.shape == (2,) and values.dtype == torch.float32
    assert values.tolist() == pytest.approx([20.0, -20 * math.log10(0.05)], abs=1e-4)


def test_psnr_of_identical_images_is_infinite() -> None:
    image = torch.rand(1, 1, 8, 8)
    assert math.isinf(psnr(image, image).item())


# ----------------------------------------------------------------------------------------------- SSIM


def test_ssim_of_constant_images_is_the_luminance_term() -> None:
    # no variance anywhere: SSIM = (2ab + C1) / (a^2 + b^2 + C1), C1 = (0.01 * 1)^2
    a, b = 0.3, 0.6
    value = ssim(torch.full((1, 1, 12, 12), a), torch.full((1, 1, 12, 12), b)).item()
    assert value == pytest.approx((2 * a * b + 1e-4) / (a * a + b * b + 1e-4), abs=1e-6)


def test_ssim_matches_the_direct_formula_over_the_valid_region() -> None:
    pred, target = random_pair((2, 2, 13, 15), seed=1, noise=0.2)
    values = ssim(pred, target)
    for n in range(2):
        expected = np.mean([direct_ssim(pred[n, c].numpy(), target[n, c].numpy(), peak=1.0) for c in range(2)])
        assert values[n].item() == pytest.approx(expected, abs=1e-6)


def test_ssim_is_not_torchmetrics_reflection_padded_default() -> None:
    # structure at the borders: reflection padding adds border windows that the valid region leaves out
    pred, target = random_pair((1, 1, 16, 16), seed=2, noise=0.3)
    ours = ssim(pred, target).item()
    padded = structural_similarity_index_measure(pred, target, data_range=1.0).item()
    assert ours == pytest.approx(direct_ssim(pred[0, 0].numpy(), target[0, 0].numpy(), 1.0), abs=1e-6)
    assert abs(ours - padded) > 1e-3


def test_ssim_of_identical_images_is_one() -> None:
    image = torch.rand(3, 3, 11, 11)
    assert torch.allclose(ssim(image, image), torch.ones(3))


# --------------------------------------------------------------------------------- super-resolution


def test_rgb_to_y_is_matlab_rgb2ycbcr_on_the_unit_scale() -> None:
    colours = torch.tensor([[0.0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]]).view(5, 3, 1, 1)
    y = rgb_to_y(colours).flatten() * 255
    assert y.tolist() == pytest.approx([16.0, 235.0, 16 + 65.481, 16 + 128.553, 16 + 24.966], abs=1e-4)
    grey = torch.rand(2, 1, 4, 4)
    assert torch.equal(rgb_to_y(grey), grey)  # a greyscale image is its own Y
    with pytest.raises(UserInputError, match="1 .greyscale. or 3 .RGB."):
        rgb_to_y(torch.rand(1, 4, 4, 4))


def with_cropped_garbage(image: torch.Tensor, crop: int) -> torch.Tensor:
    """``image`` with its ``crop``-pixel frame replaced by values a metric would notice if it kept them."""
    spoiled = image.clone()
    inner = spoiled[..., crop:-crop, crop:-crop].clone()
    spoiled[:] = 1.0 - spoiled
    spoiled[..., crop:-crop, crop:-crop] = inner
    return spoiled


def test_psnr_y_of_a_constant_offset_is_the_closed_form_and_ignores_the_border() -> None:
    hr = torch.rand(1, 3, 20, 20, dtype=torch.float64) * 0.8
    delta = 0.02
    sr = with_cropped_garbage(hr + delta, crop=4)
    # Y on [0, 255] moves by 219 * delta (the sum of the weights), so MSE = (219 delta)^2 with peak 255
    expected = 20 * math.log10(255 / (Y_WEIGHTS.sum() * delta))
    assert psnr_y(sr, hr, crop_border=4).item() == pytest.approx(expected, abs=1e-4)
    assert psnr_y(sr, hr, crop_border=0).item() < expected - 10  # the border garbage counts when not cropped


def test_psnr_rgb_of_a_constant_offset_is_the_closed_form() -> None:
    hr = torch.rand(2, 3, 12, 12) * 0.9
    sr = with_cropped_garbage(hr + 0.05, crop=2)
    assert psnr_rgb(sr, hr, crop_border=2).tolist() == pytest.approx([-20 * math.log10(0.05)] * 2, abs=1e-3)


def test_ssim_y_matches_the_direct_formula_on_cropped_y() -> None:
    sr, hr = random_pair((1, 3, 19, 18), seed=3, noise=0.15)
    crop = 3
    to_y = lambda x: 16 + np.tensordot(Y_WEIGHTS, x[0].numpy(), axes=1)  # noqa: E731  (H, W) on [0, 255]
    expected = direct_ssim(to_y(sr)[crop:-crop, crop:-crop], to_y(hr)[crop:-crop, crop:-crop], peak=255.0)
    assert ssim_y(sr, hr, crop_border=crop).item() == pytest.approx(expected, abs=1e-6)


def test_greyscale_sr_scores_the_image_itself() -> None:
    sr, hr = random_pair((1, 1, 15, 15), seed=4)
    assert psnr_y(sr, hr, 2).item() == pytest.approx(psnr(sr[..., 2:-2, 2:-2], hr[..., 2:-2, 2:-2]).item(), abs=1e-4)
    expected = direct_ssim(255 * sr[0, 0, 2:-2, 2:-2].numpy(), 255 * hr[0, 0, 2:-2, 2:-2].numpy(), peak=255.0)
    assert ssim_y(sr, hr, 2).item() == pytest.approx(expected, abs=1e-6)


def test_sr_metrics_refuse_bad_crops() -> None:
    sr, hr = random_pair((1, 3, 16, 16))
    with pytest.raises(UserInputError, match="crop_border must be an integer"):
        psnr_y(sr, hr, crop_border=-1)
    with pytest.raises(UserInputError, match="leaves nothing"):
        psnr_rgb(sr, hr, crop_border=8)
    with pytest.raises(UserInputError, match="SSIM needs at least 11x11"):
        ssim_y(sr, hr, crop_border=3)


# ----------------------------------------------------------------------------------------------- SBR


def test_signal_to_background_ratio_is_mean_vessel_over_mean_background() -> None:
    image = torch.full((2, 1, 8, 8), 0.1)
    vessel = torch.zeros(2, 1, 8, 8, dtype=torch.bool)
    vessel[:, :, 3:5, :] = True
    background = torch.zeros_like(vessel)
    background[:, :, 0:2, :] = True
    image[0, :, 3:5, :] = 0.6
    image[0, :, 0:2, :] = 0.2
    image[1, :, 3, :], image[1, :, 4, :] = 0.5, 0.3  # vessel mean 0.4
    image[1, :, 0:2, :] = 0.0  # black background: the floor of one 16-bit level applies
    values = signal_to_background_ratio(image, vessel, background)
    assert values.dtype == torch.float32
    assert values.tolist() == pytest.approx([3.0, 0.4 * 65535], rel=1e-5)


def test_signal_to_background_ratio_refuses_empty_or_non_boolean_masks() -> None:
    image = torch.rand(2, 1, 6, 6)
    full = torch.ones(2, 1, 6, 6, dtype=torch.bool)
    half_empty = full.clone()
    half_empty[1] = False
    with pytest.raises(UserInputError, match=r"background_mask selects no pixels in batch image\(s\) \[1\]"):
        signal_to_background_ratio(image, full, half_empty)
    with pytest.raises(UserInputError, match="vessel_mask must be a bool tensor"):
        signal_to_background_ratio(image, full.float(), full)
    with pytest.raises(UserInputError, match="must have shape"):
        signal_to_background_ratio(image, full[:, :, :5], full)


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "pred, message",
    [
        (torch.rand(1, 1, 12, 12) * 2 - 1, "must be in \\[0, 1\\].*to_unit_range"),
        (torch.randint(0, 255, (1, 1, 12, 12)), "must be a float tensor"),
        (torch.rand(1, 12, 12), "must be a \\(B, C, H, W\\) tensor"),
        (torch.rand(1, 1, 12, 13), "shapes differ"),
        (torch.full((1, 1, 12, 12), float("nan")), "must be in \\[0, 1\\]"),
    ],
)
def test_bad_inputs_raise_one_line_errors(pred: torch.Tensor, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        psnr(pred, torch.rand(1, 1, 12, 12))
