"""LightningDataModules for lightning-gans; see each class for its batch format and value ranges.

- Generative families (GAN, DCGAN, cGAN) get ``(x, y)`` batches: MNIST, 2-D Gaussian mixtures, rendered digits.
- Image-to-image translation (pix2pix, CycleGAN) gets dict batches ``{"A", "B", "name", "bit_depth"}`` with
  images in [-1, 1]: paired folders, unpaired folders, the near-infrared vessel phantom, two digit styles.
- Super-resolution gets dict batches ``{"lr", "hr", "name", "bit_depth"}`` with images in [0, 1].
"""

from datamodules.digit_styles import UnpairedDigitsDataModule
from datamodules.gaussian_mixture import GaussianMixtureDataModule, mode_coverage
from datamodules.mnist import MNISTDataModule
from datamodules.nir_phantom import NIRPhantomDataModule
from datamodules.paired_images import PairedImageDataModule
from datamodules.rendered_digits import RenderedDigitsDataModule
from datamodules.super_resolution import SuperResolutionDataModule
from datamodules.unpaired_images import UnpairedImageDataModule

__all__ = [
    "GaussianMixtureDataModule",
    "MNISTDataModule",
    "NIRPhantomDataModule",
    "PairedImageDataModule",
    "RenderedDigitsDataModule",
    "SuperResolutionDataModule",
    "UnpairedDigitsDataModule",
    "UnpairedImageDataModule",
    "mode_coverage",
]
