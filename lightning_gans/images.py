"""Image IO shared by every family: 8/16-bit PNG and TIFF (and 8-bit JPEG, ...), grids and 2-D scatter plots.

Nothing here assumes MNIST: images are ``(C, H, W)`` float tensors in [0, 1] with any size, stored with 8 or 16
bits per sample. Models work in [-1, 1]; ``to_unit_range`` maps their output here.

Which library does what, and why:
- PNG: OpenCV (``cv2.imencode`` / ``cv2.imdecode`` with ``IMREAD_UNCHANGED``). It reads and writes 8- and 16-bit
  greyscale, RGB and RGBA; Pillow cannot write 16-bit colour PNG and reads it as 8-bit. OpenCV orders colour
  channels BGR / BGRA, so they are swapped on the way in and out.
- TIFF: tifffile. It keeps 16-bit colour (Pillow silently keeps the high byte) and any number of channels
  (microscopes, multispectral and NIR cameras). Without the optional ``imagecodecs`` package tifffile cannot
  decode LZW or JPEG compression; such files fall back to Pillow where Pillow keeps every bit.
- Everything else (JPEG, BMP, WebP, ...): Pillow, which is 8-bit there anyway and refuses truncated files.

A file's samples map from its full integer range to [0, 1] (``k / 255`` or ``k / 65535``); ``float32`` holds
``k / 65535`` closely enough that ``round(x * 65535)`` gives ``k`` back, so 16-bit data survive a round trip.
"""

from __future__ import annotations

import io
import os
import struct
import uuid
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import tifffile
import torch
import torchvision
from PIL import Image
from torch import Tensor

from lightning_gans.errors import UserInputError

__all__ = [
    "image_grid",
    "points_to_image",
    "read_image",
    "read_image_size",
    "save_grid",
    "save_image",
    "to_unit_range",
]

_MAX_VALUE = {8: 255, 16: 65535}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF, both byte orders
_PNG_SUFFIXES = (".png",)
_TIFF_SUFFIXES = (".tif", ".tiff")
_JPEG_SUFFIXES = (".jpg", ".jpeg")
_JPEG_QUALITY = 95  # Pillow's default of 75 visibly blurs generated detail
_PNG_COMPRESSION = 6  # zlib's default level: a middle ground between file size and writing time
_PILLOW_16BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
_PILLOW_CHANNELS = {"1": 1, "L": 1, "LA": 2, "La": 2, "PA": 4, "RGB": 3, "RGBA": 4, "RGBa": 4}

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


# ---------------------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------------------
def _check_image(image: Tensor, name: str, channels: tuple[int, ...] | None) -> None:
    """Raise a one-line ValueError unless ``image`` is a finite float ``(C, H, W)`` tensor in [0, 1].

    ``channels`` lists the allowed C; None allows any C >= 1.
    """
    if not isinstance(image, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(image).__name__}")
    if not image.is_floating_point():
        raise ValueError(f"{name} must be a float tensor in [0, 1], got dtype {image.dtype}; divide integers by 255")
    if image.ndim != 3 or image.shape[0] == 0 or (channels is not None and image.shape[0] not in channels):
        allowed = "C >= 1" if channels is None else "C in {" + ", ".join(map(str, channels)) + "}"
        raise ValueError(f"{name} must have shape (C, H, W) with {allowed}, got {tuple(image.shape)}")
    if image.shape[1] == 0 or image.shape[2] == 0:
        raise ValueError(f"{name} must have H, W >= 1, got {tuple(image.shape)}")
    if not torch.isfinite(image).all():
        raise ValueError(f"{name} contains NaN or inf; clean the tensor before saving")
    low, high = image.min().item(), image.max().item()
    if low < 0 or high > 1:
        raise ValueError(f"{name} must be in [0, 1], got [{low:.4g}, {high:.4g}]; map [-1, 1] with to_unit_range")


def _encode_png(samples: np.ndarray) -> bytes:
    """Encode ``(H, W, C)`` uint8/uint16 samples (C in {1, 3, 4}, RGB order; 2 = grey + alpha at 8 bits) as PNG bytes.

    OpenCV writes every case but grey + alpha, which Pillow writes at 8 bits ("LA"); neither writes it at 16.
    """
    channels = samples.shape[2]
    if channels == 2:
        if samples.dtype != np.uint8:
            raise ValueError("save_image: a 16-bit grey + alpha PNG cannot be written (OpenCV and Pillow lack it); write .tif")
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(samples)).save(buffer, "PNG")  # (H, W, 2) uint8 is mode "LA"
        return buffer.getvalue()
    if channels == 3:
        samples = samples[..., ::-1]  # RGB -> BGR
    elif channels == 4:
        samples = samples[..., [2, 1, 0, 3]]  # RGBA -> BGRA
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(samples), [cv2.IMWRITE_PNG_COMPRESSION, _PNG_COMPRESSION])
    if not ok:
        raise ValueError(f"save_image: OpenCV could not encode a {samples.dtype} PNG of shape {samples.shape}")
    return encoded.tobytes()


def _encode_tiff(samples: np.ndarray) -> bytes:
    """Encode ``(H, W, C)`` uint8/uint16 samples, any C, as a deflate-compressed TIFF with tifffile."""
    channels = samples.shape[2]
    buffer = io.BytesIO()
    options = {"compression": "zlib", "metadata": None}  # zlib needs no imagecodecs; no tifffile JSON description
    if channels in (3, 4):  # RGB, RGB + unassociated alpha (tifffile sets ExtraSamples)
        tifffile.imwrite(buffer, samples, photometric="rgb", **options)
    elif channels == 1:
        tifffile.imwrite(buffer, samples[..., 0], photometric="minisblack", **options)
    else:  # N greyscale planes in one page: SamplesPerPixel = N, PlanarConfiguration = separate
        planes = np.ascontiguousarray(np.moveaxis(samples, -1, 0))  # (C, H, W)
        tifffile.imwrite(buffer, planes, photometric="minisblack", planarconfig="separate", **options)
    return buffer.getvalue()


def _encode_jpeg(samples: np.ndarray) -> bytes:
    """Encode ``(H, W, C)`` uint8 samples (C in {1, 3}) as a JPEG with Pillow."""
    buffer = io.BytesIO()
    Image.fromarray(samples[..., 0] if samples.shape[2] == 1 else samples).save(buffer, "JPEG", quality=_JPEG_QUALITY)
    return buffer.getvalue()


# suffixes -> (encoder, allowed channel counts (None: any), allowed bit depths)
_WRITERS = {
    **{suffix: (_encode_png, (1, 2, 3, 4), (8, 16)) for suffix in _PNG_SUFFIXES},
    **{suffix: (_encode_tiff, None, (8, 16)) for suffix in _TIFF_SUFFIXES},
    **{suffix: (_encode_jpeg, (1, 3), (8,)) for suffix in _JPEG_SUFFIXES},
}


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
    """Write one image, choosing the format by the file's suffix (atomically: a temporary file renamed into place).

    Values are quantized as ``round(x * (2**bit_depth - 1))``, so reading the file back differs by at most half a
    quantization step (0.5/255 or 0.5/65535), and values already on that grid come back exactly.

    Args:
        image: ``(C, H, W)`` float tensor in [0, 1] (any device). PNG: C = 1 greyscale, 3 RGB, 4 RGBA; TIFF: any
            C (3 is written as RGB, 4 as RGB + alpha, others as C greyscale planes); JPEG: C = 1 or 3.
        path: Destination file ending in ``.png``, ``.tif``/``.tiff`` or ``.jpg``/``.jpeg`` (lossy, 8-bit only).
            Missing parent folders are created.
        bit_depth: Bits per sample in the file: 8 or 16.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _WRITERS:
        raise ValueError(
            f"save_image: path must end in .png, .tif, .tiff, .jpg or .jpeg (the suffix picks the format), "
            f"got {str(path)!r}"
        )
    encode, channels, bit_depths = _WRITERS[suffix]
    _check_image(image, "save_image: image", channels)
    if bit_depth not in _MAX_VALUE:
        raise ValueError(f"save_image: bit_depth must be 8 or 16, got {bit_depth!r}")
    if bit_depth not in bit_depths:
        raise ValueError(f"save_image: {suffix} files are 8-bit only, got bit_depth={bit_depth}; write .png or .tif")
    scaled = image.detach().to("cpu", torch.float64) * _MAX_VALUE[bit_depth]
    dtype = np.uint16 if bit_depth == 16 else np.uint8
    samples = scaled.round().permute(1, 2, 0).numpy().astype(dtype)  # (H, W, C)
    _write_atomically(path, encode(samples))


# ---------------------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------------------
def _file_kind(head: bytes) -> Literal["png", "tiff", "other"]:
    """The decoder a file needs, from its first bytes (not its suffix, which may lie)."""
    if head.startswith(_PNG_SIGNATURE):
        return "png"
    if head[:4] in _TIFF_SIGNATURES:
        return "tiff"
    return "other"


def _png_header(file: io.BufferedIOBase, path: Path) -> tuple[int, int, int, int]:
    """``(channels, height, width, bit_depth)`` of a PNG as OpenCV decodes it, from its chunks before IDAT.

    PNG spec (ISO/IEC 15948) IHDR colour types: 0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA. OpenCV's
    ``IMREAD_UNCHANGED`` expands a palette to RGB, and adds alpha to RGB or palette images that carry a tRNS
    chunk (grey + tRNS stays one channel); sub-byte depths are expanded to 8 bits.
    """
    data = file.read(33)  # signature (8) + IHDR length/type (8) + IHDR data (13) + CRC (4)
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise UserInputError(f"read_image: {path} is a damaged PNG (no IHDR header); replace the file")
    width, height, depth, color_type = struct.unpack(">IIBB", data[16:26])
    has_transparency = False
    while True:  # walk the chunk headers up to the image data, seeking over their contents
        chunk_header = file.read(8)
        if len(chunk_header) < 8:
            raise UserInputError(f"read_image: {path} is a truncated PNG (it ends before the image data); replace it")
        length, kind = struct.unpack(">I4s", chunk_header)
        if kind == b"IDAT":
            break
        has_transparency |= kind == b"tRNS"
        file.seek(length + 4, io.SEEK_CUR)  # chunk data + CRC
    channels = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}.get(color_type)
    if channels is None or width == 0 or height == 0:
        raise UserInputError(f"read_image: {path} has an invalid PNG header (colour type {color_type}); replace it")
    if color_type in (2, 3) and has_transparency:
        channels = 4
    return channels, height, width, 16 if depth == 16 else 8


def _decode_png(data: bytes, path: Path) -> tuple[np.ndarray, int]:
    """Decode PNG bytes with OpenCV into ``(H, W, C)`` samples in RGB(A) order and the bit depth."""
    samples = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if samples is None:
        raise UserInputError(f"read_image: cannot decode {path}: the PNG is truncated or damaged; replace the file")
    if samples.ndim == 2:
        samples = samples[..., None]
    color_type = data[25]  # IHDR colour type
    if color_type == 4:  # OpenCV returns grey + alpha as BGRA with B = G = R: keep grey and alpha
        samples = samples[..., [0, 3]]
    elif samples.shape[2] == 3:
        samples = samples[..., ::-1]  # BGR -> RGB
    elif samples.shape[2] == 4:
        samples = samples[..., [2, 1, 0, 3]]  # BGRA -> RGBA
    return samples, 16 if samples.dtype == np.uint16 else 8


def _tiff_layout(series: tifffile.TiffPageSeries, path: Path) -> tuple[int | None, int, int, int]:
    """``(channel axis or None, channels, height, width)`` of a TIFF series, refusing stacks and volumes.

    tifffile names axes Y, X (rows, columns), S (samples of a pixel), C (channels), I/Q (pages, e.g. an ImageJ
    channel stack). Size-1 axes are ignored; at most one axis besides Y and X may remain, and it becomes C.
    """
    kept = [(axis, size) for axis, size in zip(series.axes, series.shape) if size > 1 or axis in "YX"]
    names = "".join(axis for axis, _ in kept)
    if "Y" not in names or "X" not in names or len(kept) > 3:
        raise UserInputError(
            f"read_image: {path} holds a TIFF of shape {tuple(series.shape)} (axes {series.axes}); only single 2-D "
            "images with one channel axis are supported: save each image of a stack as its own file"
        )
    height, width = dict(kept)["Y"], dict(kept)["X"]
    others = [index for index, (axis, _) in enumerate(kept) if axis not in "YX"]
    if not others:
        return None, 1, height, width
    return others[0], kept[others[0]][1], height, width


def _tiff_bit_depth(dtype: np.dtype, path: Path) -> int:
    """8 or 16 for unsigned (or 1-bit) TIFF samples; a one-line error otherwise."""
    if dtype == np.uint16:
        return 16
    if dtype in (np.uint8, np.bool_):
        return 8
    raise UserInputError(
        f"read_image: {path} holds {dtype} samples; only unsigned 8- and 16-bit images are supported: convert it "
        "(e.g. scale to uint16)"
    )


def _needs_pillow(page: tifffile.TiffPage) -> bool:
    """True for TIFFs tifffile cannot turn into plain samples here (palette, CMYK, YCbCr, missing codecs)."""
    plain = (tifffile.PHOTOMETRIC.MINISBLACK, tifffile.PHOTOMETRIC.MINISWHITE, tifffile.PHOTOMETRIC.RGB)
    try:
        tifffile.TIFF.DECOMPRESSORS[page.compression]  # LZW, JPEG, ... need the optional imagecodecs package
    except KeyError:
        return True
    return page.photometric not in plain


def _tiff_error(path: Path, error: Exception) -> UserInputError:
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    return UserInputError(f"read_image: cannot decode {path} as a TIFF ({message}); the file is truncated or damaged")


def _decode_tiff(path: Path) -> tuple[np.ndarray, int]:
    """Decode a TIFF with tifffile into ``(H, W, C)`` samples and the bit depth (Pillow where tifffile cannot)."""
    try:
        with tifffile.TiffFile(path) as tiff:
            if not tiff.series:
                raise UserInputError(f"read_image: {path} holds no image; replace the file")
            series, page = tiff.series[0], tiff.pages.first
            if _needs_pillow(page):
                return _read_with_pillow(path)
            channel_axis, _, _, _ = _tiff_layout(series, path)
            bit_depth = _tiff_bit_depth(series.dtype, path)
            samples = series.asarray()
            minis_white = page.photometric == tifffile.PHOTOMETRIC.MINISWHITE
    except UserInputError:
        raise
    except Exception as error:  # damaged files raise many types: TiffFileError, ValueError, zlib.error, ...
        raise _tiff_error(path, error) from None
    axes = [index for index, size in enumerate(series.shape) if size > 1 or series.axes[index] in "YX"]
    samples = samples.reshape([series.shape[index] for index in axes])  # drop size-1 axes
    samples = samples[..., None] if channel_axis is None else np.moveaxis(samples, channel_axis, -1)  # (H, W, C)
    if samples.dtype == np.bool_:
        samples = samples.astype(np.uint8) * 255
    if minis_white:  # 0 means white in these files
        samples = _MAX_VALUE[bit_depth] - samples
    return samples, bit_depth


def _pillow_layout(pil_image: Image.Image, path: Path) -> tuple[int, int]:
    """``(channels, bit_depth)`` that ``_read_with_pillow`` returns for an open Pillow image."""
    mode = pil_image.mode
    if getattr(pil_image, "n_frames", 1) > 1:
        raise UserInputError(f"read_image: {path} has {pil_image.n_frames} frames; only single images are supported")
    if mode in _PILLOW_16BIT_MODES:
        return 1, 16
    if mode in ("I", "F"):
        raise UserInputError(
            f"read_image: {path} holds 32-bit samples (Pillow mode {mode}); only 8- and 16-bit images are supported"
        )
    bits = max(pil_image.tag_v2.get(258, (8,))) if hasattr(pil_image, "tag_v2") else 8  # TIFF BitsPerSample
    if bits > 8:  # only TIFFs tifffile cannot decode get here; Pillow would keep the high byte of each sample
        raise UserInputError(
            f"read_image: {path} is a {bits}-bit {mode} TIFF whose compression needs the imagecodecs package "
            "(Pillow would keep only 8 bits); pip install imagecodecs, or save it uncompressed or deflate-compressed"
        )
    if mode == "P":
        return (4 if "transparency" in pil_image.info else 3), 8
    return _PILLOW_CHANNELS.get(mode, 3), 8  # CMYK, YCbCr, LAB, HSV are converted to RGB


def _read_with_pillow(path: Path) -> tuple[np.ndarray, int]:
    """Decode ``path`` with Pillow into ``(H, W, C)`` integer samples and the file's bit depth."""
    try:
        with Image.open(path) as pil_image:
            channels, bit_depth = _pillow_layout(pil_image, path)
            if bit_depth == 16:
                return np.array(pil_image).astype(np.uint16)[..., None], 16
            mode = pil_image.mode
            if mode == "1":
                pil_image = pil_image.convert("L")
            elif mode in ("P", "PA"):
                pil_image = pil_image.convert("RGBA" if channels == 4 else "RGB")
            elif mode not in _PILLOW_CHANNELS:
                pil_image = pil_image.convert("RGB")  # CMYK, YCbCr, LAB, HSV
            samples = np.array(pil_image)  # decodes: a truncated file raises OSError here
    except UserInputError:
        raise
    except (OSError, SyntaxError, ValueError) as error:  # Pillow's UnidentifiedImageError is an OSError
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserInputError(f"read_image: cannot decode {path} as an image ({message}); replace the file") from None
    return (samples[..., None] if samples.ndim == 2 else samples), 8


def read_image(path: str | os.PathLike) -> tuple[Tensor, int]:
    """Read an 8- or 16-bit image file (PNG, TIFF, JPEG, ...) into a float tensor.

    PNG is decoded by OpenCV, TIFF by tifffile (any channel count), other formats by Pillow; the decoder is picked
    from the file's first bytes. Truncated or damaged files raise a one-line ``UserInputError`` naming the file.

    Args:
        path: Image file to read.

    Returns:
        ``(image, bit_depth)``: ``image`` is a ``(C, H, W)`` float32 tensor in [0, 1] with the file's channels
        (1 greyscale, 2 greyscale + alpha, 3 RGB, 4 RGBA; TIFF: any), samples divided by 255 or 65535;
        ``bit_depth`` is 8 or 16, the file's bits per sample.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"read_image: no such image file: {path}")
    data = path.read_bytes()
    kind = _file_kind(data[:8])
    if kind == "png":
        samples, bit_depth = _decode_png(data, path)
    elif kind == "tiff":
        samples, bit_depth = _decode_tiff(path)
    else:
        samples, bit_depth = _read_with_pillow(path)
    image = torch.from_numpy(np.ascontiguousarray(samples)).permute(2, 0, 1).to(torch.float32)  # (C, H, W)
    return image / _MAX_VALUE[bit_depth], bit_depth


def read_image_size(path: str | os.PathLike) -> tuple[int, int, int, int]:
    """Read only an image file's header: what ``read_image`` would return, without decoding the pixels.

    Cheap enough to check thousands of files up front (PNG: its first chunks; TIFF: tifffile's tag parsing;
    others: Pillow's lazy ``Image.open``). A file whose header is fine may still fail to decode later.

    Args:
        path: Image file to inspect.

    Returns:
        ``(channels, height, width, bit_depth)`` exactly as ``read_image(path)`` would give them.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"read_image: no such image file: {path}")
    try:
        with open(path, "rb") as file:
            kind = _file_kind(file.read(8))
            file.seek(0)
            if kind == "png":
                return _png_header(file, path)
        if kind == "tiff":
            with tifffile.TiffFile(path) as tiff:
                if not tiff.series:
                    raise UserInputError(f"read_image: {path} holds no image; replace the file")
                series = tiff.series[0]
                if not _needs_pillow(tiff.pages.first):
                    _, channels, height, width = _tiff_layout(series, path)
                    return channels, height, width, _tiff_bit_depth(series.dtype, path)
        with Image.open(path) as pil_image:
            channels, bit_depth = _pillow_layout(pil_image, path)
            return channels, pil_image.height, pil_image.width, bit_depth
    except UserInputError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, tifffile.TiffFileError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserInputError(f"read_image: cannot read the header of {path} ({message}); replace the file") from None


# ---------------------------------------------------------------------------------------------------------------
# Grids and scatter plots
# ---------------------------------------------------------------------------------------------------------------
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
    """Tile a batch of images into one image file.

    Args:
        images: ``(N, C, H, W)`` float tensor in [0, 1], C in {1, 3, 4}.
        path: Destination ``.png`` (or ``.tif``, ``.jpg``) file, written atomically; parent folders created.
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
