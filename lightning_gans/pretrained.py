"""Reading released weight files (the references' ``.pth`` files) safely, for every family.

Each network module converts its reference's key layout (``lightning_gans/networks/*``); this module only opens
the file: ``torch.load(..., weights_only=True)`` (no pickled code runs), unwraps the containers the references use
(BasicSR's ``params`` / ``params_ema``), and turns every failure into one line naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from lightning_gans.errors import UserInputError

__all__ = ["read_state_dict"]


def read_state_dict(path: str | os.PathLike, prefer: Sequence[str] = ("params_ema", "params")) -> dict[str, Tensor]:
    """The tensors of a weight file as a flat ``{name: tensor}`` dict on the CPU.

    Args:
        path: a ``.pth`` / ``.pt`` / ``.ckpt`` file holding a state dict, or a dict that wraps one under one of
            ``prefer`` (BasicSR saves ``{"params": ..., "params_ema": ...}``) or ``state_dict`` (Lightning).
        prefer: wrapper keys tried in order; the first one present is used.

    Raises:
        UserInputError: the file is missing, is not a weights-only file, or holds no state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"weight file not found: {path} (download the released file and pass its path)")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickled modules, truncated files, not a torch file at all
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserInputError(f"cannot read {path} as a weights-only state dict: {reason}") from None
    if isinstance(loaded, dict):
        for key in (*prefer, "state_dict"):
            if isinstance(loaded.get(key), dict):
                loaded = loaded[key]
                break
    if not isinstance(loaded, dict) or not loaded or not all(isinstance(v, Tensor) for v in loaded.values()):
        raise UserInputError(f"{path} holds no state dict of tensors (keys: {list(loaded)[:5] if isinstance(loaded, dict) else type(loaded).__name__})")
    return dict(loaded)
