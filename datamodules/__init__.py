"""LightningDataModules for lightning-gans. Every module yields ``(x, y)`` batches; see each class for ranges."""

from datamodules.gaussian_mixture import GaussianMixtureDataModule, mode_coverage
from datamodules.mnist import MNISTDataModule
from datamodules.rendered_digits import RenderedDigitsDataModule

__all__ = ["GaussianMixtureDataModule", "MNISTDataModule", "RenderedDigitsDataModule", "mode_coverage"]
