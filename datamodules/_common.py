"""Pieces shared by the data modules: argument checks, seeded generators, uint8 image storage and DataLoaders.

Every data module yields ``(x, y)`` batches (``x`` float32, ``y`` int64 labels ``(B,)``) and a predict loader of
int64 sample indices; the helpers here build those loaders the same way for all of them.
"""

from lightning_gans.errors import UserInputError  # noqa: I001  (a ValueError the CLI reports in one line)
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset


def check_positive(name: str, value: int) -> None:
    """Raise a one-line ``ValueError`` unless ``value`` is an integer >= 1.

    Args:
        name: the argument's name as the user spells it (shown in the message).
        value: the value to check.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserInputError(f"{name} must be an integer >= 1, got {value!r}")


def check_non_negative(name: str, value: int) -> None:
    """Raise a one-line ``ValueError`` unless ``value`` is an integer >= 0.

    Args:
        name: the argument's name as the user spells it (shown in the message).
        value: the value to check.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UserInputError(f"{name} must be an integer >= 0, got {value!r}")


def seeded_generators(seed: int, count: int) -> list[torch.Generator]:
    """Independent CPU generators derived from one seed (one per split or per random quantity).

    ``numpy.random.SeedSequence.spawn`` gives statistically independent streams, so changing the size of one split
    (say ``num_train``) leaves the others (the validation set) unchanged.

    Args:
        seed: the data seed, any integer >= 0.
        count: how many generators to make.

    Returns:
        ``count`` seeded ``torch.Generator`` objects on the CPU.
    """
    children = np.random.SeedSequence(seed).spawn(count)
    return [torch.Generator().manual_seed(int(child.generate_state(1, dtype=np.uint64)[0])) for child in children]


class UInt8ImageDataset(Dataset[tuple[Tensor, Tensor]]):
    """Images kept as uint8 (a quarter of the float32 memory) and scaled to [-1, 1] when read.

    Args:
        images: uint8 tensor ``(N, C, H, W)``, values 0..255.
        labels: int64 tensor ``(N,)`` of class labels.
    """

    def __init__(self, images: Tensor, labels: Tensor) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise UserInputError(f"images must be a uint8 tensor (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
        if labels.shape != (images.shape[0],):
            raise UserInputError(f"labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}")
        self.images = images
        self.labels = labels.long()

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        image = self.images[index].float() / 127.5 - 1.0  # (C, H, W) in [-1, 1]
        return image, self.labels[index]


def train_loader(dataset: Dataset, batch_size: int, num_workers: int) -> DataLoader:
    """Shuffled training DataLoader that drops the last incomplete batch (GAN losses assume full batches).

    Args:
        dataset: the training split.
        batch_size: samples per batch.
        num_workers: DataLoader worker processes (0 loads in the main process).
    """
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
    )


def eval_loader(dataset: Dataset, batch_size: int, num_workers: int) -> DataLoader:
    """Validation DataLoader in a fixed order, keeping every sample.

    Args:
        dataset: the validation split.
        batch_size: samples per batch.
        num_workers: DataLoader worker processes (0 loads in the main process).
    """
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        drop_last=False,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
    )


def index_loader(num_samples: int, batch_size: int) -> DataLoader:
    """Predict DataLoader over ``torch.arange(num_samples)``: batches are int64 sample indices ``(B,)``.

    The model turns index ``i`` into a sample (label ``i % num_classes`` for conditional models).

    Args:
        num_samples: how many samples to predict.
        batch_size: indices per batch.
    """
    return DataLoader(torch.arange(num_samples), batch_size=batch_size, shuffle=False)


def check_train_size(module: str, num_train: int, batch_size: int) -> None:
    """Raise a one-line ``ValueError`` when the training split cannot fill one batch (``drop_last`` would leave none).

    Args:
        module: the data module's class name (shown in the message).
        num_train: number of training samples after the split.
        batch_size: the configured batch size.
    """
    if num_train < batch_size:
        raise UserInputError(
            f"{module}: the training split has {num_train} samples, fewer than batch_size={batch_size}; "
            "lower batch_size or use more training data"
        )
