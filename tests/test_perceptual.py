"""Tests of the VGG19 perceptual loss, with random VGG weights built explicitly (no download ever happens) or a
small file written in torchvision's layout."""

import copy

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models import VGG19_Weights

from lightning_gans.errors import UserInputError
from lightning_gans.perceptual import VGG19_LAYERS, PerceptualLoss

VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"  # torchvision's VGG19_Weights.IMAGENET1K_V1


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch):
    """Any attempt to fetch weights fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


def torchvision_vgg19_features() -> nn.Sequential:
    """torchvision's own VGG19 feature layers (configuration "E"), randomly initialised."""
    return torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"])


def test_layer_names_follow_torchvision_indices() -> None:
    reference = torchvision_vgg19_features()
    assert len(VGG19_LAYERS) == len(reference) == 37
    kinds = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}
    for name, layer in zip(VGG19_LAYERS, reference, strict=True):
        assert isinstance(layer, kinds[name[:4]]), name
    assert VGG19_LAYERS.index("conv5_4") == 34 and VGG19_LAYERS.index("relu5_4") == 35


def test_vgg_is_truncated_after_the_last_used_layer() -> None:
    loss = PerceptualLoss({"conv1_2": 0.1, "conv2_2": 1.0}, weights="random")
    assert list(dict(loss.vgg.named_children())) == list(VGG19_LAYERS[: VGG19_LAYERS.index("conv2_2") + 1])
    assert list(dict(PerceptualLoss(weights="random").vgg.named_children()))[-1] == "conv5_4"  # ESRGAN's default


def test_before_and_after_activation() -> None:
    """conv1_2 is read before its ReLU (ESRGAN), relu1_2 after (SRGAN); the ReLU must not overwrite conv1_2."""
    torch.manual_seed(0)
    loss = PerceptualLoss({"conv1_2": 1.0, "relu1_2": 1.0}, weights="random")
    features = loss.extract(torch.rand(2, 3, 8, 8))
    assert (features["conv1_2"] < 0).any()
    torch.testing.assert_close(features["relu1_2"], features["conv1_2"].clamp(min=0))


def test_imagenet_normalisation_of_unit_range_input() -> None:
    torch.manual_seed(0)
    loss = PerceptualLoss({"conv1_1": 1.0}, weights="random")
    images = torch.rand(2, 3, 6, 6)
    transform = VGG19_Weights.IMAGENET1K_V1.transforms()  # torchvision's own preprocessing constants
    mean, std = torch.tensor(transform.mean).view(1, 3, 1, 1), torch.tensor(transform.std).view(1, 3, 1, 1)
    expected = F.conv2d((images - mean) / std, loss.vgg.conv1_1.weight, loss.vgg.conv1_1.bias, padding=1)
    torch.testing.assert_close(loss.extract(images)["conv1_1"], expected)


@pytest.mark.parametrize(
    "criterion, distance", [("l1", lambda a, b: (a - b).abs().mean()), ("mse", lambda a, b: (a - b).square().mean())]
)
def test_weighted_sum_of_layer_distances(criterion: str, distance) -> None:
    torch.manual_seed(0)
    weights = {"conv1_2": 0.1, "relu2_1": 2.0}
    loss = PerceptualLoss(weights, criterion=criterion, weights="random")
    prediction, target = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    a, b = loss.extract(prediction), loss.extract(target)
    expected = 0.1 * distance(a["conv1_2"], b["conv1_2"]) + 2.0 * distance(a["relu2_1"], b["relu2_1"])
    torch.testing.assert_close(loss(prediction, target), expected)
    assert loss(prediction, target) > 0
    assert loss(target, target) == 0


def test_gradient_reaches_the_prediction_not_vgg_or_target() -> None:
    torch.manual_seed(0)
    loss = PerceptualLoss({"conv2_2": 1.0}, weights="random")
    prediction = torch.rand(1, 3, 8, 8, requires_grad=True)
    target = torch.rand(1, 3, 8, 8, requires_grad=True)
    loss(prediction, target).backward()
    assert prediction.grad is not None and prediction.grad.abs().sum() > 0
    assert target.grad is None
    assert all(not p.requires_grad and p.grad is None for p in loss.parameters())


def test_vgg_stays_in_eval_mode_and_out_of_checkpoints() -> None:
    torch.manual_seed(0)
    model = nn.Module()
    model.generator = nn.Conv2d(3, 3, 1)
    model.perceptual = PerceptualLoss({"conv1_2": 1.0}, weights="random")
    model.train()
    assert model.perceptual.training and not model.perceptual.vgg.training
    state = model.state_dict()
    assert set(state) == {"generator.weight", "generator.bias"}  # no VGG weights, no mean/std buffers

    kept = copy.deepcopy(model.perceptual.vgg.state_dict())
    fresh = copy.deepcopy(model)
    fresh.load_state_dict(state, strict=True)  # a checkpoint without VGG keys loads strictly
    stale = dict(state) | {"perceptual.vgg.conv1_1.weight": torch.zeros_like(kept["conv1_1.weight"])}
    fresh.load_state_dict(stale, strict=True)  # an old checkpoint that carried VGG weights does not change them
    for name, tensor in fresh.perceptual.vgg.state_dict().items():
        assert torch.equal(tensor, kept[name]), name
    assert set(copy.deepcopy(model).state_dict()) == set(state)  # the hooks survive a copy (EMA, DDP spawn)


def test_reads_torchvision_weights_file(tmp_path) -> None:
    torch.manual_seed(0)
    reference = torchvision_vgg19_features()
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    # The first two convs in torchvision's key layout (features.<index>), plus an unrelated classifier key.
    keys = ["features.0.weight", "features.0.bias", "features.2.weight", "features.2.bias"]
    state = {
        key: value for key, value in (("features." + k, v) for k, v in reference.state_dict().items()) if key in keys
    }
    torch.save(state | {"classifier.6.bias": torch.zeros(1000)}, path)
    loss = PerceptualLoss({"conv1_2": 1.0}, weights_path=str(path))
    images = torch.rand(1, 3, 8, 8)
    normalised = (images - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
        [0.229, 0.224, 0.225]
    ).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(loss.extract(images)["conv1_2"], reference[:3](normalised))


def test_default_path_is_the_torch_hub_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    expected = tmp_path / "checkpoints" / "vgg19-dcbb9e9d.pth"
    with pytest.raises(UserInputError) as error:
        PerceptualLoss()
    message = str(error.value)
    assert str(expected) in message and VGG19_URL in message and "\n" not in message
    assert VGG19_Weights.IMAGENET1K_V1.url == VGG19_URL


def test_missing_or_wrong_weights_file(tmp_path) -> None:
    missing = tmp_path / "nowhere" / "vgg19.pth"
    with pytest.raises(UserInputError, match="not found") as error:
        PerceptualLoss(weights_path=str(missing))
    assert str(missing) in str(error.value) and VGG19_URL in str(error.value)
    wrong = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, wrong)
    with pytest.raises(UserInputError, match="not torchvision's VGG19") as error:
        PerceptualLoss(weights_path=str(wrong))
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"layer_weights": {"conv6_1": 1.0}}, "conv6_1"),
        ({"layer_weights": {}}, "layer_weights needs"),
        ({"criterion": "l3"}, "criterion 'l3'"),
        ({"weights": "imagenet1k"}, "weights 'imagenet1k'"),
    ],
)
def test_bad_arguments_raise_one_line(kwargs: dict, words: str) -> None:
    with pytest.raises(UserInputError, match=words) as error:
        PerceptualLoss(**({"weights": "random"} | kwargs))
    assert "\n" not in str(error.value)


def test_images_must_be_rgb() -> None:
    loss = PerceptualLoss({"conv1_1": 1.0}, weights="random")
    with pytest.raises(UserInputError, match="RGB"):
        loss(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))
