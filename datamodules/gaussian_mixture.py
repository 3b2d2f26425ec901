"""2-D Gaussian mixtures for measuring mode collapse, with the mode-coverage scores of VEEGAN and PacGAN.

- "ring8": 8 Gaussians with means ``(cos(2 pi k / 8), sin(2 pi k / 8))`` (radius 1), standard deviation 0.01.
- "grid25": 25 Gaussians with means ``{-4, -2, 0, 2, 4}^2``, standard deviation 0.05.

Datasets and scores follow PacGAN: The power of two samples in generative adversarial networks (Lin et al. 2018,
arXiv 1712.04086, Table 1; its released configs: 100,000 training points, minibatch 100, 2,500 samples scored)
and VEEGAN: Reducing mode collapse in GANs using implicit variational learning (Srivastava et al. 2017,
arXiv 1705.07761, Table 1).
"""

from lightning_gans.errors import UserInputError  # noqa: I001  (a ValueError the CLI reports in one line)
import math
from typing import Literal

import torch
from lightning.pytorch import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from datamodules._common import (
    check_non_negative,
    check_positive,
    check_train_size,
    eval_loader,
    index_loader,
    seeded_generators,
    train_loader,
)

Mixture = Literal["ring8", "grid25"]


def _ring8_modes() -> Tensor:
    angles = 2 * math.pi * torch.arange(8, dtype=torch.float64) / 8
    return torch.stack([angles.cos(), angles.sin()], dim=1).float()  # (8, 2)


def _grid25_modes() -> Tensor:
    axis = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    grid_x, grid_y = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([grid_x.flatten(), grid_y.flatten()], dim=1)  # (25, 2)


# Each mixture is a row of data: (mode means (K, 2), per-axis standard deviation), as in PacGAN's configs.
MIXTURES: dict[str, tuple[Tensor, float]] = {
    "ring8": (_ring8_modes(), 0.01),
    "grid25": (_grid25_modes(), 0.05),
}


def mode_coverage(samples: Tensor, modes: Tensor, sigma: float) -> dict[str, float]:
    """Mode coverage of 2-D samples, the protocol of VEEGAN (Table 1) and PacGAN (Table 1).

    Each sample is assigned to its nearest mode (Euclidean distance). It is *high-quality* when that distance is
    below ``3 * sigma`` (PacGAN's code uses the strict ``<`` on the variance-normalised distance, the same test for
    isotropic components). A mode is *covered* when at least one high-quality sample is assigned to it.

    The reverse KL divergence is ``KL(q || p) = sum_k q_k log(q_k / p_k)`` where ``q`` is the histogram of nearest
    modes among the high-quality samples (normalised to sum to 1) and ``p`` is the true mode distribution, uniform
    ``1 / K`` (PacGAN Table 1, "reverse KL"). Empty bins contribute ``0 * log 0 = 0``, so a generator that puts all
    its good samples on one mode scores ``log K``, and a perfect one scores 0. It is ``nan`` when no sample is
    high-quality (``q`` is undefined).

    Args:
        samples: generated points, float tensor ``(N, 2)`` with N >= 1, on any device.
        modes: mixture means, float tensor ``(K, 2)``.
        sigma: per-axis standard deviation of every component (> 0).

    Returns:
        ``{"modes_covered": number of covered modes (0..K, as a float), "high_quality_fraction": fraction of samples
        that are high-quality (0..1), "reverse_kl": KL(q || uniform) in nats (0..log K, or nan)}``.
    """
    if samples.ndim != 2 or samples.shape[1] != 2 or samples.shape[0] == 0:
        raise UserInputError(f"samples must be a non-empty (N, 2) tensor of points, got shape {tuple(samples.shape)}")
    if not sigma > 0:
        raise UserInputError(f"sigma must be > 0, got {sigma}")
    points = samples.detach().float()  # (N, 2)
    means = modes.to(device=points.device, dtype=torch.float32)  # (K, 2)
    num_modes = means.shape[0]

    distances = torch.cdist(points, means)  # (N, K)
    nearest_distance, nearest_mode = distances.min(dim=1)  # (N,), (N,)
    high_quality = nearest_distance < 3 * sigma  # (N,)
    counts = torch.bincount(nearest_mode[high_quality], minlength=num_modes).double()  # (K,)

    num_high_quality = counts.sum()
    if num_high_quality > 0:
        q = counts / num_high_quality
        nonzero = q > 0  # 0 * log 0 = 0
        reverse_kl = float((q[nonzero] * (q[nonzero] * num_modes).log()).sum())
    else:
        reverse_kl = math.nan
    return {
        "modes_covered": float((counts > 0).sum()),
        "high_quality_fraction": float(num_high_quality / points.shape[0]),
        "reverse_kl": reverse_kl,
    }


class GaussianMixtureDataModule(LightningDataModule):
    """Points drawn from a 2-D Gaussian mixture (PacGAN / VEEGAN "2D-ring" and "2D-grid"), labelled by component.

    Batches are ``(x, y)``: ``x`` float32 points ``(B, 2)`` in data units (not rescaled: ring8 lies within about
    [-1.05, 1.05]^2, grid25 within about [-4.3, 4.3]^2), ``y`` int64 component indices ``(B,)`` in ``0..K-1``.
    Components are equally likely. All points are drawn once in ``setup()`` from ``seed``.

    ``score_samples`` reports mode coverage (see ``mode_coverage``) of generated points.

    Args:
        data_dir: not read: the data is generated. Accepted so that every data module takes ``data_dir``.
        batch_size: points per batch (PacGAN: minibatch 100).
        num_workers: DataLoader worker processes (0 loads in the main process; the data is in memory).
        num_predict_samples: number of sample indices ``predict_dataloader`` yields.
        seed: seed of the data generation; the same seed gives the same points.
        mixture: "ring8" (8 modes on the unit circle, sigma 0.01) or "grid25" (5 x 5 grid with spacing 2,
            sigma 0.05), as in PacGAN's experiments.
        num_train: number of training points (PacGAN: 100,000).
        num_val: number of validation points (PacGAN scores 2,500 samples); 0 disables validation
            (``val_dataloader`` returns an empty list, which Lightning skips).
    """

    def __init__(
        self,
        data_dir: str | None = None,
        batch_size: int = 100,
        num_workers: int = 0,
        num_predict_samples: int = 64,
        seed: int = 0,
        mixture: Mixture = "ring8",
        num_train: int = 100_000,
        num_val: int = 2500,
    ) -> None:
        super().__init__()
        if mixture not in MIXTURES:
            raise UserInputError(f"mixture must be one of {sorted(MIXTURES)}, got {mixture!r}")
        check_positive("batch_size", batch_size)
        check_non_negative("num_workers", num_workers)
        check_non_negative("num_predict_samples", num_predict_samples)
        check_non_negative("seed", seed)
        check_positive("num_train", num_train)
        check_non_negative("num_val", num_val)
        self.data_dir = data_dir
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.num_predict_samples = num_predict_samples
        self.seed = seed
        self.mixture = mixture
        self.num_train = num_train
        self.num_val = num_val

        modes, sigma = MIXTURES[mixture]
        self.modes: Tensor = modes.clone()  # (K, 2) component means
        self.sigma: float = sigma  # per-axis standard deviation of every component
        self.num_classes: int = self.modes.shape[0]
        self.sample_shape: tuple[int, ...] = (2,)
        self.train_set: TensorDataset | None = None
        self.val_set: TensorDataset | None = None

    def draw(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Draw points from the mixture (equally likely components).

        Args:
            n: number of points.
            generator: CPU random generator the draw uses.

        Returns:
            ``(points, components)``: float32 ``(n, 2)`` and int64 ``(n,)`` in ``0..K-1``.
        """
        components = torch.randint(self.num_classes, (n,), generator=generator)  # (n,)
        noise = torch.randn(n, 2, generator=generator)  # (n, 2)
        return self.modes[components] + self.sigma * noise, components

    def setup(self, stage: str | None = None) -> None:
        """Draw the training and validation points (once; later calls do nothing).

        Args:
            stage: Lightning's stage ("fit", "validate", "test", "predict"); the same data serves all.
        """
        if self.train_set is not None:
            return
        check_train_size(type(self).__name__, self.num_train, self.batch_size)
        train_generator, val_generator = seeded_generators(self.seed, 2)
        self.train_set = TensorDataset(*self.draw(self.num_train, train_generator))
        self.val_set = TensorDataset(*self.draw(self.num_val, val_generator))

    def train_dataloader(self) -> DataLoader:
        """Shuffled batches ``(x (B, 2) float32, y (B,) int64)``; the last incomplete batch is dropped."""
        return train_loader(self._require(self.train_set), self.batch_size, self.num_workers)

    def val_dataloader(self) -> DataLoader | list:
        """Batches of the validation points in a fixed order, or ``[]`` (no validation) when ``num_val=0``."""
        if self.num_val == 0:
            return []
        return eval_loader(self._require(self.val_set), self.batch_size, self.num_workers)

    def test_dataloader(self) -> DataLoader | list:
        """The held-out set again: ``lightning-gans test`` reports the validation metrics under ``test/``."""
        return self.val_dataloader()

    def predict_dataloader(self) -> DataLoader:
        """Batches of int64 sample indices ``(B,)`` over ``torch.arange(num_predict_samples)``."""
        return index_loader(self.num_predict_samples, self.batch_size)

    def score_samples(self, samples: Tensor, labels: Tensor | None = None) -> dict[str, float]:
        """Mode coverage of generated points against this mixture; see ``mode_coverage``.

        Args:
            samples: generated points, float tensor ``(N, 2)``.
            labels: the labels the samples were conditioned on, ``(N,)`` or None; unused (the score only looks at
                where the points are), accepted for the shared ``score_samples`` interface.

        Returns:
            ``{"modes_covered", "high_quality_fraction", "reverse_kl"}`` as floats.
        """
        return mode_coverage(samples, self.modes, self.sigma)

    def _require(self, dataset: TensorDataset | None) -> TensorDataset:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}: call setup() before asking for a dataloader")
        return dataset
