"""Validation of generated samples, shared by the generative families: FID for images, the data's own score.

FID uses a feature extractor that is never downloaded (``lightning_gans.fid.build_fid``). A data module may
define ``score_samples(samples, labels) -> dict`` (the Gaussian mixtures report mode coverage); it is called on
``num_eval_samples`` samples drawn with fixed noise, so the numbers are comparable across validations.
"""

from __future__ import annotations

from typing import Optional

import torch
from lightning.pytorch import LightningModule
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor

from lightning_gans.images import to_unit_range
from lightning_gans.errors import UserInputError


def check_data_matches(module: LightningModule, num_classes: int) -> None:
    """Raise a one-line error when the data module's sample shape or class count differs from the model's.

    Args:
        module: a family with ``sample_shape`` (and ``num_classes`` for conditional models).
        num_classes: classes the model conditions on (0 for unconditional models: not checked).
    """
    datamodule = module.trainer.datamodule if module._trainer is not None else None
    if datamodule is None:
        return
    data_shape = getattr(datamodule, "sample_shape", None)
    if data_shape is not None and tuple(data_shape) != tuple(module.sample_shape):
        raise UserInputError(
            f"the data gives samples of shape {list(data_shape)} but model.sample_shape is "
            f"{list(module.sample_shape)}: set --model.sample_shape {list(data_shape)} (or change the data's image_size)"
        )
    data_classes = getattr(datamodule, "num_classes", None)
    if num_classes and data_classes is not None and data_classes != num_classes:
        raise UserInputError(
            f"the data has {data_classes} classes but model.num_classes is {num_classes}: "
            f"set --model.num_classes {data_classes}"
        )


class SampleQuality:
    """FID of generated vs. validation images, and the data module's ``score_samples``, at each validation.

    Args:
        fid_features: ``auto``, ``inception``, ``none`` or a classifier checkpoint path (see ``build_fid``).
        num_eval_samples: how many samples ``score_samples`` gets.
    """

    def __init__(self, fid_features: str, num_eval_samples: int) -> None:
        self.fid_features = fid_features
        self.num_eval_samples = num_eval_samples
        self.fid = None
        self._built = False

    def _build(self, module: LightningModule) -> None:
        self._built = True
        if len(module.sample_shape) != 3:  # FID is for images
            return
        from lightning_gans.fid import build_fid  # torchmetrics' image metrics load only when needed

        self.fid, notice = build_fid(self.fid_features)
        if notice:
            rank_zero_info(notice)
        if self.fid is not None:
            self.fid = self.fid.to(module.device)

    def _labels(self, module: LightningModule, n: int, labels: Optional[Tensor]) -> Optional[Tensor]:
        if not module.num_classes:
            return None
        if labels is not None:
            return labels
        return torch.arange(n, device=module.device) % module.num_classes

    def update(self, module: LightningModule, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        """Add a validation batch of real images and as many generated ones (same labels) to FID."""
        if not self._built:
            self._build(module)
        if self.fid is None:
            return
        real, labels = batch
        generator = torch.Generator(device=module.device).manual_seed(1_000_003 * module.global_rank + batch_idx)
        fake = module.sample(real.shape[0], labels=self._labels(module, real.shape[0], labels), generator=generator)
        self.fid.update(to_unit_range(real), real=True)
        self.fid.update(to_unit_range(fake), real=False)

    def compute(self, module: LightningModule, prefix: str = "val") -> dict[str, float]:
        """FID over the batches seen since the last call, and the data module's score of fixed-noise samples."""
        scores: dict[str, float] = {}
        if self.fid is not None and self.fid.fake_features_num_samples > 1:
            scores[f"{prefix}/fid"] = float(self.fid.compute())
            self.fid.reset()
        datamodule = module.trainer.datamodule
        if hasattr(datamodule, "score_samples"):
            generator = torch.Generator(device=module.device).manual_seed(0)
            labels = self._labels(module, self.num_eval_samples, None)
            samples = module.sample(self.num_eval_samples, labels=labels, generator=generator)
            for name, value in datamodule.score_samples(samples, labels).items():
                scores[f"{prefix}/{name}"] = float(value)
        return scores
