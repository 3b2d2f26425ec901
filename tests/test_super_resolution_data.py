"""Tests of the super-resolution data module on tiny real image files written here: crops, flips, on-the-fly and
paired LR, several validation sets, prediction batches that keep each file's channels and depth, epochs that follow
the trainer's (bit-identical resume, DDP sharding), the LR-on-device path and one-line errors."""

from __future__ import annotations

import inspect
from pathlib import Path

import docstring_parser
import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from lightning.fabric.utilities.distributed import DistributedSamplerWrapper
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn

from datamodules.super_resolution import SeededSampler, SuperResolutionDataModule, make_low_resolution
from lightning_gans.errors import UserInputError
from lightning_gans.images import read_image, save_image
from lightning_gans.imresize import imresize
from lightning_gans.srresnet import SRResNet


def random_image(channels: int, height: int, width: int, seed: int, bit_depth: int = 8) -> torch.Tensor:
    """Random samples on the file's grid (k / 255 or k / 65535), so a file round trip is exact."""
    top = 255 if bit_depth == 8 else 65535
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, top + 1, (channels, height, width), generator=generator).float() / top


def write_folder(folder: Path, sizes: list[tuple[int, int]], channels: int = 3, bit_depth: int = 8,
                 stems: list[str] | None = None, seed: int = 0) -> dict[str, torch.Tensor]:
    """Write one PNG per size; returns {stem: image}."""
    images = {}
    for i, (height, width) in enumerate(sizes):
        stem = stems[i] if stems else f"img_{i:03d}"
        images[stem] = random_image(channels, height, width, seed + i, bit_depth)
        save_image(images[stem], folder / f"{stem}.png", bit_depth=bit_depth)
    return images


def symmetries(image: torch.Tensor) -> list[torch.Tensor]:
    """The 8 flips/transposes of a (C, H, W) image."""
    out = []
    for transpose in (False, True):
        base = image.transpose(-2, -1) if transpose else image
        out += [base, base.flip(-1), base.flip(-2), base.flip(-1).flip(-2)]
    return out


def find_crop(crop: torch.Tensor, images: dict[str, torch.Tensor]) -> tuple[str, int, int, int] | None:
    """(stem, top, left, symmetry index) of the source of ``crop`` (up to the 8 symmetries), or None."""
    size = crop.shape[-1]
    for stem, image in images.items():
        for k, variant in enumerate(symmetries(crop)):
            windows = image.unfold(1, size, 1).unfold(2, size, 1)  # (C, H', W', size, size)
            match = (windows - variant[:, None, None]).abs().amax(dim=(0, 3, 4)) < 1e-6  # (H', W')
            if match.any():
                top, left = match.nonzero()[0].tolist()
                return stem, top, left, k
    return None


def first_batch(dm: SuperResolutionDataModule) -> dict:
    return next(iter(dm.train_dataloader()))


# ------------------------------------------------------------------------------------------------ training


def test_training_batches_are_crops_with_bicubic_lr(tmp_path: Path) -> None:
    images = write_folder(tmp_path / "hr", [(24, 30), (20, 26), (28, 21)])
    dm = SuperResolutionDataModule(train_dir=str(tmp_path / "hr"), scale=4, gt_size=8, batch_size=6,
                                   crops_per_image=4)
    dm.setup("fit")
    batch = first_batch(dm)
    assert set(batch) == {"lr", "hr", "name", "bit_depth"}
    assert batch["hr"].shape == (6, 3, 8, 8) and batch["lr"].shape == (6, 3, 2, 2)
    assert batch["hr"].dtype == batch["lr"].dtype == torch.float32
    assert batch["bit_depth"].dtype == torch.int64 and batch["bit_depth"].tolist() == [8] * 6
    assert 0 <= batch["lr"].min() and batch["lr"].max() <= 1
    torch.testing.assert_close(batch["lr"], imresize(batch["hr"], scale=1 / 4).clamp(0, 1))
    for crop, name in zip(batch["hr"], batch["name"]):
        found = find_crop(crop, images)
        assert found is not None and f"{found[0]}.png" == name  # a real crop of the named file (up to a symmetry)
    assert len(dm.train_dataloader()) == 3 * 4 // 6


def test_flips_and_rotations_follow_the_options(tmp_path: Path) -> None:
    images = write_folder(tmp_path / "hr", [(16, 16)])
    seen = {}
    for use_hflip, use_rot in [(False, False), (True, False), (True, True)]:
        dm = SuperResolutionDataModule(train_dir=str(tmp_path / "hr"), scale=2, gt_size=10, batch_size=8,
                                       crops_per_image=48, use_hflip=use_hflip, use_rot=use_rot)
        dm.setup("fit")
        crops = torch.cat([batch["hr"] for batch in dm.train_dataloader()])
        seen[(use_hflip, use_rot)] = {find_crop(crop, images)[3] for crop in crops}
    assert seen[(False, False)] == {0}
    assert seen[(True, False)] == {0, 1}  # identity and left-right flip only
    assert len(seen[(True, True)]) >= 6  # 48 crops: all 8 symmetries are very likely, 6 at the very least


def test_crops_are_deterministic_by_seed_and_independent_of_workers_and_cache(tmp_path: Path) -> None:
    write_folder(tmp_path / "hr", [(24, 24), (20, 22)])

    def crops(**kwargs) -> torch.Tensor:
        dm = SuperResolutionDataModule(train_dir=str(tmp_path / "hr"), scale=2, gt_size=8, batch_size=4,
                                       crops_per_image=4, **kwargs)
        dm.setup("fit")
        return torch.cat([batch["hr"] for batch in dm.train_dataloader()])

    reference = crops(seed=3)
    assert torch.equal(reference, crops(seed=3, cache_mb=0))
    assert torch.equal(reference, crops(seed=3, num_workers=2))
    assert not torch.equal(reference, crops(seed=4))
    dm = SuperResolutionDataModule(train_dir=str(tmp_path / "hr"), scale=2, gt_size=8, batch_size=4,
                                   crops_per_image=4)
    dm.setup("fit")
    loader = dm.train_dataloader()
    assert not torch.equal(torch.cat([b["hr"] for b in loader]), torch.cat([b["hr"] for b in loader]))  # new epoch


def test_16_bit_and_greyscale_files(tmp_path: Path) -> None:
    images = write_folder(tmp_path / "hr16", [(16, 18)], bit_depth=16)
    dm = SuperResolutionDataModule(train_dir=str(tmp_path / "hr16"), scale=2, gt_size=8, batch_size=2,
                                   crops_per_image=2)
    dm.setup("fit")
    batch = first_batch(dm)
    assert batch["bit_depth"].tolist() == [16, 16]
    assert find_crop(batch["hr"][0], images) is not None  # 16-bit samples survive the uint16 cache exactly
    grey = write_folder(tmp_path / "grey", [(12, 12)], channels=1)
    dm = SuperResolutionDataModule(train_dir=str(tmp_path / "grey"), scale=2, gt_size=8, batch_size=1)
    dm.setup("fit")
    batch = first_batch(dm)
    assert batch["hr"].shape == (1, 3, 8, 8)
    assert torch.equal(batch["hr"][0, 0], batch["hr"][0, 2])  # greyscale repeated to RGB
    assert find_crop(batch["hr"][0, :1], grey) is not None


def test_paired_folders_give_aligned_crops(tmp_path: Path) -> None:
    # HR = nearest x4 upsampling of LR, so an aligned HR crop is exactly the upsampled LR crop.
    scale = 4
    lows = {f"{i:04d}": random_image(3, 7 + i, 9, seed=i) for i in range(3)}
    for stem, low in lows.items():
        save_image(low, tmp_path / "lr" / f"{stem}x4.png")  # DIV2K's naming; 8-bit LR, 16-bit HR
        high = low.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)
        extra_rows = torch.cat([high, high[:, :2]], dim=1)  # 2 rows more than 4 x LR: cropped away
        save_image(extra_rows, tmp_path / "hr" / f"{stem}.png", bit_depth=16)
    dm = SuperResolutionDataModule(train_dir=str(tmp_path / "hr"), train_lr_dir=str(tmp_path / "lr"), scale=scale,
                                   gt_size=12, batch_size=6, crops_per_image=4)
    dm.setup("fit")
    batch = first_batch(dm)
    assert batch["lr"].shape == (6, 3, 3, 3)
    upsampled = batch["lr"].repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)
    torch.testing.assert_close(upsampled, batch["hr"], rtol=0, atol=1e-6)
    assert batch["bit_depth"].tolist() == [16] * 6


# ------------------------------------------------------------------------------------------ validation


def test_several_validation_sets_with_mod_crop_and_stored_or_bicubic_lr(tmp_path: Path) -> None:
    set5 = write_folder(tmp_path / "Set5" / "GTmod12", [(12, 24), (24, 12)], stems=["baby", "bird"])
    for stem, image in set5.items():
        save_image(imresize(image, scale=1 / 3).clamp(0, 1), tmp_path / "Set5" / "LRbicx3" / f"{stem}.png")
    other = write_folder(tmp_path / "other", [(17, 20)], stems=["odd"], seed=5)
    dm = SuperResolutionDataModule(
        val_sets={"Set5": str(tmp_path / "Set5" / "GTmod12"), "other": str(tmp_path / "other")},
        val_lr_sets={"Set5": str(tmp_path / "Set5" / "LRbicx3")},
        scale=3,
    )
    dm.setup("validate")
    assert dm.val_set_names == ["Set5", "other"]
    loaders = dm.val_dataloader()
    assert len(loaders) == 2
    set5_batches = list(loaders[0])
    assert [b["name"] for b in set5_batches] == [["baby.png"], ["bird.png"]]
    assert set5_batches[0]["hr"].shape == (1, 3, 12, 24) and set5_batches[0]["lr"].shape == (1, 3, 4, 8)
    stored = (imresize(set5["baby"], scale=1 / 3).clamp(0, 1) * 255).round() / 255  # what the 8-bit file holds
    torch.testing.assert_close(set5_batches[0]["lr"][0], stored)
    (odd,) = list(loaders[1])
    assert odd["hr"].shape == (1, 3, 15, 18)  # mod-cropped to a multiple of 3
    torch.testing.assert_close(odd["hr"][0], other["odd"][:, :15, :18])
    torch.testing.assert_close(odd["lr"], make_low_resolution(odd["hr"], 3))
    assert len(dm.test_dataloader()) == 2


def test_validation_sets_as_a_list_are_named_after_their_folders(tmp_path: Path) -> None:
    write_folder(tmp_path / "Set14", [(8, 8)])
    write_folder(tmp_path / "B100", [(8, 8)])
    dm = SuperResolutionDataModule(val_sets=[str(tmp_path / "Set14"), str(tmp_path / "B100")], scale=2)
    assert dm.val_set_names == ["Set14", "B100"]


# ------------------------------------------------------------------------------------------ prediction


def test_predict_batches_group_images_of_one_size(tmp_path: Path) -> None:
    write_folder(tmp_path / "lr", [(5, 7), (9, 4), (5, 7), (5, 7)], stems=["a", "b", "c", "d"])
    dm = SuperResolutionDataModule(predict_dir=str(tmp_path / "lr"), predict_batch_size=2)
    dm.setup("predict")
    batches = list(dm.predict_dataloader())
    assert [b["name"] for b in batches] == [["a.png", "c.png"], ["d.png"], ["b.png"]]
    assert batches[0]["lr"].shape == (2, 3, 5, 7) and batches[2]["lr"].shape == (1, 3, 9, 4)
    assert "hr" not in batches[0]


def test_predict_batches_keep_each_files_channels_and_bit_depth(tmp_path: Path) -> None:
    folder = tmp_path / "lr"
    files = {  # name: (channels, bit depth); all 5 x 6, so only the channel count splits the batches
        "grey16.png": (1, 16), "grey8.png": (1, 8), "rgb.png": (3, 8), "rgba.png": (4, 8), "rgb16.tif": (3, 16),
        "grey_alpha.tif": (2, 16),
    }
    images = {}
    for i, (name, (channels, depth)) in enumerate(files.items()):
        images[name] = random_image(channels, 5, 6, seed=i, bit_depth=depth)
        save_image(images[name], folder / name, bit_depth=depth)
    dm = SuperResolutionDataModule(predict_dir=str(folder), predict_batch_size=4)  # an RGB model's data
    dm.setup("predict")
    batches = list(dm.predict_dataloader())
    assert [b["name"] for b in batches] == [["grey16.png", "grey8.png"], ["grey_alpha.tif"], ["rgb.png", "rgb16.tif"],
                                            ["rgba.png"]]
    seen = {}
    for batch in batches:
        assert batch["lr"].dtype == torch.float32 and "hr" not in batch
        for name, lr, depth in zip(batch["name"], batch["lr"], batch["bit_depth"].tolist()):
            seen[name] = (lr, depth)
    for name, (channels, depth) in files.items():
        lr, seen_depth = seen[name]
        assert lr.shape == (channels, 5, 6) and seen_depth == depth, name  # no greyscale -> RGB, alpha kept
        torch.testing.assert_close(lr, images[name], rtol=0, atol=0)  # every 16-bit level survives
    assert len(np.unique(seen["grey16.png"][0].numpy())) > 25  # 30 pixels of 65536 levels: not squeezed to 8 bits

    grey = SuperResolutionDataModule(predict_dir=str(tmp_path / "grey"), channels=1)
    save_image(images["grey8.png"], tmp_path / "grey" / "g.png")
    save_image(images["grey_alpha.tif"], tmp_path / "grey" / "ga.tif", bit_depth=16)
    grey.setup("predict")
    assert [b["lr"].shape[1] for b in grey.predict_dataloader()] == [1, 2]  # greyscale (+ alpha) into a grey model


# -------------------------------------------------------------------------------------- with a Trainer


class TinySR(pl.LightningModule):
    """x2 conv + pixel shuffle; records what the batches look like after transfer."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.PixelShuffle(2))
        self.seen: dict[str, list] = {"train": [], "val": [], "predict": []}

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        self.seen["train"].append((batch["lr"].clone(), batch["hr"].clone()))
        return (self.net(batch["lr"]) - batch["hr"]).abs().mean()

    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        self.seen["val"].append((dataloader_idx, batch["lr"].shape, batch["hr"].shape))

    def predict_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        self.seen["predict"].append(batch["name"])
        return self.net(batch["lr"])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=1e-3)


@pytest.mark.parametrize("lr_on_device", [False, True])
def test_trainer_fits_validates_and_predicts(tmp_path: Path, lr_on_device: bool) -> None:
    write_folder(tmp_path / "train", [(16, 16), (18, 20)])
    write_folder(tmp_path / "a", [(10, 12)], seed=7)
    write_folder(tmp_path / "b", [(8, 8), (9, 9)], seed=9)
    write_folder(tmp_path / "lr", [(5, 6), (5, 6), (4, 3)], seed=11)
    dm = SuperResolutionDataModule(
        train_dir=str(tmp_path / "train"),
        val_sets=[str(tmp_path / "a"), str(tmp_path / "b")],
        predict_dir=str(tmp_path / "lr"),
        scale=2,
        gt_size=8,
        batch_size=2,
        lr_on_device=lr_on_device,
        predict_batch_size=4,
    )
    if lr_on_device:
        dm.setup("fit")
        assert "lr" not in first_batch(dm)  # the loader yields HR only; the LR is made after the transfer
    model = TinySR()
    trainer = pl.Trainer(max_steps=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(model, datamodule=dm)
    assert trainer.global_step == 2
    for lr, hr in model.seen["train"]:
        assert lr.shape == (2, 3, 4, 4)
        torch.testing.assert_close(lr, make_low_resolution(hr, 2))
    assert {idx for idx, _, _ in model.seen["val"]} == {0, 1}
    assert (1, (1, 3, 4, 4), (1, 3, 8, 8)) in model.seen["val"]  # 9x9 mod-cropped to 8x8
    predictions = trainer.predict(model, datamodule=dm)
    assert [p.shape for p in predictions] == [(2, 3, 10, 12), (1, 3, 8, 6)]


# ------------------------------------------------------------------------------- epochs follow the trainer


def test_sampler_follows_set_epoch_and_is_sharded_by_lightnings_ddp_wrapper() -> None:
    epoch2 = list(SeededSampler(10, seed=5, epoch=2))
    assert sorted(index for index, _ in epoch2) == list(range(10))
    sampler = SeededSampler(10, seed=5)
    first = list(sampler)
    assert list(sampler) != first  # outside a Trainer a second pass is the next epoch
    sampler.set_epoch(2)
    assert list(sampler) == epoch2
    sampler.set_epoch(0)
    assert list(sampler) == first
    # Under DDP Lightning wraps a custom sampler in DistributedSamplerWrapper (shuffle=False: the sampler shuffles)
    # and calls the wrapper's set_epoch, which must reach ours; the ranks then take disjoint shares of that epoch
    shards = []
    for rank in range(2):
        wrapper = DistributedSamplerWrapper(SeededSampler(10, seed=5), num_replicas=2, rank=rank, shuffle=False)
        wrapper.set_epoch(2)
        shards.append(list(wrapper))
    assert len(shards[0]) == len(shards[1]) == 5
    assert sorted(shards[0] + shards[1]) == sorted(epoch2)


class CropRecorder(pl.LightningModule):
    """Records the HR crops of every epoch; no epoch reseeding of its own (the data module must get it right)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Conv2d(3, 3, 1)
        self.crops: dict[int, list[torch.Tensor]] = {}

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        self.crops.setdefault(self.current_epoch, []).append(batch["hr"].clone())
        return self.net(batch["hr"]).mean()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def sr_trainer(root: Path, max_epochs: int, checkpoints: Path | None = None) -> pl.Trainer:
    callbacks = [ModelCheckpoint(dirpath=checkpoints, save_top_k=-1, filename="{epoch}")] if checkpoints else []
    return pl.Trainer(max_epochs=max_epochs, accelerator="cpu", devices=1, logger=False, callbacks=callbacks,
                      enable_checkpointing=bool(callbacks), enable_progress_bar=False, enable_model_summary=False,
                      num_sanity_val_steps=0, default_root_dir=root)


@pytest.mark.parametrize("num_workers", [0, 1])  # a worker makes Lightning's first iterator draw at once
def test_a_resumed_fit_draws_the_crops_of_the_uninterrupted_run(tmp_path: Path, num_workers: int) -> None:
    write_folder(tmp_path / "hr", [(16, 16), (18, 20)])

    def fit(root: Path, max_epochs: int, **kwargs) -> CropRecorder:
        data = SuperResolutionDataModule(train_dir=str(tmp_path / "hr"), scale=2, gt_size=8, batch_size=2,
                                         crops_per_image=2, num_workers=num_workers)
        model = CropRecorder()
        sr_trainer(root, max_epochs, kwargs.pop("checkpoints", None)).fit(model, data, **kwargs)
        return model

    uninterrupted = fit(tmp_path / "a", 3)
    fit(tmp_path / "b", 1, checkpoints=tmp_path / "ckpt")
    resumed = fit(tmp_path / "c", 3, ckpt_path=tmp_path / "ckpt" / "epoch=0.ckpt")
    assert sorted(resumed.crops) == [1, 2]
    for epoch in (1, 2):
        assert torch.equal(torch.cat(resumed.crops[epoch]), torch.cat(uninterrupted.crops[epoch])), epoch
    assert not torch.equal(torch.cat(uninterrupted.crops[1]), torch.cat(uninterrupted.crops[2]))  # epochs differ


def test_srresnet_resumed_from_an_end_of_epoch_checkpoint_is_bit_identical(tmp_path: Path) -> None:
    write_folder(tmp_path / "hr", [(24, 24), (20, 28), (28, 20)])

    def fit(root: Path, max_epochs: int, checkpoints: Path | None = None, ckpt_path: Path | None = None) -> pl.Trainer:
        data = SuperResolutionDataModule(train_dir=str(tmp_path / "hr"), scale=4, gt_size=16, batch_size=2,
                                         crops_per_image=2, seed=1)
        model = SRResNet(generator_features=8, generator_blocks=1, ema_decay=0.9, lpips=False)
        trainer = sr_trainer(root, max_epochs, checkpoints)
        trainer.fit(model, data, ckpt_path=ckpt_path)
        return trainer

    pl.seed_everything(3)
    uninterrupted = fit(tmp_path / "a", 3)
    pl.seed_everything(3)
    fit(tmp_path / "b", 1, checkpoints=tmp_path / "ckpt")
    torch.rand(50)  # the global RNG moved on: the resumed run must not depend on it
    pl.seed_everything(3)
    resumed = fit(tmp_path / "c", 3, ckpt_path=tmp_path / "ckpt" / "epoch=0.ckpt")

    assert uninterrupted.global_step == resumed.global_step == 9  # 3 images x 2 crops / batch 2, 3 epochs
    a, b = uninterrupted.lightning_module.state_dict(), resumed.lightning_module.state_dict()
    assert a.keys() == b.keys() and any(key.startswith("generator_ema.") for key in a)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)  # G and its EMA
    state_a, state_b = uninterrupted.optimizers[0].state_dict(), resumed.optimizers[0].state_dict()
    assert state_a["param_groups"] == state_b["param_groups"]  # learning rate of the per-step schedule included
    assert state_a["state"].keys() == state_b["state"].keys() and state_a["state"]
    for index, moments in state_a["state"].items():
        for name, value in moments.items():
            torch.testing.assert_close(value, state_b["state"][index][name], rtol=0, atol=0, msg=f"{index}.{name}")


# ------------------------------------------------------------------------------------------ errors


def one_line_error(make, match: str) -> None:
    with pytest.raises(UserInputError, match=match) as error:
        make()
    assert "\n" not in str(error.value)


def setup_fails(match: str, stage: str = "fit", **kwargs) -> None:
    """``SuperResolutionDataModule(**kwargs).setup(stage)`` raises one UserInputError line matching ``match``."""
    one_line_error(lambda: SuperResolutionDataModule(**kwargs).setup(stage), match)


def test_bad_data_raises_one_line_naming_the_file(tmp_path: Path) -> None:
    small = dict(scale=2, gt_size=8, batch_size=1)
    write_folder(tmp_path / "small", [(16, 16), (6, 20)])
    setup_fails("img_001.png is 6x20, smaller than gt_size=8", train_dir=str(tmp_path / "small"), **small)
    write_folder(tmp_path / "hr", [(16, 16), (20, 20)])
    hr = str(tmp_path / "hr")
    write_folder(tmp_path / "lr_bad", [(8, 8), (8, 10)])
    setup_fails("img_001.png is 8x10 but its HR .*img_001.png is 20x20; with scale=2 the LR must be 10x10",
                train_dir=hr, train_lr_dir=str(tmp_path / "lr_bad"), **small)
    write_folder(tmp_path / "lr_missing", [(8, 8)])
    setup_fails("no LR image for .*img_001.png", train_dir=hr, train_lr_dir=str(tmp_path / "lr_missing"), **small)
    write_folder(tmp_path / "lr_extra", [(8, 8), (10, 10), (10, 10)])
    setup_fails("img_002.png has no HR partner", train_dir=hr, train_lr_dir=str(tmp_path / "lr_extra"), **small)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    setup_fails("bad.png", "validate", val_sets={"x": str(tmp_path / "broken")})
    (tmp_path / "empty").mkdir()
    setup_fails("empty holds no images", "predict", predict_dir=str(tmp_path / "empty"))
    setup_fails("is not a folder", train_dir=str(tmp_path / "nowhere"))
    write_folder(tmp_path / "rgba", [(16, 16)], channels=4)
    rgba = str(tmp_path / "rgba")
    setup_fails("img_000.png is RGBA; with channels=3 images must be greyscale or RGB", train_dir=rgba, **small)
    setup_fails("img_000.png is RGB; with channels=1 images must be greyscale", train_dir=hr, channels=1, **small)
    setup_fails("img_000.png is RGB; with channels=1 images must be greyscale or greyscale \\+ alpha", "predict",
                predict_dir=hr, channels=1)
    save_image(torch.rand(5, 6, 7), tmp_path / "planes" / "five.tif")
    setup_fails("five.tif is 5-channel; with channels=3 images must be greyscale, greyscale \\+ alpha, RGB or RGBA",
                "predict", predict_dir=str(tmp_path / "planes"))
    setup_fails("cannot fill one batch", train_dir=hr, scale=2, gt_size=8)


def test_bad_arguments_raise_one_line(tmp_path: Path) -> None:
    one_line_error(lambda: SuperResolutionDataModule(train_dir="x", scale=3, gt_size=128), "multiple of scale")
    one_line_error(lambda: SuperResolutionDataModule(scale=5), "scale must be 2, 3 or 4")
    one_line_error(lambda: SuperResolutionDataModule(val_sets={"a": "x"}, val_lr_sets={"b": "y"}), "'b'")
    one_line_error(lambda: SuperResolutionDataModule(val_sets=["one/HR", "two/HR"]), "both named 'HR'")
    one_line_error(lambda: SuperResolutionDataModule(train_dir=["a", "b"], train_lr_dir="c"), "one LR folder per HR")
    one_line_error(lambda: SuperResolutionDataModule().train_dataloader(), "needs train_dir")


def test_every_init_argument_is_documented() -> None:
    params = docstring_parser.parse(SuperResolutionDataModule.__doc__).params
    documented = {p.arg_name: p.description for p in params}
    for name in inspect.signature(SuperResolutionDataModule.__init__).parameters:
        if name != "self":
            assert documented.get(name), f"argument {name} has no description in Args:"
