"""Resume, mixed precision and the Lightning behaviours the training steps rely on."""

from __future__ import annotations

import functools

import pytest
import torch
from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint

from lightning_gans import CGAN, DCGAN, GAN
from lightning_gans.training import epoch_seed, latent_noise
from tests.test_families import TinyData


def build(family: str):
    """A family with everything resume must restore: EMA, LR schedulers on both players, dropout/BN, noise."""
    scheduler = functools.partial(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.5)
    common = dict(fid_features="none", ema_decay=0.9, generator_lr_scheduler=scheduler, discriminator_lr_scheduler=scheduler)
    if family == "GAN":  # maxout D with dropout draws from the global RNG
        return GAN(sample_shape=[1, 8, 8], latent_dim=4, generator_hidden=[16], discriminator_hidden=[8], **common)
    if family == "CGAN":
        return CGAN(num_classes=3, sample_shape=[1, 8, 8], latent_dim=4, generator_hidden=[8, 8], discriminator_hidden=[8, 8], **common)
    return DCGAN(channels=1, image_size=8, latent_dim=4, generator_width=4, discriminator_width=4, **common)


def fit(tmp_path, model, max_epochs, ckpt_path=None, **kwargs):
    trainer = Trainer(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=tmp_path, max_epochs=max_epochs, num_sanity_val_steps=0, **kwargs,
    )
    trainer.fit(model, TinyData(model.sample_shape, n=24, batch_size=4), ckpt_path=ckpt_path)
    return trainer


def assert_same_training_state(a: Trainer, b: Trainer) -> None:
    for (name, x), (_, y) in zip(a.lightning_module.state_dict().items(), b.lightning_module.state_dict().items()):
        torch.testing.assert_close(x, y, rtol=0, atol=0, msg=f"{name} differs")
    for opt_a, opt_b in zip(a.optimizers, b.optimizers):
        for state_a, state_b in zip(opt_a.state.values(), opt_b.state.values()):
            for key in state_a:
                torch.testing.assert_close(state_a[key], state_b[key], rtol=0, atol=0)
        assert opt_a.param_groups[0]["lr"] == opt_b.param_groups[0]["lr"]
    assert a.global_step == b.global_step


@pytest.mark.parametrize("family", ["GAN", "DCGAN", "CGAN"])
def test_resume_from_end_of_epoch_is_bit_identical(family, tmp_path):
    seed_everything(7)
    uninterrupted = fit(tmp_path / "a", build(family), max_epochs=3)

    seed_everything(7)
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1, filename="{epoch}")
    fit(tmp_path / "b", build(family), max_epochs=1, callbacks=[checkpoints])
    torch.rand(100)  # the resumed process's RNG is somewhere else entirely
    seed_everything(7)
    resumed = fit(tmp_path / "c", build(family), max_epochs=3, ckpt_path=tmp_path / "ckpt" / "epoch=0.ckpt")

    assert uninterrupted.global_step == 18  # 6 batches x 3 epochs, one generator step each
    assert_same_training_state(uninterrupted, resumed)


def test_resume_from_mid_epoch_restores_counters_and_states(tmp_path):
    seed_everything(3)
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_train_steps=4, filename="{step}")
    fit(tmp_path / "a", build("DCGAN"), max_epochs=1, callbacks=[checkpoints])  # 6 steps, saved at step 4
    state = torch.load(tmp_path / "ckpt" / "step=4.ckpt", weights_only=False)
    assert state["global_step"] == 4
    assert int(state["state_dict"]["generator_ema.averaged.n_averaged"]) == 4

    seed_everything(3)
    model = build("DCGAN")
    resumed = fit(tmp_path / "b", model, max_epochs=2, ckpt_path=tmp_path / "ckpt" / "step=4.ckpt")
    # Lightning finishes the interrupted epoch with its 2 remaining batches, drawn from a new iterator over the
    # data (README: "Resuming"), then runs epoch 1; counters, optimizer, EMA and schedulers go on
    assert resumed.global_step == 4 + 2 + 6
    opt_g, opt_d = resumed.optimizers
    assert opt_g.state[next(model.generator.parameters())]["step"] == 12
    assert opt_d.state[next(model.discriminator.parameters())]["step"] == 12
    assert int(model.generator_ema.averaged.n_averaged) == 12
    assert opt_g.param_groups[0]["lr"] == pytest.approx(2e-4 * 0.5**2)  # stepped after epochs 0 and 1


def test_bf16_mixed_precision_trains_on_cpu(tmp_path):
    seed_everything(0)
    model = build("DCGAN")
    before = [p.detach().clone() for p in model.parameters()]
    trainer = fit(tmp_path, model, max_epochs=1, precision="bf16-mixed")
    assert trainer.global_step == 6
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_latent_noise_differs_per_rank_and_batch_and_repeats():
    class Fake:
        device = torch.device("cpu")
        current_epoch = 0

        def __init__(self, rank):
            self.global_rank = rank

    seed_everything(1)
    a = latent_noise(Fake(0), (4, 3), batch_idx=0)
    assert torch.equal(a, latent_noise(Fake(0), (4, 3), batch_idx=0))
    assert not torch.equal(a, latent_noise(Fake(1), (4, 3), batch_idx=0))
    assert not torch.equal(a, latent_noise(Fake(0), (4, 3), batch_idx=1))
    assert epoch_seed(0) != epoch_seed(1)


def test_non_finite_loss_keeps_the_last_good_checkpoint(tmp_path):
    from lightning.pytorch import Callback

    from lightning_gans.training import NonFiniteLossError

    class PoisonDiscriminator(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if trainer.global_step == 3:
                with torch.no_grad():
                    next(pl_module.discriminator.parameters()).fill_(float("nan"))

    seed_everything(0)
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=1, save_last=True)
    with pytest.raises(NonFiniteLossError, match="loss_d is nan at generator step 3"):
        fit(tmp_path, build("DCGAN"), max_epochs=2, callbacks=[checkpoints, PoisonDiscriminator()])
    last = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=False)
    assert last["global_step"] == 3
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values() if v.is_floating_point())


def test_optimizers_and_schedulers_from_yaml_and_paper_defaults(tmp_path):
    from lightning.pytorch import LightningDataModule, LightningModule

    from lightning_gans.cli import GanCLI

    config = tmp_path / "opt.yaml"
    config.write_text(
        """
model:
  class_path: lightning_gans.DCGAN
  init_args:
    image_size: 28
    generator_optimizer:
      class_path: torch.optim.SGD
      init_args: {lr: 0.1, momentum: 0.5}
    generator_lr_scheduler:
      class_path: torch.optim.lr_scheduler.StepLR
      init_args: {step_size: 10, gamma: 0.1}
data:
  class_path: datamodules.GaussianMixtureDataModule
"""
    )
    cli = GanCLI(LightningModule, LightningDataModule, subclass_mode_model=True, subclass_mode_data=True,
                 auto_configure_optimizers=False, run=False, args=["--config", str(config), "--trainer.logger", "false"])
    (opt_g, opt_d), (scheduler_g,) = cli.model.configure_optimizers()
    assert isinstance(opt_g, torch.optim.SGD) and opt_g.defaults["lr"] == 0.1 and opt_g.defaults["momentum"] == 0.5
    assert isinstance(opt_d, torch.optim.Adam)  # the paper's, not SGD's arguments carried over
    assert opt_d.defaults["lr"] == 2e-4 and opt_d.defaults["betas"] == (0.5, 0.999) and opt_d.defaults["weight_decay"] == 0
    assert isinstance(scheduler_g, torch.optim.lr_scheduler.StepLR) and scheduler_g.step_size == 10


def clip_precision(name: str) -> dict:
    """Trainer arguments for a precision; ``16-mixed+scaler`` is fp16 autocast with a real GradScaler on CPU."""
    if name == "16-mixed+scaler":  # Lightning turns plain "16-mixed" into bf16 on CPU: build the plugin ourselves
        from lightning.pytorch.plugins.precision import MixedPrecision

        return {"plugins": [MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu", init_scale=2.0**10))]}
    return {"precision": name}


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed", "16-mixed+scaler"])
@pytest.mark.parametrize("family", ["GAN", "DCGAN", "CGAN"])
def test_gradient_clipping_acts_on_unscaled_gradients(family, precision, tmp_path):
    """With SGD(lr=1) one step moves each network by exactly its clipped gradient: norm == max_norm.

    Clipping the gradients while still multiplied by the GradScaler's 1024 would move them 1024x less; not
    clipping moves them by the raw gradient norm, which is far larger than ``max_norm`` here.
    """
    max_norm = 1e-4
    moved = {}
    for clip in (None, max_norm):
        seed_everything(3)
        model = build(family)
        model.hparams.gradient_clip_norm = clip
        model.optimizer_factories = (functools.partial(torch.optim.SGD, lr=1.0),) * 2
        model.scheduler_factories = (None, None)
        before = {name: p.detach().clone() for name, p in model.named_parameters()}
        fit(tmp_path / str(clip), model, max_epochs=1, max_steps=1, **clip_precision(precision))
        moved[clip] = {
            net: torch.cat([(p.detach() - before[name]).flatten() for name, p in model.named_parameters() if name.startswith(net + ".")]).norm().item()
            for net in ("generator", "discriminator")
        }
    for net in ("generator", "discriminator"):
        assert moved[None][net] > 10 * max_norm, f"{net}: the raw gradient is too small for this test"
        assert moved[max_norm][net] == pytest.approx(max_norm, rel=1e-3), f"{net} moved {moved[max_norm][net]}"
