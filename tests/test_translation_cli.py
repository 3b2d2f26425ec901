"""pix2pix and CycleGAN through the ``lightning-gans`` command: predict any size and depth, official weights, DDP,
bf16, one-line data errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lightning_gans.images import read_image, save_image
from lightning_gans.networks import UNetGenerator
from tests.test_cli import QUIET, run_cli
from tests.test_translation_networks import reference_state_dict, reference_unet_layout

TINY_PIX2PIX = ["--model", "lightning_gans.Pix2Pix", "--model.generator", "resnet_6blocks", "--model.generator_width", "4",
                "--model.discriminator_width", "4", "--model.discriminator_layers", "1"]
TINY_CYCLEGAN = ["--model", "lightning_gans.CycleGAN", "--model.generator", "resnet_6blocks", "--model.generator_width", "4",
                 "--model.discriminator_width", "4", "--model.discriminator_layers", "1", "--model.pool_size", "2"]


def write_aligned(root: Path, split: str, count: int, size: int, channels: int, bit_depth: int) -> None:
    """``count`` A|B files where B = 1 - A, ``size`` x ``size`` each side."""
    g = torch.Generator().manual_seed(len(split))
    levels = 2**bit_depth - 1
    for i in range(count):
        a = torch.randint(0, levels + 1, (channels, size, size), generator=g).double() / levels
        save_image(torch.cat([a, 1 - a], dim=-1), root / split / f"{i:02d}.png", bit_depth=bit_depth)


def write_domains(root: Path, size: int) -> None:
    g = torch.Generator().manual_seed(0)
    for folder, count in (("trainA", 4), ("trainB", 3), ("testA", 2), ("testB", 2)):
        for i in range(count):
            save_image(torch.rand(3, size, size, generator=g), root / folder / f"{folder}_{i}.png")


def fit_args(root: Path, data: Path, family: list[str], data_class: str, **data_args) -> list[str]:
    data_flags = [item for key, value in data_args.items() for item in (f"--data.{key}", str(value))]
    return ["fit", *family, "--data", data_class, "--data.root", str(data), "--data.preprocess", "crop",
            "--data.load_size", "16", "--data.crop_size", "16", *data_flags, "--trainer.max_steps", "2",
            "--trainer.default_root_dir", str(root), "--log_to", "csv", "--trainer.log_every_n_steps", "1", *QUIET]


def test_pix2pix_fit_then_predict_any_size_keeps_names_and_16_bit_depth(tmp_path):
    data = tmp_path / "nir"
    write_aligned(data, "train", 4, 16, channels=1, bit_depth=16)
    write_aligned(data, "val", 2, 16, channels=1, bit_depth=16)
    result = run_cli(*fit_args(tmp_path / "run", data, TINY_PIX2PIX + ["--model.input_channels", "1", "--model.output_channels", "1"],
                               "datamodules.PairedImageDataModule"))
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoint = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert checkpoint.is_file()
    assert list((tmp_path / "run" / "samples").glob("step_*.png"))  # input | output | target panels

    inputs = tmp_path / "inputs"
    sizes = {"wide.png": (50, 90), "tall.tif": (61, 30), "wide2.png": (50, 90)}
    for name, (h, w) in sizes.items():
        save_image(torch.rand(1, h, w), inputs / name, bit_depth=16)
    out = tmp_path / "out"
    result = run_cli("predict", *TINY_PIX2PIX, "--model.input_channels", "1", "--model.output_channels", "1",
                     "--model.inference", "eval", "--data", "datamodules.PairedImageDataModule", "--data.root", str(data),
                     "--data.predict_dir", str(inputs), "--data.predict_batch_size", "2", "--ckpt_path", str(checkpoint),
                     "--predictions.output_dir", str(out), "--trainer.default_root_dir", str(tmp_path / "run"), *QUIET)
    assert result.returncode == 0, result.stderr[-3000:]
    for name, (h, w) in sizes.items():
        image, depth = read_image(out / name)
        assert image.shape == (1, h, w) and depth == 16, name  # same name, size, channels and bit depth
        levels = (image * 65535).round().long()
        assert (levels % 257 != 0).float().mean() > 0.5  # 16-bit values, not 8-bit ones (k * 257) stored in 16 bits
    assert "wrote 3 samples" in result.stdout


def test_predict_with_an_official_generator_file_and_no_checkpoint(tmp_path):
    source = UNetGenerator(3, 3, num_downs=7, base_channels=4)
    weights = tmp_path / "latest_net_G.pth"
    torch.save(reference_state_dict(source, reference_unet_layout(7, True), torch.randn(2, 3, 128, 128)), weights)
    inputs = tmp_path / "photos"
    image = torch.rand(3, 100, 140)
    save_image(image, inputs / "photo.png")
    data = tmp_path / "unused"
    write_aligned(data, "train", 1, 16, channels=3, bit_depth=8)
    result = run_cli("predict", "--model", "lightning_gans.Pix2Pix", "--model.generator", "unet_128",
                     "--model.generator_width", "4", "--model.pretrained_generator", str(weights), "--model.inference", "eval",
                     "--data", "datamodules.PairedImageDataModule", "--data.root", str(data), "--data.predict_dir", str(inputs),
                     "--predictions.output_dir", str(tmp_path / "out"), "--trainer.default_root_dir", str(tmp_path), *QUIET)
    assert result.returncode == 0, result.stderr[-3000:]
    output, depth = read_image(tmp_path / "out" / "photo.png")
    assert output.shape == (3, 100, 140) and depth == 8
    source.eval()
    read_back, _ = read_image(inputs / "photo.png")
    with torch.no_grad():
        padded = torch.nn.functional.pad(read_back[None] * 2 - 1, (0, 116, 0, 28), mode="reflect")  # to 128 x 256
        expected = ((source(padded)[..., :100, :140] + 1) / 2).clamp(0, 1)[0]
    assert (output - expected).abs().max() <= 0.5 / 255 + 1e-6  # the reference's network, up to 8-bit rounding


@pytest.mark.parametrize("family", ["pix2pix", "cyclegan"])
def test_ddp_two_processes_end_with_identical_weights(family, tmp_path):
    data = tmp_path / "data"
    if family == "pix2pix":
        write_aligned(data, "train", 8, 16, channels=3, bit_depth=8)
        args = fit_args(tmp_path / "ddp", data, TINY_PIX2PIX, "datamodules.PairedImageDataModule", val_split="null")
    else:
        write_domains(data, 16)
        args = fit_args(tmp_path / "ddp", data, TINY_CYCLEGAN, "datamodules.UnpairedImageDataModule")
    result = run_cli(*args, "--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.accelerator", "cpu",
                     "--trainer.callbacks+=tests.ddp_probe.SaveRankState", "--trainer.limit_val_batches", "0",
                     env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    rank0 = torch.load(tmp_path / "ddp" / "rank0.pt", weights_only=True)["state_dict"]
    rank1 = torch.load(tmp_path / "ddp" / "rank1.pt", weights_only=True)["state_dict"]
    for key, value in rank0.items():
        # BatchNorm running statistics are each rank's own (DDP re-broadcasts rank 0's at the next forward; the
        # checkpoint is rank 0's): every weight, Adam-updated on averaged gradients, must be identical
        if isinstance(value, torch.Tensor) and not key.endswith(("running_mean", "running_var", "num_batches_tracked")):
            torch.testing.assert_close(value, rank1[key], rtol=0, atol=0, msg=key)
    assert any("generator" in key for key in rank0)


@pytest.mark.parametrize("family", [TINY_PIX2PIX, TINY_CYCLEGAN], ids=["pix2pix", "cyclegan"])
def test_bf16_mixed_trains_on_cpu(family, tmp_path):
    data = tmp_path / "data"
    write_domains(data, 16)
    write_aligned(data, "train", 2, 16, channels=3, bit_depth=8)
    data_class = "datamodules.PairedImageDataModule" if family is TINY_PIX2PIX else "datamodules.UnpairedImageDataModule"
    extra = {"val_split": "null"} if family is TINY_PIX2PIX else {}
    result = run_cli(*fit_args(tmp_path / "run", data, family, data_class, **extra), "--trainer.precision", "bf16-mixed")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = (next((tmp_path / "run").rglob("metrics.csv"))).read_text()
    assert "train/loss_g" in metrics and "nan" not in metrics.lower()


BAD_DATA = {
    "missing partner": ("folders", "train/A/001.png has no partner"),
    "empty folder": ("empty", "holds no image files"),
    "truncated file": ("truncated", "train/00.png: the PNG is truncated"),  # found when decoded (headers are intact): still one line
}


@pytest.mark.parametrize("case", BAD_DATA)
def test_bad_translation_data_is_one_clear_line_before_training(case, tmp_path):
    layout, expected = BAD_DATA[case]
    data = tmp_path / "data"
    extra = {}
    if layout == "folders":
        for side in ("A", "B"):
            for i in range(2 if side == "A" else 1):
                save_image(torch.rand(3, 16, 16), data / "train" / side / f"{i:03d}.png")
        extra = {"layout": "folders", "val_split": "null"}
    elif layout == "empty":
        (data / "train").mkdir(parents=True)
        extra = {"val_split": "null"}
    else:
        write_aligned(data, "train", 2, 16, channels=3, bit_depth=8)
        path = data / "train" / "00.png"
        save_image(torch.rand(3, 16, 32), path)
        path.write_bytes(path.read_bytes()[:60])
        extra = {"val_split": "null"}
    result = run_cli(*fit_args(tmp_path / "run", data, TINY_PIX2PIX, "datamodules.PairedImageDataModule", **extra))
    assert result.returncode == 2, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("lightning-gans: error:")]
    assert len(errors) == 1 and expected in errors[0], result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert not list((tmp_path / "run").rglob("*.ckpt"))
