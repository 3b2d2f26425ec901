"""Tests of the data modules: MNIST (from real IDX files written here), Gaussian mixtures with their mode-coverage
score, and rendered digits. Everything runs offline on tiny data."""

import gzip
import inspect
import math
import shutil
import urllib.request
from pathlib import Path
from typing import Callable
from urllib.error import URLError

import docstring_parser
import lightning.pytorch as pl
import pytest
import torch
from PIL import ImageFont, features
from torch import nn

import datamodules.rendered_digits as rendered_digits
from datamodules import GaussianMixtureDataModule, MNISTDataModule, RenderedDigitsDataModule, mode_coverage
from datamodules.gaussian_mixture import MIXTURES
from datamodules.mnist import read_idx

# --------------------------------------------------------------------------------------------------- helpers


def write_idx(path: Path, array: torch.Tensor) -> None:
    """Write a uint8 tensor as an IDX file (MNIST's format), gzipped when the name ends in .gz."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(size.to_bytes(4, "big") for size in array.shape)
    payload = header + array.contiguous().numpy().tobytes()
    path.write_bytes(gzip.compress(payload) if path.suffix == ".gz" else payload)


def write_mnist(
    root: Path, split: str, num_images: int, gz: bool = True, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Write one split in torchvision's layout, ``<root>/MNIST/raw/<prefix>-images-idx3-ubyte[.gz]``.

    Images are random bytes with pixel (0, 0) = 0 and (0, 1) = 255 so both ends of [-1, 1] occur; labels i % 10.
    """
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (num_images, 28, 28), dtype=torch.uint8, generator=generator)
    images[:, 0, 0] = 0
    images[:, 0, 1] = 255
    labels = (torch.arange(num_images) % 10).to(torch.uint8)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    prefix = {"train": "train", "test": "t10k"}[split]
    suffix = ".gz" if gz else ""
    write_idx(raw / f"{prefix}-images-idx3-ubyte{suffix}", images)
    write_idx(raw / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
    return images, labels.long()


def batches(loader) -> list:
    return list(iter(loader))


# Small instances of every data module, for the tests of the shared interface.
def make_mnist(tmp_path: Path) -> MNISTDataModule:
    write_mnist(tmp_path, "test", 40)
    return MNISTDataModule(data_dir=str(tmp_path), batch_size=8, train_split="test", val_size=10, download=False)


def make_ring(tmp_path: Path) -> GaussianMixtureDataModule:
    return GaussianMixtureDataModule(batch_size=16, num_train=64, num_val=20)


def make_rendered(tmp_path: Path) -> RenderedDigitsDataModule:
    return RenderedDigitsDataModule(batch_size=8, num_train=40, num_val=12)


FACTORIES: dict[str, Callable[[Path], pl.LightningDataModule]] = {
    "mnist": make_mnist,
    "ring8": make_ring,
    "rendered": make_rendered,
}


# ---------------------------------------------------------------------------------------- shared interface


@pytest.mark.parametrize("name", list(FACTORIES))
def test_batches_follow_the_shared_conventions(name: str, tmp_path: Path) -> None:
    dm = FACTORIES[name](tmp_path)
    dm.prepare_data()
    dm.setup("fit")
    train_set = dm.train_set
    dm.setup("fit")  # idempotent: nothing is regenerated
    assert dm.train_set is train_set

    x, y = next(iter(dm.train_dataloader()))
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.shape == (dm.batch_size, *dm.sample_shape)
    assert y.shape == (dm.batch_size,)
    assert 0 <= int(y.min()) and int(y.max()) < dm.num_classes
    if len(dm.sample_shape) == 3:
        assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0

    train_batches = batches(dm.train_dataloader())
    assert all(b[0].shape[0] == dm.batch_size for b in train_batches)  # drop_last
    val_x = torch.cat([b[0] for b in batches(dm.val_dataloader())])
    assert val_x.shape == (len(dm.val_set), *dm.sample_shape)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_predict_dataloader_yields_sample_indices(name: str, tmp_path: Path) -> None:
    dm = FACTORIES[name](tmp_path)
    dm.num_predict_samples = 19
    indices = batches(dm.predict_dataloader())
    sizes = [len(b) for b in indices]
    assert sizes == [dm.batch_size] * (19 // dm.batch_size) + ([19 % dm.batch_size] if 19 % dm.batch_size else [])
    assert all(b.dtype == torch.int64 for b in indices)
    assert torch.equal(torch.cat(indices), torch.arange(19))


@pytest.mark.parametrize("cls", [MNISTDataModule, GaussianMixtureDataModule, RenderedDigitsDataModule])
def test_every_init_argument_is_documented(cls: type) -> None:
    # LightningCLI builds --help from these descriptions.
    documented = {p.arg_name: p.description for p in docstring_parser.parse(cls.__doc__).params}
    arguments = [name for name in inspect.signature(cls.__init__).parameters if name != "self"]
    for name in ["data_dir", "batch_size", "num_workers", "num_predict_samples", "seed"]:
        assert name in arguments
    for name in arguments:
        assert documented.get(name), f"{cls.__name__}: argument {name} has no description in Args:"


class _TinyModel(pl.LightningModule):
    """Consumes batches the way the families do: (x, y) for fit and validation, indices for predict."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.layer = nn.Linear(num_features, 1)
        self.validation_batches = 0

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return self.layer(x.flatten(1)).mean() + 0.0 * y.float().mean()

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self.validation_batches += 1

    def predict_step(self, indices: torch.Tensor, batch_idx: int) -> torch.Tensor:
        return indices

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_trainer_fits_validates_and_predicts(name: str, tmp_path: Path) -> None:
    dm = FACTORIES[name](tmp_path)
    model = _TinyModel(math.prod(dm.sample_shape))
    trainer = pl.Trainer(
        max_steps=2,
        limit_val_batches=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, datamodule=dm)
    assert trainer.global_step == 2
    assert model.validation_batches >= 1
    predictions = trainer.predict(model, datamodule=dm)
    assert torch.equal(torch.cat(predictions), torch.arange(dm.num_predict_samples))


# ---------------------------------------------------------------------------------------------------- MNIST


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "plain"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_mnist_reads_real_idx_files(tmp_path: Path, split: str, gz: bool) -> None:
    images, labels = write_mnist(tmp_path, split, 30, gz=gz)
    dm = MNISTDataModule(data_dir=str(tmp_path), batch_size=4, train_split=split, val_size=6, download=False)
    dm.prepare_data()
    dm.setup()
    assert (len(dm.train_set), len(dm.val_set)) == (24, 6)
    assert sorted(dm.train_set.indices + dm.val_set.indices) == list(range(30))
    assert dm.num_classes == 10 and dm.sample_shape == (1, 28, 28)
    for subset in (dm.train_set, dm.val_set):
        x, y = subset[0]
        original = subset.indices[0]
        assert torch.equal(x, images[original].unsqueeze(0).float() / 127.5 - 1)  # 0 -> -1, 255 -> 1
        assert int(y) == int(labels[original])
    x, _ = next(iter(dm.train_dataloader()))
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0


def test_read_idx_matches_the_written_array(tmp_path: Path) -> None:
    array = torch.arange(24, dtype=torch.uint8).view(2, 3, 4)
    for name in ["a-idx3-ubyte", "a-idx3-ubyte.gz"]:
        write_idx(tmp_path / name, array)
        assert torch.equal(read_idx(tmp_path / name), array)
    (tmp_path / "bad").write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x01abcd")  # float32 IDX, not MNIST
    with pytest.raises(ValueError, match="unsigned bytes"):
        read_idx(tmp_path / "bad")


def test_mnist_test_split_only_is_enough(tmp_path: Path) -> None:
    # A folder with only the 10k test split (as the shared data holds) trains with train_split="test".
    write_mnist(tmp_path, "test", 20)
    dm = MNISTDataModule(data_dir=str(tmp_path), batch_size=5, train_split="test", val_size=0)
    dm.prepare_data()  # files present: no download attempted
    dm.setup()
    assert len(dm.train_set) == 20
    assert dm.val_dataloader() == []  # val_size=0: no validation


def test_mnist_image_size_32(tmp_path: Path) -> None:
    write_mnist(tmp_path, "train", 12)
    dm = MNISTDataModule(data_dir=str(tmp_path), batch_size=4, val_size=2, image_size=32, download=False)
    dm.setup()
    x, y = next(iter(dm.train_dataloader()))
    assert dm.sample_shape == (1, 32, 32)
    assert x.shape == (4, 1, 32, 32) and y.shape == (4,)
    assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0


def test_mnist_split_is_deterministic_by_seed(tmp_path: Path) -> None:
    write_mnist(tmp_path, "test", 50)

    def held_out(seed: int) -> list[int]:
        dm = MNISTDataModule(data_dir=str(tmp_path), batch_size=4, train_split="test", val_size=10, seed=seed)
        dm.setup()
        return dm.val_set.indices

    assert held_out(0) == held_out(0)
    assert held_out(0) != held_out(1)


def test_mnist_bad_sizes_raise(tmp_path: Path) -> None:
    write_mnist(tmp_path, "test", 10)
    with pytest.raises(ValueError, match="val_size=10"):
        MNISTDataModule(data_dir=str(tmp_path), train_split="test", val_size=10).setup()
    with pytest.raises(ValueError, match="batch_size=64"):
        MNISTDataModule(data_dir=str(tmp_path), train_split="test", val_size=2).setup()
    with pytest.raises(ValueError, match="image_size"):
        MNISTDataModule(image_size=0)


def test_mnist_missing_files_without_download_names_the_folder(tmp_path: Path) -> None:
    dm = MNISTDataModule(data_dir=str(tmp_path), train_split="test", download=False)
    expected = str(tmp_path.absolute() / "MNIST" / "raw")
    with pytest.raises(FileNotFoundError) as error:
        dm.prepare_data()
    message = str(error.value)
    assert expected in message and "\n" not in message
    assert "t10k-images-idx3-ubyte" in message and "t10k-labels-idx1-ubyte" in message and "download" in message
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        dm.setup()


def test_mnist_failed_download_raises_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def offline(request, *args, **kwargs):
        calls.append(getattr(request, "full_url", str(request)))
        raise URLError("no network in this test")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    dm = MNISTDataModule(data_dir=str(tmp_path), train_split="train", download=True)
    with pytest.raises(RuntimeError) as error:
        dm.prepare_data()
    message = str(error.value)
    assert calls, "torchvision's download was not attempted"
    assert str(tmp_path.absolute() / "MNIST" / "raw") in message
    assert "download failed" in message and "no network in this test" in message
    assert "train-images-idx3-ubyte" in message and "\n" not in message
    assert error.value.__cause__ is None and error.value.__suppress_context__  # no torchvision traceback


# --------------------------------------------------------------------------------------- Gaussian mixtures


def test_mixture_modes_match_pacgan() -> None:
    ring = GaussianMixtureDataModule(mixture="ring8")
    angles = torch.atan2(ring.modes[:, 1], ring.modes[:, 0]) % (2 * math.pi)
    assert torch.allclose(ring.modes.norm(dim=1), torch.ones(8))
    assert torch.allclose(angles, torch.arange(8) * 2 * math.pi / 8, atol=1e-6)
    assert ring.sigma == 0.01 and ring.num_classes == 8 and ring.sample_shape == (2,)

    grid = GaussianMixtureDataModule(mixture="grid25")
    expected = {(float(a), float(b)) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)}
    assert {tuple(row) for row in grid.modes.tolist()} == expected
    assert grid.sigma == 0.05 and grid.num_classes == 25


@pytest.mark.parametrize("mixture", list(MIXTURES))
def test_samples_at_the_modes_score_perfectly(mixture: str) -> None:
    modes, sigma = MIXTURES[mixture]
    scores = mode_coverage(modes.repeat(3, 1), modes, sigma)
    assert scores == {"modes_covered": float(len(modes)), "high_quality_fraction": 1.0, "reverse_kl": 0.0}


def test_collapse_to_one_mode_scores_log_k() -> None:
    modes, sigma = MIXTURES["ring8"]
    scores = mode_coverage(modes[3].expand(50, 2), modes, sigma)
    assert scores["modes_covered"] == 1.0
    assert scores["high_quality_fraction"] == 1.0
    assert scores["reverse_kl"] == pytest.approx(math.log(8))


def test_reverse_kl_by_hand() -> None:
    # Histogram (2, 1, 1, 0, ...) over 8 modes: q = (1/2, 1/4, 1/4), KL(q || 1/8) = 1/2 log 4 + 2 * 1/4 log 2.
    modes, sigma = MIXTURES["ring8"]
    far = torch.tensor([[10.0, 10.0], [0.0, 0.0]])  # not high-quality: excluded from q
    samples = torch.cat([modes[[0, 0, 1, 2]], far])
    scores = mode_coverage(samples, modes, sigma)
    assert scores["modes_covered"] == 3.0
    assert scores["high_quality_fraction"] == pytest.approx(4 / 6)
    assert scores["reverse_kl"] == pytest.approx(0.5 * math.log(4) + 0.5 * math.log(2))


@pytest.mark.parametrize("mixture", list(MIXTURES))
@pytest.mark.parametrize(("radius_in_sigmas", "high_quality"), [(2.9, True), (3.1, False)])
def test_three_sigma_threshold(mixture: str, radius_in_sigmas: float, high_quality: bool) -> None:
    modes, sigma = MIXTURES[mixture]
    direction = torch.tensor([math.cos(0.7), math.sin(0.7)])
    samples = modes[[1, 5]] + radius_in_sigmas * sigma * direction  # (2, 2)
    scores = mode_coverage(samples, modes, sigma)
    assert scores["high_quality_fraction"] == (1.0 if high_quality else 0.0)
    assert scores["modes_covered"] == (2.0 if high_quality else 0.0)
    if high_quality:
        assert scores["reverse_kl"] == pytest.approx(math.log(len(modes) / 2))
    else:
        assert math.isnan(scores["reverse_kl"])  # no high-quality sample: the histogram is undefined


@pytest.mark.parametrize("mixture", list(MIXTURES))
def test_real_mixture_data_scores_like_a_perfect_generator(mixture: str) -> None:
    dm = GaussianMixtureDataModule(mixture=mixture, num_train=20_000, num_val=100)
    dm.setup()
    points, components = dm.train_set.tensors
    scores = dm.score_samples(points, labels=components)
    # In 2-D, |x - mu| / sigma is Rayleigh distributed: P(r < 3) = 1 - exp(-9 / 2) = 0.98889.
    expected_fraction = 1 - math.exp(-4.5)
    standard_error = math.sqrt(expected_fraction * (1 - expected_fraction) / len(points))
    assert abs(scores["high_quality_fraction"] - expected_fraction) < 4 * standard_error
    assert scores["modes_covered"] == dm.num_classes
    assert 0.0 <= scores["reverse_kl"] < 0.01  # multinomial noise only: about (K - 1) / (2 N)
    # Labels are the components, and the components are separated: the nearest mode is the label.
    assert torch.equal(torch.cdist(points, dm.modes).argmin(dim=1), components)
    counts = torch.bincount(components, minlength=dm.num_classes).float()
    assert float(counts.min()) > 0.8 * len(points) / dm.num_classes


def test_mixture_is_deterministic_and_splits_are_independent() -> None:
    def data(seed: int, num_train: int) -> tuple[torch.Tensor, torch.Tensor]:
        dm = GaussianMixtureDataModule(seed=seed, num_train=num_train, num_val=30, data_dir="ignored/path")
        dm.setup()
        return dm.train_set.tensors[0], dm.val_set.tensors[0]

    train_a, val_a = data(0, 200)
    train_b, val_b = data(0, 200)
    train_c, val_c = data(1, 200)
    _, val_d = data(0, 500)
    assert torch.equal(train_a, train_b) and torch.equal(val_a, val_b)
    assert not torch.equal(train_a, train_c) and not torch.equal(val_a, val_c)
    assert torch.equal(val_a, val_d)  # the validation points do not depend on num_train


def test_mixture_bad_input_raises() -> None:
    modes, sigma = MIXTURES["ring8"]
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        mode_coverage(torch.zeros(4, 3), modes, sigma)
    with pytest.raises(ValueError, match="mixture"):
        GaussianMixtureDataModule(mixture="ring9")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_val"):
        GaussianMixtureDataModule(num_val=-1)
    assert GaussianMixtureDataModule(num_val=0).val_dataloader() == []


# ----------------------------------------------------------------------------------------- rendered digits

needs_freetype = pytest.mark.skipif(not features.check("freetype2"), reason="Pillow built without FreeType")


@needs_freetype
def test_rendered_digits_shapes_range_and_balance() -> None:
    dm = RenderedDigitsDataModule(batch_size=10, num_train=205, num_val=30, seed=3)
    dm.setup()
    images = torch.stack([dm.train_set[i][0] for i in range(len(dm.train_set))])  # (N, 1, 28, 28)
    labels = dm.train_set.labels
    assert images.shape == (205, 1, 28, 28) and images.dtype == torch.float32 and labels.dtype == torch.int64
    # White digit on black: every image reaches the background (-1) and full ink (+1).
    assert torch.all(images.amin(dim=(1, 2, 3)) == -1.0) and torch.all(images.amax(dim=(1, 2, 3)) == 1.0)
    # The border is background, as in MNIST.
    assert float(images[:, :, 0, :].max()) == -1.0 and float(images[:, :, :, -1].max()) == -1.0
    assert set(torch.bincount(labels, minlength=10).tolist()) == {20, 21}  # balanced to within one image
    assert torch.bincount(dm.val_set.labels, minlength=10).tolist() == [3] * 10
    assert dm.fonts[0] == rendered_digits.PILLOW_FONT_NAME


@needs_freetype
def test_rendered_digits_are_deterministic_by_seed() -> None:
    def data(seed: int, num_train: int = 60) -> RenderedDigitsDataModule:
        dm = RenderedDigitsDataModule(batch_size=10, num_train=num_train, num_val=20, seed=seed)
        dm.setup()
        return dm

    a, b, c, d = data(0), data(0), data(1), data(0, num_train=90)
    assert torch.equal(a.train_set.images, b.train_set.images) and torch.equal(a.train_set.labels, b.train_set.labels)
    assert torch.equal(a.val_set.images, b.val_set.images)
    assert not torch.equal(a.train_set.images, c.train_set.images)
    assert torch.equal(a.val_set.images, d.val_set.images)  # the validation images do not depend on num_train


@needs_freetype
def test_rendered_digit_classes_differ() -> None:
    dm = RenderedDigitsDataModule(batch_size=10, num_train=600, num_val=200)
    dm.setup()
    train = dm.train_set.images.float().flatten(1)  # (N, 784)
    means = torch.stack([train[dm.train_set.labels == k].mean(0) for k in range(10)])  # (10, 784)
    distances = torch.cdist(means, means) + torch.eye(10) * 1e9
    assert float(distances.min()) > 400.0  # class means are far apart (pixel units 0..255)
    # A nearest-class-mean classifier is far above chance (10 %) on the validation images.
    val = dm.val_set.images.float().flatten(1)
    accuracy = float((torch.cdist(val, means).argmin(dim=1) == dm.val_set.labels).float().mean())
    assert accuracy > 0.6


@needs_freetype
def test_render_glyph_follows_the_mnist_recipe() -> None:
    font = ImageFont.load_default(size=56)
    glyph = rendered_digits.render_glyph(font, "7", stroke_width=1, canvas=56)  # (56, 56) in [0, 1]
    ink = glyph > 0.05
    rows, cols = ink.any(dim=1).nonzero(), ink.any(dim=0).nonzero()
    extent = max(int(rows.max() - rows.min()) + 1, int(cols.max() - cols.min()) + 1)
    assert abs(extent - 40) <= 1  # the larger side fills a 20/28 box
    mass = glyph.sum()
    center_y = float((glyph.sum(dim=1) * torch.arange(56)).sum() / mass)
    center_x = float((glyph.sum(dim=0) * torch.arange(56)).sum() / mass)
    assert abs(center_y - 27.5) <= 0.5 and abs(center_x - 27.5) <= 0.5  # centre of mass in the middle


@needs_freetype
def test_rendered_digits_image_size_32() -> None:
    dm = RenderedDigitsDataModule(batch_size=4, num_train=8, num_val=0, image_size=32)
    dm.setup()
    x, y = next(iter(dm.train_dataloader()))
    assert dm.sample_shape == (1, 32, 32) and x.shape == (4, 1, 32, 32) and y.shape == (4,)
    assert dm.val_dataloader() == []


@needs_freetype
def test_rendered_digits_work_without_system_fonts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(rendered_digits, "SYSTEM_FONT_DIRS", (str(tmp_path / "no-fonts-here"),))
    dm = RenderedDigitsDataModule(batch_size=4, num_train=20, num_val=0)
    dm.setup()
    assert dm.fonts == [rendered_digits.PILLOW_FONT_NAME]
    assert dm.train_set.images.shape == (20, 1, 28, 28)


@needs_freetype
def test_rendered_digits_read_fonts_from_data_dir(tmp_path: Path) -> None:
    font_dir = tmp_path / "fonts" / "nested"
    font_dir.mkdir(parents=True)
    system_fonts = rendered_digits.system_font_paths()
    if system_fonts:
        font_file = font_dir / system_fonts[0].name
        shutil.copy(system_fonts[0], font_file)
    else:  # no system font: save Pillow's built-in font (a real TrueType file) instead
        font_file = font_dir / "aileron.ttf"
        font_file.write_bytes(ImageFont.load_default(size=20).path.getvalue())
    (font_dir / "notes.txt").write_text("not a font")

    def data(data_dir: str | None) -> RenderedDigitsDataModule:
        dm = RenderedDigitsDataModule(data_dir=data_dir, batch_size=4, num_train=40, num_val=0, use_system_fonts=False)
        dm.setup()
        return dm

    with_fonts, without = data(str(tmp_path / "fonts")), data(None)
    assert with_fonts.fonts == [rendered_digits.PILLOW_FONT_NAME, str(font_file.resolve())]
    assert without.fonts == [rendered_digits.PILLOW_FONT_NAME]
    assert not torch.equal(with_fonts.train_set.images, without.train_set.images)


@needs_freetype
def test_rendered_digits_bad_data_dir_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        RenderedDigitsDataModule(data_dir=str(tmp_path / "missing"), batch_size=4, num_train=8).setup()
    with pytest.raises(FileNotFoundError, match="holds no"):
        RenderedDigitsDataModule(data_dir=str(tmp_path), batch_size=4, num_train=8).setup()
    with pytest.raises(ValueError, match="image_size"):
        RenderedDigitsDataModule(image_size=4)
