"""Near-infrared vessel phantom: NIR-I/IIa (blurry) and NIR-IIb (sharp) 16-bit images of one scene, no download.

The use case is Ma et al., "Deep learning for in vivo near-infrared imaging", PNAS 118(1) e2021446118 (2021):
translate a fluorescence image taken in the 900-1300 nm window (NIR-I/IIa; e.g. ICG, strong tissue scattering) into
one resembling a 1500-1700 nm (NIR-IIb) image (little scattering), with CycleGAN on unpaired wide-field images and
pix2pix on paired light-sheet images. Real data cannot be downloaded here, so this module renders the physics:

1. **Scene** (per image): curvilinear vessels (smooth random curves with branches) of varied radius and dye
   concentration. A vessel is a dye-filled tube seen from above, so its projected signal across the tube is
   proportional to the path length through it, ``c * sqrt(r^2 - d^2)`` at distance d from its centre line;
   crossing vessels add. Rendered at 2x and averaged down (pixel integration).
2. **NIR-IIb (B, sharp)**: the scene through a narrow Gaussian optical PSF plus a low, smooth tissue
   autofluorescence background.
3. **NIR-I/IIa (A, blurry)**: the *same* scene through a tissue-scattering PSF with a broad tail,
   ``(1 - f) * Gaussian(core_sigma) + f * exp(-rho / tail_length)`` (normalised; the exponential tail is the
   diffusion-theory fall-off of light scattered out of a shallow source), plus a raised diffuse background.
   The scene is rendered on a canvas larger than the image, so light scattered in from vessels outside the
   field of view is there too; the tail is truncated at 4 tail lengths and renormalised.
4. **Camera** (both): photo-electrons ~ Poisson(expected), plus Gaussian read noise (electrons rms), times a
   gain (ADU per electron), plus a dark offset, rounded and clipped to 16-bit ADC levels 0..65535.

Batches are dicts: ``"A"`` / ``"B"`` float32 ``(B, 1, H, W)`` in [-1, 1] (16-bit level k maps to
``k / 65535 * 2 - 1``), ``"name"`` list of ``"<split>_<index:05d>.png"``, ``"bit_depth"`` int64 ``(B,)`` = 16,
and ``"vessel_mask"`` / ``"background_mask"`` bool ``(B, 1, H, W)`` of the scene that ``B`` should show for
``A`` (the SBR masks of ``lightning_gans.metrics.signal_to_background_ratio``): vessel cores (pixels within half
a radius of a centre line, at least 0.5 px) and the adjacent background (``BACKGROUND_GAP`` to
``BACKGROUND_GAP + BACKGROUND_WIDTH`` pixels from the nearest vessel edge).

Every image is a pure function of ``(seed, split, index)`` (NumPy ``SeedSequence`` with that spawn key), so the
validation set is fixed, training is reproducible, and DataLoader workers agree with the main process.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch
from lightning.pytorch import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from datamodules._common import check_non_negative, check_positive, check_train_size, eval_loader, train_loader
from lightning_gans.errors import UserInputError
from lightning_gans.images import save_image, to_unit_range
from lightning_gans.metrics import psnr, signal_to_background_ratio, ssim

__all__ = ["NIRPhantomDataModule", "PhantomPhysics", "render_phantom", "write_phantom_dataset"]

MAX_LEVEL = 65535  # 16-bit ADC
OVERSAMPLE = 2  # the scene is drawn at 2x and averaged down
POLYLINE_SHIFT = 4  # cv2.polylines fixed-point bits: centre lines drawn to 1/16 of a (2x) pixel
TAIL_SUPPORT = 4.0  # scattering tail truncated at this many tail lengths (renormalised)
BACKGROUND_GAP = 3.0  # adjacent-background band for SBR: from this many pixels beyond the nearest vessel edge ...
BACKGROUND_WIDTH = 8.0  # ... to this many pixels further out
CORE_FRACTION = 0.5  # vessel-core mask: within this fraction of the radius of a centre line ...
MIN_CORE_PX = 0.5  # ... or within half a pixel, so thin vessels keep their centre line
CURVE_MEMORY = 60  # terms of the AR(1) turning-rate filter
MAX_REDRAWS = 20  # scenes drawn before giving up on finding both SBR masks
SPLITS = {"train": 0, "val": 1}  # spawn-key codes
STREAM_SCENE_A, STREAM_SCENE_B, STREAM_NOISE_A, STREAM_NOISE_B = 0, 1, 2, 3


@dataclass(frozen=True)
class PhantomPhysics:
    """Physical parameters of the phantom; lengths in output pixels, signals in photo-electrons unless noted.

    Args:
        peak_photons: mean photo-electrons at the centre of the widest, most concentrated vessel in NIR-IIb.
        gain: camera gain, ADU per photo-electron.
        read_noise: camera read noise, electrons rms (scientific InGaAs cameras: tens to hundreds).
        dark_offset: camera bias added to every pixel, ADU.
        background_b: NIR-IIb diffuse background (autofluorescence), as a fraction of ``peak_photons``.
        background_a: NIR-I/IIa diffuse background, as a fraction of ``peak_photons`` (more autofluorescence).
        psf_sigma_b: standard deviation of the NIR-IIb optical PSF (Gaussian), pixels.
        scatter_core_sigma: standard deviation of the Gaussian core of the NIR-I/IIa scattering PSF, pixels.
        scatter_tail_fraction: fraction of the NIR-I/IIa light in the exponential tail of the PSF (0..1).
        scatter_tail_length: decay length of the exponential tail, pixels.
        vessel_radius: (min, max) vessel radius in pixels; main vessels are drawn log-uniformly in this range.
        num_vessels: (min, max) number of main vessels per scene (each gets 0-2 thinner branches).
    """

    peak_photons: float = 5000.0
    gain: float = 4.0
    read_noise: float = 15.0
    dark_offset: float = 400.0
    background_b: float = 0.02
    background_a: float = 0.15
    psf_sigma_b: float = 0.5
    scatter_core_sigma: float = 1.5
    scatter_tail_fraction: float = 0.6
    scatter_tail_length: float = 8.0
    vessel_radius: tuple[float, float] = (0.6, 3.0)
    num_vessels: tuple[int, int] = (3, 6)

    def check(self) -> None:
        """Raise a one-line UserInputError naming the first unusable parameter."""
        for name in ("peak_photons", "gain", "psf_sigma_b", "scatter_core_sigma", "scatter_tail_length"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise UserInputError(f"{name} must be a finite number > 0, got {value!r}")
        for name in ("read_noise", "dark_offset", "background_b", "background_a"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise UserInputError(f"{name} must be a finite number >= 0, got {value!r}")
        if not 0 <= self.scatter_tail_fraction <= 1:
            raise UserInputError(f"scatter_tail_fraction must be in [0, 1], got {self.scatter_tail_fraction!r}")
        for name in ("vessel_radius", "num_vessels"):
            value = getattr(self, name)
            if len(value) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
                raise UserInputError(f"{name} must be two numbers (min, max), got {value!r}")
        low, high = self.vessel_radius
        if not 0.3 <= low <= high <= 20:
            raise UserInputError(
                f"vessel_radius must be (min, max) with 0.3 <= min <= max <= 20 pixels, got {self.vessel_radius!r}"
            )
        low, high = self.num_vessels
        if not (isinstance(low, int) and isinstance(high, int) and 1 <= low <= high <= 50):
            raise UserInputError(
                f"num_vessels must be integers (min, max) with 1 <= min <= max <= 50, got {self.num_vessels!r}"
            )

    @property
    def margin(self) -> int:
        """Canvas margin around the image: the reach of the truncated scattering tail, in pixels."""
        return math.ceil(max(TAIL_SUPPORT * self.scatter_tail_length, 3 * self.scatter_core_sigma, 4.0))


def item_rng(seed: int, split: str, index: int, stream: int) -> np.random.Generator:
    """The random stream of one image: a pure function of (seed, split, index, stream).

    Args:
        seed: data seed (>= 0).
        split: "train" or "val".
        index: image index in the split.
        stream: which quantity (scene of A, scene of B, noise of A, noise of B).
    """
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(SPLITS[split], index, stream)))


# ------------------------------------------------------------------------------------------------ scene


def _vessel_paths(
    physics: PhantomPhysics, canvas: int, rng: np.random.Generator
) -> list[tuple[np.ndarray, float, float]]:
    """Random smooth vessel centre lines: [(points (N, 2) as (x, y) in canvas pixels, radius, concentration)].

    Main vessels start inside the image (the canvas less its margin), so every scene shows vessels; they run on
    into the margin, where their scattered light still reaches the image.
    """
    low_r, high_r = physics.vessel_radius
    m = physics.margin
    vessels = []
    for _ in range(int(rng.integers(physics.num_vessels[0], physics.num_vessels[1] + 1))):
        radius = float(math.exp(rng.uniform(math.log(low_r), math.log(high_r))))
        start = rng.uniform(m, canvas - m, 2)
        heading = rng.uniform(0, 2 * math.pi)
        length = rng.uniform(0.6, 1.4) * canvas
        path = _random_curve(start, heading, length, rng)
        vessels.append((path, radius, float(rng.uniform(0.5, 1.0))))
        for _ in range(int(rng.integers(0, 3))):  # thinner branches leaving at 20-70 degrees
            at = int(rng.integers(len(path) // 5, max(len(path) // 5 + 1, 4 * len(path) // 5)))
            step = path[min(at + 1, len(path) - 1)] - path[max(at - 1, 0)]
            angle = math.atan2(step[1], step[0]) + rng.choice([-1, 1]) * math.radians(rng.uniform(20, 70))
            branch = _random_curve(path[at], angle, rng.uniform(0.2, 0.6) * canvas, rng)
            vessels.append((branch, max(low_r, radius * rng.uniform(0.4, 0.8)), float(rng.uniform(0.5, 1.0))))
    return vessels


def _random_curve(start: np.ndarray, heading: float, length: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth random curve from ``start``: unit steps whose turning rate is an AR(1) process (smooth bends)."""
    steps = max(2, int(length))
    kicks = rng.normal(0, 0.015, steps)  # radians per step; with the AR(1) memory, bends of radius mostly > 15 px
    memory = 0.9 ** np.arange(CURVE_MEMORY)  # AR(1) impulse response, truncated where 0.9^k < 0.2 %
    curvature = np.convolve(kicks, memory)[:steps]  # (steps,)
    angles = heading + np.cumsum(curvature)  # (steps,)
    offsets = np.cumsum(np.stack([np.cos(angles), np.sin(angles)], axis=1), axis=0)  # (steps, 2)
    return np.vstack([start, start + offsets])  # (steps + 1, 2)


def _render_scene(
    physics: PhantomPhysics, canvas: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dye signal and per-pixel distances of one scene on the canvas.

    Each vessel is drawn in its own bounding box (padded by the reach of the masks), where one exact distance
    transform of its 2x centre line gives its tube profile and its distances at the pixel centres.

    Returns:
        ``(signal, core_distance, edge_distance)``, float32 ``(canvas, canvas)`` each: ``signal`` in units of
        ``peak_photons`` (1 = centre of the widest possible vessel at full concentration), ``core_distance`` the
        smallest ``d - max(CORE_FRACTION * r, MIN_CORE_PX)`` over vessels (<= 0 inside a core), ``edge_distance``
        the smallest ``d - r`` (<= 0 inside a vessel); d = distance to a centre line, r = that vessel's radius;
        inf beyond the padded boxes.
    """
    signal = np.zeros((canvas * OVERSAMPLE, canvas * OVERSAMPLE), np.float32)
    core = np.full((canvas, canvas), np.inf, np.float32)
    edge = np.full((canvas, canvas), np.inf, np.float32)
    max_radius = physics.vessel_radius[1]
    for path, radius, concentration in _vessel_paths(physics, canvas, rng):
        pad = radius + BACKGROUND_GAP + BACKGROUND_WIDTH + 2  # beyond this no signal and no mask depends on it
        x0, y0 = np.clip(np.floor(path.min(axis=0) - pad), 0, canvas).astype(int)
        x1, y1 = np.clip(np.ceil(path.max(axis=0) + pad), 0, canvas).astype(int)
        if x1 <= x0 or y1 <= y0:
            continue
        box = (slice(y0, y1), slice(x0, x1))
        box_2x = (slice(y0 * OVERSAMPLE, y1 * OVERSAMPLE), slice(x0 * OVERSAMPLE, x1 * OVERSAMPLE))
        line = np.full(((y1 - y0) * OVERSAMPLE, (x1 - x0) * OVERSAMPLE), 255, np.uint8)
        # pixel i spans [i, i + 1); cv2 puts integer coordinate j at the centre of 2x pixel j, i.e. at (j + 0.5) / 2
        local = (path - [x0, y0]) * OVERSAMPLE - 0.5
        points = np.round(local * (1 << POLYLINE_SHIFT)).astype(np.int32)
        cv2.polylines(line, [points], isClosed=False, color=0, thickness=1, shift=POLYLINE_SHIFT)
        distance = cv2.distanceTransform(line, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) / OVERSAMPLE  # (2h, 2w), px
        chord = np.sqrt(np.clip(radius**2 - distance**2, 0, None))  # half the path length through the tube
        signal[box_2x] += (concentration / max_radius) * chord
        at_pixels = cv2.resize(distance, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)  # at pixel centres
        core[box] = np.minimum(core[box], at_pixels - max(CORE_FRACTION * radius, MIN_CORE_PX))
        edge[box] = np.minimum(edge[box], at_pixels - radius)
    signal = cv2.resize(signal, (canvas, canvas), interpolation=cv2.INTER_AREA)  # pixel integration
    return signal, core, edge


def _smooth_field(canvas: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth, positive tissue-background pattern with mean about 1 (a 4x4 random grid, bicubic-upsampled)."""
    coarse = rng.uniform(0.6, 1.4, (4, 4)).astype(np.float32)
    return np.clip(cv2.resize(coarse, (canvas, canvas), interpolation=cv2.INTER_CUBIC), 0.3, None)


def scattering_kernel(physics: PhantomPhysics) -> np.ndarray:
    """The NIR-I/IIa tissue PSF: Gaussian core plus exponential tail, truncated at ``margin`` and summing to 1.

    Args:
        physics: the phantom's parameters.

    Returns:
        float64 ``(2 m + 1, 2 m + 1)`` kernel, m = ``physics.margin``.
    """
    m = physics.margin
    y, x = np.mgrid[-m : m + 1, -m : m + 1]
    rho = np.hypot(x, y)
    core = np.exp(-0.5 * (rho / physics.scatter_core_sigma) ** 2)
    tail = np.exp(-rho / physics.scatter_tail_length) * (rho <= m)
    f = physics.scatter_tail_fraction
    return (1 - f) * core / core.sum() + f * tail / tail.sum()


def _camera(expected_electrons: np.ndarray, physics: PhantomPhysics, rng: np.random.Generator) -> np.ndarray:
    """Poisson shot noise, Gaussian read noise, gain, offset, 16-bit quantisation: uint16 ADU levels."""
    electrons = rng.poisson(np.clip(expected_electrons, 0, None)).astype(np.float64)
    electrons += rng.normal(0.0, physics.read_noise, electrons.shape)
    adu = physics.dark_offset + physics.gain * electrons
    return np.clip(np.round(adu), 0, MAX_LEVEL).astype(np.uint16)


class _Renderer:
    """Renders phantoms of one size and physics, keeping the scattering kernel's FFT."""

    def __init__(self, physics: PhantomPhysics, image_size: int) -> None:
        self.physics = physics
        self.image_size = image_size
        self.canvas = image_size + 2 * physics.margin
        kernel = scattering_kernel(physics)  # (2m + 1, 2m + 1)
        padded = np.zeros((self.canvas, self.canvas))
        m = physics.margin
        padded[: 2 * m + 1, : 2 * m + 1] = kernel
        padded = np.roll(padded, (-m, -m), axis=(0, 1))  # kernel centre at (0, 0) for circular convolution
        # circular convolution is exact on the central image: the kernel reaches at most m <= margin pixels
        self.kernel_fft = np.fft.rfft2(padded)

    def scene(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Expected photo-electrons of both domains for one random scene, and its SBR masks (cropped to the image)."""
        p = self.physics
        m, s = p.margin, self.image_size
        crop = (slice(m, m + s), slice(m, m + s))
        for _ in range(MAX_REDRAWS):  # SBR needs both masks; a scene without them is drawn again
            signal, core, edge = _render_scene(p, self.canvas, rng)  # (canvas, canvas)
            vessel_mask = core[crop] <= 0  # (S, S)
            background_mask = (edge[crop] >= BACKGROUND_GAP) & (edge[crop] <= BACKGROUND_GAP + BACKGROUND_WIDTH)
            if vessel_mask.any() and background_mask.any():
                break
        else:
            raise UserInputError(
                f"the phantom's vessels leave no background {BACKGROUND_GAP:g}-{BACKGROUND_GAP + BACKGROUND_WIDTH:g} "
                f"px from them in {s}x{s} images; lower num_vessels or vessel_radius, or raise image_size"
            )
        field = _smooth_field(self.canvas, rng)
        photons = p.peak_photons * signal
        sharp = cv2.GaussianBlur(photons, (0, 0), p.psf_sigma_b, borderType=cv2.BORDER_REFLECT)
        scattered = np.fft.irfft2(np.fft.rfft2(photons) * self.kernel_fft, s=photons.shape)
        return {
            "expected_b": sharp[crop] + p.background_b * p.peak_photons * field[crop],
            "expected_a": scattered[crop] + p.background_a * p.peak_photons * field[crop],
            "vessel_mask": vessel_mask,
            "background_mask": background_mask,
        }

    def camera(self, expected: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One camera exposure of ``expected`` photo-electrons: uint16 ADU levels."""
        return _camera(expected, self.physics, rng)


def render_phantom(
    physics: PhantomPhysics,
    image_size: int,
    scene_rng: np.random.Generator,
    noise_rng_a: np.random.Generator,
    noise_rng_b: np.random.Generator,
) -> dict[str, np.ndarray]:
    """One phantom pair of the same scene, as the data module serves in paired mode (before scaling to [-1, 1]).

    Args:
        physics: the phantom's parameters.
        image_size: output side in pixels.
        scene_rng: random stream of the scene (vessels, background pattern).
        noise_rng_a: random stream of the NIR-I/IIa camera noise.
        noise_rng_b: random stream of the NIR-IIb camera noise.

    Returns:
        dict with ``"a"``, ``"b"``: uint16 ``(H, W)`` ADU levels (blurry NIR-I/IIa, sharp NIR-IIb);
        ``"expected_a"``, ``"expected_b"``: float ``(H, W)`` noise-free photo-electrons; ``"vessel_mask"``,
        ``"background_mask"``: bool ``(H, W)``.
    """
    renderer = _Renderer(physics, image_size)
    scene = renderer.scene(scene_rng)
    scene["a"] = renderer.camera(scene["expected_a"], noise_rng_a)
    scene["b"] = renderer.camera(scene["expected_b"], noise_rng_b)
    return scene


def levels_to_model_range(levels: np.ndarray) -> Tensor:
    """uint16 ``(H, W)`` ADU levels -> float32 ``(1, H, W)`` in [-1, 1]: ``k / 65535 * 2 - 1``.

    Args:
        levels: uint16 image.
    """
    return torch.from_numpy(levels.astype(np.float32) / MAX_LEVEL * 2 - 1).unsqueeze(0)


# ------------------------------------------------------------------------------------------------ data


class NIRPhantomDataset(Dataset[dict]):
    """Phantom images of one split, rendered on demand (a few ms each) and identical every time.

    Args:
        physics: the phantom's parameters.
        image_size: side of the images in pixels.
        split: "train" or "val".
        length: number of images.
        seed: data seed.
        paired: True: A and B show the same scene; False: B shows a different scene (the unpaired setting).
    """

    def __init__(
        self, physics: PhantomPhysics, image_size: int, split: str, length: int, seed: int, paired: bool
    ) -> None:
        self.renderer = _Renderer(physics, image_size)
        self.split = split
        self.length = length
        self.seed = seed
        self.paired = paired

    def __len__(self) -> int:
        return self.length

    def render(self, index: int) -> dict[str, np.ndarray]:
        """Image ``index`` as uint16 levels ``"a"``, ``"b"`` and bool masks (of the scene of A), each ``(H, W)``."""
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} {self.split} images")
        rng = lambda stream: item_rng(self.seed, self.split, index, stream)  # noqa: E731
        scene = self.renderer.scene(rng(STREAM_SCENE_A))
        scene_b = scene if self.paired else self.renderer.scene(rng(STREAM_SCENE_B))
        return {
            "a": self.renderer.camera(scene["expected_a"], rng(STREAM_NOISE_A)),
            "b": self.renderer.camera(scene_b["expected_b"], rng(STREAM_NOISE_B)),
            "vessel_mask": scene["vessel_mask"],
            "background_mask": scene["background_mask"],
        }

    def __getitem__(self, index: int) -> dict:
        item = self.render(index)
        return {
            "A": levels_to_model_range(item["a"]),  # (1, H, W) in [-1, 1]
            "B": levels_to_model_range(item["b"]),  # (1, H, W) in [-1, 1]
            "name": f"{self.split}_{index:05d}.png",
            "bit_depth": torch.tensor(16, dtype=torch.int64),
            "vessel_mask": torch.from_numpy(item["vessel_mask"]).unsqueeze(0),  # (1, H, W) bool
            "background_mask": torch.from_numpy(item["background_mask"]).unsqueeze(0),  # (1, H, W) bool
        }


def _physics(**kwargs) -> PhantomPhysics:
    physics = PhantomPhysics(
        **{k: tuple(v) if k in ("vessel_radius", "num_vessels") else v for k, v in kwargs.items()}
    )
    physics.check()
    return physics


class NIRPhantomDataModule(LightningDataModule):
    """Synthetic NIR vessel images for NIR-I/IIa -> NIR-IIb translation (Ma et al., PNAS 2021): A blurry, B sharp.

    See the module docstring for the physics. ``mode="paired"`` serves A and B of the same scene (pix2pix);
    ``mode="unpaired"`` serves, for training, A and B of *different* scenes (CycleGAN), while validation and test
    always serve paired scenes, because PSNR, SSIM and SBR need the true sharp image. Masks are those of A's scene
    (what a translated A should show). Images are rendered on demand in ``__getitem__`` and are pure functions of
    ``(seed, split, index)``.

    Batch: dict with ``"A"``, ``"B"`` float32 ``(B, 1, H, W)`` in [-1, 1] (16-bit levels, ``k / 65535 * 2 - 1``),
    ``"name"`` list[str] (``"val_00003.png"``), ``"bit_depth"`` int64 ``(B,)`` = 16, ``"vessel_mask"``,
    ``"background_mask"`` bool ``(B, 1, H, W)``. After construction ``input_channels = output_channels = 1`` and
    ``bit_depth = 16``. Scoring: ``score_translation(fake_b, batch)``.

    Args:
        mode: "paired" (same scene in A and B, for pix2pix) or "unpaired" (different scenes, for CycleGAN).
        image_size: side of the square images in pixels (>= 32).
        num_train: number of training images.
        num_val: number of validation images; 0 disables validation.
        batch_size: images per batch (the translation papers use 1).
        num_workers: DataLoader worker processes (0 renders in the main process).
        seed: data seed; the same seed gives the same images.
        peak_photons: mean photo-electrons at the centre of the widest, most concentrated vessel in NIR-IIb.
        gain: camera gain in ADU per photo-electron.
        read_noise: camera read noise in electrons rms.
        dark_offset: camera bias in ADU.
        background_b: NIR-IIb diffuse background as a fraction of ``peak_photons``.
        background_a: NIR-I/IIa diffuse background as a fraction of ``peak_photons``.
        psf_sigma_b: standard deviation of the NIR-IIb Gaussian optical PSF, pixels.
        scatter_core_sigma: standard deviation of the Gaussian core of the NIR-I/IIa scattering PSF, pixels.
        scatter_tail_fraction: fraction of NIR-I/IIa light in the PSF's exponential tail (0..1).
        scatter_tail_length: decay length of the exponential tail, pixels.
        vessel_radius: (min, max) radius of the main vessels in pixels (log-uniform); branches are thinner.
        num_vessels: (min, max) main vessels per scene.
    """

    aligned_validation = True  # validation items are always paired scenes, in both modes

    def __init__(
        self,
        mode: Literal["paired", "unpaired"] = "paired",
        image_size: int = 128,
        num_train: int = 1000,
        num_val: int = 50,
        batch_size: int = 1,
        num_workers: int = 0,
        seed: int = 0,
        peak_photons: float = 5000.0,
        gain: float = 4.0,
        read_noise: float = 15.0,
        dark_offset: float = 400.0,
        background_b: float = 0.02,
        background_a: float = 0.15,
        psf_sigma_b: float = 0.5,
        scatter_core_sigma: float = 1.5,
        scatter_tail_fraction: float = 0.6,
        scatter_tail_length: float = 8.0,
        vessel_radius: tuple[float, float] = (0.6, 3.0),
        num_vessels: tuple[int, int] = (3, 6),
    ) -> None:
        super().__init__()
        if mode not in ("paired", "unpaired"):
            raise UserInputError(f"mode must be 'paired' or 'unpaired', got {mode!r}")
        check_positive("image_size", image_size)
        if image_size < 32:
            raise UserInputError(f"image_size must be >= 32 pixels, got {image_size}")
        check_positive("num_train", num_train)
        check_non_negative("num_val", num_val)
        check_positive("batch_size", batch_size)
        check_non_negative("num_workers", num_workers)
        check_non_negative("seed", seed)
        self.physics = _physics(
            peak_photons=peak_photons, gain=gain, read_noise=read_noise, dark_offset=dark_offset,
            background_b=background_b, background_a=background_a, psf_sigma_b=psf_sigma_b,
            scatter_core_sigma=scatter_core_sigma, scatter_tail_fraction=scatter_tail_fraction,
            scatter_tail_length=scatter_tail_length, vessel_radius=vessel_radius, num_vessels=num_vessels,
        )
        self.mode = mode
        self.image_size = image_size
        self.num_train = num_train
        self.num_val = num_val
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed

        self.input_channels: int = 1
        self.output_channels: int = 1
        self.bit_depth: int = 16
        self.train_set: NIRPhantomDataset | None = None
        self.val_set: NIRPhantomDataset | None = None

    def setup(self, stage: str | None = None) -> None:
        """Build the two splits (nothing is rendered until an image is asked for).

        Args:
            stage: Lightning's stage; the same data serves all.
        """
        if self.train_set is not None:
            return
        check_train_size(type(self).__name__, self.num_train, self.batch_size)
        make = lambda split, n, paired: NIRPhantomDataset(  # noqa: E731
            self.physics, self.image_size, split, n, self.seed, paired
        )
        self.train_set = make("train", self.num_train, self.mode == "paired")
        self.val_set = make("val", self.num_val, True)  # metrics need the true sharp image

    def train_dataloader(self) -> DataLoader:
        """Shuffled batches of dicts (see the class docstring), dropping an incomplete last batch."""
        return train_loader(self._require(self.train_set), self.batch_size, self.num_workers)

    def val_dataloader(self) -> DataLoader | list:
        """Paired validation batches in a fixed order, or ``[]`` (no validation) when ``num_val=0``."""
        if self.num_val == 0:
            return []
        return eval_loader(self._require(self.val_set), self.batch_size, self.num_workers)

    def test_dataloader(self) -> DataLoader | list:
        """The validation set again: ``lightning-gans test`` reports its metrics under ``test/``."""
        return self.val_dataloader()

    def predict_dataloader(self) -> DataLoader | list:
        """The validation batches: prediction translates ``batch["A"]``."""
        return self.val_dataloader()

    @staticmethod
    def score_translation(fake_b: Tensor, batch: dict) -> dict[str, Tensor]:
        """PSNR, SSIM (to ``batch["B"]``) and SBR (with the batch's masks) of translated images.

        Call it on ``batch["A"]`` too for the untranslated baseline, and on ``batch["B"]`` for the sharp
        image's own SBR. Meaningful on paired batches (validation, or ``mode="paired"``).

        Args:
            fake_b: ``(B, 1, H, W)`` images in [-1, 1] (a generator's output; clamped to the range).
            batch: a batch from this module.

        Returns:
            ``{"psnr": (B,), "ssim": (B,), "sbr": (B,)}`` float32 tensors (dB, unitless, unitless).
        """
        fake = to_unit_range(fake_b.detach())  # (B, 1, H, W) in [0, 1]
        real = to_unit_range(batch["B"])
        return {
            "psnr": psnr(fake, real),
            "ssim": ssim(fake, real),
            "sbr": signal_to_background_ratio(fake, batch["vessel_mask"], batch["background_mask"]),
        }

    def _require(self, dataset: NIRPhantomDataset | None) -> NIRPhantomDataset:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}: call setup() before asking for a dataloader")
        return dataset


# ------------------------------------------------------------------------------------------------ files


def write_phantom_dataset(
    root: str | Path,
    num_train: int,
    num_val: int,
    layout: Literal["folders", "unpaired"] = "folders",
    image_size: int = 128,
    seed: int = 0,
    **physics: float | tuple,
) -> Path:
    """Write the phantom as real 16-bit greyscale PNG files, for exercising the folder data modules.

    Layouts (file names ``<split>_<index:05d>.png``, the same names the data module serves):

    - ``"folders"``: ``root/{train,val}/{A,B}/NAME`` with A and B of the same scene (paired, matched by name;
      the layout of Ma et al.'s code, ``datasets/NIRI_to_NIRII/{train,val}/{A,B}``).
    - ``"unpaired"``: ``root/{trainA,trainB,testA,testB}/NAME`` (CycleGAN's layout, validation in ``test*`` as
      the reference and ``UnpairedImagesDataModule`` read it): trainA and trainB show different scenes; testA and
      testB hold the validation split, the same scenes in both (metrics need the truth).

    Both also write the SBR masks of A's scene as 8-bit PNGs (0 or 255) to ``root/masks/{train,val}/
    {vessel,background}/NAME``. Images are identical to ``NIRPhantomDataModule`` with the same seed and physics.

    Args:
        root: output folder; must not exist yet or be empty.
        num_train: number of training images (>= 1).
        num_val: number of validation images (>= 0).
        layout: "folders" (paired) or "unpaired".
        image_size: side of the images in pixels (>= 32).
        seed: data seed.
        **physics: any ``PhantomPhysics`` field (e.g. ``scatter_tail_length=12.0``).

    Returns:
        ``root`` as a Path.
    """
    if layout not in ("folders", "unpaired"):
        raise UserInputError(f"layout must be 'folders' or 'unpaired', got {layout!r}")
    unknown = sorted(set(physics) - set(PhantomPhysics.__dataclass_fields__))
    if unknown:
        raise UserInputError(f"write_phantom_dataset: unknown physics parameter(s) {unknown}; see PhantomPhysics")
    module = NIRPhantomDataModule(
        mode="paired" if layout == "folders" else "unpaired",
        image_size=image_size, num_train=num_train, num_val=num_val, seed=seed, **physics,
    )  # checks every argument before anything is written
    root = Path(root)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise UserInputError(f"write_phantom_dataset: {root} exists and is not an empty folder; choose a new folder")
    module.setup()
    for split, dataset in (("train", module.train_set), ("val", module.val_set)):
        if layout == "folders":
            folder_a, folder_b = root / split / "A", root / split / "B"
        else:
            prefix = {"train": "train", "val": "test"}[split]
            folder_a, folder_b = root / f"{prefix}A", root / f"{prefix}B"
        for index in range(len(dataset)):
            item = dataset.render(index)
            name = f"{split}_{index:05d}.png"
            save_image(torch.from_numpy(item["a"].astype(np.float32) / MAX_LEVEL)[None], folder_a / name, bit_depth=16)
            save_image(torch.from_numpy(item["b"].astype(np.float32) / MAX_LEVEL)[None], folder_b / name, bit_depth=16)
            for kind in ("vessel", "background"):
                mask = torch.from_numpy(item[f"{kind}_mask"].astype(np.float32))[None]  # (1, H, W) in {0, 1}
                save_image(mask, root / "masks" / split / kind / name, bit_depth=8)
    return root


def main(argv: list[str] | None = None) -> int:
    """``python -m datamodules.write_nir_phantom --out DIR``: write the phantom as 16-bit PNG folders.

    Args:
        argv: command-line arguments (default ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(description=write_phantom_dataset.__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output folder (new or empty)")
    parser.add_argument("--num-train", type=int, default=200, help="training images (default 200)")
    parser.add_argument("--num-val", type=int, default=20, help="validation images (default 20)")
    parser.add_argument("--layout", choices=["folders", "unpaired"], default="folders", help="folder layout")
    parser.add_argument("--image-size", type=int, default=128, help="image side in pixels (default 128)")
    parser.add_argument("--seed", type=int, default=0, help="data seed (default 0)")
    args = parser.parse_args(argv)
    try:
        root = write_phantom_dataset(args.out, args.num_train, args.num_val, args.layout, args.image_size, args.seed)
    except UserInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.num_train} + {args.num_val} phantom pairs ({args.layout}) to {root}")
    return 0

