"""Folders of image files: listing, up-front header checks, loading, the reference's preprocessing, size batching.

Shared by the translation data modules (``paired_images``, ``unpaired_images``) and meant for any data module that
reads image folders (super-resolution HR/LR folders: ``scan_folder`` + ``match_by_stem`` + ``check_same_size``).

Up-front checks read only file headers (``read_image_size``), so thousands of files are checked in a fraction of a
second before training starts; every problem is one ``UserInputError`` line naming the file(s) and the fix.

Preprocessing follows pytorch-CycleGAN-and-pix2pix's ``data/base_dataset.py`` (``get_params`` / ``get_transform``):
resize (bicubic, antialiased like Pillow's), crop, horizontal flip, then [0, 1] -> [-1, 1]. The random crop and
flip are kornia augmentations, which draw from torch's global generator: the project reseeds it every epoch
(``ReproducibleEpochs``) and DataLoader workers are seeded from it, so epochs are reproducible.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import kornia.augmentation as K
import torch
import torch.nn.functional as F
from kornia.color import rgb_to_grayscale
from torch import Tensor
from torch.utils.data import BatchSampler, DataLoader, Dataset, Sampler, SequentialSampler

from lightning_gans.errors import UserInputError
from lightning_gans.images import read_image, read_image_size

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageFile",
    "ImageFolderDataset",
    "Preprocess",
    "Preprocessing",
    "SizeGroupedBatchSampler",
    "check_channels",
    "check_same_size",
    "check_uniform_size",
    "convert_channels",
    "list_images",
    "load_image",
    "match_by_stem",
    "scan_folder",
    "size_grouped_loader",
    "to_model_range",
]

# The reference's IMG_EXTENSIONS (data/image_folder.py) plus WebP; matched case-insensitively.
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp")

Preprocess = Literal["resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none"]
SIZE_MULTIPLE = 4  # preprocess="none" rounds sides to a multiple of 4, as the reference's __make_power_2(base=4)


@dataclass(frozen=True)
class ImageFile:
    """One image file and what its header says.

    Args:
        path: the file.
        name: its path relative to the folder it was listed from, with "/" separators (names outputs).
        channels: channels ``read_image`` returns (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA; TIFF: any).
        height: rows.
        width: columns.
        bit_depth: bits per sample, 8 or 16.
    """

    path: Path
    name: str
    channels: int
    height: int
    width: int
    bit_depth: int


# ---------------------------------------------------------------------------------------------------------------
# Listing and header checks
# ---------------------------------------------------------------------------------------------------------------
def list_images(folder: Path, what: str, fix: str) -> list[str]:
    """Relative paths (sorted, "/" separators) of the image files under ``folder``, searched recursively.

    Hidden files and folders (names starting with ".", e.g. half-written temporaries) are skipped.

    Args:
        folder: the folder to list.
        what: what the folder holds, for messages (e.g. "training images (domain A)").
        fix: how the user fixes a missing or empty folder, appended to the message.

    Returns:
        The sorted relative paths; never empty (a missing or empty folder raises ``UserInputError``).
    """
    if not folder.is_dir():
        raise UserInputError(f"no folder {folder} for the {what}; {fix}")
    names = sorted(
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
        and path.is_file()
    )
    if not names:
        raise UserInputError(
            f"{folder} holds no image files ({', '.join(IMAGE_SUFFIXES)}) for the {what}; {fix}"
        )
    return names


def scan_folder(folder: Path, what: str, fix: str) -> list[ImageFile]:
    """List ``folder``'s images and read every header (unreadable files raise, naming the file).

    Args:
        folder: the folder to scan.
        what: what the folder holds, for messages.
        fix: how to fix a missing or empty folder.

    Returns:
        One ``ImageFile`` per image, sorted by name.
    """
    files = []
    for name in list_images(folder, what, fix):
        path = folder / name
        channels, height, width, bit_depth = read_image_size(path)  # UserInputError naming the file if unreadable
        files.append(ImageFile(path, name, channels, height, width, bit_depth))
    return files


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0]


def match_by_stem(
    files_a: list[ImageFile], files_b: list[ImageFile], folder_a: Path, folder_b: Path
) -> list[tuple[ImageFile, ImageFile]]:
    """Pair files of two folders by relative path without suffix (``x.jpg`` pairs with ``x.png``).

    Args:
        files_a: the first folder's files.
        files_b: the second folder's files.
        folder_a: the first folder (for messages).
        folder_b: the second folder (for messages).

    Returns:
        ``(a, b)`` pairs in ``files_a`` order. A file without a partner, or two files with one stem in a folder,
        raise ``UserInputError`` naming them.
    """
    by_stem: list[dict[str, ImageFile]] = []
    for files in (files_a, files_b):
        stems: dict[str, ImageFile] = {}
        for file in files:
            other = stems.setdefault(_stem(file.name), file)
            if other is not file:
                raise UserInputError(
                    f"{other.path} and {file.path} share the name {_stem(file.name)!r}, so neither has one partner; "
                    "rename or remove one of them"
                )
        by_stem.append(stems)
    stems_a, stems_b = by_stem
    for stems, other_stems, other_folder in ((stems_a, stems_b, folder_b), (stems_b, stems_a, folder_a)):
        for stem, file in stems.items():
            if stem not in other_stems:
                raise UserInputError(
                    f"{file.path} has no partner: expected {other_folder / stem}.<png|jpg|tif|...>; add the partner "
                    "file or remove this one"
                )
    return [(file, stems_b[stem]) for stem, file in stems_a.items()]


def check_same_size(file_a: ImageFile, file_b: ImageFile) -> None:
    """Raise ``UserInputError`` unless two paired files have the same height, width and bit depth.

    Args:
        file_a: one file of the pair.
        file_b: its partner.
    """
    if (file_a.height, file_a.width) != (file_b.height, file_b.width):
        raise UserInputError(
            f"paired files differ in size: {file_a.path} is {file_a.height}x{file_a.width} but {file_b.path} is "
            f"{file_b.height}x{file_b.width} (HxW); resize one so that the pair is aligned pixel for pixel"
        )
    if file_a.bit_depth != file_b.bit_depth:
        raise UserInputError(
            f"paired files differ in bit depth: {file_a.path} is {file_a.bit_depth}-bit but {file_b.path} is "
            f"{file_b.bit_depth}-bit; save both with the same bits per sample"
        )


def check_channels(files: Sequence[ImageFile], requested: int | None, argument: str) -> int:
    """The channel count a side delivers: ``requested``, or the count every file shares when it is None.

    An integer request converts grey to RGB (repeat) and RGB to grey (luma), as the reference's ``input_nc`` /
    ``output_nc``; any other mismatch (alpha, N-channel TIFF) is refused up front.

    Args:
        files: the side's files (at least one).
        requested: the user's channel count, or None to take it from the files.
        argument: the argument's name, for messages (``input_channels`` or ``output_channels``).

    Returns:
        The channel count of this side's batches.
    """
    if requested is None:
        first = files[0]
        for file in files:
            if file.channels != first.channels:
                raise UserInputError(
                    f"{file.path} has {file.channels} channel(s) but {first.path} has {first.channels}; set "
                    f"{argument}=1 or 3 to convert grey and RGB files to one count, or make the files agree"
                )
        return first.channels
    if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
        raise UserInputError(f"{argument} must be None (take it from the files) or an integer >= 1, got {requested!r}")
    for file in files:
        if file.channels != requested and {file.channels, requested} != {1, 3}:
            raise UserInputError(
                f"{file.path} has {file.channels} channel(s) and {argument}={requested}; only grey (1) and RGB (3) "
                f"convert into each other: set {argument}=None or {file.channels}, or convert the file"
            )
    return requested


def check_uniform_size(files: Sequence[ImageFile], sizes: Sequence[tuple[int, int]], batch_size: int) -> None:
    """Raise ``UserInputError`` when training batches of ``batch_size`` > 1 would mix sample sizes.

    Args:
        files: the training files, in the order of ``sizes``.
        sizes: each file's ``(H, W)`` after preprocessing.
        batch_size: the training batch size.
    """
    if batch_size == 1 or len(set(sizes)) <= 1:
        return
    first = sizes[0]
    index = next(i for i, size in enumerate(sizes) if size != first)
    raise UserInputError(
        f"training samples differ in size after preprocessing ({files[0].path} -> {first[0]}x{first[1]}, "
        f"{files[index].path} -> {sizes[index][0]}x{sizes[index][1]}), so batch_size={batch_size} cannot stack them; "
        "use batch_size=1 or a preprocess mode with a crop (crop_size sets the size)"
    )


# ---------------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------------
def load_image(path: Path) -> tuple[Tensor, int]:
    """``read_image`` for data loading: a file that vanished since the checks also gives one line naming it.

    Args:
        path: the image file.

    Returns:
        ``(image (C, H, W) float32 in [0, 1], bit_depth)``.
    """
    try:
        return read_image(path)
    except FileNotFoundError:
        raise UserInputError(f"{path} disappeared after the data checks; restore it or restart") from None


def convert_channels(image: Tensor, channels: int) -> Tensor:
    """Convert grey <-> RGB as the reference's ``transforms.Grayscale`` / ``.convert("RGB")``.

    Args:
        image: ``(C, H, W)`` in [0, 1].
        channels: wanted C; 1 from 3 uses luma 0.299 R + 0.587 G + 0.114 B (ITU-R 601, as Pillow's "L"), 3 from
            1 repeats the grey channel. Other conversions were refused by ``check_channels``.

    Returns:
        ``(channels, H, W)`` in [0, 1].
    """
    have = image.shape[0]
    if have == channels:
        return image
    if (have, channels) == (3, 1):
        return rgb_to_grayscale(image)  # (1, H, W)
    if (have, channels) == (1, 3):
        return image.repeat(3, 1, 1)  # (3, H, W)
    raise UserInputError(f"cannot convert a {have}-channel image to {channels} channels; convert the file")


def to_model_range(image: Tensor) -> Tensor:
    """Map [0, 1] to the models' [-1, 1] (the reference's ``Normalize(0.5, 0.5)``)."""
    return image * 2 - 1


# ---------------------------------------------------------------------------------------------------------------
# Preprocessing (the reference's get_params / get_transform)
# ---------------------------------------------------------------------------------------------------------------
class Preprocessing:
    """The reference's ``--preprocess`` modes, applied to one ``(C, H, W)`` tensor (stack A and B to share them).

    Training (``train=True``), as the reference's training:
    - ``resize_and_crop``: resize to ``load_size`` x ``load_size``, random ``crop_size`` crop.
    - ``crop``: random ``crop_size`` crop of the file as it is.
    - ``scale_width``: resize to width ``load_size``, height ``max(load_size * H / W, crop_size)``.
    - ``scale_width_and_crop``: the same, then a random ``crop_size`` crop.
    - ``none``: round H and W to the nearest multiple of 4 (resizing only where needed).
    Then a random horizontal flip with probability 0.5 when ``flip``.

    Evaluation (``train=False``) is deterministic: no flip, and ``load_size`` is replaced by ``crop_size`` as the
    reference's test options do, with centre crops instead of random ones. So ``resize_and_crop`` resizes to
    ``crop_size`` x ``crop_size``, ``crop`` and ``scale_width_and_crop`` centre-crop, ``scale_width`` scales to
    width ``crop_size``, and ``none`` rounds to multiples of 4.

    Resizing is bicubic with antialiasing (``F.interpolate(..., antialias=True)``), which follows Pillow's BICUBIC
    resize that the reference uses to within one 8-bit level (measured: mean 0.3, max 1.1 levels for 256 -> 286
    and 256 -> 143x100), and is clamped to [0, 1]; crops and flips copy samples exactly.

    Args:
        mode: one of ``resize_and_crop``, ``crop``, ``scale_width``, ``scale_width_and_crop``, ``none``.
        load_size: the resize target of the training modes (the reference's default 286).
        crop_size: the crop side (the reference's default 256).
        flip: random horizontal flips in training.
    """

    def __init__(self, mode: Preprocess, load_size: int, crop_size: int, flip: bool) -> None:
        modes = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")
        if mode not in modes:
            raise UserInputError(f"preprocess must be one of {', '.join(modes)}; got {mode!r}")
        for name, value in (("load_size", load_size), ("crop_size", crop_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserInputError(f"{name} must be an integer >= 1, got {value!r}")
        if mode in ("resize_and_crop", "scale_width_and_crop") and load_size < crop_size:
            raise UserInputError(
                f"load_size={load_size} is smaller than crop_size={crop_size}: preprocess={mode} resizes to "
                "load_size and then crops crop_size; raise load_size or lower crop_size"
            )
        self.mode = mode
        self.load_size = load_size
        self.crop_size = crop_size
        self.flip = flip
        self._random_crop = K.RandomCrop((crop_size, crop_size), cropping_mode="slice")  # exact sample copies
        self._random_flip = K.RandomHorizontalFlip(p=0.5)

    def resized_size(self, height: int, width: int, train: bool) -> tuple[int, int]:
        """``(H, W)`` after the resize stage, before any crop.

        Args:
            height: the file's height.
            width: the file's width (of one half for the aligned layout).
            train: training (``load_size``) or evaluation (``crop_size`` as the resize target).
        """
        target = self.load_size if train else self.crop_size
        if self.mode == "resize_and_crop":
            return target, target
        if self.mode in ("scale_width", "scale_width_and_crop"):
            if width == target and height >= self.crop_size:  # the reference leaves such images alone
                return height, width
            return int(max(target * height / width, self.crop_size)), target
        if self.mode == "none":  # Python's round, as the reference (ties to even)
            return round(height / SIZE_MULTIPLE) * SIZE_MULTIPLE, round(width / SIZE_MULTIPLE) * SIZE_MULTIPLE
        return height, width

    def output_size(self, height: int, width: int, train: bool) -> tuple[int, int]:
        """``(H, W)`` of a sample after preprocessing.

        Args:
            height: the file's height.
            width: the file's width.
            train: training or evaluation.
        """
        if "crop" in self.mode:
            return self.crop_size, self.crop_size
        return self.resized_size(height, width, train)

    def check(self, file: ImageFile, width: int | None = None) -> None:
        """Raise ``UserInputError`` naming the file when it is too small for this mode.

        Args:
            file: the file's header.
            width: the width to check instead of ``file.width`` (one half of an aligned A|B file).
        """
        width = file.width if width is None else width
        for train in (True, False):
            height_after, width_after = self.resized_size(file.height, width, train)
            if height_after < 1 or width_after < 1:
                raise UserInputError(
                    f"{file.path} ({file.height}x{width}, HxW) is too small for preprocess=none, which rounds "
                    f"sides to a multiple of {SIZE_MULTIPLE}; remove it or enlarge it"
                )
            if "crop" in self.mode and min(height_after, width_after) < self.crop_size:
                raise UserInputError(
                    f"{file.path} is {height_after}x{width_after} (HxW) at the crop, smaller than "
                    f"crop_size={self.crop_size}; lower crop_size, or use preprocess=resize_and_crop"
                )

    def __call__(self, image: Tensor, train: bool) -> Tensor:
        """Resize, crop and flip one ``(C, H, W)`` image in [0, 1].

        Args:
            image: ``(C, H, W)`` float in [0, 1]; stack paired images along C so they share one crop and flip.
            train: random crop and flip (training) or the deterministic evaluation version.

        Returns:
            ``(C, H', W')`` in [0, 1] with ``(H', W') == output_size(H, W, train)``.
        """
        height, width = image.shape[-2:]
        size = self.resized_size(height, width, train)
        if size != (height, width):
            resized = F.interpolate(image[None], size=size, mode="bicubic", antialias=True, align_corners=False)
            image = resized[0].clamp(0, 1)  # (C, H', W'); bicubic overshoots, Pillow clamps too
        if "crop" in self.mode:
            if train:
                image = self._random_crop(image[None])[0]  # (C, crop, crop)
            else:
                top = round((image.shape[-2] - self.crop_size) / 2)
                left = round((image.shape[-1] - self.crop_size) / 2)
                image = image[:, top : top + self.crop_size, left : left + self.crop_size]  # (C, crop, crop)
        if train and self.flip:
            image = self._random_flip(image[None])[0]
        return image


# ---------------------------------------------------------------------------------------------------------------
# Batching images of many sizes
# ---------------------------------------------------------------------------------------------------------------
class SizeGroupedBatchSampler(BatchSampler):
    """Batches of indices whose samples share a key (their size), so images of any size can be batched.

    Indices come from ``sampler`` (Lightning swaps in a ``DistributedSampler`` under DDP, which works because the
    argument is called ``sampler``); they are grouped by ``keys[index]`` in the order each key first appears, and
    each group is cut into batches of ``batch_size`` in sampler order. With a ``SequentialSampler`` over
    name-sorted files that is: sizes in order of their first file, names in order within a size.

    Args:
        sampler: yields the dataset indices.
        batch_size: the most indices per batch.
        drop_last: drop each group's last batch when it is smaller than ``batch_size``.
        keys: one hashable key per dataset index (e.g. ``(C, H, W)``); equal keys may share a batch.
    """

    def __init__(self, sampler: Sampler[int], batch_size: int, drop_last: bool, keys: Sequence[Hashable]) -> None:
        super().__init__(sampler, batch_size, drop_last)
        self.keys = list(keys)

    def _groups(self) -> list[list[int]]:
        groups: dict[Hashable, list[int]] = {}
        for index in self.sampler:
            groups.setdefault(self.keys[index], []).append(index)
        return list(groups.values())

    def __iter__(self) -> Iterator[list[int]]:
        for indices in self._groups():
            for start in range(0, len(indices), self.batch_size):
                batch = indices[start : start + self.batch_size]
                if len(batch) == self.batch_size or not self.drop_last:
                    yield batch

    def __len__(self) -> int:
        sizes = [len(indices) for indices in self._groups()]
        if self.drop_last:
            return sum(size // self.batch_size for size in sizes)
        return sum(-(-size // self.batch_size) for size in sizes)


def size_grouped_loader(dataset: Dataset, keys: Sequence[Hashable], batch_size: int, num_workers: int) -> DataLoader:
    """DataLoader in dataset order whose batches hold only samples with equal keys (see SizeGroupedBatchSampler).

    Args:
        dataset: the dataset (validation, test or predict).
        keys: one key per sample, e.g. its output size.
        batch_size: the most samples per batch.
        num_workers: DataLoader worker processes (0 loads in the main process).
    """
    sampler = SizeGroupedBatchSampler(SequentialSampler(dataset), batch_size=batch_size, drop_last=False, keys=keys)
    return DataLoader(dataset, batch_sampler=sampler, num_workers=num_workers, persistent_workers=num_workers > 0)


class ImageFolderDataset(Dataset):
    """Input images for prediction: any size, not resized, channels converted, in [-1, 1].

    Items are ``{"A": (C, H, W) float32 in [-1, 1], "name": str, "bit_depth": int}``; batch them with
    ``size_grouped_loader(dataset, dataset.keys, ...)`` so each batch holds one size.

    Args:
        files: the input files (e.g. ``scan_folder(predict_dir, ...)``).
        channels: the channel count the model takes (grey <-> RGB converted).
    """

    def __init__(self, files: Sequence[ImageFile], channels: int) -> None:
        self.files = list(files)
        self.channels = channels
        self.keys = [(file.height, file.width) for file in self.files]  # channels are equal after conversion

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict:
        file = self.files[index]
        image, bit_depth = load_image(file.path)  # (C, H, W) in [0, 1]
        image = convert_channels(image, self.channels)
        return {"A": to_model_range(image), "name": file.name, "bit_depth": bit_depth}
