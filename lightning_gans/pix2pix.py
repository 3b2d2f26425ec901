"""pix2pix: Image-to-Image Translation with Conditional Adversarial Networks (Isola et al., 2017, arXiv:1611.07004).

A conditional GAN learns a mapping G: x -> y from paired images. D sees the input with either the real or the
translated output and says, per 70x70 patch, whether the pair is real (Sec. 3.2.2, PatchGAN)::

    L_cGAN(G, D) = E_{x,y}[log D(x, y)] + E_x[log(1 - D(x, G(x)))]                         (eq. 1)
    L_L1(G)      = E_{x,y}[ ||y - G(x)||_1 ]                                                (eq. 3)
    G* = arg min_G max_D L_cGAN(G, D) + lambda L_L1(G),   lambda = 100                      (eq. 4, Sec. 4)

Training details (Sec. 3.3 and the reference implementation): D is updated first, then G; D's objective is
divided by 2 ("slows down the rate at which D learns relative to G"); G maximises log D(x, G(x)) (non-saturating);
there is no latent z: the noise is dropout in G's decoder, on at training and, as in the paper, at test time
("paper" inference below; "eval" is the reference's --eval). Adam lr 2e-4, betas (0.5, 0.999), batch 1, images
286 -> random crop 256 with flips, 100 epochs at the initial rate then 100 decaying linearly to 0.

The adversarial loss is selectable: ``non_saturating`` (the paper's; the reference's "vanilla"), ``least_squares``
or ``wasserstein`` -- which needs ``gradient_penalty_weight`` (WGAN-GP, Gulrajani et al. 2017, eq. 3); here the
penalty really is applied to D (the reference's ``--gan_mode wgangp`` never calls it). A gradient penalty needs a
D without BatchNorm: set ``discriminator_norm: none`` or ``instance``.

Code name                  paper name
-------------------------  --------------------------------------------------------------
``generator``              G, the U-Net with skips (Sec. 3.2.1, App. 6.1.1)
``discriminator``          D, the PatchGAN on the channel-concatenated (x, y) pair (Sec. 3.2.2)
``batch["A"]``, ``["B"]``  x (input) and y (target), after the data module's ``direction``
``lambda_l1``              lambda of eq. 4
``loss_d``                 -L_cGAN / 2 as D minimises it
``loss_g``                 -log D(x, G(x)) + lambda L_L1
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor

from lightning_gans.errors import UserInputError
from lightning_gans.losses import TranslationAdversarialLoss, adversarial_target_loss, gradient_penalty
from lightning_gans.networks import Norm, load_reference_weights
from lightning_gans.training import (
    GANTrainingHooks,
    SchedulerInterval,
    check_finite,
    check_gradient_clip_norm,
    constant_then_linear_decay,
    discriminator_outputs,
    make_optimizer,
    not_counted_in_global_step,
    rank_generator,
    step_lr_schedulers,
)
from lightning_gans.translation import (
    DiscriminatorName,
    GeneratorName,
    InferenceMode,
    as_rgb,
    build_discriminator,
    build_generator,
    check_translation_data,
    panel_inputs,
    translate,
    translation_predict_step,
    translation_scores,
)

ADAM = {"lr": 2e-4, "betas": (0.5, 0.999)}  # Sec. 3.3 / App. 6.2


class Pix2Pix(LightningModule):
    """Isola et al. (2017) pix2pix: paired translation A -> B with a conditional PatchGAN and an L1 term.

    Batches are dicts with ``"A"`` (input) and ``"B"`` (target) images ``(B, C, H, W)`` in [-1, 1] (see
    ``datamodules.PairedImageDataModule``). ``forward(A)`` translates images of any size.

    Args:
        input_channels: channels of the input images A (3 RGB, 1 for greyscale or 16-bit scientific images).
        output_channels: channels of the target images B.
        generator: the reference's ``--netG``: ``unet_256`` (the paper's; H, W multiples of 256 in training),
            ``unet_128`` (multiples of 128), ``resnet_9blocks`` or ``resnet_6blocks`` (multiples of 4).
        generator_width: channels of G's first layer (``ngf``). Paper: 64.
        generator_norm: G's normalisation: ``batch`` (paper), ``instance`` or ``none``.
        dropout: dropout 0.5 in G (the paper's noise z, App. 6.1.1). Paper: on.
        discriminator: ``patch`` (the n-layer PatchGAN) or ``pixel`` (1x1 PixelGAN, Sec. 4.4).
        discriminator_layers: stride-2 layers of the PatchGAN (``n_layers_D``): 3 gives the paper's 70x70
            patches; 1 gives 16x16, 4 gives 142x142 (Sec. 4.4).
        discriminator_width: channels of D's first layer (``ndf``). Paper: 64.
        discriminator_norm: D's normalisation: ``batch`` (paper), ``instance`` or ``none``.
        lambda_l1: weight of the L1 term, lambda in eq. 4. Paper: 100.
        adversarial_loss: ``non_saturating`` (paper; the reference's "vanilla"), ``least_squares`` or
            ``wasserstein`` (requires ``gradient_penalty_weight``).
        gradient_penalty_weight: WGAN-GP lambda (10 in Gulrajani et al.) of a gradient penalty on D's input pair,
            added to D's loss; 0 (default) applies none.
        inference: how G runs at validation, test, predict and in the panels: ``paper`` (dropout on and
            BatchNorm from the test batch's statistics, Sec. 3.3; the reference's default) or ``eval`` (running
            statistics, no dropout: deterministic; the reference's ``--eval``). Training is unaffected.
        pretrained_generator: a released ``latest_net_G.pth`` of the reference (or any file of its layout) to start
            G from, read with ``weights_only=True``; build G with the file's architecture (``unet_256``, batch norm).
        epochs_constant: epochs at the initial learning rate (the reference's ``n_epochs``). Paper: 100.
        epochs_decay: epochs of linear decay to 0 after that (``n_epochs_decay``). Paper: 100.
        generator_optimizer: optimizer for G; ``None`` is the paper's Adam(lr=2e-4, betas=(0.5, 0.999)).
        discriminator_optimizer: optimizer for D; ``None`` is the paper's Adam.
        generator_lr_scheduler: LR scheduler for G; ``None`` is the constant-then-linear schedule above.
        discriminator_lr_scheduler: LR scheduler for D; ``None`` is the constant-then-linear schedule above.
        lr_scheduler_interval: step the schedulers every ``epoch`` (paper) or every generator ``step``.
        gradient_clip_norm: clip each network's gradient to this total L2 norm before its step (unscaled under
            ``16-mixed``); ``None`` (paper) does not clip.
    """

    def __init__(
        self,
        input_channels: int = 3,
        output_channels: int = 3,
        generator: GeneratorName = "unet_256",
        generator_width: int = 64,
        generator_norm: Norm = "batch",
        dropout: bool = True,
        discriminator: DiscriminatorName = "patch",
        discriminator_layers: int = 3,
        discriminator_width: int = 64,
        discriminator_norm: Norm = "batch",
        lambda_l1: float = 100.0,
        adversarial_loss: TranslationAdversarialLoss = "non_saturating",
        gradient_penalty_weight: float = 0.0,
        inference: InferenceMode = "paper",
        pretrained_generator: Optional[str] = None,
        epochs_constant: int = 100,
        epochs_decay: int = 100,
        generator_optimizer: Optional[OptimizerCallable] = None,
        discriminator_optimizer: Optional[OptimizerCallable] = None,
        generator_lr_scheduler: Optional[LRSchedulerCallable] = None,
        discriminator_lr_scheduler: Optional[LRSchedulerCallable] = None,
        lr_scheduler_interval: SchedulerInterval = "epoch",
        gradient_clip_norm: Optional[float] = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=[name for name in locals() if name.endswith(("_optimizer", "_scheduler"))])
        self.automatic_optimization = False
        check_gradient_clip_norm(gradient_clip_norm)
        if adversarial_loss == "wasserstein" and gradient_penalty_weight <= 0:
            raise UserInputError(
                "adversarial_loss wasserstein needs a Lipschitz critic: set model.gradient_penalty_weight (WGAN-GP: 10)"
            )
        if gradient_penalty_weight > 0 and discriminator_norm == "batch":
            raise UserInputError(
                "a gradient penalty is per sample and BatchNorm mixes samples: set model.discriminator_norm instance or none"
            )
        self.generator = build_generator(generator, input_channels, output_channels, generator_width, generator_norm, dropout)
        # D judges the (input, output) pair: channels concatenated (Sec. 3.2.2, conditional D)
        self.discriminator = build_discriminator(
            discriminator, input_channels + output_channels, discriminator_width, discriminator_layers, discriminator_norm
        )
        if pretrained_generator is not None:
            load_reference_weights(self.generator, pretrained_generator)
        self.optimizer_factories = (generator_optimizer, discriminator_optimizer)
        self.scheduler_factories = (generator_lr_scheduler, discriminator_lr_scheduler)

    # ---- inference ---------------------------------------------------------------------------------------
    def forward(self, images: Tensor) -> Tensor:
        """G(A): ``(B, input_channels, H, W)`` in [-1, 1], any H and W -> ``(B, output_channels, H, W)``."""
        return translate(self.generator, images, self.hparams.inference)

    def predict_step(self, batch: dict) -> dict:
        """Translate a batch of the data module's ``predict_dir``; outputs keep the inputs' names and bit depth."""
        return translation_predict_step(self, self.generator, batch, self.hparams.inference)

    def panels(self, count: int) -> tuple[Tensor, int]:
        """Fixed validation inputs beside their translations and targets: rows of input | output | target."""
        batch = panel_inputs(self, count)
        rows = [as_rgb(batch["A"]), as_rgb(self(batch["A"])), as_rgb(batch["B"])]
        return torch.stack(rows, dim=1).flatten(0, 1), 3  # (3N, 3, H, W), three images per row

    # ---- training ----------------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        check_translation_data(self, self.hparams.input_channels, self.hparams.output_channels)

    def configure_optimizers(self):
        optimizers = [
            make_optimizer(self.optimizer_factories[0], self.generator.parameters(), ADAM),
            make_optimizer(self.optimizer_factories[1], self.discriminator.parameters(), ADAM),
        ]
        schedulers = [
            factory(opt) if factory is not None
            else constant_then_linear_decay(opt, self.hparams.epochs_constant, self.hparams.epochs_decay)
            for factory, opt in zip(self.scheduler_factories, optimizers)
        ]
        return optimizers, schedulers

    def configure_callbacks(self) -> list:
        return [GANTrainingHooks()]  # epoch seeding, DDP, gradient clipping, epoch LR schedules

    def training_step(self, batch: dict, batch_idx: int) -> None:
        real_a, real_b = batch["A"], batch["B"]  # x, y: (B, C_in, H, W), (B, C_out, H, W) in [-1, 1]
        opt_g, opt_d = self.optimizers()
        loss = self.hparams.adversarial_loss
        fake_b = self.generator(real_a)  # G(x); D sees it detached, G's step reuses the graph

        # 1. Discriminator: minimise -L_cGAN / 2 = [l(D(x, y), real) + l(D(x, G(x)), fake)] / 2
        with self.toggled_optimizer(opt_d), not_counted_in_global_step(opt_d):
            real_pair = torch.cat([real_a, real_b], dim=1)  # (B, C_in + C_out, H, W)
            fake_pair = torch.cat([real_a, fake_b.detach()], dim=1)
            real_logits = self.discriminator(real_pair)  # (B, 1, h, w): one logit per 70x70 patch
            fake_logits = self.discriminator(fake_pair)
            loss_d = 0.5 * (adversarial_target_loss(loss, real_logits, True) + adversarial_target_loss(loss, fake_logits, False))
            if self.hparams.gradient_penalty_weight > 0:  # WGAN-GP on the (x, y) pairs
                generator = rank_generator(self, batch_idx, stream=1)
                loss_d = loss_d + self.hparams.gradient_penalty_weight * gradient_penalty(
                    self.discriminator, real_pair, fake_pair, generator=generator
                )
            check_finite(self.global_step, loss_d=loss_d)
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(loss_d)
            opt_d.step()

        # 2. Generator: minimise l(D(x, G(x)), real) + lambda ||y - G(x)||_1   (eq. 4)
        with self.toggled_optimizer(opt_g):
            fake_logits_g = self.discriminator(torch.cat([real_a, fake_b], dim=1))
            loss_g_gan = adversarial_target_loss(loss, fake_logits_g, True)
            loss_l1 = F.l1_loss(fake_b.float(), real_b.float())
            loss_g = loss_g_gan + self.hparams.lambda_l1 * loss_l1
            check_finite(self.global_step, loss_g=loss_g)
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(loss_g)
            opt_g.step()
        step_lr_schedulers(self, self.hparams.lr_scheduler_interval, now="step")

        self.log_dict(
            {
                "train/loss_d": loss_d,
                "train/loss_g": loss_g,
                "train/loss_g_gan": loss_g_gan,
                "train/loss_l1": loss_l1,
                **discriminator_outputs(loss, real_logits, fake_logits),  # D(x, y) and D(x, G(x)), patch means
                "train/lr_g": opt_g.param_groups[0]["lr"],
                "train/lr_d": opt_d.param_groups[0]["lr"],
            },
            batch_size=real_a.shape[0],
        )

    # ---- evaluation --------------------------------------------------------------------------------------
    def validation_step(self, batch: dict, batch_idx: int) -> None:
        scores = translation_scores(self(batch["A"]), batch, "val")
        self.log_dict(scores, batch_size=batch["A"].shape[0], sync_dist=True)

    def test_step(self, batch: dict, batch_idx: int) -> None:
        scores = translation_scores(self(batch["A"]), batch, "test")
        self.log_dict(scores, batch_size=batch["A"].shape[0], sync_dist=True)

