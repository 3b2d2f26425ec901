"""Unpaired digits for CycleGAN: rendered font digits (domain A) against real MNIST or a second rendered style (B).

Domain A is ``RenderedDigitsDataModule``'s digits (fonts, random jitter, no download). Domain B is either

- ``mnist``: real MNIST digits, read and split by ``MNISTDataModule`` (its ``data_dir``, ``train_split``,
  ``val_size`` and ``seed``), so that "rendered -> handwritten" can be scored with an MNIST classifier; or
- ``rendered_mnist_style``: download-free digits in a bolder, slanted, softer hand that looks more like MNIST:
  ``RenderedDigitsDataModule`` digits drawn at twice the size from an independent seed, then thickened (a max
  filter), slanted (an x-shear), downsized with antialiasing and blurred (``mnist_style``).

The two domains are drawn independently: in training every item pairs an A digit with a B digit chosen at random,
so no pairs form; validation pairs item ``i`` of A with item ``i % len(B)`` of B, the same at every epoch. The
digit labels come along (``label_a``, ``label_b``) for scoring translations with a classifier; CycleGAN itself
never reads them.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d
from kornia.geometry.transform import get_affine_matrix2d, warp_affine
from lightning.pytorch import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from datamodules._common import UInt8ImageDataset, check_non_negative, check_positive, eval_loader, train_loader
from datamodules.mnist import MNISTDataModule, Split
from datamodules.rendered_digits import RenderedDigitsDataModule
from lightning_gans.errors import UserInputError

__all__ = ["DomainB", "UnpairedDigitsDataModule", "UnpairedDigitsDataset", "mnist_style"]

DomainB = Literal["mnist", "rendered_mnist_style"]

# The second rendered style, in pixels of the 28-pixel MNIST frame (scaled with image_size). Applied on top of
# RenderedDigitsDataModule's own jitter (its shear is uniform in [-0.15, 0.35] rad), at twice the output size.
STYLE_THICKEN_PX = 0.5  # max filter radius: strokes grow by about this much on each side
STYLE_SLANT_RAD = 0.25  # extra x-shear: the top of every digit leans further right
STYLE_BLUR_SIGMA_PX = 0.5  # Gaussian blur after downsizing: soft pen edges
STYLE_INK_GAIN = 1.25  # peak-normalised ink times this, clipped at 1: saturated stroke cores again after the blur
BIT_DEPTH = 8  # every image here is 8-bit


def dilate(images: Tensor, radius: int) -> Tensor:
    """Grey-level dilation with a ``(2 radius + 1)``-pixel square: the max over shifted copies, rows then columns.

    (Several times faster on the CPU than ``max_pool2d`` with stride 1, and exact.)

    Args:
        images: ``(N, C, H, W)`` of any dtype (uint8 keeps it small).
        radius: half-width of the square in pixels, >= 0.
    """
    height, width = images.shape[-2:]
    padded = F.pad(images, (radius,) * 4)  # (N, C, H + 2r, W + 2r), zeros = background
    rows = padded[..., :, 0:width]
    for shift in range(1, 2 * radius + 1):
        rows = torch.maximum(rows, padded[..., :, shift : shift + width])  # (N, C, H + 2r, W)
    out = rows[..., 0:height, :]
    for shift in range(1, 2 * radius + 1):
        out = torch.maximum(out, rows[..., shift : shift + height, :])  # (N, C, H, W)
    return out


def mnist_style(images: Tensor, image_size: int) -> Tensor:
    """Thicken, slant, downsize and blur rendered digits into the ``rendered_mnist_style`` domain.

    Args:
        images: uint8 ``(N, 1, R, R)`` digits (0 = background, 255 = ink), drawn at ``R >= image_size`` pixels
            (twice ``image_size`` gives a smooth downsizing).
        image_size: output side in pixels.

    Returns:
        uint8 ``(N, 1, image_size, image_size)``.
    """
    n, canvas = images.shape[0], images.shape[-1]
    ink = dilate(images, round(STYLE_THICKEN_PX * canvas / 28)).float() / 255  # (N, 1, R, R) bolder strokes
    center = torch.full((n, 2), (canvas - 1) / 2)  # (N, 2) as (x, y)
    matrix = get_affine_matrix2d(
        torch.zeros(n, 2), center, torch.ones(n, 2), torch.zeros(n), sx=torch.full((n,), STYLE_SLANT_RAD)
    )  # (N, 3, 3)
    ink = warp_affine(ink, matrix[:, :2], dsize=(canvas, canvas), align_corners=True)  # (N, 1, R, R) slanted
    if canvas != image_size:
        ink = F.interpolate(ink, size=(image_size, image_size), mode="bilinear", antialias=True)  # (N, 1, S, S)
    sigma = STYLE_BLUR_SIGMA_PX * image_size / 28
    kernel = 2 * math.ceil(3 * sigma) + 1
    ink = gaussian_blur2d(ink, kernel, (sigma, sigma), border_type="constant")  # (N, 1, S, S)
    peak = ink.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)  # (N, 1, 1, 1)
    ink = (ink / peak * STYLE_INK_GAIN).clamp(0.0, 1.0)
    return (ink * 255).round().to(torch.uint8)


class UnpairedDigitsDataset(Dataset):
    """Two labelled digit sets as CycleGAN items ``{"A", "B", "name", "bit_depth", "label_a", "label_b"}``.

    Args:
        domain_a: ``(image (1, S, S) in [-1, 1], label)`` items of the input domain.
        domain_b: the same for the other domain.
        train: pair every A item with a B item drawn at random (torch's global generator, which the project
            reseeds every epoch and DataLoader workers are seeded from); otherwise A item ``i`` gets B item
            ``i % len(B)`` (fixed validation pairs).
    """

    def __init__(self, domain_a: Dataset, domain_b: Dataset, train: bool) -> None:
        if len(domain_a) == 0 or len(domain_b) == 0:
            raise UserInputError(f"both digit domains need images, got {len(domain_a)} (A) and {len(domain_b)} (B)")
        self.domain_a = domain_a
        self.domain_b = domain_b
        self.train = train

    def __len__(self) -> int:
        """Training: the larger domain (as the reference's UnalignedDataset); evaluation: domain A."""
        return max(len(self.domain_a), len(self.domain_b)) if self.train else len(self.domain_a)

    def __getitem__(self, index: int) -> dict:
        image_a, label_a = self.domain_a[index % len(self.domain_a)]  # (1, S, S) in [-1, 1], int64 ()
        if self.train:  # an independent partner: no fixed pairs form
            index_b = int(torch.randint(len(self.domain_b), ()).item())
        else:
            index_b = index % len(self.domain_b)
        image_b, label_b = self.domain_b[index_b]
        return {
            "A": image_a,
            "B": image_b,
            "name": f"{index:06d}_{int(label_a)}.png",  # the predict file name, with the A digit's label
            "bit_depth": BIT_DEPTH,
            "label_a": label_a,
            "label_b": label_b,
        }


def _derived_seed(seed: int, stream: int) -> int:
    """An independent seed for another random stream of the same data seed (``SeedSequence`` entropy mixing)."""
    return int(np.random.SeedSequence([seed, stream]).generate_state(1, dtype=np.uint32)[0])


class UnpairedDigitsDataModule(LightningDataModule):
    """Unpaired digits for CycleGAN: rendered font digits (A) and real MNIST or a bolder rendered style (B).

    Batches are dicts: ``"A"``, ``"B"`` float32 ``(B, 1, image_size, image_size)`` in [-1, 1] (white digit on
    black), ``"name"`` (list of ``"<index>_<label of A>.png"``), ``"bit_depth"`` int64 ``(B,)`` (8), and the digit
    labels ``"label_a"``, ``"label_b"`` int64 ``(B,)`` in 0..9 for scoring (the A and B digits are unrelated).
    Training draws a random B digit for every A digit; validation and test pair them in a fixed order; predict
    yields the validation batches (``lightning-gans predict`` translates the validation A digits).

    ``domain_b="mnist"`` reads MNIST as ``MNISTDataModule`` does (``data_dir``, ``download``, ``train_split``,
    ``val_size``, ``seed``): its training part is B's training set and its held-out part B's validation set.
    ``domain_b="rendered_mnist_style"`` needs no files: B is ``num_train`` / ``num_val`` digits drawn like A from an
    independent seed, then made bolder, slanted and softer (``mnist_style``).

    Args:
        domain_b: the second domain: ``rendered_mnist_style`` (download-free) or ``mnist`` (real MNIST digits).
        data_dir: MNIST root folder (``<data_dir>/MNIST/raw/`` in torchvision's layout); used with ``domain_b="mnist"``.
        download: download MNIST into ``data_dir`` in ``prepare_data`` when its files are missing (needs internet).
        train_split: the official MNIST split B is taken from, ``train`` (60,000) or ``test`` (10,000).
        val_size: MNIST digits of ``train_split`` held out as B's validation set (chosen by ``seed``, as
            ``MNISTDataModule`` does); must be > 0 when ``num_val`` > 0.
        font_dir: optional folder of extra font files for the rendered digits (``RenderedDigitsDataModule``'s
            ``data_dir``); None uses the built-in and system fonts.
        use_system_fonts: also render with the fonts installed on this machine.
        num_train: rendered training digits of domain A (and of domain B when it is rendered).
        num_val: validation items (rendered A digits, and B digits when B is rendered); 0 disables validation.
        image_size: side of every image in pixels (>= 8); CycleGAN's ResNet generator needs a multiple of 4 and the
            70x70 PatchGAN at least 24. 28 is MNIST's own size.
        batch_size: items per batch.
        num_workers: DataLoader worker processes (0 loads in the main process; the images are in memory).
        seed: seed of the rendered digits and of the MNIST hold-out; the same seed gives the same data.
    """

    aligned_validation = False  # A and B validation digits are unrelated: no per-image score against B

    def __init__(
        self,
        domain_b: DomainB = "rendered_mnist_style",
        data_dir: str = "data",
        download: bool = True,
        train_split: Split = "train",
        val_size: int = 1000,
        font_dir: str | None = None,
        use_system_fonts: bool = True,
        num_train: int = 20_000,
        num_val: int = 200,
        image_size: int = 32,
        batch_size: int = 16,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if domain_b not in ("mnist", "rendered_mnist_style"):
            raise UserInputError(f"domain_b must be 'mnist' or 'rendered_mnist_style', got {domain_b!r}")
        check_positive("num_train", num_train)
        check_non_negative("num_val", num_val)
        check_non_negative("seed", seed)
        if domain_b == "mnist" and num_val > 0 and val_size == 0:
            raise UserInputError(
                "num_val > 0 needs held-out MNIST digits for B's validation set: set val_size > 0 or num_val 0"
            )
        self.domain_b = domain_b
        self.num_val = num_val
        self.batch_size = batch_size
        self.num_workers = num_workers

        # Domain A; B's rendered digits come from an independent seed, so A item i and B item i are unrelated.
        rendered = {"data_dir": font_dir, "use_system_fonts": use_system_fonts, "batch_size": batch_size}
        rendered |= {"num_train": num_train, "num_val": num_val, "num_workers": num_workers}
        self.rendered_a = RenderedDigitsDataModule(image_size=image_size, seed=seed, **rendered)
        self.rendered_b: RenderedDigitsDataModule | None = None
        self.mnist: MNISTDataModule | None = None
        if domain_b == "mnist":
            self.mnist = MNISTDataModule(
                data_dir=data_dir, batch_size=batch_size, num_workers=num_workers, seed=seed, download=download,
                train_split=train_split, val_size=val_size, image_size=image_size,
            )  # fmt: skip
        else:
            b_seed = _derived_seed(seed, 1)  # drawn at twice the size: mnist_style downsizes after thickening
            self.rendered_b = RenderedDigitsDataModule(image_size=2 * image_size, seed=b_seed, **rendered)

        self.image_size = image_size
        self.input_channels: int = 1
        self.output_channels: int = 1
        self.bit_depth: int = BIT_DEPTH
        self.num_classes: int = 10
        self.fonts: list[str] = []
        self.train_set: UnpairedDigitsDataset | None = None
        self.val_set: UnpairedDigitsDataset | None = None

    def prepare_data(self) -> None:
        """Download MNIST (``domain_b="mnist"``, ``download=True``) when its split's files are missing."""
        if self.mnist is not None:
            self.mnist.prepare_data()

    def _domain_b(self) -> tuple[Dataset, Dataset]:
        """B's (training, validation) sets of ``(image, label)`` items."""
        if self.mnist is not None:
            self.mnist.setup()
            return self.mnist.train_set, self.mnist.val_set
        self.rendered_b.setup()
        sets = []
        for large in (self.rendered_b.train_set, self.rendered_b.val_set):
            sets.append(UInt8ImageDataset(mnist_style(large.images, self.image_size), large.labels))
        return sets[0], sets[1]

    def setup(self, stage: str | None = None) -> None:
        """Render (and read) both domains and pair them (once; later calls do nothing).

        Args:
            stage: Lightning's stage ("fit", "validate", "test", "predict"); the same data serves all.

        Raises:
            FileNotFoundError: ``domain_b="mnist"`` and the split's files are not in ``<data_dir>/MNIST/raw/``.
        """
        if self.train_set is not None:
            return
        train_b, val_b = self._domain_b()
        self.rendered_a.setup()
        self.fonts = list(self.rendered_a.fonts)
        self.train_set = UnpairedDigitsDataset(self.rendered_a.train_set, train_b, train=True)
        if self.num_val > 0:
            self.val_set = UnpairedDigitsDataset(self.rendered_a.val_set, val_b, train=False)

    def train_dataloader(self) -> DataLoader:
        """Shuffled A digits, each with a random B digit, dropping the last incomplete batch."""
        return train_loader(self._require(self.train_set), self.batch_size, self.num_workers)

    def val_dataloader(self) -> DataLoader | list:
        """The fixed validation pairs in order, or ``[]`` (no validation) when ``num_val=0``."""
        if self.num_val == 0:
            return []
        return eval_loader(self._require(self.val_set), self.batch_size, self.num_workers)

    def test_dataloader(self) -> DataLoader | list:
        """The validation pairs again: ``lightning-gans test`` reports the validation metrics under ``test/``."""
        return self.val_dataloader()

    def predict_dataloader(self) -> DataLoader:
        """The validation batches; the family translates their ``"A"`` and writes them under ``"name"``."""
        if self.num_val == 0:
            raise UserInputError("predict translates the validation digits: set num_val > 0")
        return eval_loader(self._require(self.val_set), self.batch_size, self.num_workers)

    def _require(self, dataset: UnpairedDigitsDataset | None) -> UnpairedDigitsDataset:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}: call setup() before asking for a dataloader")
        return dataset
