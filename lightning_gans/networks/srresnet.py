"""SRResNet generators: Ledig et al.'s (and its InstanceNorm variant) and BasicSR's modified MSRResNet.

- ``SRResNet``: "Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial Network",
  Ledig et al. 2017, arXiv 1609.04802, Fig. 4 (top): conv 9x9 + PReLU, B = 16 residual blocks (conv 3x3, BN,
  PReLU, conv 3x3, BN, add), conv 3x3 + BN added to the head's features (the long skip), two sub-pixel x2 stages
  (conv 3x3 to 256 channels, PixelShuffle(2), PReLU), conv 9x9 to the image. It is the SRGAN generator.
  ``variant="instance_norm"`` is the widely used re-implementation twtygqyy/pytorch-SRResNet: InstanceNorm (affine)
  instead of BatchNorm, LeakyReLU 0.2 instead of PReLU, and no convolution biases.
- ``MSRResNet``: BasicSR's "modified SRResNet" (XPixelGroup/BasicSR ``srresnet_arch.py``): 3x3 head and tail, residual
  blocks without BN (conv, ReLU, conv, add), LeakyReLU 0.1, an extra conv before the last, the bilinearly upsampled
  input added to the output, convolutions initialised kaiming-normal x 0.1. Module names follow BasicSR's, so its
  released ``MSRResNet_x{2,3,4}`` files load directly (``lightning_gans.networks.sr_weights.load_sr_weights``).

Scales: the paper's x4 is two x2 sub-pixel stages; x2 is one of them and x3 one x3 stage (PixelShuffle(3)), as
BasicSR builds MSRResNet. Inputs are ``(B, C, H, W)`` of any size; outputs ``(B, C_out, scale*H, scale*W)``, with no
output activation (the family picks the value range: Ledig et al. feed LR in [0, 1] and target HR in [-1, 1];
BasicSR uses [0, 1] for both).
"""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

from lightning_gans.errors import UserInputError
from lightning_gans.networks._inputs import check_images

__all__ = ["MSRResNet", "SRResNet", "SRRESNET_VARIANTS", "SUBPIXEL_STAGES", "scaled_kaiming_"]

# Upsampling factor of each sub-pixel stage, per overall scale.
SUBPIXEL_STAGES: dict[int, tuple[int, ...]] = {2: (2,), 3: (3,), 4: (2, 2)}

# The SRResNet variants, as rows: normalisation, activation, and whether convolutions carry a bias.
SRRESNET_VARIANTS: dict[str, dict[str, object]] = {
    # Ledig et al. 2017, Fig. 4. PReLU with one slope per layer (PyTorch's default); every conv keeps its bias
    # (Fig. 4 marks none as bias-free), which gives 1,549,462 parameters at x4 (B = 16, 64 features).
    "srgan": {"norm": "batch", "activation": "prelu", "bias": True},
    # twtygqyy/pytorch-SRResNet (srresnet.py): InstanceNorm2d(affine=True), LeakyReLU 0.2, bias=False everywhere.
    "instance_norm": {"norm": "instance", "activation": "leaky_relu", "bias": False},
}


def check_scale(scale: int, owner: str) -> None:
    """Raise a one-line ``UserInputError`` unless ``scale`` is one the sub-pixel stages can build.

    Args:
        scale: the requested upscaling factor.
        owner: the network, for the message.
    """
    if scale not in SUBPIXEL_STAGES:
        raise UserInputError(f"{owner}: scale must be 2, 3 or 4 (sub-pixel stages x2, x3, or x2 twice), got {scale!r}")


def scaled_kaiming_(module: nn.Module, scale: float = 0.1) -> None:
    """BasicSR's ``default_init_weights``: kaiming-normal convolution weights times ``scale``, zero biases.

    Scaling residual branches down keeps the many-block networks near the identity at the start of training
    (BasicSR ``arch_util.py``; ESRGAN Sec. 3.3). Apply with ``network.apply(scaled_kaiming_)`` or to one module.

    Args:
        module: a module visited by ``nn.Module.apply``; only ``Conv2d`` layers are changed.
        scale: factor on the kaiming-normal weights (BasicSR's 0.1).
    """
    if isinstance(module, nn.Conv2d):
        nn.init.kaiming_normal_(module.weight)
        module.weight.data.mul_(scale)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def _activation(kind: str) -> nn.Module:
    return nn.PReLU() if kind == "prelu" else nn.LeakyReLU(0.2)


def _norm(kind: str, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if kind == "batch" else nn.InstanceNorm2d(channels, affine=True)


class SRResNetBlock(nn.Module):
    """Ledig et al.'s residual block: conv 3x3, norm, activation, conv 3x3, norm, plus the input.

    Args:
        features: channels in and out.
        norm: ``"batch"`` or ``"instance"`` (affine).
        activation: ``"prelu"`` or ``"leaky_relu"`` (slope 0.2).
        bias: whether the convolutions carry a bias.
    """

    def __init__(self, features: int, norm: str, activation: str, bias: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1, bias=bias)
        self.norm1 = _norm(norm, features)
        self.act = _activation(activation)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1, bias=bias)
        self.norm2 = _norm(norm, features)

    def forward(self, x: Tensor) -> Tensor:
        """One residual block.

        Args:
            x: ``(B, features, H, W)``.
        """
        out = self.act(self.norm1(self.conv1(x)))  # (B, F, H, W)
        out = self.norm2(self.conv2(out))  # (B, F, H, W)
        return x + out


class SubPixelStage(nn.Module):
    """One sub-pixel upsampling stage (Shi et al. 2016): conv 3x3 to ``factor**2`` times the features, PixelShuffle,
    activation.

    Args:
        features: channels in and out.
        factor: spatial upscaling of this stage (2 or 3).
        activation: ``"prelu"`` or ``"leaky_relu"``.
        bias: whether the convolution carries a bias.
    """

    def __init__(self, features: int, factor: int, activation: str, bias: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(features, features * factor**2, 3, padding=1, bias=bias)
        self.shuffle = nn.PixelShuffle(factor)
        self.act = _activation(activation)

    def forward(self, x: Tensor) -> Tensor:
        """Upsample ``x`` ``(B, features, H, W)`` to ``(B, features, factor*H, factor*W)``.

        Args:
            x: ``(B, features, H, W)``.
        """
        return self.act(self.shuffle(self.conv(x)))  # (B, F, rH, rW)


class SRResNet(nn.Module):
    """Ledig et al.'s SRResNet / SRGAN generator (arXiv 1609.04802, Fig. 4), or its InstanceNorm variant.

    Parameters at x4 with the defaults: 1,549,462 (``"srgan"``), 1,546,752 (``"instance_norm"``). Initialisation
    is PyTorch's default (the paper does not state one).

    Args:
        scale: upscaling factor; the paper's 4 (two x2 sub-pixel stages), 2 (one) or 3 (one x3 stage).
        variant: ``"srgan"`` (BatchNorm, PReLU; the paper) or ``"instance_norm"`` (InstanceNorm, LeakyReLU 0.2, no
            conv biases; twtygqyy/pytorch-SRResNet). See ``SRRESNET_VARIANTS``.
        in_channels: channels of the low-resolution input (3 for RGB).
        out_channels: channels of the output image.
        num_features: feature maps throughout the network; the paper's 64.
        num_blocks: residual blocks B; the paper's 16.
    """

    def __init__(
        self,
        *,
        scale: Literal[2, 3, 4] = 4,
        variant: Literal["srgan", "instance_norm"] = "srgan",
        in_channels: int = 3,
        out_channels: int = 3,
        num_features: int = 64,
        num_blocks: int = 16,
    ) -> None:
        super().__init__()
        check_scale(scale, "SRResNet")
        if variant not in SRRESNET_VARIANTS:
            raise UserInputError(f"SRResNet: variant {variant!r} is not one of {', '.join(SRRESNET_VARIANTS)}")
        row = SRRESNET_VARIANTS[variant]
        norm, activation, bias = str(row["norm"]), str(row["activation"]), bool(row["bias"])
        self.scale, self.variant, self.in_channels = scale, variant, in_channels
        self.conv_first = nn.Conv2d(in_channels, num_features, 9, padding=4, bias=bias)
        self.act_first = _activation(activation)
        self.body = nn.Sequential(*(SRResNetBlock(num_features, norm, activation, bias) for _ in range(num_blocks)))
        self.conv_body = nn.Conv2d(num_features, num_features, 3, padding=1, bias=bias)
        self.norm_body = _norm(norm, num_features)
        self.upsample = nn.Sequential(
            *(SubPixelStage(num_features, factor, activation, bias) for factor in SUBPIXEL_STAGES[scale])
        )
        self.conv_last = nn.Conv2d(num_features, out_channels, 9, padding=4, bias=bias)

    def forward(self, images: Tensor) -> Tensor:
        """Upscale ``images``.

        Args:
            images: ``(B, in_channels, H, W)`` low-resolution images, any H, W.

        Returns:
            ``(B, out_channels, scale*H, scale*W)``.
        """
        check_images(images, f"SRResNet(scale={self.scale})", self.in_channels, 1, 1, "")
        features = self.act_first(self.conv_first(images))  # (B, F, H, W)
        body = self.norm_body(self.conv_body(self.body(features)))  # (B, F, H, W)
        upsampled = self.upsample(features + body)  # (B, F, sH, sW); the long skip of Fig. 4
        return self.conv_last(upsampled)  # (B, C_out, sH, sW)


class MSRResNetBlock(nn.Module):
    """BasicSR's ``ResidualBlockNoBN``: conv 3x3, ReLU, conv 3x3, plus the input; kaiming x 0.1 initialisation.

    Args:
        features: channels in and out.
    """

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        """One residual block.

        Args:
            x: ``(B, features, H, W)``.
        """
        return x + self.conv2(F.relu(self.conv1(x)))  # (B, F, H, W)


class MSRResNet(nn.Module):
    """BasicSR's modified SRResNet: no BatchNorm, LeakyReLU 0.1, the bilinearly upsampled input as global skip.

    Parameters at x4 with the defaults: 1,517,571. Module names are BasicSR's (``conv_first``, ``body.N.conv1``,
    ``upconv1``, ``upconv2``, ``conv_hr``, ``conv_last``).

    Args:
        scale: upscaling factor: 4 (two x2 sub-pixel stages, ``upconv1`` and ``upconv2``), 2 or 3 (one stage).
        in_channels: channels of the low-resolution input; the global skip needs ``out_channels`` equal to it.
        out_channels: channels of the output image.
        num_features: feature maps throughout the network; BasicSR's 64.
        num_blocks: residual blocks; BasicSR's 16.
    """

    def __init__(
        self,
        *,
        scale: Literal[2, 3, 4] = 4,
        in_channels: int = 3,
        out_channels: int = 3,
        num_features: int = 64,
        num_blocks: int = 16,
    ) -> None:
        super().__init__()
        check_scale(scale, "MSRResNet")
        if in_channels != out_channels:
            raise UserInputError(
                f"MSRResNet adds the upsampled input to its output, so in_channels ({in_channels}) must equal "
                f"out_channels ({out_channels})"
            )
        self.scale, self.in_channels = scale, in_channels
        self.conv_first = nn.Conv2d(in_channels, num_features, 3, padding=1)
        self.body = nn.Sequential(*(MSRResNetBlock(num_features) for _ in range(num_blocks)))
        first_factor = SUBPIXEL_STAGES[scale][0]
        self.upconv1 = nn.Conv2d(num_features, num_features * first_factor**2, 3, padding=1)
        self.upconv2 = nn.Conv2d(num_features, num_features * 4, 3, padding=1) if scale == 4 else None
        self.pixel_shuffle = nn.PixelShuffle(first_factor)
        self.conv_hr = nn.Conv2d(num_features, num_features, 3, padding=1)
        self.conv_last = nn.Conv2d(num_features, out_channels, 3, padding=1)
        self.apply(scaled_kaiming_)  # every conv, as BasicSR (body blocks and the named layers alike)

    def forward(self, images: Tensor) -> Tensor:
        """Upscale ``images``.

        Args:
            images: ``(B, in_channels, H, W)`` low-resolution images, any H, W.

        Returns:
            ``(B, out_channels, scale*H, scale*W)``.
        """
        check_images(images, f"MSRResNet(scale={self.scale})", self.in_channels, 1, 1, "")
        features = F.leaky_relu(self.conv_first(images), 0.1)  # (B, F, H, W)
        features = self.body(features)  # (B, F, H, W)
        features = F.leaky_relu(self.pixel_shuffle(self.upconv1(features)), 0.1)  # (B, F, rH, rW)
        if self.upconv2 is not None:
            features = F.leaky_relu(self.pixel_shuffle(self.upconv2(features)), 0.1)  # (B, F, 4H, 4W)
        residual = self.conv_last(F.leaky_relu(self.conv_hr(features), 0.1))  # (B, C, sH, sW)
        base = F.interpolate(images, scale_factor=self.scale, mode="bilinear", align_corners=False)  # (B, C, sH, sW)
        return base + residual
