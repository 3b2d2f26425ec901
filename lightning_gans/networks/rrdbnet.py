"""RRDBNet, the ESRGAN generator: "ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks",
Wang et al. 2018, arXiv 1809.00219, Sec. 3.1 and Fig. 4; as BasicSR builds it (``rrdbnet_arch.py``).

conv_first -> 23 residual-in-residual dense blocks (RRDB) -> conv_body, added to conv_first's output (the long
skip) -> 2 x (nearest x2, conv, LeakyReLU 0.2) -> conv_hr, LeakyReLU -> conv_last. An RRDB chains three residual
dense blocks of five convs (growth 32, dense concatenation) and scales both the dense blocks' and its own residual
by 0.2 ("residual scaling", Sec. 3.1). BasicSR extends the x4 network to x2 and x1 by pixel-unshuffling the input
first (x2: 4x the channels at half the size; x1: 16x at a quarter), so the body always upsamples by 4; Real-ESRGAN's
``RealESRGAN_x2plus`` is such a x2 network.

Module names follow BasicSR's (``conv_first``, ``body.N.rdb1.conv1``, ``conv_body``, ``conv_up1``, ``conv_up2``,
``conv_hr``, ``conv_last``), so BasicSR and Real-ESRGAN files load directly; ``sr_weights.load_sr_weights`` also
reads the ESRGAN release and the 2018 "old-arch" layouts.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lightning_gans.errors import UserInputError
from lightning_gans.networks._inputs import check_images
from lightning_gans.networks.srresnet import scaled_kaiming_

__all__ = ["RRDB", "RRDBNet", "ResidualDenseBlock"]

RESIDUAL_SCALE = 0.2  # ESRGAN Sec. 3.1: residuals scaled by 0.2 before they are added
UNSHUFFLE: dict[int, int] = {4: 1, 2: 2, 1: 4}  # scale -> pixel-unshuffle factor of the input (BasicSR)


class ResidualDenseBlock(nn.Module):
    """Five 3x3 convs, each seeing the block input and every earlier output (dense connections); the last maps back
    to ``features`` channels and is added, scaled by 0.2, to the input. Initialised kaiming x 0.1 (BasicSR).

    Args:
        features: channels in and out.
        growth: channels each of the first four convs adds (ESRGAN's 32).
    """

    def __init__(self, features: int, growth: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, growth, 3, padding=1)
        self.conv2 = nn.Conv2d(features + growth, growth, 3, padding=1)
        self.conv3 = nn.Conv2d(features + 2 * growth, growth, 3, padding=1)
        self.conv4 = nn.Conv2d(features + 3 * growth, growth, 3, padding=1)
        self.conv5 = nn.Conv2d(features + 4 * growth, features, 3, padding=1)
        self.apply(scaled_kaiming_)

    def forward(self, x: Tensor) -> Tensor:
        """One dense block.

        Args:
            x: ``(B, features, H, W)``.
        """
        x1 = F.leaky_relu(self.conv1(x), 0.2)  # (B, G, H, W)
        x2 = F.leaky_relu(self.conv2(torch.cat((x, x1), 1)), 0.2)  # (B, G, H, W)
        x3 = F.leaky_relu(self.conv3(torch.cat((x, x1, x2), 1)), 0.2)  # (B, G, H, W)
        x4 = F.leaky_relu(self.conv4(torch.cat((x, x1, x2, x3), 1)), 0.2)  # (B, G, H, W)
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))  # (B, F, H, W), no activation
        return x + RESIDUAL_SCALE * x5


class RRDB(nn.Module):
    """Residual-in-residual dense block: three dense blocks in a row, their result scaled by 0.2 and added.

    Args:
        features: channels in and out.
        growth: growth channels of the dense blocks.
    """

    def __init__(self, features: int, growth: int) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(features, growth)
        self.rdb2 = ResidualDenseBlock(features, growth)
        self.rdb3 = ResidualDenseBlock(features, growth)

    def forward(self, x: Tensor) -> Tensor:
        """One RRDB.

        Args:
            x: ``(B, features, H, W)``.
        """
        out = self.rdb3(self.rdb2(self.rdb1(x)))  # (B, F, H, W)
        return x + RESIDUAL_SCALE * out


class RRDBNet(nn.Module):
    """The ESRGAN generator (arXiv 1809.00219) as BasicSR builds it, at x4, x2 or x1.

    Parameters with the defaults: 16,697,987 at x4 (x2 and x1 differ only in conv_first's input channels).
    Convs outside the dense blocks keep PyTorch's default initialisation, as in BasicSR.

    Args:
        scale: upscaling factor: ESRGAN's 4, or 2 / 1 with the input pixel-unshuffled by 2 / 4 first (BasicSR,
            Real-ESRGAN); then H and W must be multiples of 2 / 4.
        in_channels: channels of the low-resolution input (3 for RGB).
        out_channels: channels of the output image.
        num_features: feature maps of the trunk; ESRGAN's 64.
        num_blocks: RRDBs in the trunk; ESRGAN's 23.
        growth_channels: growth of the dense blocks; ESRGAN's 32.
    """

    def __init__(
        self,
        *,
        scale: Literal[1, 2, 4] = 4,
        in_channels: int = 3,
        out_channels: int = 3,
        num_features: int = 64,
        num_blocks: int = 23,
        growth_channels: int = 32,
    ) -> None:
        super().__init__()
        if scale not in UNSHUFFLE:
            raise UserInputError(
                f"RRDBNet: scale must be 4, 2 or 1 (x2 and x1 pixel-unshuffle the input, BasicSR), got {scale!r}"
            )
        self.scale, self.in_channels, self.out_channels = scale, in_channels, out_channels
        self.num_features, self.num_blocks, self.growth_channels = num_features, num_blocks, growth_channels
        self.unshuffle = UNSHUFFLE[scale]
        self.conv_first = nn.Conv2d(in_channels * self.unshuffle**2, num_features, 3, padding=1)
        self.body = nn.Sequential(*(RRDB(num_features, growth_channels) for _ in range(num_blocks)))
        self.conv_body = nn.Conv2d(num_features, num_features, 3, padding=1)
        self.conv_up1 = nn.Conv2d(num_features, num_features, 3, padding=1)
        self.conv_up2 = nn.Conv2d(num_features, num_features, 3, padding=1)
        self.conv_hr = nn.Conv2d(num_features, num_features, 3, padding=1)
        self.conv_last = nn.Conv2d(num_features, out_channels, 3, padding=1)

    def forward(self, images: Tensor) -> Tensor:
        """Upscale ``images``.

        Args:
            images: ``(B, in_channels, H, W)`` low-resolution images; H, W multiples of 4 // scale.

        Returns:
            ``(B, out_channels, scale*H, scale*W)``.
        """
        check_images(
            images,
            f"RRDBNet(scale={self.scale})",
            self.in_channels,
            self.unshuffle,
            self.unshuffle,
            "pad the input (lightning_gans.inference.run_padded) or crop it",
        )
        if self.unshuffle > 1:
            images = F.pixel_unshuffle(images, self.unshuffle)  # (B, C*u*u, H/u, W/u)
        features = self.conv_first(images)  # (B, F, h, w)
        features = features + self.conv_body(self.body(features))  # (B, F, h, w), the long skip
        features = F.leaky_relu(self.conv_up1(F.interpolate(features, scale_factor=2, mode="nearest")), 0.2)
        features = F.leaky_relu(self.conv_up2(F.interpolate(features, scale_factor=2, mode="nearest")), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(features), 0.2))  # (B, C_out, 4h, 4w)
