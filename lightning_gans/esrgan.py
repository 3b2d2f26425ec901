"""ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks (Wang et al., 2018, arXiv 1809.00219).

A PSNR-trained RRDBNet G (the ``SRResNet`` family with ``generator: rrdbnet``) is fine-tuned against a relativistic
average discriminator D_Ra, with a perceptual loss on VGG19 features **before** activation (Sec. 3.2-3.3)::

    D_Ra(x_r, x_f) = sigmoid(C(x_r) - E_xf[C(x_f)])                                             (Sec. 3.2)
    L_D^Ra   = -E_xr[log D_Ra(x_r, x_f)] - E_xf[log(1 - D_Ra(x_f, x_r))]                         (eq. 1)
    L_G^Ra   = -E_xr[log(1 - D_Ra(x_r, x_f))] - E_xf[log D_Ra(x_f, x_r)]                         (eq. 2)
    L_G      = L_percep + lambda L_G^Ra + eta L_1,    lambda = 5e-3, eta = 1e-2                   (eq. 3, Sec. 4.1)

with x_f = G(x_i), L_percep the L1 distance of VGG19 ``conv5_4`` features (before the ReLU: denser features that
keep brightness, Sec. 3.3) and L_1 = E ||G(x_i) - y||_1.

**The form of the relativistic loss.** ``lightning_gans.losses.relativistic_average_*`` return the *sum* of the two
terms of eqs. 1-2. The authors' code (BasicSR ``codes/models/SRGAN_model.py``, 2019, and today's
``basicsr/models/esrgan_model.py``) multiplies lambda = 5e-3 by their *mean* (half the sum), for G and for D; that
is the loss the released models were trained with. Here ``loss_g_gan`` and ``loss_d`` are that mean
(``0.5 * relativistic_average_*``) and ``adversarial_weight`` = 5e-3 multiplies it, so the effective weight is
BasicSR's: 2.5e-3 on eq. 2's sum as written. D's loss is the 2019 code's mean of eq. 1's terms, with gradients
through both batch means (today's BasicSR detaches the other side's mean, a DDP workaround).

Training (Sec. 4.1, BasicSR ``train_ESRGAN_x4.yml``): 16 crops of 128 x 128 HR, Adam lr 1e-4 for G and D (BasicSR's
betas (0.9, 0.99); the paper's 0.9 / 0.999), halved at 50k, 100k, 200k, 300k of 400k steps, EMA 0.999, G
initialised from the PSNR-oriented RRDB (``pretrained_generator``: a fit checkpoint of the ``SRResNet`` family or
``RRDB_PSNR_x4.pth``). The step follows BasicSR's ``ESRGANModel.optimize_parameters``: G first with D frozen (D's
logits on the real batch detached), then D on I^HR and the detached G(I^LR) of the same batch;
``trainer.global_step`` counts generator steps. Evaluation uses the EMA generator.

Code name                 paper name
------------------------  ---------------------------------------------------------------------
``generator``             G, RRDBNet (Sec. 3.1, Fig. 4): 23 RRDBs, residual scaling 0.2
``discriminator``         C, the non-transformed critic (BasicSR's VGG-style network, 128 x 128 input)
``perceptual``            VGG19 ``conv5_4`` before activation, L1 (Sec. 3.3)
``loss_pixel``            L_1 (before eta)
``loss_perceptual``       L_percep
``loss_g_gan``            L_G^Ra / 2 (eq. 2, mean of the two terms; see above)
``loss_g``                L_G (eq. 3)
``loss_d``                L_D^Ra / 2 (eq. 1, mean of the two terms)
"""

from __future__ import annotations

from typing import Literal, Optional

from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor

from lightning_gans.ema import GeneratorEMA
from lightning_gans.losses import relativistic_average_discriminator_loss, relativistic_average_generator_loss
from lightning_gans.super_resolution import (
    DiscriminatorName,
    GeneratorName,
    LRSchedule,
    PixelLoss,
    SRInference,
    as_rgb,
    build_sr_discriminator,
    build_sr_generator,
    check_sr_gan_arguments,
    input_multiple,
    load_pretrained_generator,
    pixel_loss,
    setup_sr_gan,
    sr_evaluation_step,
    sr_gan_optimizers,
    sr_panels,
    sr_predict_step,
    super_resolve,
)
from lightning_gans.training import (
    GANTrainingHooks,
    SchedulerInterval,
    check_finite,
    check_gradient_clip_norm,
    discriminator_outputs,
    not_counted_in_global_step,
    step_lr_schedulers,
)

ADAM = {"lr": 1e-4, "betas": (0.9, 0.99)}  # Sec. 4.1 lr; BasicSR train_ESRGAN_x4.yml betas
DEFAULT_LAYERS = {"conv5_4": 1.0}  # before the ReLU (Sec. 3.3)


class ESRGAN(LightningModule):
    """Wang et al. (2018) ESRGAN: RRDBNet with a relativistic average GAN and a pre-activation perceptual loss.

    Batches are dicts with ``"lr"`` ``(B, C, h, w)`` and ``"hr"`` ``(B, C, scale*h, scale*w)`` in [0, 1] (see
    ``datamodules.SuperResolutionDataModule``); with a VGG-style D the HR crops must be
    ``discriminator_input_size`` pixels square. Validation sets are logged apart (``val/<set name>/psnr_y`` ...).

    Args:
        channels: image channels: 3 (RGB) or 1 (greyscale; repeated to RGB for the VGG features).
        scale: upscaling factor (the data module's ``scale``). Paper: 4; ``rrdbnet`` builds 2 and 4.
        generator: ``rrdbnet`` (the paper's), ``msrresnet``, ``srresnet`` or ``srresnet_instance_norm``.
        generator_features: feature maps of the generator's trunk. Paper: 64.
        generator_blocks: RRDBs (residual blocks for the others); None takes the paper's 23 (16).
        generator_growth: growth channels of the dense blocks. Paper: 32.
        discriminator: ``vgg_esrgan`` (BasicSR's, the paper's), ``vgg_srgan`` or ``unet_sn`` (Real-ESRGAN's).
        discriminator_features: width of D's first stage. Paper: 64.
        discriminator_input_size: HR crop side the VGG-style D judges; must equal the data module's ``gt_size``.
            Paper: 128.
        pixel_loss: distance of the pixel term: ``l1`` (the paper's L_1) or ``mse``.
        pixel_weight: eta, the weight of the pixel term (eq. 3). Paper: 1e-2.
        perceptual_layers: VGG19 layers and weights of L_percep, BasicSR's names (``conv5_4`` before the ReLU,
            ``relu5_4`` after); None is the paper's ``{"conv5_4": 1.0}``.
        perceptual_criterion: ``l1`` (the paper's, BasicSR's) or ``mse``.
        perceptual_weight: weight of L_percep. Paper: 1.
        adversarial_weight: lambda, on the *mean* of the two relativistic terms as BasicSR (module docstring).
            Paper / BasicSR: 5e-3.
        vgg_weights: ``imagenet`` (torchvision's VGG19, read from ``vgg_weights_path`` when fitting starts; never
            downloaded: a missing file stops ``fit`` with one line, while validate / test / predict need no VGG) or
            ``random`` (for tests only: such features mean nothing perceptually).
        vgg_weights_path: torchvision's ``vgg19-dcbb9e9d.pth``; None looks in torch's hub cache.
        ema_decay: decay of the generator EMA used for evaluation, per generator step. BasicSR: 0.999; None turns
            it off.
        ema_warmup: warm the EMA decay up as ``min(ema_decay, (1 + n) / (10 + n))`` at update n (TensorFlow's
            ``ExponentialMovingAverage`` rule) so that a short run's average forgets the initial weights;
            off by default.
        pretrained_generator: initialise G from the PSNR-oriented model (Sec. 4.1): a fit checkpoint of the
            ``SRResNet`` family with ``generator: rrdbnet`` (its EMA weights when present) or an official file
            (``RRDB_PSNR_x4.pth``, BasicSR / Real-ESRGAN / old-arch layouts), read with ``weights_only=True``.
        lr_schedule: ``multistep`` (halved at 50k, 100k, 200k, 300k; the paper's), ``srgan``,
            ``cosine_restarts`` or ``constant``.
        generator_optimizer: optimizer for G; ``None`` is Adam(lr=1e-4, betas=(0.9, 0.99)) (BasicSR).
        discriminator_optimizer: optimizer for D; ``None`` is the same Adam.
        generator_lr_scheduler: LR scheduler for G; ``None`` is ``lr_schedule``.
        discriminator_lr_scheduler: LR scheduler for D; ``None`` is ``lr_schedule``.
        lr_scheduler_interval: step the schedulers every generator ``step`` (the schedules above count steps) or
            every ``epoch``.
        gradient_clip_norm: clip each network's gradient to this total L2 norm before its step; ``None`` (paper)
            does not.
        tile_size: LR tile side for evaluation and predict (``inference.tiled``); None runs whole images.
        tile_overlap: LR pixels shared by neighbouring tiles, blended linearly (exact when ``tile_overlap // 4`` is
            at least the generator's receptive radius in LR pixels).
        tile_batch_size: tiles per generator call.
        self_ensemble: average test and predict outputs over the 8 flips / rotations (x8); validation never does.
        lpips: report LPIPS (AlexNet, torchmetrics) at validation and test when torchvision's AlexNet weights are in
            torch's hub cache; never downloaded.
    """

    def __init__(
        self,
        channels: Literal[1, 3] = 3,
        scale: Literal[2, 3, 4] = 4,
        generator: GeneratorName = "rrdbnet",
        generator_features: int = 64,
        generator_blocks: Optional[int] = None,
        generator_growth: int = 32,
        discriminator: DiscriminatorName = "vgg_esrgan",
        discriminator_features: int = 64,
        discriminator_input_size: int = 128,
        pixel_loss: PixelLoss = "l1",
        pixel_weight: float = 1e-2,
        perceptual_layers: Optional[dict[str, float]] = None,
        perceptual_criterion: Literal["l1", "mse"] = "l1",
        perceptual_weight: float = 1.0,
        adversarial_weight: float = 5e-3,
        vgg_weights: Literal["imagenet", "random"] = "imagenet",
        vgg_weights_path: Optional[str] = None,
        ema_decay: Optional[float] = 0.999,
        ema_warmup: bool = False,
        pretrained_generator: Optional[str] = None,
        lr_schedule: LRSchedule = "multistep",
        generator_optimizer: Optional[OptimizerCallable] = None,
        discriminator_optimizer: Optional[OptimizerCallable] = None,
        generator_lr_scheduler: Optional[LRSchedulerCallable] = None,
        discriminator_lr_scheduler: Optional[LRSchedulerCallable] = None,
        lr_scheduler_interval: SchedulerInterval = "step",
        gradient_clip_norm: Optional[float] = None,
        tile_size: Optional[int] = None,
        tile_overlap: int = 32,
        tile_batch_size: int = 4,
        self_ensemble: bool = False,
        lpips: bool = True,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=[name for name in locals() if name.endswith(("_optimizer", "_scheduler"))])
        self.automatic_optimization = False
        check_gradient_clip_norm(gradient_clip_norm)
        weights = {"pixel_weight": pixel_weight, "perceptual_weight": perceptual_weight,
                   "adversarial_weight": adversarial_weight}  # fmt: skip
        check_sr_gan_arguments(weights, perceptual_layers)
        self.perceptual = None  # VGG19, built when fitting starts (predict and test need no VGG weights)
        self.generator = build_sr_generator(
            generator, scale, channels, generator_features, generator_blocks, generator_growth
        )
        if pretrained_generator is not None:
            load_pretrained_generator(self.generator, generator, pretrained_generator)
        self.generator_ema = GeneratorEMA(self.generator, ema_decay, ema_warmup) if ema_decay is not None else None
        self.discriminator = build_sr_discriminator(
            discriminator, channels, discriminator_features, discriminator_input_size
        )
        self.inference = SRInference(scale, input_multiple(self.generator), tile_size, tile_overlap, tile_batch_size)
        self.inference.check()
        self.optimizer_factories = (generator_optimizer, discriminator_optimizer)
        self.scheduler_factories = (generator_lr_scheduler, discriminator_lr_scheduler)
        self.lpips_network = None  # built in setup; kept out of the module tree (and checkpoints)

    # ---- inference ---------------------------------------------------------------------------------------
    @property
    def evaluated_generator(self):
        """The generator evaluation uses: the EMA copy when there is one (BasicSR's ``net_g_ema``)."""
        return self.generator_ema if self.generator_ema is not None else self.generator

    def forward(self, lr: Tensor) -> Tensor:
        """SR of ``(B, channels, h, w)`` images in [0, 1], any size -> ``(B, channels, scale*h, scale*w)`` in [0, 1]."""
        return super_resolve(self.evaluated_generator, lr, self.inference)

    def predict_step(self, batch: dict) -> dict:
        """Super-resolve a ``predict_dir`` batch, keeping names, bit depth, greyscale and alpha (``sr_predict_step``)."""
        return sr_predict_step(self, self.evaluated_generator, batch, self.hparams.channels, self.inference,
                               self.hparams.self_ensemble)  # fmt: skip

    def panels(self, count: int) -> tuple[Tensor, int]:
        """Fixed validation crops: rows of LR | SR | HR, in [-1, 1], three images per row."""
        return sr_panels(self, self.evaluated_generator, self.inference, count)

    # ---- training ----------------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        setup_sr_gan(self, stage, DEFAULT_LAYERS)  # VGG19 loss (fit only), data checks, LPIPS

    def configure_optimizers(self):
        return sr_gan_optimizers(self, ADAM)

    def configure_callbacks(self) -> list:
        return [GANTrainingHooks()]  # epoch seeding, DDP, gradient clipping, epoch LR schedules

    def training_step(self, batch: dict, batch_idx: int) -> None:
        lr, hr = batch["lr"], batch["hr"]  # x_i (B, C, h, w), y = x_r (B, C, sh, sw) in [0, 1]
        opt_g, opt_d = self.optimizers()
        sr = self.generator(lr)  # x_f = G(x_i): (B, C, sh, sw); D's step sees it detached

        # 1. Generator, D frozen: minimise L_G = L_percep + lambda L_G^Ra + eta L_1   (eq. 3)
        with self.toggled_optimizer(opt_g):
            loss_pixel = pixel_loss(self.hparams.pixel_loss, sr, hr)
            no_perceptual = self.perceptual is None  # perceptual_weight 0
            loss_perceptual = sr.new_zeros(()) if no_perceptual else self.perceptual(as_rgb(sr), as_rgb(hr))
            real_logits_g = self.discriminator(hr).detach()  # C(x_r): a constant for G
            fake_logits_g = self.discriminator(sr)  # C(x_f)
            loss_g_gan = 0.5 * relativistic_average_generator_loss(fake_logits_g, real_logits_g)  # eq. 2, mean form
            loss_g = (self.hparams.perceptual_weight * loss_perceptual + self.hparams.adversarial_weight * loss_g_gan
                      + self.hparams.pixel_weight * loss_pixel)  # fmt: skip
            check_finite(self.global_step, loss_g=loss_g)
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(loss_g)
            opt_g.step()
        if self.generator_ema is not None:
            self.generator_ema.update(self.generator)

        # 2. Discriminator: minimise L_D^Ra / 2   (eq. 1, mean form)
        with self.toggled_optimizer(opt_d), not_counted_in_global_step(opt_d):
            real_logits = self.discriminator(hr)  # C(x_r): (B, 1) for the VGG-style D
            fake_logits = self.discriminator(sr.detach())  # C(x_f)
            loss_d = 0.5 * relativistic_average_discriminator_loss(real_logits, fake_logits)
            check_finite(self.global_step, loss_d=loss_d)
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(loss_d)
            opt_d.step()
        step_lr_schedulers(self, self.hparams.lr_scheduler_interval, now="step")

        self.log_dict(
            {
                "train/loss_g": loss_g,
                "train/loss_pixel": loss_pixel,
                "train/loss_perceptual": loss_perceptual,
                "train/loss_g_gan": loss_g_gan,
                "train/loss_d": loss_d,
                **discriminator_outputs("relativistic_average", real_logits, fake_logits),  # raw C(x_r), C(x_f)
                "train/lr_g": opt_g.param_groups[0]["lr"],
                "train/lr_d": opt_d.param_groups[0]["lr"],
            },
            batch_size=lr.shape[0],
        )

    # ---- evaluation --------------------------------------------------------------------------------------
    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        sr_evaluation_step(self, batch, dataloader_idx, "val")  # PSNR-Y / SSIM-Y / RGB PSNR (/ LPIPS) per set

    def test_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        sr_evaluation_step(self, batch, dataloader_idx, "test")  # with the x8 self-ensemble when it is on
