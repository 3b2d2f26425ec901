"""cGAN: Conditional Generative Adversarial Nets (Mirza & Osindero, 2014, arXiv:1411.1784).

Both players see the class label y (Sec. 3.2, eq. 2)::

    min_G max_D  V(D, G) = E_x[log D(x | y)] + E_z[log(1 - D(G(z | y) | y))]

The paper feeds y as a one-hot vector into separate hidden layers of MLPs. Here y goes through a learned
embedding of ``num_classes`` vectors (``nn.Embedding``, equivalent to a linear layer on the one-hot vector)
concatenated with z in G and with the flattened image in D. The default adversarial loss is least squares
(LSGAN, Mao et al. 2017, eq. 2 with a=0, b=c=1: ``L_D = 1/2 E[(D(x|y) - 1)^2] + 1/2 E[D(G(z|y)|y)^2]``,
``L_G = 1/2 E[(D(G(z|y)|y) - 1)^2]``), as in the widely used PyTorch-GAN cgan this project's seed follows;
``adversarial_loss="non_saturating"`` gives eq. 2 with the non-saturating generator loss.

Code name          paper name
-----------------  -----------------------------------------------------------
``generator``      G(z | y)
``discriminator``  D(x | y) (outputs a logit / least-squares score)
``num_classes``    the number of values of the condition y (10 for MNIST digits)
``latent_dim``     dimension of the noise z (paper: 100, uniform; here N(0, I))
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn

from lightning_gans.ema import GeneratorEMA
from lightning_gans.evaluation import SampleQuality, check_data_matches
from lightning_gans.losses import AdversarialLoss, discriminator_loss, generator_loss
from lightning_gans.training import (
    GANTrainingHooks,
    SchedulerInterval,
    UserInputError,
    check_finite,
    check_gradient_clip_norm,
    configure_gan_optimizers,
    discriminator_outputs,
    latent_noise,
    not_counted_in_global_step,
    step_lr_schedulers,
)


class ConditionalGenerator(nn.Module):
    """G(z | y): concat(z, embed(y)) -> MLP (BatchNorm, LeakyReLU 0.2) -> Tanh -> ``(B, *sample_shape)``.

    Args:
        latent_dim: size of z.
        num_classes: number of labels.
        sample_shape: shape of one sample, e.g. ``(1, 28, 28)``.
        hidden_sizes: widths of the hidden layers; BatchNorm on all but the first.
    """

    def __init__(self, latent_dim: int, num_classes: int, sample_shape: tuple[int, ...], hidden_sizes: list[int]) -> None:
        super().__init__()
        self.sample_shape = tuple(sample_shape)
        self.label_embedding = nn.Embedding(num_classes, num_classes)
        layers: list[nn.Module] = []
        width = latent_dim + num_classes
        for i, hidden in enumerate(hidden_sizes):
            layers.append(nn.Linear(width, hidden))
            if i > 0:
                layers.append(nn.BatchNorm1d(hidden, momentum=0.2))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            width = hidden
        layers += [nn.Linear(width, math.prod(sample_shape)), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        h = torch.cat([z, self.label_embedding(labels)], dim=1)  # (B, latent_dim + num_classes)
        return self.net(h).view(z.shape[0], *self.sample_shape)  # (B, *sample_shape) in [-1, 1]


class ConditionalDiscriminator(nn.Module):
    """D(x | y): concat(flatten(x), embed(y)) -> MLP (LeakyReLU 0.2, dropout) -> score ``(B,)``.

    Args:
        num_classes: number of labels.
        sample_shape: shape of one sample.
        hidden_sizes: widths of the hidden layers; dropout after all but the first.
        dropout: dropout probability.
    """

    def __init__(self, num_classes: int, sample_shape: tuple[int, ...], hidden_sizes: list[int], dropout: float) -> None:
        super().__init__()
        self.label_embedding = nn.Embedding(num_classes, num_classes)
        layers: list[nn.Module] = []
        width = math.prod(sample_shape) + num_classes
        for i, hidden in enumerate(hidden_sizes):
            layers.append(nn.Linear(width, hidden))
            if i > 0:
                layers.append(nn.Dropout(dropout))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        h = torch.cat([x.flatten(1), self.label_embedding(labels)], dim=1)  # (B, prod(sample_shape) + num_classes)
        return self.net(h).squeeze(1)  # (B,)


class CGAN(LightningModule):
    """Mirza & Osindero (2014) conditional GAN. Samples are images in [-1, 1]; ``sample(n, labels)``.

    Args:
        num_classes: number of labels y; must match the data (10 for digits).
        sample_shape: shape of one image, e.g. ``[1, 28, 28]``; must match the data.
        latent_dim: dimension of z ~ N(0, I). Paper: 100.
        generator_hidden: hidden widths of G. Default [128, 256, 512, 1024].
        discriminator_hidden: hidden widths of D. Default [512, 512, 512].
        dropout: dropout in D's hidden layers (the paper used dropout 0.5 in D; default 0.4).
        adversarial_loss: ``least_squares`` (default, MSE) or ``non_saturating`` (BCE, eq. 2), or any
            formulation of ``lightning_gans.losses``.
        ema_decay: decay of a generator EMA used for sampling; ``None`` (default) turns it off.
        ema_warmup: warm the EMA decay up as ``min(ema_decay, (1 + n) / (10 + n))`` at update n (TensorFlow's
            ``ExponentialMovingAverage`` rule) so that a short run's average forgets the initial weights;
            off by default.
        generator_optimizer: optimizer for G; ``None`` is Adam(lr=2e-4, betas=(0.5, 0.999)) (the paper used SGD
            with momentum; Adam with these values is the common practice).
        discriminator_optimizer: optimizer for D; ``None`` is the same Adam.
        generator_lr_scheduler: LR scheduler for G's optimizer, or ``None``.
        discriminator_lr_scheduler: LR scheduler for D's optimizer, or ``None``.
        lr_scheduler_interval: step the schedulers every ``epoch`` or every generator ``step``.
        gradient_clip_norm: clip each network's gradient to this total L2 norm before its optimizer step, on the
            unscaled gradients under ``16-mixed``; ``None`` (default, as in the paper) does not clip.
        fid_features: FID feature extractor at validation: ``auto`` (Inception if its weights are on disk, else
            off with a notice), ``inception``, ``none``, or a classifier checkpoint path.
        num_eval_samples: samples generated at validation for the data module's own score, if it has one.
    """

    def __init__(
        self,
        num_classes: int = 10,
        sample_shape: list[int] = [1, 28, 28],
        latent_dim: int = 100,
        generator_hidden: list[int] = [128, 256, 512, 1024],
        discriminator_hidden: list[int] = [512, 512, 512],
        dropout: float = 0.4,
        adversarial_loss: AdversarialLoss = "least_squares",
        ema_decay: Optional[float] = None,
        ema_warmup: bool = False,
        generator_optimizer: Optional[OptimizerCallable] = None,
        discriminator_optimizer: Optional[OptimizerCallable] = None,
        generator_lr_scheduler: Optional[LRSchedulerCallable] = None,
        discriminator_lr_scheduler: Optional[LRSchedulerCallable] = None,
        lr_scheduler_interval: SchedulerInterval = "epoch",
        gradient_clip_norm: Optional[float] = None,
        fid_features: str = "auto",
        num_eval_samples: int = 2500,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=[name for name in locals() if name.endswith(("_optimizer", "_scheduler"))])
        self.automatic_optimization = False
        check_gradient_clip_norm(gradient_clip_norm)
        if num_classes < 2:
            raise UserInputError(f"model.num_classes must be >= 2 for a conditional GAN, got {num_classes}")
        self.num_classes = num_classes
        self.sample_shape = tuple(sample_shape)
        self.generator = ConditionalGenerator(latent_dim, num_classes, self.sample_shape, generator_hidden)
        self.discriminator = ConditionalDiscriminator(num_classes, self.sample_shape, discriminator_hidden, dropout)
        self.generator_ema = GeneratorEMA(self.generator, ema_decay, ema_warmup) if ema_decay is not None else None
        self.optimizer_factories = (generator_optimizer, discriminator_optimizer)
        self.scheduler_factories = (generator_lr_scheduler, discriminator_lr_scheduler)
        self.quality = SampleQuality(fid_features, num_eval_samples)

    # ---- inference ---------------------------------------------------------------------------------------
    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        """G(z | y): ``(B, latent_dim)``, ``(B,)`` -> ``(B, *sample_shape)`` in [-1, 1], EMA generator when on."""
        generator = self.generator_ema if self.generator_ema is not None else self.generator
        return generator(z, labels)

    @torch.no_grad()
    def sample(
        self, n: int, labels: Optional[Tensor] = None, generator: Optional[torch.Generator] = None
    ) -> Tensor:
        """Draw ``n`` images ``(n, C, H, W)`` in [-1, 1] of the given ``labels`` ``(n,)`` (default: 0, 1, 2, ...)."""
        if labels is None:
            labels = torch.arange(n, device=self.device) % self.num_classes
        labels = labels.to(self.device, torch.long)
        if labels.shape != (n,) or labels.min() < 0 or labels.max() >= self.num_classes:
            raise ValueError(f"labels must be {n} integers in [0, {self.num_classes}), got shape {tuple(labels.shape)}")
        z = torch.randn(n, self.hparams.latent_dim, generator=generator, device=self.device)
        return self(z, labels)

    def predict_step(self, indices: Tensor) -> dict:
        """Turn sample indices into images of class ``index % num_classes`` (seeded by the first index)."""
        generator = torch.Generator(device=self.device).manual_seed(int(indices[0]))
        labels = indices % self.num_classes
        return {"samples": self.sample(len(indices), labels, generator), "labels": labels, "indices": indices}

    # ---- training ----------------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        check_data_matches(self, num_classes=self.num_classes)

    def configure_optimizers(self):
        return configure_gan_optimizers(self, adam={"lr": 2e-4, "betas": (0.5, 0.999)})

    def configure_callbacks(self) -> list:
        return [GANTrainingHooks()]  # epoch seeding, DDP, gradient clipping, epoch LR schedules

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        real, labels = batch  # (B, C, H, W) in [-1, 1], (B,) int64
        opt_g, opt_d = self.optimizers()
        loss = self.hparams.adversarial_loss
        z = latent_noise(self, (real.shape[0], self.hparams.latent_dim), batch_idx)
        # G draws fakes of the batch's own labels, so D compares real and fake with the same condition y
        fake = self.generator(z, labels)  # (B, C, H, W); D sees it detached, G's step reuses the graph

        # 1. Discriminator: real (x, y) -> 1, fake (G(z|y), y) -> 0   (eq. 2, least squares by default)
        with self.toggled_optimizer(opt_d), not_counted_in_global_step(opt_d):
            real_logits = self.discriminator(real, labels)
            fake_logits = self.discriminator(fake.detach(), labels)
            loss_d = discriminator_loss(loss, real_logits, fake_logits)
            check_finite(self.global_step, loss_d=loss_d)
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(loss_d)
            opt_d.step()

        # 2. Generator: (G(z|y), y) -> 1
        with self.toggled_optimizer(opt_g):
            fake_logits_g = self.discriminator(fake, labels)
            loss_g = generator_loss(loss, fake_logits_g, real_logits.detach())
            check_finite(self.global_step, loss_g=loss_g)
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(loss_g)
            opt_g.step()
        if self.generator_ema is not None:
            self.generator_ema.update(self.generator)
        step_lr_schedulers(self, self.hparams.lr_scheduler_interval, now="step")

        self.log_dict(
            {
                "train/loss_d": loss_d,
                "train/loss_g": loss_g,
                **discriminator_outputs(loss, real_logits, fake_logits),
                "train/lr_g": opt_g.param_groups[0]["lr"],
                "train/lr_d": opt_d.param_groups[0]["lr"],
            }
        )

    # ---- evaluation --------------------------------------------------------------------------------------
    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self.quality.update(self, batch, batch_idx)

    def on_validation_epoch_end(self) -> None:
        self.log_dict(self.quality.compute(self), sync_dist=True)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self.quality.update(self, batch, batch_idx)

    def on_test_epoch_end(self) -> None:
        self.log_dict(self.quality.compute(self, prefix="test"), sync_dist=True)
