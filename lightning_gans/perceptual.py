"""Perceptual (VGG feature) loss of the super-resolution GANs, on torchvision's ImageNet VGG19.

The loss compares a frozen VGG19's feature maps of the prediction and of the target, per chosen layer, and sums
them with per-layer weights. Which side of the ReLU a layer is read on matters:

- SRGAN (Ledig et al. 2017, arXiv 1609.04802, eq. 5): "VGG54", the 4th conv of block 5 **after** its ReLU
  (``{"relu5_4": 1.0}``), squared error (``criterion="mse"``).
- ESRGAN (Wang et al. 2018, arXiv 1809.00219, Sec. 3.3): the same layer **before** the ReLU, where features are
  denser and keep brightness (``{"conv5_4": 1.0}``, the default), L1 as BasicSR's ``PerceptualLoss``.
- Real-ESRGAN: ``{"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1, "conv4_4": 1, "conv5_4": 1}``, L1.

Layer names are BasicSR's (``conv{block}_{index}``, ``relu{block}_{index}``, ``pool{block}``). Inputs are RGB in
[0, 1] (the super-resolution families' range); they are normalised by ImageNet's mean and std, as torchvision's
weights expect. The VGG is truncated after the last layer used, frozen, always in eval mode, and kept out of
``state_dict`` (so checkpoints do not carry 80 MB of fixed weights; loading ignores it too).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lightning_gans.errors import UserInputError
from lightning_gans.pretrained import read_state_dict

__all__ = ["PerceptualLoss", "VGG19_LAYERS", "default_vgg19_path"]

# torchvision's VGG19 ("E") features: conv widths per block, each conv followed by a ReLU, a 2x2 max-pool per block.
VGG19_BLOCKS: tuple[tuple[int, ...], ...] = ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4)
VGG19_LAYERS: tuple[str, ...] = tuple(
    name
    for block, widths in enumerate(VGG19_BLOCKS, start=1)
    for names in ([(f"conv{block}_{i}", f"relu{block}_{i}") for i in range(1, len(widths) + 1)] + [(f"pool{block}",)])
    for name in names
)  # the i-th name is torchvision's ``features[i]``
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # torchvision's normalisation of [0, 1] RGB
IMAGENET_STD = (0.229, 0.224, 0.225)
CRITERIA = {"l1": F.l1_loss, "mse": F.mse_loss}


def vgg19_weights_url() -> str:
    """The download address of torchvision's ``VGG19_Weights.IMAGENET1K_V1``."""
    from torchvision.models import VGG19_Weights  # torchvision.models is slow to import; only needed here

    return VGG19_Weights.IMAGENET1K_V1.url


def default_vgg19_path() -> Path:
    """Where torchvision keeps the VGG19 file: ``torch.hub.get_dir()/checkpoints/vgg19-dcbb9e9d.pth``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(vgg19_weights_url())


def _vgg19_features(last_layer: str) -> nn.Sequential:
    """VGG19's feature layers up to and including ``last_layer``, named as ``VGG19_LAYERS``.

    The ReLUs are not in-place (torchvision's are), so a conv output read before its ReLU stays intact.
    """
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    channels = 3
    for block, widths in enumerate(VGG19_BLOCKS, start=1):
        for i, width in enumerate(widths, start=1):
            layers[f"conv{block}_{i}"] = nn.Conv2d(channels, width, 3, padding=1)
            layers[f"relu{block}_{i}"] = nn.ReLU()
            channels = width
        layers[f"pool{block}"] = nn.MaxPool2d(2, 2)
        if last_layer in layers:
            break  # no need to build (and initialise) the deeper blocks
    names = list(layers)[: VGG19_LAYERS.index(last_layer) + 1]
    return nn.Sequential(OrderedDict((name, layers[name]) for name in names))


def _read_vgg19(features: nn.Sequential, path: Path) -> None:
    """Copy torchvision's VGG19 weights (``features.<index>.weight`` / ``.bias``) from ``path`` into ``features``."""
    state_dict = read_state_dict(path)
    renamed = {}
    for name, module in features.named_children():
        if isinstance(module, nn.Conv2d):
            index = VGG19_LAYERS.index(name)
            for param in ("weight", "bias"):
                key = f"features.{index}.{param}"
                expected = getattr(module, param).shape
                if key not in state_dict or state_dict[key].shape != expected:
                    found = tuple(state_dict[key].shape) if key in state_dict else "missing"
                    raise UserInputError(
                        f"{path} is not torchvision's VGG19 weights file: {key} is {found}, expected "
                        f"{tuple(expected)} (get {vgg19_weights_url()})"
                    )
                renamed[f"{name}.{param}"] = state_dict[key]
    features.load_state_dict(renamed)


def _drop_vgg_keys(module: nn.Module, state_dict: dict, prefix: str, local_metadata: dict) -> None:
    """``state_dict`` post-hook: the fixed VGG weights stay out of checkpoints."""
    for key in [key for key in state_dict if key.startswith(prefix + "vgg.")]:
        del state_dict[key]


def _keep_vgg_weights(
    module: nn.Module,
    state_dict: dict,
    prefix: str,
    local_metadata: dict,
    strict: bool,
    missing_keys: list,
    unexpected_keys: list,
    error_msgs: list,
) -> None:
    """``load_state_dict`` pre-hook: whatever a checkpoint holds, the VGG keeps the weights it was built with."""
    for name, tensor in module.vgg.state_dict().items():
        state_dict[prefix + "vgg." + name] = tensor


class PerceptualLoss(nn.Module):
    """Weighted sum over VGG19 layers of criterion(features(prediction), features(target)).

    Args:
        layer_weights: weight per layer, by BasicSR's names: ``conv5_4`` is read before its ReLU, ``relu5_4``
            after. None means ESRGAN's ``{"conv5_4": 1.0}``; SRGAN's is ``{"relu5_4": 1.0}`` (see the module
            docstring).
        criterion: distance between feature maps, averaged over every element: ``"l1"`` (BasicSR, ESRGAN) or
            ``"mse"`` (SRGAN's eq. 5, the squared distance normalised by the feature map's size).
        weights: ``"imagenet"``: torchvision's ImageNet VGG19 weights, read from ``weights_path``; it is never
            downloaded, and a missing file is an error. ``"random"``: torchvision's random initialisation, for
            tests only (such features mean nothing perceptually).
        weights_path: the VGG19 weights file (torchvision's ``vgg19-dcbb9e9d.pth``); None looks in torch's hub
            cache, ``torch.hub.get_dir()/checkpoints/`` (where torchvision downloads it).
    """

    def __init__(
        self,
        layer_weights: dict[str, float] | None = None,
        criterion: Literal["l1", "mse"] = "l1",
        weights: Literal["imagenet", "random"] = "imagenet",
        weights_path: str | None = None,
    ) -> None:
        super().__init__()
        layer_weights = {"conv5_4": 1.0} if layer_weights is None else dict(layer_weights)
        unknown = [name for name in layer_weights if name not in VGG19_LAYERS]
        if not layer_weights or unknown:
            raise UserInputError(
                f"PerceptualLoss: layer_weights needs VGG19 layer names (conv1_1 ... conv5_4 before the ReLU, "
                f"relu1_1 ... relu5_4 after, pool1 ... pool5); got {unknown or 'none'}"
            )
        if criterion not in CRITERIA:
            raise UserInputError(f"PerceptualLoss: criterion {criterion!r} is not one of {', '.join(CRITERIA)}")
        if weights not in ("imagenet", "random"):
            raise UserInputError(f"PerceptualLoss: weights {weights!r} is not 'imagenet' or 'random'")
        path = None
        if weights == "imagenet":
            path = Path(weights_path) if weights_path is not None else default_vgg19_path()
        if path is not None and not path.is_file():
            raise UserInputError(
                f"VGG19 ImageNet weights not found at {path}: download {vgg19_weights_url()} to that path "
                f"(or pass weights_path); they are never downloaded automatically"
            )
        self.layer_weights, self.criterion = layer_weights, criterion
        self.vgg = _vgg19_features(max(layer_weights, key=VGG19_LAYERS.index))
        if path is not None:
            _read_vgg19(self.vgg, path)
        else:
            for module in self.vgg.modules():  # torchvision's VGG initialisation
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                    nn.init.zeros_(module.bias)
        self.vgg.requires_grad_(False)
        self.vgg.eval()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.register_state_dict_post_hook(_drop_vgg_keys)
        self.register_load_state_dict_pre_hook(_keep_vgg_weights)

    def train(self, mode: bool = True) -> PerceptualLoss:
        """Set train/eval mode like any module; the VGG itself stays in eval mode.

        Args:
            mode: train (True) or eval (False).
        """
        super().train(mode)
        self.vgg.eval()
        return self

    def extract(self, images: Tensor) -> dict[str, Tensor]:
        """The VGG19 feature maps of ``layer_weights``' layers.

        Args:
            images: ``(B, 3, H, W)`` RGB in [0, 1].

        Returns:
            ``{layer name: (B, C_layer, H_layer, W_layer)}``.
        """
        if images.ndim != 4 or images.shape[1] != 3:
            raise UserInputError(
                f"PerceptualLoss takes (B, 3, H, W) RGB images in [0, 1], got shape {tuple(images.shape)}"
            )
        x = (images - self.mean) / self.std  # (B, 3, H, W), ImageNet-normalised
        features = {}
        for name, layer in self.vgg.named_children():
            x = layer(x)
            if name in self.layer_weights:
                features[name] = x
        return features

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        """The perceptual loss; gradients flow to ``prediction`` only.

        Args:
            prediction: ``(B, 3, H, W)`` RGB in [0, 1], e.g. the super-resolved images.
            target: ``(B, 3, H, W)`` RGB in [0, 1], the ground truth (detached).

        Returns:
            Scalar loss.
        """
        predicted = self.extract(prediction)
        with torch.no_grad():
            wanted = self.extract(target.detach())
        distance = CRITERIA[self.criterion]
        return sum(weight * distance(predicted[name], wanted[name]) for name, weight in self.layer_weights.items())
