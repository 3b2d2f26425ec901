"""CycleGAN's ResNet generator (Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks", arXiv:1703.10593, App. 7.2), after Johnson et al.'s style-transfer network, as built by
the reference junyanz/pytorch-CycleGAN-and-pix2pix (``ResnetGenerator``).

``c7s1-64, d128, d256, R256 x num_blocks, u128, u64, c7s1-3``: a reflection-padded 7x7 conv, two 3x3 stride-2
convs, residual blocks of two reflection-padded 3x3 convs, two 3x3 stride-2 transposed convs (output padding 1)
and a reflection-padded 7x7 conv with tanh. Every conv but the last is followed by norm and ReLU (the second conv
of a residual block by norm only). H and W must be multiples of 4.

Parameter counts (3 -> 3 channels, ngf 64, instance norm): 9 blocks 11,378,179 (CycleGAN at 256x256); 6 blocks
7,837,699 (at 128x128).
"""

from __future__ import annotations

from collections import OrderedDict

from torch import Tensor, nn

from lightning_gans.errors import UserInputError
from lightning_gans.init import normal_init_
from lightning_gans.networks._inputs import check_images
from lightning_gans.networks.norms import Norm, check_norm, conv_bias, norm_layer

__all__ = ["ResNetGenerator", "ResidualBlock", "resnet_reference_modules"]


class ResidualBlock(nn.Module):
    """``x + norm(conv(pad(relu(norm(conv(pad(x)))))))`` at constant size and width (the paper's ``R256``).

    Args:
        channels: feature maps in and out.
        norm: the network's norm.
        dropout: dropout 0.5 between the two convs (the reference's ``--use_dropout``; CycleGAN has it off).
    """

    def __init__(self, channels: int, norm: Norm, dropout: bool) -> None:
        super().__init__()
        bias = conv_bias(norm)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        layers["pad1"] = nn.ReflectionPad2d(1)
        layers["conv1"] = nn.Conv2d(channels, channels, 3, bias=bias)
        layers["norm1"] = norm_layer(norm, channels)
        layers["act"] = nn.ReLU()
        if dropout:
            layers["dropout"] = nn.Dropout(0.5)
        layers["pad2"] = nn.ReflectionPad2d(1)
        layers["conv2"] = nn.Conv2d(channels, channels, 3, bias=bias)
        layers["norm2"] = norm_layer(norm, channels)
        self.body = nn.Sequential(layers)

    def forward(self, features: Tensor) -> Tensor:
        """``(B, C, h, w)`` -> ``(B, C, h, w)``."""
        return features + self.body(features)  # (B, C, h, w)


class ResNetGenerator(nn.Module):
    """G: images ``(B, in_channels, H, W)`` -> images ``(B, out_channels, H, W)`` in [-1, 1].

    H and W must be multiples of ``stride = 4`` and at least 8 (the 3x3 reflection pads need 2x2 maps at the
    bottleneck). Weights start from N(0, 0.02) (``normal_init_``, applied here).

    Args:
        in_channels: channels of the input images (3 for RGB, 1 for grayscale or scientific images).
        out_channels: channels of the output images.
        base_channels: channels of the first and last hidden layers (the reference's ``ngf``, 64); the residual
            blocks run at 4x this.
        num_blocks: residual blocks; CycleGAN uses 9 at 256x256 and 6 at 128x128.
        norm: ``"instance"`` (CycleGAN's choice), ``"batch"`` or ``"none"``; see ``lightning_gans.networks.norms``.
        dropout: dropout 0.5 inside each residual block (off in CycleGAN).
    """

    stride = 4  # two stride-2 convs

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        base_channels: int = 64,
        num_blocks: int = 9,
        norm: Norm = "instance",
        dropout: bool = False,
    ) -> None:
        super().__init__()
        check_norm(norm, "ResNetGenerator")
        if num_blocks < 0:
            raise UserInputError(f"ResNetGenerator: num_blocks must be >= 0, got {num_blocks}")
        self.in_channels, self.out_channels, self.base_channels = in_channels, out_channels, base_channels
        self.num_blocks, self.norm, self.dropout = num_blocks, norm, dropout
        bias = conv_bias(norm)
        width = base_channels

        self.stem = nn.Sequential(OrderedDict(
            pad=nn.ReflectionPad2d(3),
            conv=nn.Conv2d(in_channels, width, 7, bias=bias),
            norm=norm_layer(norm, width),
            act=nn.ReLU(),
        ))
        self.down = nn.Sequential(*[
            nn.Sequential(OrderedDict(
                conv=nn.Conv2d(width * 2**i, width * 2 ** (i + 1), 3, stride=2, padding=1, bias=bias),
                norm=norm_layer(norm, width * 2 ** (i + 1)),
                act=nn.ReLU(),
            ))
            for i in range(2)
        ])
        self.blocks = nn.Sequential(*[ResidualBlock(width * 4, norm, dropout) for _ in range(num_blocks)])
        self.up = nn.Sequential(*[
            nn.Sequential(OrderedDict(
                conv=nn.ConvTranspose2d(
                    width * 2 ** (2 - i), width * 2 ** (1 - i), 3, stride=2, padding=1, output_padding=1, bias=bias
                ),
                norm=norm_layer(norm, width * 2 ** (1 - i)),
                act=nn.ReLU(),
            ))
            for i in range(2)
        ])
        self.head = nn.Sequential(OrderedDict(
            pad=nn.ReflectionPad2d(3),
            conv=nn.Conv2d(width, out_channels, 7, bias=True),
            tanh=nn.Tanh(),
        ))
        self.apply(normal_init_)

    def forward(self, images: Tensor) -> Tensor:
        """Translate ``images`` ``(B, in_channels, H, W)``, H and W multiples of 4 (>= 8); returns [-1, 1]."""
        check_images(
            images,
            "ResNetGenerator",
            self.in_channels,
            self.stride,
            2 * self.stride,
            "use a crop size that is a multiple of 4 (predict pads other sizes)",
        )
        features = self.stem(images)  # (B, ngf, H, W)
        features = self.down(features)  # (B, 4 ngf, H / 4, W / 4)
        features = self.blocks(features)  # (B, 4 ngf, H / 4, W / 4)
        features = self.up(features)  # (B, ngf, H, W)
        return self.head(features)  # (B, C_out, H, W)


def resnet_reference_modules(network: ResNetGenerator, dropout_layout: bool = False) -> dict[str, str]:
    """Our module names -> the reference's, for every conv and norm of ``network``.

    The reference holds one flat ``nn.Sequential`` ``model``: ``[pad, conv, norm, ReLU]`` (0-3), two ``[conv, norm,
    ReLU]`` (4-9), the blocks at ``10 .. 9 + n``, two ``[conv, norm, ReLU]`` up (``10 + n`` ..), ``[pad, conv,
    Tanh]`` (``16 + n`` ..). A block's ``conv_block`` is ``[pad, conv, norm, ReLU, (Dropout,) pad, conv, norm]``:
    files trained with ``--use_dropout`` have the second conv one index later.

    Args:
        network: the ResNet generator whose names are mapped.
        dropout_layout: map onto the block layout with the dropout layer (independent of ``network.dropout``,
            since dropout has no weights).
    """
    n = network.num_blocks
    names = {"stem.conv": "model.1", "stem.norm": "model.2"}
    for i, start in enumerate((4, 7)):
        names.update({f"down.{i}.conv": f"model.{start}", f"down.{i}.norm": f"model.{start + 1}"})
    late = 1 if dropout_layout else 0
    for k in range(n):
        block = f"model.{10 + k}.conv_block"
        names.update({
            f"blocks.{k}.body.conv1": f"{block}.1",
            f"blocks.{k}.body.norm1": f"{block}.2",
            f"blocks.{k}.body.conv2": f"{block}.{5 + late}",
            f"blocks.{k}.body.norm2": f"{block}.{6 + late}",
        })
    for i, start in enumerate((10 + n, 13 + n)):
        names.update({f"up.{i}.conv": f"model.{start}", f"up.{i}.norm": f"model.{start + 1}"})
    names["head.conv"] = f"model.{17 + n}"
    return names
