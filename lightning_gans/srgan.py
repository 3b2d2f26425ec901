"""SRGAN: Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial Network (Ledig et al., 2017,
arXiv 1609.04802).

The generator G of a PSNR-trained SRResNet (``SRResNet`` family) is fine-tuned against a discriminator D with a
perceptual loss: a content loss on VGG19 features plus an adversarial term (Sec. 2.2)::

    l^SR     = l^SR_X + 10^-3 l^SR_Gen                                                          (eq. 3)
    l^SR_VGG = 1 / (W H) sum_{x,y} (phi_5,4(I^HR)_{x,y} - phi_5,4(G(I^LR))_{x,y})^2              (eq. 5, "VGG54")
    l^SR_Gen = sum_n -log D(G(I^LR))                                                            (eq. 6)
    D:  min -log D(I^HR) - log(1 - D(G(I^LR)))                                                   (eq. 2)

phi_5,4 is the 4th convolution of VGG19's 5th block **after** its ReLU (``relu5_4``); "VGG feature maps were also
rescaled by a factor of 1/12.75 ... equivalent to multiplying Equation 5 with a rescaling factor of approximately
0.006" (Sec. 3.2), so the content term here is ``perceptual_weight = 1 / 12.75^2`` times the mean squared feature
difference. SRGAN-VGG54 has no pixel term (``pixel_weight = 0``; SRGAN-MSE is ``perceptual_weight = 0``,
``pixel_weight = 1``). Training (Sec. 3.2): 16 crops of 96 x 96 HR, Adam with beta1 = 0.9, 1e5 steps at lr 1e-4
then 1e5 at 1e-5, one D step per G step, G initialised from the MSE-trained SRResNet (``pretrained_generator``).
Images are in [0, 1] on both sides here (the paper's HR targets are in [-1, 1], BasicSR uses [0, 1]).

Which recipe is which setting (the defaults are the paper's, Ledig et al.):

===================  =============  ===============  =============  ======================  =====  ============
recipe               ``generator``  discriminator    pixel term     content term            GAN    schedule
===================  =============  ===============  =============  ======================  =====  ============
SRGAN-VGG54 (paper)  ``srresnet``   ``vgg_srgan``    mse, 0         relu5_4 mse, 1/12.75^2  1e-3   ``srgan``
BasicSR MSRGAN       ``msrresnet``  ``vgg_esrgan``   l1, 1e-2       conv5_4 l1, 1           5e-3   ``multistep``
===================  =============  ===============  =============  ======================  =====  ============

(BasicSR's ``train_MSRGAN_x4.yml`` also takes Adam betas (0.9, 0.99) and 128 x 128 crops: set
``generator_optimizer`` / ``discriminator_optimizer``, ``discriminator_input_size: 128`` and ``data.gt_size: 128``.)

The step follows BasicSR's ``SRGANModel.optimize_parameters``: G first with D frozen, then D on I^HR and the
detached G(I^LR) of the same batch. ``trainer.global_step`` counts generator steps (D's are not counted); the
schedules are stepped once per generator step. Evaluation uses the EMA generator (BasicSR, decay 0.999).

Code name                 paper name
------------------------  ------------------------------------------------------------------------
``generator``             G_theta_G (Fig. 4, top: ``srresnet``)
``discriminator``         D_theta_D (Fig. 4, bottom: ``vgg_srgan``), one logit per image
``perceptual``            phi_5,4 of VGG19 and the distance of eq. 5
``loss_pixel``            l^SR_MSE (eq. 4)
``loss_perceptual``       l^SR_VGG/5.4 (eq. 5), before ``perceptual_weight``
``loss_g_gan``            l^SR_Gen (eq. 6), the mean over the batch
``loss_g``                l^SR (eq. 3) with the pixel term
``loss_d``                -log D(I^HR) - log(1 - D(G(I^LR))), batch means
"""

from __future__ import annotations

from typing import Literal, Optional

from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor

from lightning_gans.ema import GeneratorEMA
from lightning_gans.losses import non_saturating_discriminator_loss, non_saturating_generator_loss
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

ADAM = {"lr": 1e-4, "betas": (0.9, 0.999)}  # Sec. 3.2: Adam, beta1 = 0.9 (beta2 not stated: Adam's default)
VGG54_RESCALE = 1 / 12.75**2  # Sec. 3.2: feature maps rescaled by 1/12.75, i.e. eq. 5 times ~0.006
DEFAULT_LAYERS = {"relu5_4": 1.0}  # VGG54, after the ReLU (eq. 5)


class SRGAN(LightningModule):
    """Ledig et al. (2017) SRGAN: a PSNR-trained generator fine-tuned with a VGG content loss and an adversarial loss.

    Batches are dicts with ``"lr"`` ``(B, C, h, w)`` and ``"hr"`` ``(B, C, scale*h, scale*w)`` in [0, 1] (see
    ``datamodules.SuperResolutionDataModule``); with a VGG-style D the HR crops must be
    ``discriminator_input_size`` pixels square. Validation sets are logged apart (``val/<set name>/psnr_y`` ...).

    Args:
        channels: image channels: 3 (RGB) or 1 (greyscale; repeated to RGB for the VGG features).
        scale: upscaling factor (the data module's ``scale``). Paper: 4.
        generator: ``srresnet`` (the paper's, BatchNorm), ``srresnet_instance_norm``, ``msrresnet`` (BasicSR's
            MSRGAN) or ``rrdbnet``.
        generator_features: feature maps of the generator's trunk. Paper: 64.
        generator_blocks: residual blocks; None takes the paper's 16 (23 for ``rrdbnet``).
        generator_growth: growth channels of RRDBNet's dense blocks (``rrdbnet`` only).
        discriminator: ``vgg_srgan`` (the paper's Fig. 4), ``vgg_esrgan`` (BasicSR's MSRGAN) or ``unet_sn``.
        discriminator_features: width of D's first stage. Paper: 64.
        discriminator_input_size: HR crop side the VGG-style D judges (its linear layer depends on it); must equal
            the data module's ``gt_size``. Paper: 96.
        pixel_loss: distance of the pixel term: ``mse`` (eq. 4) or ``l1`` (BasicSR's MSRGAN).
        pixel_weight: weight of the pixel term. Paper (SRGAN-VGG54): 0; BasicSR's MSRGAN: 1e-2.
        perceptual_layers: VGG19 layers and weights of the content loss, BasicSR's names (``relu5_4`` after the
            ReLU, ``conv5_4`` before); None is the paper's VGG54, ``{"relu5_4": 1.0}``.
        perceptual_criterion: ``mse`` (eq. 5) or ``l1`` (BasicSR's MSRGAN).
        perceptual_weight: weight of the content loss. Paper: 1/12.75^2 (the 1/12.75 feature rescaling, Sec. 3.2);
            BasicSR's MSRGAN: 1.
        adversarial_weight: weight of l^SR_Gen (eq. 3). Paper: 1e-3; BasicSR's MSRGAN: 5e-3.
        vgg_weights: ``imagenet`` (torchvision's VGG19, read from ``vgg_weights_path`` when fitting starts; never
            downloaded: a missing file stops ``fit`` with one line, while validate / test / predict need no VGG) or
            ``random`` (for tests only: such features mean nothing perceptually).
        vgg_weights_path: torchvision's ``vgg19-dcbb9e9d.pth``; None looks in torch's hub cache.
        ema_decay: decay of the generator EMA used for evaluation, per generator step. BasicSR: 0.999 (the paper
            has none); None turns it off.
        ema_warmup: warm the EMA decay up as ``min(ema_decay, (1 + n) / (10 + n))`` at update n (TensorFlow's
            ``ExponentialMovingAverage`` rule) so that a short run's average forgets the initial weights;
            off by default.
        pretrained_generator: initialise G from the PSNR-trained model (Sec. 3.2): a fit checkpoint of the
            ``SRResNet`` family (its EMA weights when present) or an official weight file (BasicSR's
            ``MSRResNet_x4``, ...), read with ``weights_only=True``.
        lr_schedule: ``srgan`` (x0.1 after 100k steps, the paper's; train 200k), ``multistep`` (BasicSR's
            MSRGAN: halved at 50k, 100k, 200k, 300k), ``cosine_restarts`` or ``constant``.
        generator_optimizer: optimizer for G; ``None`` is the paper's Adam(lr=1e-4, betas=(0.9, 0.999)).
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
        generator: GeneratorName = "srresnet",
        generator_features: int = 64,
        generator_blocks: Optional[int] = None,
        generator_growth: int = 32,
        discriminator: DiscriminatorName = "vgg_srgan",
        discriminator_features: int = 64,
        discriminator_input_size: int = 96,
        pixel_loss: PixelLoss = "mse",
        pixel_weight: float = 0.0,
        perceptual_layers: Optional[dict[str, float]] = None,
        perceptual_criterion: Literal["l1", "mse"] = "mse",
        perceptual_weight: float = VGG54_RESCALE,
        adversarial_weight: float = 1e-3,
        vgg_weights: Literal["imagenet", "random"] = "imagenet",
        vgg_weights_path: Optional[str] = None,
        ema_decay: Optional[float] = 0.999,
        ema_warmup: bool = False,
        pretrained_generator: Optional[str] = None,
        lr_schedule: LRSchedule = "srgan",
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
        lr, hr = batch["lr"], batch["hr"]  # I^LR (B, C, h, w), I^HR (B, C, sh, sw) in [0, 1]
        opt_g, opt_d = self.optimizers()
        sr = self.generator(lr)  # G(I^LR): (B, C, sh, sw); D's step sees it detached

        # 1. Generator, D frozen: minimise l^SR = pixel + 1/12.75^2 l_VGG54 + 1e-3 l_Gen   (eqs. 3-6)
        with self.toggled_optimizer(opt_g):
            loss_pixel = pixel_loss(self.hparams.pixel_loss, sr, hr)
            no_perceptual = self.perceptual is None  # perceptual_weight 0
            loss_perceptual = sr.new_zeros(()) if no_perceptual else self.perceptual(as_rgb(sr), as_rgb(hr))
            loss_g_gan = non_saturating_generator_loss(self.discriminator(sr))  # -log D(G(I^LR)), eq. 6
            loss_g = (self.hparams.pixel_weight * loss_pixel + self.hparams.perceptual_weight * loss_perceptual
                      + self.hparams.adversarial_weight * loss_g_gan)  # fmt: skip
            check_finite(self.global_step, loss_g=loss_g)
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(loss_g)
            opt_g.step()
        if self.generator_ema is not None:
            self.generator_ema.update(self.generator)

        # 2. Discriminator: minimise -log D(I^HR) - log(1 - D(G(I^LR)))   (eq. 2)
        with self.toggled_optimizer(opt_d), not_counted_in_global_step(opt_d):
            real_logits = self.discriminator(hr)  # (B, 1)
            fake_logits = self.discriminator(sr.detach())
            loss_d = non_saturating_discriminator_loss(real_logits, fake_logits)
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
                **discriminator_outputs("non_saturating", real_logits, fake_logits),  # D(I^HR), D(G(I^LR))
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
