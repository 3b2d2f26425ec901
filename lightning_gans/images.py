"""Image IO shared by every family: PNG writing (8/16-bit, 1/3/4 channels), reading, grids and 2-D scatter plots.

Nothing here assumes MNIST: images are ``(C, H, W)`` float tensors in [0, 1] with any size, 1 (greyscale),
3 (RGB) or 4 (RGBA) channels, stored with 8 or 16 bits per sample. Models work in [-1, 1]; ``to_unit_range``
maps their output here.

Why a PNG encoder of our own: Pillow cannot write 16-bit RGB/RGBA PNGs and ``torchvision.io.encode_png`` (0.29)
only takes uint8 with 1 or 3 channels, so 16-bit colour and 8-bit RGBA would need three code paths. The encoder
below writes every supported case with one path (PNG spec, ISO/IEC 15948: IHDR, one zlib IDAT stream with
filter type 0 per row, big-endian 16-bit samples, IEND).
"""

import os
import struct
import uuid
import zlib
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torchvision
from PIL import Image
from torch import Tensor

__all__ = ["image_grid", "points_to_image", "read_image", "save_grid", "save_image", "to_unit_range"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOR_TYPE = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type: greyscale, truecolour, truecolour + alpha
_MAX_VALUE = {8: 255, 16: 65535}
_PILLOW_16BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")

_POINT_COLOR = (0.05, 0.10, 0.35)  # dark blue-black: generated points
_REFERENCE_COLOR = (0.90, 0.05, 0.05)  # red: reference points (e.g. the true mixture modes)
_AXIS_COLOR = 0.85  # light grey axes through the origin


def to_unit_range(x: Tensor) -> Tensor:
    """Map model outputs from [-1, 1] to [0, 1], clamping anything outside.

    Args:
        x: Tensor of any shape with values nominally in [-1, 1] (e.g. a tanh generator output).

    Returns:
        ``(x + 1) / 2`` clamped to [0, 1], same shape and dtype as ``x``.
    """
    return ((x + 1) / 2).clamp(0, 1)


def _check_image(image: Tensor, name: str) -> None:
    """Raise a one-line ValueError unless ``image`` is a finite float ``(C, H, W)`` tensor in [0, 1], C in {1, 3, 4}."""
    if not isinstance(image, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(image).__name__}")
    if not image.is_floating_point():
        raise ValueError(f"{name} must be a float tensor in [0, 1], got dtype {image.dtype}; divide integers by 255")
    if image.ndim != 3 or image.shape[0] not in _PNG_COLOR_TYPE:
        raise ValueError(f"{name} must have shape (C, H, W) with C in {{1, 3, 4}}, got {tuple(image.shape)}")
    if image.shape[1] == 0 or image.shape[2] == 0:
        raise ValueError(f"{name} must have H, W >= 1, got {tuple(image.shape)}")
    if not torch.isfinite(image).all():
        raise ValueError(f"{name} contains NaN or inf; clean the tensor before saving")
    low, high = image.min().item(), image.max().item()
    if low < 0 or high > 1:
        raise ValueError(f"{name} must be in [0, 1], got [{low:.4g}, {high:.4g}]; map [-1, 1] with to_unit_range")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC-32 over type + data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _encode_png(samples: np.ndarray, bit_depth: int) -> bytes:
    """Encode ``(H, W, C)`` unsigned integer samples (C in {1, 3, 4}) as a PNG file's bytes."""
    height, width, channels = samples.shape
    # PNG stores 16-bit samples big-endian; order="C" because the (H, W, C) input is usually a permuted view
    big_endian = samples.astype(">u2" if bit_depth == 16 else np.uint8, order="C")
    rows = big_endian.view(np.uint8).reshape(height, -1)  # (H, W * C * bytes_per_sample)
    filtered = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1)  # filter type 0 (None) per row
    header = struct.pack(">IIBBBBB", width, height, bit_depth, _PNG_COLOR_TYPE[channels], 0, 0, 0)
    return (
        _PNG_SIGNATURE
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(filtered.tobytes(), 6))
        + _png_chunk(b"IEND", b"")
    )


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file next to ``path`` and rename it, so no half-written file is ever visible."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")  # same folder: rename is atomic
    try:
        with open(tmp_path, "xb") as tmp_file:  # default permissions (0o666 & ~umask), unlike tempfile.mkstemp
            tmp_file.write(data)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def save_image(image: Tensor, path: str | os.PathLike, bit_depth: Literal[8, 16] = 8) -> None:
    """Write one image as a PNG file (atomically: a temporary file renamed into place).

    Values are quantized as ``round(x * (2**bit_depth - 1))``, so reading the file back differs by at most
    half a quantization step (0.5/255 or 0.5/65535).

    Args:
        image: ``(C, H, W)`` float tensor in [0, 1] (any device); C = 1 greyscale, 3 RGB, 4 RGBA.
        path: Destination file; must end in ``.png``. Missing parent folders are created.
        bit_depth: Bits per sample in the file: 8 or 16.
    """
    _check_image(image, "save_image: image")
    if bit_depth not in _MAX_VALUE:
        raise ValueError(f"save_image: bit_depth must be 8 or 16, got {bit_depth!r}")
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"save_image: path must end in .png (the file is always PNG), got {str(path)!r}")
    scaled = image.detach().to("cpu", torch.float64) * _MAX_VALUE[bit_depth]
    samples = scaled.round().to(torch.int32).permute(1, 2, 0).numpy()  # (H, W, C)
    _write_atomically(path, _encode_png(samples, bit_depth))


def _read_with_pillow(path: Path) -> tuple[np.ndarray, int]:
    """Decode ``path`` with Pillow into ``(H, W, C)`` integer samples and the file's bit depth."""
    with Image.open(path) as pil_image:
        mode = pil_image.mode
        if mode in ("RGB", "RGBA") and hasattr(pil_image, "tag_v2"):
            bits = pil_image.tag_v2.get(258, (8,))  # TIFF BitsPerSample
            if max(bits) > 8:
                raise ValueError(
                    f"read_image: {path} is a {max(bits)}-bit {mode} TIFF, which Pillow silently reduces to 8 bits; "
                    "convert it to a 16-bit PNG (e.g. tifffile.imread + save_image(..., bit_depth=16))"
                )
        if mode in _PILLOW_16BIT_MODES:
            return np.array(pil_image).astype(np.int32)[..., None], 16
        if mode in ("I", "F"):
            raise ValueError(
                f"read_image: {path} holds 32-bit samples (Pillow mode {mode}); only 8- and 16-bit images are supported"
            )
        if mode == "1":
            pil_image = pil_image.convert("L")
        elif mode in ("P", "PA"):
            has_alpha = mode == "PA" or "transparency" in pil_image.info
            pil_image = pil_image.convert("RGBA" if has_alpha else "RGB")
        elif mode not in ("L", "LA", "RGB", "RGBA"):
            pil_image = pil_image.convert("RGB")  # CMYK, YCbCr, LAB, HSV
        samples = np.array(pil_image)  # a writable copy
    if samples.ndim == 2:
        samples = samples[..., None]
    return samples, 8


def read_image(path: str | os.PathLike) -> tuple[Tensor, int]:
    """Read an 8- or 16-bit image file (PNG, JPEG, TIFF, ...) into a float tensor.

    PNG and JPEG are decoded by ``torchvision.io.decode_image`` (it keeps 16-bit PNG samples); other formats
    (TIFF, BMP, ...) by Pillow. 16-bit greyscale TIFF is supported; 16-bit colour TIFF is refused because Pillow
    would silently keep only the high byte.

    Args:
        path: Image file to read.

    Returns:
        ``(image, bit_depth)``: ``image`` is a ``(C, H, W)`` float32 tensor in [0, 1] with the file's channels
        (1 greyscale, 2 greyscale + alpha, 3 RGB, 4 RGBA); ``bit_depth`` is 8 or 16, the file's bits per sample.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"read_image: no such image file: {path}")
    try:
        decoded = torchvision.io.decode_image(torchvision.io.read_file(str(path)))  # (C, H, W), uint8 or uint16
    except RuntimeError:  # format torchvision does not decode (TIFF, BMP, ...) or a damaged file
        decoded = None
    if decoded is not None:
        if decoded.ndim == 4:  # animated GIF/WebP: (frames, C, H, W)
            if decoded.shape[0] != 1:
                raise ValueError(f"read_image: {path} has {decoded.shape[0]} frames; only single images are supported")
            decoded = decoded[0]
        bit_depth = 16 if decoded.dtype == torch.uint16 else 8
        return decoded.to(torch.float32) / _MAX_VALUE[bit_depth], bit_depth
    try:
        samples, bit_depth = _read_with_pillow(path)
    except (OSError, SyntaxError) as error:  # Pillow's UnidentifiedImageError is an OSError
        raise ValueError(f"read_image: cannot decode {path} as an image ({error})") from None
    image = torch.from_numpy(np.ascontiguousarray(samples)).permute(2, 0, 1).to(torch.float32)  # (C, H, W)
    return image / _MAX_VALUE[bit_depth], bit_depth


def image_grid(images: Tensor, nrow: int, padding: int = 2, pad_value: float = 0.0) -> Tensor:
    """Tile a batch of images into one image (``torchvision.utils.make_grid``), keeping 1-channel images greyscale.

    Args:
        images: ``(N, C, H, W)`` float tensor in [0, 1], C in {1, 3, 4}, N >= 1.
        nrow: Images per grid row (>= 1).
        padding: Pixels of padding between and around the images.
        pad_value: Value in [0, 1] of the padding pixels.

    Returns:
        ``(C, H', W')`` float tensor in [0, 1] on the device of ``images``.
    """
    if not isinstance(images, Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"image_grid: images must be a (N, C, H, W) tensor, got {shape}")
    if images.shape[0] == 0:
        raise ValueError("image_grid: images is empty (N = 0); pass at least one image")
    if nrow < 1:
        raise ValueError(f"image_grid: nrow must be >= 1, got {nrow}")
    channels = images.shape[1]
    grid = torchvision.utils.make_grid(images.detach(), nrow=nrow, padding=padding, pad_value=pad_value)
    return grid[:1] if channels == 1 else grid  # make_grid turns 1 channel into 3 identical ones


def save_grid(
    images: Tensor, path: str | os.PathLike, nrow: int, bit_depth: Literal[8, 16] = 8, padding: int = 2
) -> Tensor:
    """Tile a batch of images into one PNG file.

    Args:
        images: ``(N, C, H, W)`` float tensor in [0, 1], C in {1, 3, 4}.
        path: Destination ``.png`` file (written atomically; parent folders created).
        nrow: Images per grid row (>= 1).
        bit_depth: Bits per sample in the file: 8 or 16.
        padding: Pixels of (black) padding between and around the images.

    Returns:
        The ``(C, H', W')`` grid that was written, in [0, 1].
    """
    grid = image_grid(images, nrow=nrow, padding=padding)
    save_image(grid, path, bit_depth=bit_depth)
    return grid


def _to_pixels(points: Tensor, extent: float, size: int) -> tuple[Tensor, Tensor]:
    """Map ``(N, 2)`` points in [-extent, extent]^2 to integer (row, col); y points up. Drops off-canvas points."""
    scale = (size - 1) / (2 * extent)
    cols = ((points[:, 0] + extent) * scale).round()
    rows = ((extent - points[:, 1]) * scale).round()
    inside = (cols >= 0) & (cols < size) & (rows >= 0) & (rows < size)  # NaN compares False: dropped too
    return rows[inside].long(), cols[inside].long()


def _paint(canvas: Tensor, rows: Tensor, cols: Tensor, offsets: list[tuple[int, int]], color: tuple) -> None:
    """Set ``canvas[:, row + dr, col + dc]`` to ``color`` for every point and offset that stays on the canvas."""
    size = canvas.shape[-1]
    for d_row, d_col in offsets:
        r, c = rows + d_row, cols + d_col
        keep = (r >= 0) & (r < size) & (c >= 0) & (c < size)
        for channel, value in enumerate(color):
            canvas[channel, r[keep], c[keep]] = value


def points_to_image(
    points: Tensor, extent: float, size: int = 256, reference_points: Tensor | None = None
) -> Tensor:
    """Render a 2-D scatter plot as an RGB image, without matplotlib.

    The square ``[-extent, extent]^2`` fills the image (x to the right, y up), with light grey axes through the
    origin. Each point is a dark 2x2 dot; reference points (e.g. the true mixture modes) are drawn on top as red
    crosses. Points outside the square or not finite are left out.

    Args:
        points: ``(N, 2)`` float tensor of (x, y) coordinates (N may be 0).
        extent: Half-width (> 0) of the plotted square, in data units.
        size: Image height and width in pixels (>= 16).
        reference_points: Optional ``(K, 2)`` float tensor of (x, y) positions to mark as red crosses.

    Returns:
        ``(3, size, size)`` float32 tensor in [0, 1] on the CPU: white background, dark dots.
    """
    for name, value in (("points", points), ("reference_points", reference_points)):
        if value is not None and (not isinstance(value, Tensor) or value.ndim != 2 or value.shape[1] != 2):
            shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise ValueError(f"points_to_image: {name} must be a (N, 2) tensor of (x, y), got {shape}")
    if not extent > 0 or not np.isfinite(extent):
        raise ValueError(f"points_to_image: extent must be a finite number > 0, got {extent}")
    if size < 16:
        raise ValueError(f"points_to_image: size must be >= 16 pixels, got {size}")
    canvas = torch.ones(3, size, size)
    centre = round((size - 1) / 2)
    canvas[:, centre, :] = _AXIS_COLOR
    canvas[:, :, centre] = _AXIS_COLOR
    rows, cols = _to_pixels(points.detach().to("cpu", torch.float64), extent, size)
    _paint(canvas, rows, cols, [(0, 0), (0, 1), (1, 0), (1, 1)], _POINT_COLOR)
    if reference_points is not None:
        arm = max(3, size // 48)  # cross half-width in pixels
        cross = [(0, 0)] + [(d, 0) for d in range(-arm, arm + 1) if d] + [(0, d) for d in range(-arm, arm + 1) if d]
        rows, cols = _to_pixels(reference_points.detach().to("cpu", torch.float64), extent, size)
        _paint(canvas, rows, cols, cross, _REFERENCE_COLOR)
    return canvas
