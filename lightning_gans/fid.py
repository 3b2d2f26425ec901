"""FID / KID feature extractors that never download anything.

Fréchet Inception Distance (Heusel et al., 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a
Local Nash Equilibrium", arXiv:1706.08500) compares the Gaussian fits of real and generated features:
``||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))``. The metric itself is torchmetrics'
``FrechetInceptionDistance`` / ``KernelInceptionDistance``; this module supplies the features:

- ``inception``: the standard Inception-v3 pool3 features (2048-d), only when torch-fidelity is installed and its
  weights file is already on disk (``inception_weights_path()``); the weights path is passed explicitly, so
  torch-fidelity never falls back to downloading.
- a ``DigitClassifier`` checkpoint: the penultimate features of a small CNN trained on MNIST (made by
  ``benchmarks/mnist_classifier.py``). Scores from different feature extractors are not comparable.

Every metric ``build_fid`` returns takes the same input: ``update(images, real)`` with ``images`` a float
``(B, C, H, W)`` tensor in [0, 1], any size, C in {1, 3, 4}.
"""

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.utilities.imports import _TORCH_FIDELITY_AVAILABLE

__all__ = [
    "ClassifierFeatures",
    "DigitClassifier",
    "InceptionFeatures",
    "build_fid",
    "digit_classifier_input",
    "inception_weights_path",
    "load_classifier",
    "save_classifier",
]

# The file torch-fidelity's FeatureExtractorInceptionV3 fetches with torch.hub.load_state_dict_from_url
# (release v0.2.0), which caches it as <torch.hub.get_dir()>/checkpoints/<file name>.
INCEPTION_WEIGHTS_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
)
_CHECKPOINT_FORMAT = "lightning_gans.DigitClassifier"
_MAKE_CLASSIFIER_HINT = "make one with `python benchmarks/mnist_classifier.py` (see its --help)"


class DigitClassifier(nn.Module):
    """Small CNN for 28x28 greyscale digits: the MNIST classifier and FID feature extractor of the benchmarks.

    Layout: ``conv3x3(1 -> c1) - ReLU - maxpool2 - conv3x3(c1 -> c2) - ReLU - maxpool2 - flatten -
    linear(c2*7*7 -> feature_dim) - ReLU`` (the features) ``- linear(feature_dim -> num_classes)`` (the logits).
    With the defaults it has 220,234 parameters.

    Args:
        num_classes: Number of output classes (10 for MNIST digits).
        channels: Output channels of the two conv layers ``(c1, c2)``.
        feature_dim: Width of the penultimate layer, i.e. the dimension of ``features`` (and of the FID features).
    """

    def __init__(self, num_classes: int = 10, channels: tuple[int, int] = (32, 64), feature_dim: int = 64) -> None:
        super().__init__()
        if num_classes < 2 or feature_dim < 1 or len(channels) != 2 or min(channels) < 1:
            raise ValueError(
                f"DigitClassifier: need num_classes >= 2, two positive channels and feature_dim >= 1, got "
                f"num_classes={num_classes}, channels={tuple(channels)}, feature_dim={feature_dim}"
            )
        self.init_args = {"num_classes": num_classes, "channels": list(channels), "feature_dim": feature_dim}
        self.num_classes = num_classes
        self.feature_dim = feature_dim
        c1, c2 = channels
        self.conv = nn.Sequential(
            nn.Conv2d(1, c1, kernel_size=3, padding=1),  # (B, c1, 28, 28)
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, c1, 14, 14)
            nn.Conv2d(c1, c2, kernel_size=3, padding=1),  # (B, c2, 14, 14)
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, c2, 7, 7)
        )
        self.fc = nn.Linear(c2 * 7 * 7, feature_dim)
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate features.

        Args:
            x: ``(B, 1, 28, 28)`` float images in [0, 1].

        Returns:
            ``(B, feature_dim)`` non-negative features (after the ReLU).
        """
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(
                f"DigitClassifier: expected images (B, 1, 28, 28), got {tuple(x.shape)}; "
                "use ClassifierFeatures to resize and convert to greyscale"
            )
        x = self.conv(x).flatten(1)  # (B, c2 * 49)
        return F.relu(self.fc(x))  # (B, feature_dim)

    def forward(self, x: Tensor) -> Tensor:
        """Class logits.

        Args:
            x: ``(B, 1, 28, 28)`` float images in [0, 1].

        Returns:
            ``(B, num_classes)`` logits.
        """
        return self.head(self.features(x))


def save_classifier(model: DigitClassifier, path: str | os.PathLike) -> None:
    """Save a classifier as its constructor arguments plus state dict (loadable with ``weights_only=True``).

    Args:
        model: The classifier to save.
        path: Destination file (e.g. ``mnist_classifier.pt``); parent folders are created. Written atomically.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = {
        "format": _CHECKPOINT_FORMAT,
        "init_args": dict(model.init_args),
        "state_dict": {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()},
    }
    tmp_path = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(checkpoint, tmp_path)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def load_classifier(path: str | os.PathLike) -> DigitClassifier:
    """Load a classifier written by ``save_classifier`` (on the CPU, in eval mode).

    Args:
        path: Checkpoint file written by ``save_classifier`` (``benchmarks/mnist_classifier.py`` writes one).

    Returns:
        The ``DigitClassifier`` with its saved weights.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no classifier checkpoint at {path}; {_MAKE_CLASSIFIER_HINT}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling errors come in many types
        reason = type(error).__name__
        raise ValueError(f"{path} is not a readable torch checkpoint ({reason}); {_MAKE_CLASSIFIER_HINT}") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != _CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a checkpoint written by save_classifier; {_MAKE_CLASSIFIER_HINT}")
    init_args = dict(checkpoint["init_args"])
    init_args["channels"] = tuple(init_args["channels"])
    model = DigitClassifier(**init_args)
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval()


def digit_classifier_input(images: Tensor) -> Tensor:
    """What a ``DigitClassifier`` reads: float ``(B, 1, 28, 28)`` in [0, 1].

    Args:
        images: ``(B, C, H, W)`` float in [0, 1] (or uint8 in [0, 255]); C in {1, 2, 3, 4} (an alpha channel is
            dropped, colour is averaged to grey), any H, W (resized bilinearly with antialiasing).
    """
    x = _to_unit_float(images)
    if x.shape[1] in (2, 4):  # greyscale + alpha or RGBA: drop the alpha channel
        x = x[:, :-1]
    if x.shape[1] != 1:
        x = x.mean(dim=1, keepdim=True)  # (B, 1, H, W)
    if x.shape[-2:] != (28, 28):
        x = F.interpolate(x, size=(28, 28), mode="bilinear", antialias=True, align_corners=False)
    return x


def _to_unit_float(images: Tensor) -> Tensor:
    """Accept float images in [0, 1] or uint8 images in [0, 255]; return float32 in [0, 1]."""
    if images.dtype == torch.uint8:
        return images.float() / 255
    if not images.is_floating_point():
        raise ValueError(f"FID features: images must be float in [0, 1] or uint8, got dtype {images.dtype}")
    return images.float()


class _FrozenFeatures(nn.Module):
    """A feature extractor that stays in eval mode with frozen weights (also when a parent calls ``.train()``).

    Frozen weights keep DDP (which wraps the whole LightningModule) from waiting for their gradients.
    """

    def train(self, mode: bool = True) -> "_FrozenFeatures":
        return super().train(False)

    def _freeze(self) -> None:
        for parameter in self.parameters():
            parameter.requires_grad_(False)
        self.eval()


class ClassifierFeatures(_FrozenFeatures):
    """Penultimate features of a ``DigitClassifier`` for torchmetrics FID/KID (``feature=ClassifierFeatures(...)``).

    Images are converted to what the classifier was trained on: 1 channel (mean over channels; an alpha channel
    is dropped first) and 28x28 (bilinear with antialiasing) when needed. torchmetrics reads ``num_features`` to
    size its state, and passes the images to ``forward`` unchanged for a custom extractor (its ``normalize``
    flag is ignored then).

    Args:
        classifier: A ``DigitClassifier`` (or any module with ``features(x)`` taking ``(B, 1, 28, 28)`` in [0, 1]
            and a ``feature_dim`` attribute). It is frozen and kept in eval mode.
    """

    def __init__(self, classifier: DigitClassifier) -> None:
        super().__init__()
        self.classifier = classifier
        self.num_features = int(classifier.feature_dim)
        self._freeze()

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        """Features of a batch of images.

        Args:
            images: ``(B, C, H, W)`` float in [0, 1] (or uint8 in [0, 255]); C in {1, 2, 3, 4}, any H, W.

        Returns:
            ``(B, num_features)`` float32 features.
        """
        if images.ndim != 4:
            raise ValueError(f"ClassifierFeatures: expected images (B, C, H, W), got {tuple(images.shape)}")
        return self.classifier.features(digit_classifier_input(images))


class InceptionFeatures(_FrozenFeatures):
    """Inception-v3 pool3 features (torch-fidelity's network) taking the same input as ``ClassifierFeatures``.

    torch-fidelity's Inception wants uint8 RGB images; this converts float images in [0, 1] with any channel
    count (1 -> repeated to RGB, 4 -> alpha dropped) so families can feed greyscale images to either extractor.

    Args:
        inception: The network; called with uint8 ``(B, 3, H, W)`` images, returns ``(B, 2048)`` features
            (torchmetrics' ``NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"], ...)``).
        num_features: Feature dimension the network returns.
    """

    def __init__(self, inception: nn.Module, num_features: int = 2048) -> None:
        super().__init__()
        self.inception = inception
        self.num_features = num_features
        self._freeze()

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        """Features of a batch of images.

        Args:
            images: ``(B, C, H, W)`` float in [0, 1] (or uint8 in [0, 255]); C in {1, 2, 3, 4}, any H, W.

        Returns:
            ``(B, num_features)`` features.
        """
        if images.ndim != 4:
            raise ValueError(f"InceptionFeatures: expected images (B, C, H, W), got {tuple(images.shape)}")
        x = _to_unit_float(images)
        if x.shape[1] in (2, 4):  # drop alpha
            x = x[:, :-1]
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)  # greyscale -> RGB
        x = (x.clamp(0, 1) * 255).round().to(torch.uint8)  # (B, 3, H, W), what torch-fidelity expects
        return self.inception(x).reshape(x.shape[0], -1)


def inception_weights_path() -> Path:
    """Where the Inception weights must be for ``build_fid("inception")``: torch hub's checkpoint cache.

    Returns:
        ``<torch.hub.get_dir()>/checkpoints/weights-inception-2015-12-05-6726825d.pth`` (``$TORCH_HOME/hub/...``,
        by default ``~/.cache/torch/hub/...``), the file torch-fidelity would download from ``INCEPTION_WEIGHTS_URL``.
    """
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_URL.rsplit("/", 1)[1]


def _build_inception(weights_path: Path) -> nn.Module:
    """torchmetrics' Inception-v3 (pool3 features) loaded from ``weights_path``: no download is possible."""
    from torchmetrics.image.fid import NoTrainInceptionV3

    return NoTrainInceptionV3(
        name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=str(weights_path)
    )


def build_fid(features: str = "auto") -> tuple[FrechetInceptionDistance | None, str]:
    """Build a FID metric whose feature extractor is already on disk; never downloads.

    The metric takes ``update(images, real=...)`` with float ``(B, C, H, W)`` images in [0, 1] (any size,
    C in {1, 3, 4}); move it to the model's device with ``.to(device)``.

    Args:
        features: Which features: ``"auto"`` (Inception if torch-fidelity is installed and its weights are at
            ``inception_weights_path()``, else no FID), ``"inception"`` (the same, but an error when unavailable),
            ``"none"`` (no FID), or the path of a ``DigitClassifier`` checkpoint written by ``save_classifier``.

    Returns:
        ``(metric, notice)``: the metric (``None`` when FID is off) and a one-line notice saying what was chosen.
    """
    if features == "none":
        return None, "FID off (fid_features=none)"
    if features in ("auto", "inception"):
        weights = inception_weights_path()
        if _TORCH_FIDELITY_AVAILABLE and weights.is_file():
            metric = FrechetInceptionDistance(feature=InceptionFeatures(_build_inception(weights)), normalize=True)
            return metric, f"FID on: Inception-v3 pool3 features (2048-d) from {weights}"
        if features == "inception":
            if not weights.is_file():
                raise FileNotFoundError(
                    f"FID features 'inception': no Inception weights at {weights}; copy {INCEPTION_WEIGHTS_URL} "
                    "there (or set TORCH_HOME), or pass a classifier checkpoint path"
                )
            raise ModuleNotFoundError(
                f"FID features 'inception': weights found at {weights} but torch-fidelity is not installed "
                "(pip install torch-fidelity)"
            )
        reason = f"no Inception weights at {weights}" if not weights.is_file() else "torch-fidelity not installed"
        return None, f"FID off: {reason} and no classifier given (--model.fid_features PATH)"
    classifier = load_classifier(features)
    metric = FrechetInceptionDistance(feature=ClassifierFeatures(classifier), normalize=True)
    return metric, f"FID on: DigitClassifier features ({classifier.feature_dim}-d) from {features}"
