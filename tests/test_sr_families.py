"""SRResNet, SRGAN and ESRGAN: training mechanics (order, frozen players, EMA, resume), learning a tiny image, per-set
validation scores, predict of 16-bit greyscale and RGBA files (tiled and self-ensembled), bf16 on CPU, initialisation
from a PSNR checkpoint or a BasicSR file, the VGG weights rule and one-line errors."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback, LightningDataModule, Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, Dataset

from datamodules.super_resolution import SuperResolutionDataModule
from lightning_gans.callbacks import PredictionWriter, SampleImages
from lightning_gans.ema import warmed_up_decay
from lightning_gans.errors import UserInputError
from lightning_gans.esrgan import ESRGAN
from lightning_gans.images import read_image, save_image
from lightning_gans.imresize import imresize
from lightning_gans.inference import self_ensemble
from lightning_gans.losses import relativistic_average_generator_loss
from lightning_gans.metrics import psnr_rgb, psnr_y
from lightning_gans.networks import MSRResNet, RRDBNet
from lightning_gans.srgan import SRGAN
from lightning_gans.srresnet import SRResNet
from lightning_gans.super_resolution import LR_SCHEDULES, SRInference, make_lr_schedule, super_resolve

TINY_G = dict(generator_features=8, generator_blocks=1, lpips=False)
TINY_D = dict(discriminator_features=4, discriminator_input_size=32, vgg_weights="random")
FAMILIES = {
    "SRResNet": (SRResNet, dict(generator="msrresnet", **TINY_G)),
    "SRResNet-rrdb-x2-grey": (SRResNet, dict(generator="rrdbnet", generator_growth=4, scale=2, channels=1, **TINY_G)),
    "SRGAN": (SRGAN, dict(generator="srresnet", discriminator="vgg_srgan", perceptual_layers={"relu2_2": 1.0},
                          **TINY_G, **TINY_D)),
    "SRGAN-msrgan-grey-unet": (SRGAN, dict(generator="msrresnet", discriminator="unet_sn", channels=1, scale=2,
                                           perceptual_layers={"conv2_2": 1.0}, **TINY_G, **TINY_D)),
    "ESRGAN": (ESRGAN, dict(generator="rrdbnet", generator_growth=4, discriminator="vgg_esrgan",
                            perceptual_layers={"conv2_2": 1.0}, **TINY_G, **TINY_D)),
}
GAN_FAMILIES = [name for name, (cls, _) in FAMILIES.items() if cls is not SRResNet]


def blocky(channels: int, lr_size: int, scale: int, seed: int) -> torch.Tensor:
    """A random HR image made of scale x scale blocks (so its LR determines it)."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(channels, lr_size, lr_size, generator=g)
    return base.repeat_interleave(scale, 1).repeat_interleave(scale, 2)  # (C, scale*lr, scale*lr)


class Crops(Dataset):
    """HR images and their MATLAB-bicubic LR, as the data module makes them."""

    def __init__(self, n: int, hr_size: int, scale: int, channels: int, seed: int = 0) -> None:
        self.hr = torch.stack([blocky(channels, hr_size // scale, scale, seed + i) for i in range(n)])
        self.lr = imresize(self.hr, scale=1 / scale).clamp(0, 1)

    def __len__(self) -> int:
        return len(self.hr)

    def __getitem__(self, i: int) -> dict:
        return {"lr": self.lr[i], "hr": self.hr[i], "name": f"{i:03d}", "bit_depth": torch.tensor(8)}


class TinySR(LightningDataModule):
    """In-memory SR data with two validation sets, shaped like SuperResolutionDataModule's batches."""

    def __init__(self, scale: int = 4, channels: int = 3, gt_size: int = 32, n: int = 8, batch_size: int = 2) -> None:
        super().__init__()
        self.scale, self.channels, self.gt_size, self.n, self.batch_size = scale, channels, gt_size, n, batch_size
        self.val_set_names = ["Alpha", "Beta"]

    def train_dataloader(self):
        data = Crops(self.n, self.gt_size, self.scale, self.channels)
        return DataLoader(data, batch_size=self.batch_size, shuffle=True, drop_last=True)

    def val_dataloader(self):
        return [DataLoader(Crops(2, 32, self.scale, self.channels, seed=100), batch_size=1),
                DataLoader(Crops(1, 48, self.scale, self.channels, seed=200), batch_size=1)]

    def test_dataloader(self):
        return self.val_dataloader()


def make(name: str, **overrides):
    cls, kwargs = FAMILIES[name]
    model = cls(**{**kwargs, **overrides})
    return model, TinySR(scale=model.hparams.scale, channels=model.hparams.channels)


def trainer(root, **kwargs) -> Trainer:
    defaults = dict(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                    enable_model_summary=False, default_root_dir=root, num_sanity_val_steps=0)
    return Trainer(**{**defaults, **kwargs})


def discriminators(model) -> list:
    return [model.discriminator] if hasattr(model, "discriminator") else []


# ---- shapes and one step ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", FAMILIES)
def test_forward_super_resolves_any_size(name):
    model, _ = make(name)
    channels, scale = model.hparams.channels, model.hparams.scale
    lr = torch.rand(2, channels, 7, 9)  # odd sizes: RRDBNet x2 pixel-unshuffles, so it is padded to 8 x 10
    sr = model(lr)
    assert sr.shape == (2, channels, scale * 7, scale * 9)
    assert sr.dtype == torch.float32 and 0 <= sr.min() and sr.max() <= 1
    assert model.generator(lr[..., :6, :8]).shape == (2, channels, scale * 6, scale * 8)


@pytest.mark.parametrize("name", FAMILIES)
def test_one_step_updates_both_players_in_basicsr_order_and_keeps_gradients_apart(name, tmp_path):
    torch.manual_seed(0)
    model, data = make(name)
    players = {"G": [model.generator], "D": discriminators(model)}
    before = {id(p): p.detach().clone() for nets in players.values() for net in nets for p in net.parameters()}
    seen = []  # (who stepped, G's gradients, D's gradients)
    original_step = torch.optim.Adam.step

    def grads(networks):
        return [None if p.grad is None else p.grad.clone() for net in networks for p in net.parameters()]

    def spy(opt, *args, **kwargs):
        params = {id(p) for group in opt.param_groups for p in group["params"]}
        who = "G" if params == {id(p) for p in model.generator.parameters()} else "D"
        seen.append((who, grads(players["G"]), grads(players["D"])))
        return original_step(opt, *args, **kwargs)

    torch.optim.Adam.step = spy
    try:
        trainer(tmp_path, max_steps=1, limit_val_batches=0).fit(model, data)
    finally:
        torch.optim.Adam.step = original_step
    assert [who for who, _, _ in seen] == (["G", "D"] if players["D"] else ["G"])  # BasicSR: G first, then D
    _, g_grads, d_grads_in_g_step = seen[0]
    assert all(g is not None for g in g_grads) and sum(bool(g.abs().sum() > 0) for g in g_grads) >= len(g_grads) - 1
    assert all(g is None for g in d_grads_in_g_step)  # D was frozen in G's step
    if players["D"]:
        _, g_grads_after, d_grads = seen[1]
        assert all(torch.equal(a, b) for a, b in zip(g_grads, g_grads_after))  # D's step left G alone
        assert all(g is not None for g in d_grads) and sum(bool(g.abs().sum() > 0) for g in d_grads) >= len(d_grads) - 1
    for net in players["G"] + players["D"]:
        assert any(not torch.equal(before[id(p)], p) for p in net.parameters()), type(net).__name__
    assert model.trainer.global_step == 1  # D's step is not counted


def test_esrgan_adversarial_term_is_basicsr_mean_form():
    """0.5 x losses.py's sum equals BasicSR's (BCE(C(x_r) - E C(x_f), 0) + BCE(C(x_f) - E C(x_r), 1)) / 2."""
    g = torch.Generator().manual_seed(0)
    fake, real = torch.randn(5, 1, generator=g), torch.randn(5, 1, generator=g)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    basicsr = (bce(real - fake.mean(), torch.zeros_like(real)) + bce(fake - real.mean(), torch.ones_like(fake))) / 2
    torch.testing.assert_close(0.5 * relativistic_average_generator_loss(fake, real), basicsr)


# ---- learning, EMA, schedules, resume --------------------------------------------------------------------------
def test_psnr_family_overfits_a_tiny_image(tmp_path):
    seed_everything(0)
    hr = blocky(3, 6, 4, seed=0)[None]  # (1, 3, 24, 24)
    lr = imresize(hr, scale=1 / 4).clamp(0, 1)

    class One(LightningDataModule):
        def train_dataloader(self):
            return DataLoader([{"lr": lr[0], "hr": hr[0]}] * 2, batch_size=2)

    adam = functools.partial(torch.optim.Adam, lr=5e-3, betas=(0.9, 0.99))
    model = SRResNet(generator_features=16, generator_blocks=1, ema_decay=None, lpips=False, generator_optimizer=adam,
                     lr_schedule="constant")
    bicubic = psnr_rgb(torch.nn.functional.interpolate(lr, scale_factor=4, mode="bicubic").clamp(0, 1), hr, 4).item()
    trainer(tmp_path, max_steps=120).fit(model, One())
    learned = psnr_rgb(model(lr), hr, 4).item()
    assert learned > 25 and learned > bicubic + 10, (bicubic, learned)


def test_generator_ema_follows_its_formula(tmp_path):
    model, data = make("SRResNet", ema_decay=0.9)
    snapshots = []

    class Snapshot(Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            snapshots.append({k: v.clone() for k, v in pl_module.generator.state_dict().items()})

    trainer(tmp_path, max_steps=2, limit_val_batches=0, callbacks=[Snapshot()]).fit(model, data)
    ema = model.generator_ema.averaged.module.state_dict()
    for key, value in ema.items():  # AveragedModel copies at the first update, then averages
        torch.testing.assert_close(value, 0.9 * snapshots[0][key] + 0.1 * snapshots[1][key], msg=key)
    assert any(not torch.equal(ema[k], snapshots[1][k]) for k in ema)



def test_generator_ema_warmup_follows_its_formula(tmp_path):
    model, data = make("SRResNet", ema_decay=0.999, ema_warmup=True)
    snapshots = []

    class Snapshot(Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            snapshots.append({k: v.clone() for k, v in pl_module.generator.state_dict().items()})

    trainer(tmp_path, max_steps=3, limit_val_batches=0, callbacks=[Snapshot()]).fit(model, data)
    # copy at update 0, then decay min(0.999, (1 + n) / (10 + n)): 2/11 at update 1, 3/12 at update 2
    ema = model.generator_ema.averaged.module.state_dict()
    for key, value in ema.items():
        if not value.is_floating_point():
            continue
        expected = snapshots[0][key]
        for n, snapshot in ((1, snapshots[1]), (2, snapshots[2])):
            decay = (1 + n) / (10 + n)
            expected = decay * expected + (1 - decay) * snapshot[key]
        torch.testing.assert_close(value, expected, msg=key)
    assert warmed_up_decay(0.999, 0) == pytest.approx(0.1) and warmed_up_decay(0.999, 80) == pytest.approx(0.9)
    assert warmed_up_decay(0.999, 8989) < 0.999 and warmed_up_decay(0.999, 8991) == 0.999
    assert warmed_up_decay(0.999, 10**6) == 0.999  # a long run ends at the constant decay

def test_lr_schedules_follow_basicsr_and_the_papers():
    def rates(name, steps, lr=2e-4):
        optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr)
        schedule = make_lr_schedule(name, optimizer)
        rates = {}
        for step in steps:  # LambdaLR: the rate after `step` scheduler steps
            schedule.last_epoch = step - 1
            optimizer.step()
            schedule.step()
            rates[step] = optimizer.param_groups[0]["lr"]
        return rates

    cosine = rates("cosine_restarts", [0, 125_000, 250_000, 250_001, 1_000_000])
    assert cosine[0] == pytest.approx(2e-4) and cosine[250_000] == pytest.approx(1e-7)  # the cycle's end is its floor
    assert cosine[125_000] == pytest.approx(1e-7 + 0.5 * (2e-4 - 1e-7))
    assert cosine[250_001] == pytest.approx(2e-4, rel=1e-6) and cosine[1_000_000] == pytest.approx(1e-7)
    multistep = rates("multistep", [49_999, 50_000, 300_000], lr=1e-4)
    assert multistep == pytest.approx({49_999: 1e-4, 50_000: 5e-5, 300_000: 1e-4 / 16})
    assert rates("srgan", [99_999, 100_000], lr=1e-4) == pytest.approx({99_999: 1e-4, 100_000: 1e-5})
    assert set(LR_SCHEDULES) == {"cosine_restarts", "multistep", "srgan", "constant"}


@pytest.mark.parametrize("name", ["SRResNet", "SRGAN", "ESRGAN"])
def test_resume_from_end_of_epoch_is_bit_identical_with_ema_and_schedules(name, tmp_path):
    step_lr = functools.partial(torch.optim.lr_scheduler.StepLR, step_size=2, gamma=0.5)
    schedulers = ({"generator_lr_scheduler": step_lr} if name == "SRResNet" else
                  {"generator_lr_scheduler": step_lr, "discriminator_lr_scheduler": step_lr})

    def fit(root, max_epochs, ckpt_path=None, callbacks=()):
        model, _ = make(name, ema_decay=0.9, **schedulers)
        data = TinySR(n=4)  # 2 generator steps per epoch
        run = trainer(root, max_epochs=max_epochs, limit_val_batches=0, callbacks=list(callbacks),
                      enable_checkpointing=bool(callbacks))
        run.fit(model, data, ckpt_path=ckpt_path)
        return run

    seed_everything(3)
    uninterrupted = fit(tmp_path / "a", 3)
    seed_everything(3)
    fit(tmp_path / "b", 1, callbacks=[ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, filename="{epoch}")])
    torch.rand(50)
    seed_everything(3)
    resumed = fit(tmp_path / "c", 3, ckpt_path=tmp_path / "ckpt" / "epoch=0.ckpt")

    a, b = uninterrupted.lightning_module, resumed.lightning_module
    state_a, state_b = a.state_dict(), b.state_dict()
    assert any(key.startswith("generator_ema.") for key in state_a) and state_a.keys() == state_b.keys()
    for key in state_a:
        torch.testing.assert_close(state_a[key], state_b[key], rtol=0, atol=0, msg=key)
    assert not any(key.startswith("perceptual.") for key in state_a)  # the fixed VGG stays out of checkpoints
    for opt_a, opt_b in zip(uninterrupted.optimizers, resumed.optimizers):
        assert opt_a.param_groups[0]["lr"] == opt_b.param_groups[0]["lr"] < opt_a.defaults["lr"]  # decayed
        for (ka, va), (kb, vb) in zip(opt_a.state_dict()["state"].items(), opt_b.state_dict()["state"].items()):
            for field in va:
                torch.testing.assert_close(va[field], vb[field], rtol=0, atol=0)
    for sa, sb in zip(uninterrupted.lr_scheduler_configs, resumed.lr_scheduler_configs):
        assert sa.scheduler.state_dict() == sb.scheduler.state_dict()
    assert uninterrupted.global_step == resumed.global_step == 6  # 2 generator steps per epoch


@pytest.mark.parametrize("name", ["SRResNet", "ESRGAN"])
def test_bf16_mixed_trains_on_cpu(name, tmp_path):
    torch.manual_seed(0)
    model, data = make(name)
    before = [p.detach().clone() for p in model.generator.parameters()]
    run = trainer(tmp_path, max_steps=2, precision="bf16-mixed", limit_val_batches=1)
    run.fit(model, data)
    assert all(torch.isfinite(v) for k, v in run.callback_metrics.items() if k.startswith("train/"))
    (alpha, beta) = run.validate(model, data, verbose=False)  # inference under bf16 autocast too
    assert torch.isfinite(torch.tensor([alpha["val/Alpha/psnr_y"], beta["val/Beta/ssim_y"]])).all()
    assert any(not torch.equal(a, p) for a, p in zip(before, model.generator.parameters()))


def test_float16_inference_falls_back_to_float32_where_it_overflows():
    network = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 1, bias=False), torch.nn.Conv2d(1, 1, 1, bias=False))
    torch.nn.init.constant_(network[0].weight, 1e5)  # 0.5 * 1e5 overflows float16 (max 65504)
    torch.nn.init.constant_(network[1].weight, 1e-5)
    inference = SRInference(scale=1, multiple=1, tile_size=None, tile_overlap=0, tile_batch_size=1)
    lr = torch.full((1, 1, 4, 4), 0.5)
    with torch.autocast("cpu", dtype=torch.float16):
        assert not torch.isfinite(network(lr)).all()  # the float16 pass really overflows
        with pytest.warns(UserWarning, match="recomputed in float32"):
            sr = super_resolve(network, lr, inference)
    torch.testing.assert_close(sr, lr)  # float32 result, not the clamped inf (1.0)


# ---- validation, test, panels ----------------------------------------------------------------------------------
def write_sets(root: Path, channels: int = 3, bit_depth: int = 8) -> dict[str, str]:
    """Two validation sets of real PNG files (blocky images, on the file grid), HR sides multiples of 4."""
    sets = {"Alpha": [(32, 40), (36, 32)], "Beta": [(44, 44)]}
    folders = {}
    for set_index, (name, sizes) in enumerate(sets.items()):
        for i, (h, w) in enumerate(sizes):
            image = blocky(channels, max(h, w) // 4, 4, seed=10 * set_index + i)[:, :h, :w]
            top = 2**bit_depth - 1
            save_image((image * top).round() / top, root / name / f"img{i}.png", bit_depth=bit_depth)
        folders[name] = str(root / name)
    return folders


def test_validation_logs_every_set_under_its_name_with_basicsr_scores(tmp_path, caplog):
    hub = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))  # no AlexNet weights here: LPIPS must switch itself off
    try:
        model = SRResNet(**{**FAMILIES["SRResNet"][1], "lpips": True})
        data = SuperResolutionDataModule(val_sets=write_sets(tmp_path / "val"), scale=4)
        with caplog.at_level(logging.INFO):
            results = trainer(tmp_path).validate(model, data, verbose=False)
    finally:
        torch.hub.set_dir(hub)
    keys = set().union(*results)
    assert {f"val/{s}/{m}" for s in ("Alpha", "Beta") for m in ("psnr_y", "ssim_y", "psnr_rgb")} == keys
    notices = [record.getMessage() for record in caplog.records if "LPIPS off" in record.getMessage()]
    assert len(notices) == 1 and "never downloaded" in notices[0]
    # the logged Beta PSNR is the EMA generator's, rounded to 8 bits, Y channel, crop_border = scale
    data.setup("validate")
    item = data.val_dataloader()[1].dataset[0]
    sr = (model(item["lr"][None]) * 255).round() / 255
    expected = psnr_y(sr, item["hr"][None], crop_border=4).item()
    assert results[1]["val/Beta/psnr_y"] == pytest.approx(expected, abs=1e-4)


def test_test_stage_self_ensembles_and_logs_per_set(tmp_path):
    model, data = make("SRResNet", self_ensemble=True)
    results = trainer(tmp_path).test(model, data, verbose=False)
    assert {"test/Alpha/psnr_y", "test/Beta/ssim_y"} <= set().union(*results)
    lr = torch.rand(1, 3, 9, 11)
    ensembled = super_resolve(model.generator_ema, lr, model.inference, ensemble=True)
    torch.testing.assert_close(ensembled, self_ensemble(model.generator_ema, lr).clamp(0, 1))
    assert not torch.allclose(ensembled, model(lr))  # the 8 outputs differ: the option changes the result


@pytest.mark.parametrize("name", ["SRResNet", "SRGAN-msrgan-grey-unet"])
def test_panels_show_lr_sr_hr_crops(name, tmp_path):
    model, data = make(name)
    run = trainer(tmp_path, max_steps=1, limit_val_batches=0, callbacks=[SampleImages(every_n_steps=1, num_samples=4)])
    run.fit(model, data)
    grid, _ = read_image(tmp_path / "samples" / "step_0000001.png")  # SampleImages drew the panels
    assert grid.shape[0] == 3 and grid.shape[2] == 3 * 32 + 4 * 2  # LR | SR | HR with 2-pixel padding
    images, per_row = model.panels(64)
    scale = model.hparams.scale
    assert per_row == 3 and images.shape == (6, 3, 32, 32)  # 2 validation images, 32 x 32 HR crops
    assert -1 <= images.min() and images.max() <= 1
    item = data.val_dataloader()[0].dataset[0]
    hr = item["hr"][None]
    torch.testing.assert_close((images[2:3, :1] + 1) / 2, hr[:, :1])  # the HR crop (32 x 32 images: all of it)
    lr_up = torch.nn.functional.interpolate(item["lr"][None], scale_factor=scale, mode="nearest")
    torch.testing.assert_close((images[0:1, :1] + 1) / 2, lr_up[:, :1])
    sr = model(item["lr"][None])  # the EMA generator's output
    torch.testing.assert_close((images[1:2] + 1) / 2, sr.expand(-1, 3, -1, -1), atol=1e-6, rtol=0)


# ---- predict ---------------------------------------------------------------------------------------------------
def test_predict_dir_writes_16_bit_greyscale_at_16_bits(tmp_path):
    torch.manual_seed(0)
    model = SRResNet(channels=1, **TINY_G)
    images = {}
    for stem, (h, w) in {"a": (7, 9), "b": (10, 6)}.items():
        images[stem] = torch.randint(0, 65536, (1, h, w)).float() / 65535
        save_image(images[stem], tmp_path / "in" / f"{stem}.tif", bit_depth=16)
    data = SuperResolutionDataModule(predict_dir=str(tmp_path / "in"), channels=1, scale=4, predict_batch_size=2)
    trainer(tmp_path, callbacks=[PredictionWriter(output_dir=str(tmp_path / "out"))]).predict(model, data)
    for stem, lr in images.items():
        written, depth = read_image(tmp_path / "out" / f"{stem}.tif")  # the input's name and format
        assert depth == 16 and written.shape == (1, 4 * lr.shape[1], 4 * lr.shape[2])
        torch.testing.assert_close(written, model(lr[None])[0], atol=0.51 / 65535, rtol=0)


class RawFiles(Dataset):
    """Predict batches that keep each file's own channels (greyscale, RGBA), one image per batch."""

    def __init__(self, folder: Path) -> None:
        self.paths = sorted(folder.iterdir())

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> dict:
        image, depth = read_image(self.paths[i])
        return {"lr": image[None], "name": [self.paths[i].stem], "bit_depth": torch.tensor([depth])}


def test_predict_keeps_greyscale_and_upscales_alpha_beside_the_network(tmp_path):
    torch.manual_seed(0)
    model = SRResNet(**TINY_G)  # an RGB model
    rgba = torch.randint(0, 256, (4, 8, 10)).float() / 255
    grey = torch.randint(0, 65536, (1, 9, 7)).float() / 65535
    save_image(rgba, tmp_path / "in" / "rgba.png")
    save_image(grey, tmp_path / "in" / "grey.png", bit_depth=16)
    loader = DataLoader(RawFiles(tmp_path / "in"), batch_size=None)
    trainer(tmp_path, callbacks=[PredictionWriter(output_dir=str(tmp_path / "out"))]).predict(model, loader)

    written, depth = read_image(tmp_path / "out" / "rgba.png")
    assert depth == 8 and written.shape == (4, 32, 40)
    torch.testing.assert_close(written[:3], model(rgba[None, :3])[0], atol=0.51 / 255, rtol=0)
    alpha = imresize(rgba[None, 3:], scale=4).clamp(0, 1)[0]  # bicubic, not the network
    torch.testing.assert_close(written[3:], alpha, atol=0.51 / 255, rtol=0)

    written, depth = read_image(tmp_path / "out" / "grey.png")
    assert depth == 16 and written.shape == (1, 36, 28)
    expected = model(grey[None].expand(-1, 3, -1, -1)).mean(dim=1)  # greyscale in, greyscale out
    torch.testing.assert_close(written, expected, atol=0.51 / 65535, rtol=0)


def receptive_radius(network: torch.nn.Module, scale: int, size: int = 33) -> int:
    """LR pixels, at most, between an output pixel and the inputs it depends on (measured by a gradient)."""
    x = torch.zeros(1, network.in_channels, size, size, requires_grad=True)
    centre = size // 2
    network(x)[0, :, scale * centre : scale * centre + scale, scale * centre : scale * centre + scale].sum().backward()
    rows, cols = x.grad[0].abs().sum(0).nonzero().unbind(1)
    return int(max(centre - rows.min(), rows.max() - centre, centre - cols.min(), cols.max() - centre))


def test_tiled_predict_equals_whole_image_for_an_overlap_past_the_receptive_radius():
    torch.manual_seed(0)
    whole = SRResNet(**TINY_G)
    for p in whole.generator.parameters():  # away from BasicSR's x0.1 initialisation, so the residual branch counts
        p.data.normal_(0, 0.2)
    whole.generator_ema.averaged.module.load_state_dict(whole.generator.state_dict())
    radius = receptive_radius(whole.generator, scale=4)
    assert radius == 5  # conv_first, 2 block convs, upconv1 at LR (4); upconv2 at 2x, conv_hr, conv_last at 4x (1)
    lr = torch.rand(1, 3, 61, 75)
    exact = SRResNet(**TINY_G, tile_size=44, tile_overlap=20, tile_batch_size=3)  # 20 // 4 = 5 >= 5
    exact.load_state_dict(whole.state_dict())
    # float32 summation order differs between tiles and the whole image (and between CPUs: 1.1e-5 seen on AMD Zen 3)
    torch.testing.assert_close(exact(lr), whole(lr), atol=3e-5, rtol=0)
    seams = SRResNet(**TINY_G, tile_size=16, tile_overlap=4)  # 4 // 4 = 1 < 5: tiles miss context
    seams.load_state_dict(whole.state_dict())
    assert (seams(lr) - whole(lr)).abs().max() > 1e-2


# ---- initialisation, VGG weights, errors -----------------------------------------------------------------------
def test_pretrained_generator_from_a_psnr_checkpoint_takes_its_ema_weights(tmp_path):
    psnr, data = make("SRResNet", generator="rrdbnet", generator_growth=4, ema_decay=0.5)
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", filename="psnr")
    trainer(tmp_path, max_steps=2, limit_val_batches=0, enable_checkpointing=True, callbacks=[checkpoint]).fit(psnr, data)
    path = str(tmp_path / "ckpt" / "psnr.ckpt")
    gan = ESRGAN(**{**FAMILIES["ESRGAN"][1], "pretrained_generator": path})
    ema = psnr.generator_ema.averaged.module.state_dict()
    assert any(not torch.equal(ema[k], v) for k, v in psnr.generator.state_dict().items())  # EMA != G here
    for key, value in gan.generator.state_dict().items():
        torch.testing.assert_close(value, ema[key], rtol=0, atol=0, msg=key)
    for key, value in gan.generator_ema.averaged.module.state_dict().items():  # the GAN's EMA starts from it too
        torch.testing.assert_close(value, ema[key], rtol=0, atol=0, msg=key)
    with pytest.raises(UserInputError, match="does not hold a generator='rrdbnet' of this size"):
        ESRGAN(**{**FAMILIES["ESRGAN"][1], "generator_features": 16, "pretrained_generator": path})


def test_pretrained_generator_from_basicsr_files(tmp_path):
    rrdb = RRDBNet(scale=4, num_features=8, num_blocks=1, growth_channels=4)
    ema = {k: v + 0.01 for k, v in rrdb.state_dict().items()}
    torch.save({"params": rrdb.state_dict(), "params_ema": ema}, tmp_path / "RRDB_PSNR_tiny.pth")
    gan = ESRGAN(**{**FAMILIES["ESRGAN"][1], "pretrained_generator": str(tmp_path / "RRDB_PSNR_tiny.pth")})
    for key, value in gan.generator.state_dict().items():
        torch.testing.assert_close(value, ema[key], rtol=0, atol=0, msg=key)  # params_ema preferred, as BasicSR

    msr = MSRResNet(scale=4, num_features=8, num_blocks=1)
    torch.save({"params": msr.state_dict()}, tmp_path / "MSRResNet_tiny.pth")
    srgan = SRGAN(**{**FAMILIES["SRGAN"][1], "generator": "msrresnet",
                     "pretrained_generator": str(tmp_path / "MSRResNet_tiny.pth")})
    for key, value in srgan.generator.state_dict().items():
        torch.testing.assert_close(value, msr.state_dict()[key], rtol=0, atol=0, msg=key)
    with pytest.raises(UserInputError, match="holds MSRResNet"):
        ESRGAN(**{**FAMILIES["ESRGAN"][1], "pretrained_generator": str(tmp_path / "MSRResNet_tiny.pth")})


@pytest.mark.parametrize("name", ["SRGAN", "ESRGAN"])
def test_default_perceptual_loss_refuses_to_train_without_vgg_weights(name, tmp_path):
    hub = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "empty_hub"))
    try:
        model, data = make(name, vgg_weights="imagenet", perceptual_layers=None)  # the default: ImageNet VGG19
        trainer(tmp_path).validate(model, data, verbose=False)  # evaluating needs no VGG
        with pytest.raises(UserInputError, match="VGG19 ImageNet weights not found .* never downloaded"):
            trainer(tmp_path, max_steps=1).fit(model, data)
        assert model.perceptual is None
    finally:
        torch.hub.set_dir(hub)


@pytest.mark.parametrize(
    "cls, kwargs, message",
    [
        (SRResNet, dict(generator="rrdbnet", scale=3), "rrdbnet builds x4 and x2"),
        (SRResNet, dict(tile_size=64, tile_overlap=32), "must be > 2 \\* model.tile_overlap"),
        (SRResNet, dict(pixel_loss="l2"), "pixel_loss must be l1 or mse"),
        (ESRGAN, dict(adversarial_weight=-1.0), "adversarial_weight must be >= 0"),
        (SRGAN, dict(discriminator_input_size=100), "input_size must be a multiple of 16"),
        (ESRGAN, dict(perceptual_layers={"conv6_1": 1.0}), "'conv6_1' is not a VGG19 layer"),
    ],
)
def test_bad_arguments_are_one_clear_error(cls, kwargs, message):
    with pytest.raises(UserInputError, match=message):
        cls(**{"generator_features": 8, "generator_blocks": 1, **kwargs})


@pytest.mark.parametrize(
    "overrides, message",
    [(dict(scale=2), "data's scale is 2 but model.scale is 4"),
     (dict(gt_size=64), "data's gt_size is 64 but model.discriminator_input_size is 32")],
)
def test_data_that_does_not_fit_the_model_is_one_clear_error(overrides, message, tmp_path):
    model, _ = make("ESRGAN")
    data = TinySR(**{"scale": 4, "gt_size": 32, **overrides})
    with pytest.raises(UserInputError, match=message):
        trainer(tmp_path, max_steps=1).fit(model, data)


@pytest.mark.parametrize("family, kwargs", [
    (SRResNet, {"generator": "msrresnet", "generator_blocks": 2, "generator_features": 16, "lpips": False}),
    (ESRGAN, {"generator_blocks": 1, "generator_features": 16, "generator_growth": 8, "discriminator_features": 8,
              "vgg_weights": "random", "lpips": False}),
], ids=["SRResNet", "ESRGAN"])  # fmt: skip
def test_throughput_benchmarks_raw_loop_is_the_familys_math_bit_for_bit(family, kwargs, tmp_path):
    # benchmarks/sr_throughput.py times each family against a raw loop of "the same math": that holds only while
    # the raw loop runs the family's operations in the family's order
    from benchmarks import sr_throughput as bench

    case = bench.Case(family, kwargs, 2, "", {}, dict)  # batch 2; the BasicSR fields are not used here
    batches = bench.make_batches(case, bench.SAME_MATH_BATCHES)
    assert bench.same_math_difference(case, batches, str(tmp_path)) == 0.0
