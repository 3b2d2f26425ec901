"""Image-quality metrics for the translation and super-resolution families: PSNR, SSIM, SBR, and the SR conventions.

Every function takes float tensors ``(B, C, H, W)`` with values in [0, 1] (map generator outputs in [-1, 1] with
``lightning_gans.images.to_unit_range`` first) and returns one float32 value per image, shape ``(B,)``. The work is
done in float64, so results do not depend on the caller's precision.

Two conventions:

- **Translation** (``psnr``, ``ssim``): any channel count, data range 1. SSIM (Wang et al., "Image quality
  assessment: from error visibility to structural similarity", IEEE TIP 2004) uses an 11x11 Gaussian window,
  sigma 1.5, K1 = 0.01, K2 = 0.03, and averages the SSIM map over the *valid* region only (window fully inside
  the image), as the authors' MATLAB ``ssim_index`` and BasicSR do. ``torchmetrics`` pads by reflection and
  averages the map over the whole image; we take its full map (``return_full_image=True``) and crop the 5-pixel
  border where the window reached into the padding, which leaves exactly the valid-region map.
- **Super-resolution** (``psnr_y``, ``ssim_y``, ``psnr_rgb``): BasicSR's ``calculate_psnr`` /
  ``calculate_ssim`` (``basicsr/metrics/psnr_ssim.py``) on [0, 255] after cropping ``crop_border`` pixels from
  every edge; ``_y`` scores the Y channel of YCbCr (MATLAB ``rgb2ycbcr``, see ``rgb_to_y``), which papers report;
  ``psnr_rgb`` scores all three channels, as BasicSR's model-zoo tables do (about 2 dB below Y). BasicSR's
  validation scores 8-bit images (its ``tensor2img`` rounds the network output); to reproduce its numbers exactly,
  pass ``(sr * 255).round() / 255``.

``signal_to_background_ratio`` is the near-infrared imaging figure of merit of Ma et al. (PNAS 2021); see its
docstring for the definition and sources.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from lightning_gans.errors import UserInputError

__all__ = ["psnr", "psnr_rgb", "psnr_y", "rgb_to_y", "signal_to_background_ratio", "ssim", "ssim_y"]

SSIM_WINDOW = 11  # Gaussian window side (Wang et al. 2004; BasicSR: cv2.getGaussianKernel(11, 1.5))
SSIM_SIGMA = 1.5
SSIM_BORDER = SSIM_WINDOW // 2  # map pixels whose window reaches past the image edge
# ITU-R BT.601 luma of [0, 1] RGB as MATLAB rgb2ycbcr and BasicSR: Y = 16 + 65.481 R + 128.553 G + 24.966 B
Y_WEIGHTS = (65.481, 128.553, 24.966)
Y_OFFSET = 16.0
_RANGE_SLACK = 1e-6  # float rounding allowed outside [0, 1]


def _check_images(name: str, images: Tensor) -> None:
    """Raise a one-line UserInputError unless ``images`` is a float (B, C, H, W) tensor in [0, 1]."""
    if not isinstance(images, Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise UserInputError(f"{name} must be a (B, C, H, W) tensor, got {shape}")
    if not images.is_floating_point():
        raise UserInputError(
            f"{name} must be a float tensor in [0, 1], got dtype {images.dtype}; divide integers by 255"
        )
    if images.numel() == 0:
        raise UserInputError(f"{name} is empty, shape {tuple(images.shape)}")
    low, high = images.amin().item(), images.amax().item()
    if not (low >= -_RANGE_SLACK and high <= 1 + _RANGE_SLACK):  # also catches NaN
        raise UserInputError(
            f"{name} must be in [0, 1], got [{low:.4g}, {high:.4g}]; map [-1, 1] outputs with to_unit_range"
        )


def _check_pair(function: str, pred: Tensor, target: Tensor) -> None:
    _check_images(f"{function}: pred", pred)
    _check_images(f"{function}: target", target)
    if pred.shape != target.shape:
        raise UserInputError(f"{function}: pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")


def _check_ssim_size(function: str, height: int, width: int) -> None:
    if min(height, width) < SSIM_WINDOW:
        raise UserInputError(
            f"{function}: images (after any border crop) are {height}x{width}; SSIM needs at least "
            f"{SSIM_WINDOW}x{SSIM_WINDOW} pixels for its {SSIM_WINDOW}x{SSIM_WINDOW} window"
        )


def _crop(images: Tensor, crop_border: int, function: str) -> Tensor:
    """Drop ``crop_border`` pixels from every edge (BasicSR's ``img[crop:-crop, crop:-crop]``)."""
    if isinstance(crop_border, bool) or not isinstance(crop_border, int) or crop_border < 0:
        raise UserInputError(f"{function}: crop_border must be an integer >= 0, got {crop_border!r}")
    if crop_border == 0:
        return images
    height, width = images.shape[-2:]
    if min(height, width) <= 2 * crop_border:
        raise UserInputError(
            f"{function}: crop_border={crop_border} leaves nothing of {height}x{width} images; use a smaller crop"
        )
    return images[..., crop_border:-crop_border, crop_border:-crop_border]  # (B, C, H - 2c, W - 2c)


def _psnr(pred: Tensor, target: Tensor, data_range: float) -> Tensor:
    """Per-image PSNR in float64 (the MSE is over all channels and pixels); inf where the images are equal."""
    values = peak_signal_noise_ratio(
        pred.double(), target.double(), data_range=data_range, reduction="none", dim=(1, 2, 3)
    )  # (B,)
    return values.float()


def _ssim_valid(pred: Tensor, target: Tensor, data_range: float) -> Tensor:
    """Per-image SSIM averaged over the valid region of the map (window fully inside), all channels alike."""
    _, ssim_map = structural_similarity_index_measure(
        pred.double(),
        target.double(),
        gaussian_kernel=True,
        sigma=SSIM_SIGMA,
        kernel_size=SSIM_WINDOW,
        data_range=data_range,
        reduction="none",
        return_full_image=True,
    )  # ssim_map: (B, C, H, W), computed on the reflect-padded images
    valid = ssim_map[..., SSIM_BORDER:-SSIM_BORDER, SSIM_BORDER:-SSIM_BORDER]  # (B, C, H - 10, W - 10)
    return valid.mean(dim=(1, 2, 3)).float()  # (B,)


def psnr(pred: Tensor, target: Tensor) -> Tensor:
    """Peak signal-to-noise ratio per image, ``10 log10(1 / MSE)`` in dB, data range 1.

    Args:
        pred: ``(B, C, H, W)`` float tensor in [0, 1] (e.g. the translated image), any channel count.
        target: ``(B, C, H, W)`` float tensor in [0, 1], the ground truth.

    Returns:
        ``(B,)`` float32 PSNR in dB (MSE over all channels and pixels of each image); ``inf`` where equal.
    """
    _check_pair("psnr", pred, target)
    return _psnr(pred, target, data_range=1.0)


def ssim(pred: Tensor, target: Tensor) -> Tensor:
    """Structural similarity per image (Wang et al. 2004): 11x11 Gaussian window, sigma 1.5, data range 1.

    The SSIM map is averaged over its valid region (the window fully inside the image) and over channels, as
    the authors' MATLAB code and BasicSR do; torchmetrics' default reflection padding is not counted.

    Args:
        pred: ``(B, C, H, W)`` float tensor in [0, 1], any channel count, H and W >= 11.
        target: ``(B, C, H, W)`` float tensor in [0, 1], the ground truth.

    Returns:
        ``(B,)`` float32 SSIM in [-1, 1] (1 where the images are equal).
    """
    _check_pair("ssim", pred, target)
    _check_ssim_size("ssim", *pred.shape[-2:])
    return _ssim_valid(pred, target, data_range=1.0)


def rgb_to_y(images: Tensor) -> Tensor:
    """Y (luma) of YCbCr as MATLAB ``rgb2ycbcr`` on double images, not rounded; greyscale passes through.

    For RGB, ``Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255`` with R, G, B in [0, 1], so Y is on the same
    [0, 1] scale as the input and lies in [16/255, 235/255] (MATLAB's output range for double input); multiply by
    255 for BasicSR's [0, 255] scale. A 1-channel image is its own Y, unchanged on [0, 1] (BasicSR's
    ``to_y_channel`` leaves 1-channel images as they are; no 16-235 studio range is applied to them).

    Args:
        images: ``(B, C, H, W)`` float tensor in [0, 1] with C = 3 (RGB order) or C = 1 (greyscale).

    Returns:
        ``(B, 1, H, W)`` tensor, same dtype as ``images``, on the [0, 1] scale described above.
    """
    _check_images("rgb_to_y: images", images)
    channels = images.shape[1]
    if channels == 1:
        return images
    if channels != 3:
        raise UserInputError(f"rgb_to_y: images must have 1 (greyscale) or 3 (RGB) channels, got {channels}")
    weights = images.new_tensor(Y_WEIGHTS).view(1, 3, 1, 1)  # (1, 3, 1, 1)
    return ((images * weights).sum(dim=1, keepdim=True) + Y_OFFSET) / 255.0  # (B, 1, H, W)


def _y_255(images: Tensor) -> Tensor:
    """Y on BasicSR's [0, 255] scale, in float64."""
    return rgb_to_y(images.double()) * 255.0  # (B, 1, H, W)


def _check_sr(function: str, sr: Tensor, hr: Tensor) -> None:
    _check_pair(function, sr, hr)
    if sr.shape[1] not in (1, 3):
        raise UserInputError(f"{function}: images must have 1 (greyscale) or 3 (RGB) channels, got {sr.shape[1]}")


def psnr_y(sr: Tensor, hr: Tensor, crop_border: int) -> Tensor:
    """PSNR on the Y channel as BasicSR's ``calculate_psnr(..., test_y_channel=True)``: the SR papers' figure.

    ``crop_border`` pixels are dropped from every edge, then Y (``rgb_to_y``, times 255) is compared with peak 255.

    Args:
        sr: ``(B, C, H, W)`` super-resolved images, float in [0, 1], C = 3 (RGB) or 1 (greyscale: Y is the image).
        hr: ``(B, C, H, W)`` ground-truth images, same shape and range.
        crop_border: pixels cropped from each edge before scoring; the benchmarks use the scale factor.

    Returns:
        ``(B,)`` float32 PSNR in dB; ``inf`` where the Y channels are equal.
    """
    _check_sr("psnr_y", sr, hr)
    sr, hr = _crop(sr, crop_border, "psnr_y"), _crop(hr, crop_border, "psnr_y")
    return _psnr(_y_255(sr), _y_255(hr), data_range=255.0)


def ssim_y(sr: Tensor, hr: Tensor, crop_border: int) -> Tensor:
    """SSIM on the Y channel as BasicSR's ``calculate_ssim(..., test_y_channel=True)``.

    On [0, 255] after cropping ``crop_border`` pixels: 11x11 Gaussian window (sigma 1.5), C1 = (0.01 * 255)^2,
    C2 = (0.03 * 255)^2, map averaged over the valid region only.

    Args:
        sr: ``(B, C, H, W)`` super-resolved images, float in [0, 1], C = 3 (RGB) or 1 (greyscale: Y is the image).
        hr: ``(B, C, H, W)`` ground-truth images, same shape and range.
        crop_border: pixels cropped from each edge before scoring; the benchmarks use the scale factor.

    Returns:
        ``(B,)`` float32 SSIM.
    """
    _check_sr("ssim_y", sr, hr)
    sr, hr = _crop(sr, crop_border, "ssim_y"), _crop(hr, crop_border, "ssim_y")
    _check_ssim_size("ssim_y", *sr.shape[-2:])
    return _ssim_valid(_y_255(sr), _y_255(hr), data_range=255.0)


def psnr_rgb(sr: Tensor, hr: Tensor, crop_border: int) -> Tensor:
    """PSNR over all RGB channels on [0, 255], as BasicSR's ``calculate_psnr(..., test_y_channel=False)``.

    BasicSR's model-zoo tables use this with ``crop_border`` = scale; papers report ``psnr_y``.

    Args:
        sr: ``(B, C, H, W)`` super-resolved images, float in [0, 1], any channel count.
        hr: ``(B, C, H, W)`` ground-truth images, same shape and range.
        crop_border: pixels cropped from each edge before scoring.

    Returns:
        ``(B,)`` float32 PSNR in dB; ``inf`` where the images are equal.
    """
    _check_pair("psnr_rgb", sr, hr)
    sr, hr = _crop(sr, crop_border, "psnr_rgb"), _crop(hr, crop_border, "psnr_rgb")
    return _psnr(sr.double() * 255.0, hr.double() * 255.0, data_range=255.0)


def _check_mask(name: str, mask: Tensor, images: Tensor) -> Tensor:
    """Check a boolean (B, 1 or C, H, W) mask against ``images`` and broadcast it to their shape."""
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        kind = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
        raise UserInputError(f"signal_to_background_ratio: {name} must be a bool tensor, got {kind}")
    batch, channels, height, width = images.shape
    shape_ok = mask.ndim == 4 and mask.shape[0] == batch and mask.shape[2:] == (height, width)
    if not shape_ok or mask.shape[1] not in (1, channels):
        raise UserInputError(
            f"signal_to_background_ratio: {name} must have shape ({batch}, 1 or {channels}, {height}, {width}), "
            f"got {tuple(mask.shape)}"
        )
    empty = (mask.flatten(1).sum(dim=1) == 0).nonzero().flatten().tolist()
    if empty:
        raise UserInputError(f"signal_to_background_ratio: {name} selects no pixels in batch image(s) {empty}")
    return mask.expand(batch, channels, height, width)


def signal_to_background_ratio(
    image: Tensor, vessel_mask: Tensor, background_mask: Tensor, min_background: float = 1 / 65535
) -> Tensor:
    """Signal-to-background ratio (SBR) of vessels: mean signal on the vessels over mean signal beside them.

    ``SBR = mean(image[vessel_mask]) / max(mean(image[background_mask]), min_background)`` per image, over all
    channels, on raw intensities (no offset subtracted), so a camera's dark level counts as background.

    Where it comes from: Ma et al., "Deep learning for in vivo near-infrared imaging", PNAS 118(1) e2021446118
    (2021), doi 10.1073/pnas.2021446118, score NIR-I/IIa, translated and NIR-IIb images by their SBR (e.g. ">100"
    for ICG lymph-node imaging after translation, abstract). The Dai group measures vessel SBR on cross-sectional
    intensity profiles drawn across a vessel: the profile's peak (the vessel) divided by the level of the tissue
    beside the vessel (the background). The library's stored copies held only the abstract of Ma et al. (and of
    their patent application US 2022/0084201) and the authors' code (github.com/zhuoranzma/Deep-learning-for-in-
    vivo-near-infrared-imaging) has no SBR code, so that per-profile reading is the group's usual practice as
    we know it, not a formula quoted from the paper.

    With known masks, the mask form that matches the profile definition is: ``vessel_mask`` = the vessel cores
    (where each cross-sectional profile peaks; ``NIRPhantomDataModule`` marks pixels within half a radius of a
    centre line), ``background_mask`` = a band of tissue *adjacent* to the vessels (the phantom's: 3 to 11 pixels
    from the nearest vessel edge), not the far field. Averaging the cores over every cross-section replaces the
    hand-picked profiles; adjacency makes scattered light around a vessel count against it, as it does in a
    profile, so a blurry NIR-I/IIa image scores lower than the NIR-IIb image of the same scene.

    Args:
        image: ``(B, C, H, W)`` float tensor in [0, 1] (raw intensities scaled to [0, 1], e.g. 16-bit / 65535).
        vessel_mask: bool ``(B, 1, H, W)`` or ``(B, C, H, W)``: the vessel pixels (cores), at least one per image.
        background_mask: bool, same shape rules: the adjacent-background pixels, at least one per image.
        min_background: floor of the background mean (default one 16-bit level, 1/65535) so an all-black
            background gives a large finite ratio instead of inf.

    Returns:
        ``(B,)`` float32 SBR.
    """
    _check_images("signal_to_background_ratio: image", image)
    vessel = _check_mask("vessel_mask", vessel_mask, image).double()  # (B, C, H, W)
    background = _check_mask("background_mask", background_mask, image).double()
    if not min_background > 0:
        raise UserInputError(f"signal_to_background_ratio: min_background must be > 0, got {min_background}")
    values = image.double()
    signal = (values * vessel).sum(dim=(1, 2, 3)) / vessel.sum(dim=(1, 2, 3))  # (B,)
    level = (values * background).sum(dim=(1, 2, 3)) / background.sum(dim=(1, 2, 3))  # (B,)
    return (signal / level.clamp_min(min_background)).float()
