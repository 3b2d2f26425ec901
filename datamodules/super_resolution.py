"""Super-resolution data: random HR crops with LR made on the fly (or read from paired folders), benchmark sets
for full-image validation, and any-size LR images for prediction.

Batches are dicts, in [0, 1] (super-resolution works in [0, 1], as BasicSR does, not in the GANs' [-1, 1]):

    {"lr": float32 (B, C, h, w), "hr": float32 (B, C, scale*h, scale*w), "name": list[str], "bit_depth": int64 (B,)}

``name`` is the file's name (``0001.png``; predictions are written under it) and ``bit_depth`` the HR file's bits
per sample (8 or 16).
LR images made here are MATLAB bicubic ``imresize(hr, 1/scale)`` (antialiased) of the HR, clamped to [0, 1] but
not rounded to 8 bits, so they differ from stored benchmark LR files by at most half a quantisation step.

Training follows BasicSR's ``PairedImageDataset`` / on-the-fly bicubic recipe (ESRGAN, Wang et al. 2018, Sec. 4.1):
a random ``gt_size`` HR crop, a random horizontal flip, and with ``use_rot`` a vertical flip and a transpose (the
8 square symmetries), the same transform on LR and HR. With ``lr_on_device`` the loaders yield HR only and
``on_after_batch_transfer`` makes the LR batch on the model's device, where a batched degradation pipeline
(Real-ESRGAN's) can take its place.

Prediction keeps each file as it is: greyscale stays one channel, an alpha channel stays (``(B, C + 1, h, w)``;
the SR families upscale it beside the network), 16-bit files stay 16-bit, and a batch holds images of one size and
channel count only.

Training crops are drawn by ``SeededSampler`` from (seed, epoch), the epoch being the trainer's (Lightning calls
``set_epoch`` on the sampler at every epoch, through its ``DistributedSamplerWrapper`` under DDP), so a run resumed
from a checkpoint sees the crops the uninterrupted run saw.

Folders are flat (not searched recursively); every image file in them is used. Sizes, channels and LR/HR pairing
are checked from the file headers in ``setup()``, before any decoding, so one bad file fails at once with a
one-line message naming it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from lightning.pytorch import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from datamodules._common import check_non_negative, check_positive
from lightning_gans.errors import UserInputError
from lightning_gans.images import read_image, read_image_size
from lightning_gans.imresize import imresize

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".webp")
_MAX_VALUE = {8: 255, 16: 65535}


@dataclass
class ImageFile:
    """One image file and what its header says.

    Args:
        path: the file.
        channels: channels in the file (1 greyscale, 2 greyscale + alpha, 3 RGB, 4 RGBA).
        height: rows.
        width: columns.
        bit_depth: bits per sample, 8 or 16.
    """

    path: Path
    channels: int
    height: int
    width: int
    bit_depth: int


def list_images(folder: str | Path, argument: str) -> list[Path]:
    """The image files directly in ``folder``, sorted by name.

    Args:
        folder: the folder to list.
        argument: the argument that named it (shown in error messages).
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise UserInputError(f"{argument}: {root} is not a folder; give a folder of images")
    paths = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise UserInputError(f"{argument}: {root} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return paths


CHANNEL_KINDS = {1: "greyscale", 2: "greyscale + alpha", 3: "RGB", 4: "RGBA"}


def inspect_image(path: Path, channels: int, argument: str, alpha: bool = False) -> ImageFile:
    """Read ``path``'s header and check that a ``channels``-channel model can take the file.

    Args:
        path: the image file.
        channels: the data module's channels (1 or 3): greyscale files go into RGB models too.
        argument: the argument whose folder holds the file (shown in error messages).
        alpha: also allow an alpha channel (prediction: it is upscaled beside the network).
    """
    file_channels, height, width, bit_depth = read_image_size(path)  # one-line UserInputError if unreadable
    allowed = (1, channels) + ((2, channels + 1) if alpha else ())
    if file_channels not in allowed:
        kind = CHANNEL_KINDS.get(file_channels, f"{file_channels}-channel")
        kinds = [CHANNEL_KINDS[c] for c in sorted(set(allowed))]
        wanted = kinds[0] if len(kinds) == 1 else f"{', '.join(kinds[:-1])} or {kinds[-1]}"
        raise UserInputError(f"{argument}: {path} is {kind}; with channels={channels} images must be {wanted}")
    if file_channels == 2 and bit_depth == 16 and path.suffix.lower() == ".png":  # its output could not be written
        raise UserInputError(f"{argument}: {path} is a 16-bit grey + alpha PNG, which no PNG writer here can write back; "
                             "convert it to a 16-bit TIFF (same name, .tif)")
    return ImageFile(path, file_channels, height, width, bit_depth)


def pair_low_resolution(hr_files: list[Path], lr_folder: str | Path, scale: int, argument: str) -> list[Path]:
    """The LR partner of each HR file: same stem, or the stem plus ``x{scale}`` (DIV2K's ``0001x4.png``).

    Args:
        hr_files: the HR images.
        lr_folder: folder of their LR versions.
        scale: the super-resolution factor.
        argument: the LR folder's argument (shown in error messages).
    """
    lr_files = list_images(lr_folder, argument)
    by_stem = {p.stem: p for p in lr_files}
    partners = []
    for hr in hr_files:
        partner = by_stem.get(hr.stem) or by_stem.get(f"{hr.stem}x{scale}")
        if partner is None:
            raise UserInputError(
                f"{argument}: no LR image for {hr} in {lr_folder} (looked for {hr.stem}.* and {hr.stem}x{scale}.*)"
            )
        partners.append(partner)
    unused = sorted(set(lr_files) - set(partners))
    if unused:
        raise UserInputError(f"{argument}: {unused[0]} has no HR partner of the same name; remove it or add the HR")
    return partners


def check_pair(hr: ImageFile, lr: ImageFile, scale: int, argument: str) -> None:
    """Raise unless ``lr`` is ``floor(H / scale) x floor(W / scale)`` of ``hr`` (the HR is mod-cropped to fit).

    Args:
        hr: the HR file's header.
        lr: its LR partner's header.
        scale: the super-resolution factor.
        argument: the LR folder's argument (shown in error messages).
    """
    expected = (hr.height // scale, hr.width // scale)
    if (lr.height, lr.width) != expected:
        raise UserInputError(
            f"{argument}: {lr.path} is {lr.height}x{lr.width} but its HR {hr.path} is {hr.height}x{hr.width}; "
            f"with scale={scale} the LR must be {expected[0]}x{expected[1]}"
        )
    if lr.channels != hr.channels:
        raise UserInputError(f"{argument}: {lr.path} has {lr.channels} channels but its HR {hr.path} has {hr.channels}")


def to_unit_float(stored: Tensor, bit_depth: int, channels: int) -> Tensor:
    """``(C, H, W)`` uint8/uint16 (or float in [0, 1]) samples as float32 in [0, 1] with ``channels`` channels.

    Args:
        stored: the samples.
        bit_depth: their bits per sample (ignored for float input).
        channels: output channels; greyscale is repeated to 3.
    """
    image = stored if stored.is_floating_point() else stored.to(torch.float32) / _MAX_VALUE[bit_depth]
    return image.expand(channels, -1, -1) if image.shape[0] != channels else image


def load_samples(path: Path) -> Tensor:
    """Decode ``path`` to its integer samples, ``(C, H, W)`` uint8 or uint16: the compact form for caching.

    Args:
        path: the image file.
    """
    image, bit_depth = read_image(path)
    samples = (image * _MAX_VALUE[bit_depth]).round()  # exact: read_image divided integers by the same value
    return samples.to(torch.uint8 if bit_depth == 8 else torch.uint16)


def augment(images: list[Tensor], hflip: bool, vflip: bool, transpose: bool) -> list[Tensor]:
    """Apply the same flips and transpose to every ``(C, H, W)`` image (BasicSR's ``augment``).

    Args:
        images: the images (e.g. LR and HR crops of one sample).
        hflip: flip left-right.
        vflip: flip top-bottom.
        transpose: swap H and W (with the flips: all 8 square symmetries).
    """
    out = []
    for image in images:
        image = image.flip(-1) if hflip else image
        image = image.flip(-2) if vflip else image
        out.append(image.transpose(-2, -1) if transpose else image)
    return out


def make_low_resolution(hr: Tensor, scale: int) -> Tensor:
    """MATLAB bicubic ``imresize(hr, 1/scale)`` clamped to [0, 1] (bicubic overshoots at edges), not rounded.

    Args:
        hr: ``(C, H, W)`` or ``(B, C, H, W)`` float in [0, 1] with H, W multiples of ``scale``.
        scale: the super-resolution factor.
    """
    return imresize(hr, scale=1 / scale).clamp(0, 1)


class SeededSampler(Sampler[tuple[int, int]]):
    """Shuffled ``(index, sample_seed)`` pairs: each crop's randomness comes from its own seed.

    The seeds are drawn in the main process from ``(seed, epoch)``, so the crops and flips of a run do not depend
    on ``num_workers`` or on the global RNG, and every epoch differs. The epoch is the trainer's: Lightning's fit
    loop calls ``set_epoch(epoch)`` before each epoch (under DDP its ``DistributedSamplerWrapper`` shards this
    sampler's pairs and passes ``set_epoch`` on), so a run resumed from a checkpoint repeats the uninterrupted
    run's crops. Lightning makes the first iterator of a ``fit`` before that call (with workers it draws its
    first indices at once), hence ``epoch``, which the data module sets to the trainer's. Outside a Trainer each
    pass is the next epoch.

    Args:
        num_samples: samples per epoch.
        seed: the data seed.
        epoch: the epoch of the first pass.
    """

    def __init__(self, num_samples: int, seed: int, epoch: int = 0) -> None:
        self.num_samples = num_samples
        self.seed = seed
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass epoch ``epoch``'s (Lightning calls it at the start of every training epoch).

        Args:
            epoch: the epoch about to start (Lightning's ``epoch_progress.current.processed``).
        """
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[int, int]]:
        state = np.random.SeedSequence([self.seed, self.epoch]).generate_state(1, dtype=np.uint64)[0]
        generator = torch.Generator().manual_seed(int(state))
        self.epoch += 1  # a second pass without set_epoch is the next epoch
        order = torch.randperm(self.num_samples, generator=generator).tolist()
        seeds = torch.randint(0, 2**62, (self.num_samples,), generator=generator).tolist()
        return iter(zip(order, seeds))


class CropDataset(Dataset[dict]):
    """Random HR crops (and their LR) of a list of images; indexed by ``(index, sample_seed)`` from SeededSampler.

    Args:
        hr_files: HR headers.
        lr_files: their LR partners' headers, or None to make LR by bicubic downscaling.
        gt_size: HR crop side.
        scale: the super-resolution factor.
        channels: output channels.
        use_hflip: random horizontal flips.
        use_rot: random vertical flips and transposes.
        make_lr: make LR here (False: yield HR only, LR is made on the device).
        crops_per_image: samples per image and epoch.
        cache: decoded samples per image, ``(hr, lr or None)``, or None to decode each crop's file.
    """

    def __init__(
        self,
        hr_files: list[ImageFile],
        lr_files: list[ImageFile] | None,
        gt_size: int,
        scale: int,
        channels: int,
        use_hflip: bool,
        use_rot: bool,
        make_lr: bool,
        crops_per_image: int,
        cache: list[tuple[Tensor, Tensor | None]] | None,
    ) -> None:
        self.hr_files, self.lr_files = hr_files, lr_files
        self.gt_size, self.scale, self.channels = gt_size, scale, channels
        self.use_hflip, self.use_rot, self.make_lr = use_hflip, use_rot, make_lr
        self.crops_per_image = crops_per_image
        self.cache = cache

    def __len__(self) -> int:
        return len(self.hr_files) * self.crops_per_image

    def _load(self, index: int) -> tuple[Tensor, Tensor | None]:
        if self.cache is not None:
            return self.cache[index]
        hr = read_image(self.hr_files[index].path)[0]  # (C, H, W) float32
        lr = read_image(self.lr_files[index].path)[0] if self.lr_files is not None else None
        return hr, lr

    def __getitem__(self, key: tuple[int, int]) -> dict:
        sample, sample_seed = key
        index = sample % len(self.hr_files)
        generator = torch.Generator().manual_seed(sample_seed)
        hr_file = self.hr_files[index]
        hr_full, lr_full = self._load(index)
        gt, lr_size = self.gt_size, self.gt_size // self.scale
        if lr_full is not None:  # crop in LR coordinates so that the HR crop lines up exactly
            top = int(torch.randint(lr_full.shape[-2] - lr_size + 1, (), generator=generator))
            left = int(torch.randint(lr_full.shape[-1] - lr_size + 1, (), generator=generator))
            crops = [
                hr_full[:, self.scale * top : self.scale * top + gt, self.scale * left : self.scale * left + gt],
                lr_full[:, top : top + lr_size, left : left + lr_size],
            ]
        else:
            top = int(torch.randint(hr_full.shape[-2] - gt + 1, (), generator=generator))
            left = int(torch.randint(hr_full.shape[-1] - gt + 1, (), generator=generator))
            crops = [hr_full[:, top : top + gt, left : left + gt]]
        depths = [hr_file.bit_depth] + ([self.lr_files[index].bit_depth] if lr_full is not None else [])
        crops = [to_unit_float(c, d, self.channels) for c, d in zip(crops, depths)]  # (C, gt, gt), (C, lr, lr)
        coins = (torch.rand(3, generator=generator) < 0.5).tolist()
        hflip = self.use_hflip and coins[0]
        vflip = self.use_rot and coins[1]
        transpose = self.use_rot and coins[2]
        crops = augment(crops, hflip, vflip, transpose)
        batch = {"hr": crops[0].contiguous(), "name": hr_file.path.name, "bit_depth": hr_file.bit_depth}
        if lr_full is not None:
            batch["lr"] = crops[1].contiguous()
        elif self.make_lr:
            batch["lr"] = make_low_resolution(crops[0], self.scale)  # (C, gt / scale, gt / scale)
        return batch


class FullImageDataset(Dataset[dict]):
    """Whole validation images: HR mod-cropped to a multiple of ``scale``, LR from its file or bicubic.

    Args:
        hr_files: HR headers.
        lr_files: their LR partners' headers, or None to make LR by bicubic downscaling.
        scale: the super-resolution factor.
        channels: output channels.
        make_lr: make LR here (False: yield HR only, LR is made on the device).
    """

    def __init__(
        self, hr_files: list[ImageFile], lr_files: list[ImageFile] | None, scale: int, channels: int, make_lr: bool
    ) -> None:
        self.hr_files, self.lr_files = hr_files, lr_files
        self.scale, self.channels, self.make_lr = scale, channels, make_lr

    def __len__(self) -> int:
        return len(self.hr_files)

    def __getitem__(self, index: int) -> dict:
        hr_file = self.hr_files[index]
        hr = to_unit_float(read_image(hr_file.path)[0], 8, self.channels)  # (C, H, W)
        height, width = hr.shape[-2] // self.scale * self.scale, hr.shape[-1] // self.scale * self.scale
        hr = hr[:, :height, :width].contiguous()  # mod-crop: the benchmarks' ground truth
        batch = {"hr": hr, "name": hr_file.path.name, "bit_depth": hr_file.bit_depth}
        if self.lr_files is not None:
            batch["lr"] = to_unit_float(read_image(self.lr_files[index].path)[0], 8, self.channels)
        elif self.make_lr:
            batch["lr"] = make_low_resolution(hr, self.scale)  # (C, H / scale, W / scale)
        return batch


def same_size_batches(files: list[ImageFile], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of at most ``batch_size`` images of one size and channel count (in order of
    first appearance).

    Args:
        files: the image headers.
        batch_size: most images per batch.
    """
    groups: dict[tuple[int, int, int], list[int]] = {}
    for index, file in enumerate(files):
        groups.setdefault((file.height, file.width, file.channels), []).append(index)
    return [group[i : i + batch_size] for group in groups.values() for i in range(0, len(group), batch_size)]


class LowResBatches(Dataset[dict]):
    """LR images of any size for prediction, already batched: item ``i`` is the ``i``-th group of one size and
    channel count.

    Each item is ``{"lr": (n, C, h, w), "name": list[str], "bit_depth": int64 (n,)}`` with the files' own C (1
    greyscale, 2 greyscale + alpha, 3 RGB, 4 RGBA) and samples (16-bit files keep their 65536 levels); the
    DataLoader runs with ``batch_size=None``, so Lightning's samplers (also under DDP) see whole batches.

    Args:
        files: the LR headers.
        batch_size: most images per batch.
    """

    def __init__(self, files: list[ImageFile], batch_size: int) -> None:
        self.files = files
        self.batches = same_size_batches(files, batch_size)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> dict:
        files = [self.files[i] for i in self.batches[index]]
        lr = torch.stack([read_image(f.path)[0] for f in files])  # (n, C, h, w) float32 in [0, 1]
        bit_depth = torch.tensor([f.bit_depth for f in files], dtype=torch.int64)
        return {"lr": lr, "name": [f.path.name for f in files], "bit_depth": bit_depth}


def as_list(value: str | list[str] | None) -> list[str]:
    """``None`` -> [], one folder -> [folder], a list -> the list."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


class SuperResolutionDataModule(LightningDataModule):
    """Super-resolution data: random HR crops for training, full images of several sets for validation.

    Batches: ``{"lr": float32 (B, C, h, w), "hr": float32 (B, C, scale*h, scale*w), "name": list[str],
    "bit_depth": int64 (B,)}`` in [0, 1], ``name`` the file names. Prediction batches have no ``"hr"`` and keep
    each file's channels (greyscale, alpha) and bit depth, one size and channel count per batch. Training draws
    ``gt_size`` crops (LR crops ``gt_size / scale``) with BasicSR's flips and rotations, a new draw each epoch of the
    trainer's (resuming repeats them); validation uses whole images, ground truth
    mod-cropped to a multiple of ``scale``, batch size 1, one dataloader per set in the order of
    ``val_set_names`` (log as ``val/<name>/psnr_y``); ``test`` uses the same sets. LR is read from the paired
    folder when one is given, else made by MATLAB bicubic downscaling (``lightning_gans.imresize``).

    Args:
        train_dir: folder (or list of folders) of HR training images; None when only validating or predicting.
        train_lr_dir: folder (or list, one per ``train_dir``) of the matching LR images, e.g. DIV2K's
            ``DIV2K_train_LR_bicubic/X4`` (``0001x4.png`` pairs with ``0001.png``); None makes LR on the fly.
        val_sets: validation sets, ``{name: HR folder}`` (e.g. ``{"Set5": ".../Set5/GTmod12"}``) or a list of HR
            folders named after the folder; None for no validation.
        val_lr_sets: ``{name: LR folder}`` for those ``val_sets`` that have stored LR images (e.g. ``{"Set5":
            ".../Set5/LRbicx4"}``); the others get bicubic LR.
        predict_dir: folder of LR images of any size to super-resolve with ``lightning-gans predict``.
        scale: upscaling factor; LR sides are HR sides / ``scale``.
        gt_size: HR training crop side in pixels (128 in ESRGAN / BasicSR); a multiple of ``scale`` (x3: e.g. 144).
        batch_size: training crops per batch (16 in ESRGAN / BasicSR).
        predict_batch_size: most LR images per predict batch; only images of the same size and channels share a
            batch.
        num_workers: DataLoader worker processes (0 loads in the main process).
        use_hflip: random horizontal flips of training crops.
        use_rot: random vertical flips and transposes of training crops (with ``use_hflip``: all 8 symmetries).
        crops_per_image: training crops per image and epoch (BasicSR's ``dataset_enlarge_ratio``): small sets
            otherwise make epochs of a few steps.
        cache_mb: keep the decoded training images in memory (uint8/uint16) when they fit in this many MiB, so a
            crop costs a slice instead of decoding a whole file (Urban100 photos on one CPU core: ~1000 crops/s
            cached, 15-35 uncached); 0 never caches. For sets too large to cache, cut the images into sub-images
            first (BasicSR's ``extract_subimages.py``: 480 x 480) so that each decode is cheap.
        lr_on_device: yield HR only and make the LR batch in ``on_after_batch_transfer`` on the model's device
            (for batched degradation pipelines); stored LR folders are still used as they are.
        channels: 3 (RGB; greyscale training files are repeated) or 1 (greyscale only). Prediction also takes
            files with an alpha channel, and greyscale files into an RGB model (they come back greyscale).
        seed: seed of the crops and flips (independent of ``num_workers`` and of the model's RNG).
    """

    def __init__(
        self,
        train_dir: str | list[str] | None = None,
        train_lr_dir: str | list[str] | None = None,
        val_sets: dict[str, str] | list[str] | None = None,
        val_lr_sets: dict[str, str] | None = None,
        predict_dir: str | None = None,
        scale: Literal[2, 3, 4] = 4,
        gt_size: int = 128,
        batch_size: int = 16,
        predict_batch_size: int = 1,
        num_workers: int = 0,
        use_hflip: bool = True,
        use_rot: bool = True,
        crops_per_image: int = 1,
        cache_mb: int = 2048,
        lr_on_device: bool = False,
        channels: Literal[1, 3] = 3,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if scale not in (2, 3, 4):
            raise UserInputError(f"scale must be 2, 3 or 4, got {scale!r}")
        if channels not in (1, 3):
            raise UserInputError(f"channels must be 1 or 3, got {channels!r}")
        for name, value in (("gt_size", gt_size), ("batch_size", batch_size), ("crops_per_image", crops_per_image),
                            ("predict_batch_size", predict_batch_size)):
            check_positive(name, value)
        for name, value in (("num_workers", num_workers), ("cache_mb", cache_mb), ("seed", seed)):
            check_non_negative(name, value)
        if train_dir is not None and gt_size % scale:
            raise UserInputError(
                f"gt_size ({gt_size}) must be a multiple of scale ({scale}), "
                f"e.g. {max(scale, gt_size // scale * scale)}"
            )
        self.train_dirs = as_list(train_dir)
        self.train_lr_dirs = as_list(train_lr_dir)
        if self.train_lr_dirs and len(self.train_lr_dirs) != len(self.train_dirs):
            raise UserInputError(
                f"train_lr_dir names {len(self.train_lr_dirs)} folders but train_dir {len(self.train_dirs)}; "
                "give one LR folder per HR folder"
            )
        self.val_folders = self._name_val_sets(val_sets)
        self.val_lr_folders = dict(val_lr_sets or {})
        unknown = sorted(set(self.val_lr_folders) - set(self.val_folders))
        if unknown:
            raise UserInputError(f"val_lr_sets names {unknown[0]!r}, which is not in val_sets {list(self.val_folders)}")
        self.predict_dir = predict_dir
        self.scale = scale
        self.gt_size = gt_size
        self.batch_size = batch_size
        self.predict_batch_size = predict_batch_size
        self.num_workers = num_workers
        self.use_hflip = use_hflip
        self.use_rot = use_rot
        self.crops_per_image = crops_per_image
        self.cache_mb = cache_mb
        self.lr_on_device = lr_on_device
        self.channels = channels
        self.seed = seed

        self.val_set_names: list[str] = list(self.val_folders)
        self.train_set: CropDataset | None = None
        self.val_datasets: list[FullImageDataset] | None = None
        self.predict_set: LowResBatches | None = None

    @staticmethod
    def _name_val_sets(val_sets: dict[str, str] | list[str] | None) -> dict[str, str]:
        if val_sets is None:
            return {}
        if isinstance(val_sets, dict):
            return dict(val_sets)
        named: dict[str, str] = {}
        for folder in as_list(val_sets):
            name = Path(folder).name
            if name in named:
                raise UserInputError(
                    f"val_sets: {named[name]} and {folder} are both named {name!r}; "
                    "give a dict {name: folder} instead of a list"
                )
            named[name] = folder
        return named

    # ----------------------------------------------------------------------------------------------- setup

    def setup(self, stage: str | None = None) -> None:
        """Check and index the folders the stage needs (headers only; the training images may be cached).

        Args:
            stage: Lightning's stage: "fit" needs the training and validation sets, "validate"/"test" the
                validation sets, "predict" ``predict_dir``; None prepares everything configured.
        """
        if stage in ("fit", None) and self.train_dirs and self.train_set is None:
            self.train_set = self._training_set()
        if stage in ("fit", "validate", "test", None) and self.val_datasets is None:
            self.val_datasets = [self._validation_set(name) for name in self.val_set_names]
        if stage in ("predict", None) and self.predict_dir is not None and self.predict_set is None:
            paths = list_images(self.predict_dir, "predict_dir")
            files = [inspect_image(path, self.channels, "predict_dir", alpha=True) for path in paths]
            self.predict_set = LowResBatches(files, self.predict_batch_size)

    def _paired_files(
        self, hr_dir: str, lr_dir: str | None, hr_arg: str, lr_arg: str
    ) -> tuple[list[ImageFile], list[ImageFile] | None]:
        """Headers of the HR images in ``hr_dir`` and of their LR partners in ``lr_dir`` (checked), or None."""
        hr_paths = list_images(hr_dir, hr_arg)
        hr_files = [inspect_image(p, self.channels, hr_arg) for p in hr_paths]
        if lr_dir is None:
            return hr_files, None
        lr_paths = pair_low_resolution(hr_paths, lr_dir, self.scale, lr_arg)
        lr_files = [inspect_image(p, self.channels, lr_arg) for p in lr_paths]
        for hr, lr in zip(hr_files, lr_files):
            check_pair(hr, lr, self.scale, lr_arg)
        return hr_files, lr_files

    def _training_set(self) -> CropDataset:
        hr_files: list[ImageFile] = []
        lr_files: list[ImageFile] | None = [] if self.train_lr_dirs else None
        for i, folder in enumerate(self.train_dirs):
            lr_dir = self.train_lr_dirs[i] if self.train_lr_dirs else None
            hr, lr = self._paired_files(folder, lr_dir, "train_dir", "train_lr_dir")
            hr_files += hr
            if lr_files is not None:
                lr_files += lr
        for file in hr_files:
            if file.height < self.gt_size or file.width < self.gt_size:
                raise UserInputError(
                    f"train_dir: {file.path} is {file.height}x{file.width}, smaller than gt_size={self.gt_size}; "
                    "lower gt_size or remove the image"
                )
        if len(hr_files) * self.crops_per_image < self.batch_size:
            raise UserInputError(
                f"train_dir: {len(hr_files)} images x crops_per_image={self.crops_per_image} cannot fill one batch of "
                f"batch_size={self.batch_size}; raise crops_per_image or lower batch_size"
            )
        every_file = hr_files + (lr_files or [])
        cached_bytes = sum(f.channels * f.height * f.width * f.bit_depth // 8 for f in every_file)
        cache = None
        if cached_bytes <= self.cache_mb * 2**20:
            lows = [load_samples(f.path) for f in lr_files] if lr_files is not None else [None] * len(hr_files)
            cache = [(load_samples(f.path), low) for f, low in zip(hr_files, lows)]
        return CropDataset(
            hr_files, lr_files, self.gt_size, self.scale, self.channels, self.use_hflip, self.use_rot,
            make_lr=not self.lr_on_device, crops_per_image=self.crops_per_image, cache=cache,
        )  # fmt: skip

    def _validation_set(self, name: str) -> FullImageDataset:
        argument = f"val_sets[{name}]"
        lr_dir = self.val_lr_folders.get(name)
        hr_files, lr_files = self._paired_files(self.val_folders[name], lr_dir, argument, f"val_lr_sets[{name}]")
        for file in hr_files:
            if file.height < self.scale or file.width < self.scale:
                size = f"{file.height}x{file.width}"
                raise UserInputError(f"{argument}: {file.path} is {size}, smaller than scale={self.scale}")
        return FullImageDataset(hr_files, lr_files, self.scale, self.channels, make_lr=not self.lr_on_device)

    # ----------------------------------------------------------------------------------------------- loaders

    def train_dataloader(self) -> DataLoader:
        """Shuffled batches of random crops, ``batch_size`` each (the last incomplete batch is dropped)."""
        if self.train_set is None:
            if not self.train_dirs:
                raise UserInputError("SuperResolutionDataModule: fitting needs train_dir (a folder of HR images)")
            raise RuntimeError("SuperResolutionDataModule: call setup('fit') before asking for a dataloader")
        # the epoch Lightning passes to set_epoch; the first iterator of a fit is made before that call
        epoch = self.trainer.fit_loop.epoch_progress.current.processed if self.trainer is not None else 0
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            sampler=SeededSampler(len(self.train_set), self.seed, epoch),
            drop_last=True,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def val_dataloader(self) -> list[DataLoader]:
        """One loader of whole images (batch size 1) per validation set, in the order of ``val_set_names``."""
        if self.val_datasets is None:
            raise RuntimeError("SuperResolutionDataModule: call setup() before asking for a dataloader")
        return [DataLoader(dataset, batch_size=1, num_workers=self.num_workers) for dataset in self.val_datasets]

    def test_dataloader(self) -> list[DataLoader]:
        """The validation sets again: ``lightning-gans test`` reports their metrics under ``test/``."""
        return self.val_dataloader()

    def predict_dataloader(self) -> DataLoader:
        """Batches ``{"lr", "name", "bit_depth"}`` of the ``predict_dir`` images, one size and channel count each."""
        if self.predict_set is None:
            if self.predict_dir is None:
                raise UserInputError("SuperResolutionDataModule: predicting needs predict_dir (a folder of LR images)")
            raise RuntimeError("SuperResolutionDataModule: call setup('predict') before asking for a dataloader")
        return DataLoader(self.predict_set, batch_size=None, num_workers=self.num_workers)

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        """With ``lr_on_device``, make the LR batch from the HR batch on its device (bicubic, clamped to [0, 1]).

        Args:
            batch: the batch on the model's device.
            dataloader_idx: which loader it came from.
        """
        if self.lr_on_device and "lr" not in batch and "hr" in batch:
            batch["lr"] = make_low_resolution(batch["hr"], self.scale)  # (B, C, h, w)
        return batch
