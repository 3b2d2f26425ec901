"""Tests for lightning_gans.images: PNG round trips (8/16-bit), independent decoding, reading, grids, scatter plots."""

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lightning_gans import images
from lightning_gans.images import image_grid, points_to_image, read_image, save_grid, save_image, to_unit_range

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


def decode_png_by_hand(path: Path) -> np.ndarray:
    """Decode a filter-type-0 PNG (as save_image writes) into (H, W, C) integers, independently of torchvision."""
    chunks = png_chunks(path)
    width, height, bit_depth, color_type, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert interlace == 0
    channels = {0: 1, 2: 3, 6: 4}[color_type]
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(height, -1)
    assert (raw[:, 0] == 0).all(), "every row must use filter type 0"
    dtype = ">u2" if bit_depth == 16 else np.uint8
    return raw[:, 1:].copy().view(dtype).reshape(height, width, channels).astype(np.int64)


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


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("bit_depth", [8, 16])
def test_round_trip_exact_on_quantized_values(tmp_path: Path, channels: int, bit_depth: int) -> None:
    generator = torch.Generator().manual_seed(channels * bit_depth)
    max_value = MAX_VALUE[bit_depth]
    levels = torch.randint(0, max_value + 1, (channels, 5, 7), generator=generator)
    levels[0, 0, 0], levels[0, 0, 1] = 0, max_value  # both ends of the range
    path = tmp_path / "x.png"
    save_image(levels.double() / max_value, path, bit_depth=bit_depth)

    image, read_depth = read_image(path)
    assert read_depth == bit_depth
    assert image.dtype == torch.float32 and image.shape == (channels, 5, 7)
    assert torch.equal((image.double() * max_value).round().long(), levels)
    # An independent decoder (the PNG spec, by hand) sees the same samples.
    assert np.array_equal(decode_png_by_hand(path), levels.permute(1, 2, 0).numpy())


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
        (torch.zeros(2, 4, 4), {}, r"C in \{1, 3, 4\}"),
        (torch.zeros(4, 4), {}, r"shape \(C, H, W\)"),
        (torch.zeros(1, 0, 4), {}, "H, W >= 1"),
        (torch.full((1, 4, 4), 1.5), {}, r"in \[0, 1\]"),
        (torch.full((3, 4, 4), -0.1), {}, "to_unit_range"),
        (torch.full((1, 4, 4), float("nan")), {}, "NaN"),
        (torch.zeros(1, 4, 4), {"bit_depth": 12}, "bit_depth must be 8 or 16"),
        (torch.zeros(1, 4, 4), {"path_suffix": ".jpg"}, r"end in \.png"),
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
    with pytest.raises(ValueError, match="garbage.png") as error:
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


def test_read_16bit_rgb_tiff_refused_instead_of_truncated(tmp_path: Path) -> None:
    samples = np.random.default_rng(0).integers(0, 65536, (4, 5, 3)).astype(np.uint16)
    write_rgb16_tiff(tmp_path / "rgb16.tif", samples)
    with Image.open(tmp_path / "rgb16.tif") as pil_image:  # the behaviour the refusal guards against
        assert np.array_equal(np.asarray(pil_image), (samples >> 8).astype(np.uint8))
    with pytest.raises(ValueError, match="rgb16.tif.*16-bit RGB TIFF"):
        read_image(tmp_path / "rgb16.tif")


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
