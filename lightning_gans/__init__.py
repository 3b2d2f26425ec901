"""lightning-gans: GAN families as PyTorch Lightning modules, trained with manual optimization.

Families (one file each, reading like its paper): :class:`GAN`, :class:`DCGAN`, :class:`CGAN` (MNIST and 2-D
mixtures); :class:`Pix2Pix` and :class:`CycleGAN` (paired and unpaired image-to-image translation);
:class:`SRResNet` (PSNR-oriented super-resolution, any SR generator), :class:`SRGAN` and :class:`ESRGAN`.
Train from YAML with ``lightning-gans fit --config experiments/<family>_<dataset>.yaml``.
"""

from lightning_gans.cgan import CGAN
from lightning_gans.cycle_gan import CycleGAN
from lightning_gans.dcgan import DCGAN
from lightning_gans.esrgan import ESRGAN
from lightning_gans.gan import GAN
from lightning_gans.pix2pix import Pix2Pix
from lightning_gans.srgan import SRGAN
from lightning_gans.srresnet import SRResNet

__all__ = ["CGAN", "CycleGAN", "DCGAN", "ESRGAN", "GAN", "Pix2Pix", "SRGAN", "SRResNet"]
__version__ = "0.1.0"
