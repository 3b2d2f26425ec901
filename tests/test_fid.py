"""Tests for lightning_gans.fid: digit classifier, checkpoints, FID/KID features, build_fid (never downloads)."""

import socket
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from lightning_gans import fid
from lightning_gans.fid import (
    ClassifierFeatures,
    DigitClassifier,
    InceptionFeatures,
    build_fid,
    inception_weights_path,
    load_classifier,
    save_classifier,
)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test runs with downloads impossible and an empty torch hub cache under tmp_path."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a network access or download was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))


@pytest.fixture
def classifier_path(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "classifier.pt"
    save_classifier(DigitClassifier(), path)
    return path


def blobs(n: int, seed: int, bright: bool) -> torch.Tensor:
    """(n, 1, 28, 28) images in [0, 1]: a bright square on black, or faint noise."""
    generator = torch.Generator().manual_seed(seed)
    images = 0.1 * torch.rand(n, 1, 28, 28, generator=generator)
    if bright:
        offsets = torch.randint(2, 14, (n, 2), generator=generator)
        for image, (row, col) in zip(images, offsets.tolist()):
            image[:, row : row + 12, col : col + 12] = 1.0
    return images


def test_classifier_shapes_and_parameter_count() -> None:
    model = DigitClassifier()
    x = torch.rand(5, 1, 28, 28)
    assert model(x).shape == (5, 10)
    assert model.features(x).shape == (5, 64)
    assert (model.features(x) >= 0).all()  # features come after the ReLU
    # conv 1*32*9 + 32, conv 32*64*9 + 64, fc 64*7*7*64 + 64, head 64*10 + 10
    expected = (9 * 32 + 32) + (32 * 64 * 9 + 64) + (3136 * 64 + 64) + (64 * 10 + 10)
    num_parameters = sum(p.numel() for p in model.parameters())
    assert num_parameters == expected == 220_234
    assert 100_000 <= num_parameters <= 400_000


def test_classifier_every_parameter_gets_a_gradient() -> None:
    model = DigitClassifier(num_classes=3, channels=(4, 8), feature_dim=16)
    F.cross_entropy(model(torch.rand(6, 1, 28, 28)), torch.tensor([0, 1, 2, 0, 1, 2])).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize("shape", [(2, 3, 28, 28), (2, 1, 32, 32), (1, 28, 28)])
def test_classifier_rejects_wrong_input_shape(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        DigitClassifier()(torch.rand(shape))


def test_save_load_round_trip_exact(tmp_path: Path) -> None:
    model = DigitClassifier(num_classes=5, channels=(8, 16), feature_dim=32)
    path = tmp_path / "sub" / "clf.pt"
    save_classifier(model, path)
    loaded = load_classifier(path)
    assert loaded.init_args == {"num_classes": 5, "channels": [8, 16], "feature_dim": 32}
    assert not loaded.training
    assert loaded.state_dict().keys() == model.state_dict().keys()
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())
    x = torch.rand(3, 1, 28, 28)
    assert torch.equal(loaded(x), model.eval()(x))
    assert isinstance(torch.load(path, weights_only=True), dict)  # safe loading works


def test_load_missing_classifier_says_how_to_make_one(tmp_path: Path) -> None:
    path = tmp_path / "nope.pt"
    with pytest.raises(FileNotFoundError) as error:
        load_classifier(path)
    message = str(error.value)
    assert str(path) in message and "python benchmarks/mnist_classifier.py" in message and "\n" not in message


def test_load_rejects_other_files(tmp_path: Path) -> None:
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="garbage.pt is not a readable torch checkpoint"):
        load_classifier(tmp_path / "garbage.pt")
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt is not a checkpoint written by save_classifier"):
        load_classifier(tmp_path / "other.pt")


def test_classifier_features_converts_input_and_stays_frozen() -> None:
    classifier = DigitClassifier()
    features = ClassifierFeatures(classifier)
    assert features.num_features == 64
    features.train()  # a parent LightningModule calling .train() must not change it
    assert not features.training and not classifier.training
    assert not any(p.requires_grad for p in features.parameters())

    grey = torch.rand(4, 1, 28, 28)
    assert torch.equal(features(grey), classifier.features(grey))
    rgb = grey.expand(-1, 3, -1, -1)
    assert torch.allclose(features(rgb), classifier.features(grey), atol=1e-6)  # mean of 3 equal channels
    rgba = torch.cat([rgb, torch.zeros(4, 1, 28, 28)], dim=1)
    assert torch.allclose(features(rgba), classifier.features(grey), atol=1e-6)  # alpha dropped
    big = torch.rand(4, 3, 56, 40)
    resized = F.interpolate(big.mean(1, keepdim=True), size=(28, 28), mode="bilinear", antialias=True)
    assert torch.allclose(features(big), classifier.features(resized), atol=1e-6)
    as_uint8 = (grey * 255).round().to(torch.uint8)
    assert torch.allclose(features(as_uint8), classifier.features(as_uint8.float() / 255))
    with pytest.raises(ValueError, match="dtype"):
        features(torch.zeros(1, 1, 28, 28, dtype=torch.int64))


def test_fid_with_classifier_checkpoint(classifier_path: Path) -> None:
    metric, notice = build_fid(str(classifier_path))
    assert isinstance(metric, FrechetInceptionDistance)
    assert "DigitClassifier" in notice and str(classifier_path) in notice
    real = blobs(256, seed=1, bright=True)
    metric.update(real, real=True)
    metric.update(real, real=False)
    same = metric.compute().item()
    assert abs(same) < 1e-8

    metric.reset()
    metric.update(real, real=True)
    metric.update(blobs(256, seed=2, bright=True), real=False)
    similar = metric.compute().item()
    metric.reset()
    metric.update(real, real=True)
    metric.update(blobs(256, seed=3, bright=False), real=False)
    different = metric.compute().item()
    # Random-init features are small (~0.03), so FID values are small: compare the three cases with each other.
    assert different > 0.01 and different > 20 * similar > 0


@pytest.mark.filterwarnings("ignore:Metric `Kernel Inception Distance` will save all extracted features")
def test_kid_accepts_classifier_features(classifier_path: Path) -> None:
    kid = KernelInceptionDistance(feature=ClassifierFeatures(load_classifier(classifier_path)), subset_size=50)
    real = blobs(100, seed=1, bright=True)
    kid.update(real, real=True)
    kid.update(blobs(100, seed=3, bright=False), real=False)
    kid_mean, _ = kid.compute()
    assert kid_mean > 0


def test_build_fid_none() -> None:
    metric, notice = build_fid("none")
    assert metric is None and "FID off" in notice


def test_build_fid_auto_without_weights_is_off(tmp_path: Path) -> None:
    metric, notice = build_fid("auto")
    assert metric is None
    expected_path = tmp_path / "torch_home" / "hub" / "checkpoints" / "weights-inception-2015-12-05-6726825d.pth"
    assert inception_weights_path() == expected_path
    assert notice.startswith("FID off:") and "--model.fid_features PATH" in notice and "\n" not in notice
    if not fid._TORCH_FIDELITY_AVAILABLE:
        assert str(expected_path) in notice


def test_build_fid_inception_without_weights_raises() -> None:
    with pytest.raises((FileNotFoundError, ModuleNotFoundError)) as error:
        build_fid("inception")
    assert "\n" not in str(error.value)
    if not inception_weights_path().is_file():
        assert str(inception_weights_path()) in str(error.value)


@pytest.mark.skipif(bool(fid._TORCH_FIDELITY_AVAILABLE), reason="torch-fidelity is installed")
def test_build_fid_inception_weights_without_torch_fidelity() -> None:
    inception_weights_path().parent.mkdir(parents=True)
    inception_weights_path().write_bytes(b"placeholder")
    with pytest.raises(ModuleNotFoundError, match="torch-fidelity"):
        build_fid("inception")
    metric, notice = build_fid("auto")
    assert metric is None and "torch-fidelity not installed" in notice


class FakeInception(nn.Module):
    """Stands in for torch-fidelity's network: records its input, returns 2048 features (4 statistics, repeated)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.seen: list[tuple[torch.dtype, tuple[int, ...]]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append((x.dtype, tuple(x.shape)))
        x = x.float()
        stats = [x.mean((1, 2, 3)), x.std((1, 2, 3)), x[:, 0].amax((1, 2)), x[:, 2].amin((1, 2))]
        return torch.stack(stats, dim=1).repeat(1, 512)  # (B, 2048)


def test_build_fid_uses_local_inception_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    inception_weights_path().parent.mkdir(parents=True)
    inception_weights_path().write_bytes(b"placeholder")
    fake = FakeInception()
    built_from: list[Path] = []

    def build(weights: Path) -> nn.Module:
        built_from.append(weights)
        return fake

    monkeypatch.setattr(fid, "_TORCH_FIDELITY_AVAILABLE", True)
    monkeypatch.setattr(fid, "_build_inception", build)
    for mode in ("auto", "inception"):
        metric, notice = build_fid(mode)
        assert isinstance(metric, FrechetInceptionDistance) and "Inception" in notice
    assert built_from == [inception_weights_path()] * 2
    assert not fake.scale.requires_grad
    metric.update(blobs(8, seed=1, bright=True), real=True)  # greyscale floats in [0, 1]
    assert fake.seen[-1] == (torch.uint8, (8, 3, 28, 28))


def test_inception_features_converts_to_uint8_rgb() -> None:
    fake = FakeInception()
    features = InceptionFeatures(fake)
    grey = torch.tensor([0.0, 0.5, 1.0, 0.2]).reshape(1, 1, 2, 2)
    features(grey)
    assert fake.seen[-1] == (torch.uint8, (1, 3, 2, 2))
    out = features(grey)
    assert out[0, 2] == 255 and out[0, 3] == 0  # channel 0 max and channel 2 min of the repeated grey image
    rgba = torch.rand(2, 4, 5, 5)
    assert torch.equal(features(rgba), features(rgba[:, :3]))


def test_build_fid_missing_classifier_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="mnist_classifier.py"):
        build_fid(str(tmp_path / "missing.pt"))
