"""pix2pix's U-Net generator (Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial
Networks", arXiv:1611.07004, Sec. 3.2.1 and App. 6.1.1), as built by the reference
junyanz/pytorch-CycleGAN-and-pix2pix (``UnetGenerator``).

Encoder level ``i`` halves the size with a 4x4 stride-2 conv (LeakyReLU 0.2 before it, except on the image);
decoder level ``i`` doubles it with a 4x4 stride-2 transposed conv (ReLU before it) on the concatenation of
encoder level ``i``'s output and decoder level ``i + 1``'s. Channels are ``ngf * min(2**i, 8)``. The innermost
level (1x1 for a ``2**num_downs`` input) has no norm after its down conv; the outermost up conv has a bias and a
tanh. Dropout 0.5 follows the ``num_downs - 5`` inner decoder levels of ``ngf * 8`` channels (the paper's noise z).

The reference nests these levels as recursive ``UnetSkipConnectionBlock`` s whose in-place LeakyReLU also
rewrites the skip tensor; since each skip is only ever read through the decoder's ReLU and
``relu(leaky_relu(x)) == relu(x)``, this explicit encoder/decoder computes the same function.
``unet_reference_modules`` maps its module names onto the reference's for loading released weights.

Parameter counts (3 -> 3 channels, ngf 64, batch norm): ``unet_256`` 54,413,955; ``unet_128`` 41,828,995.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Literal

import torch
from torch import Tensor, nn

from lightning_gans.errors import UserInputError
from lightning_gans.init import normal_init_
from lightning_gans.networks._inputs import check_images
from lightning_gans.networks.norms import Norm, check_norm, conv_bias, norm_layer

__all__ = ["UNetGenerator", "unet_generator", "unet_reference_modules"]

# The reference's two named U-Nets (``--netG unet_128 / unet_256``): image side -> number of downsamplings.
UNET_DEPTHS: dict[int, int] = {128: 7, 256: 8}


class UNetGenerator(nn.Module):
    """G: images ``(B, in_channels, H, W)`` -> images ``(B, out_channels, H, W)`` in [-1, 1].

    H and W must be multiples of ``stride = 2**num_downs``. Weights start from N(0, 0.02) (``normal_init_``,
    applied here).

    Args:
        in_channels: channels of the input images (3 for RGB, 1 for grayscale or scientific images).
        out_channels: channels of the output images.
        num_downs: number of stride-2 levels, at least 5; the paper's 256x256 network has 8 (1x1 bottleneck).
        base_channels: channels of the outermost level (the reference's ``ngf``, 64); inner levels have up to 8x.
        norm: ``"batch"`` (pix2pix's choice), ``"instance"`` or ``"none"``; see ``lightning_gans.networks.norms``.
        dropout: dropout 0.5 in the inner ``num_downs - 5`` decoder levels, pix2pix's only noise source (on).
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        num_downs: int = 8,
        base_channels: int = 64,
        norm: Norm = "batch",
        dropout: bool = True,
    ) -> None:
        super().__init__()
        check_norm(norm, "UNetGenerator")
        if num_downs < 5:
            raise UserInputError(f"UNetGenerator: num_downs {num_downs} is below 5, the reference's minimum (use 7 or 8)")
        self.in_channels, self.out_channels, self.num_downs = in_channels, out_channels, num_downs
        self.base_channels, self.norm, self.dropout = base_channels, norm, dropout
        self.stride = 2**num_downs  # H and W must be multiples of this
        innermost = num_downs - 1
        width = [base_channels * min(2**i, 8) for i in range(num_downs)]  # channels of encoder level i
        bias = conv_bias(norm)

        encoder = []
        for i in range(num_downs):
            layers: OrderedDict[str, nn.Module] = OrderedDict()
            if i > 0:  # the image itself is not activated
                layers["act"] = nn.LeakyReLU(0.2)
            layers["conv"] = nn.Conv2d(width[i - 1] if i > 0 else in_channels, width[i], 4, 2, 1, bias=bias)
            if 0 < i < innermost:  # no norm on the image level nor on the 1x1 bottleneck
                layers["norm"] = norm_layer(norm, width[i])
            encoder.append(nn.Sequential(layers))
        self.encoder = nn.ModuleList(encoder)

        decoder = []
        for i in range(num_downs):
            layers = OrderedDict()
            layers["act"] = nn.ReLU()
            inputs = width[i] if i == innermost else 2 * width[i]  # (skip, upsampled) concatenated below
            if i == 0:
                layers["conv"] = nn.ConvTranspose2d(inputs, out_channels, 4, 2, 1, bias=True)
                layers["tanh"] = nn.Tanh()
            else:
                layers["conv"] = nn.ConvTranspose2d(inputs, width[i - 1], 4, 2, 1, bias=bias)
                layers["norm"] = norm_layer(norm, width[i - 1])
            if dropout and 4 <= i < innermost:  # the num_downs - 5 inner ngf*8 levels
                layers["dropout"] = nn.Dropout(0.5)
            decoder.append(nn.Sequential(layers))
        self.decoder = nn.ModuleList(decoder)
        self.apply(normal_init_)

    def forward(self, images: Tensor) -> Tensor:
        """Translate ``images`` ``(B, in_channels, H, W)``, H and W multiples of ``stride``; returns [-1, 1]."""
        check_images(
            images,
            f"UNetGenerator(num_downs={self.num_downs})",
            self.in_channels,
            self.stride,
            self.stride,
            "use a crop size that is a multiple of it (predict pads other sizes)",
        )
        skips = []
        features = images  # (B, C_in, H, W)
        for level in self.encoder:
            features = level(features)  # (B, C_i, H / 2^(i+1), W / 2^(i+1))
            skips.append(features)
        features = self.decoder[-1](skips[-1])  # (B, C_{n-2}, H / 2^(n-1), W / 2^(n-1))
        for i in range(self.num_downs - 2, -1, -1):
            features = torch.cat([skips[i], features], dim=1)  # (B, 2 C_i, H / 2^(i+1), W / 2^(i+1))
            features = self.decoder[i](features)  # (B, C_{i-1} or C_out, H / 2^i, W / 2^i)
        return features  # (B, C_out, H, W)


def unet_generator(size: Literal[128, 256], **kwargs) -> UNetGenerator:
    """The reference's ``unet_128`` (7 downsamplings) or ``unet_256`` (8): a 1x1 bottleneck at that image size.

    Args:
        size: 128 or 256.
        **kwargs: the other ``UNetGenerator`` arguments.
    """
    if size not in UNET_DEPTHS:
        raise UserInputError(
            f"unet_generator: size {size} is not one of {sorted(UNET_DEPTHS)} (use UNetGenerator(num_downs=...))"
        )
    return UNetGenerator(num_downs=UNET_DEPTHS[size], **kwargs)


def unet_reference_modules(network: UNetGenerator) -> dict[str, str]:
    """Our module names -> the reference's, for every conv and norm of ``network``.

    The reference nests one ``UnetSkipConnectionBlock`` per level, each holding an ``nn.Sequential`` called
    ``model``: the outermost is ``[down conv, inner block, ReLU, up conv, Tanh]``, a middle one ``[LeakyReLU,
    down conv, norm, inner block, ReLU, up conv, norm(, Dropout)]``, the innermost ``[LeakyReLU, down conv, ReLU,
    up conv, norm]``. So level 0 lives at ``model.model``, level 1 at ``model.model.1.model``, deeper ones one
    ``.3.model`` further each.

    Args:
        network: the U-Net whose names are mapped.
    """
    innermost = network.num_downs - 1
    names = {}
    prefix = "model.model"
    for i in range(network.num_downs):
        if i == 1:
            prefix += ".1.model"
        elif i > 1:
            prefix += ".3.model"
        if i == 0:
            names.update({"encoder.0.conv": f"{prefix}.0", "decoder.0.conv": f"{prefix}.3"})
        elif i == innermost:
            names.update({
                f"encoder.{i}.conv": f"{prefix}.1",
                f"decoder.{i}.conv": f"{prefix}.3",
                f"decoder.{i}.norm": f"{prefix}.4",
            })
        else:
            names.update({
                f"encoder.{i}.conv": f"{prefix}.1",
                f"encoder.{i}.norm": f"{prefix}.2",
                f"decoder.{i}.conv": f"{prefix}.5",
                f"decoder.{i}.norm": f"{prefix}.6",
            })
    return names
