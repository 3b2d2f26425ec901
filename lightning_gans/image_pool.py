"""The history of generated images that CycleGAN's discriminators learn from (Shrivastava et al. 2017, Sec. 2.3).

CycleGAN (Zhu et al. 2017, arXiv 1703.10593, Sec. 4, "Training details"): "to reduce model oscillation, we
update the discriminators using a history of generated images rather than the ones produced by the latest
generators. We keep an image buffer that stores the 50 previously created images." The replacement rule is the
reference implementation's (``util/image_pool.py``): until the pool is full every new fake is stored and returned;
after that each new fake is, with probability 1/2, swapped for a random stored one (which is returned), else
returned as it is.

The pool is an ``nn.Module`` whose images travel in the module's ``state_dict`` (``get_extra_state``), so a
checkpoint holds both pools and resuming continues with the same history.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["ImagePool"]


class ImagePool(nn.Module):
    """A buffer of up to ``size`` generated images; ``query`` returns a batch mixing new and stored fakes.

    Args:
        size: images kept (the paper's 50); 0 turns the pool off (``query`` returns its input).
    """

    def __init__(self, size: int = 50) -> None:
        super().__init__()
        if size < 0:
            raise ValueError(f"ImagePool size must be >= 0, got {size}")
        self.size = size
        self.images: list[Tensor] = []  # each (C, H, W), detached

    @torch.no_grad()
    def query(self, fakes: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Store ``fakes`` ``(B, C, H, W)`` and return a batch of the same shape for the discriminator (detached).

        Args:
            fakes: the generator's latest outputs.
            generator: the random source of the swaps (per rank and batch; the global RNG when ``None``).
        """
        if self.size == 0:
            return fakes.detach()
        returned = []
        for fake in fakes.detach():  # (C, H, W)
            if len(self.images) < self.size:
                self.images.append(fake.clone())
                returned.append(fake)
                continue
            coin, index = torch.rand((), generator=generator, device=fake.device), None
            if coin > 0.5:
                index = int(torch.randint(len(self.images), (), generator=generator, device=fake.device))
            if index is None:
                returned.append(fake)
            else:
                returned.append(self.images[index])
                self.images[index] = fake.clone()
        return torch.stack(returned)

    def get_extra_state(self) -> dict:
        return {"images": torch.stack(self.images).cpu() if self.images else None}

    def set_extra_state(self, state: dict) -> None:
        stored = state.get("images") if isinstance(state, dict) else None
        self.images = [] if stored is None else [image.clone() for image in stored]

    def _apply(self, fn, recurse: bool = True):  # .to(device) / .half() move the stored images too
        self.images = [fn(image) for image in self.images]
        return super()._apply(fn, recurse)

    def extra_repr(self) -> str:
        return f"size={self.size}, stored={len(self.images)}"
