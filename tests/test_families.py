"""Every family: shapes, gradients, one real training step, the step counter, checkpoints, published sizes."""

from __future__ import annotations

import math

import pytest
import torch
from lightning.pytorch import LightningDataModule, Trainer
from torch.utils.data import DataLoader, TensorDataset

from lightning_gans import CGAN, DCGAN, GAN
from lightning_gans.dcgan import DCGANDiscriminator, DCGANGenerator
from lightning_gans.training import NonFiniteLossError, UserInputError

# family -> (tiny init_args, sample shape)
FAMILIES = {
    "GAN": (GAN, dict(sample_shape=[1, 8, 8], latent_dim=4, generator_hidden=[16], discriminator_hidden=[8])),
    "GAN-points": (
        GAN,
        dict(sample_shape=[2], latent_dim=2, generator_hidden=[16], discriminator_hidden=[8], output_activation="identity", packing=2),
    ),
    "GAN-WGAN-GP": (
        GAN,
        dict(sample_shape=[2], latent_dim=2, generator_hidden=[16], discriminator_hidden=[8], output_activation="identity",
             adversarial_loss="wasserstein", gradient_penalty_weight=10.0, dropout=0.0),
    ),
    "DCGAN": (DCGAN, dict(channels=1, image_size=8, latent_dim=4, generator_width=4, discriminator_width=4)),
    "DCGAN-28": (DCGAN, dict(channels=1, image_size=28, latent_dim=4, generator_width=2, discriminator_width=2)),
    "CGAN": (CGAN, dict(num_classes=3, sample_shape=[1, 8, 8], latent_dim=4, generator_hidden=[16, 16], discriminator_hidden=[8, 8])),
}


class TinyData(LightningDataModule):
    """Random data of the family's shape: these tests are about the training mechanics, not the data."""

    def __init__(self, sample_shape, num_classes=3, n=16, batch_size=4):
        super().__init__()
        self.sample_shape = tuple(sample_shape)
        self.num_classes = num_classes
        self.batch_size = batch_size
        g = torch.Generator().manual_seed(0)
        self.x = torch.rand(n, *sample_shape, generator=g) * 2 - 1
        self.y = torch.randint(0, num_classes, (n,), generator=g)

    def train_dataloader(self):
        return DataLoader(TensorDataset(self.x, self.y), batch_size=self.batch_size, shuffle=True, drop_last=True)


def make(name):
    cls, kwargs = FAMILIES[name]
    model = cls(fid_features="none", **kwargs)
    return model, TinyData(model.sample_shape, num_classes=max(model.num_classes, 3))


def trainer(tmp_path, **kwargs):
    defaults = dict(
        accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=tmp_path,
    )
    return Trainer(**{**defaults, **kwargs})


@pytest.mark.parametrize("name", FAMILIES)
def test_sample_shape_and_range(name):
    model, _ = make(name)
    samples = model.sample(5)
    assert samples.shape == (5, *model.sample_shape)
    if len(model.sample_shape) == 3:
        assert samples.min() >= -1 and samples.max() <= 1


@pytest.mark.parametrize("name", FAMILIES)
def test_training_step_updates_both_players_and_isolates_gradients(name, tmp_path):
    torch.manual_seed(0)
    model, data = make(name)
    before_g = [p.detach().clone() for p in model.generator.parameters()]
    before_d = [p.detach().clone() for p in model.discriminator.parameters()]
    grads_after_backward = []
    backward = model.manual_backward

    def recording_backward(loss, *args, **kwargs):
        backward(loss, *args, **kwargs)
        grads_after_backward.append(
            (
                [None if p.grad is None else p.grad.clone() for p in model.generator.parameters()],
                [None if p.grad is None else p.grad.clone() for p in model.discriminator.parameters()],
            )
        )

    model.manual_backward = recording_backward
    trainer(tmp_path, max_steps=1).fit(model, data)

    # D step: every D parameter gets a gradient, G none (its output was detached)
    g_grads, d_grads = grads_after_backward[0]
    assert all(g is None for g in g_grads)
    assert all(g is not None for g in d_grads), "a D parameter got no gradient"
    # E[D(fake)] - E[D(real)] (and its penalty) does not depend on D's last bias: its gradient is exactly 0
    shift_invariant = model.hparams.adversarial_loss == "wasserstein"
    last_bias = len(d_grads) - 1 if shift_invariant else None
    assert all(g.abs().sum() > 0 for i, g in enumerate(d_grads) if i != last_bias), "a D parameter got a zero gradient"
    # G step: every G parameter gets a gradient, and D's gradients are untouched (D is frozen)
    g_grads, d_grads_after_g = grads_after_backward[1]
    assert all(g is not None and g.abs().sum() > 0 for g in g_grads), "a G parameter got no gradient"
    for before, after in zip(d_grads, d_grads_after_g):
        torch.testing.assert_close(before, after, rtol=0, atol=0)
    # both players moved
    assert any(not torch.equal(a, b) for a, b in zip(before_g, model.generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(before_d, model.discriminator.parameters()))


@pytest.mark.parametrize("name", ["GAN", "DCGAN", "CGAN"])
def test_global_step_counts_generator_steps(name, tmp_path):
    model, data = make(name)
    fit = trainer(tmp_path, max_steps=3)
    fit.fit(model, data)
    assert fit.global_step == 3
    assert fit.fit_loop.epoch_loop._batches_that_stepped == 3  # 3 batches, not 1.5


def test_n_critic_counts_generator_iterations(tmp_path):
    model = GAN(sample_shape=[2], latent_dim=2, generator_hidden=[8], discriminator_hidden=[8], n_critic=2, fid_features="none")
    data = TinyData([2], n=32, batch_size=4)
    fit = trainer(tmp_path, max_steps=3)
    fit.fit(model, data)
    assert fit.global_step == 3
    opt_g, opt_d = fit.optimizers
    assert opt_g.state[next(model.generator.parameters())]["step"] == 3
    assert opt_d.state[next(model.discriminator.parameters())]["step"] == 6
    assert fit.fit_loop.epoch_loop._batches_that_stepped == 6  # 2 D steps per G step


@pytest.mark.parametrize("name", ["GAN", "DCGAN", "CGAN"])
def test_ema_is_generator_only_and_checkpointed(name, tmp_path):
    cls, kwargs = FAMILIES[name]
    model = cls(fid_features="none", ema_decay=0.5, **kwargs)
    data = TinyData(model.sample_shape)
    fit = trainer(tmp_path, max_steps=2)
    fit.fit(model, data)
    ema = model.generator_ema.averaged
    assert int(ema.n_averaged) == 2
    assert all(not p.requires_grad for p in ema.parameters())
    # 0.5 * (theta_1) + 0.5 * theta_2 differs from theta_2: the EMA really averages
    assert any(not torch.equal(a, b) for a, b in zip(ema.module.parameters(), model.generator.parameters()))
    path = tmp_path / "m.ckpt"
    fit.save_checkpoint(path)
    loaded = cls.load_from_checkpoint(path)
    for a, b in zip(loaded.generator_ema.averaged.module.parameters(), ema.module.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # sampling uses the EMA generator
    z = torch.randn(3, kwargs["latent_dim"])
    args = (z, torch.zeros(3, dtype=torch.long)) if name == "CGAN" else (z,)
    torch.testing.assert_close(loaded(*args), loaded.generator_ema(*args))


def test_non_finite_loss_stops_with_a_clear_message(tmp_path):
    model, data = make("DCGAN")
    with torch.no_grad():
        next(model.discriminator.parameters()).fill_(float("nan"))
    with pytest.raises(NonFiniteLossError, match=r"loss_d is nan at generator step 0"):
        trainer(tmp_path, max_steps=2).fit(model, data)


def test_data_model_mismatch_is_one_clear_line(tmp_path):
    model = DCGAN(channels=1, image_size=8, latent_dim=4, generator_width=4, discriminator_width=4, fid_features="none")
    with pytest.raises(UserInputError, match=r"model.sample_shape is \[1, 8, 8\]"):
        trainer(tmp_path, max_steps=1).fit(model, TinyData([1, 16, 16]))
    cgan = CGAN(num_classes=10, sample_shape=[1, 8, 8], latent_dim=4, generator_hidden=[8], discriminator_hidden=[8], fid_features="none")
    with pytest.raises(UserInputError, match=r"the data has 3 classes but model.num_classes is 10"):
        trainer(tmp_path, max_steps=1).fit(cgan, TinyData([1, 8, 8], num_classes=3))


@pytest.mark.parametrize("size", [24, 48, 100])
def test_dcgan_rejects_sizes_it_cannot_make(size):
    with pytest.raises(UserInputError, match=f"model.image_size {size} cannot be made"):
        DCGAN(image_size=size)


@pytest.mark.parametrize("size", [28, 32, 64, 128])
def test_dcgan_sizes(size):
    g = DCGANGenerator(100, 1, size, 8)
    d = DCGANDiscriminator(1, size, 8)
    x = g(torch.randn(2, 100))
    assert x.shape == (2, 1, size, size)
    assert d(x).shape == (2,)


def test_dcgan_64_matches_published_parameter_counts():
    # pytorch/examples dcgan (nz=100, ngf=ndf=64, nc=3), the 64x64 networks of Radford et al. Fig. 1
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(DCGANGenerator(100, 3, 64, 64)) == 3_576_704
    assert count(DCGANDiscriminator(3, 64, 64)) == 2_765_568


def test_dcgan_init_is_normal_0_02():
    model = DCGAN(channels=3, image_size=64)
    w = torch.cat([m.weight.flatten() for m in model.generator.modules() if isinstance(m, torch.nn.ConvTranspose2d)])
    assert abs(w.std().item() - 0.02) < 0.001 and abs(w.mean().item()) < 0.001


def test_gan_packing_shapes():
    model = GAN(sample_shape=[2], packing=4, generator_hidden=[8], discriminator_hidden=[8], output_activation="identity")
    assert model.discriminator(torch.randn(8, 2)).shape == (2,)
    assert model.discriminator.net[0].linear.in_features == 2 * 4


def test_cgan_samples_follow_labels():
    model, _ = make("CGAN")
    labels = torch.tensor([0, 1, 2, 0])
    z = torch.randn(4, 4)
    model.eval()
    a = model(z, labels)
    b = model(z, torch.tensor([1, 2, 0, 1]))
    assert not torch.allclose(a, b)  # the label changes the image
    with pytest.raises(ValueError, match="labels must be 2 integers"):
        model.sample(2, labels=torch.tensor([0, 7]))


def test_wasserstein_needs_a_gradient_penalty():
    with pytest.raises(UserInputError, match="needs a Lipschitz critic"):
        GAN(adversarial_loss="wasserstein")
