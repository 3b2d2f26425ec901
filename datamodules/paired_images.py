"""Paired images (pix2pix): each input image has a target aligned with it pixel for pixel.

Two layouts on disk, split folders named by ``train_split`` / ``val_split`` / ``test_split``:
- ``aligned`` (the reference's AlignedDataset and its downloadable sets): ``root/<split>/*``, every file holds A
  (left half) and B (right half) side by side;
- ``folders``: ``root/<split>/<folder_a>/<name>`` and ``root/<split>/<folder_b>/<name>``, partners matched by
  relative path without suffix (``x.png`` pairs with ``x.jpg``).

Batches are dicts (every family relies on exactly this):
- ``"A"``: float32 ``(B, input_channels, H, W)`` in [-1, 1], the input domain after ``direction``;
- ``"B"``: float32 ``(B, output_channels, H, W)`` in [-1, 1], its aligned target;
- ``"name"``: list of the input file's path relative to its folder (predictions are written under it);
- ``"bit_depth"``: int64 ``(B,)``, bits per sample (8 or 16) of the input file.
A and B of a pair go through one resize, crop and flip: they are stacked along channels and preprocessed as one
tensor, so they stay aligned. Predict batches (``predict_dir``) hold ``"A"``, ``"name"``, ``"bit_depth"`` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from datamodules._common import check_non_negative, check_positive, check_train_size, train_loader
from datamodules.downloads import PAIRED_DATASETS, download_dataset
from datamodules.image_folders import (
    ImageFile,
    ImageFolderDataset,
    Preprocess,
    Preprocessing,
    check_channels,
    check_same_size,
    check_uniform_size,
    convert_channels,
    load_image,
    match_by_stem,
    scan_folder,
    size_grouped_loader,
    to_model_range,
)
from lightning_gans.errors import UserInputError

__all__ = ["PairedImageDataModule", "PairedImageDataset"]


@dataclass(frozen=True)
class Pair:
    """One training pair on disk.

    Args:
        a: the A file (the ``aligned`` layout: the A|B file).
        b: the B file, or None when B is the right half of ``a``.
    """

    a: ImageFile
    b: ImageFile | None

    @property
    def height(self) -> int:
        return self.a.height

    @property
    def width(self) -> int:
        """The width of one image of the pair (half the file's for the aligned layout)."""
        return self.a.width if self.b is not None else self.a.width // 2


class PairedImageDataset(Dataset):
    """Pairs as ``{"A", "B", "name", "bit_depth"}`` items, A and B sharing one random resize/crop/flip.

    Args:
        pairs: the pairs (checked by ``PairedImageDataModule``).
        direction: ``AtoB`` (A is the input) or ``BtoA``.
        input_channels: channels of item ``"A"`` (grey <-> RGB converted).
        output_channels: channels of item ``"B"``.
        preprocessing: the resize/crop/flip.
        train: random crops and flips (training) or the deterministic evaluation version.
    """

    def __init__(
        self,
        pairs: list[Pair],
        direction: Literal["AtoB", "BtoA"],
        input_channels: int,
        output_channels: int,
        preprocessing: Preprocessing,
        train: bool,
    ) -> None:
        self.pairs = pairs
        self.direction = direction
        self.input_channels = input_channels
        self.output_channels = output_channels
        self.preprocessing = preprocessing
        self.train = train
        self.sizes = [preprocessing.output_size(pair.height, pair.width, train) for pair in pairs]  # (H, W) each

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        pair = self.pairs[index]
        image_a, bit_depth = load_image(pair.a.path)  # (C, H, W) in [0, 1]
        if pair.b is None:  # aligned layout: A | B side by side
            half = image_a.shape[-1] // 2
            image_a, image_b = image_a[..., :half], image_a[..., half:]
        else:
            image_b, _ = load_image(pair.b.path)
        source, target = (image_a, image_b) if self.direction == "AtoB" else (image_b, image_a)
        input_file = pair.a if self.direction == "AtoB" or pair.b is None else pair.b
        source = convert_channels(source, self.input_channels)  # (C_A, H, W)
        target = convert_channels(target, self.output_channels)  # (C_B, H, W)
        if source.shape[-2:] != target.shape[-2:]:
            raise UserInputError(f"{input_file.path} changed size since the data checks; restart the run")
        joint = self.preprocessing(torch.cat([source, target]), self.train)  # (C_A + C_B, H', W'): one crop, one flip
        return {
            "A": to_model_range(joint[: self.input_channels]),
            "B": to_model_range(joint[self.input_channels :]),
            "name": input_file.name,
            "bit_depth": bit_depth,
        }


class PairedImageDataModule(LightningDataModule):
    """Paired image folders for pix2pix, with the reference's preprocessing, checked up front.

    Batches: ``{"A": (B, input_channels, H, W), "B": (B, output_channels, H, W)}`` float32 in [-1, 1], plus
    ``"name"`` (list of the input file's relative path) and ``"bit_depth"`` (int64 ``(B,)``, 8 or 16); predict
    batches (``predict_dir``) hold ``"A"``, ``"name"``, ``"bit_depth"`` of images of any size, batched only with
    images of the same size.

    ``setup`` reads every file's header first and stops with one line naming the file(s) and the fix on: a missing
    or empty folder, a file without its partner, partners of different size or bit depth, an odd-width A|B file,
    files too small for the crop, channel counts that disagree, unreadable headers. Damaged pixel data is reported
    (with the file) when the file is loaded. ``input_channels``, ``output_channels`` and ``bit_depth`` are known
    after ``setup`` (reading them earlier runs the training split's checks).

    Validation and test are deterministic: no flip, ``load_size`` replaced by ``crop_size`` (as the reference's
    test options do) and centre crops instead of random ones; their batches group samples of equal size.

    Args:
        root: the data set folder, holding ``train_split``, ``val_split``, ``test_split`` folders.
        layout: ``aligned`` (A|B side by side in one file, as the reference's downloads) or ``folders``
            (``<split>/<folder_a>/`` and ``<split>/<folder_b>/`` with matching file names).
        folder_a: the A folder inside each split (layout ``folders``).
        folder_b: the B folder inside each split (layout ``folders``).
        direction: ``AtoB`` translates A into B; ``BtoA`` swaps the roles (batch ``"A"`` is then the B image).
        preprocess: the reference's ``--preprocess``: ``resize_and_crop`` (default), ``crop``, ``scale_width``,
            ``scale_width_and_crop`` or ``none`` (sides rounded to a multiple of 4).
        load_size: resize target in training (the reference's 286).
        crop_size: crop side (the reference's 256).
        flip: random horizontal flips in training (the reference's default; ``--no_flip`` turns them off).
        input_channels: channels of batch ``"A"``; None takes them from the files (all must agree), 1 or 3
            converts grey <-> RGB as the reference's ``input_nc``.
        output_channels: channels of batch ``"B"``, as ``input_channels``.
        batch_size: training and evaluation batch size (the reference's 1).
        num_workers: DataLoader worker processes (0 loads in the main process).
        train_split: the training split folder.
        val_split: the validation split folder, or None for no validation.
        test_split: the split ``lightning-gans test`` uses, or None.
        predict_dir: a folder of input images (any size) to translate with ``predict``.
        predict_batch_size: the most images per predict batch (only images of one size share a batch).
        download: download the data set when ``root`` does not exist (the reference's pix2pix archives).
        dataset: the data set to download (facades, maps, edges2shoes, edges2handbags, night2day); None takes
            ``root``'s folder name.
    """

    aligned_validation = True  # A and B of a validation item show the same scene: translations are scored against B

    def __init__(
        self,
        root: str,
        layout: Literal["aligned", "folders"] = "aligned",
        folder_a: str = "A",
        folder_b: str = "B",
        direction: Literal["AtoB", "BtoA"] = "AtoB",
        preprocess: Preprocess = "resize_and_crop",
        load_size: int = 286,
        crop_size: int = 256,
        flip: bool = True,
        input_channels: int | None = None,
        output_channels: int | None = None,
        batch_size: int = 1,
        num_workers: int = 0,
        train_split: str = "train",
        val_split: str | None = "val",
        test_split: str | None = "test",
        predict_dir: str | None = None,
        predict_batch_size: int = 1,
        download: bool = False,
        dataset: str | None = None,
    ) -> None:
        super().__init__()
        if layout not in ("aligned", "folders"):
            raise UserInputError(f"layout must be 'aligned' or 'folders', got {layout!r}")
        if direction not in ("AtoB", "BtoA"):
            raise UserInputError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
        check_positive("batch_size", batch_size)
        check_positive("predict_batch_size", predict_batch_size)
        check_non_negative("num_workers", num_workers)
        self.root = Path(root)
        self.layout = layout
        self.folder_a = folder_a
        self.folder_b = folder_b
        self.direction = direction
        self.preprocessing = Preprocessing(preprocess, load_size, crop_size, flip)
        self.requested_channels = (input_channels, output_channels)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.splits = {"train": train_split, "val": val_split, "test": test_split}
        self.predict_dir = None if predict_dir is None else Path(predict_dir)
        self.predict_batch_size = predict_batch_size
        self.download = download
        self.dataset = dataset if dataset is not None else self.root.name
        if download and self.dataset not in PAIRED_DATASETS:
            raise UserInputError(
                f"download=True needs a known data set; {self.dataset!r} is not one of {', '.join(PAIRED_DATASETS)}: "
                "set dataset= (or name root's folder after the data set)"
            )

        self._channels: tuple[int, int] | None = None  # (input, output), from the training split or predict_dir
        self._bit_depth: int | None = None
        self._train_pairs: list[Pair] | None = None
        self.train_set: PairedImageDataset | None = None
        self.val_set: PairedImageDataset | None = None
        self.test_set: PairedImageDataset | None = None
        self.predict_set: ImageFolderDataset | None = None

    # ------------------------------------------------------------------------------------------------ checks
    def prepare_data(self) -> None:
        """Download the data set when ``download=True`` and ``root`` does not exist yet (once per node)."""
        if self.download and not self.root.exists():
            download_dataset(self.dataset, self.root, "paired")

    def _fix(self) -> str:
        if self.layout == "aligned":
            hint = "set root to a folder holding train/, val/, test/ of A|B side-by-side images"
        else:
            hint = f"set root to a folder holding <split>/{self.folder_a}/ and <split>/{self.folder_b}/ image folders"
        return f"{hint}, or download=True for one of {', '.join(PAIRED_DATASETS)}"

    def _scan_split(self, split: str) -> list[Pair]:
        """Read and check every header of one split: partners, sizes, bit depths, halves, crop sizes."""
        folder = self.root / split
        if self.layout == "aligned":
            files = scan_folder(folder, f"'{split}' images (A|B side by side)", self._fix())
            for file in files:
                if file.width % 2:
                    raise UserInputError(
                        f"{file.path} is {file.width} pixels wide, which does not split into equal A|B halves; "
                        "crop it to an even width (or use layout=folders for separate A and B files)"
                    )
            pairs = [Pair(file, None) for file in files]
        else:
            folder_a, folder_b = folder / self.folder_a, folder / self.folder_b
            files_a = scan_folder(folder_a, f"'{split}' A images", self._fix())
            files_b = scan_folder(folder_b, f"'{split}' B images", self._fix())
            pairs = []
            for file_a, file_b in match_by_stem(files_a, files_b, folder_a, folder_b):
                check_same_size(file_a, file_b)
                pairs.append(Pair(file_a, file_b))
        for pair in pairs:
            self.preprocessing.check(pair.a, width=pair.width)
        return pairs

    def _sides(self, pairs: list[Pair]) -> tuple[list[ImageFile], list[ImageFile]]:
        """The files of batch "A" and of batch "B" (after ``direction``)."""
        files_a = [pair.a for pair in pairs]
        files_b = [pair.a if pair.b is None else pair.b for pair in pairs]
        return (files_a, files_b) if self.direction == "AtoB" else (files_b, files_a)

    def _has_training_data(self) -> bool:
        folder = self.root / self.splits["train"]
        if self.layout == "folders":
            return (folder / self.folder_a).is_dir() or (folder / self.folder_b).is_dir()
        return folder.is_dir()

    def _resolve(self) -> None:
        """Check the training split (or, for predict-only use, predict_dir) and fix channels and bit depth."""
        if self._channels is not None:
            return
        if self.download:
            self.prepare_data()
        requested_in, requested_out = self.requested_channels
        if self._has_training_data() or self.predict_dir is None:
            pairs = self._scan_split(self.splits["train"])
            files_in, files_out = self._sides(pairs)
            self._channels = (
                check_channels(files_in, requested_in, "input_channels"),
                check_channels(files_out, requested_out, "output_channels"),
            )
            self._bit_depth = max(file.bit_depth for file in files_in + files_out)
            self._train_pairs = pairs
            return
        files = self._scan_predict()
        if requested_out is None:
            raise UserInputError(
                f"output_channels cannot be read from files: there is no training split at "
                f"{self.root / self.splits['train']}; set output_channels (the model's output channels)"
            )
        self._channels = (check_channels(files, requested_in, "input_channels"), requested_out)
        self._bit_depth = max(file.bit_depth for file in files)

    def _scan_predict(self) -> list[ImageFile]:
        if self.predict_dir is None:
            raise UserInputError("predict needs predict_dir: set it to a folder of input images")
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
    def _dataset(self, pairs: list[Pair], train: bool) -> PairedImageDataset:
        files_in, files_out = self._sides(pairs)
        check_channels(files_in, self.input_channels, "input_channels")  # convertible to the training counts
        check_channels(files_out, self.output_channels, "output_channels")
        return PairedImageDataset(
            pairs, self.direction, self.input_channels, self.output_channels, self.preprocessing, train
        )

    def setup(self, stage: str | None = None) -> None:
        """Check the stage's files (headers only) and build its datasets.

        Args:
            stage: ``fit`` (training + validation split), ``validate``, ``test``, ``predict`` or None (all
                configured splits).
        """
        self._resolve()
        if stage in ("fit", None) and self.train_set is None and self._train_pairs is not None:
            self.train_set = self._dataset(self._train_pairs, train=True)
            check_train_size(type(self).__name__, len(self.train_set), self.batch_size)
            check_uniform_size([pair.a for pair in self._train_pairs], self.train_set.sizes, self.batch_size)
        if stage in ("fit", "validate", None) and self.val_set is None and self.splits["val"] is not None:
            self.val_set = self._dataset(self._scan_split(self.splits["val"]), train=False)
        if stage in ("test", None) and self.test_set is None and self.splits["test"] is not None:
            self.test_set = self._dataset(self._scan_split(self.splits["test"]), train=False)
        if stage == "predict" or (stage is None and self.predict_dir is not None):
            files = self._scan_predict()
            check_channels(files, self.input_channels, "input_channels")
            self.predict_set = ImageFolderDataset(files, self.input_channels)

    def train_dataloader(self) -> DataLoader:
        """Shuffled training batches, dropping the last incomplete one."""
        return train_loader(self._require(self.train_set, "fit"), self.batch_size, self.num_workers)

    def val_dataloader(self) -> DataLoader | list:
        """Validation batches in file order (grouped by size), or ``[]`` when ``val_split`` is None."""
        if self.splits["val"] is None:
            return []
        dataset = self._require(self.val_set, "validate")
        return size_grouped_loader(dataset, dataset.sizes, self.batch_size, self.num_workers)

    def test_dataloader(self) -> DataLoader | list:
        """Test batches in file order (grouped by size), or ``[]`` when ``test_split`` is None."""
        if self.splits["test"] is None:
            return []
        dataset = self._require(self.test_set, "test")
        return size_grouped_loader(dataset, dataset.sizes, self.batch_size, self.num_workers)

    def predict_dataloader(self) -> DataLoader:
        """``{"A", "name", "bit_depth"}`` batches of ``predict_dir`` images, one size per batch, names in order."""
        dataset = self._require(self.predict_set, "predict")
        return size_grouped_loader(dataset, dataset.keys, self.predict_batch_size, self.num_workers)

    def _require(self, dataset: Dataset | None, stage: str) -> Dataset:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}: call setup({stage!r}) before asking for its dataloader")
        return dataset
