"""CycleGAN: Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks (Zhu et al., 2017,
arXiv:1703.10593).

Two mappings G: X -> Y and F: Y -> X are learned from unpaired sets, each with a discriminator (D_Y judges G(x)
against real y, D_X judges F(y) against real x), and tied together by cycle consistency::

    L_GAN(G, D_Y, X, Y) = E_y[log D_Y(y)] + E_x[log(1 - D_Y(G(x)))]                                   (eq. 1)
    L_cyc(G, F)         = E_x[ ||F(G(x)) - x||_1 ] + E_y[ ||G(F(y)) - y||_1 ]                           (eq. 2)
    L(G, F, D_X, D_Y)   = L_GAN(G, D_Y, X, Y) + L_GAN(F, D_X, Y, X) + lambda L_cyc(G, F),  lambda = 10   (eq. 3)
    L_identity(G, F)    = E_y[ ||G(y) - y||_1 ] + E_x[ ||F(x) - x||_1 ]                                 (eq. 6)

Training details (Sec. 4 and the reference implementation): the negative log likelihood is replaced by least
squares (G minimises E[(D(G(x)) - 1)^2], D minimises E[(D(y) - 1)^2] + E[D(G(x))^2], divided by 2); D is updated
from a pool of the 50 previously generated images (``lightning_gans.image_pool``); the identity term is weighted
0.5 x lambda (the reference's ``lambda_identity = 0.5``, relative to each direction's cycle weight); G is updated
first with both D frozen, then both D; one Adam (lr 2e-4, betas (0.5, 0.999)) over both generators and one over
both discriminators; batch 1; 100 epochs at the initial rate, then 100 decaying linearly to 0. Generators are the
ResNet of Johnson et al. (9 blocks at 256x256, 6 at 128x128) with InstanceNorm; D is the 70x70 PatchGAN.

Code name              paper name     reference name
---------------------  -------------  --------------
``generator_ab``       G: X -> Y      netG_A
``generator_ba``       F: Y -> X      netG_B
``discriminator_b``    D_Y            netD_A   (judges G(x) against y)
``discriminator_a``    D_X            netD_B   (judges F(y) against x)
``batch["A"]``, ``["B"]``  x in X, y in Y (unrelated images)
``lambda_a``, ``lambda_b``  lambda of eq. 3 for the X -> Y -> X and Y -> X -> Y cycles
``lambda_identity``    the weight of eq. 6 relative to lambda
``pool_a``, ``pool_b`` the image buffers of F(y) and G(x)
``semantic_classifier``, ``semantic_classifier_b``  f_S and f_T of CyCADA's semantic term (below)

An option from later work (off by default): ``cycle_noise_std`` is the "additive noise" defence of Bashkirova,
Usman and Saenko, "Adversarial Self-Defense for Cycle-Consistent GANs" (NeurIPS 2019). The cycle terms of eq. 2
become ||F(G(x) + n) - x||_1 and ||G(F(y) + n) - y||_1 with n ~ N(0, sigma^2), so that G cannot satisfy them by
hiding the source in a low-amplitude signal of G(x) (Chu et al. 2017, "CycleGAN, a Master of Steganography");
what F needs to undo G must be visible in G(x).

Another (off by default): ``semantic_classifier`` adds the semantic consistency loss of CyCADA (Hoffman et al.,
"CyCADA: Cycle-Consistent Adversarial Domain Adaptation", ICML 2018, eq. 4) to the generators' objective. A
classifier f_S trained on labelled images of domain X only, and kept fixed, must read a translated image as it
reads the original::

    L_sem(G, F, X, Y, f_S) = CE(f_S(F(y)), p(f_S, y)) + CE(f_S(G(x)), p(f_S, x)),  p(f, x) = argmax f(x)

weighted by ``semantic_weight`` (CyCADA: 1). It counters label flipping (a 6 translated into an MNIST-like 8),
which cycle consistency allows because F can undo any invertible relabelling. ``semantic_classifier_b`` gives
domain Y its own classifier f_T (e.g. f_S adapted to Y without labels, CyCADA's target model), so that each
image is read by the classifier of its domain::

    L_sem = CE(f_S(F(y)), p(f_T, y)) + CE(f_T(G(x)), p(f_S, x))

f_T = f_S (the default) is eq. 4.
"""

from __future__ import annotations

import itertools
from typing import Literal, Optional

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor

from lightning_gans.errors import UserInputError
from lightning_gans.fid import DigitClassifier, digit_classifier_input, load_classifier
from lightning_gans.image_pool import ImagePool
from lightning_gans.losses import TranslationAdversarialLoss, adversarial_target_loss, gradient_penalty
from lightning_gans.networks import Norm, load_reference_weights
from lightning_gans.training import (
    GANTrainingHooks,
    SchedulerInterval,
    check_finite,
    check_gradient_clip_norm,
    constant_then_linear_decay,
    latent_noise,
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

ADAM = {"lr": 2e-4, "betas": (0.5, 0.999)}  # Sec. 4


def semantic_consistency(
    source_classifier: DigitClassifier, source: Tensor, translated_classifier: DigitClassifier, translated: Tensor
) -> Tensor:
    """CyCADA's CE(f(translated), argmax f'(source)) for images in [-1, 1] (one term of eq. 4).

    Args:
        source_classifier: the fixed classifier f' of the source's domain, taking ``(B, 1, 28, 28)`` in [0, 1]; its
            predicted labels p(f', source) are the targets (no gradient).
        source: original images ``(B, 1, H, W)``.
        translated_classifier: the fixed classifier f of the translations' domain (f' itself in eq. 4).
        translated: the sources' translations ``(B, 1, H', W')``; the gradient flows through them to the generator.
    """
    with torch.no_grad():
        labels = source_classifier(digit_classifier_input((source.float() + 1) / 2)).argmax(dim=1)  # (B,)
    logits = translated_classifier(digit_classifier_input((translated.float() + 1) / 2)).float()  # (B, 10)
    return F.cross_entropy(logits, labels)


def fixed_classifier(argument: str, path: str) -> DigitClassifier:
    """The classifier saved at ``path`` with its gradients off; a bad file is one error naming ``model.<argument>``."""
    try:
        return load_classifier(path).requires_grad_(False)
    except (FileNotFoundError, ValueError) as error:
        raise UserInputError(f"model.{argument}: {error}") from None


class CycleGAN(LightningModule):
    """Zhu et al. (2017) CycleGAN: unpaired translation between domains A (X) and B (Y).

    Batches are dicts with ``"A"`` and ``"B"`` images ``(B, C, H, W)`` in [-1, 1] from the two domains (see
    ``datamodules.UnpairedImageDataModule``). ``forward(A)`` translates A -> B at any size.

    Args:
        input_channels: channels of domain A's images.
        output_channels: channels of domain B's images.
        generator: the reference's ``--netG``: ``resnet_9blocks`` (the paper's at 256x256), ``resnet_6blocks``
            (128x128), ``unet_256`` or ``unet_128``.
        generator_width: channels of G's first layer (``ngf``). Paper: 64.
        generator_norm: the generators' normalisation: ``instance`` (paper), ``batch`` or ``none``.
        dropout: dropout 0.5 in the generators. Paper: off.
        discriminator: ``patch`` (the n-layer PatchGAN) or ``pixel`` (1x1).
        discriminator_layers: stride-2 layers of the PatchGAN (``n_layers_D``): 3 gives 70x70 patches (paper).
        discriminator_width: channels of D's first layer (``ndf``). Paper: 64.
        discriminator_norm: the discriminators' normalisation: ``instance`` (paper), ``batch`` or ``none``.
        lambda_a: weight of the cycle A -> B -> A, lambda in eq. 3. Paper: 10.
        lambda_b: weight of the cycle B -> A -> B. Paper: 10.
        lambda_identity: weight of the identity loss (eq. 6) relative to ``lambda_a`` / ``lambda_b``; the
            reference's 0.5 (effective 5). Needs ``input_channels == output_channels``; 0 turns it off.
        cycle_noise_std: standard deviation (in the [-1, 1] image scale) of Gaussian noise added to G(x) and F(y)
            before they are translated back for the cycle terms (Bashkirova et al. 2019); 0 (default, the paper)
            adds none. The adversarial terms and the pools see the noise-free images.
        semantic_classifier: a classifier of domain A's images, written by ``lightning_gans.fid.save_classifier``
            (``benchmarks/mnist_classifier.py --train_on rendered`` makes one for the digits), for CyCADA's
            semantic consistency loss (module docstring); ``None`` (default, the paper) adds no such term. It is
            read at ``fit`` (not stored in checkpoints: resuming reads it again), kept fixed and needs 1-channel
            images in both domains; any image size is resized to its 28 x 28.
        semantic_classifier_b: a classifier of domain B's images (f_T; the same file format), used with
            ``semantic_classifier`` to read B-domain images: G(a) and the real b whose labels F(b) must keep (module
            docstring). ``None`` (default, CyCADA's eq. 4) reads both domains with ``semantic_classifier``.
        semantic_weight: weight of the semantic consistency loss when ``semantic_classifier`` is set. CyCADA: 1.
        adversarial_loss: ``least_squares`` (paper), ``non_saturating`` (eq. 1 as written) or ``wasserstein``
            (requires ``gradient_penalty_weight``).
        gradient_penalty_weight: WGAN-GP lambda of a gradient penalty on each D, added to its loss; 0 (default)
            applies none.
        pool_size: generated images kept per discriminator (Sec. 4: 50); 0 feeds D the latest fakes only.
        inference: how the generators run at validation, test, predict and in the panels: ``eval`` (default,
            deterministic) or ``paper`` (train-mode layers, as the reference's test script without ``--eval``;
            the same thing for the default InstanceNorm generators without dropout).
        predict_direction: which generator ``predict`` runs on the inputs: ``AtoB`` (G) or ``BtoA`` (F).
        pretrained_generator_ab: a released ``latest_net_G_A.pth`` of the reference (A -> B), read with
            ``weights_only=True``; build G with the file's architecture (``resnet_9blocks``, instance norm).
        pretrained_generator_ba: the matching ``latest_net_G_B.pth`` (B -> A).
        epochs_constant: epochs at the initial learning rate (``n_epochs``). Paper: 100.
        epochs_decay: epochs of linear decay to 0 after that (``n_epochs_decay``). Paper: 100.
        generator_optimizer: optimizer over both generators; ``None`` is the paper's Adam(2e-4, (0.5, 0.999)).
        discriminator_optimizer: optimizer over both discriminators; ``None`` is the paper's Adam.
        generator_lr_scheduler: LR scheduler of the generators; ``None`` is the constant-then-linear schedule.
        discriminator_lr_scheduler: LR scheduler of the discriminators; ``None`` likewise.
        lr_scheduler_interval: step the schedulers every ``epoch`` (paper) or every generator ``step``.
        gradient_clip_norm: clip the generators' and the discriminators' gradients to this total L2 norm before
            each step (unscaled under ``16-mixed``); ``None`` (paper) does not clip.
    """

    def __init__(
        self,
        input_channels: int = 3,
        output_channels: int = 3,
        generator: GeneratorName = "resnet_9blocks",
        generator_width: int = 64,
        generator_norm: Norm = "instance",
        dropout: bool = False,
        discriminator: DiscriminatorName = "patch",
        discriminator_layers: int = 3,
        discriminator_width: int = 64,
        discriminator_norm: Norm = "instance",
        lambda_a: float = 10.0,
        lambda_b: float = 10.0,
        lambda_identity: float = 0.5,
        cycle_noise_std: float = 0.0,
        semantic_classifier: Optional[str] = None,
        semantic_classifier_b: Optional[str] = None,
        semantic_weight: float = 1.0,
        adversarial_loss: TranslationAdversarialLoss = "least_squares",
        gradient_penalty_weight: float = 0.0,
        pool_size: int = 50,
        inference: InferenceMode = "eval",
        predict_direction: Literal["AtoB", "BtoA"] = "AtoB",
        pretrained_generator_ab: Optional[str] = None,
        pretrained_generator_ba: Optional[str] = None,
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
        if lambda_identity > 0 and input_channels != output_channels:
            raise UserInputError(
                f"model.lambda_identity {lambda_identity} compares G(b) with b, which needs input_channels == "
                f"output_channels (got {input_channels} and {output_channels}): set model.lambda_identity 0"
            )
        if cycle_noise_std < 0:
            raise UserInputError(f"model.cycle_noise_std must be >= 0 (0 adds no noise), got {cycle_noise_std}")
        if semantic_classifier is not None and (input_channels, output_channels) != (1, 1):
            raise UserInputError(
                f"model.semantic_classifier reads 1-channel digits, but the domains have {input_channels} and "
                f"{output_channels} channels: set model.semantic_classifier null"
            )
        if semantic_classifier_b is not None and semantic_classifier is None:
            raise UserInputError(
                "model.semantic_classifier_b reads domain B for the semantic term, which needs domain A's "
                "classifier too: set model.semantic_classifier"
            )
        if semantic_weight < 0:
            raise UserInputError(f"model.semantic_weight must be >= 0, got {semantic_weight}")
        if adversarial_loss == "wasserstein" and gradient_penalty_weight <= 0:
            raise UserInputError(
                "adversarial_loss wasserstein needs a Lipschitz critic: set model.gradient_penalty_weight (WGAN-GP: 10)"
            )
        if gradient_penalty_weight > 0 and discriminator_norm == "batch":
            raise UserInputError(
                "a gradient penalty is per sample and BatchNorm mixes samples: set model.discriminator_norm instance or none"
            )
        g_args = (generator_width, generator_norm, dropout)
        self.generator_ab = build_generator(generator, input_channels, output_channels, *g_args)  # G: X -> Y
        self.generator_ba = build_generator(generator, output_channels, input_channels, *g_args)  # F: Y -> X
        d_args = (discriminator_width, discriminator_layers, discriminator_norm)
        self.discriminator_a = build_discriminator(discriminator, input_channels, *d_args)  # D_X
        self.discriminator_b = build_discriminator(discriminator, output_channels, *d_args)  # D_Y
        self.pool_a = ImagePool(pool_size)  # history of F(y), for D_X
        self.pool_b = ImagePool(pool_size)  # history of G(x), for D_Y
        for network, path in ((self.generator_ab, pretrained_generator_ab), (self.generator_ba, pretrained_generator_ba)):
            if path is not None:
                load_reference_weights(network, path)
        self.optimizer_factories = (generator_optimizer, discriminator_optimizer)
        self.scheduler_factories = (generator_lr_scheduler, discriminator_lr_scheduler)
        # (f_S, f_T) of the semantic term, read in setup("fit"); a plain list keeps them out of the state dict and
        # the optimizers
        self.semantic_classifiers: list[DigitClassifier] = []

    # ---- inference ---------------------------------------------------------------------------------------
    def forward(self, images: Tensor, direction: Literal["AtoB", "BtoA"] = "AtoB") -> Tensor:
        """G(a) (``AtoB``) or F(b) (``BtoA``) for images ``(B, C, H, W)`` in [-1, 1] of any size."""
        network = self.generator_ab if direction == "AtoB" else self.generator_ba
        return translate(network, images, self.hparams.inference)

    def predict_step(self, batch: dict) -> dict:
        """Translate a batch of the data module's ``predict_dir`` in ``predict_direction``; names and depth kept."""
        network = self.generator_ab if self.hparams.predict_direction == "AtoB" else self.generator_ba
        return translation_predict_step(self, network, batch, self.hparams.inference)

    def panels(self, count: int) -> tuple[Tensor, int]:
        """Fixed inputs and their cycles: rows of a | G(a) | F(G(a)) | b | F(b) | G(F(b))."""
        batch = panel_inputs(self, count)
        fake_b = self(batch["A"], "AtoB")
        fake_a = self(batch["B"], "BtoA")
        rows = [batch["A"], fake_b, self(fake_b, "BtoA"), batch["B"], fake_a, self(fake_a, "AtoB")]
        return torch.stack([as_rgb(images) for images in rows], dim=1).flatten(0, 1), 6  # (6N, 3, H, W)

    # ---- training ----------------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        check_translation_data(self, self.hparams.input_channels, self.hparams.output_channels)
        hp = self.hparams
        if stage == "fit" and hp.semantic_classifier is not None and not self.semantic_classifiers:
            f_s = fixed_classifier("semantic_classifier", hp.semantic_classifier)
            f_t = f_s  # eq. 4: f_S reads both domains
            if hp.semantic_classifier_b is not None:
                f_t = fixed_classifier("semantic_classifier_b", hp.semantic_classifier_b)
            self.semantic_classifiers = [f_s, f_t]

    def on_fit_start(self) -> None:
        for classifier in self.semantic_classifiers:
            classifier.to(self.device)

    def configure_optimizers(self):
        generators = itertools.chain(self.generator_ab.parameters(), self.generator_ba.parameters())
        discriminators = itertools.chain(self.discriminator_a.parameters(), self.discriminator_b.parameters())
        optimizers = [
            make_optimizer(self.optimizer_factories[0], generators, ADAM),
            make_optimizer(self.optimizer_factories[1], discriminators, ADAM),
        ]
        schedulers = [
            factory(opt) if factory is not None
            else constant_then_linear_decay(opt, self.hparams.epochs_constant, self.hparams.epochs_decay)
            for factory, opt in zip(self.scheduler_factories, optimizers)
        ]
        return optimizers, schedulers

    def configure_callbacks(self) -> list:
        return [GANTrainingHooks()]  # epoch seeding, DDP, gradient clipping, epoch LR schedules

    def _cycle_noise(self, images: Tensor, batch_idx: int, stream: int) -> Tensor:
        """``images + n``, n ~ N(0, cycle_noise_std^2) drawn per rank and batch (repeats on resume); as is for 0."""
        if self.hparams.cycle_noise_std == 0:
            return images
        noise = latent_noise(self, tuple(images.shape), batch_idx, stream).to(images.dtype)
        return images + self.hparams.cycle_noise_std * noise

    def training_step(self, batch: dict, batch_idx: int) -> None:
        real_a, real_b = batch["A"], batch["B"]  # x, y: (B, C_A, H, W), (B, C_B, H', W') in [-1, 1], unpaired
        opt_g, opt_d = self.optimizers()
        loss, hp = self.hparams.adversarial_loss, self.hparams

        # 1. Generators, both D frozen: L_GAN(G, D_Y) + L_GAN(F, D_X) + lambda L_cyc + identity   (eqs. 3, 6)
        with self.toggled_optimizer(opt_g):
            fake_b = self.generator_ab(real_a)  # G(x)
            rec_a = self.generator_ba(self._cycle_noise(fake_b, batch_idx, stream=5))  # F(G(x)) (+ n: see the docstring)
            fake_a = self.generator_ba(real_b)  # F(y)
            rec_b = self.generator_ab(self._cycle_noise(fake_a, batch_idx, stream=6))  # G(F(y))
            loss_gan_ab = adversarial_target_loss(loss, self.discriminator_b(fake_b), True)
            loss_gan_ba = adversarial_target_loss(loss, self.discriminator_a(fake_a), True)
            loss_cycle_a = hp.lambda_a * F.l1_loss(rec_a.float(), real_a.float())
            loss_cycle_b = hp.lambda_b * F.l1_loss(rec_b.float(), real_b.float())
            loss_g = loss_gan_ab + loss_gan_ba + loss_cycle_a + loss_cycle_b
            losses = {}
            if hp.lambda_identity > 0:  # G(y) ~ y and F(x) ~ x, weighted relative to the cycle terms
                loss_identity_b = hp.lambda_b * hp.lambda_identity * F.l1_loss(self.generator_ab(real_b).float(), real_b.float())
                loss_identity_a = hp.lambda_a * hp.lambda_identity * F.l1_loss(self.generator_ba(real_a).float(), real_a.float())
                loss_g = loss_g + loss_identity_a + loss_identity_b
                losses = {"train/loss_identity_a": loss_identity_a, "train/loss_identity_b": loss_identity_b}
            if self.semantic_classifiers:  # CyCADA's L_sem: f_T reads G(x) as f_S reads x, f_S reads F(y) as f_T reads y
                f_s, f_t = self.semantic_classifiers
                loss_semantic = hp.semantic_weight * (
                    semantic_consistency(f_s, real_a, f_t, fake_b) + semantic_consistency(f_t, real_b, f_s, fake_a)
                )
                loss_g = loss_g + loss_semantic
                losses["train/loss_semantic"] = loss_semantic
            check_finite(self.global_step, loss_g=loss_g)
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(loss_g)
            opt_g.step()

        # 2. Discriminators on pooled fakes: [l(D(real), real) + l(D(pooled fake), fake)] / 2 for each D
        with self.toggled_optimizer(opt_d), not_counted_in_global_step(opt_d):
            pooled_b = self.pool_b.query(fake_b, rank_generator(self, batch_idx, stream=1))  # detached G(x) history
            pooled_a = self.pool_a.query(fake_a, rank_generator(self, batch_idx, stream=2))
            real_logits_b, fake_logits_b = self.discriminator_b(real_b), self.discriminator_b(pooled_b)
            real_logits_a, fake_logits_a = self.discriminator_a(real_a), self.discriminator_a(pooled_a)
            loss_d_b = 0.5 * (adversarial_target_loss(loss, real_logits_b, True) + adversarial_target_loss(loss, fake_logits_b, False))
            loss_d_a = 0.5 * (adversarial_target_loss(loss, real_logits_a, True) + adversarial_target_loss(loss, fake_logits_a, False))
            if hp.gradient_penalty_weight > 0:  # WGAN-GP on each domain
                loss_d_b = loss_d_b + hp.gradient_penalty_weight * gradient_penalty(
                    self.discriminator_b, real_b, pooled_b, generator=rank_generator(self, batch_idx, stream=3)
                )
                loss_d_a = loss_d_a + hp.gradient_penalty_weight * gradient_penalty(
                    self.discriminator_a, real_a, pooled_a, generator=rank_generator(self, batch_idx, stream=4)
                )
            check_finite(self.global_step, loss_d_a=loss_d_a, loss_d_b=loss_d_b)
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(loss_d_a + loss_d_b)
            opt_d.step()
        step_lr_schedulers(self, hp.lr_scheduler_interval, now="step")

        self.log_dict(
            {
                "train/loss_g": loss_g,
                "train/loss_gan_ab": loss_gan_ab,
                "train/loss_gan_ba": loss_gan_ba,
                "train/loss_cycle_a": loss_cycle_a,
                "train/loss_cycle_b": loss_cycle_b,
                **losses,
                "train/loss_d_a": loss_d_a,
                "train/loss_d_b": loss_d_b,
                "train/lr_g": opt_g.param_groups[0]["lr"],
                "train/lr_d": opt_d.param_groups[0]["lr"],
            },
            batch_size=real_a.shape[0],
        )

    # ---- evaluation --------------------------------------------------------------------------------------
    def _scores(self, batch: dict, prefix: str) -> dict[str, Tensor]:
        """Cycle L1 both ways; with aligned validation pairs (the phantom, paired folders) also L1/PSNR/SSIM/SBR."""
        fake_b = self(batch["A"], "AtoB")
        fake_a = self(batch["B"], "BtoA")
        scores = {
            f"{prefix}/cycle_l1_a": F.l1_loss(self(fake_b, "BtoA").float(), batch["A"].float()),
            f"{prefix}/cycle_l1_b": F.l1_loss(self(fake_a, "AtoB").float(), batch["B"].float()),
        }
        if getattr(self.trainer.datamodule, "aligned_validation", False):
            scores.update(translation_scores(fake_b, batch, prefix))
        return scores

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self.log_dict(self._scores(batch, "val"), batch_size=batch["A"].shape[0], sync_dist=True)

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self.log_dict(self._scores(batch, "test"), batch_size=batch["A"].shape[0], sync_dist=True)

