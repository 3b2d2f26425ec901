"""DCGAN: Unsupervised Representation Learning with Deep Convolutional GANs (Radford et al., 2015, arXiv:1511.06434).

The objective is the GAN value function (Goodfellow et al. 2014, eq. 1) with the non-saturating generator loss::

    L_D = -E_x[log D(x)] - E_z[log(1 - D(G(z)))]          L_G = -E_z[log D(G(z))]

What the paper adds is the architecture (Sec. 3, "Architecture guidelines for stable DCGANs"):
- no pooling: fractionally-strided convolutions upsample in G, strided convolutions downsample in D;
- BatchNorm in both, except G's output layer and D's input layer;
- no fully connected hidden layers; ReLU in G with Tanh at the output; LeakyReLU(0.2) in D;
and the training details of Sec. 4: weights ~ N(0, 0.02), Adam with lr 0.0002 and beta1 0.5, batch size 128,
images scaled to [-1, 1].

The 64x64 networks (``image_size=64``, ``generator_width=discriminator_width=64``) are those of the paper's Fig. 1
as in pytorch/examples: G 3,576,704 and D 2,765,568 parameters for RGB (``tests/test_families.py`` checks).
Other sizes ``start * 2**k`` (start 4, or 7 for 28x28 MNIST) add or remove one x2 stage per factor of two.

Code name          paper name
-----------------  -------------------------------------------------------
``generator``      G, the fractionally-strided convolutional generator
``discriminator``  D, the strided convolutional discriminator (outputs a logit)
``latent_dim``     dimension of the uniform/normal noise z (paper: 100)
``generator_width``  channels of G's last hidden layer (pytorch/examples ``ngf``)
``discriminator_width``  channels of D's first layer (pytorch/examples ``ndf``)
"""

from __future__ import annotations

from typing import Optional

import torch
from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn

from lightning_gans.ema import GeneratorEMA
from lightning_gans.evaluation import SampleQuality, check_data_matches
from lightning_gans.init import normal_init_
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


def dcgan_stages(image_size: int) -> tuple[int, int]:
    """(start size, number of x2 stages) such that ``start * 2**stages == image_size``; start is 4 or 7.

    Raises:
        UserInputError: if ``image_size`` is not 4 * 2**k or 7 * 2**k with k >= 1 (e.g. 28, 32, 64, 128).
    """
    for start in (4, 7):
        stages = 0
        size = start
        while size < image_size:
            size *= 2
            stages += 1
        if size == image_size and stages >= 1:
            return start, stages
    raise UserInputError(
        f"model.image_size {image_size} cannot be made by DCGAN's x2 stages: use 4*2^k or 7*2^k (28, 32, 56, 64, 128)"
    )


class DCGANGenerator(nn.Module):
    """G: z ``(B, latent_dim)`` -> images ``(B, channels, image_size, image_size)`` in [-1, 1].

    Args:
        latent_dim: size of z.
        channels: image channels.
        image_size: output side, ``4 * 2**k`` or ``7 * 2**k``.
        width: channels of the last hidden layer; each earlier stage doubles it (``ngf``).
    """

    def __init__(self, latent_dim: int, channels: int, image_size: int, width: int) -> None:
        super().__init__()
        start, stages = dcgan_stages(image_size)
        hidden = width * 2 ** (stages - 1)
        # project z to a (hidden, start, start) map: a full convolution of the 1x1 "image" z
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, hidden, start, 1, 0, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(True),
        ]
        for _ in range(stages - 1):  # each stage: x2 spatial, /2 channels
            layers += [nn.ConvTranspose2d(hidden, hidden // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(hidden // 2), nn.ReLU(True)]
            hidden //= 2
        layers += [nn.ConvTranspose2d(hidden, channels, 4, 2, 1, bias=False), nn.Tanh()]  # no BN at G's output
        self.net = nn.Sequential(*layers)
        self.latent_dim = latent_dim

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z.view(z.shape[0], self.latent_dim, 1, 1))  # (B, C, S, S)


class DCGANDiscriminator(nn.Module):
    """D: images ``(B, channels, image_size, image_size)`` -> logits ``(B,)``.

    Args:
        channels: image channels.
        image_size: input side, ``4 * 2**k`` or ``7 * 2**k``.
        width: channels of the first layer; each later stage doubles it (``ndf``).
    """

    def __init__(self, channels: int, image_size: int, width: int) -> None:
        super().__init__()
        start, stages = dcgan_stages(image_size)
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]  # no BN at D's input
        hidden = width
        for _ in range(stages - 1):
            layers += [nn.Conv2d(hidden, hidden * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(hidden * 2), nn.LeakyReLU(0.2, True)]
            hidden *= 2
        layers.append(nn.Conv2d(hidden, 1, start, 1, 0, bias=False))  # (B, 1, 1, 1)
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).flatten()  # (B,)


class DCGAN(LightningModule):
    """Radford et al. (2015) DCGAN. Samples are images ``(channels, image_size, image_size)`` in [-1, 1].

    Args:
        channels: image channels (1 for MNIST, 3 for RGB).
        image_size: image side; 4*2^k or 7*2^k (28, 32, 64, ...). Paper: 64. Must match the data.
        latent_dim: dimension of z ~ N(0, I). Paper: 100.
        generator_width: channels of G's last hidden layer (``ngf``). Paper (Fig. 1): 128; pytorch/examples: 64.
        discriminator_width: channels of D's first layer (``ndf``). pytorch/examples: 64.
        adversarial_loss: ``non_saturating`` (the paper's) or any formulation of ``lightning_gans.losses``.
        ema_decay: decay of a generator EMA used for sampling; ``None`` (default, as in the paper) turns it off.
        ema_warmup: warm the EMA decay up as ``min(ema_decay, (1 + n) / (10 + n))`` at update n (TensorFlow's
            ``ExponentialMovingAverage`` rule) so that a short run's average forgets the initial weights;
            off by default.
        generator_optimizer: optimizer for G; ``None`` is the paper's Adam(lr=2e-4, betas=(0.5, 0.999)).
        discriminator_optimizer: optimizer for D; ``None`` is the paper's Adam(lr=2e-4, betas=(0.5, 0.999)).
        generator_lr_scheduler: LR scheduler for G's optimizer, or ``None`` (paper: constant).
        discriminator_lr_scheduler: LR scheduler for D's optimizer, or ``None`` (paper: constant).
        lr_scheduler_interval: step the schedulers every ``epoch`` or every generator ``step``.
        gradient_clip_norm: clip each network's gradient to this total L2 norm before its optimizer step, on the
            unscaled gradients under ``16-mixed``; ``None`` (default, as in the paper) does not clip.
        fid_features: FID feature extractor at validation: ``auto`` (Inception if its weights are on disk, else
            off with a notice), ``inception``, ``none``, or a classifier checkpoint path.
        num_eval_samples: samples generated at validation for the data module's own score, if it has one.
    """

    def __init__(
        self,
        channels: int = 1,
        image_size: int = 64,
        latent_dim: int = 100,
        generator_width: int = 64,
        discriminator_width: int = 64,
        adversarial_loss: AdversarialLoss = "non_saturating",
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
        self.num_classes = 0
        self.sample_shape = (channels, image_size, image_size)
        self.generator = DCGANGenerator(latent_dim, channels, image_size, generator_width)
        self.discriminator = DCGANDiscriminator(channels, image_size, discriminator_width)
        self.generator.apply(normal_init_)
        self.discriminator.apply(normal_init_)
        self.generator_ema = GeneratorEMA(self.generator, ema_decay, ema_warmup) if ema_decay is not None else None
        self.optimizer_factories = (generator_optimizer, discriminator_optimizer)
        self.scheduler_factories = (generator_lr_scheduler, discriminator_lr_scheduler)
        self.quality = SampleQuality(fid_features, num_eval_samples)

    # ---- inference ---------------------------------------------------------------------------------------
    def forward(self, z: Tensor) -> Tensor:
        """G(z): ``(B, latent_dim)`` -> images ``(B, C, H, W)`` in [-1, 1], with the EMA generator when on."""
        generator = self.generator_ema if self.generator_ema is not None else self.generator
        return generator(z)

    @torch.no_grad()
    def sample(
        self, n: int, labels: Optional[Tensor] = None, generator: Optional[torch.Generator] = None
    ) -> Tensor:
        """Draw ``n`` images ``(n, C, H, W)`` in [-1, 1]. ``labels`` must be None (DCGAN is unconditional)."""
        if labels is not None:
            raise ValueError("DCGAN is unconditional: call sample(n) without labels")
        z = torch.randn(n, self.hparams.latent_dim, generator=generator, device=self.device)
        return self(z)

    def predict_step(self, indices: Tensor) -> dict:
        """Turn a batch of sample indices into images (seeded by the first index, so reruns repeat)."""
        generator = torch.Generator(device=self.device).manual_seed(int(indices[0]))
        return {"samples": self.sample(len(indices), generator=generator), "labels": None, "indices": indices}

    # ---- training ----------------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        check_data_matches(self, num_classes=0)

    def configure_optimizers(self):
        return configure_gan_optimizers(self, adam={"lr": 2e-4, "betas": (0.5, 0.999)})  # Sec. 4

    def configure_callbacks(self) -> list:
        return [GANTrainingHooks()]  # epoch seeding, DDP, gradient clipping, epoch LR schedules

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        real, _ = batch  # (B, C, H, W) in [-1, 1]
        opt_g, opt_d = self.optimizers()
        loss = self.hparams.adversarial_loss
        z = latent_noise(self, (real.shape[0], self.hparams.latent_dim), batch_idx)
        fake = self.generator(z)  # (B, C, H, W); D sees it detached, G's step reuses the graph

        # 1. Discriminator: minimize L_D = -log D(x) - log(1 - D(G(z)))
        with self.toggled_optimizer(opt_d), not_counted_in_global_step(opt_d):
            real_logits = self.discriminator(real)
            fake_logits = self.discriminator(fake.detach())
            loss_d = discriminator_loss(loss, real_logits, fake_logits)
            check_finite(self.global_step, loss_d=loss_d)
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(loss_d)
            opt_d.step()

        # 2. Generator: minimize L_G = -log D(G(z))
        with self.toggled_optimizer(opt_g):
            fake_logits_g = self.discriminator(fake)
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
