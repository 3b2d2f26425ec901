"""Tests for lightning_gans.callbacks with real Trainers on the CPU and tiny fake families (spec interface)."""

import csv
from pathlib import Path

import lightning
import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch import LightningDataModule, LightningModule
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_gans.callbacks import PredictionWriter, SampleImages
from lightning_gans.images import read_image, to_unit_range

LATENT_DIM = 4

# TinyGAN keeps one submodule in eval mode on purpose (to check SampleImages restores per-module modes).
pytestmark = pytest.mark.filterwarnings("ignore:Found 1 module\\(s\\) in eval mode")


class TinyGAN(LightningModule):
    """A fake family with the spec's interface: a 1-layer generator, ``sample``, ``num_classes``, ``predict_step``.

    Automatic optimization with a trivial loss on the generator, so ``global_step`` counts batches.
    """

    def __init__(
        self, num_classes: int = 0, channels: int = 1, size: int = 8, points: bool = False, lr: float = 0.0
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.lr = lr
        self.points = points
        self.shape = (2,) if points else (channels, size, size)
        self.generator = nn.Linear(LATENT_DIM + num_classes, 2 if points else channels * size * size)
        self.frozen = nn.BatchNorm1d(2)  # a submodule that stays in eval mode on purpose
        self.frozen.eval()
        self.sample_calls: list[dict] = []
        self.train_modes: list[tuple[bool, bool]] = []

    def sample(self, n: int, labels: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        self.sample_calls.append(
            {"training": self.training, "grad": torch.is_grad_enabled(), "labels": labels, "generator": generator}
        )
        z = torch.randn(n, LATENT_DIM, generator=generator, device=self.device)
        if self.num_classes:
            z = torch.cat([z, F.one_hot(labels, self.num_classes).float()], dim=1)
        out = self.generator(z)
        return 3 * out if self.points else torch.tanh(out).view(n, *self.shape)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        self.train_modes.append((self.training, self.frozen.training))
        return -self.generator.weight.sum()  # constant gradient: every step moves every weight by lr

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.lr)

    def predict_step(self, indices: Tensor) -> dict:
        generator = torch.Generator(device=self.device).manual_seed(int(indices[0]))
        labels = indices % self.num_classes if self.num_classes else None
        samples = self.sample(len(indices), labels=labels, generator=generator)
        return {"samples": samples, "labels": labels, "indices": indices}


class MixtureData(LightningDataModule):
    """Four modes at (+-2, +-2); batches (x, y) of points near them."""

    def __init__(self) -> None:
        super().__init__()
        self.modes = torch.tensor([[2.0, 2.0], [-2.0, 2.0], [-2.0, -2.0], [2.0, -2.0]])
        self.sigma = 0.05
        self.num_classes = 4

    def train_dataloader(self) -> DataLoader:
        labels = torch.arange(64) % 4
        return DataLoader(TensorDataset(self.modes[labels] + self.sigma * torch.randn(64, 2), labels), batch_size=8)


def image_loader(channels: int = 1, size: int = 8) -> DataLoader:
    return DataLoader(TensorDataset(torch.rand(64, channels, size, size) * 2 - 1, torch.zeros(64).long()), batch_size=4)


def make_trainer(tmp_path: Path, callbacks: list, max_steps: int = 6, logger: object = None) -> lightning.Trainer:
    return lightning.Trainer(
        max_steps=max_steps,
        accelerator="cpu",
        devices=1,
        logger=logger if logger is not None else CSVLogger(tmp_path),
        default_root_dir=tmp_path,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        log_every_n_steps=1,
        callbacks=callbacks,
    )


def sample_files(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "samples").iterdir())


def test_sample_images_steps_modes_and_fixed_noise(tmp_path: Path) -> None:
    model = TinyGAN(lr=0.0)  # the generator never changes
    make_trainer(tmp_path, [SampleImages(every_n_steps=2, num_samples=8)], max_steps=6).fit(model, image_loader())
    assert sample_files(tmp_path) == ["step_0000002.png", "step_0000004.png", "step_0000006.png"]
    # Called in eval mode without gradients, with a seeded generator; training mode restored afterwards,
    # including the submodule that is deliberately kept in eval mode.
    assert len(model.sample_calls) == 3
    assert all(not call["training"] and not call["grad"] and call["labels"] is None for call in model.sample_calls)
    assert all(isinstance(call["generator"], torch.Generator) for call in model.sample_calls)
    assert model.train_modes == [(True, False)] * 6
    # Same noise every time: grids of an unchanged generator are identical files.
    grids = [(tmp_path / "samples" / name).read_bytes() for name in sample_files(tmp_path)]
    assert grids[0] == grids[1] == grids[2]
    grid, bit_depth = read_image(tmp_path / "samples" / "step_0000002.png")
    assert bit_depth == 8 and grid.shape == (1, 8 + 2 * 2, 8 * 8 + 9 * 2)  # 8 greyscale images in one row


def test_sample_images_change_as_the_generator_trains(tmp_path: Path) -> None:
    model = TinyGAN(lr=0.05, channels=3)
    make_trainer(tmp_path, [SampleImages(every_n_steps=3, num_samples=4, nrow=2)], max_steps=6).fit(
        model, image_loader(channels=3)
    )
    first, _ = read_image(tmp_path / "samples" / "step_0000003.png")
    last, _ = read_image(tmp_path / "samples" / "step_0000006.png")
    assert first.shape == last.shape == (3, 2 * 8 + 3 * 2, 2 * 8 + 3 * 2)
    assert (first - last).abs().max() > 0.05


def test_sample_images_at_train_end_and_conditional_columns(tmp_path: Path) -> None:
    model = TinyGAN(num_classes=3)
    make_trainer(tmp_path, [SampleImages(every_n_steps=2, num_samples=6)], max_steps=5).fit(model, image_loader())
    assert sample_files(tmp_path) == ["step_0000002.png", "step_0000004.png", "step_0000005.png"]  # 5: train end
    assert torch.equal(model.sample_calls[0]["labels"], torch.tensor([0, 1, 2, 0, 1, 2]))
    grid, _ = read_image(tmp_path / "samples" / "step_0000005.png")
    assert grid.shape == (1, 2 * 8 + 3 * 2, 3 * 8 + 4 * 2)  # nrow = num_classes: each column is one class


def test_sample_images_points_scatter_with_modes(tmp_path: Path) -> None:
    model = TinyGAN(points=True)
    trainer = make_trainer(tmp_path, [SampleImages(every_n_steps=4, num_samples=32)], max_steps=4)
    trainer.fit(model, datamodule=MixtureData())
    image, _ = read_image(tmp_path / "samples" / "step_0000004.png")
    assert image.shape == (3, 256, 256)
    # extent = 1.25 * 2 + 3 * 0.05 = 2.65; mode (2, 2) -> col = row-from-bottom = (2 + 2.65) * 255 / 5.3 = 223.7
    col, row = round(4.65 * 255 / 5.3), round(0.65 * 255 / 5.3)
    red, green, blue = image[:, row, col].tolist()
    assert red > 0.8 and green < 0.2 and blue < 0.2
    dark = (image < 0.5).all(dim=0)
    assert dark.sum() >= 4  # generated points drawn as dark dots


def test_sample_images_to_tensorboard_at_the_loss_x_axis(tmp_path: Path) -> None:
    logger = TensorBoardLogger(tmp_path)
    logged: list[tuple[str, tuple, int]] = []
    original_add_image = logger.experiment.add_image

    def record(tag: str, image: Tensor, global_step: int) -> None:
        logged.append((tag, tuple(image.shape), global_step))
        original_add_image(tag, image, global_step=global_step)

    logger.experiment.add_image = record
    make_trainer(tmp_path, [SampleImages(every_n_steps=2, num_samples=8)], max_steps=4, logger=logger).fit(
        TinyGAN(), image_loader()
    )
    # global_step 2 and 4 are the ends of batches 1 and 3 (0-based), which self.log puts at x = 1 and 3.
    assert logged == [("samples", (1, 12, 82), 1), ("samples", (1, 12, 82), 3)]


def test_sample_images_to_wandb_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import wandb

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    logger = WandbLogger(save_dir=str(tmp_path), offline=True, project="test")
    try:
        make_trainer(tmp_path, [SampleImages(every_n_steps=2, num_samples=8)], max_steps=4, logger=logger).fit(
            TinyGAN(), image_loader()
        )
    finally:
        wandb.finish()
    media = sorted(tmp_path.glob("wandb/offline-run-*/files/media/images/samples_*.png"))
    assert len(media) == 2
    image, _ = read_image(media[0])
    assert image.shape[-2:] == (12, 82)
    assert sample_files(tmp_path) == ["step_0000002.png", "step_0000004.png"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"every_n_steps": 0}, "every_n_steps"), ({"num_samples": 0}, "num_samples"), ({"nrow": 0}, "nrow")],
)
def test_sample_images_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SampleImages(**kwargs)


def predict(
    tmp_path: Path, model: TinyGAN, num: int, writer: PredictionWriter, datamodule: LightningDataModule | None = None
) -> None:
    trainer = make_trainer(tmp_path, [writer], logger=False)
    loader = DataLoader(torch.arange(num), batch_size=4)
    trainer.predict(model, dataloaders=None if datamodule else loader, datamodule=datamodule, return_predictions=False)


def png_bit_depth(path: Path) -> int:
    return path.read_bytes()[24]  # IHDR: signature (8), length (4), type (4), width (4), height (4), bit depth


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_prediction_writer_unconditional(tmp_path: Path, capsys: pytest.CaptureFixture, bit_depth: int) -> None:
    model = TinyGAN(channels=3)
    predict(tmp_path, model, 10, PredictionWriter(bit_depth=bit_depth))
    out_dir = tmp_path / "predictions"
    assert sorted(p.name for p in out_dir.iterdir()) == [f"{i:05d}.png" for i in range(10)] + ["grid.png"]
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"wrote 10 samples to {out_dir}"
    assert png_bit_depth(out_dir / "00007.png") == bit_depth and png_bit_depth(out_dir / "grid.png") == 8
    # File 00005 is the second sample of the batch (4, 5, 6, 7), seeded with index 4.
    expected = to_unit_range(model.predict_step(torch.arange(4, 8))["samples"][1])
    image, _ = read_image(out_dir / "00005.png")
    assert (image - expected).abs().max() <= 0.5 / (2**bit_depth - 1) + 1e-6
    grid, _ = read_image(out_dir / "grid.png")
    assert grid.shape == (3, 3 * 8 + 4 * 2, 4 * 8 + 5 * 2)  # ceil(sqrt(10)) = 4 per row, 3 rows


def test_prediction_writer_conditional_names_and_class_columns(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out_dir = tmp_path / "out"
    predict(tmp_path, TinyGAN(num_classes=3), 7, PredictionWriter(output_dir=str(out_dir)))
    expected = [f"class{i % 3}_{i:05d}.png" for i in range(7)] + ["grid.png"]
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(expected)
    assert f"wrote 7 samples to {out_dir}" in capsys.readouterr().out
    grid, _ = read_image(out_dir / "grid.png")
    # Class 0 has indices 0, 3, 6 (3 rows); classes 1 and 2 have two each: their third row is an empty (black) cell.
    assert grid.shape == (1, 3 * 8 + 4 * 2, 3 * 8 + 4 * 2)
    class_1_row_2 = grid[:, 2 + 2 * 10 : 2 + 2 * 10 + 8, 2 + 10 : 2 + 10 + 8]
    class_0_row_2 = grid[:, 2 + 2 * 10 : 2 + 2 * 10 + 8, 2 : 2 + 8]
    sample_6, _ = read_image(out_dir / "class0_00006.png")
    assert class_1_row_2.max() == 0
    assert torch.equal(class_0_row_2, sample_6)


class NamedGAN(TinyGAN):
    """Image-to-image style output: each sample carries the file name of its input."""

    def predict_step(self, indices: Tensor) -> dict:
        output = super().predict_step(indices)
        output["names"] = [f"photos/img_{int(i)}.jpg" for i in indices]
        return output


def test_prediction_writer_uses_names(tmp_path: Path) -> None:
    predict(tmp_path, NamedGAN(), 5, PredictionWriter())
    written = sorted(p.name for p in (tmp_path / "predictions" / "photos").iterdir())
    assert written == [f"img_{i}.png" for i in range(5)]
    assert not (tmp_path / "predictions" / "grid.png").exists()  # named outputs keep their own sizes: no grid


def test_prediction_writer_points(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model = TinyGAN(points=True)
    predict(tmp_path, model, 9, PredictionWriter())
    out_dir = tmp_path / "predictions"
    assert sorted(p.name for p in out_dir.iterdir()) == ["grid.png", "points.csv"]
    with open(out_dir / "points.csv") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["index", "x", "y"] and [int(r[0]) for r in rows[1:]] == list(range(9))
    expected = model.predict_step(torch.arange(8, 9))["samples"][0]
    assert torch.allclose(torch.tensor([float(v) for v in rows[9][1:]]), expected.double().float())
    grid, _ = read_image(out_dir / "grid.png")
    assert grid.shape == (3, 256, 256) and (grid < 0.5).all(dim=0).any()
    assert "wrote 9 samples" in capsys.readouterr().out


def test_prediction_writer_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="bit_depth"):
        PredictionWriter(bit_depth=12)
    with pytest.raises(ValueError, match="grid_max_samples"):
        PredictionWriter(grid_max_samples=0)



class EscapingGAN(TinyGAN):
    def predict_step(self, indices: Tensor) -> dict:
        return {**super().predict_step(indices), "names": ["../escape.png"] * len(indices)}


class TupleGAN(TinyGAN):
    def predict_step(self, indices: Tensor) -> tuple:
        return self.sample(len(indices)), indices


@pytest.mark.parametrize(("model", "message"), [(EscapingGAN(), "relative file names"), (TupleGAN(), "a dict")])
def test_prediction_writer_rejects_bad_predictions(tmp_path: Path, model: TinyGAN, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        predict(tmp_path / "run", model, 4, PredictionWriter())
    assert not (tmp_path / "escape.png").exists()
