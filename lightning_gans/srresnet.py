"""PSNR-oriented super-resolution: SRResNet (Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a
Generative Adversarial Network", arXiv 1609.04802, Sec. 2.2 and 3.2) and the PSNR stage of ESRGAN (Wang et al. 2018,
arXiv 1809.00219, Sec. 4.1), as BasicSR trains them.

A generator G maps a low-resolution image I^LR to I^SR = G(I^LR), ``scale`` times larger, trained on a pixel loss
against the ground truth I^HR (images in [0, 1], r = scale)::

    l_MSE = 1 / (r^2 W H) sum_{x,y} (I^HR_{x,y} - G(I^LR)_{x,y})^2          (Ledig et al., eq. 4; pixel_loss mse)
    l_1   = 1 / (r^2 W H) sum_{x,y} |I^HR_{x,y} - G(I^LR)_{x,y}|            (ESRGAN's PSNR stage, BasicSR; l1)

The result is the PSNR-oriented model the GAN stages (``SRGAN``, ``ESRGAN``) start from. Which model is which
setting of this one family:

=======================  =============  ==========  =======  ================================================
model                    ``generator``  pixel loss  Adam lr  schedule
=======================  =============  ==========  =======  ================================================
BasicSR MSRResNet        ``msrresnet``  ``l1``      2e-4     ``cosine_restarts`` (4 x 250k to 1e-7), 1M steps
ESRGAN PSNR (RRDB_PSNR)  ``rrdbnet``    ``l1``      2e-4     ``cosine_restarts`` (BasicSR; the paper halves
                                                             the rate every 200k)
Ledig et al. SRResNet    ``srresnet``   ``mse``     1e-4     ``constant``, 1M steps
=======================  =============  ==========  =======  ================================================

Defaults are BasicSR's ``train_MSRResNet_x4.yml`` (Adam betas (0.9, 0.99), EMA 0.999, batch 16 of 128 x 128 HR
crops; the crops live in ``datamodules.SuperResolutionDataModule``). Training uses manual optimization with one
optimizer; ``trainer.global_step`` counts generator steps and the schedule is stepped once per step, as BasicSR's.
Validation, test, predict and the panels use the EMA generator when there is one (BasicSR validates ``net_g_ema``).

Code name                 paper name
------------------------  -----------------------------------------------------------------
``generator``             G_theta_G, the generator network (Ledig Fig. 4 / BasicSR MSRResNet / ESRGAN RRDBNet)
``generator_ema``         BasicSR's ``net_g_ema`` (decay 0.999 per step)
``batch["lr"]``           I^LR, ``(B, C, h, w)`` in [0, 1]
``batch["hr"]``           I^HR, ``(B, C, scale*h, scale*w)`` in [0, 1]
``loss_pixel``            l_MSE (eq. 4) or BasicSR's l_1
"""

from __future__ import annotations

from typing import Literal, Optional

from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor

from lightning_gans.ema import GeneratorEMA
from lightning_gans.errors import UserInputError
from lightning_gans.super_resolution import (
    GeneratorName,
    LRSchedule,
    PixelLoss,
    SRInference,
    build_sr_generator,
    check_sr_data,
    input_multiple,
    load_pretrained_generator,
    make_lpips,
    make_lr_schedule,
    pixel_loss,
    sr_evaluation_step,
    sr_panels,
    sr_predict_step,
    super_resolve,
)
from lightning_gans.training import (
    GANTrainingHooks,
    SchedulerInterval,
    check_finite,
    check_gradient_clip_norm,
    make_optimizer,
    step_lr_schedulers,
)

ADAM = {"lr": 2e-4, "betas": (0.9, 0.99)}  # BasicSR train_MSRResNet_x4.yml / train_RRDBNet_PSNR_x4.yml


class SRResNet(LightningModule):
    """PSNR-oriented single-image super-resolution: any SR generator trained on an L1 or MSE pixel loss.

    Batches are dicts with ``"lr"`` ``(B, C, h, w)`` and ``"hr"`` ``(B, C, scale*h, scale*w)`` in [0, 1] (see
    ``datamodules.SuperResolutionDataModule``); validation sets are logged apart, as ``val/<set name>/psnr_y``,
    ``ssim_y``, ``psnr_rgb`` and ``lpips``. ``forward(lr)`` super-resolves images of any size.

    Args:
        channels: image channels: 3 (RGB) or 1 (greyscale).
        scale: upscaling factor (the data module's ``scale``): 2, 3 or 4 (``rrdbnet``: 2 or 4).
        generator: ``msrresnet`` (BasicSR's MSRResNet, the default), ``rrdbnet`` (ESRGAN's PSNR stage),
            ``srresnet`` (Ledig et al.'s, BatchNorm and PReLU) or ``srresnet_instance_norm``.
        generator_features: feature maps of the generator's trunk. Papers: 64.
        generator_blocks: residual blocks (RRDBs for ``rrdbnet``); None takes the paper's 16 (23 for ``rrdbnet``).
        generator_growth: growth channels of RRDBNet's dense blocks. ESRGAN: 32.
        pixel_loss: ``l1`` (BasicSR, ESRGAN) or ``mse`` (Ledig et al., eq. 4).
        ema_decay: decay of the generator EMA used for evaluation and saved with the checkpoint, per generator step.
            BasicSR: 0.999; None turns it off.
        ema_warmup: warm the EMA decay up as ``min(ema_decay, (1 + n) / (10 + n))`` at update n (TensorFlow's
            ``ExponentialMovingAverage`` rule) so that a short run's average forgets the initial weights;
            off by default.
        pretrained_generator: initialise G from a fit checkpoint of an SR family (its EMA weights when present) or
            an official weight file (BasicSR ``MSRResNet_x4`` / ``RRDB_PSNR_x4``, ESRGAN release, old-arch), read
            with ``weights_only=True``; build the model with the file's generator and sizes.
        lr_schedule: ``cosine_restarts`` (BasicSR: 4 cycles of 250k steps to 1e-7, the default), ``multistep``
            (halved at 50k, 100k, 200k, 300k), ``srgan`` (x0.1 after 100k) or ``constant`` (Ledig's SRResNet).
        generator_optimizer: optimizer for G; ``None`` is BasicSR's Adam(lr=2e-4, betas=(0.9, 0.99)) (Ledig:
            lr 1e-4, beta1 0.9).
        generator_lr_scheduler: LR scheduler for G; ``None`` is ``lr_schedule``.
        lr_scheduler_interval: step the scheduler every generator ``step`` (BasicSR; the schedules above count
            steps) or every ``epoch``.
        gradient_clip_norm: clip G's gradient to this total L2 norm before each step; ``None`` (BasicSR) does not.
        tile_size: LR tile side for evaluation and predict (``inference.tiled``, for images too large for memory);
            None runs whole images.
        tile_overlap: LR pixels shared by neighbouring tiles, blended linearly. Tiling equals whole-image inference
            when ``tile_overlap // 4`` is at least the generator's receptive radius in LR pixels.
        tile_batch_size: tiles per generator call.
        self_ensemble: average test and predict outputs over the 8 flips / rotations (x8, EDSR Sec. 4.4);
            validation never does.
        lpips: report LPIPS (AlexNet, torchmetrics) at validation and test when torchvision's AlexNet weights are in
            torch's hub cache; never downloaded (one line says so when they are missing).
    """

    def __init__(
        self,
        channels: Literal[1, 3] = 3,
        scale: Literal[2, 3, 4] = 4,
        generator: GeneratorName = "msrresnet",
        generator_features: int = 64,
        generator_blocks: Optional[int] = None,
        generator_growth: int = 32,
        pixel_loss: PixelLoss = "l1",
        ema_decay: Optional[float] = 0.999,
        ema_warmup: bool = False,
        pretrained_generator: Optional[str] = None,
        lr_schedule: LRSchedule = "cosine_restarts",
        generator_optimizer: Optional[OptimizerCallable] = None,
        generator_lr_scheduler: Optional[LRSchedulerCallable] = None,
        lr_scheduler_interval: SchedulerInterval = "step",
        gradient_clip_norm: Optional[float] = None,
        tile_size: Optional[int] = None,
        tile_overlap: int = 32,
        tile_batch_size: int = 4,
        self_ensemble: bool = False,
        lpips: bool = True,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["generator_optimizer", "generator_lr_scheduler"])
        self.automatic_optimization = False
        check_gradient_clip_norm(gradient_clip_norm)
        if pixel_loss not in ("l1", "mse"):
            raise UserInputError(f"model.pixel_loss must be l1 or mse, got {pixel_loss!r}")
        self.generator = build_sr_generator(
            generator, scale, channels, generator_features, generator_blocks, generator_growth
        )
        if pretrained_generator is not None:
            load_pretrained_generator(self.generator, generator, pretrained_generator)
        self.generator_ema = GeneratorEMA(self.generator, ema_decay, ema_warmup) if ema_decay is not None else None
        self.inference = SRInference(scale, input_multiple(self.generator), tile_size, tile_overlap, tile_batch_size)
        self.inference.check()
        self.optimizer_factory = generator_optimizer
        self.scheduler_factory = generator_lr_scheduler
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
        check_sr_data(self, self.hparams.channels, self.hparams.scale)
        if stage in ("fit", "validate", "test") and self.lpips_network is None:
            object.__setattr__(self, "lpips_network", make_lpips(self.hparams.lpips))  # not a submodule

    def configure_optimizers(self):
        optimizer = make_optimizer(self.optimizer_factory, self.generator.parameters(), ADAM)
        if self.scheduler_factory is not None:
            scheduler = self.scheduler_factory(optimizer)
        else:
            scheduler = make_lr_schedule(self.hparams.lr_schedule, optimizer)
        return [optimizer], [scheduler]

    def configure_callbacks(self) -> list:
        return [GANTrainingHooks()]  # epoch seeding, DDP, gradient clipping, epoch LR schedules

    def training_step(self, batch: dict, batch_idx: int) -> None:
        lr, hr = batch["lr"], batch["hr"]  # I^LR (B, C, h, w), I^HR (B, C, sh, sw) in [0, 1]
        opt = self.optimizers()

        # minimise the pixel loss of G(I^LR) against I^HR (eq. 4, or L1)
        sr = self.generator(lr)  # (B, C, sh, sw)
        loss_pixel = pixel_loss(self.hparams.pixel_loss, sr, hr)
        check_finite(self.global_step, loss_pixel=loss_pixel)
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss_pixel)
        opt.step()
        if self.generator_ema is not None:
            self.generator_ema.update(self.generator)
        step_lr_schedulers(self, self.hparams.lr_scheduler_interval, now="step")

        self.log_dict(
            {"train/loss_pixel": loss_pixel, "train/lr_g": opt.param_groups[0]["lr"]}, batch_size=lr.shape[0]
        )

    # ---- evaluation --------------------------------------------------------------------------------------
    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        sr_evaluation_step(self, batch, dataloader_idx, "val")  # PSNR-Y / SSIM-Y / RGB PSNR (/ LPIPS) per set

    def test_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        sr_evaluation_step(self, batch, dataloader_idx, "test")  # with the x8 self-ensemble when it is on
