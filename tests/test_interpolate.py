"""Network interpolation (ESRGAN Sec. 3.4): the weighted sum per key, fit checkpoints (generator and EMA), released
weight files in BasicSR and ESRGAN-release layouts, mixes of both, the outputs as --ckpt_path and
--model.pretrained_generator, and one-line errors for mismatched architectures."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from lightning_gans.errors import UserInputError
from lightning_gans.interpolate import interpolate_files, interpolate_state_dicts, main, read_generator_weights
from lightning_gans.networks import MSRResNet, RRDBNet, load_sr_weights
from lightning_gans.srgan import SRGAN
from lightning_gans.srresnet import SRResNet
from tests.test_sr_families import TinySR, trainer

TINY = dict(generator_features=8, generator_blocks=1, lpips=False, ema_decay=0.5)
TINY_GAN = dict(discriminator="vgg_esrgan", discriminator_features=4, discriminator_input_size=32,
                vgg_weights="random", perceptual_layers={"conv2_2": 1.0}, pixel_loss="l1", pixel_weight=1e-2)
GEN, EMA = "generator.", "generator_ema.averaged.module."


def fit(model, root: Path, name: str) -> Path:
    """Two training steps of ``model`` on tiny data; the checkpoint's path."""
    checkpoint = ModelCheckpoint(dirpath=root, filename=name)
    trainer(root, max_steps=2, limit_val_batches=0, enable_checkpointing=True, callbacks=[checkpoint]).fit(
        model, TinySR(scale=4, channels=3))
    return root / f"{name}.ckpt"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """A PSNR-stage MSRResNet checkpoint and an SRGAN (MSRGAN-style) checkpoint fine-tuned from it."""
    root = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    psnr = fit(SRResNet(generator="msrresnet", **TINY), root, "psnr")
    gan = fit(SRGAN(generator="msrresnet", pretrained_generator=str(psnr), **TINY, **TINY_GAN), root, "gan")
    return {"psnr": psnr, "gan": gan}


def state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def part(state_dict: dict, prefix: str) -> dict:
    return {key[len(prefix):]: value for key, value in state_dict.items() if key.startswith(prefix)}


def to_esrgan_release_names(state_dict: dict) -> dict:
    """BasicSR RRDBNet names -> xinntao/ESRGAN's RRDBNet_arch.py names (RRDB_ESRGAN_x4.pth)."""
    renames = [(r"^body\.(\d+)\.rdb([123])\.", r"RRDB_trunk.\1.RDB\2."), (r"^conv_body\.", "trunk_conv."),
               (r"^conv_up([12])\.", r"upconv\1."), (r"^conv_hr\.", "HRconv.")]
    out = {}
    for key, value in state_dict.items():
        for pattern, replacement in renames:
            key = re.sub(pattern, replacement, key)
        out[key] = value
    return out


def test_each_key_is_the_weighted_sum_and_counters_are_the_gans():
    psnr = {"w": torch.tensor([0.0, 1.0, 2.0]), "b": torch.tensor([4.0], dtype=torch.float16),
            "bn.num_batches_tracked": torch.tensor(7)}
    gan = {"w": torch.tensor([10.0, 1.0, -2.0]), "b": torch.tensor([8.0]), "bn.num_batches_tracked": torch.tensor(9)}
    mixed = interpolate_state_dicts(psnr, gan, 0.8)
    torch.testing.assert_close(mixed["w"], torch.tensor([8.0, 1.0, -1.2]))  # 0.2 * psnr + 0.8 * gan, by hand
    assert mixed["b"].dtype == torch.float32 and mixed["b"].item() == pytest.approx(7.2)  # wider dtype kept
    assert mixed["bn.num_batches_tracked"].item() == 9
    for alpha, expected in ((0.0, psnr), (1.0, gan)):  # the ends are the two models exactly
        ends = interpolate_state_dicts(psnr, gan, alpha)
        assert torch.equal(ends["w"], expected["w"])
    with pytest.raises(UserInputError, match=r"alpha must be in \[0, 1\]"):
        interpolate_state_dicts(psnr, gan, 1.5)


def test_fit_checkpoints_interpolate_generator_and_ema_and_the_output_is_a_checkpoint(checkpoints, tmp_path, capsys):
    out = tmp_path / "interp" / "alpha08.ckpt"
    main(["--psnr", str(checkpoints["psnr"]), "--gan", str(checkpoints["gan"]), "--alpha", "0.8", "--out", str(out)])
    assert "wrote" in capsys.readouterr().out
    psnr, gan, mixed = state(checkpoints["psnr"]), state(checkpoints["gan"]), state(out)
    assert set(mixed) == set(gan)
    for prefix in (GEN, EMA):
        low, high, got = part(psnr, prefix), part(gan, prefix), part(mixed, prefix)
        assert any(not torch.equal(low[k], high[k]) for k in low)  # the GAN stage moved the weights
        for key in low:
            torch.testing.assert_close(got[key], 0.2 * low[key] + 0.8 * high[key], rtol=0, atol=1e-7, msg=key)
    for key in gan:
        if key.startswith("discriminator."):
            assert torch.equal(mixed[key], gan[key])  # only the generator is interpolated

    # usable as a checkpoint: load_from_checkpoint, and as --ckpt_path (here Trainer.validate's ckpt_path)
    model = SRGAN.load_from_checkpoint(out)
    reference = MSRResNet(scale=4, num_features=8, num_blocks=1)
    reference.load_state_dict(part(mixed, EMA))
    lr = torch.rand(1, 3, 9, 11)
    torch.testing.assert_close(model(lr), reference(lr).clamp(0, 1))
    trainer(tmp_path).validate(SRGAN(generator="msrresnet", **TINY, **TINY_GAN), TinySR(), ckpt_path=out)
    # and as --model.pretrained_generator: its EMA weights
    started = SRResNet(generator="msrresnet", pretrained_generator=str(out), **TINY)
    for key, value in started.generator.state_dict().items():
        assert torch.equal(value, part(mixed, EMA)[key])


def test_weight_files_in_two_layouts_give_basicsr_weights(tmp_path):
    torch.manual_seed(0)
    psnr_net, gan_net = (RRDBNet(scale=4, num_features=8, num_blocks=1, growth_channels=4) for _ in range(2))
    torch.save({"params": psnr_net.state_dict()}, tmp_path / "RRDB_PSNR_tiny.pth")  # BasicSR layout
    torch.save(to_esrgan_release_names(gan_net.state_dict()), tmp_path / "RRDB_ESRGAN_tiny.pth")  # ESRGAN release
    out = tmp_path / "interp.pth"
    message = interpolate_files(tmp_path / "RRDB_PSNR_tiny.pth", tmp_path / "RRDB_ESRGAN_tiny.pth", 0.6, out)
    assert "BasicSR-style" in message
    saved = torch.load(out, weights_only=True)
    assert set(saved) == {"params", "params_ema"}
    loaded = RRDBNet(scale=4, num_features=8, num_blocks=1, growth_channels=4)
    assert load_sr_weights(loaded, out) == "basicsr"
    low, high = psnr_net.state_dict(), gan_net.state_dict()
    for key, value in loaded.state_dict().items():
        torch.testing.assert_close(value, 0.4 * low[key] + 0.6 * high[key], rtol=0, atol=1e-7, msg=key)


def test_a_checkpoint_and_a_weight_file_mix(checkpoints, tmp_path):
    gan_net = MSRResNet(scale=4, num_features=8, num_blocks=1)
    torch.save({"params_ema": gan_net.state_dict()}, tmp_path / "MSRGAN_tiny.pth")
    out = tmp_path / "mixed.ckpt"
    interpolate_files(checkpoints["psnr"], tmp_path / "MSRGAN_tiny.pth", 0.5, out)
    psnr, mixed = state(checkpoints["psnr"]), state(out)
    high = gan_net.state_dict()
    for prefix in (GEN, EMA):  # the file's one set of weights stands in for both of the checkpoint's
        for key, value in part(mixed, prefix).items():
            torch.testing.assert_close(value, 0.5 * part(psnr, prefix)[key] + 0.5 * high[key], rtol=0, atol=1e-7)
    assert read_generator_weights(out, "--gan").checkpoint is not None  # the PSNR checkpoint's copy


def test_mismatched_architectures_are_one_line_and_write_nothing(checkpoints, tmp_path, capsys):
    rrdb = RRDBNet(scale=4, num_features=8, num_blocks=1, growth_channels=4)
    torch.save({"params": rrdb.state_dict()}, tmp_path / "rrdb.pth")
    out = tmp_path / "never.ckpt"
    with pytest.raises(SystemExit) as exit_:
        main(["--psnr", str(checkpoints["psnr"]), "--gan", str(tmp_path / "rrdb.pth"), "--alpha", "0.5",
              "--out", str(out)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "hold different architectures" in err and "rrdb.pth" in err
    assert not out.exists() and not list(tmp_path.glob("*.partial"))

    torch.manual_seed(1)
    wide = fit(SRResNet(generator="msrresnet", **{**TINY, "generator_features": 16}), tmp_path, "wide")
    with pytest.raises(UserInputError, match="generator_features=8 but --gan .* has generator_features=16"):
        interpolate_files(checkpoints["psnr"], wide, 0.5, out)
    smaller = MSRResNet(scale=4, num_features=8, num_blocks=2)
    torch.save({"params": smaller.state_dict()}, tmp_path / "two_blocks.pth")
    with pytest.raises(UserInputError, match="hold different architectures: only --gan"):
        interpolate_files(checkpoints["psnr"], tmp_path / "two_blocks.pth", 0.5, out)
    with pytest.raises(UserInputError, match="--psnr: weight file not found"):
        interpolate_files(tmp_path / "missing.pth", tmp_path / "rrdb.pth", 0.5, out)
    with pytest.raises(UserInputError, match="--alpha must be in"):
        interpolate_files(checkpoints["psnr"], checkpoints["gan"], -0.1, out)
    with pytest.raises(UserInputError, match="is the --gan file"):
        interpolate_files(checkpoints["psnr"], checkpoints["gan"], 0.5, checkpoints["gan"])
    assert not out.exists()
