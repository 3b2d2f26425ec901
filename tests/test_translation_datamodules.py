"""Tests of the paired (pix2pix) and unpaired (CycleGAN) image data modules and the data set downloads.

Every test writes real 8- and 16-bit PNG/TIFF files into tmp_path. Paired files carry B = max - A pixelwise, so
in the models' [-1, 1] range B = -A: that identity survives a resize, crop or flip only when A and B get the same.
"""

from __future__ import annotations

import io
import tarfile
import urllib.error
import zipfile
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from PIL import Image
from torch import Tensor, nn

import datamodules.downloads as downloads
from datamodules.image_folders import Preprocessing, SizeGroupedBatchSampler
from datamodules.paired_images import PairedImageDataModule
from datamodules.unpaired_images import UnpairedImageDataModule
from lightning_gans.errors import UserInputError
from lightning_gans.images import save_image

MAX_VALUE = {8: 255, 16: 65535}


# --------------------------------------------------------------------------------------------------- helpers
def write(path: Path, levels: Tensor, bit_depth: int) -> None:
    """Write integer samples (C, H, W) as an image file of the given bit depth (format from the suffix)."""
    save_image(levels.double() / MAX_VALUE[bit_depth], path, bit_depth=bit_depth)


def random_levels(channels: int, height: int, width: int, bit_depth: int, seed: int) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, MAX_VALUE[bit_depth] + 1, (channels, height, width), generator=generator)


def make_aligned(
    folder: Path, count: int, size: tuple[int, int], channels: int, bit_depth: int, seed: int = 0
) -> dict[str, Tensor]:
    """Write ``count`` A|B files (B = max - A) into ``folder``; returns {name: A levels}."""
    folder.mkdir(parents=True, exist_ok=True)
    images = {}
    for i in range(count):
        a = random_levels(channels, *size, bit_depth, seed=seed * 1000 + i)
        write(folder / f"{i:03d}.png", torch.cat([a, MAX_VALUE[bit_depth] - a], dim=-1), bit_depth)
        images[f"{i:03d}.png"] = a
    return images


def make_folders(
    split: Path, count: int, size: tuple[int, int], bit_depth: int, channels_a: int = 1, channels_b: int = 3
) -> dict[str, Tensor]:
    """Write A/<i>.png (channels_a) and B/<i>.tif (channels_b copies of max - A); returns {name: A levels}."""
    (split / "A").mkdir(parents=True, exist_ok=True)
    (split / "B").mkdir(parents=True, exist_ok=True)
    images = {}
    for i in range(count):
        a = random_levels(channels_a, *size, bit_depth, seed=100 + i)
        b = (MAX_VALUE[bit_depth] - a[:1]).repeat(channels_b, 1, 1)
        write(split / "A" / f"{i:02d}.png", a, bit_depth)
        write(split / "B" / f"{i:02d}.tif", b, bit_depth)
        images[f"{i:02d}.png"] = a
    return images


def to_levels(x: Tensor, bit_depth: int) -> Tensor:
    """[-1, 1] batch values back to the file's integers."""
    return ((x.double() + 1) / 2 * MAX_VALUE[bit_depth]).round().long()


def paired(root: Path, **kwargs) -> PairedImageDataModule:
    defaults = {"preprocess": "crop", "crop_size": 8, "load_size": 10, "val_split": None, "test_split": None}
    return PairedImageDataModule(root=str(root), **{**defaults, **kwargs})


def unpaired(root: Path, **kwargs) -> UnpairedImageDataModule:
    defaults = {"preprocess": "crop", "crop_size": 8, "load_size": 10, "test_a": None, "test_b": None}
    return UnpairedImageDataModule(root=str(root), **{**defaults, **kwargs})


def windows(image: Tensor, size: int) -> list[Tensor]:
    """Every size x size window of a (C, H, W) image and of its mirror image."""
    found = []
    for candidate in (image, image.flip(-1)):
        for top in range(candidate.shape[1] - size + 1):
            for left in range(candidate.shape[2] - size + 1):
                found.append(candidate[:, top : top + size, left : left + size])
    return found


# ------------------------------------------------------------------------------------------- paired layouts
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("bit_depth", [8, 16])
def test_aligned_batches_carry_the_files_at_full_precision(tmp_path: Path, channels: int, bit_depth: int) -> None:
    images = make_aligned(tmp_path / "val", 3, (10, 12), channels, bit_depth)
    make_aligned(tmp_path / "train", 2, (10, 12), channels, bit_depth)
    module = paired(tmp_path, val_split="val", batch_size=2)
    module.setup("fit")
    assert (module.input_channels, module.output_channels, module.bit_depth) == (channels, channels, bit_depth)

    batches = list(module.val_dataloader())
    assert [len(batch["name"]) for batch in batches] == [2, 1]
    batch = batches[0]
    assert set(batch) == {"A", "B", "name", "bit_depth"}
    assert batch["A"].dtype == torch.float32 and batch["A"].shape == (2, channels, 8, 8)
    assert batch["bit_depth"].dtype == torch.int64 and batch["bit_depth"].tolist() == [bit_depth, bit_depth]
    assert batch["name"] == ["000.png", "001.png"]
    # Validation centre-crops (10 x 12 -> rows 1..8, cols 2..9): the batch holds the file's exact integers.
    for position, name in enumerate(batch["name"]):
        assert torch.equal(to_levels(batch["A"][position], bit_depth), images[name][:, 1:9, 2:10])
    assert torch.allclose(batch["B"], -batch["A"], atol=1e-6)
    assert batch["A"].min() >= -1 and batch["A"].max() <= 1


def test_16bit_values_stay_apart_from_their_8bit_rounding(tmp_path: Path) -> None:
    # 1000 / 65535 lies between the 8-bit levels 3 / 255 and 4 / 255; 1001 is the next 16-bit level.
    a = torch.tensor([1000, 1001, 65534, 1]).repeat(1, 8, 2)  # (1, 8, 8)
    (tmp_path / "train").mkdir()
    write(tmp_path / "train" / "x.png", torch.cat([a, 65535 - a], dim=-1), 16)
    module = paired(tmp_path)
    module.setup("fit")
    batch = next(iter(module.train_dataloader()))
    levels = to_levels(batch["A"][0, 0], 16)
    assert sorted(levels.unique().tolist()) == [1, 1000, 1001, 65534]
    assert batch["A"].unique().numel() == 4  # 1000 and 1001 (8-bit rounding: both level 4) stay distinct


def test_direction_swaps_input_and_target(tmp_path: Path) -> None:
    images = make_aligned(tmp_path / "val", 1, (8, 8), 3, 8)
    make_aligned(tmp_path / "train", 1, (8, 8), 3, 8)
    forward, backward = paired(tmp_path, val_split="val"), paired(tmp_path, val_split="val", direction="BtoA")
    for module in (forward, backward):
        module.setup("fit")
    batch_ab, batch_ba = next(iter(forward.val_dataloader())), next(iter(backward.val_dataloader()))
    assert torch.equal(to_levels(batch_ab["A"][0], 8), images["000.png"])
    assert torch.equal(batch_ba["A"], batch_ab["B"]) and torch.equal(batch_ba["B"], batch_ab["A"])


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_folders_layout_pairs_by_name_and_converts_channels(tmp_path: Path, bit_depth: int) -> None:
    images = make_folders(tmp_path / "train", 3, (8, 8), bit_depth)  # A grey .png, B RGB .tif
    module = paired(tmp_path, layout="folders")
    module.setup("fit")
    assert (module.input_channels, module.output_channels, module.bit_depth) == (1, 3, bit_depth)
    batch = next(iter(module.train_dataloader()))
    name = batch["name"][0]
    a = to_levels(batch["A"][0], bit_depth)
    assert any(torch.equal(a, window) for window in windows(images[name], 8))  # 8 x 8 file: maybe flipped
    assert torch.allclose(batch["B"][0], -batch["A"][0].expand(3, -1, -1), atol=1e-6)

    backward = paired(tmp_path, layout="folders", direction="BtoA")
    backward.setup("fit")
    assert (backward.input_channels, backward.output_channels) == (3, 1)
    assert next(iter(backward.train_dataloader()))["name"][0].endswith(".tif")  # names come from the input side

    grey = paired(tmp_path, layout="folders", output_channels=1)  # RGB -> luma; B's channels are equal
    grey.setup("fit")
    batch = next(iter(grey.train_dataloader()))
    assert batch["B"].shape[1] == 1 and torch.allclose(batch["B"], -batch["A"], atol=1e-5)
    rgb = paired(tmp_path, layout="folders", input_channels=3)  # grey -> RGB repeats the channel
    rgb.setup("fit")
    batch = next(iter(rgb.train_dataloader()))
    assert batch["A"].shape[1] == 3 and torch.equal(batch["A"][:, 0], batch["A"][:, 2])


# ---------------------------------------------------------------------------------- identical transforms
@pytest.mark.parametrize("preprocess", ["resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none"])
def test_a_and_b_get_identical_random_transforms(tmp_path: Path, preprocess: str) -> None:
    images = make_aligned(tmp_path / "train", 2, (14, 18), 3, 16)
    module = paired(tmp_path, preprocess=preprocess, load_size=16, crop_size=12)
    module.setup("fit")
    dataset = module.train_set
    torch.manual_seed(0)
    samples = [dataset[i % 2] for i in range(40)]
    for sample in samples:
        assert torch.allclose(sample["B"], -sample["A"], atol=1e-5), preprocess  # B = max - A survives
    first = [sample["A"] for sample in samples if sample["name"] == "000.png"]
    assert any(not torch.equal(first[0], other) for other in first[1:]), "crops/flips never changed"
    # scale_width: width 16, height int(max(16 * 14 / 18, 12)) = 12; none: Python's round(3.5) = 4, round(4.5) = 4
    expected = {"resize_and_crop": (12, 12), "crop": (12, 12), "scale_width": (12, 16)}
    expected |= {"scale_width_and_crop": (12, 12), "none": (16, 16)}
    assert samples[0]["A"].shape[-2:] == expected[preprocess]
    if preprocess == "crop":  # no resize: each sample is an exact (maybe mirrored) window of the file
        for sample in samples:
            candidates = windows(images[sample["name"]], 12)
            assert any(torch.equal(to_levels(sample["A"], 16), window) for window in candidates)


def test_training_randomness_follows_the_global_seed(tmp_path: Path) -> None:
    make_aligned(tmp_path / "train", 4, (12, 12), 1, 8)
    module = paired(tmp_path, batch_size=2)
    module.setup("fit")

    def epoch(seed: int) -> list[Tensor]:
        torch.manual_seed(seed)
        return [batch["A"] for batch in module.train_dataloader()]

    assert all(torch.equal(x, y) for x, y in zip(epoch(1), epoch(1)))
    assert not all(torch.equal(x, y) for x, y in zip(epoch(1), epoch(2)))


def test_resize_follows_pillow_bicubic() -> None:
    ramp = (torch.linspace(0, 1, 24)[None, :] * torch.linspace(0.2, 1, 20)[:, None])[None]  # (1, 20, 24)
    resized = Preprocessing("resize_and_crop", 30, 30, flip=False)(ramp, train=True)  # (1, 30, 30)
    pil = Image.fromarray((ramp[0] * 255).round().byte().numpy()).resize((30, 30), Image.Resampling.BICUBIC)
    pillow = torch.from_numpy(np.asarray(pil).astype(np.float32)) / 255
    assert (resized[0] - pillow).abs().max() < 2 / 255


# ------------------------------------------------------------------------------------------------ unpaired
def make_domain(folder: Path, values: list[int], size: tuple[int, int], channels: int, bit_depth: int) -> None:
    """Constant images whose value identifies them (value v in file v.png)."""
    folder.mkdir(parents=True, exist_ok=True)
    for value in values:
        write(folder / f"{value:05d}.png", torch.full((channels, *size), value), bit_depth)


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_unpaired_epoch_length_and_serial_or_random_b(tmp_path: Path, bit_depth: int) -> None:
    make_domain(tmp_path / "trainA", [10, 11, 12], (8, 8), 1, bit_depth)
    make_domain(tmp_path / "trainB", [20, 21, 22, 23, 24], (8, 8), 3, bit_depth)
    serial = unpaired(tmp_path, serial_batches=True)
    serial.setup("fit")
    assert (serial.input_channels, serial.output_channels, serial.bit_depth) == (1, 3, bit_depth)
    dataset = serial.train_set
    assert len(dataset) == 5  # the larger domain
    items = [dataset[i] for i in range(5)]
    assert [to_levels(item["A"], bit_depth)[0, 0, 0].item() for item in items] == [10, 11, 12, 10, 11]
    assert [to_levels(item["B"], bit_depth)[0, 0, 0].item() for item in items] == [20, 21, 22, 23, 24]
    assert [item["name"] for item in items] == ["00010.png", "00011.png", "00012.png", "00010.png", "00011.png"]
    assert all(item["bit_depth"] == bit_depth for item in items)

    random = unpaired(tmp_path)
    random.setup("fit")

    def draws(seed: int) -> list[int]:
        torch.manual_seed(seed)
        return [to_levels(random.train_set[i]["B"], bit_depth)[0, 0, 0].item() for i in range(30)]

    assert draws(3) == draws(3)  # reproducible from torch's global generator
    assert draws(3) != draws(4)
    assert set(draws(3)) == {20, 21, 22, 23, 24}  # every B image gets drawn


def test_unpaired_direction_and_independent_transforms(tmp_path: Path) -> None:
    same = random_levels(3, 12, 12, 8, seed=5)
    for folder in ("trainA", "trainB"):
        (tmp_path / folder).mkdir()
        write(tmp_path / folder / "x.png", same, 8)  # both domains hold the same single image
    module = unpaired(tmp_path)
    module.setup("fit")
    torch.manual_seed(0)
    items = [module.train_set[0] for _ in range(20)]
    for item in items:
        for key in ("A", "B"):
            assert any(torch.equal(to_levels(item[key], 8), window) for window in windows(same, 8))
    assert any(not torch.equal(item["A"], item["B"]) for item in items), "A and B always got the same crop"

    make_domain(tmp_path / "trainB", [7], (12, 12), 3, 8)
    backward = unpaired(tmp_path, direction="BtoA", serial_batches=True)
    backward.setup("fit")
    assert [backward.train_set[i]["name"] for i in range(2)] == ["00007.png", "x.png"]  # trainB is the input


def test_unpaired_validation_uses_test_folders_serially(tmp_path: Path) -> None:
    make_domain(tmp_path / "trainA", [1, 3], (8, 8), 3, 8)
    make_domain(tmp_path / "trainB", [2], (8, 8), 3, 8)
    make_domain(tmp_path / "testA", [30, 31, 32], (8, 8), 3, 8)
    make_domain(tmp_path / "testB", [40, 41], (8, 8), 3, 8)
    module = unpaired(tmp_path, test_a="testA", test_b="testB", batch_size=2)
    module.setup("fit")
    batches = list(module.val_dataloader())
    assert [batch["name"] for batch in batches] == [["00030.png", "00031.png"], ["00032.png"]]
    b_values = torch.cat([to_levels(batch["B"], 8)[:, 0, 0, 0] for batch in batches]).tolist()
    assert b_values == [40, 41, 40]


# ------------------------------------------------------------------------------------------------ predict
class Identity(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Linear(1, 1)

    def predict_step(self, batch: dict, batch_idx: int) -> dict:
        return {"shape": tuple(batch["A"].shape), "name": batch["name"], "bit_depth": batch["bit_depth"].tolist()}


@pytest.mark.parametrize("make_module", [paired, unpaired])
def test_predict_batches_group_by_size_and_keep_names(tmp_path: Path, make_module) -> None:
    make_aligned(tmp_path / "train", 1, (8, 8), 3, 8)
    make_domain(tmp_path / "trainA", [1], (8, 8), 3, 8)
    make_domain(tmp_path / "trainB", [2], (8, 8), 3, 8)
    inputs = tmp_path / "inputs"
    sizes = {"a.png": (6, 10, 8), "b.tif": (6, 10, 16), "c.png": (7, 5, 8), "d/e.png": (6, 10, 16), "f.png": (6, 10, 8)}
    for name, (height, width, bit_depth) in sizes.items():
        (inputs / name).parent.mkdir(parents=True, exist_ok=True)
        write(inputs / name, random_levels(1, height, width, bit_depth, seed=1), bit_depth)  # grey -> RGB
    module = make_module(tmp_path, predict_dir=str(inputs), predict_batch_size=2)
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    outputs = trainer.predict(Identity(), datamodule=module)  # Lightning re-creates the batch sampler here
    assert [output["name"] for output in outputs] == [["a.png", "b.tif"], ["d/e.png", "f.png"], ["c.png"]]
    assert [output["shape"] for output in outputs] == [(2, 3, 6, 10), (2, 3, 6, 10), (1, 3, 7, 5)]
    assert [output["bit_depth"] for output in outputs] == [[8, 16], [16, 8], [8]]


def test_predict_only_without_training_data(tmp_path: Path) -> None:
    write(tmp_path / "in" / "x.png", random_levels(1, 5, 9, 16, seed=0), 16)
    with pytest.raises(UserInputError, match="output_channels"):
        _ = paired(tmp_path / "none", predict_dir=str(tmp_path / "in")).output_channels
    module = paired(tmp_path / "none", predict_dir=str(tmp_path / "in"), output_channels=3)
    module.setup("predict")
    assert (module.input_channels, module.output_channels, module.bit_depth) == (1, 3, 16)
    batch = next(iter(module.predict_dataloader()))
    assert set(batch) == {"A", "name", "bit_depth"} and batch["A"].shape == (1, 1, 5, 9)


def test_sampler_groups_and_drops_per_group() -> None:
    keys = ["x", "y", "x", "x", "y", "z"]
    sampler = SizeGroupedBatchSampler(range(6), batch_size=2, drop_last=False, keys=keys)
    assert list(sampler) == [[0, 2], [3], [1, 4], [5]] and len(sampler) == 4
    dropping = SizeGroupedBatchSampler(range(6), batch_size=2, drop_last=True, keys=keys)
    assert list(dropping) == [[0, 2], [1, 4]] and len(dropping) == 2


def test_evaluation_batches_of_varying_sizes_group_by_size(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "val").mkdir()
    for i, (height, width) in enumerate([(8, 8), (12, 8), (8, 8), (12, 8)]):
        a = random_levels(1, height, width, 8, seed=i)
        for split in ("train", "val"):
            write(tmp_path / split / f"{i}.png", torch.cat([a, 255 - a], dim=-1), 8)
    module = paired(tmp_path, preprocess="none", val_split="val", batch_size=2)
    with pytest.raises(UserInputError, match="batch_size=2 cannot stack them"):
        module.setup("fit")  # training batches would mix 8x8 and 12x8
    module = paired(tmp_path, preprocess="none", val_split="val", batch_size=1)
    module.setup("fit")
    module.batch_size = 2  # evaluation batches group by size even where training needs batch_size 1
    batches = list(module.val_dataloader())
    assert [batch["name"] for batch in batches] == [["0.png", "2.png"], ["1.png", "3.png"]]


# -------------------------------------------------------------------------------------------- bad input
def expect_error(module_or_call, *fragments: str) -> str:
    with pytest.raises(UserInputError) as error:
        module_or_call() if callable(module_or_call) else module_or_call.setup("fit")
    message = str(error.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


def test_paired_folder_errors(tmp_path: Path) -> None:
    expect_error(paired(tmp_path / "missing"), str(tmp_path / "missing" / "train"), "download=True")
    (tmp_path / "empty" / "train").mkdir(parents=True)
    (tmp_path / "empty" / "train" / "notes.txt").write_text("no images here")
    expect_error(paired(tmp_path / "empty"), str(tmp_path / "empty" / "train"), "holds no image files")
    make_aligned(tmp_path / "ok" / "train", 1, (8, 8), 3, 8)
    expect_error(paired(tmp_path / "ok", val_split="val"), str(tmp_path / "ok" / "val"))


def test_paired_file_errors_name_the_files(tmp_path: Path) -> None:
    split = tmp_path / "train"
    make_folders(split, 2, (8, 8), 8)
    (split / "B" / "01.tif").unlink()
    expect_error(paired(tmp_path, layout="folders"), str(split / "A" / "01.png"), str(split / "B" / "01"))
    write(split / "B" / "01.tif", torch.zeros(3, 8, 10, dtype=torch.long), 8)
    expect_error(paired(tmp_path, layout="folders"), "differ in size", str(split / "A" / "01.png"), "01.tif")
    write(split / "B" / "01.tif", torch.zeros(3, 8, 8, dtype=torch.long), 16)
    expect_error(paired(tmp_path, layout="folders"), "bit depth", str(split / "A" / "01.png"), "01.tif")
    write(split / "B" / "01.tif", torch.zeros(3, 8, 8, dtype=torch.long), 8)
    write(split / "B" / "01.png", torch.zeros(3, 8, 8, dtype=torch.long), 8)  # two partners for one name
    expect_error(paired(tmp_path, layout="folders"), "01.png", "01.tif", "share the name")
    (split / "B" / "01.png").unlink()
    write(split / "A" / "01.png", torch.zeros(3, 8, 8, dtype=torch.long), 8)  # RGB among grey A files
    expect_error(paired(tmp_path, layout="folders"), str(split / "A" / "01.png"), "input_channels")
    write(split / "A" / "01.png", torch.zeros(4, 8, 8, dtype=torch.long), 8)  # RGBA cannot become RGB
    expect_error(paired(tmp_path, layout="folders", input_channels=3), "01.png has 4 channel", "input_channels=3")
    (split / "A" / "01.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    expect_error(paired(tmp_path, layout="folders"), str(split / "A" / "01.png"))


def test_aligned_file_errors_name_the_files(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    write(tmp_path / "train" / "odd.png", torch.zeros(3, 8, 17, dtype=torch.long), 8)
    expect_error(paired(tmp_path), "odd.png", "17 pixels wide")
    (tmp_path / "train" / "odd.png").unlink()
    write(tmp_path / "train" / "small.png", torch.zeros(3, 6, 12, dtype=torch.long), 8)
    expect_error(paired(tmp_path), "small.png", "crop_size=8")
    expect_error(lambda: paired(tmp_path, preprocess="resize_and_crop", load_size=4), "load_size=4")
    expect_error(lambda: paired(tmp_path, batch_size=0), "batch_size")


def test_damaged_pixels_are_reported_when_loading(tmp_path: Path) -> None:
    make_aligned(tmp_path / "train", 1, (40, 40), 3, 16)
    path = tmp_path / "train" / "000.png"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the header is intact: the up-front check passes
    module = paired(tmp_path)
    module.setup("fit")
    expect_error(lambda: module.train_set[0], str(path))


def test_unpaired_errors_name_the_files(tmp_path: Path) -> None:
    make_domain(tmp_path / "trainA", [1, 2], (8, 8), 3, 8)
    expect_error(unpaired(tmp_path), str(tmp_path / "trainB"))
    make_domain(tmp_path / "trainB", [3], (8, 8), 3, 8)
    (tmp_path / "trainB" / "bad.jpg").write_bytes(b"not a jpeg")
    expect_error(unpaired(tmp_path), str(tmp_path / "trainB" / "bad.jpg"))
    (tmp_path / "trainB" / "bad.jpg").unlink()
    make_domain(tmp_path / "trainB", [4], (8, 8), 1, 8)
    expect_error(unpaired(tmp_path), "00004.png", "00003.png", "output_channels")
    make_domain(tmp_path / "trainB", [4], (5, 8), 3, 8)
    expect_error(unpaired(tmp_path), "00004.png", "crop_size=8")
    (tmp_path / "trainB" / "00004.png").unlink()
    expect_error(unpaired(tmp_path, test_a="testA", test_b="testB"), str(tmp_path / "testA"))
    expect_error(lambda: unpaired(tmp_path, test_a="testA", test_b=None), "test_a and test_b")


# ------------------------------------------------------------------------------------------------ downloads
def archive_bytes(kind: str) -> bytes:
    """A tiny archive laid out like the reference's (one top folder) holding one real image."""
    image = io.BytesIO()
    Image.new("RGB", (16, 8), (10, 20, 30)).save(image, "PNG")
    buffer = io.BytesIO()
    if kind == "paired":
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            info = tarfile.TarInfo("facades/train/1.png")
            info.size = len(image.getvalue())
            tar.addfile(info, io.BytesIO(image.getvalue()))
    else:
        with zipfile.ZipFile(buffer, "w") as archive:
            for folder in ("trainA", "trainB"):
                archive.writestr(f"horse2zebra/{folder}/1.png", image.getvalue())
    return buffer.getvalue()


def test_download_offline_names_the_url_and_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(url: str, timeout: float) -> None:
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(downloads.urllib.request, "urlopen", offline)
    root = tmp_path / "facades"
    message = expect_error(paired(root, download=True).prepare_data, downloads.dataset_url("facades", "paired"))
    assert str(root) in message and "no route to host" in message
    assert not root.exists() and list(tmp_path.iterdir()) == []  # nothing half-written
    expect_error(
        unpaired(tmp_path / "horse2zebra", download=True).prepare_data,
        "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/horse2zebra.zip",
        "trainA/",
    )


@pytest.mark.parametrize("kind", ["paired", "unpaired"])
def test_download_extracts_into_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    requested = []

    def fake_urlopen(url: str, timeout: float) -> io.BytesIO:
        requested.append(url)
        return io.BytesIO(archive_bytes(kind))

    monkeypatch.setattr(downloads.urllib.request, "urlopen", fake_urlopen)
    if kind == "paired":
        module = paired(tmp_path / "facades", download=True)
    else:
        module = unpaired(tmp_path / "horse2zebra", download=True)
    module.setup("fit")  # downloads on demand, then checks the files
    assert requested == [downloads.dataset_url(module.dataset, kind)]
    assert len(module.train_set) == 1 and (module.input_channels, module.bit_depth) == (3, 8)
    assert [path.name for path in tmp_path.iterdir()] == [module.dataset]  # no archive or staging folder left
    module.prepare_data()
    assert len(requested) == 1  # an existing folder is not downloaded again


def test_download_names(tmp_path: Path) -> None:
    expect_error(lambda: paired(tmp_path / "mydata", download=True), "'mydata'", "facades")
    expect_error(lambda: downloads.dataset_url("cityscapes", "paired"), "cityscapes-dataset.com")
    assert downloads.dataset_url("maps", "paired").endswith("/pix2pix/datasets/maps.tar.gz")
    assert downloads.dataset_url("maps", "unpaired").endswith("/cyclegan/datasets/maps.zip")
    assert paired(tmp_path / "x", download=True, dataset="edges2shoes").dataset == "edges2shoes"
