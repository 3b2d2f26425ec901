"""Networks shared by two or more families.

Image-to-image translation (pix2pix, CycleGAN), after junyanz/pytorch-CycleGAN-and-pix2pix: ``UNetGenerator``
(``unet_generator(256)``), ``ResNetGenerator``, ``PatchDiscriminator``, ``PixelDiscriminator``, the ``Norm``
choice, and ``load_reference_weights`` for that repository's ``.pth`` files. Every network applies the papers'
N(0, 0.02) initialisation (``lightning_gans.init.normal_init_``) when built.

Super-resolution (SRResNet, SRGAN, ESRGAN and the real-world SR models after them), after BasicSR and the
papers: ``SRResNet`` (Ledig et al., with BatchNorm), ``MSRResNet`` (BasicSR's, without), ``RRDBNet`` (ESRGAN),
``VGGStyleDiscriminator``, ``UNetDiscriminatorSN`` (Real-ESRGAN), and ``load_sr_weights`` for BasicSR, ESRGAN
release, old-arch and Real-ESRGAN files.
"""

from lightning_gans.networks.norms import Norm, norm_layer
from lightning_gans.networks.patchgan import PatchDiscriminator, PixelDiscriminator
from lightning_gans.networks.reference_weights import describe_reference_state, load_reference_weights
from lightning_gans.networks.resnet_generator import ResNetGenerator
from lightning_gans.networks.rrdbnet import RRDBNet
from lightning_gans.networks.sr_discriminators import UNetDiscriminatorSN, VGGStyleDiscriminator
from lightning_gans.networks.sr_weights import load_sr_weights
from lightning_gans.networks.srresnet import MSRResNet, SRResNet
from lightning_gans.networks.unet import UNetGenerator, unet_generator

__all__ = [
    "MSRResNet",
    "Norm",
    "RRDBNet",
    "SRResNet",
    "UNetDiscriminatorSN",
    "VGGStyleDiscriminator",
    "load_sr_weights",
    "PatchDiscriminator",
    "PixelDiscriminator",
    "ResNetGenerator",
    "UNetGenerator",
    "describe_reference_state",
    "load_reference_weights",
    "norm_layer",
    "unet_generator",
]
