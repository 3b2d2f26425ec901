"""Tests of UnpairedDigitsDataModule: rendered digits (A) against a second rendered style or real MNIST files (B)."""

from __future__ import annotations

import inspect
from pathlib import Path

import docstring_parser
import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F
from PIL import features

from datamodules import MNISTDataModule
from datamodules.digit_styles import UnpairedDigitsDataModule, dilate, mnist_style
from lightning_gans import CycleGAN
from lightning_gans.errors import UserInputError
from tests.test_datamodules import write_mnist

pytestmark = pytest.mark.skipif(not features.check("freetype2"), reason="Pillow built without FreeType")

SMALL = {"num_train": 40, "num_val": 12, "image_size": 16, "batch_size": 8, "use_system_fonts": False}


def rendered_pair(**overrides) -> UnpairedDigitsDataModule:
    dm = UnpairedDigitsDataModule(**(SMALL | overrides))
    dm.setup()
    return dm


def mnist_pair(root: Path, **overrides) -> UnpairedDigitsDataModule:
    args = SMALL | {"domain_b": "mnist", "data_dir": str(root), "download": False, "train_split": "test"}
    args |= {"val_size": 10, "image_size": 28} | overrides
    dm = UnpairedDigitsDataModule(**args)
    dm.prepare_data()
    dm.setup()
    return dm


# ------------------------------------------------------------------------------------------------- format


def test_rendered_style_batches_have_the_translation_format() -> None:
    dm = rendered_pair()
    assert (dm.input_channels, dm.output_channels, dm.bit_depth, dm.aligned_validation) == (1, 1, 8, False)
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"A", "B", "name", "bit_depth", "label_a", "label_b"}
    for key in ("A", "B"):
        images = batch[key]
        assert images.shape == (8, 1, 16, 16) and images.dtype == torch.float32
        # White digits on black: background at -1, saturated ink at +1.
        assert float(images.min()) == -1.0 and float(images.max()) == 1.0
    for key in ("label_a", "label_b"):
        assert batch[key].dtype == torch.int64 and batch[key].shape == (8,)
        assert int(batch[key].min()) >= 0 and int(batch[key].max()) <= 9
    assert batch["bit_depth"].tolist() == [8] * 8
    assert [int(name.split("_")[1].removesuffix(".png")) for name in batch["name"]] == batch["label_a"].tolist()
    assert len(dm.train_set) == 40 and len(dm.val_set) == 12


def test_validation_pairs_are_fixed_and_deterministic_by_seed() -> None:
    first, second, other = rendered_pair(seed=3), rendered_pair(seed=3), rendered_pair(seed=4)
    batches = [next(iter(dm.val_dataloader())) for dm in (first, second, first, other)]
    for key in ("A", "B", "label_a", "label_b"):
        assert torch.equal(batches[0][key], batches[1][key])  # same seed, another module
        assert torch.equal(batches[0][key], batches[2][key])  # the same items at every epoch
        assert not torch.equal(batches[0][key], batches[3][key])  # another seed, other digits
    assert batches[0]["name"] == [f"{i:06d}_{label}.png" for i, label in enumerate(batches[0]["label_a"].tolist())]


def test_training_partners_are_independent_draws() -> None:
    dm = rendered_pair(num_train=200, num_val=0)
    train_b = dm.train_set.domain_b
    # A and B are rendered from independent streams: item i of one domain is unrelated to item i of the other.
    assert not torch.equal(dm.train_set.domain_a.labels, train_b.labels)
    torch.manual_seed(0)
    draws = [dm.train_set[5] for _ in range(20)]
    assert all(torch.equal(item["A"], draws[0]["A"]) for item in draws)  # A item 5 is always the same digit
    candidates = train_b.images.float() / 127.5 - 1  # (200, 1, 16, 16), as the dataset scales them
    partners = {int(torch.nonzero((candidates == item["B"]).all(dim=(1, 2, 3)))[0]) for item in draws}
    assert len(partners) > 10  # but its partner is drawn again every time (200 candidates)
    torch.manual_seed(0)
    assert torch.equal(dm.train_set[5]["B"], draws[0]["B"])  # from torch's generator, which the project reseeds


def test_second_style_is_bolder_than_the_rendered_digits() -> None:
    dm = rendered_pair(num_train=200, num_val=0)
    ink_a = (dm.train_set.domain_a.images > 127).float().mean()
    ink_b = (dm.train_set.domain_b.images > 127).float().mean()
    assert ink_b > 1.3 * ink_a
    # Both domains hold every digit equally often (to within one image).
    assert set(torch.bincount(dm.train_set.domain_b.labels, minlength=10).tolist()) == {20}


def test_mnist_style_thickens_and_slants_a_vertical_bar() -> None:
    bar = torch.zeros(1, 1, 56, 56, dtype=torch.uint8)
    bar[..., 8:48, 27:29] = 255  # 2 px wide at 56 px = 1 px at 28 px
    styled = mnist_style(bar, 28)[0, 0].float()  # (28, 28)
    assert styled.dtype == torch.float32 and styled.max() == 255
    columns = torch.arange(28).float()
    centre = (styled * columns).sum(dim=1) / styled.sum(dim=1).clamp_min(1)  # (28,) ink centre of each row
    assert centre[6] > centre[21] + 3  # the top leans right (x-shear), as handwriting does
    width = (styled[14] > 127).sum()
    assert width >= 2  # the 1 px bar got bolder


@pytest.mark.parametrize("radius", [0, 1, 2])
def test_dilate_is_a_max_filter(radius: int) -> None:
    images = torch.randint(0, 256, (3, 1, 9, 13), dtype=torch.uint8, generator=torch.Generator().manual_seed(radius))
    expected = F.max_pool2d(images.float(), 2 * radius + 1, stride=1, padding=radius)
    assert torch.equal(dilate(images, radius).float(), expected)


# -------------------------------------------------------------------------------------------------- MNIST


def test_mnist_domain_reads_the_idx_files_and_holds_out_like_mnist_datamodule(tmp_path: Path) -> None:
    images, labels = write_mnist(tmp_path, "test", 60)
    dm = mnist_pair(tmp_path, seed=2)
    reference = MNISTDataModule(str(tmp_path), batch_size=8, train_split="test", val_size=10, seed=2, download=False)
    reference.setup()
    train_b, val_b = dm.train_set.domain_b, dm.val_set.domain_b
    assert train_b.indices == reference.train_set.indices and val_b.indices == reference.val_set.indices
    batch = next(iter(dm.val_dataloader()))  # 8 validation items: B item i is held-out digit i
    expected = images[reference.val_set.indices[:8]].unsqueeze(1).float() / 127.5 - 1  # (8, 1, 28, 28)
    assert torch.equal(batch["B"], expected)
    assert torch.equal(batch["label_b"], labels[reference.val_set.indices[:8]])
    # Training draws B only from the training part: no held-out digit reaches the model.
    held_out = images[reference.val_set.indices].unsqueeze(1).float() / 127.5 - 1  # (10, 1, 28, 28)
    for batch in dm.train_dataloader():
        for image in batch["B"]:
            assert not (held_out == image).all(dim=(1, 2, 3)).any()


def test_mnist_domain_supports_train_split_and_image_size(tmp_path: Path) -> None:
    write_mnist(tmp_path, "train", 30)
    dm = mnist_pair(tmp_path, train_split="train", image_size=32)
    batch = next(iter(dm.train_dataloader()))
    assert batch["A"].shape == batch["B"].shape == (8, 1, 32, 32)  # MNIST resized as MNISTDataModule does
    assert len(dm.val_set.domain_b) == 10 and len(dm.train_set.domain_b) == 20


def test_missing_mnist_files_name_the_folder(tmp_path: Path) -> None:
    write_mnist(tmp_path, "train", 30)  # only the train split exists
    with pytest.raises(FileNotFoundError, match="MNIST test split not found in .*MNIST/raw"):
        mnist_pair(tmp_path, train_split="test")


# ---------------------------------------------------------------------------------------- arguments, CLI


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"domain_b": "svhn"}, "domain_b must be 'mnist' or 'rendered_mnist_style'"),
        ({"domain_b": "mnist", "val_size": 0}, "set val_size > 0 or num_val 0"),
        ({"num_train": 0}, "num_train must be an integer >= 1"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
    ],
)
def test_bad_arguments_raise_one_line(overrides: dict, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        UnpairedDigitsDataModule(**(SMALL | overrides))


def test_no_validation_set() -> None:
    dm = rendered_pair(num_val=0)
    assert dm.val_dataloader() == [] and dm.val_set is None
    with pytest.raises(UserInputError, match="set num_val > 0"):
        dm.predict_dataloader()


def test_every_init_argument_is_documented() -> None:
    # LightningCLI builds --help from these descriptions.
    documented = {p.arg_name: p.description for p in docstring_parser.parse(UnpairedDigitsDataModule.__doc__).params}
    for name in list(inspect.signature(UnpairedDigitsDataModule.__init__).parameters)[1:]:
        assert documented.get(name), f"argument {name} has no description in Args:"


def test_cycle_gan_trains_validates_and_predicts_on_it(tmp_path: Path) -> None:
    dm = UnpairedDigitsDataModule(**(SMALL | {"num_train": 16, "num_val": 4}))
    model = CycleGAN(
        input_channels=1, output_channels=1, generator="resnet_6blocks", generator_width=4,
        discriminator_width=4, discriminator_layers=2, pool_size=4,
    )  # fmt: skip
    trainer = pl.Trainer(
        max_steps=2, limit_val_batches=1, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(model, datamodule=dm)
    assert trainer.global_step == 2
    assert {"val/cycle_l1_a", "val/cycle_l1_b"} <= set(trainer.callback_metrics)
    (prediction,) = trainer.predict(model, datamodule=dm)
    assert prediction["samples"].shape == (4, 1, 16, 16)
    labels = dm.val_set.domain_a.labels[:4].tolist()
    assert prediction["names"] == [f"{i:06d}_{label}.png" for i, label in enumerate(labels)]
