"""lightning-gans: GAN families as PyTorch Lightning modules, trained with manual optimization.

Families (one file each, reading like its paper): :class:`GAN`, :class:`DCGAN`, :class:`CGAN`.
Train from YAML with ``lightning-gans fit --config experiments/<family>_<dataset>.yaml``.
"""

from lightning_gans.cgan import CGAN
from lightning_gans.dcgan import DCGAN
from lightning_gans.gan import GAN

__all__ = ["CGAN", "DCGAN", "GAN"]
__version__ = "0.1.0"
