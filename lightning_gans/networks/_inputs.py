"""The one input check every translation network runs at ``forward``: layout, channels and size, as one line."""

from __future__ import annotations

from torch import Tensor

from lightning_gans.errors import UserInputError


def check_images(images: Tensor, owner: str, channels: int, multiple: int, minimum: int, fix: str) -> None:
    """Raise a one-line ``UserInputError`` unless ``images`` is ``(B, channels, H, W)`` with H, W fit for the network.

    Args:
        images: the network's input.
        owner: the network, as the message names it (e.g. ``"UNetGenerator(num_downs=8)"``).
        channels: the channels the network was built for.
        multiple: H and W must be multiples of this (1 for any size).
        minimum: H and W must be at least this.
        fix: what the user can do about a wrong size, appended to the message.
    """
    if images.ndim != 4:
        raise UserInputError(f"{owner} takes (B, C, H, W) images, got a tensor of shape {tuple(images.shape)}")
    if images.shape[1] != channels:
        raise UserInputError(
            f"{owner} was built for {channels}-channel images, got {images.shape[1]} channels "
            f"(shape {tuple(images.shape)}): set the network's channel count to the data's"
        )
    height, width = images.shape[-2:]
    if height % multiple or width % multiple or height < minimum or width < minimum:
        need = [f"multiples of {multiple}"] if multiple > 1 else []
        need += [f"at least {minimum}"] if minimum > multiple else []
        raise UserInputError(f"{owner} needs height and width {', '.join(need)}; got {height}x{width}: {fix}")
