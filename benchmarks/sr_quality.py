"""Super-resolution quality at a fixed budget: MSRResNet x4 trained on urban100-dev/train, PSNR-Y / SSIM-Y on the
held-out urban100-dev/val beside bicubic, and (``--reference_dir``) BasicSR's own training code at the same budget on
the same files, scored by the same code.

Run from the repository root (not run by CI; the full budget is ~1 hour per model on one loaded CPU core)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sr_quality.py --data_dir ../shared/data/urban100-dev \\
        --output runs/bench_sr_quality [--iterations 1000] [--reference_dir /tmp/basicsr_ref [--concurrent]] \\
        [-- <CLI overrides>]

``--concurrent`` trains BasicSR in a subprocess beside ours (one core each on a 2-core machine: the whole run then
takes one model's time; the printed step times are then under that shared load).

For the reference, a copy of XPixelGroup/BasicSR outside the repository (never committed), with the file its
``setup.py`` would generate and SciPy (its import needs it) in a folder of its own::

    git --git-dir=<mirror of XPixelGroup/BasicSR> archive HEAD basicsr | tar -x -C /tmp/basicsr_ref
    printf "__version__ = '1.4.2'\\n__gitsha__ = 'unknown'\\n" > /tmp/basicsr_ref/basicsr/version.py
    .venv/bin/pip install --no-deps --target /tmp/basicsr_deps scipy      # then --reference_deps /tmp/basicsr_deps

Protocol. The budget is BasicSR's ``train_MSRResNet_x4.yml`` at ``--iterations`` (1,000 for the issue's figure):
batch 16 of 128 x 128 HR crops with flips and rotations (``--batch_size`` / ``--gt_size`` change both models, for
cheaper proxies), L1, Adam 2e-4 / (0.9, 0.99), cosine restarts (4 x 250k, i.e. nearly constant over 1,000 steps),
EMA 0.999, seed 0. Files are made once under ``--output/data`` as BasicSR's
benchmarks are: the ground truth mod-cropped (``val/GTmod12``; ``train/HR`` mod 4) and its LR by MATLAB bicubic
(``lightning_gans.imresize``, which matches BasicSR's MATLAB port to 5e-7) rounded to 8-bit PNG (``LRbicx4``). Both
models are scored on exactly these files by ``score``: the EMA generator (what BasicSR validates and saves as
``params_ema``) on each whole LR image, SR rounded to 8 bits, PSNR / SSIM on Y (MATLAB ``rgb2ycbcr``), 4 border
pixels cropped (``lightning_gans.super_resolution.sr_scores``, tested against BasicSR's functions); bicubic is
MATLAB-bicubic upscaling of the same LR files. BasicSR's own validation figures (its ``calculate_psnr`` /
``calculate_ssim`` with ``test_y_channel``, from its log) are printed beside ours as a cross-check.

Ours is ``experiments/srresnet_x4_urban100.yaml`` through ``lightning-gans fit`` with the data above and
``--trainer.max_steps`` = ``--iterations``; anything after ``--`` is passed to the CLI (e.g. levers such as
``--model.ema_decay 0.99``), and every such override is listed with the results as a difference from BasicSR's
recipe. The fixed differences (``RECIPE_DIFFERENCES``) are printed too. The same run keeps generator EMAs at
``--extra_ema_decays`` (0.99 and 0.995 by default; ``ExtraEMAs``) beside the family's 0.999 and scores them: at
1,000 steps BasicSR's 0.999 still holds 37% of the initial weights. A step timer (``StepTimes``) records the
wall time of every training step: the median after 5 warm-up steps is printed, to plan the full budget.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml
from lightning.pytorch import Callback

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere: import the repo

from benchmarks._common import RunInfo, saved_run  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "experiments" / "srresnet_x4_urban100.yaml"
SCALE = 4
WARMUP_STEPS = 5
SET_NAME = "urban100_dev"
# BasicSR's figures at this budget on these 40 training photos (from the issue), Set5 / Set14, and bicubic there
BASICSR_AT_1000 = {"Set5": (30.41, 0.8684, 28.40, 0.8115), "Set14": (27.55, 0.7513, 26.09, 0.7050)}
TARGET_DB = 0.1

# What ours does differently from BasicSR's recipe even without overrides: (what, ours, BasicSR's).
RECIPE_DIFFERENCES = [
    ("training LR", "MATLAB bicubic of each HR crop, float (not rounded to 8 bits)",
     "crops of stored 8-bit LR files (LRbicx4), --stored_train_lr makes ours read them too"),
    ("crop sampling", "16 random crops per photo and epoch (crops_per_image 16, 40 steps an epoch); seeded per "
     "crop from (seed, epoch)", "dataset_enlarge_ratio 100, one crop per index; its own seeded sampler"),
    ("data order / RNG", "SeededSampler + per-crop generators", "torch/numpy global RNG in workers"),
    ("EMA", "decay min(0.999, (1 + n) / (10 + n)) at update n (ema_warmup: true in the experiment); the run also "
     "keeps a constant-0.999 EMA (--extra_ema_decays 0.999) for the like-for-like row",
     "constant 0.999 from a copy of the initial weights"),
]  # fmt: skip


class StepTimes(Callback):
    """Writes the (wall, CPU) time at the start of every training batch to ``path`` (JSON) when training ends.

    Args:
        path: the JSON file.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.starts: list[tuple[float, float]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        self.starts.append((time.perf_counter(), time.process_time()))

    def on_train_end(self, trainer, pl_module) -> None:
        self.starts.append((time.perf_counter(), time.process_time()))
        Path(self.path).write_text(json.dumps(self.starts))


class ExtraEMAs(Callback):
    """Generator EMAs at further decays, updated after every training step beside the family's own, saved at the end.

    One run then scores the EMA horizon: BasicSR's 0.999 keeps 0.999^1000 = 37% of the initial weights after 1,000
    steps, a shorter horizon less.

    Args:
        decays: the decays.
        path: file for ``{decay: state_dict}``.
    """

    def __init__(self, decays: list[float], path: str) -> None:
        self.decays, self.path = list(decays), path
        self.averages: dict = {}

    def on_fit_start(self, trainer, pl_module) -> None:
        from lightning_gans.ema import GeneratorEMA

        self.averages = {decay: GeneratorEMA(pl_module.generator, decay) for decay in self.decays}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        for average in self.averages.values():
            average.update(pl_module.generator)

    def on_train_end(self, trainer, pl_module) -> None:
        torch.save({decay: a.averaged.module.state_dict() for decay, a in self.averages.items()}, self.path)


def seconds_per_step(starts: list[list[float]]) -> tuple[float, float]:
    """Median (wall, CPU) seconds of a training step after ``WARMUP_STEPS`` (NaN when the run was shorter)."""
    steps = [(b[0] - a[0], b[1] - a[1]) for a, b in zip(starts, starts[1:])][WARMUP_STEPS:]
    if not steps:
        return float("nan"), float("nan")
    return statistics.median(s[0] for s in steps), statistics.median(s[1] for s in steps)


# ---------------------------------------------------------------------------------------------------------------
# Files, as BasicSR's benchmark sets are made.
# ---------------------------------------------------------------------------------------------------------------
def prepare_files(data_dir: Path, root: Path) -> dict[str, Path]:
    """Write ``train/HR`` (mod 4), ``train/LRbicx4``, ``val/GTmod12`` and ``val/LRbicx4`` under ``root`` once.

    Args:
        data_dir: a folder with ``train/`` and ``val/`` HR images (urban100-dev).
        root: where the files go.
    """
    from lightning_gans.images import read_image, save_image
    from lightning_gans.imresize import imresize

    folders = {"train_hr": root / "train" / "HR", "train_lr": root / "train" / "LRbicx4",
               "val_hr": root / "val" / "GTmod12", "val_lr": root / "val" / "LRbicx4"}  # fmt: skip
    done = root / "done.json"
    if done.is_file() and json.loads(done.read_text()) == str(data_dir.resolve()):
        return folders
    for split, hr_key, lr_key, modulo in (("train", "train_hr", "train_lr", SCALE), ("val", "val_hr", "val_lr", 12)):
        sources = sorted(p for p in (data_dir / split).iterdir() if p.suffix.lower() == ".png")
        if not sources:
            raise SystemExit(f"sr_quality: no PNG files in {data_dir / split}; pass --data_dir <urban100-dev folder>")
        for source in sources:
            hr, _ = read_image(source)  # (3, H, W) in [0, 1]
            height, width = hr.shape[-2] // modulo * modulo, hr.shape[-1] // modulo * modulo
            hr = hr[:3, :height, :width]
            lr = imresize(hr, scale=1 / SCALE).clamp(0, 1)  # MATLAB bicubic; save_image rounds to 8 bits
            save_image(hr, folders[hr_key] / source.name)
            save_image(lr, folders[lr_key] / source.name)
    done.write_text(json.dumps(str(data_dir.resolve())))
    return folders


def read_pairs(folders: dict[str, Path]) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """The validation ``(name, lr (1, 3, h, w), hr (1, 3, 4h, 4w))`` pairs, from the 8-bit files."""
    from lightning_gans.images import read_image

    pairs = []
    for hr_path in sorted(folders["val_hr"].iterdir()):
        hr, _ = read_image(hr_path)
        lr, _ = read_image(folders["val_lr"] / hr_path.name)
        pairs.append((hr_path.stem, lr[None], hr[None]))
    return pairs


# ---------------------------------------------------------------------------------------------------------------
# Scoring: one function for every model.
# ---------------------------------------------------------------------------------------------------------------
def score(upscale, pairs) -> list[tuple[float, float]]:
    """``(psnr_y, ssim_y)`` per image of ``upscale(lr)`` (in [0, 1]) against the HR, BasicSR's conventions.

    Args:
        upscale: maps ``(1, 3, h, w)`` to ``(1, 3, 4h, 4w)`` in [0, 1].
        pairs: from ``read_pairs``.
    """
    from lightning_gans.super_resolution import sr_scores

    results = []
    for _, lr, hr in pairs:
        with torch.no_grad():
            sr = upscale(lr).float().clamp(0, 1)
        scores = sr_scores(sr, hr, torch.tensor([8]), SCALE, "x")  # SR rounded to 8 bits, crop_border 4
        results.append((scores["x/psnr_y"].item(), scores["x/ssim_y"].item()))
    return results


def bicubic(lr: torch.Tensor) -> torch.Tensor:
    """MATLAB bicubic x4 upscaling (the benchmarks' bicubic row)."""
    from lightning_gans.imresize import imresize

    return imresize(lr, scale=SCALE)


def network_scorer(network: torch.nn.Module):
    """``super_resolve`` with ``network`` on whole images (fp32, padded to its stride)."""
    from lightning_gans.super_resolution import SRInference, input_multiple, super_resolve

    inference = SRInference(SCALE, input_multiple(network), None, 0, 1)
    network.eval()
    return lambda lr: super_resolve(network, lr, inference)


# ---------------------------------------------------------------------------------------------------------------
# Ours: lightning-gans fit.
# ---------------------------------------------------------------------------------------------------------------
def prepared_data_args(folders: dict[str, Path]) -> list[str]:
    """CLI arguments that train on the files of ``prepare_files`` and validate on its val set (LPIPS off)."""
    return [
        "--data.train_dir", str(folders["train_hr"]),
        "--data.val_sets", json.dumps({SET_NAME: str(folders["val_hr"])}),
        "--data.val_lr_sets", json.dumps({SET_NAME: str(folders["val_lr"])}),
        "--model.lpips", "false",
    ]  # fmt: skip


def train_ours(
    folders: dict[str, Path], root: Path, iterations: int, stored_lr: bool, extra_decays: list[float],
    overrides: list[str],
) -> Path:
    """Train ``experiments/srresnet_x4_urban100.yaml`` through the CLI; the checkpoint's path."""
    from lightning_gans.cli import main as cli

    if (root / "checkpoints").exists():
        raise SystemExit(f"sr_quality: {root} already holds a run; pass a fresh --output or delete it")
    root.mkdir(parents=True, exist_ok=True)
    timer = {"class_path": "benchmarks.sr_quality.StepTimes", "init_args": {"path": str(root / "step_starts.json")}}
    emas = {"class_path": "benchmarks.sr_quality.ExtraEMAs",
            "init_args": {"decays": extra_decays, "path": str(root / "extra_emas.pt")}}  # fmt: skip
    args = [
        "fit", "--config", str(CONFIG),
        "--trainer.default_root_dir", str(root),
        "--trainer.max_steps", str(iterations),
        "--trainer.limit_val_batches", "0",  # scored afterwards on the same files as the reference
        "--trainer.enable_progress_bar", "false",
        "--trainer.callbacks+=" + json.dumps(timer),
        *(["--trainer.callbacks+=" + json.dumps(emas)] if extra_decays else []),
        "--log_to", "csv",
        *prepared_data_args(folders),
        *(["--data.train_lr_dir", str(folders["train_lr"])] if stored_lr else []),
        *overrides,
    ]  # fmt: skip
    print("lightning-gans " + shlex.join(args), flush=True)
    argv, sys.argv = sys.argv, ["lightning-gans"]  # LightningCLI warns when sys.argv has arguments of its own
    try:
        cli(args)
    finally:
        sys.argv = argv
    return root / "checkpoints" / "last.ckpt"


# ---------------------------------------------------------------------------------------------------------------
# BasicSR's own training code.
# ---------------------------------------------------------------------------------------------------------------
def basicsr_options(folders: dict[str, Path], iterations: int, batch_size: int, gt_size: int, root: Path) -> dict:
    """``train_MSRResNet_x4.yml`` at ``iterations`` on the prepared files, on the CPU (BasicSR's keys)."""
    return {
        "name": "MSRResNet_x4_urban100_dev", "model_type": "SRModel", "scale": SCALE, "num_gpu": 0,
        "manual_seed": 0,
        "datasets": {
            "train": {"name": "urban100_dev_train", "type": "PairedImageDataset",
                      "dataroot_gt": str(folders["train_hr"]), "dataroot_lq": str(folders["train_lr"]),
                      "filename_tmpl": "{}", "io_backend": {"type": "disk"}, "gt_size": gt_size, "use_hflip": True,
                      "use_rot": True, "num_worker_per_gpu": 1, "batch_size_per_gpu": batch_size,
                      "dataset_enlarge_ratio": 100, "prefetch_mode": None},
            "val": {"name": SET_NAME, "type": "PairedImageDataset", "dataroot_gt": str(folders["val_hr"]),
                    "dataroot_lq": str(folders["val_lr"]), "io_backend": {"type": "disk"}},
        },
        "network_g": {"type": "MSRResNet", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 64, "num_block": 16,
                      "upscale": SCALE},
        "path": {"pretrain_network_g": None, "param_key_g": "params", "strict_load_g": True, "resume_state": None,
                 "experiments_root": str(root)},
        "train": {
            "ema_decay": 0.999,
            "optim_g": {"type": "Adam", "lr": 2e-4, "weight_decay": 0, "betas": [0.9, 0.99]},
            "scheduler": {"type": "CosineAnnealingRestartLR", "periods": [250000] * 4, "restart_weights": [1] * 4,
                          "eta_min": 1e-7},
            "total_iter": iterations, "warmup_iter": -1,
            "pixel_opt": {"type": "L1Loss", "loss_weight": 1.0, "reduction": "mean"},
        },
        "val": {"val_freq": iterations, "save_img": False,
                "metrics": {"psnr": {"type": "calculate_psnr", "crop_border": SCALE, "test_y_channel": True},
                            "ssim": {"type": "calculate_ssim", "crop_border": SCALE, "test_y_channel": True}}},
        "logger": {"print_freq": max(1, min(50, iterations // 4)), "save_checkpoint_freq": iterations,
                   "use_tb_logger": False, "wandb": {"project": None, "resume_id": None}},
        "dist_params": {"backend": "gloo", "port": 29500},
    }  # fmt: skip


def start_reference(
    reference_dir: Path, deps: Path | None, folders: dict[str, Path], iterations: int, batch_size: int, gt_size: int,
    root: Path,
) -> subprocess.Popen:
    """Start BasicSR's ``basicsr/train.py`` at ``iterations`` in a subprocess (``finish_reference`` waits for it)."""
    if (root / "MSRResNet_x4_urban100_dev").exists():
        raise SystemExit(f"sr_quality: {root} already holds a BasicSR run; pass a fresh --output or delete it")
    root.mkdir(parents=True, exist_ok=True)
    options = root / "train_MSRResNet_x4_urban100_dev.yml"
    options.write_text(yaml.safe_dump(basicsr_options(folders, iterations, batch_size, gt_size, root), sort_keys=False))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in (reference_dir, deps) if p)}
    command = [sys.executable, str(reference_dir / "basicsr" / "train.py"), "-opt", str(options)]
    print("(cd " + shlex.quote(str(reference_dir)) + " && PYTHONPATH=" + shlex.quote(env["PYTHONPATH"]) + " "
          + shlex.join(command) + ")", flush=True)
    with open(root / "stdout.log", "w") as log:  # its console output; its own log file is under the run folder
        return subprocess.Popen(command, cwd=reference_dir, env=env, stdout=log, stderr=subprocess.STDOUT)


def finish_reference(process: subprocess.Popen, iterations: int, root: Path):
    """Wait for BasicSR's run: its weight file, logged metrics, (wall, NaN) s per step from its log."""
    if process.wait() != 0:
        raise SystemExit(f"sr_quality: BasicSR's train.py exited with {process.returncode}; see {root / 'stdout.log'}")
    run = root / "MSRResNet_x4_urban100_dev"
    log = "\n".join(path.read_text() for path in sorted(run.glob("train_*.log")))
    logged = {name: float(value) for name, value in re.findall(r"# (psnr|ssim): ([0-9.]+)", log)}
    # its MessageLogger prints "time (data): <iter time> (<data time>)", a running mean, every print_freq
    times = [float(t) for t in re.findall(r"time \(data\): ([0-9.]+)", log)]
    return run / "models" / f"net_g_{iterations}.pth", logged, (times[-1] if times else float("nan"), float("nan"))


# ---------------------------------------------------------------------------------------------------------------
def mean(rows: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.fmean(r[0] for r in rows), statistics.fmean(r[1] for r in rows)


def split_cli_overrides(argv: list[str] | None) -> tuple[list[str], list[str]]:
    """``(the script's own arguments, the CLI overrides after --)`` of ``argv`` (default ``sys.argv[1:]``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        return argv, []
    return argv[: argv.index("--")], argv[argv.index("--") + 1 :]


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    argv, overrides = split_cli_overrides(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", required=True, type=Path, help="urban100-dev folder (train/ and val/)")
    parser.add_argument("--output", required=True, type=Path, help="folder for the files and the runs")
    parser.add_argument("--iterations", type=int, default=1000, help="training steps of each model (1000)")
    parser.add_argument("--batch_size", type=int, default=16, help="crops per step, both models (16)")
    parser.add_argument("--gt_size", type=int, default=128, help="HR crop side, both models (128)")
    parser.add_argument("--reference_dir", type=Path, default=None, help="a BasicSR copy: also train with it")
    parser.add_argument("--concurrent", action="store_true",
                        help="train BasicSR in a subprocess while ours trains (one core each with OMP_NUM_THREADS=1)")
    parser.add_argument("--reference_deps", type=Path, default=None, help="folder with SciPy for BasicSR's import")
    parser.add_argument("--stored_train_lr", action="store_true", help="ours reads train/LRbicx4 as BasicSR does")
    parser.add_argument("--extra_ema_decays", type=float, nargs="*", default=[0.99, 0.995],
                        help="further generator EMAs kept in the same run and scored (none: pass no values)")
    return parser.parse_args(argv), overrides


def main(argv: list[str] | None = None) -> None:
    args, overrides = parse_args(argv)
    info = RunInfo()
    from lightning_gans.networks import MSRResNet, load_sr_weights
    from lightning_gans.srresnet import SRResNet

    folders = prepare_files(args.data_dir, args.output / "data")
    pairs = read_pairs(folders)
    print(f"validation: {len(pairs)} images of {args.data_dir / 'val'} (GTmod12, 8-bit LRbicx4); "
          f"training: {len(list(folders['train_hr'].iterdir()))} photos; {args.iterations} iterations")

    rows: dict[str, list[tuple[float, float]]] = {"bicubic": score(bicubic, pairs)}
    timing: dict[str, tuple[float, float]] = {}
    sizes = ["--data.batch_size", str(args.batch_size), "--data.gt_size", str(args.gt_size)]
    reference_run = None
    if args.reference_dir is not None and args.concurrent:  # BasicSR on one core while ours trains on the other
        reference_run = start_reference(args.reference_dir.resolve(), args.reference_deps, folders, args.iterations,
                                        args.batch_size, args.gt_size, args.output / "basicsr")
    checkpoint = train_ours(folders, args.output / "ours", args.iterations, args.stored_train_lr,
                            args.extra_ema_decays, sizes + overrides)
    starts = json.loads((args.output / "ours" / "step_starts.json").read_text())
    timing["ours (lightning-gans fit)"] = seconds_per_step(starts)
    config, steps = saved_run(args.output / "ours")  # what the CLI ran, after every override
    data = config["data"]["init_args"]
    model = SRResNet.load_from_checkpoint(checkpoint, map_location="cpu")
    rows["ours, EMA generator"] = score(network_scorer(model.evaluated_generator), pairs)
    if model.generator_ema is not None:
        rows["ours, raw generator (no EMA)"] = score(network_scorer(model.generator), pairs)
    if args.extra_ema_decays:
        for decay, weights in torch.load(args.output / "ours" / "extra_emas.pt", weights_only=True).items():
            network = copy.deepcopy(model.generator)
            network.load_state_dict(weights)
            rows[f"ours, EMA {decay} (same run)"] = score(network_scorer(network), pairs)

    logged = {}
    if args.reference_dir is not None:
        if reference_run is None:
            reference_run = start_reference(args.reference_dir.resolve(), args.reference_deps, folders,
                                            args.iterations, args.batch_size, args.gt_size, args.output / "basicsr")
        weights, logged, timing["BasicSR (its train.py)"] = finish_reference(
            reference_run, args.iterations, args.output / "basicsr")
        reference = {}
        for key in ("params_ema", "params"):  # BasicSR's file holds both: score each with the same code
            network = MSRResNet(scale=SCALE)
            load_sr_weights(network, torch.load(weights, map_location="cpu", weights_only=True)[key])
            reference[key] = network
        rows["BasicSR, EMA generator (params_ema)"] = score(network_scorer(reference["params_ema"]), pairs)
        rows["BasicSR, raw generator (params)"] = score(network_scorer(reference["params"]), pairs)

    print(f"\nPSNR-Y / SSIM-Y on {SET_NAME} val ({len(pairs)} images, crop 4, SR rounded to 8 bits), ours "
          f"{steps} steps of batch {data['batch_size']} at gt {data['gt_size']} (BasicSR: {args.iterations} of "
          f"{args.batch_size} at {args.gt_size}):")
    for name, values in rows.items():
        psnr, ssim = mean(values)
        print(f"  {name:40} {psnr:7.3f} dB  {ssim:.4f}")
    if logged:
        print(f"  BasicSR's own validation (its log, EMA net): {logged.get('psnr', float('nan')):.3f} dB  "
              f"{logged.get('ssim', float('nan')):.4f}")
    print("\nper image (PSNR-Y):  " + " ".join(f"{name[:7]:>7}" for name, _, _ in pairs))
    for name, values in rows.items():
        print(f"  {name[:19]:19} " + " ".join(f"{v[0]:7.2f}" for v in values))
    if args.reference_dir is not None:
        gain = mean(rows["ours, EMA generator"])[0] - mean(rows["BasicSR, EMA generator (params_ema)"])[0]
        print(f"\nours - BasicSR (EMA generators): {gain:+.3f} dB (target: >= +{TARGET_DB} dB)")
    print("\nBasicSR at 1,000 iterations on these training photos (the issue's figures, Set5 / Set14, not here): "
          + "; ".join(f"{k} {v[0]} / {v[1]} (bicubic {v[2]} / {v[3]})" for k, v in BASICSR_AT_1000.items()))
    print(f"\nseconds per training step (median after {WARMUP_STEPS} steps; BasicSR: its log's running mean, "
          "wall only):")
    for name, (wall, cpu) in timing.items():
        print(f"  {name:30} {wall:6.2f} s wall, {cpu:6.2f} s CPU -> 1,000 iterations ~ {wall * 1000 / 60:.0f} min "
              f"wall at this load, {cpu * 1000 / 60:.0f} min of one core")
    print("\ndifferences from BasicSR's recipe:")
    for what, ours, theirs in RECIPE_DIFFERENCES:
        print(f"  - {what}: ours {ours}; BasicSR {theirs}")
    if args.stored_train_lr:
        print("  - (--stored_train_lr: ours also trains on the stored 8-bit LR files)")
    if (args.batch_size, args.gt_size) != (16, 128):
        print(f"  - both models at batch {args.batch_size}, gt {args.gt_size} (a cheaper proxy of the 16 x 128 budget)")
    for override in [" ".join(overrides[i : i + 2]) for i in range(0, len(overrides), 2)]:
        print(f"  - CLI override: {override}")
    info.print()


if __name__ == "__main__":
    main()
