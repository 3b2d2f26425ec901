"""Tests of inference on any-size images: tiled inference with blending (equal to the untiled network when the
overlap covers its receptive field, seams without it) and the x8 self-ensemble."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lightning_gans.inference import blend_window, run_padded, self_ensemble, tile_starts, tiled


def small_sr_net(channels_in: int = 3, channels_out: int = 3, scale: int = 2, seed: int = 0) -> nn.Module:
    """Three 3x3 convolutions at input resolution, then pixel shuffle: receptive radius 3 input pixels."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(channels_in, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, channels_out * scale**2, 3, padding=1),
        nn.PixelShuffle(scale),
    ).eval()


RADIUS = 3


@torch.no_grad()
def test_tiled_equals_untiled_when_the_overlap_covers_the_receptive_field() -> None:
    network = small_sr_net()
    images = torch.rand(2, 3, 45, 61)
    expected = network(images)  # (2, 3, 90, 122)
    overlap = 4 * RADIUS  # overlap // 4 >= radius: the documented rule
    result = tiled(network, images, scale=2, tile_size=28, overlap=overlap, tile_batch_size=3)
    assert result.shape == expected.shape
    assert (result - expected).abs().max() < 1e-5


@torch.no_grad()
def test_rule_is_tight_and_seams_appear_without_overlap() -> None:
    network = small_sr_net()
    images = torch.rand(1, 3, 45, 61)
    expected = network(images)
    too_small = tiled(network, images, scale=2, tile_size=28, overlap=4 * RADIUS - 4)  # overlap // 4 = radius - 1
    assert (too_small - expected).abs().max() > 1e-4
    hard = tiled(network, images, scale=2, tile_size=16, overlap=0)  # tiles just abut
    error = (hard - expected).abs().amax(dim=(0, 1))  # (90, 122)
    # the error sits on the tile boundaries (input rows/cols 16, 32: output 32, 64), not in the tile centres
    assert error[:, 62:66].max() > 1e-3 and error[12:20, 12:20].max() < 1e-6


@torch.no_grad()
def test_blending_weights_sum_to_one() -> None:
    # A network whose every output is 1 shows the normalised blend: 1 everywhere, however the tiles fall.
    def ones(x: torch.Tensor) -> torch.Tensor:
        return x.new_ones(x.shape[0], 2, 3 * x.shape[-2], 3 * x.shape[-1])

    result = tiled(ones, torch.rand(1, 1, 37, 53), scale=3, tile_size=20, overlap=8)
    torch.testing.assert_close(result, torch.ones(1, 2, 111, 159))
    # Two tiles sharing exactly `overlap` pixels: their raw windows already sum to 1 on the overlap.
    first = blend_window(20, 8, 3, inner_start=False, inner_end=True)
    second = blend_window(20, 8, 3, inner_start=True, inner_end=False)
    shared = first[-3 * 8 :] + second[: 3 * 8]
    torch.testing.assert_close(shared, torch.ones_like(shared))
    assert first[-6:].abs().max() == 0 and second[:6].abs().max() == 0  # margin overlap // 4 = 2 input pixels


def test_tile_starts_cover_the_image_with_full_tiles() -> None:
    for length, tile, overlap in [(61, 28, 12), (100, 32, 8), (28, 28, 12), (10, 28, 12), (29, 28, 0)]:
        starts = tile_starts(length, tile, overlap)
        size = min(tile, length)
        assert starts[0] == 0 and starts[-1] + size == length
        assert all(b - a <= size - overlap for a, b in zip(starts, starts[1:]))  # neighbours share >= overlap


@torch.no_grad()
@pytest.mark.parametrize(("height", "width"), [(7, 5), (31, 9), (33, 70)])
@pytest.mark.parametrize(("channels_in", "channels_out"), [(1, 1), (4, 3)])
def test_any_size_and_channels_including_images_smaller_than_a_tile(
    height: int, width: int, channels_in: int, channels_out: int
) -> None:
    network = small_sr_net(channels_in, channels_out, scale=3)
    images = torch.rand(2, channels_in, height, width)
    result = tiled(network, images, scale=3, tile_size=25, overlap=12)
    assert result.shape == (2, channels_out, 3 * height, 3 * width)
    assert (result - network(images)).abs().max() < 1e-5


@torch.no_grad()
def test_multiple_keeps_tiles_on_the_stride_of_a_pixel_unshuffle_network() -> None:
    torch.manual_seed(0)
    network = nn.Sequential(nn.PixelUnshuffle(2), nn.Conv2d(12, 48, 3, padding=1), nn.PixelShuffle(4)).eval()  # x2
    images = torch.rand(1, 3, 37, 51)  # odd sizes: padded to even by reflection, cropped back
    expected = run_padded(network, images, multiple=2, scale=2)
    result = tiled(network, images, scale=2, tile_size=24, overlap=8, multiple=2)
    assert result.shape == (1, 3, 74, 102)
    assert (result - expected).abs().max() < 1e-5


def test_tiled_rejects_bad_arguments() -> None:
    network = small_sr_net()
    with pytest.raises(ValueError, match="2 \\* overlap"):
        tiled(network, torch.rand(1, 3, 8, 8), scale=2, tile_size=16, overlap=8)
    with pytest.raises(ValueError, match="check scale"):
        tiled(network, torch.rand(1, 3, 40, 40), scale=4, tile_size=16, overlap=4)
    with pytest.raises(ValueError, match="multiples of 2"):
        tiled(network, torch.rand(1, 3, 40, 40), scale=2, tile_size=15, overlap=4, multiple=2)


def symmetric_blur(x: torch.Tensor) -> torch.Tensor:
    """A 3x3 kernel with the square's symmetries, then nearest x2: commutes with flips and 90-degree rotations."""
    kernel = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
    blurred = F.conv2d(x, kernel.expand(x.shape[1], 1, 3, 3), padding=1, groups=x.shape[1])
    return F.interpolate(blurred, scale_factor=2, mode="nearest")


def test_self_ensemble_of_an_equivariant_op_is_the_op() -> None:
    images = torch.rand(2, 3, 9, 14)
    result = self_ensemble(symmetric_blur, images)
    assert result.shape == (2, 3, 18, 28)
    torch.testing.assert_close(result, symmetric_blur(images))


def test_self_ensemble_averages_the_kernel_over_the_square_symmetries() -> None:
    # For a convolution with kernel K (zero padding), T^-1 conv_K(T x) = conv_{T^-1 K}(x), so the ensemble is the
    # convolution with the mean of K's 8 flips/rotations, computed here independently.
    kernel = torch.arange(9.0).view(1, 1, 3, 3) / 36

    def conv(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, kernel, padding=1)

    variants = [torch.rot90(k, turns, dims=(-2, -1)) for k in (kernel, kernel.flip(-1)) for turns in range(4)]
    averaged = torch.stack(variants).mean(dim=0)
    images = torch.rand(1, 1, 7, 10)
    result = self_ensemble(conv, images)
    torch.testing.assert_close(result, F.conv2d(images, averaged, padding=1))
    assert (result - conv(images)).abs().max() > 1e-2  # the kernel is not symmetric: the ensemble changes it


@torch.no_grad()
def test_self_ensemble_composes_with_tiled() -> None:
    network = small_sr_net()
    images = torch.rand(1, 3, 21, 34)
    expected = self_ensemble(network, images)
    result = self_ensemble(lambda x: tiled(network, x, scale=2, tile_size=28, overlap=12), images)
    assert result.shape == (1, 3, 42, 68)
    assert (result - expected).abs().max() < 1e-5
