"""MNIST handwritten digits (LeCun et al. 1998) as a LightningDataModule, read with torchvision's ``MNIST`` layout.

The files live in ``<data_dir>/MNIST/raw/`` as the original IDX files, gzipped (``t10k-images-idx3-ubyte.gz``) or
not (``t10k-images-idx3-ubyte``). Only the two files of the split in use are needed, so a folder holding just the
10,000-image test split works with ``train_split="test"``.
"""

from lightning_gans.errors import UserInputError  # noqa: I001  (a ValueError the CLI reports in one line)
import gzip
import socket
from pathlib import Path
from typing import Literal

import torch
from lightning.pytorch import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader, Subset
from torchvision.datasets import MNIST
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

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

Split = Literal["train", "test"]

_FILE_PREFIX: dict[str, str] = {"train": "train", "test": "t10k"}  # official split -> IDX file name prefix
_ALL_FILES = (
    "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz"
)
_DOWNLOAD_SOCKET_TIMEOUT_S = 30.0  # a stalled mirror fails instead of hanging prepare_data


def read_idx(path: str | Path) -> Tensor:
    """Read an IDX file of unsigned bytes (the MNIST format), gzipped or not.

    Layout: 2 zero bytes, type code 0x08 (uint8), number of dimensions ``d``, ``d`` big-endian int32 sizes, data.

    Args:
        path: the file; a name ending in ``.gz`` is decompressed.

    Returns:
        uint8 tensor with the file's shape (``(N, 28, 28)`` for images, ``(N,)`` for labels).
    """
    path = Path(path)
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise UserInputError(f"{path} is not an IDX file of unsigned bytes (type code 0x08); is it an MNIST file?")
    num_dims = raw[3]
    header_size = 4 + 4 * num_dims
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(num_dims)]
    if len(raw) != header_size + int(torch.tensor(shape).prod()):
        raise UserInputError(f"{path} is truncated or corrupt: header says shape {shape}, file has {len(raw)} bytes")
    return torch.frombuffer(bytearray(raw[header_size:]), dtype=torch.uint8).reshape(shape)


def split_file(raw_folder: str | Path, split: Split, kind: Literal["images", "labels"]) -> Path | None:
    """Path of one MNIST IDX file, unzipped (preferred, as torchvision extracts it) or gzipped; None when absent.

    Args:
        raw_folder: the folder of IDX files, ``<data_dir>/MNIST/raw``.
        split: the official split, "train" or "test".
        kind: "images" (``*-images-idx3-ubyte``) or "labels" (``*-labels-idx1-ubyte``).
    """
    name = f"{_FILE_PREFIX[split]}-{kind}-idx{3 if kind == 'images' else 1}-ubyte"
    for candidate in (Path(raw_folder) / name, Path(raw_folder) / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


class _MNISTFiles(MNIST):
    """torchvision's MNIST (its mirrors, md5 sums and ``download``), relaxed to need only one split's two files.

    torchvision 0.29's ``_check_exists`` wants all four files unzipped; this one accepts the split's own two
    files, gzipped or not, so a read-only folder of the ``.gz`` files as distributed is enough.
    """

    # torchvision names the folders after the class; keep MNIST's own names.
    @property
    def raw_folder(self) -> str:
        return str(Path(self.root) / "MNIST" / "raw")

    @property
    def processed_folder(self) -> str:
        return str(Path(self.root) / "MNIST" / "processed")

    def _check_exists(self) -> bool:
        split = "train" if self.train else "test"
        return all(split_file(self.raw_folder, split, kind) is not None for kind in ("images", "labels"))

    def _load_data(self) -> tuple[Tensor, Tensor]:
        split = "train" if self.train else "test"
        images = read_idx(split_file(self.raw_folder, split, "images"))  # (N, 28, 28) uint8
        labels = read_idx(split_file(self.raw_folder, split, "labels")).long()  # (N,)
        if images.ndim != 3 or labels.shape != (images.shape[0],):
            raise UserInputError(
                f"MNIST files in {self.raw_folder} disagree: images {tuple(images.shape)}, labels {tuple(labels.shape)}"
            )
        return images, labels


class MNISTDataModule(LightningDataModule):
    """MNIST digits, one official split divided into training and validation sets.

    Batches are ``(x, y)``: ``x`` float32 ``(B, 1, image_size, image_size)`` in [-1, 1] (white digit on black:
    background -1, ink up to 1), ``y`` int64 digit labels ``(B,)`` in 0..9.

    Args:
        data_dir: root folder; the IDX files are read from ``<data_dir>/MNIST/raw/`` (torchvision's layout).
        batch_size: images per batch.
        num_workers: DataLoader worker processes (0 loads in the main process; the images are in memory).
        num_predict_samples: number of sample indices ``predict_dataloader`` yields.
        seed: seed of the train/validation split; the same seed holds out the same images.
        download: download the four MNIST files into ``<data_dir>/MNIST/raw/`` in ``prepare_data`` when the
            split's files are missing (needs internet).
        train_split: which official split to use, "train" (60,000 images) or "test" (10,000 images); the
            validation images are held out of the same split.
        val_size: number of images of ``train_split`` held out for validation (chosen at random by ``seed``);
            0 disables validation (``val_dataloader`` returns an empty list, which Lightning skips).
        image_size: side length of the images in pixels; 28 keeps MNIST as is, other sizes resize it with
            antialiased bilinear interpolation (DCGAN uses 32 or 64).
    """

    def __init__(
        self,
        data_dir: str = "data",
        batch_size: int = 64,
        num_workers: int = 0,
        num_predict_samples: int = 64,
        seed: int = 0,
        download: bool = True,
        train_split: Split = "train",
        val_size: int = 1000,
        image_size: int = 28,
    ) -> None:
        super().__init__()
        if train_split not in _FILE_PREFIX:
            raise UserInputError(f"train_split must be 'train' or 'test', got {train_split!r}")
        check_positive("batch_size", batch_size)
        check_non_negative("num_workers", num_workers)
        check_non_negative("num_predict_samples", num_predict_samples)
        check_non_negative("seed", seed)
        check_non_negative("val_size", val_size)
        check_positive("image_size", image_size)
        self.data_dir = data_dir
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.num_predict_samples = num_predict_samples
        self.seed = seed
        self.download = download
        self.train_split = train_split
        self.val_size = val_size
        self.image_size = image_size

        self.num_classes: int = 10
        self.sample_shape: tuple[int, ...] = (1, image_size, image_size)
        self.train_set: Subset | None = None
        self.val_set: Subset | None = None

    @property
    def raw_folder(self) -> Path:
        """Absolute path of the folder holding the IDX files, ``<data_dir>/MNIST/raw``."""
        return Path(self.data_dir).expanduser().absolute() / "MNIST" / "raw"

    def _dataset(self, download: bool) -> _MNISTFiles:
        return _MNISTFiles(root=self.data_dir, train=self.train_split == "train", download=download)

    def _split_files_exist(self) -> bool:
        return all(split_file(self.raw_folder, self.train_split, kind) is not None for kind in ("images", "labels"))

    def _missing_message(self, reason: str) -> str:
        prefix = _FILE_PREFIX[self.train_split]
        return (
            f"MNIST {self.train_split} split not found in {self.raw_folder}/ ({reason}): put "
            f"{prefix}-images-idx3-ubyte(.gz) and {prefix}-labels-idx1-ubyte(.gz) there (the MNIST IDX files are "
            f"{_ALL_FILES}) or run with internet and download=True (--data.download true)"
        )

    def prepare_data(self) -> None:
        """Download MNIST with torchvision when the split's files are missing and ``download`` is true.

        Raises:
            FileNotFoundError: the files are missing and ``download`` is false.
            RuntimeError: the files are missing and the download failed (no internet, mirrors down).
        """
        if self._split_files_exist():
            return
        if not self.download:
            raise FileNotFoundError(self._missing_message("download=False"))
        previous_timeout = socket.getdefaulttimeout()
        socket.setdefaulttimeout(_DOWNLOAD_SOCKET_TIMEOUT_S)
        try:
            self._dataset(download=True)
        except (RuntimeError, OSError) as error:  # URLError and socket timeouts are OSErrors
            # torchvision's message lists every mirror over several lines; its last line is the last cause.
            last_line = [line for line in str(error).splitlines() if line.strip()][-1:] or [type(error).__name__]
            raise RuntimeError(self._missing_message(f"download failed: {last_line[0].strip()}")) from None
        finally:
            socket.setdefaulttimeout(previous_timeout)

    def setup(self, stage: str | None = None) -> None:
        """Read the split, resize it to ``image_size`` and hold out ``val_size`` images (once; later calls do nothing).

        Args:
            stage: Lightning's stage ("fit", "validate", "test", "predict"); the same data serves all.

        Raises:
            FileNotFoundError: the split's files are not in ``<data_dir>/MNIST/raw/``.
        """
        if self.train_set is not None:
            return
        if not self._split_files_exist():
            raise FileNotFoundError(self._missing_message("run prepare_data() first or check data_dir"))
        files = self._dataset(download=False)
        images = files.data.unsqueeze(1)  # (N, 1, 28, 28) uint8
        if self.image_size != images.shape[-1]:
            images = TF.resize(
                images, [self.image_size, self.image_size], interpolation=InterpolationMode.BILINEAR, antialias=True
            )  # (N, 1, image_size, image_size) uint8
        dataset = UInt8ImageDataset(images, files.targets)

        num_images = len(dataset)
        if self.val_size >= num_images:
            raise UserInputError(
                f"val_size={self.val_size} must be smaller than the {num_images} images of the {self.train_split} split"
            )
        check_train_size(type(self).__name__, num_images - self.val_size, self.batch_size)
        (split_generator,) = seeded_generators(self.seed, 1)
        order = torch.randperm(num_images, generator=split_generator).tolist()
        self.val_set = Subset(dataset, order[: self.val_size])
        self.train_set = Subset(dataset, order[self.val_size :])

    def train_dataloader(self) -> DataLoader:
        """Shuffled batches ``(x (B, 1, S, S) float32 in [-1, 1], y (B,) int64)``, dropping the last incomplete one."""
        return train_loader(self._require(self.train_set), self.batch_size, self.num_workers)

    def val_dataloader(self) -> DataLoader | list:
        """Batches of the held-out images in a fixed order, or ``[]`` (no validation) when ``val_size=0``."""
        if self.val_size == 0:
            return []
        return eval_loader(self._require(self.val_set), self.batch_size, self.num_workers)

    def test_dataloader(self) -> DataLoader | list:
        """The held-out set again: ``lightning-gans test`` reports the validation metrics under ``test/``."""
        return self.val_dataloader()

    def predict_dataloader(self) -> DataLoader:
        """Batches of int64 sample indices ``(B,)`` over ``torch.arange(num_predict_samples)``."""
        return index_loader(self.num_predict_samples, self.batch_size)

    def _require(self, dataset: Subset | None) -> Subset:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}: call setup() before asking for a dataloader")
        return dataset
