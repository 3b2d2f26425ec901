"""Tests for lightning_gans.images: PNG/TIFF round trips (8/16-bit), independent decoding, header reading, damaged
files, grids, scatter plots. Every file is written into pytest's tmp_path."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from lightning_gans import images
from lightning_gans.errors import UserInputError
from lightning_gans.images import (
    image_grid,
    points_to_image,
    read_image,
    read_image_size,
    save_grid,
    save_image,
    to_unit_range,
)

MAX_VALUE = {8: 255, 16: 65535}


def png_chunks(path: Path) -> dict[bytes, bytes]:
    """Parse a PNG file into {chunk type: concatenated data}, checking the signature and every CRC."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks: dict[bytes, bytes] = {}
    offset = 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC in {kind!r}"
        chunks[kind] = chunks.get(kind, b"") + body
        offset += 12 + length
    assert kind == b"IEND"
    return chunks


def unfilter_rows(raw: np.ndarray, bytes_per_pixel: int) -> np.ndarray:
    """Undo the PNG row filters (spec section 9: None, Sub, Up, Average, Paeth) of (H, 1 + row bytes) data."""
    height, width = raw.shape[0], raw.shape[1] - 1
    out = np.zeros((height, width), np.int64)
    for row in range(height):
        kind, line = raw[row, 0], raw[row, 1:].astype(np.int64)
        above = out[row - 1] if row else np.zeros(width, np.int64)
        for i in range(width):
            left = out[row, i - bytes_per_pixel] if i >= bytes_per_pixel else 0
            upper_left = above[i - bytes_per_pixel] if i >= bytes_per_pixel and row else 0
            if kind == 0:
                predictor = 0
            elif kind == 1:
                predictor = left
            elif kind == 2:
                predictor = above[i]
            elif kind == 3:
                predictor = (left + above[i]) // 2
            else:
                estimate = left + above[i] - upper_left
                distances = [abs(estimate - left), abs(estimate - above[i]), abs(estimate - upper_left)]
                predictor = (left, above[i], upper_left)[distances.index(min(distances))]
            out[row, i] = (line[i] + predictor) % 256
    return out.astype(np.uint8)


def decode_png_by_hand(path: Path) -> np.ndarray:
    """Decode a non-interlaced PNG into (H, W, C) integers from the spec, independently of OpenCV and torchvision."""
    chunks = png_chunks(path)
    width, height, bit_depth, color_type, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert interlace == 0
    channels = {0: 1, 2: 3, 6: 4}[color_type]
    bytes_per_pixel = channels * bit_depth // 8
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(height, -1)
    rows = unfilter_rows(raw, bytes_per_pixel)
    dtype = ">u2" if bit_depth == 16 else np.uint8
    return rows.view(dtype).reshape(height, width, channels).astype(np.int64)


def write_rgb16_tiff(path: Path, samples: np.ndarray) -> None:
    """Write an uncompressed little-endian 16-bit RGB TIFF (one strip) by hand: Pillow cannot write one."""
    height, width, _ = samples.shape
    pixel_data = samples.astype("<u2").tobytes()
    data_offset, bits_offset = 16, 8
    ifd_offset = data_offset + len(pixel_data)
    short, long = 3, 4  # TIFF field types
    tags = [
        (256, short, 1, width),
        (257, short, 1, height),
        (258, short, 3, bits_offset),  # BitsPerSample: 16, 16, 16 stored at bits_offset
        (259, short, 1, 1),  # no compression
        (262, short, 1, 2),  # RGB
        (273, long, 1, data_offset),
        (277, short, 1, 3),
        (278, short, 1, height),
        (279, long, 1, len(pixel_data)),
        (284, short, 1, 1),  # chunky (interleaved) samples
    ]
    ifd = struct.pack("<H", len(tags))
    for tag, kind, count, value in tags:
        packed_value = struct.pack("<HH", value, 0) if kind == short and count == 1 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, count) + packed_value
    header = b"II*\x00" + struct.pack("<I", ifd_offset) + struct.pack("<3H", 16, 16, 16) + b"\x00\x00"
    path.write_bytes(header + pixel_data + ifd + struct.pack("<I", 0))


def test_to_unit_range_golden() -> None:
    x = torch.tensor([-3.0, -1.0, 0.0, 0.5, 1.0, 2.0])
    assert torch.equal(to_unit_range(x), torch.tensor([0.0, 0.0, 0.5, 0.75, 1.0, 1.0]))


def random_levels(channels: int, bit_depth: int, seed: int, size: tuple[int, int] = (5, 7)) -> torch.Tensor:
    """Random integer samples (C, H, W) of a bit depth, with both ends of the range present."""
    generator = torch.Generator().manual_seed(seed)
    levels = torch.randint(0, MAX_VALUE[bit_depth] + 1, (channels, *size), generator=generator)
    levels[0, 0, 0], levels[0, 0, 1] = 0, MAX_VALUE[bit_depth]
    return levels


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("bit_depth", [8, 16])
def test_png_round_trip_exact_on_quantized_values(tmp_path: Path, channels: int, bit_depth: int) -> None:
    max_value = MAX_VALUE[bit_depth]
    levels = random_levels(channels, bit_depth, seed=channels * bit_depth)
    path = tmp_path / "x.png"
    save_image(levels.double() / max_value, path, bit_depth=bit_depth)

    image, read_depth = read_image(path)
    assert read_depth == bit_depth
    assert image.dtype == torch.float32 and image.shape == (channels, 5, 7)
    assert torch.equal((image.double() * max_value).round().long(), levels)
    # An independent decoder (the PNG spec, by hand) sees the same samples in RGB(A) order.
    assert np.array_equal(decode_png_by_hand(path), levels.permute(1, 2, 0).numpy())


@pytest.mark.parametrize("channels", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("bit_depth", [8, 16])
def test_tiff_round_trip_exact_on_quantized_values(tmp_path: Path, channels: int, bit_depth: int) -> None:
    max_value = MAX_VALUE[bit_depth]
    levels = random_levels(channels, bit_depth, seed=channels + bit_depth)
    path = tmp_path / "x.tiff"
    save_image(levels.double() / max_value, path, bit_depth=bit_depth)

    image, read_depth = read_image(path)
    assert read_depth == bit_depth and image.shape == (channels, 5, 7)
    assert torch.equal((image.double() * max_value).round().long(), levels)
    # Pillow decodes the layouts it knows independently; its mode shows colour order and bit depth in the file.
    pillow_modes = {(1, 8): "L", (3, 8): "RGB", (4, 8): "RGBA", (1, 16): "I;16"}
    if (channels, bit_depth) in pillow_modes:
        with Image.open(path) as pil_image:
            assert pil_image.mode == pillow_modes[channels, bit_depth]
            pillow = np.asarray(pil_image).astype(np.int64).reshape(5, 7, channels)
        assert np.array_equal(pillow, levels.permute(1, 2, 0).numpy())


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_every_16bit_level_survives_float32(tmp_path: Path, suffix: str) -> None:
    levels = torch.arange(65536).reshape(1, 256, 256)
    save_image(levels.double() / 65535, tmp_path / f"all{suffix}", bit_depth=16)
    image, bit_depth = read_image(tmp_path / f"all{suffix}")
    assert bit_depth == 16 and image.dtype == torch.float32
    assert torch.equal((image.double() * 65535).round().long(), levels)
    assert image.unique().numel() == 65536  # no two levels collapse in float32


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("bit_depth", [8, 16])
def test_round_trip_error_within_half_a_step(tmp_path: Path, channels: int, bit_depth: int) -> None:
    image = torch.rand(channels, 9, 11, generator=torch.Generator().manual_seed(0))
    save_image(image, tmp_path / "x.png", bit_depth=bit_depth)
    read, _ = read_image(tmp_path / "x.png")
    max_error = (read.double() - image.double()).abs().max().item()
    assert max_error <= 0.5 / MAX_VALUE[bit_depth] + 1e-7
    assert max_error > 0  # random floats are not on the grid: quantization really happened


@pytest.mark.parametrize(("channels", "color_type", "pillow_mode"), [(1, 0, "L"), (3, 2, "RGB"), (4, 6, "RGBA")])
@pytest.mark.parametrize("bit_depth", [8, 16])
def test_png_header_says_bit_depth_and_color_type(
    tmp_path: Path, channels: int, color_type: int, pillow_mode: str, bit_depth: int
) -> None:
    save_image(torch.rand(channels, 3, 6), tmp_path / "x.png", bit_depth=bit_depth)
    width, height, depth, kind = struct.unpack(">IIBB", png_chunks(tmp_path / "x.png")[b"IHDR"][:10])
    assert (width, height, depth, kind) == (6, 3, bit_depth, color_type)
    with Image.open(tmp_path / "x.png") as pil_image:  # Pillow opens it (it reads 16-bit colour as 8-bit)
        expected_mode = "I;16" if (bit_depth, channels) == (16, 1) else pillow_mode
        assert pil_image.mode == expected_mode and pil_image.size == (6, 3)


def test_pillow_reads_8bit_and_16bit_greyscale_samples(tmp_path: Path) -> None:
    image = torch.linspace(0, 1, 12).reshape(1, 3, 4)
    save_image(image, tmp_path / "g8.png", bit_depth=8)
    save_image(image, tmp_path / "g16.png", bit_depth=16)
    expected_8 = (image[0].double() * 255).round().numpy()
    expected_16 = (image[0].double() * 65535).round().numpy()
    assert np.array_equal(np.asarray(Image.open(tmp_path / "g8.png")), expected_8)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "g16.png")).astype(np.int64), expected_16)


def test_save_image_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_image(torch.zeros(1, 2, 2), tmp_path / "sub" / "dir" / "ok.png")  # creates parent folders
    assert [p.name for p in (tmp_path / "sub" / "dir").iterdir()] == ["ok.png"]  # no temporary left behind

    def failing_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(images.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        save_image(torch.zeros(1, 2, 2), tmp_path / "fail.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub"]  # neither the target nor a temporary exists


@pytest.mark.parametrize(
    ("image", "kwargs", "message"),
    [
        (torch.zeros(1, 4, 4, dtype=torch.uint8), {}, "float tensor"),
        (torch.zeros(5, 4, 4), {}, r"C in \{1, 2, 3, 4\}"),
        (torch.zeros(4, 4), {}, r"shape \(C, H, W\)"),
        (torch.zeros(1, 0, 4), {}, "H, W >= 1"),
        (torch.full((1, 4, 4), 1.5), {}, r"in \[0, 1\]"),
        (torch.full((3, 4, 4), -0.1), {}, "to_unit_range"),
        (torch.full((1, 4, 4), float("nan")), {}, "NaN"),
        (torch.zeros(1, 4, 4), {"bit_depth": 12}, "bit_depth must be 8 or 16"),
        (torch.zeros(1, 4, 4), {"path_suffix": ".bmp"}, r"end in \.png, \.tif"),
        (torch.zeros(1, 4, 4), {"path_suffix": ".jpg", "bit_depth": 16}, "8-bit only"),
        (torch.zeros(4, 4, 4), {"path_suffix": ".jpg"}, r"C in \{1, 3\}"),
        (torch.zeros(0, 4, 4), {"path_suffix": ".tif"}, "C >= 1"),
        ([[0.0]], {}, "torch.Tensor"),
    ],
)
def test_save_image_rejects_bad_input(tmp_path: Path, image: torch.Tensor, kwargs: dict, message: str) -> None:
    path = tmp_path / f"x{kwargs.pop('path_suffix', '.png')}"
    with pytest.raises(ValueError, match=message) as error:
        save_image(image, path, **kwargs)
    assert "\n" not in str(error.value)
    assert not path.exists()


def test_read_image_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.png"):
        read_image(tmp_path / "missing.png")
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"this is not an image")
    with pytest.raises(UserInputError, match="garbage.png") as error:
        read_image(garbage)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_read_jpeg(tmp_path: Path, mode: str) -> None:
    ramp = np.tile(np.linspace(0, 255, 32).astype(np.uint8), (16, 1))  # smooth: JPEG keeps it closely
    array = ramp if mode == "L" else np.stack([ramp, ramp[:, ::-1], np.full_like(ramp, 128)], axis=-1)
    Image.fromarray(array, mode).save(tmp_path / "x.jpg", quality=95)
    image, bit_depth = read_image(tmp_path / "x.jpg")
    channels = 1 if mode == "L" else 3
    assert bit_depth == 8 and image.shape == (channels, 16, 32)
    expected = torch.from_numpy(array.reshape(16, 32, channels)).permute(2, 0, 1).float() / 255
    assert (image - expected).abs().mean() < 0.02


@pytest.mark.parametrize(
    ("mode", "dtype", "bit_depth"), [("L", np.uint8, 8), ("RGB", np.uint8, 8), ("I;16", np.uint16, 16)]
)
def test_read_tiff_exact(tmp_path: Path, mode: str, dtype: type, bit_depth: int) -> None:
    rng = np.random.default_rng(0)
    shape = (6, 5, 3) if mode == "RGB" else (6, 5)
    array = rng.integers(0, MAX_VALUE[bit_depth] + 1, shape).astype(dtype)
    Image.fromarray(array).save(tmp_path / "x.tif")
    assert Image.open(tmp_path / "x.tif").mode == mode
    image, read_depth = read_image(tmp_path / "x.tif")
    expected = torch.from_numpy(array.astype(np.int64).reshape(6, 5, -1)).permute(2, 0, 1)
    assert read_depth == bit_depth
    assert torch.equal((image.double() * MAX_VALUE[bit_depth]).round().long(), expected)


def test_read_16bit_rgb_tiff_exact(tmp_path: Path) -> None:
    samples = np.random.default_rng(0).integers(0, 65536, (4, 5, 3)).astype(np.uint16)
    write_rgb16_tiff(tmp_path / "rgb16.tif", samples)  # written by hand: independent of tifffile
    with Image.open(tmp_path / "rgb16.tif") as pil_image:  # what Pillow would have done: keep the high byte
        assert np.array_equal(np.asarray(pil_image), (samples >> 8).astype(np.uint8))
    image, bit_depth = read_image(tmp_path / "rgb16.tif")
    assert bit_depth == 16
    expected = torch.from_numpy(samples.astype(np.int64)).permute(2, 0, 1)
    assert torch.equal((image.double() * 65535).round().long(), expected)


def test_lzw_tiff_without_imagecodecs_falls_back_to_pillow_exactly(tmp_path: Path) -> None:
    array = np.random.default_rng(1).integers(0, 256, (6, 5, 3)).astype(np.uint8)
    Image.fromarray(array).save(tmp_path / "lzw.tif", compression="tiff_lzw")
    image, bit_depth = read_image(tmp_path / "lzw.tif")
    assert bit_depth == 8
    assert torch.equal((image * 255).round().to(torch.uint8), torch.from_numpy(array).permute(2, 0, 1))
    assert read_image_size(tmp_path / "lzw.tif") == (3, 6, 5, 8)


def test_jpeg_writing_is_close(tmp_path: Path) -> None:
    ramp = torch.linspace(0, 1, 32).repeat(3, 16, 1)  # (3, 16, 32) smooth: JPEG keeps it closely
    save_image(ramp, tmp_path / "x.jpg")
    image, bit_depth = read_image(tmp_path / "x.jpg")
    assert bit_depth == 8 and image.shape == (3, 16, 32)
    assert (image - ramp).abs().mean() < 0.02


def write_variants(folder: Path) -> dict[str, tuple[int, int, int, int]]:
    """Files of many kinds, each with the (channels, height, width, bit depth) read_image must return."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 6, 3)).astype(np.uint8)
    grey = rng.integers(0, 256, (5, 6)).astype(np.uint8)
    expected = {}
    Image.fromarray(rgb).save(folder / "rgb.png")
    expected["rgb.png"] = (3, 5, 6, 8)
    Image.fromarray(np.dstack([grey, grey]), "LA").save(folder / "la.png")
    expected["la.png"] = (2, 5, 6, 8)
    Image.fromarray(rgb).convert("P").save(folder / "palette.png")
    expected["palette.png"] = (3, 5, 6, 8)
    Image.fromarray(rgb).convert("P").save(folder / "palette_trns.png", transparency=0)
    expected["palette_trns.png"] = (4, 5, 6, 8)
    Image.fromarray(rgb).save(folder / "rgb_trns.png", transparency=(1, 2, 3))
    expected["rgb_trns.png"] = (4, 5, 6, 8)
    Image.fromarray(grey).save(folder / "grey_trns.png", transparency=3)
    expected["grey_trns.png"] = (1, 5, 6, 8)
    Image.fromarray(grey > 128).save(folder / "bilevel.png")
    expected["bilevel.png"] = (1, 5, 6, 8)
    Image.fromarray(rgb).save(folder / "x.jpg")
    expected["x.jpg"] = (3, 5, 6, 8)
    Image.fromarray(rgb).save(folder / "x.bmp")
    expected["x.bmp"] = (3, 5, 6, 8)
    for channels in (1, 3, 4):
        for bit_depth in (8, 16):
            levels = random_levels(channels, bit_depth, seed=channels, size=(5, 6))
            for suffix in (".png", ".tif"):
                name = f"c{channels}_{bit_depth}{suffix}"
                save_image(levels.double() / MAX_VALUE[bit_depth], folder / name, bit_depth=bit_depth)
                expected[name] = (channels, 5, 6, bit_depth)
    tifffile.imwrite(folder / "planes7.tif", rng.integers(0, 65536, (7, 5, 6)).astype(np.uint16))
    expected["planes7.tif"] = (7, 5, 6, 16)
    tifffile.imwrite(folder / "rgb_in_4d.tif", rng.integers(0, 256, (1, 5, 6, 3)).astype(np.uint8))
    expected["rgb_in_4d.tif"] = (3, 5, 6, 8)
    Image.fromarray(grey).save(folder / "lzw_grey.tif", compression="tiff_lzw")
    expected["lzw_grey.tif"] = (1, 5, 6, 8)
    return expected


def test_header_reader_agrees_with_read_image(tmp_path: Path) -> None:
    for name, expected in write_variants(tmp_path).items():
        image, bit_depth = read_image(tmp_path / name)
        assert (*image.shape, bit_depth) == expected, name
        assert read_image_size(tmp_path / name) == expected, name
        assert 0 <= image.min() and image.max() <= 1


def test_read_image_orders_colour_channels_rgb(tmp_path: Path) -> None:
    pure_red = np.zeros((2, 3, 4), np.uint8)
    pure_red[..., 0], pure_red[..., 3] = 255, 128  # red, half-transparent
    Image.fromarray(pure_red, "RGBA").save(tmp_path / "red.png")
    image, _ = read_image(tmp_path / "red.png")
    assert torch.allclose(image[:, 0, 0], torch.tensor([1.0, 0.0, 0.0, 128 / 255]))


@pytest.mark.parametrize(("suffix", "bit_depth"), [(".png", 8), (".png", 16), (".tif", 8), (".tif", 16), (".jpg", 8)])
def test_truncated_files_raise_one_line_naming_the_file(tmp_path: Path, suffix: str, bit_depth: int) -> None:
    image = torch.rand(3, 40, 50, generator=torch.Generator().manual_seed(0))
    path = tmp_path / f"cut{suffix}"
    save_image(image, path, bit_depth=bit_depth)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserInputError, match=f"cut{suffix}") as error:
        read_image(path)
    assert "\n" not in str(error.value)


def test_header_reader_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.png"):
        read_image_size(tmp_path / "missing.png")
    (tmp_path / "garbage.png").write_bytes(b"not an image at all")
    with pytest.raises(UserInputError, match="garbage.png"):
        read_image_size(tmp_path / "garbage.png")
    save_image(torch.rand(1, 8, 8), tmp_path / "ok.png")
    (tmp_path / "head.png").write_bytes((tmp_path / "ok.png").read_bytes()[:20])  # cut inside IHDR
    with pytest.raises(UserInputError, match="head.png"):
        read_image_size(tmp_path / "head.png")
    tifffile.imwrite(tmp_path / "float.tif", np.zeros((4, 4), np.float32))
    with pytest.raises(UserInputError, match="float.tif.*float32"):
        read_image_size(tmp_path / "float.tif")
    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((3, 2, 4, 4), np.uint8))
    with pytest.raises(UserInputError, match="stack.tif.*one channel axis"):
        read_image(tmp_path / "stack.tif")


@pytest.mark.parametrize("channels", [1, 3])
def test_grid_shape_and_content(tmp_path: Path, channels: int) -> None:
    batch = torch.rand(7, channels, 8, 10)
    grid = image_grid(batch, nrow=3, padding=2)
    # 3 columns, ceil(7 / 3) = 3 rows; padding 2 around and between images
    assert grid.shape == (channels, 3 * 8 + 4 * 2, 3 * 10 + 4 * 2)
    assert torch.equal(grid[:, 2:10, 2:12], batch[0])  # first image, top left
    assert torch.equal(grid[:, 12:20, 2:12], batch[3])  # fourth image starts the second row
    written = save_grid(batch, tmp_path / "grid.png", nrow=3)
    read, _ = read_image(tmp_path / "grid.png")
    assert read.shape == written.shape == grid.shape


def test_grid_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="nrow must be >= 1"):
        image_grid(torch.rand(2, 1, 4, 4), nrow=0)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        image_grid(torch.rand(1, 4, 4), nrow=2)
    with pytest.raises(ValueError, match="empty"):
        image_grid(torch.rand(0, 1, 4, 4), nrow=2)


def is_dark(image: torch.Tensor, row: int, col: int) -> bool:
    return bool((image[:, row, col] < 0.5).all())


def test_points_to_image_dots_where_points_are() -> None:
    # extent 2, size 64: x = 1 -> col (1 + 2) * 63 / 4 = 47.25 -> 47; y = 1 -> row (2 - 1) * 63 / 4 = 15.75 -> 16
    image = points_to_image(torch.tensor([[1.0, 1.0]]), extent=2.0, size=64)
    assert image.shape == (3, 64, 64) and image.dtype == torch.float32
    assert 0 <= image.min() and image.max() <= 1
    dark = (image < 0.5).all(dim=0)
    assert dark.sum() == 4  # one 2x2 dot
    assert all(is_dark(image, r, c) for r, c in [(16, 47), (16, 48), (17, 47), (17, 48)])
    assert torch.equal(image[:, 0, 0], torch.ones(3))  # background is white


def test_points_to_image_y_points_up_and_drops_outliers() -> None:
    points = torch.tensor([[-1.5, -1.5], [100.0, 0.0], [float("nan"), 0.0]])
    image = points_to_image(points, extent=2.0, size=64)
    # (-1.5, -1.5) -> col (0.5) * 15.75 = 7.875 -> 8, row (3.5) * 15.75 = 55.125 -> 55: lower left
    assert is_dark(image, 55, 8)
    assert (image < 0.5).all(dim=0).sum() == 4  # the off-canvas and NaN points are not drawn


def test_points_to_image_reference_points_are_red() -> None:
    image = points_to_image(torch.zeros(0, 2), extent=1.0, size=64, reference_points=torch.tensor([[0.5, -0.5]]))
    row, col = round(1.5 * 31.5), round(1.5 * 31.5)  # (0.5, -0.5) -> col 47.25 -> 47, row 47.25 -> 47
    red, green, blue = image[:, row, col].tolist()
    assert red > 0.8 and green < 0.2 and blue < 0.2
    assert image[0, row, col + 3] > 0.8 and image[1, row, col + 3] < 0.2  # a cross arm


@pytest.mark.parametrize(
    ("points", "kwargs", "message"),
    [
        (torch.zeros(3, 3), {}, r"points must be a \(N, 2\)"),
        (torch.zeros(3, 2), {"extent": 0.0}, "extent must be"),
        (torch.zeros(3, 2), {"size": 4}, "size must be"),
        (torch.zeros(3, 2), {"reference_points": torch.zeros(2)}, "reference_points must be"),
    ],
)
def test_points_to_image_rejects_bad_input(points: torch.Tensor, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        points_to_image(points, **{"extent": 1.0, **kwargs})


def test_grey_plus_alpha_png_round_trips_at_8_bits_and_is_refused_at_16(tmp_path: Path) -> None:
    levels = random_levels(2, 8, seed=11)
    save_image(levels.double() / 255, tmp_path / "la.png")
    image, bit_depth = read_image(tmp_path / "la.png")
    assert bit_depth == 8 and image.shape == (2, 5, 7)
    assert torch.equal((image * 255).round().long(), levels)
    with pytest.raises(ValueError, match="write .tif"):
        save_image(levels.double() / 255, tmp_path / "la16.png", bit_depth=16)
    assert not (tmp_path / "la16.png").exists()
