"""Rendered digits: an MNIST-like data set drawn from fonts, generated offline in seconds.

Each digit 0-9 is drawn once per font and stroke width with Pillow (white on black, scaled into a 20/28 box and
centred by its centre of mass, as MNIST was made), then every image gets its own random affine jitter (rotation,
anisotropic scale, shear, translation), is downsized with antialiasing to ``image_size`` and gets a random Gaussian
blur, in batched tensor ops (kornia). Fonts: Pillow's built-in scalable font (Aileron, via FreeType), any fonts in
``data_dir``, and the fonts installed in the standard system folders (none are required).
"""

from lightning_gans.errors import UserInputError  # noqa: I001  (a ValueError the CLI reports in one line)
import math
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d
from kornia.geometry.transform import get_affine_matrix2d, warp_affine
from lightning.pytorch import LightningDataModule
from PIL import Image, ImageDraw, ImageFont, features
from torch import Tensor
from torch.utils.data import DataLoader

from datamodules._common import (
    UInt8ImageDataset,
    check_non_negative,
    check_positive,
    check_train_size,
    eval_loader,
    index_loader,
    seeded_generators,
    train_loader,
)

SYSTEM_FONT_DIRS: tuple[str, ...] = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.fonts",
    "~/.local/share/fonts",
    "/Library/Fonts",
    "/System/Library/Fonts",
    "C:/Windows/Fonts",
)
FONT_SUFFIXES: tuple[str, ...] = (".ttf", ".otf", ".ttc")
MAX_SYSTEM_FONTS = 256  # evenly spaced over the sorted paths; bounds setup time on machines with thousands of fonts
PILLOW_FONT_NAME = "pillow-default (Aileron Regular)"

# Rendering and jitter ranges, in pixels of the 28-pixel MNIST frame (scaled with image_size).
DIGIT_BOX = 20 / 28  # MNIST fits each digit in a 20 x 20 box of the 28 x 28 image
STROKE_WIDTHS = (0, 1, 2)  # PIL stroke_width in pixels of a 56-pixel canvas (scaled with larger canvases)
ROTATION_DEG = 12.0  # uniform in [-12, 12] degrees
SCALE_RANGE = (0.8, 1.0)  # isotropic scale
ASPECT_RANGE = (0.75, 1.1)  # extra horizontal scale: narrow to wide handwriting
SHEAR_RANGE_RAD = (-0.15, 0.35)  # x-shear; positive slants the top to the right, as handwriting mostly does
TRANSLATE_PX = 1.0  # uniform in [-1, 1] pixels along each axis
BLUR_SIGMA_PX = (0.1, 0.35)  # Gaussian blur standard deviation
INK_GAIN = (1.0, 1.5)  # peak-normalised ink is multiplied by this and clipped at 1: saturated stroke cores, like MNIST
CHUNK = 2048  # images processed at once (bounds memory)


def system_font_paths() -> list[Path]:
    """Font files (.ttf, .otf, .ttc) found under ``SYSTEM_FONT_DIRS``, sorted, at most ``MAX_SYSTEM_FONTS``."""
    paths: set[Path] = set()
    for folder in SYSTEM_FONT_DIRS:
        root = Path(folder).expanduser()
        if root.is_dir():
            paths.update(p.resolve() for p in root.rglob("*") if p.suffix.lower() in FONT_SUFFIXES and p.is_file())
    ordered = sorted(paths)
    if len(ordered) > MAX_SYSTEM_FONTS:
        step = len(ordered) / MAX_SYSTEM_FONTS
        ordered = [ordered[int(i * step)] for i in range(MAX_SYSTEM_FONTS)]
    return ordered


def draws_digits(font: ImageFont.FreeTypeFont) -> bool:
    """True when the font draws ten distinct, non-empty digit glyphs (symbol fonts and missing glyphs fail).

    Args:
        font: a loaded FreeType font.
    """
    glyphs = []
    for digit in "0123456789":
        mask = font.getmask(digit)
        data = bytes(mask)
        if mask.size[0] == 0 or mask.size[1] == 0 or not any(data):
            return False
        glyphs.append((mask.size, data))
    return len(set(glyphs)) == 10


def render_glyph(font: ImageFont.FreeTypeFont, digit: str, stroke_width: int, canvas: int) -> Tensor:
    """Draw one digit white on black, fit it in a ``DIGIT_BOX`` box and centre its centre of mass (MNIST's recipe).

    Args:
        font: FreeType font loaded at about ``canvas`` pixels.
        digit: the character to draw, "0".."9".
        stroke_width: PIL outline width in pixels (thickens the strokes).
        canvas: side of the square output in pixels.

    Returns:
        float32 ``(canvas, canvas)`` in [0, 1], 1 = ink.
    """
    left, top, right, bottom = font.getbbox(digit, stroke_width=stroke_width)
    glyph = Image.new("L", (right - left, bottom - top), 0)
    ImageDraw.Draw(glyph).text((-left, -top), digit, fill=255, font=font, stroke_width=stroke_width, stroke_fill=255)
    box = DIGIT_BOX * canvas
    scale = box / max(glyph.size)
    width, height = max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale))
    glyph = glyph.resize((width, height), Image.Resampling.LANCZOS)
    ink = torch.from_numpy(np.asarray(glyph, dtype=np.float32) / 255.0)  # (height, width)

    mass = ink.sum().clamp_min(1e-6)
    center_y = float((ink.sum(dim=1) * torch.arange(height)).sum() / mass)
    center_x = float((ink.sum(dim=0) * torch.arange(width)).sum() / mass)
    top_left_y = round((canvas - 1) / 2 - center_y)
    top_left_x = round((canvas - 1) / 2 - center_x)

    image = torch.zeros(canvas, canvas)
    src_y0, src_x0 = max(0, -top_left_y), max(0, -top_left_x)
    dst_y0, dst_x0 = max(0, top_left_y), max(0, top_left_x)
    rows = min(height - src_y0, canvas - dst_y0)
    cols = min(width - src_x0, canvas - dst_x0)
    image[dst_y0 : dst_y0 + rows, dst_x0 : dst_x0 + cols] = ink[src_y0 : src_y0 + rows, src_x0 : src_x0 + cols]
    return image


def render_templates(fonts: list[ImageFont.FreeTypeFont], stroke_widths: list[int], canvas: int) -> Tensor:
    """Every digit in every font and stroke width, drawn once with ``render_glyph``.

    Args:
        fonts: FreeType fonts loaded at about ``canvas`` pixels.
        stroke_widths: PIL stroke widths in pixels.
        canvas: side of each square glyph image in pixels.

    Returns:
        float32 ``(len(fonts), 10, len(stroke_widths), canvas, canvas)`` in [0, 1], indexed [font, digit, stroke].
    """
    templates = torch.zeros(len(fonts), 10, len(stroke_widths), canvas, canvas)
    for f, font in enumerate(fonts):
        for digit in range(10):
            for s, width in enumerate(stroke_widths):
                templates[f, digit, s] = render_glyph(font, str(digit), width, canvas)
    return templates


def _uniform(n: int, bounds: tuple[float, float], generator: torch.Generator) -> Tensor:
    low, high = bounds
    return low + (high - low) * torch.rand(n, generator=generator)


def jitter(templates: Tensor, image_size: int, generator: torch.Generator) -> Tensor:
    """Random affine jitter, antialiased downsizing, blur and ink contrast for a batch of centred glyphs.

    Args:
        templates: float32 ``(N, 1, R, R)`` glyphs in [0, 1] drawn on a canvas of ``R >= image_size`` pixels.
        image_size: output side in pixels.
        generator: CPU random generator for the jitter parameters.

    Returns:
        uint8 ``(N, 1, image_size, image_size)``, 0 = background, 255 = full ink.
    """
    n, canvas = templates.shape[0], templates.shape[-1]
    px = canvas / 28  # canvas pixels per pixel of the 28-pixel MNIST frame
    angle = _uniform(n, (-ROTATION_DEG, ROTATION_DEG), generator)  # (N,) degrees
    scale = _uniform(n, SCALE_RANGE, generator)  # (N,)
    aspect = _uniform(n, ASPECT_RANGE, generator)  # (N,)
    shear = _uniform(n, SHEAR_RANGE_RAD, generator)  # (N,) radians
    translation = _uniform(2 * n, (-TRANSLATE_PX * px, TRANSLATE_PX * px), generator).view(n, 2)  # (N, 2)
    blur_sigma = _uniform(n, BLUR_SIGMA_PX, generator)  # (N,) in 28-frame pixels
    gain = _uniform(n, INK_GAIN, generator)  # (N,)

    center = torch.full((n, 2), (canvas - 1) / 2)  # (N, 2) as (x, y)
    scale_xy = torch.stack([scale * aspect, scale], dim=1)  # (N, 2)
    matrix = get_affine_matrix2d(translation, center, scale_xy, angle, sx=shear)  # (N, 3, 3)
    warped = warp_affine(templates, matrix[:, :2], dsize=(canvas, canvas), align_corners=True)  # (N, 1, R, R)

    small = warped
    if canvas != image_size:
        small = F.interpolate(warped, size=(image_size, image_size), mode="bilinear", antialias=True)  # (N, 1, S, S)
    out_px = image_size / 28  # output pixels per pixel of the 28-pixel MNIST frame
    kernel = 2 * math.ceil(3 * BLUR_SIGMA_PX[1] * out_px) + 1
    sigma = (blur_sigma * out_px).unsqueeze(1).expand(n, 2)  # (N, 2)
    small = gaussian_blur2d(small, kernel, sigma, border_type="constant")  # (N, 1, S, S)

    peak = small.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)  # (N, 1, 1, 1)
    ink = (small / peak * gain.view(n, 1, 1, 1)).clamp(0.0, 1.0)
    return (ink * 255).round().to(torch.uint8)


class RenderedDigitsDataModule(LightningDataModule):
    """MNIST-like digits rendered from fonts with random jitter: no download, deterministic given ``seed``.

    Batches are ``(x, y)``: ``x`` float32 ``(B, 1, image_size, image_size)`` in [-1, 1] (white digit on black:
    background -1, ink up to 1), ``y`` int64 digit labels ``(B,)`` in 0..9; every split holds each digit equally
    often (to within one image).

    Fonts are Pillow's built-in scalable font, every .ttf/.otf/.ttc under ``data_dir`` and, unless
    ``use_system_fonts`` is false, the fonts found in ``SYSTEM_FONT_DIRS`` (at most ``MAX_SYSTEM_FONTS``). Fonts that
    do not draw ten distinct digits are skipped. The images depend on the fonts found, so two machines agree
    exactly only with the same fonts (``use_system_fonts=False`` and the same ``data_dir``). After ``setup()``,
    ``fonts`` lists the fonts used.

    Args:
        data_dir: optional folder of extra font files (.ttf, .otf, .ttc; searched recursively); None uses only the
            built-in and system fonts.
        batch_size: images per batch.
        num_workers: DataLoader worker processes (0 loads in the main process; the images are in memory).
        num_predict_samples: number of sample indices ``predict_dataloader`` yields.
        seed: seed of the generation; the same seed and fonts give the same images.
        num_train: number of training images (generated in ``setup()``: about 1 s per 10,000 at 28 pixels,
            3 s at 64 pixels, on one CPU core).
        num_val: number of validation images; 0 disables validation (``val_dataloader`` returns an empty list,
            which Lightning skips).
        image_size: side length of the images in pixels (>= 8; 28 matches MNIST, DCGAN uses 32 or 64).
        use_system_fonts: also use the fonts installed on this machine (more styles, less portable data).
    """

    def __init__(
        self,
        data_dir: str | None = None,
        batch_size: int = 64,
        num_workers: int = 0,
        num_predict_samples: int = 64,
        seed: int = 0,
        num_train: int = 20_000,
        num_val: int = 1000,
        image_size: int = 28,
        use_system_fonts: bool = True,
    ) -> None:
        super().__init__()
        check_positive("batch_size", batch_size)
        check_non_negative("num_workers", num_workers)
        check_non_negative("num_predict_samples", num_predict_samples)
        check_non_negative("seed", seed)
        check_positive("num_train", num_train)
        check_non_negative("num_val", num_val)
        check_positive("image_size", image_size)
        if image_size < 8:
            raise UserInputError(f"image_size must be >= 8 for legible digits, got {image_size}")
        self.data_dir = data_dir
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.num_predict_samples = num_predict_samples
        self.seed = seed
        self.num_train = num_train
        self.num_val = num_val
        self.image_size = image_size
        self.use_system_fonts = use_system_fonts

        self.num_classes: int = 10
        self.sample_shape: tuple[int, ...] = (1, image_size, image_size)
        self.fonts: list[str] = []
        self.train_set: UInt8ImageDataset | None = None
        self.val_set: UInt8ImageDataset | None = None

    def _load_fonts(self, canvas: int) -> list[tuple[str, ImageFont.FreeTypeFont]]:
        if not features.check("freetype2"):
            raise RuntimeError("RenderedDigitsDataModule needs Pillow built with FreeType (the PyPI wheels are)")
        fonts: list[tuple[str, ImageFont.FreeTypeFont]] = [(PILLOW_FONT_NAME, ImageFont.load_default(size=canvas))]

        if self.data_dir is not None:
            folder = Path(self.data_dir)
            if not folder.is_dir():
                raise FileNotFoundError(
                    f"data_dir {folder.absolute()} is not a folder; give a folder of font files or None"
                )
            user_paths = sorted(
                p.resolve() for p in folder.rglob("*") if p.suffix.lower() in FONT_SUFFIXES and p.is_file()
            )
            if not user_paths:
                raise FileNotFoundError(
                    f"data_dir {folder.absolute()} holds no {'/'.join(FONT_SUFFIXES)} font files; add some or use None"
                )
            for path in user_paths:
                font = self._try_font(path, canvas)
                if font is None:
                    warnings.warn(f"skipping font {path}: it does not load or does not draw the digits 0-9")
                else:
                    fonts.append((str(path), font))

        if self.use_system_fonts:
            seen = {name for name, _ in fonts}
            for path in system_font_paths():
                font = self._try_font(path, canvas) if str(path) not in seen else None
                if font is not None:
                    fonts.append((str(path), font))
        return fonts

    @staticmethod
    def _try_font(path: Path, canvas: int) -> ImageFont.FreeTypeFont | None:
        try:
            font = ImageFont.truetype(str(path), size=canvas)
            return font if draws_digits(font) else None
        except (OSError, ValueError):  # unreadable file, bitmap-only sizes (colour emoji), not a font
            return None

    def _generate(self, num_images: int, templates: Tensor, generator: torch.Generator) -> UInt8ImageDataset:
        """Draw labels (balanced), fonts and stroke widths at random, then jitter the matching templates."""
        num_fonts, num_strokes = templates.shape[0], templates.shape[2]
        labels = (torch.arange(num_images) % 10)[torch.randperm(num_images, generator=generator)]  # (N,)
        font_index = torch.randint(num_fonts, (num_images,), generator=generator)  # (N,)
        stroke_index = torch.randint(num_strokes, (num_images,), generator=generator)  # (N,)
        chunks = []
        for start in range(0, num_images, CHUNK):
            end = min(start + CHUNK, num_images)
            glyphs = templates[font_index[start:end], labels[start:end], stroke_index[start:end]]  # (n, R, R)
            chunks.append(jitter(glyphs.unsqueeze(1), self.image_size, generator))  # (n, 1, S, S) uint8
        images = torch.cat(chunks) if chunks else torch.zeros(0, 1, self.image_size, self.image_size, dtype=torch.uint8)
        return UInt8ImageDataset(images, labels)

    def setup(self, stage: str | None = None) -> None:
        """Find the fonts, render the glyph templates and generate both splits (once; later calls do nothing).

        Args:
            stage: Lightning's stage ("fit", "validate", "test", "predict"); the same data serves all.
        """
        if self.train_set is not None:
            return
        check_train_size(type(self).__name__, self.num_train, self.batch_size)
        canvas = max(56, self.image_size)  # small images are drawn larger and downsized with antialiasing
        fonts = self._load_fonts(canvas)
        stroke_widths = [round(width * canvas / 56) for width in STROKE_WIDTHS]
        templates = render_templates([font for _, font in fonts], stroke_widths, canvas)  # (F, 10, strokes, R, R)
        train_generator, val_generator = seeded_generators(self.seed, 2)
        self.fonts = [name for name, _ in fonts]
        self.val_set = self._generate(self.num_val, templates, val_generator)
        self.train_set = self._generate(self.num_train, templates, train_generator)

    def train_dataloader(self) -> DataLoader:
        """Shuffled batches ``(x (B, 1, S, S) float32 in [-1, 1], y (B,) int64)``, dropping the last incomplete one."""
        return train_loader(self._require(self.train_set), self.batch_size, self.num_workers)

    def val_dataloader(self) -> DataLoader | list:
        """Batches of the validation images in a fixed order, or ``[]`` (no validation) when ``num_val=0``."""
        if self.num_val == 0:
            return []
        return eval_loader(self._require(self.val_set), self.batch_size, self.num_workers)

    def test_dataloader(self) -> DataLoader | list:
        """The held-out set again: ``lightning-gans test`` reports the validation metrics under ``test/``."""
        return self.val_dataloader()

    def predict_dataloader(self) -> DataLoader:
        """Batches of int64 sample indices ``(B,)`` over ``torch.arange(num_predict_samples)``."""
        return index_loader(self.num_predict_samples, self.batch_size)

    def _require(self, dataset: UInt8ImageDataset | None) -> UInt8ImageDataset:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}: call setup() before asking for a dataloader")
        return dataset
