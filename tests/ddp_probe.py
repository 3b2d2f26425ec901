"""A callback for the DDP test: every rank saves its final weights and the first latent noise it drew (if any)."""

from __future__ import annotations

from pathlib import Path

import torch
from lightning.pytorch import Callback

from lightning_gans.training import latent_noise


class SaveRankState(Callback):
    """Writes ``<default_root_dir>/rank<r>.pt`` with the module's state dict and a noise draw of batch 0."""

    def on_train_end(self, trainer, pl_module) -> None:
        latent_dim = pl_module.hparams.get("latent_dim")  # translation families have no z
        noise = latent_noise(pl_module, (4, latent_dim), batch_idx=0) if latent_dim else None
        state = {k: v.detach().cpu() for k, v in pl_module.state_dict().items() if isinstance(v, torch.Tensor)}  # not pools
        torch.save({"state_dict": state, "noise": noise}, Path(trainer.default_root_dir) / f"rank{trainer.global_rank}.pt")
