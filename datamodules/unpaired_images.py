"""Unpaired images (CycleGAN): two folders of images, one per domain, with no correspondence between them.

Layout as the reference's UnalignedDataset and its downloadable sets: ``root/trainA``, ``root/trainB`` for
training and ``root/testA``, ``root/testB`` for validation and test (folder names configurable).

Batches are dicts (every family relies on exactly this):
- ``"A"``: float32 ``(B, input_channels, H, W)`` in [-1, 1], an image of the input domain after ``direction``;
- ``"B"``: float32 ``(B, output_channels, H, W)`` in [-1, 1], an unrelated image of the other domain;
- ``"name"``: list of the A file's path relative to its folder;
- ``"bit_depth"``: int64 ``(B,)``, the A file's bits per sample (8 or 16).
An epoch is as long as the larger domain: item ``i`` takes A image ``i % len(A)`` and, in training, a B image
drawn at random (torch's global generator, which the project reseeds every epoch and DataLoader workers are
seeded from) or ``i % len(B)`` with ``serial_batches``; validation and test always pair serially. A and B get
independent random crops and flips, as in the reference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from datamodules._common import check_non_negative, check_positive, check_train_size, train_loader
from datamodules.downloads import UNPAIRED_DATASETS, download_dataset
from datamodules.image_folders import (
    ImageFile,
    ImageFolderDataset,
    Preprocess,
    Preprocessing,
    check_channels,
    check_uniform_size,
    convert_channels,
    load_image,
    scan_folder,
    size_grouped_loader,
    to_model_range,
)
from lightning_gans.errors import UserInputError

__all__ = ["UnpairedImageDataModule", "UnpairedImageDataset"]


class UnpairedImageDataset(Dataset):
    """Two domains as ``{"A", "B", "name", "bit_depth"}`` items; ``len`` is the larger domain's size.

    Args:
        files_a: the input domain's files (after ``direction``).
        files_b: the other domain's files.
        input_channels: channels of item ``"A"`` (grey <-> RGB converted).
        output_channels: channels of item ``"B"``.
        preprocessing: the resize/crop/flip, drawn independently for A and B.
        train: random crops, flips and B images (training) or the deterministic evaluation version.
        serial_batches: in training, take B image ``i % len(B)`` instead of a random one.
    """

    def __init__(
        self,
        files_a: list[ImageFile],
        files_b: list[ImageFile],
        input_channels: int,
        output_channels: int,
        preprocessing: Preprocessing,
        train: bool,
        serial_batches: bool,
    ) -> None:
        self.files_a = files_a
        self.files_b = files_b
        self.input_channels = input_channels
        self.output_channels = output_channels
        self.preprocessing = preprocessing
        self.train = train
        self.serial = serial_batches or not train
        self.sizes_a = [preprocessing.output_size(file.height, file.width, train) for file in files_a]
        self.sizes_b = [preprocessing.output_size(file.height, file.width, train) for file in files_b]

    def __len__(self) -> int:
        return max(len(self.files_a), len(self.files_b))

    @property
    def keys(self) -> list[tuple]:
        """Per item, the (A size, B size) pair that evaluation batches group by (B is serial there)."""
        return [(self.sizes_a[i % len(self.files_a)], self.sizes_b[i % len(self.files_b)]) for i in range(len(self))]

    def __getitem__(self, index: int) -> dict:
        file_a = self.files_a[index % len(self.files_a)]
        if self.serial:
            index_b = index % len(self.files_b)
        else:  # a random partner, so that no fixed pairs form (the reference's UnalignedDataset)
            index_b = int(torch.randint(len(self.files_b), ()).item())
        image_a, bit_depth = load_image(file_a.path)  # (C, H, W) in [0, 1]
        image_b, _ = load_image(self.files_b[index_b].path)
        image_a = self.preprocessing(convert_channels(image_a, self.input_channels), self.train)  # (C_A, H', W')
        image_b = self.preprocessing(convert_channels(image_b, self.output_channels), self.train)  # (C_B, H'', W'')
        return {
            "A": to_model_range(image_a),
            "B": to_model_range(image_b),
            "name": file_a.name,
            "bit_depth": bit_depth,
        }


class UnpairedImageDataModule(LightningDataModule):
    """Unpaired image folders for CycleGAN, with the reference's preprocessing, checked up front.

    Batches: ``{"A": (B, input_channels, H, W), "B": (B, output_channels, H, W)}`` float32 in [-1, 1] (unrelated
    images of the two domains), ``"name"`` (list of the A file's relative path) and ``"bit_depth"`` (int64
    ``(B,)``); predict batches (``predict_dir``) hold ``"A"``, ``"name"``, ``"bit_depth"`` of images of any size,
    batched only with images of the same size.

    ``setup`` reads every file's header first and stops with one line naming the file and the fix on: a missing or
    empty folder, files too small for the crop, channel counts that disagree within a domain, unreadable headers.
    ``input_channels``, ``output_channels`` and ``bit_depth`` are known after ``setup`` (reading them earlier runs
    the training folders' checks). Validation and test use the test folders, deterministically (no flip, centre
    crops, ``load_size`` replaced by ``crop_size``, B image ``i % len(B)``).

    Args:
        root: the data set folder, holding ``train_a``, ``train_b``, ``test_a``, ``test_b``.
        train_a: the training folder of domain A.
        train_b: the training folder of domain B.
        test_a: the validation/test folder of domain A, or None (with ``test_b``) for no validation.
        test_b: the validation/test folder of domain B, or None.
        direction: ``AtoB`` makes domain A the input (batch ``"A"``); ``BtoA`` swaps the domains.
        serial_batches: in training, pair A image ``i`` with B image ``i % len(B)`` instead of a random one
            (the reference's ``--serial_batches``).
        preprocess: the reference's ``--preprocess``: ``resize_and_crop`` (default), ``crop``, ``scale_width``,
            ``scale_width_and_crop`` or ``none`` (sides rounded to a multiple of 4).
        load_size: resize target in training (the reference's 286).
        crop_size: crop side (the reference's 256).
        flip: random horizontal flips in training (the reference's default).
        input_channels: channels of batch ``"A"``; None takes them from the files (all must agree), 1 or 3
            converts grey <-> RGB as the reference's ``input_nc``.
        output_channels: channels of batch ``"B"``, as ``input_channels``.
        batch_size: training and evaluation batch size (the reference's 1).
        num_workers: DataLoader worker processes (0 loads in the main process).
        predict_dir: a folder of input-domain images (any size) to translate with ``predict``.
        predict_batch_size: the most images per predict batch (only images of one size share a batch).
        download: download the data set when ``root`` does not exist (the reference's CycleGAN archives).
        dataset: the data set to download (horse2zebra, monet2photo, ...); None takes ``root``'s folder name.
    """

    aligned_validation = False  # testA and testB are unrelated images: no per-image score against B

    def __init__(
        self,
        root: str,
        train_a: str = "trainA",
        train_b: str = "trainB",
        test_a: str | None = "testA",
        test_b: str | None = "testB",
        direction: Literal["AtoB", "BtoA"] = "AtoB",
        serial_batches: bool = False,
        preprocess: Preprocess = "resize_and_crop",
        load_size: int = 286,
        crop_size: int = 256,
        flip: bool = True,
        input_channels: int | None = None,
        output_channels: int | None = None,
        batch_size: int = 1,
        num_workers: int = 0,
        predict_dir: str | None = None,
        predict_batch_size: int = 1,
        download: bool = False,
        dataset: str | None = None,
    ) -> None:
        super().__init__()
        if direction not in ("AtoB", "BtoA"):
            raise UserInputError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
        if (test_a is None) != (test_b is None):
            raise UserInputError(f"set both test_a and test_b, or neither; got test_a={test_a!r}, test_b={test_b!r}")
        check_positive("batch_size", batch_size)
        check_positive("predict_batch_size", predict_batch_size)
        check_non_negative("num_workers", num_workers)
        self.root = Path(root)
        self.train_folders = (train_a, train_b)
        self.test_folders = None if test_a is None else (test_a, test_b)
        self.direction = direction
        self.serial_batches = serial_batches
        self.preprocessing = Preprocessing(preprocess, load_size, crop_size, flip)
        self.requested_channels = (input_channels, output_channels)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.predict_dir = None if predict_dir is None else Path(predict_dir)
        self.predict_batch_size = predict_batch_size
        self.download = download
        self.dataset = dataset if dataset is not None else self.root.name
        if download and self.dataset not in UNPAIRED_DATASETS:
            raise UserInputError(
                f"download=True needs a known data set; {self.dataset!r} is not one of "
                f"{', '.join(UNPAIRED_DATASETS)}: set dataset= (or name root's folder after the data set)"
            )

        self._channels: tuple[int, int] | None = None  # (input, output)
        self._bit_depth: int | None = None
        self._train_files: tuple[list[ImageFile], list[ImageFile]] | None = None
        self.train_set: UnpairedImageDataset | None = None
        self.val_set: UnpairedImageDataset | None = None
        self.predict_set: ImageFolderDataset | None = None

    # ------------------------------------------------------------------------------------------------ checks
    def prepare_data(self) -> None:
        """Download the data set when ``download=True`` and ``root`` does not exist yet (once per node)."""
        if self.download and not self.root.exists():
            download_dataset(self.dataset, self.root, "unpaired")

    def _scan_domains(self, folders: tuple[str, str], purpose: str) -> tuple[list[ImageFile], list[ImageFile]]:
        """Read and check every header of two domain folders; returns (input domain, other domain) files."""
        fix = (
            f"set root to a folder holding {'/, '.join(self.train_folders + (self.test_folders or ()))}/ "
            f"(names set by train_a, train_b, test_a, test_b), or download=True for one of "
            f"{', '.join(UNPAIRED_DATASETS)}"
        )
        domains = []
        for folder in folders:
            files = scan_folder(self.root / folder, f"{purpose} images of domain {folder!r}", fix)
            for file in files:
                self.preprocessing.check(file)
            domains.append(files)
        files_a, files_b = domains
        return (files_a, files_b) if self.direction == "AtoB" else (files_b, files_a)

    def _resolve(self) -> None:
        """Check the training folders (or, for predict-only use, predict_dir) and fix channels and bit depth."""
        if self._channels is not None:
            return
        if self.download:
            self.prepare_data()
        requested_in, requested_out = self.requested_channels
        has_training_data = any((self.root / folder).is_dir() for folder in self.train_folders)
        if has_training_data or self.predict_dir is None:
            files_in, files_out = self._scan_domains(self.train_folders, "training")
            self._channels = (
                check_channels(files_in, requested_in, "input_channels"),
                check_channels(files_out, requested_out, "output_channels"),
            )
            self._bit_depth = max(file.bit_depth for file in files_in + files_out)
            self._train_files = (files_in, files_out)
            return
        files = self._scan_predict()
        if requested_out is None:
            raise UserInputError(
                f"output_channels cannot be read from files: there are no training folders in {self.root}; set "
                "output_channels (the model's output channels)"
            )
        self._channels = (check_channels(files, requested_in, "input_channels"), requested_out)
        self._bit_depth = max(file.bit_depth for file in files)

    def _scan_predict(self) -> list[ImageFile]:
        if self.predict_dir is None:
            raise UserInputError("predict needs predict_dir: set it to a folder of input-domain images")
        return scan_folder(self.predict_dir, "images to translate (predict_dir)", "set predict_dir to a folder of images")

    @property
    def input_channels(self) -> int:
        """Channels of batch ``"A"`` (the requested count, or the files')."""
        self._resolve()
        return self._channels[0]

    @property
    def output_channels(self) -> int:
        """Channels of batch ``"B"``."""
        self._resolve()
        return self._channels[1]

    @property
    def bit_depth(self) -> int:
        """Bits per sample to write outputs with: 16 when any training file (or, predict-only, input) is 16-bit."""
        self._resolve()
        return self._bit_depth

    # ------------------------------------------------------------------------------------------------ setup
    def _dataset(self, files: tuple[list[ImageFile], list[ImageFile]], train: bool) -> UnpairedImageDataset:
        files_in, files_out = files
        check_channels(files_in, self.input_channels, "input_channels")  # convertible to the training counts
        check_channels(files_out, self.output_channels, "output_channels")
        channels = (self.input_channels, self.output_channels)
        return UnpairedImageDataset(files_in, files_out, *channels, self.preprocessing, train, self.serial_batches)

    def setup(self, stage: str | None = None) -> None:
        """Check the stage's files (headers only) and build its datasets.

        Args:
            stage: ``fit`` (training + test folders for validation), ``validate``, ``test``, ``predict`` or None.
        """
        self._resolve()
        if stage in ("fit", None) and self.train_set is None and self._train_files is not None:
            self.train_set = self._dataset(self._train_files, train=True)
            check_train_size(type(self).__name__, len(self.train_set), self.batch_size)
            check_uniform_size(self.train_set.files_a, self.train_set.sizes_a, self.batch_size)
            check_uniform_size(self.train_set.files_b, self.train_set.sizes_b, self.batch_size)
        if stage in ("fit", "validate", "test", None) and self.val_set is None and self.test_folders is not None:
            self.val_set = self._dataset(self._scan_domains(self.test_folders, "validation/test"), train=False)
        if stage == "predict" or (stage is None and self.predict_dir is not None):
            files = self._scan_predict()
            check_channels(files, self.input_channels, "input_channels")
            self.predict_set = ImageFolderDataset(files, self.input_channels)

    def train_dataloader(self) -> DataLoader:
        """Shuffled training batches (epoch = the larger domain), dropping the last incomplete one."""
        return train_loader(self._require(self.train_set, "fit"), self.batch_size, self.num_workers)

    def val_dataloader(self) -> DataLoader | list:
        """Batches of the test folders in order (B serial, grouped by size), or ``[]`` without test folders."""
        if self.test_folders is None:
            return []
        dataset = self._require(self.val_set, "validate")
        return size_grouped_loader(dataset, dataset.keys, self.batch_size, self.num_workers)

    def test_dataloader(self) -> DataLoader | list:
        """The test folders again (the reference has no separate validation split)."""
        return self.val_dataloader()

    def predict_dataloader(self) -> DataLoader:
        """``{"A", "name", "bit_depth"}`` batches of ``predict_dir`` images, one size per batch, names in order."""
        dataset = self._require(self.predict_set, "predict")
        return size_grouped_loader(dataset, dataset.keys, self.predict_batch_size, self.num_workers)

    def _require(self, dataset: Dataset | None, stage: str) -> Dataset:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}: call setup({stage!r}) before asking for its dataloader")
        return dataset
