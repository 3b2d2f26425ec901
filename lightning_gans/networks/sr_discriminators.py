"""Discriminators of the super-resolution GANs. Both output raw logits (no sigmoid: the losses in
``lightning_gans.losses`` fold it in, which is safe under mixed precision).

- ``VGGStyleDiscriminator``: a VGG-like stack of stages (conv 3x3 stride 1, conv stride 2, each but the first
  followed by BatchNorm, LeakyReLU 0.2), then two linear layers to one logit per image. Two variants, as rows of
  ``VGG_DISCRIMINATORS``:
    ``"esrgan"``: BasicSR's ``VGGStyleDiscriminator`` (ESRGAN, MSRGAN): 4x4 stride-2 convs, widths 64 -> 512, as
    many stages as bring the crop to 4x4 (5 for 128x128, 6 for 256x256), Linear(512*4*4 -> 100) -> Linear(100 -> 1).
    ``"srgan"``: Ledig et al. 2017 (arXiv 1609.04802, Fig. 4, bottom): 8 convs 3x3 (k3n64s1, k3n64s2, ... k3n512s2),
    so 96x96 crops end at 6x6, Dense(1024) -> LeakyReLU -> Dense(1).
  Convs followed by BatchNorm carry no bias (BN's shift replaces it), as BasicSR builds its network.
- ``UNetDiscriminatorSN``: Real-ESRGAN's U-Net discriminator with spectral normalisation ("Real-ESRGAN: Training
  Real-World Blind Super-Resolution with Pure Synthetic Data", Wang et al. 2021, arXiv 2107.10833, Sec. 3.3; BasicSR
  ``discriminator_arch.py``): one logit per pixel, for any input whose sides are multiples of 8. Module names are
  BasicSR's (``conv0`` ... ``conv9``, ``torch.nn.utils.spectral_norm``'s ``weight_orig``), so Real-ESRGAN's
  ``*_netD.pth`` files load with ``load_state_dict``.
"""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import spectral_norm

from lightning_gans.errors import UserInputError
from lightning_gans.networks._inputs import check_images

__all__ = ["UNetDiscriminatorSN", "VGGStyleDiscriminator", "VGG_DISCRIMINATORS"]

# The VGG-style variants, as rows.
#   crop:        the training crop size the paper uses (the default input_size)
#   down_kernel: kernel of the stride-2 conv of each stage (padding 1)
#   num_stages:  stride-2 stages; None = as many as bring input_size down to 4x4 (BasicSR adds one for 256 crops)
#   hidden:      width of the first linear layer
VGG_DISCRIMINATORS: dict[str, dict[str, int | None]] = {
    "esrgan": {"crop": 128, "down_kernel": 4, "num_stages": None, "hidden": 100},
    "srgan": {"crop": 96, "down_kernel": 3, "num_stages": 4, "hidden": 1024},
}
MAX_WIDTH_FACTOR = 8  # stage widths double from num_features up to 8 x num_features (64 -> 512)


def _conv_block(in_channels: int, out_channels: int, kernel: int, stride: int, norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel, stride, padding=1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


class VGGStyleDiscriminator(nn.Module):
    """VGG-style image discriminator of ESRGAN (BasicSR) or SRGAN (Ledig et al., Fig. 4); one logit per image.

    Parameters with the defaults: 14,499,401 (``"esrgan"``, 128x128); 23,563,649 (``"srgan"``, 96x96).

    Args:
        variant: ``"esrgan"`` (BasicSR's VGGStyleDiscriminator) or ``"srgan"`` (the paper's Fig. 4); see
            ``VGG_DISCRIMINATORS``.
        in_channels: channels of the images judged (3 for RGB).
        num_features: width of the first stage; both papers' 64.
        input_size: side of the square crops it judges; None takes the variant's crop (128 for ``"esrgan"``,
            96 for ``"srgan"``). ``"esrgan"`` needs 4 times a power of two (e.g. 128, 256), ``"srgan"`` a multiple of
            16; the linear layer's size depends on it, so every input must have exactly this size.
    """

    def __init__(
        self,
        *,
        variant: Literal["esrgan", "srgan"] = "esrgan",
        in_channels: int = 3,
        num_features: int = 64,
        input_size: int | None = None,
    ) -> None:
        super().__init__()
        if variant not in VGG_DISCRIMINATORS:
            raise UserInputError(
                f"VGGStyleDiscriminator: variant {variant!r} is not one of {', '.join(VGG_DISCRIMINATORS)}"
            )
        row = VGG_DISCRIMINATORS[variant]
        input_size = int(row["crop"]) if input_size is None else input_size
        num_stages = row["num_stages"] or _stages_to_4x4(input_size)
        if num_stages is None or input_size % 2**num_stages:
            need = "4 times a power of two (e.g. 128, 256)" if row["num_stages"] is None else "a multiple of 16"
            raise UserInputError(
                f"VGGStyleDiscriminator(variant={variant!r}): input_size must be {need}, got {input_size}"
            )
        self.variant, self.in_channels, self.input_size = variant, in_channels, input_size

        blocks: list[nn.Module] = []
        channels = in_channels
        for stage in range(num_stages):
            width = num_features * min(2**stage, MAX_WIDTH_FACTOR)
            blocks.append(_conv_block(channels, width, 3, 1, norm=stage > 0))  # the first conv has no BN (Fig. 4)
            blocks.append(_conv_block(width, width, int(row["down_kernel"]), 2, norm=True))
            channels = width
        self.features = nn.Sequential(*blocks)
        final_size = input_size // 2**num_stages
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * final_size**2, int(row["hidden"])),
            nn.LeakyReLU(0.2),
            nn.Linear(int(row["hidden"]), 1),
        )

    def forward(self, images: Tensor) -> Tensor:
        """Logits of ``images`` being real.

        Args:
            images: ``(B, in_channels, input_size, input_size)``.

        Returns:
            ``(B, 1)`` logits.
        """
        check_images(images, f"VGGStyleDiscriminator(variant={self.variant!r})", self.in_channels, 1, 1, "")
        if tuple(images.shape[-2:]) != (self.input_size, self.input_size):
            raise UserInputError(
                f"VGGStyleDiscriminator(input_size={self.input_size}) judges {self.input_size}x{self.input_size} "
                f"crops, got {images.shape[-2]}x{images.shape[-1]}: set input_size to the crop size"
            )
        return self.classifier(self.features(images))  # (B, 1)


def _stages_to_4x4(input_size: int) -> int | None:
    """Stride-2 stages that bring ``input_size`` to 4, or None when it is not 4 times a power of two (>= 8)."""
    stages = (input_size // 4).bit_length() - 1
    return stages if stages >= 1 and input_size == 4 * 2**stages else None


class UNetDiscriminatorSN(nn.Module):
    """Real-ESRGAN's U-Net discriminator with spectral normalisation; one logit per pixel.

    conv0 (3x3) -> three spectral-normalised 4x4 stride-2 convs (x2 channels each) -> three (bilinear x2, SN conv
    3x3) with the matching encoder feature added -> two SN convs 3x3 -> conv9 to one channel. LeakyReLU 0.2
    everywhere. Parameters with the defaults: 4,376,897 (spectral norm's ``u`` / ``v`` are buffers).

    Args:
        in_channels: channels of the images judged (3 for RGB).
        num_features: width of conv0; Real-ESRGAN's 64.
        skip_connection: add encoder features to the decoder (Real-ESRGAN's True).
    """

    def __init__(self, *, in_channels: int = 3, num_features: int = 64, skip_connection: bool = True) -> None:
        super().__init__()
        self.in_channels, self.skip_connection = in_channels, skip_connection
        nf = num_features
        self.conv0 = nn.Conv2d(in_channels, nf, 3, 1, 1)
        self.conv1 = spectral_norm(nn.Conv2d(nf, nf * 2, 4, 2, 1, bias=False))
        self.conv2 = spectral_norm(nn.Conv2d(nf * 2, nf * 4, 4, 2, 1, bias=False))
        self.conv3 = spectral_norm(nn.Conv2d(nf * 4, nf * 8, 4, 2, 1, bias=False))
        self.conv4 = spectral_norm(nn.Conv2d(nf * 8, nf * 4, 3, 1, 1, bias=False))
        self.conv5 = spectral_norm(nn.Conv2d(nf * 4, nf * 2, 3, 1, 1, bias=False))
        self.conv6 = spectral_norm(nn.Conv2d(nf * 2, nf, 3, 1, 1, bias=False))
        self.conv7 = spectral_norm(nn.Conv2d(nf, nf, 3, 1, 1, bias=False))
        self.conv8 = spectral_norm(nn.Conv2d(nf, nf, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(nf, 1, 3, 1, 1)

    def _up(self, x: Tensor, conv: nn.Module, skip: Tensor) -> Tensor:
        """Bilinear x2, conv, LeakyReLU, plus the encoder feature ``skip`` when skip connections are on."""
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = F.leaky_relu(conv(x), 0.2)
        return x + skip if self.skip_connection else x

    def forward(self, images: Tensor) -> Tensor:
        """Per-pixel logits of ``images`` being real.

        Args:
            images: ``(B, in_channels, H, W)``, H and W multiples of 8.

        Returns:
            ``(B, 1, H, W)`` logits.
        """
        check_images(images, "UNetDiscriminatorSN", self.in_channels, 8, 8, "crop or pad to a multiple of 8")
        x0 = F.leaky_relu(self.conv0(images), 0.2)  # (B, F, H, W)
        x1 = F.leaky_relu(self.conv1(x0), 0.2)  # (B, 2F, H/2, W/2)
        x2 = F.leaky_relu(self.conv2(x1), 0.2)  # (B, 4F, H/4, W/4)
        x3 = F.leaky_relu(self.conv3(x2), 0.2)  # (B, 8F, H/8, W/8)
        x4 = self._up(x3, self.conv4, x2)  # (B, 4F, H/4, W/4)
        x5 = self._up(x4, self.conv5, x1)  # (B, 2F, H/2, W/2)
        x6 = self._up(x5, self.conv6, x0)  # (B, F, H, W)
        out = F.leaky_relu(self.conv7(x6), 0.2)  # (B, F, H, W)
        out = F.leaky_relu(self.conv8(out), 0.2)  # (B, F, H, W)
        return self.conv9(out)  # (B, 1, H, W)
