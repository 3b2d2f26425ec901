"""Tiled against whole-image super-resolution predict: time, peak memory and the largest difference of the outputs.

Run from the repository root (not run by CI; ~3 minutes for MSRResNet on one loaded core)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sr_tiling.py --image ../shared/data/urban100-dev/val/img_041.png \\
        --checkpoint runs/srresnet_x4_urban100/checkpoints/last.ckpt

The LR input is ``--image`` resized (MATLAB bicubic, ``lightning_gans.imresize``) to ``--lr_size`` (512x384: the x4
output is a 2048 x 1536, "2k-pixel" image); ``--generator`` (msrresnet, or rrdbnet) takes its weights from
``--checkpoint`` (a fit checkpoint or a released file, as ``--model.pretrained_generator`` reads them). Without one
the network keeps its initialisation, whose residual branches are scaled by 0.1 (BasicSR's init): its output is
nearly the bilinear skip, and so are its tiling differences -- give trained weights for figures worth quoting.

Each row runs in a fresh Python process (so ``ru_maxrss`` is that row's peak) through the family's predict path
(``SRResNet.predict_step``: ``super_resolve`` with ``tile_size`` / ``tile_overlap`` / ``tile_batch_size``, no
gradients), after one untimed warm-up call on a small input. Rows (``ROWS``): the whole image; tiles of 128 LR
pixels with the family's default overlap of 32 (``overlap // 4 = 8`` LR pixels of each tile edge get zero weight,
fewer than MSRResNet's receptive radius of ~36 LR pixels: tiles miss context there and the ramps hide it); and tiles
of 320 with overlap 144 (``144 // 4 = 36`` >= the radius: equal to the whole image up to float rounding, the rule
of ``lightning_gans.inference.tiled``). Memory is the process's peak resident set minus its resident set before
the timed call (model and input loaded), and the whole peak beside it. Differences are against the whole-image
output, in [0, 1] and in 8-bit levels after rounding as saved files are (``super_resolution.quantize``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from the repository root

from benchmarks._common import RunInfo  # noqa: E402
from lightning_gans.images import read_image  # noqa: E402
from lightning_gans.imresize import imresize  # noqa: E402
from lightning_gans.metrics import psnr_rgb  # noqa: E402
from lightning_gans.srresnet import SRResNet  # noqa: E402
from lightning_gans.super_resolution import quantize  # noqa: E402

# name -> (tile_size, tile_overlap) in LR pixels; None: the whole image at once
ROWS: dict[str, tuple[int | None, int]] = {
    "whole image": (None, 32),
    "tiles 128, overlap 32 (default)": (128, 32),
    "tiles 320, overlap 144 (exact)": (320, 144),
}


def rss_mib() -> float:
    """The process's resident set now, MiB (``/proc/self/status`` VmRSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_mib() -> float:
    """The process's peak resident set so far, MiB (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def lr_input(image: str, lr_size: tuple[int, int]) -> torch.Tensor:
    """``image`` resized by MATLAB bicubic to ``lr_size`` (width, height), as ``(1, 3, h, w)`` in [0, 1]."""
    hr, _ = read_image(image)  # (C, H, W) in [0, 1]
    hr = hr[:3] if hr.shape[0] >= 3 else hr.expand(3, -1, -1)
    width, height = lr_size
    return imresize(hr[None], size=(height, width)).clamp(0, 1)  # (1, 3, h, w)


def worker(args: argparse.Namespace) -> None:
    """One row, in this fresh process: build, warm up, time one predict call, write the output and the figures."""
    tile_size, tile_overlap = ROWS[args.row]
    model = SRResNet(generator=args.generator, lpips=False, pretrained_generator=args.checkpoint,
                     tile_size=tile_size, tile_overlap=tile_overlap, tile_batch_size=args.tile_batch_size).eval()
    lr = lr_input(args.image, args.lr_size)
    batch = {"lr": lr, "name": ["image"], "bit_depth": torch.tensor([8])}
    model.predict_step({**batch, "lr": lr[..., :32, :32]})  # warm-up: oneDNN primitives, allocator
    before = rss_mib()
    start = time.perf_counter()
    output = model.predict_step(batch)["samples"]  # (1, 3, 4h, 4w) in [-1, 1]
    seconds = time.perf_counter() - start
    torch.save(((output + 1) / 2).clone(), args.output)
    figures = {"seconds": seconds, "peak_mib": peak_mib(), "rss_before_mib": before, "shape": list(output.shape)}
    Path(args.output).with_suffix(".json").write_text(json.dumps(figures))


def parse_size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` -> (width, height)."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 512x384, got {text!r}") from None
    return width, height


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", required=True, help="an image file (e.g. an urban100-dev photo)")
    parser.add_argument("--checkpoint", default=None, help="generator weights: fit checkpoint or released file")
    parser.add_argument("--generator", default="msrresnet", choices=["msrresnet", "rrdbnet"])
    parser.add_argument("--lr_size", type=parse_size, default=(512, 384), help="LR WIDTHxHEIGHT (x4 output: 4x)")
    parser.add_argument("--tile_batch_size", type=int, default=4, help="tiles per generator call")
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS), help="which rows to run")
    parser.add_argument("--row", default=None, help=argparse.SUPPRESS)  # worker mode: one row
    parser.add_argument("--output", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.row is not None:
        worker(args)
        return
    info = RunInfo()
    width, height = args.lr_size
    print(f"SR x4 predict, {args.generator}, LR {width}x{height} -> {4 * width}x{4 * height}, batch 1, fp32, "
          f"tile_batch_size {args.tile_batch_size}; weights: {args.checkpoint or 'initialisation (no --checkpoint)'}")
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for row in args.rows:
            output = Path(folder) / f"{len(results)}.pt"
            command = [sys.executable, __file__, "--image", args.image, "--generator", args.generator,
                       "--lr_size", f"{width}x{height}", "--tile_batch_size", str(args.tile_batch_size),
                       "--row", row, "--output", str(output)]  # fmt: skip
            if args.checkpoint:
                command += ["--checkpoint", args.checkpoint]
            subprocess.run(command, check=True, env=os.environ.copy())
            results[row] = (json.loads(output.with_suffix(".json").read_text()), torch.load(output))
        whole = results.get("whole image")
        print(f"{'row':34} {'seconds':>8} {'peak MiB':>9} {'+ MiB':>7} {'max |diff|':>11} {'8-bit levels':>12} "
              f"{'PSNR vs whole':>13}")
        for row, (figures, image) in results.items():
            extra = figures["peak_mib"] - figures["rss_before_mib"]
            if whole is None or row == "whole image":
                diff = levels = psnr = "-"
            else:
                difference = (image - whole[1]).abs().max().item()
                level_diff = ((quantize(image, None) - quantize(whole[1], None)).abs().max() * 255).round().item()
                psnr_value = psnr_rgb(quantize(image, None), quantize(whole[1], None), crop_border=0).item()
                diff, levels, psnr = f"{difference:.2e}", f"{level_diff:.0f}", f"{psnr_value:.1f} dB"
            print(f"{row:34} {figures['seconds']:8.1f} {figures['peak_mib']:9.0f} {extra:7.0f} {diff:>11} "
                  f"{levels:>12} {psnr:>13}")
    print("(peak MiB: the row's process at its peak; + MiB: above its resident set just before the timed call)")
    info.print()


if __name__ == "__main__":
    main()
