"""SRResNet / ESRGAN through the ``lightning-gans`` command: fit, then predict a folder of mixed files (greyscale,
alpha, 16-bit PNG and TIFF; tiled and self-ensembled), predict from an official BasicSR file without a checkpoint,
2-process DDP, and one-line data errors."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from lightning_gans.cli import main
from lightning_gans.images import read_image, save_image
from lightning_gans.imresize import imresize
from lightning_gans.networks import MSRResNet, RRDBNet
from lightning_gans.srresnet import SRResNet
from lightning_gans.super_resolution import super_resolve
from tests.test_cli import QUIET, run_cli

TINY = ["--model.generator_features", "8", "--model.generator_blocks", "1", "--model.lpips", "false"]
TINY_SRRESNET = ["--model", "lightning_gans.SRResNet", *TINY]
TINY_ESRGAN = ["--model", "lightning_gans.ESRGAN", *TINY, "--model.generator_growth", "4",
               "--model.discriminator_features", "4", "--model.discriminator_input_size", "16",
               "--model.vgg_weights", "random", "--model.perceptual_layers", '{"conv2_2": 1.0}']
SR_DATA = ["--data", "datamodules.SuperResolutionDataModule"]
TILES = ["--model.tile_size", "6", "--model.tile_overlap", "2"]  # 6-pixel LR tiles: every input below is tiled


def write_hr(folder: Path, sizes: list[tuple[int, int]], seed: int = 0) -> None:
    """Random 8-bit RGB HR files ``0000.png``, ``0001.png``, ... of the given sizes."""
    g = torch.Generator().manual_seed(seed)
    for i, (height, width) in enumerate(sizes):
        save_image(torch.randint(0, 256, (3, height, width), generator=g) / 255, folder / f"{i:04d}.png")


def fit_args(root: Path, train_dir: Path, family: list[str], *extra: str) -> list[str]:
    return ["fit", *family, *SR_DATA, "--data.train_dir", str(train_dir), "--data.scale", "4", "--data.gt_size", "16",
            "--data.batch_size", "2", "--data.crops_per_image", "2", "--trainer.max_steps", "2",
            "--trainer.default_root_dir", str(root), "--log_to", "csv", *QUIET, *extra]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """``last.ckpt`` of a tiny SRResNet fitted for 2 steps on generated HR files, through the CLI."""
    root = tmp_path_factory.mktemp("srresnet")
    write_hr(root / "hr", [(24, 24), (20, 28), (28, 20)])
    main(fit_args(root / "run", root / "hr", TINY_SRRESNET))
    return root / "run" / "checkpoints" / "last.ckpt"


# name: (channels, height, width, bit depth); two RGB files of one size share a batch of 2
MIXED = {"photo.png": (3, 13, 17, 8), "photo_b.png": (3, 13, 17, 8), "depth16.png": (1, 11, 9, 16),
         "sprite.png": (4, 10, 15, 8), "scan16.tif": (3, 9, 14, 16)}


def write_mixed(folder: Path) -> dict[str, torch.Tensor]:
    """The MIXED files, random samples on each file's grid; returns {name: image as read back}."""
    g = torch.Generator().manual_seed(1)
    images = {}
    for name, (channels, height, width, depth) in MIXED.items():
        levels = 2**depth - 1
        images[name] = torch.randint(0, levels + 1, (channels, height, width), generator=g).double() / levels
        save_image(images[name], folder / name, bit_depth=depth)
        images[name] = read_image(folder / name)[0]  # what the data module reads
    return images


def predict_mixed(tmp_path: Path, source: list[str], *extra: str) -> tuple[dict[str, torch.Tensor], Path]:
    """``lightning-gans predict`` of the MIXED folder with a tiny SRResNet; returns the inputs and the output folder."""
    images = write_mixed(tmp_path / "in")
    out = tmp_path / "out"
    main(["predict", *TINY_SRRESNET, *SR_DATA, "--data.predict_dir", str(tmp_path / "in"), "--data.predict_batch_size",
          "2", *source, *extra, "--predictions.output_dir", str(out),
          "--trainer.default_root_dir", str(tmp_path / "run"), *QUIET])
    return images, out


def check_predictions(out: Path, images: dict[str, torch.Tensor], checkpoint: Path, ensemble: bool,
                      tiled: bool) -> None:
    """Same names, 4x sizes, the inputs' channels and depths, the checkpoint's EMA generator run as configured
    (greyscale out for greyscale in), alpha upscaled by bicubic beside the network."""
    tiles = dict(tile_size=6, tile_overlap=2) if tiled else {}
    model = SRResNet(generator_features=8, generator_blocks=1, lpips=False, **tiles).eval()
    model.load_state_dict(torch.load(checkpoint, weights_only=True)["state_dict"])
    other = SRResNet(generator_features=8, generator_blocks=1, lpips=False,
                     **({} if tiled else dict(tile_size=6, tile_overlap=2))).eval()
    other.load_state_dict(model.state_dict())

    def expected(lr: torch.Tensor, network: SRResNet) -> torch.Tensor:  # (C, h, w) RGB or greyscale -> (C, 4h, 4w)
        rgb = lr[None].expand(-1, 3, -1, -1)
        sr = super_resolve(network.evaluated_generator, rgb, network.inference, ensemble)[0]
        return sr.mean(dim=0, keepdim=True) if lr.shape[0] == 1 else sr

    for name, (channels, height, width, depth) in MIXED.items():
        written, written_depth = read_image(out / name)  # the same name (TIFF stays TIFF)
        assert written.shape == (channels, 4 * height, 4 * width) and written_depth == depth, (name, written.shape)
        step = 0.51 / (2**depth - 1)
        colour = images[name][:3] if channels == 4 else images[name]
        torch.testing.assert_close(written[:3], expected(colour, model), atol=step, rtol=0, msg=name)
        if depth == 16:
            assert len(np.unique((written * 65535).round().numpy())) > 256, name  # really 16-bit
            # tiled or not as asked: the other way is measurably different at 16 bits
            assert (written[:3] - expected(colour, other)).abs().max() > 4 * step, name
    alpha = imresize(images["sprite.png"][None, 3:], scale=4).clamp(0, 1)[0]  # bicubic beside the network
    torch.testing.assert_close(read_image(out / "sprite.png")[0][3:], alpha, atol=0.51 / 255, rtol=0)


def test_fit_then_predict_from_the_checkpoint_keeps_names_sizes_channels_depths_and_alpha(checkpoint, tmp_path, capsys):
    assert checkpoint.is_file()
    images, out = predict_mixed(tmp_path, ["--ckpt_path", str(checkpoint)])
    assert "wrote 5 samples" in capsys.readouterr().out
    check_predictions(out, images, checkpoint, ensemble=False, tiled=False)


@pytest.mark.parametrize("ensemble", [False, True], ids=["tiled", "tiled_self_ensemble"])
def test_predict_tiled_and_self_ensembled_from_the_fit_checkpoints_generator(checkpoint, tmp_path, capsys, ensemble):
    # the fit checkpoint as --model.pretrained_generator (its EMA weights): predict-time options take effect
    images, out = predict_mixed(tmp_path, ["--model.pretrained_generator", str(checkpoint)], *TILES,
                                "--model.self_ensemble", str(ensemble).lower())
    assert "wrote 5 samples" in capsys.readouterr().out
    check_predictions(out, images, checkpoint, ensemble=ensemble, tiled=True)


def test_predict_time_model_options_win_over_the_checkpoints_hyperparameters(checkpoint, tmp_path):
    images, out = predict_mixed(tmp_path, ["--ckpt_path", str(checkpoint)], *TILES)
    check_predictions(out, images, checkpoint, ensemble=False, tiled=True)


def perturbed(network: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Weights away from the initialisation (whose residual branches are nearly silent)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=g) * 0.1)
    return network.eval()


OFFICIAL = {  # BasicSR layouts (our module names are BasicSR's): MSRResNet_x4 and an RRDBNet x2 (pixel-unshuffled)
    "msrresnet_x4": (lambda: MSRResNet(scale=4, num_features=8, num_blocks=1), 4,
                     ["--model.generator", "msrresnet"]),
    "rrdbnet_x2": (lambda: RRDBNet(scale=2, num_features=8, num_blocks=1, growth_channels=4), 2,
                   ["--model.generator", "rrdbnet", "--model.generator_growth", "4"]),
}


@pytest.mark.parametrize("case", OFFICIAL)
def test_predict_from_an_official_weight_file_without_a_checkpoint(case, tmp_path, capsys):
    build, scale, generator = OFFICIAL[case]
    ema, raw = perturbed(build(), 0), perturbed(build(), 1)
    weights = tmp_path / "net_g.pth"
    torch.save({"params": raw.state_dict(), "params_ema": ema.state_dict()}, weights)  # BasicSR keeps both
    image = torch.randint(0, 256, (3, 10, 14)) / 255
    save_image(image, tmp_path / "in" / "photo.png")
    main(["predict", "--model", "lightning_gans.SRResNet", *generator, *TINY, "--model.scale", str(scale),
          "--model.pretrained_generator", str(weights), *SR_DATA, "--data.scale", str(scale), "--data.predict_dir",
          str(tmp_path / "in"), "--predictions.output_dir", str(tmp_path / "out"), "--trainer.default_root_dir",
          str(tmp_path / "run"), *QUIET])
    assert "wrote 1 samples" in capsys.readouterr().out
    written, depth = read_image(tmp_path / "out" / "photo.png")
    assert written.shape == (3, scale * 10, scale * 14) and depth == 8
    with torch.no_grad():
        reference = ema(image[None].float())[0].clamp(0, 1)  # params_ema, not params
    torch.testing.assert_close(written, reference, atol=0.51 / 255, rtol=0)
    assert not list((tmp_path / "run").rglob("*.ckpt"))


@pytest.mark.parametrize("family", [TINY_SRRESNET, TINY_ESRGAN], ids=["srresnet", "esrgan"])
def test_ddp_two_processes_end_with_identical_weights(family, tmp_path):
    write_hr(tmp_path / "hr", [(24, 24), (20, 28), (28, 20), (16, 20)])
    result = run_cli(*fit_args(tmp_path / "ddp", tmp_path / "hr", family), "--trainer.strategy", "ddp",
                     "--trainer.devices", "2", "--trainer.accelerator", "cpu",
                     "--trainer.callbacks+=tests.ddp_probe.SaveRankState", env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    rank0 = torch.load(tmp_path / "ddp" / "rank0.pt", weights_only=True)["state_dict"]
    rank1 = torch.load(tmp_path / "ddp" / "rank1.pt", weights_only=True)["state_dict"]
    assert rank0.keys() == rank1.keys()
    compared = 0
    for key, value in rank0.items():
        # BatchNorm running statistics (ESRGAN's D) are each rank's own; every weight, Adam-updated on averaged
        # gradients, and the generator EMA must be identical
        if isinstance(value, torch.Tensor) and not key.endswith(("running_mean", "running_var", "num_batches_tracked")):
            torch.testing.assert_close(value, rank1[key], rtol=0, atol=0, msg=key)
            compared += 1
    assert any(key.startswith("generator_ema.") for key in rank0) and compared > 10
    assert torch.load(tmp_path / "ddp" / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 2


def write_pairs(root: Path, lr_sizes: dict[str, tuple[int, int]]) -> None:
    """HR ``0000.png``, ``0001.png`` (24 x 24) and LR partners ``<stem>x4.png`` of the given sizes (DIV2K's naming)."""
    write_hr(root / "hr", [(24, 24), (24, 24)])
    for stem, size in lr_sizes.items():
        save_image(torch.rand(3, *size), root / "lr" / f"{stem}x4.png")


BAD_DATA = {
    "HR smaller than gt_size": ("small", r"train_dir: .*0001.png is 12x20, smaller than gt_size=16"),
    "LR size does not match the scale": (
        "mismatch", r"train_lr_dir: .*0001x4.png is 5x6 but its HR .*0001.png is 24x24; with scale=4 the LR must be 6x6"
    ),
    "missing LR partner": ("missing", r"train_lr_dir: no LR image for .*0001.png in"),
}


@pytest.mark.parametrize("case", BAD_DATA)
def test_bad_sr_data_is_one_clear_line_before_training(case, tmp_path, capsys):
    layout, expected = BAD_DATA[case]
    data = tmp_path / "data"
    extra: list[str] = []
    if layout == "small":
        write_hr(data / "hr", [(24, 24), (12, 20)])
    else:
        write_pairs(data, {"0000": (6, 6), "0001": (5, 6)} if layout == "mismatch" else {"0000": (6, 6)})
        extra = ["--data.train_lr_dir", str(data / "lr")]
    with pytest.raises(SystemExit) as exit_info:
        main(fit_args(tmp_path / "run", data / "hr", TINY_SRRESNET, *extra))
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err
    errors = [line for line in stderr.splitlines() if line.startswith("lightning-gans: error:")]
    assert len(errors) == 1 and re.search(expected, errors[0]), stderr[-2000:]
    assert "Traceback" not in stderr
    assert not list((tmp_path / "run").rglob("*.ckpt"))
