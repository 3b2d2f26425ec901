"""Does bf16-mixed keep ESRGAN's quality? ESRGAN trained at fp32 and at bf16-mixed from the same PSNR-oriented
RRDBNet for the same steps, scored on the held-out urban100-dev/val beside a second fp32 run that differs only in
the order of its training crops (the yardstick of how far a trajectory moves for reasons that do not matter).

Run from the repository root (not run by CI; about an hour on 2 CPU cores with the defaults)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/esrgan_bf16_quality.py --data_dir ../shared/data/urban100-dev \\
        --output /tmp/esrgan_bf16 [--vgg_weights_path vgg19-dcbb9e9d.pth | --random_vgg] [-- <CLI overrides>]

Anything after ``--`` goes to every arm's ``lightning-gans fit`` (e.g. ``--model.perceptual_weight 0``) and is printed
with the results.

Protocol:

1. **Start.** ``experiments/esrgan_psnr_x4_urban100.yaml`` (the ``SRResNet`` family with RRDBNet) for
   ``--psnr_iterations`` steps at fp32, batch ``--psnr_batch_size`` of ``--psnr_gt_size`` crops (a cheap start:
   what matters is that every arm starts from the same weights), or ``--pretrained`` (a fit checkpoint or
   ``RRDB_PSNR_x4.pth``).
2. **Arms** (``ARMS``), each ``experiments/esrgan_x4_urban100.yaml`` through ``lightning-gans fit`` for
   ``--gan_iterations`` generator steps at batch ``--batch_size`` of 128 x 128 crops (the VGG-style D's input), in
   subprocesses, ``--concurrent`` at a time, one thread each:

   - ``fp32``: the reference trajectory;
   - ``bf16-mixed``: the same run under ``Trainer(precision="bf16-mixed")`` -- the lever under test;
   - ``fp32, data seed 1``: fp32 with another crop order (``--data.seed 1``); same initial weights of G, D and VGG
     (``seed_everything`` stays 0).

3. **Scores**, on the 10 whole val photos (GT mod-cropped to 12, 8-bit MATLAB-bicubic LR, as ``sr_quality.py``):
   PSNR-Y / SSIM-Y of each arm's EMA generator (what the family evaluates and saves), inferred at fp32; and the
   PSNR between the outputs of two arms (*output distance*: how far apart the models' images are). bf16 keeps
   quality when its metric differences from fp32 and its output distance to fp32 are of the order of the data-seed
   arm's. The training losses (means over the last half of the steps, from each run's ``metrics.csv``) are printed
   beside them.

VGG19 for the perceptual loss: torchvision's ImageNet weights from ``--vgg_weights_path`` (or torch's hub cache);
``--random_vgg`` uses a random VGG19 (the same in every arm: ``seed_everything`` 0), which keeps the arithmetic and
the numerics under test but not the perceptual meaning -- say so with the result.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere: import the repo

from benchmarks._common import RunInfo  # noqa: E402
from benchmarks.sr_quality import (  # noqa: E402
    SET_NAME, bicubic, mean, network_scorer, prepare_files, prepared_data_args, read_pairs, score,
    split_cli_overrides,
)

REPO = Path(__file__).resolve().parents[1]
PSNR_CONFIG = REPO / "experiments" / "esrgan_psnr_x4_urban100.yaml"
GAN_CONFIG = REPO / "experiments" / "esrgan_x4_urban100.yaml"
# (name, precision, data seed): the lever under test and its yardstick
ARMS = [("fp32", "32-true", 0), ("bf16-mixed", "bf16-mixed", 0), ("fp32, data seed 1", "32-true", 1)]
LOSSES = ["train/loss_g", "train/loss_pixel", "train/loss_perceptual", "train/loss_g_gan", "train/loss_d"]


def cli_command(config: Path, root: Path, folders: dict[str, Path], args: list[str]) -> list[str]:
    """``lightning-gans fit`` on the prepared files, validation off (scored afterwards), CSV logs."""
    return [
        sys.executable, "-m", "lightning_gans.cli", "fit", "--config", str(config),
        "--trainer.default_root_dir", str(root),
        "--trainer.limit_val_batches", "0",
        "--trainer.enable_progress_bar", "false",
        "--log_to", "csv",
        *prepared_data_args(folders),
        *args,
    ]  # fmt: skip


def start(command: list[str], root: Path, threads: int) -> subprocess.Popen:
    """Start one training run in a subprocess with ``threads`` OpenMP threads; its output goes to ``root/log.txt``."""
    if (root / "checkpoints").exists():
        raise SystemExit(f"esrgan_bf16_quality: {root} already holds a run; pass a fresh --output or delete it")
    root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO)}
    print(f"OMP_NUM_THREADS={threads} " + shlex.join(command), flush=True)
    with open(root / "log.txt", "w") as log:
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait(process: subprocess.Popen, root: Path) -> Path:
    """Wait for a run; its ``last.ckpt``."""
    if process.wait() != 0:
        tail = (root / "log.txt").read_text().strip().splitlines()[-5:]
        raise SystemExit(f"esrgan_bf16_quality: the run in {root} exited with {process.returncode}: "
                         + " | ".join(tail))
    checkpoint = root / "checkpoints" / "last.ckpt"
    if not checkpoint.is_file():
        raise SystemExit(f"esrgan_bf16_quality: the run in {root} wrote no {checkpoint}")
    return checkpoint


def late_losses(root: Path) -> dict[str, float]:
    """Mean of each logged loss over the second half of the run's steps (its ``metrics.csv``)."""
    files = sorted(root.glob("**/metrics.csv"))
    rows = list(csv.DictReader(files[-1].open())) if files else []
    values: dict[str, list[tuple[int, float]]] = {name: [] for name in LOSSES}
    for row in rows:
        for name in LOSSES:
            if row.get(name):
                values[name].append((int(row["step"]), float(row[name])))
    result = {}
    for name, points in values.items():
        if points:
            last = max(step for step, _ in points)
            result[name] = statistics.fmean(v for step, v in points if step >= last / 2)
    return result


@torch.no_grad()
def outputs(network: torch.nn.Module, pairs) -> list[torch.Tensor]:
    """The 8-bit-rounded SR images of ``network`` (fp32 inference) for every val pair."""
    upscale = network_scorer(network)
    return [(upscale(lr).float().clamp(0, 1) * 255).round() / 255 for _, lr, _ in pairs]


def output_distance(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    """Mean over images of the RGB PSNR (dB) of one model's outputs against another's (inf when equal)."""
    values = []
    for x, y in zip(a, b):
        mse = torch.mean((x - y) ** 2).item()
        values.append(math.inf if mse == 0 else 10 * math.log10(1 / mse))
    return statistics.fmean(values)


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    argv, overrides = split_cli_overrides(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", required=True, type=Path, help="urban100-dev folder (train/ and val/)")
    parser.add_argument("--output", required=True, type=Path, help="folder for the files and the runs")
    parser.add_argument("--pretrained", type=Path, default=None,
                        help="PSNR-oriented RRDBNet to start from (default: train one, see --psnr_*)")
    parser.add_argument("--psnr_iterations", type=int, default=400, help="steps of the PSNR-oriented start (400)")
    parser.add_argument("--psnr_batch_size", type=int, default=4, help="its batch (4)")
    parser.add_argument("--psnr_gt_size", type=int, default=64, help="its HR crop side (64)")
    parser.add_argument("--gan_iterations", type=int, default=100, help="generator steps of every arm (100)")
    parser.add_argument("--batch_size", type=int, default=4, help="crops per step of every arm (4)")
    parser.add_argument("--val_images", type=int, default=None, help="score only the first N val photos (all)")
    parser.add_argument("--concurrent", type=int, default=3, help="arms trained at once, one thread each (3)")
    vgg = parser.add_mutually_exclusive_group()
    vgg.add_argument("--vgg_weights_path", type=Path, default=None, help="torchvision's vgg19-dcbb9e9d.pth")
    vgg.add_argument("--random_vgg", action="store_true", help="a random VGG19 (numerics only, no perceptual meaning)")
    return parser.parse_args(argv), overrides


def main(argv: list[str] | None = None) -> None:
    args, overrides = parse_args(argv)
    info = RunInfo()
    from lightning_gans.esrgan import ESRGAN
    from lightning_gans.srresnet import SRResNet

    folders = prepare_files(args.data_dir, args.output / "data")
    pairs = read_pairs(folders)[: args.val_images]
    vgg = (["--model.vgg_weights", "random"] if args.random_vgg
           else ["--model.vgg_weights_path", str(args.vgg_weights_path)] if args.vgg_weights_path else [])
    began = time.perf_counter()
    pretrained = args.pretrained
    if pretrained is None:
        root = args.output / "psnr_start"
        command = cli_command(PSNR_CONFIG, root, folders, [
            "--trainer.max_steps", str(args.psnr_iterations),
            "--data.batch_size", str(args.psnr_batch_size), "--data.gt_size", str(args.psnr_gt_size)])
        pretrained = wait(start(command, root, threads=2), root)
    print(f"start: {pretrained} ({time.perf_counter() - began:.0f} s)", flush=True)

    checkpoints: dict[str, Path] = {}
    queue = list(ARMS)
    running: list[tuple[str, subprocess.Popen, Path]] = []
    while queue or running:
        while queue and len(running) < args.concurrent:
            name, precision, data_seed = queue.pop(0)
            root = args.output / name.replace(", ", "_").replace(" ", "_")
            command = cli_command(GAN_CONFIG, root, folders, [
                "--model.pretrained_generator", str(pretrained),
                "--trainer.max_steps", str(args.gan_iterations),
                "--trainer.precision", precision,
                "--data.batch_size", str(args.batch_size),
                "--data.seed", str(data_seed),
                "--trainer.log_every_n_steps", "5",
                "--seed_everything", "0", *vgg, *overrides])  # fmt: skip
            running.append((name, start(command, root, threads=1), root))
        name, process, root = running.pop(0)
        checkpoints[name] = wait(process, root)
        print(f"{name}: done ({time.perf_counter() - began:.0f} s)", flush=True)

    torch.set_num_threads(2)
    start_model = SRResNet.load_from_checkpoint(pretrained, map_location="cpu") if pretrained.suffix == ".ckpt" else None
    rows = {"bicubic": score(bicubic, pairs)}
    images = {}
    if start_model is not None:
        rows["start (PSNR-oriented, EMA)"] = score(network_scorer(start_model.evaluated_generator), pairs)
    for name, checkpoint in checkpoints.items():
        images[name] = outputs(ESRGAN.load_from_checkpoint(checkpoint, map_location="cpu").evaluated_generator, pairs)
        computed = iter(images[name])  # score the images just made (in val order) instead of inferring again
        rows[name] = score(lambda lr: next(computed), pairs)

    print(f"\nESRGAN x4, {args.gan_iterations} generator steps of batch {args.batch_size} at gt 128 from the same start; "
          f"{SET_NAME} val, {len(pairs)} whole photos, EMA generators at fp32 inference, SR rounded to 8 bits, "
          f"Y channel, crop 4; VGG19 {'random (numerics only)' if args.random_vgg else 'ImageNet'}"
          + (f"; every arm with {shlex.join(overrides)}" if overrides else ""))
    print(f"  {'model':28} {'PSNR-Y':>8} {'SSIM-Y':>8}   vs fp32: {'dPSNR-Y':>8} {'dSSIM-Y':>8} {'output dist':>11}")
    reference = mean(rows["fp32"])
    for name, values in rows.items():
        psnr, ssim = mean(values)
        line = f"  {name:28} {psnr:8.3f} {ssim:8.4f}"
        if name in images and name != "fp32":
            line += (f"   {psnr - reference[0]:+17.3f} {ssim - reference[1]:+8.4f} "
                     f"{output_distance(images[name], images['fp32']):8.2f} dB")
        print(line)
    print("\nper image PSNR-Y:  " + " ".join(f"{name[:7]:>7}" for name, _, _ in pairs))
    for name, values in rows.items():
        print(f"  {name[:16]:16} " + " ".join(f"{v[0]:7.2f}" for v in values))
    print("\ntraining losses, mean over the second half of the steps:")
    print("  " + f"{'arm':20}" + "".join(f"{n.removeprefix('train/'):>17}" for n in LOSSES))
    for name in checkpoints:
        losses = late_losses(checkpoints[name].parents[1])
        print("  " + f"{name:20}" + "".join(f"{losses.get(n, float('nan')):17.5f}" for n in LOSSES))
    info.print()


if __name__ == "__main__":
    main()
