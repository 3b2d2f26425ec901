"""The PatchGAN discriminators of pix2pix (Isola et al. 2017, arXiv:1611.07004, Sec. 3.2.2 and App. 6.1.2), used
unchanged by CycleGAN, as built by the reference junyanz/pytorch-CycleGAN-and-pix2pix (``NLayerDiscriminator``,
``PixelDiscriminator``).

``PatchDiscriminator`` with ``num_layers=3`` is the paper's 70x70 PatchGAN ``C64-C128-C256-C512``: 4x4 convs,
stride 2 except the last two, LeakyReLU 0.2, no norm on the first layer, then a 4x4 conv to one logit per
overlapping 70x70 patch. ``PixelDiscriminator`` is the paper's 1x1 "PixelGAN". Both return logits (no sigmoid);
the loss applies it.

Parameter counts (ndf 64, num_layers 3): 6-channel input (pix2pix: input and output images), batch norm
2,768,705; 3-channel input, instance norm 2,764,737.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import Tensor, nn

from lightning_gans.errors import UserInputError
from lightning_gans.init import normal_init_
from lightning_gans.networks._inputs import check_images
from lightning_gans.networks.norms import Norm, check_norm, conv_bias, norm_layer

__all__ = ["PatchDiscriminator", "PixelDiscriminator", "patch_reference_modules", "pixel_reference_modules"]


class PatchDiscriminator(nn.Module):
    """D: images ``(B, in_channels, H, W)`` -> logits ``(B, 1, H / 2**num_layers - 2, W / 2**num_layers - 2)``.

    Each logit judges one overlapping patch (70x70 for ``num_layers=3``); H and W must be at least
    ``3 * 2**num_layers`` (24 for the default) so that one logit remains. Weights start from N(0, 0.02)
    (``normal_init_``, applied here).

    Args:
        in_channels: channels of what D sees; for pix2pix's conditional D, input plus output channels.
        base_channels: channels of the first layer (the reference's ``ndf``, 64); each stride-2 layer doubles
            them, up to 8x.
        num_layers: stride-2 conv layers after the first (the reference's ``n_layers_D``, 3 for 70x70 patches);
            at least 1.
        norm: ``"batch"`` (pix2pix), ``"instance"`` (CycleGAN) or ``"none"``; see ``lightning_gans.networks.norms``.
    """

    def __init__(self, in_channels: int, base_channels: int = 64, num_layers: int = 3, norm: Norm = "batch") -> None:
        super().__init__()
        check_norm(norm, "PatchDiscriminator")
        if num_layers < 1:
            raise UserInputError(f"PatchDiscriminator: num_layers must be >= 1, got {num_layers}")
        self.in_channels, self.base_channels, self.num_layers, self.norm = in_channels, base_channels, num_layers, norm
        bias = conv_bias(norm)
        width = [base_channels * min(2**i, 8) for i in range(num_layers + 1)]

        self.stem = nn.Sequential(OrderedDict(
            conv=nn.Conv2d(in_channels, width[0], 4, stride=2, padding=1, bias=True),
            act=nn.LeakyReLU(0.2),
        ))
        # num_layers - 1 more stride-2 layers, then one at stride 1 (the paper's C512 of the 70x70 network).
        self.body = nn.Sequential(*[
            nn.Sequential(OrderedDict(
                conv=nn.Conv2d(width[i], width[i + 1], 4, stride=2 if i + 1 < num_layers else 1, padding=1, bias=bias),
                norm=norm_layer(norm, width[i + 1]),
                act=nn.LeakyReLU(0.2),
            ))
            for i in range(num_layers)
        ])
        self.head = nn.Conv2d(width[-1], 1, 4, stride=1, padding=1, bias=True)
        self.apply(normal_init_)

    @property
    def min_size(self) -> int:
        """The smallest H and W that leave one logit: 3 (for the two 4x4 stride-1 convs) per ``2**num_layers``."""
        return 3 * 2**self.num_layers

    def forward(self, images: Tensor) -> Tensor:
        """Patch logits ``(B, 1, h, w)`` for ``images`` ``(B, in_channels, H, W)``."""
        check_images(
            images,
            f"PatchDiscriminator(num_layers={self.num_layers})",
            self.in_channels,
            1,
            self.min_size,
            "use larger crops or a smaller num_layers",
        )
        features = self.stem(images)  # (B, ndf, H / 2, W / 2)
        features = self.body(features)  # (B, ndf * min(2^L, 8), H / 2^L - 1, W / 2^L - 1)
        return self.head(features)  # (B, 1, H / 2^L - 2, W / 2^L - 2)


class PixelDiscriminator(nn.Module):
    """D: images ``(B, in_channels, H, W)`` -> logits ``(B, 1, H, W)``, one per pixel (1x1 convs only).

    It judges colour statistics but not structure (pix2pix Sec. 4.4). Weights start from N(0, 0.02).

    Args:
        in_channels: channels of what D sees.
        base_channels: channels of the first layer (the reference's ``ndf``, 64); the second has twice as many.
        norm: ``"batch"``, ``"instance"`` or ``"none"``; see ``lightning_gans.networks.norms``.
    """

    def __init__(self, in_channels: int, base_channels: int = 64, norm: Norm = "batch") -> None:
        super().__init__()
        check_norm(norm, "PixelDiscriminator")
        self.in_channels, self.base_channels, self.norm = in_channels, base_channels, norm
        bias = conv_bias(norm)
        self.layers = nn.Sequential(OrderedDict(
            conv1=nn.Conv2d(in_channels, base_channels, 1, bias=True),
            act1=nn.LeakyReLU(0.2),
            conv2=nn.Conv2d(base_channels, 2 * base_channels, 1, bias=bias),
            norm=norm_layer(norm, 2 * base_channels),
            act2=nn.LeakyReLU(0.2),
            conv3=nn.Conv2d(2 * base_channels, 1, 1, bias=bias),  # the reference's rule applies here too
        ))
        self.apply(normal_init_)

    def forward(self, images: Tensor) -> Tensor:
        """Pixel logits ``(B, 1, H, W)`` for ``images`` ``(B, in_channels, H, W)``."""
        # Instance norm needs more than one value per map.
        minimum = 2 if self.norm == "instance" else 1
        check_images(images, "PixelDiscriminator", self.in_channels, 1, minimum, "use larger crops")
        return self.layers(images)  # (B, 1, H, W)


def patch_reference_modules(network: PatchDiscriminator) -> dict[str, str]:
    """Our module names -> the reference's: its flat ``model`` is ``[conv, LeakyReLU]`` then ``[conv, norm,
    LeakyReLU]`` per body layer, then the head conv.

    Args:
        network: the discriminator whose names are mapped.
    """
    names = {"stem.conv": "model.0"}
    for i in range(network.num_layers):
        names.update({f"body.{i}.conv": f"model.{2 + 3 * i}", f"body.{i}.norm": f"model.{3 + 3 * i}"})
    names["head"] = f"model.{2 + 3 * network.num_layers}"
    return names


def pixel_reference_modules(network: PixelDiscriminator) -> dict[str, str]:
    """Our module names -> the reference's flat ``net``: ``[conv, LeakyReLU, conv, norm, LeakyReLU, conv]``.

    Args:
        network: the discriminator whose names are mapped.
    """
    return {"layers.conv1": "net.0", "layers.conv2": "net.2", "layers.norm": "net.3", "layers.conv3": "net.5"}
