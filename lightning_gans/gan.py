"""GAN: Generative Adversarial Networks (Goodfellow et al., 2014, arXiv:1406.2661), with optional PacGAN packing.

The value function (eq. 1)::

    min_G max_D  V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))]

Algorithm 1, one iteration per batch: update D by ascending eq. 1 (``n_critic`` times, the paper's *k*), then
update G. Sec. 3 replaces G's ``log(1 - D(G(z)))`` by the non-saturating ``-log D(G(z))`` "to provide much
stronger gradients early in learning"; that is ``adversarial_loss="non_saturating"`` (the default) and
``"minimax"`` is the saturating original. Both networks are multilayer perceptrons: ReLU units in G, maxout
units with dropout in D (Sec. 5).

PacGAN (Lin et al., 2018, arXiv:1712.04086) ``packing=m`` shows D ``m`` samples at once (all real or all fake),
concatenated, which penalises mode collapse (their Sec. 3); ``packing=1`` is the plain GAN.

Code name          paper name
-----------------  ------------------------------------------------
``generator``      G(z; theta_g)
``discriminator``  D(x; theta_d) (outputs a logit; D = sigmoid(logit))
``latent_dim``     dimension of the noise prior p_z(z) = N(0, I)
``n_critic``       k, discriminator steps per generator step (Algorithm 1; the paper used k = 1)
``packing``        m, PacGAN's packing degree
"""

from __future__ import annotations

import math
from typing import Literal, Optional

import torch
from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn

from lightning_gans.ema import GeneratorEMA
from lightning_gans.evaluation import SampleQuality, check_data_matches
from lightning_gans.losses import AdversarialLoss, discriminator_loss, generator_loss, gradient_penalty
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

OutputActivation = Literal["tanh", "identity"]


class MLPGenerator(nn.Module):
    """G: z -> x, an MLP with ReLU hidden units.

    Args:
        latent_dim: size of z.
        hidden_sizes: widths of the hidden layers.
        sample_shape: shape of one sample, e.g. ``(1, 28, 28)`` or ``(2,)``.
        output_activation: ``"tanh"`` for images in [-1, 1]; ``"identity"`` for unbounded data (2-D mixtures).
    """

    def __init__(
        self, latent_dim: int, hidden_sizes: list[int], sample_shape: tuple[int, ...], output_activation: str
    ) -> None:
        super().__init__()
        self.sample_shape = tuple(sample_shape)
        layers: list[nn.Module] = []
        width = latent_dim
        for hidden in hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, math.prod(sample_shape)))
        layers.append(nn.Tanh() if output_activation == "tanh" else nn.Identity())
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        x = self.net(z)  # (B, prod(sample_shape))
        return x.view(z.shape[0], *self.sample_shape)  # (B, *sample_shape)


class Maxout(nn.Module):
    """A maxout layer (Goodfellow et al., 2013): the max over ``pieces`` linear units per output unit."""

    def __init__(self, in_features: int, out_features: int, pieces: int) -> None:
        super().__init__()
        self.pieces = pieces
        self.linear = nn.Linear(in_features, out_features * pieces)

    def forward(self, x: Tensor) -> Tensor:
        y = self.linear(x)  # (B, out * pieces)
        return y.view(x.shape[0], -1, self.pieces).amax(dim=-1)  # (B, out)


class MaxoutDiscriminator(nn.Module):
    """D: x -> logit, maxout hidden layers with dropout; sees ``packing`` samples at once (PacGAN).

    Args:
        sample_shape: shape of one sample.
        hidden_sizes: maxout units per hidden layer.
        pieces: linear pieces per maxout unit.
        dropout: dropout probability on the hidden layers.
        packing: samples concatenated into one input of D.
    """

    def __init__(
        self, sample_shape: tuple[int, ...], hidden_sizes: list[int], pieces: int, dropout: float, packing: int
    ) -> None:
        super().__init__()
        self.packing = packing
        layers: list[nn.Module] = []
        width = math.prod(sample_shape) * packing
        for hidden in hidden_sizes:
            layers += [Maxout(width, hidden, pieces), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        packed = x.reshape(x.shape[0] // self.packing, -1)  # (B / m, m * prod(sample_shape))
        return self.net(packed).squeeze(1)  # (B / m,) logits


class GAN(LightningModule):
    """Goodfellow et al. (2014) GAN with MLP networks; PacGAN packing optional.

    Samples are images ``(C, H, W)`` in [-1, 1] (``output_activation="tanh"``) or unbounded vectors such as 2-D
    points (``"identity"``).

    Args:
        sample_shape: shape of one data sample, e.g. ``[1, 28, 28]`` for MNIST or ``[2]`` for the 2-D mixtures;
            must match the data module's ``sample_shape``.
        latent_dim: dimension of z ~ N(0, I). Paper: 100.
        generator_hidden: hidden widths of G (ReLU). Paper's MNIST code: [1200, 1200].
        discriminator_hidden: maxout units per hidden layer of D. Paper's MNIST code: [240, 240].
        maxout_pieces: linear pieces per maxout unit. Paper's MNIST code: 5.
        dropout: dropout on D's hidden layers (Sec. 5). Default 0.5.
        output_activation: ``tanh`` for images in [-1, 1], ``identity`` for unbounded data (2-D mixtures).
        adversarial_loss: ``non_saturating`` (Sec. 3, default) or ``minimax`` (eq. 1 as written); the other
            formulations of ``lightning_gans.losses`` are accepted too.
        n_critic: discriminator steps per generator step (Algorithm 1's k; paper: 1). With k > 1 each batch
            updates D and every k-th batch also updates G.
        gradient_penalty_weight: lambda of the WGAN-GP penalty E[(||grad D(x_hat)||_2 - 1)^2] added to D's loss
            (Gulrajani et al. 2017, arXiv:1704.00028, eq. 3; paper: 10 with ``adversarial_loss: wasserstein``
            and ``n_critic: 5``). 0 (default) turns it off; the Wasserstein loss requires it.
        packing: PacGAN packing degree m (1 = plain GAN; PacGAN used 2-4). The batch size must be a multiple.
        ema_decay: decay of a generator EMA used for sampling; ``None`` (default) turns it off.
        ema_warmup: warm the EMA decay up as ``min(ema_decay, (1 + n) / (10 + n))`` at update n (TensorFlow's
            ``ExponentialMovingAverage`` rule) so that a short run's average forgets the initial weights;
            off by default.
        generator_optimizer: optimizer for G; ``None`` is Adam(lr=2e-4, betas=(0.5, 0.999)). The 2014 paper used
            SGD with momentum; Adam with these values (Radford et al. 2015) is the common practice.
        discriminator_optimizer: optimizer for D; ``None`` is the same Adam.
        generator_lr_scheduler: LR scheduler for G's optimizer, or ``None``.
        discriminator_lr_scheduler: LR scheduler for D's optimizer, or ``None``.
        lr_scheduler_interval: step the schedulers every ``epoch`` or every generator ``step``.
        gradient_clip_norm: clip each network's gradient to this total L2 norm before its optimizer step, on the
            unscaled gradients under ``16-mixed``; ``None`` (default, as in the paper) does not clip.
        fid_features: feature extractor for FID at validation (images only): ``auto`` (Inception if its weights
            are on disk, else off with a notice), ``inception``, ``none``, or the path of a classifier checkpoint
            (``benchmarks/mnist_classifier.py`` writes one).
        num_eval_samples: samples generated at validation for the data module's own score (e.g. mode coverage).
    """

    def __init__(
        self,
        sample_shape: list[int] = [1, 28, 28],
        latent_dim: int = 100,
        generator_hidden: list[int] = [1200, 1200],
        discriminator_hidden: list[int] = [240, 240],
        maxout_pieces: int = 5,
        dropout: float = 0.5,
        output_activation: OutputActivation = "tanh",
        adversarial_loss: AdversarialLoss = "non_saturating",
        n_critic: int = 1,
        gradient_penalty_weight: float = 0.0,
        packing: int = 1,
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
        if n_critic < 1 or packing < 1:
            raise UserInputError(f"n_critic ({n_critic}) and packing ({packing}) must be >= 1")
        if adversarial_loss == "wasserstein" and gradient_penalty_weight <= 0:
            raise UserInputError(
                "adversarial_loss wasserstein needs a Lipschitz critic: set model.gradient_penalty_weight (WGAN-GP: 10)"
            )
        self.num_classes = 0
        self.sample_shape = tuple(sample_shape)
        self.generator = MLPGenerator(latent_dim, generator_hidden, self.sample_shape, output_activation)
        self.discriminator = MaxoutDiscriminator(self.sample_shape, discriminator_hidden, maxout_pieces, dropout, packing)
        self.generator_ema = GeneratorEMA(self.generator, ema_decay, ema_warmup) if ema_decay is not None else None
        self.optimizer_factories = (generator_optimizer, discriminator_optimizer)
        self.scheduler_factories = (generator_lr_scheduler, discriminator_lr_scheduler)
        self.quality = SampleQuality(fid_features, num_eval_samples)

    # ---- inference ---------------------------------------------------------------------------------------
    def forward(self, z: Tensor) -> Tensor:
        """G(z): ``(B, latent_dim)`` -> ``(B, *sample_shape)``, with the EMA generator when it is on."""
        generator = self.generator_ema if self.generator_ema is not None else self.generator
        return generator(z)

    @torch.no_grad()
    def sample(
        self, n: int, labels: Optional[Tensor] = None, generator: Optional[torch.Generator] = None
    ) -> Tensor:
        """Draw ``n`` samples ``(n, *sample_shape)``: images in [-1, 1] or points. ``labels`` must be None."""
        if labels is not None:
            raise ValueError("GAN is unconditional: call sample(n) without labels")
        z = torch.randn(n, self.hparams.latent_dim, generator=generator, device=self.device)
        return self(z)

    def predict_step(self, indices: Tensor) -> dict:
        """Turn a batch of sample indices into samples (seeded by the first index, so reruns repeat)."""
        generator = torch.Generator(device=self.device).manual_seed(int(indices[0]))
        return {"samples": self.sample(len(indices), generator=generator), "labels": None, "indices": indices}

    # ---- training ----------------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        check_data_matches(self, num_classes=0)
        if self.trainer.datamodule is not None and stage == "fit":
            batch_size = getattr(self.trainer.datamodule, "batch_size", self.hparams.packing)
            if batch_size % self.hparams.packing:
                raise UserInputError(
                    f"data.batch_size ({batch_size}) must be a multiple of model.packing ({self.hparams.packing})"
                )

    def configure_optimizers(self):
        return configure_gan_optimizers(self, adam={"lr": 2e-4, "betas": (0.5, 0.999)})

    def configure_callbacks(self) -> list:
        return [GANTrainingHooks()]  # epoch seeding, DDP, gradient clipping, epoch LR schedules

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        real, _ = batch  # (B, *sample_shape)
        opt_g, opt_d = self.optimizers()
        loss = self.hparams.adversarial_loss
        update_generator = (batch_idx + 1) % self.hparams.n_critic == 0
        z = latent_noise(self, (real.shape[0], self.hparams.latent_dim), batch_idx)
        with torch.set_grad_enabled(update_generator):
            fake = self.generator(z)  # (B, *sample_shape); D sees it detached, G's step reuses the graph

        # 1. Discriminator: ascend E[log D(x)] + E[log(1 - D(G(z)))]  (eq. 1)
        with self.toggled_optimizer(opt_d), not_counted_in_global_step(opt_d):
            real_logits = self.discriminator(real)
            fake_logits = self.discriminator(fake.detach())
            loss_d = discriminator_loss(loss, real_logits, fake_logits)
            if self.hparams.gradient_penalty_weight > 0:  # WGAN-GP, eq. 3: lambda * E[(||grad D(x_hat)|| - 1)^2]
                penalty = gradient_penalty(self.discriminator, real, fake.detach())
                loss_d = loss_d + self.hparams.gradient_penalty_weight * penalty
            check_finite(self.global_step, loss_d=loss_d)
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(loss_d)
            opt_d.step()
        logs = {"train/loss_d": loss_d, **discriminator_outputs(loss, real_logits, fake_logits)}

        # 2. Generator: descend -E[log D(G(z))]  (non-saturating, Sec. 3), every n_critic-th batch
        if update_generator:
            with self.toggled_optimizer(opt_g):
                fake_logits = self.discriminator(fake)
                loss_g = generator_loss(loss, fake_logits, real_logits.detach())
                check_finite(self.global_step, loss_g=loss_g)
                opt_g.zero_grad(set_to_none=True)
                self.manual_backward(loss_g)
                opt_g.step()
            if self.generator_ema is not None:
                self.generator_ema.update(self.generator)
            step_lr_schedulers(self, self.hparams.lr_scheduler_interval, now="step")
            logs["train/loss_g"] = loss_g
        logs["train/lr_g"] = opt_g.param_groups[0]["lr"]
        logs["train/lr_d"] = opt_d.param_groups[0]["lr"]
        self.log_dict(logs, prog_bar=False)

    # ---- evaluation --------------------------------------------------------------------------------------
    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self.quality.update(self, batch, batch_idx)

    def on_validation_epoch_end(self) -> None:
        self.log_dict(self.quality.compute(self), sync_dist=True)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self.quality.update(self, batch, batch_idx)

    def on_test_epoch_end(self) -> None:
        self.log_dict(self.quality.compute(self, prefix="test"), sync_dist=True)
