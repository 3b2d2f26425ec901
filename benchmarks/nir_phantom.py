"""NIR vessel phantom: do pix2pix and CycleGAN raise the SBR and PSNR of blurry NIR-I/IIa images towards NIR-IIb?

The use case is Ma et al., "Deep learning for in vivo near-infrared imaging", PNAS 118(1) e2021446118 (2021):
translate a 900-1300 nm (NIR-I/IIa) fluorescence image into one resembling a 1500-1700 nm (NIR-IIb) image, which
raised the signal-to-background ratio (SBR) of ICG lymph-node imaging to ">100" (abstract). Real data cannot be
downloaded here, so both families train on ``datamodules.NIRPhantomDataModule`` (16-bit, single channel: the same
scene through a scattering PSF with a raised background (A) and through a sharp PSF (B), with camera noise).

Run from the repository root (about 25 minutes on one thread of the shared 2-core machine)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/nir_phantom.py --out_dir /tmp/nir_phantom

1. **Training**: ``experiments/pix2pix_nir.yaml`` (paired scenes) and ``experiments/cyclegan_nir.yaml`` (unpaired
   scenes) as committed, through the CLI (``lightning_gans.cli.main``) with ``--seed_everything`` and validation
   off; ``--pix2pix_args`` / ``--cyclegan_args`` add CLI arguments to one run (for tuning).
2. **Scores** on the phantom's validation split (``--num_val`` paired scenes; the same seed, size and physics as
   both runs trained on, which the script checks): per image PSNR and SSIM against B and SBR (vessel cores over
   the adjacent background, ``lightning_gans.metrics.signal_to_background_ratio``) of the input A, of each
   family's G(A) (run as the family validates: its configured ``inference`` mode, the data module's batch size,
   dropout noise seeded) and of the target B. Also shown: the best single affine map ``a A + b`` of the input
   (least squares against B over the whole validation set, an oracle), which shows how much PSNR a global
   intensity change buys without sharpening anything (its SBR stays at the input's or falls), and a classical
   baseline that needs no pairs: histogram matching, the monotone pixel-wise map taking the pooled intensity
   distribution of ``--histogram_images`` unpaired training A images onto that of as many training B images.
3. **16-bit path, end to end** (``--predict_count`` images, 0 skips it): writes that many validation scenes as
   16-bit PNG files (``write_phantom_dataset``, paired folders), runs ``lightning-gans predict`` with the pix2pix
   run's saved config and ``last.ckpt`` on them (``PairedImageDataModule`` with ``predict_dir``), and checks that
   every output is a single-channel 16-bit PNG with its input's name and more than 256 distinct levels; it then
   scores the written files against the B files and masks on disk.

Prints the table (means over the validation images, and how many images each model improved over its input), the
verdict, each run's steps and time, then the command, wall time, thread settings and load average.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere: import the repo

import numpy as np
import torch
from torch import Tensor

from benchmarks._common import REPO_ROOT, RunInfo, saved_run, train_with_cli
from datamodules import NIRPhantomDataModule
from datamodules.nir_phantom import PhantomPhysics, write_phantom_dataset
from lightning_gans import CycleGAN, Pix2Pix
from lightning_gans.images import read_image, to_unit_range
from lightning_gans.metrics import psnr, signal_to_background_ratio, ssim

FAMILIES = {  # run name -> (family class, experiment, table label)
    "pix2pix": (Pix2Pix, REPO_ROOT / "experiments" / "pix2pix_nir.yaml", "pix2pix G(A)"),
    "cyclegan": (CycleGAN, REPO_ROOT / "experiments" / "cyclegan_nir.yaml", "CycleGAN G(A)"),
}
SCENE_KEYS = ("image_size", "seed", *PhantomPhysics.__dataclass_fields__)  # what fixes the validation scenes
METRICS = ("sbr", "psnr", "ssim")
QUANTILES = 4097  # points of the histogram-matching map
EVAL_SEED = 0  # seeds the dropout noise of pix2pix's paper-mode inference


def phantom_from_config(config: dict, num_val: int) -> NIRPhantomDataModule:
    """The phantom a run trained on (its saved ``data.init_args``), with ``num_val`` validation scenes.

    Args:
        config: the run's saved CLI configuration.
        num_val: validation scenes to score.
    """
    init_args = dict(config["data"]["init_args"])
    init_args["num_val"] = num_val
    datamodule = NIRPhantomDataModule(**init_args)
    datamodule.setup("validate")
    return datamodule


def scene_args(config: dict) -> dict:
    """The data arguments that decide the validation scenes (size, seed, physics), for comparing two runs."""
    init_args = config["data"]["init_args"]
    return {key: init_args[key] for key in SCENE_KEYS}


def score(images: Tensor, batch: dict) -> dict[str, Tensor]:
    """Per-image SBR, PSNR and SSIM of ``images`` ``(B, 1, H, W)`` in [-1, 1] against the batch's B and masks."""
    return NIRPhantomDataModule.score_translation(images, batch)


def histogram_matching(config: dict, count: int):
    """The monotone map of 16-bit levels taking training A's pooled histogram onto training B's (unpaired scenes).

    Args:
        config: a run's saved configuration (the phantom's size, seed and physics).
        count: training images of each domain to pool (``mode="unpaired"``: A and B show different scenes).

    Returns:
        A function of images ``(B, 1, H, W)`` in [-1, 1] giving the mapped images in [-1, 1].
    """
    init_args = {**config["data"]["init_args"], "mode": "unpaired", "num_train": count, "num_val": 0}
    datamodule = NIRPhantomDataModule(**init_args)
    datamodule.setup("fit")
    items = [datamodule.train_set.render(index) for index in range(count)]
    levels = np.linspace(0, 1, QUANTILES)
    source = np.quantile(np.concatenate([item["a"].ravel() for item in items]), levels)  # (QUANTILES,) ADU
    target = np.quantile(np.concatenate([item["b"].ravel() for item in items]), levels)

    def apply(images: Tensor) -> Tensor:
        adu = to_unit_range(images).double().numpy() * 65535
        mapped = np.interp(adu, source, target) / 65535  # piecewise linear between the quantiles
        return torch.from_numpy(mapped).float() * 2 - 1

    return apply


@torch.no_grad()
def evaluate(
    models: dict[str, torch.nn.Module], datamodule: NIRPhantomDataModule, matching
) -> dict[str, dict[str, Tensor]]:
    """Scores of the input, each model's G(A), the baselines and the target over the validation set.

    Args:
        models: family name -> trained family.
        datamodule: the phantom with its validation split set up.
        matching: the histogram-matching map (``histogram_matching``).

    Returns:
        ``{row: {"sbr" | "psnr" | "ssim": (N,)}}`` with rows ``"input"``, each model's name, ``"target"``,
        ``"histogram"`` and ``"affine"`` (the least-squares map of the input, fitted on these images).
    """
    rows: dict[str, dict[str, list[Tensor]]] = {}
    inputs, targets, batches = [], [], []

    def add(row: str, scores: dict[str, Tensor]) -> None:
        for metric in METRICS:
            rows.setdefault(row, {}).setdefault(metric, []).append(scores[metric])

    for name, model in models.items():
        model.eval()  # the family's own inference mode decides dropout / BatchNorm (Pix2Pix: "paper")
        torch.manual_seed(EVAL_SEED)
        for batch in datamodule.val_dataloader():
            add(name, score(model(batch["A"]), batch))  # (B, 1, H, W) in [-1, 1]
    for batch in datamodule.val_dataloader():
        add("input", score(batch["A"], batch))
        add("target", score(batch["B"], batch))
        add("histogram", score(matching(batch["A"]), batch))
        inputs.append(to_unit_range(batch["A"]))
        targets.append(to_unit_range(batch["B"]))
        batches.append(batch)
    source, truth = torch.cat(inputs).double().flatten(), torch.cat(targets).double().flatten()
    design = torch.stack([source, torch.ones_like(source)], dim=1)  # (N H W, 2)
    gain, offset = torch.linalg.lstsq(design, truth[:, None]).solution.squeeze(1).tolist()
    for batch, unit in zip(batches, inputs):
        add("affine", score(((gain * unit + offset).clamp(0, 1) * 2 - 1).float(), batch))
    print(f"oracle affine map of the input (least squares on the validation set): B ~ {gain:.4f} A + {offset:.5f}")
    return {row: {metric: torch.cat(values) for metric, values in metrics.items()} for row, metrics in rows.items()}


def print_table(results: dict[str, dict[str, Tensor]], labels: dict[str, str]) -> None:
    """Markdown table of mean SBR / PSNR / SSIM per row, with how many images beat the input."""
    count = len(results["input"]["sbr"])
    print(f"\nNIR phantom, {count} validation scenes (means; 'better' = images scoring above the input itself):\n")
    print("| image | SBR | PSNR (dB) | SSIM | SBR better | PSNR better |")
    print("|---|---|---|---|---|---|")
    for row, label in labels.items():
        scores = results[row]
        means = [f"{scores[m].mean().item():.3f}" if torch.isfinite(scores[m]).all() else "inf" for m in METRICS]
        better = ["–", "–"] if row == "input" else [
            f"{int((scores[m] > results['input'][m]).sum())}/{count}" for m in ("sbr", "psnr")
        ]  # fmt: skip
        print(f"| {label} | " + " | ".join(means + better) + " |")
    print()


def cli(args: list[str]) -> None:
    """``lightning-gans ARGS`` in this process (the command is printed first)."""
    from lightning_gans.cli import main  # imported here so that --help stays fast

    print("lightning-gans " + shlex.join(args), flush=True)
    benchmark_argv, sys.argv = sys.argv, ["lightning-gans"]  # LightningCLI warns when sys.argv also has arguments
    try:
        main(args)
    finally:
        sys.argv = benchmark_argv


def check_predict(root_dir: Path, config: dict, out_dir: Path, count: int) -> None:
    """Write ``count`` phantom scenes as 16-bit PNGs, translate them with ``lightning-gans predict``, check the files.

    Args:
        root_dir: the pix2pix run (its saved ``config.yaml`` and ``checkpoints/last.ckpt``).
        config: that run's saved configuration (for the phantom's size, seed and physics).
        out_dir: where to put the PNG data set (``phantom_png/``) and the predictions (``predictions/``).
        count: scenes to write and translate.
    """
    scene = scene_args(config)
    physics = {key: scene[key] for key in PhantomPhysics.__dataclass_fields__}
    data = write_phantom_dataset(
        out_dir / "phantom_png", 1, count, "folders", image_size=scene["image_size"], seed=scene["seed"], **physics
    )
    predictions = out_dir / "predictions"
    config_file = max(root_dir.glob("**/config.yaml"), key=lambda path: path.stat().st_mtime)
    cli([
        "predict", "--config", str(config_file),
        "--data", "datamodules.PairedImageDataModule", "--data.root", str(data), "--data.layout", "folders",
        "--data.predict_dir", str(data / "val" / "A"),
        "--ckpt_path", str(root_dir / "checkpoints" / "last.ckpt"),
        "--predictions.output_dir", str(predictions), "--trainer.enable_progress_bar", "false",
    ])  # fmt: skip
    names = sorted(path.name for path in (data / "val" / "A").glob("*.png"))
    written = sorted(path.name for path in predictions.glob("*.png") if path.name != "grid.png")
    if written != names:
        raise RuntimeError(f"predict wrote {written}, expected the input names {names}")
    levels, rows = [], {"input": {m: [] for m in METRICS}, "prediction": {m: [] for m in METRICS}}
    for name in names:
        output, depth = read_image(predictions / name)  # (C, H, W) in [0, 1]
        if output.shape != (1, scene["image_size"], scene["image_size"]) or depth != 16:
            raise RuntimeError(f"{predictions / name}: shape {tuple(output.shape)}, {depth}-bit; expected 1 channel, 16-bit")
        levels.append(len(np.unique(np.round(output.numpy() * 65535))))
        source, _ = read_image(data / "val" / "A" / name)
        target, _ = read_image(data / "val" / "B" / name)
        vessel, _ = read_image(data / "masks" / "val" / "vessel" / name)
        background, _ = read_image(data / "masks" / "val" / "background" / name)
        masks = vessel[None] > 0.5, background[None] > 0.5  # (1, 1, H, W) bool
        for row, image in (("input", source), ("prediction", output)):
            rows[row]["sbr"].append(signal_to_background_ratio(image[None], *masks))
            rows[row]["psnr"].append(psnr(image[None], target[None]))
            rows[row]["ssim"].append(ssim(image[None], target[None]))
    if min(levels) <= 256:
        raise RuntimeError(f"predicted files have as few as {min(levels)} distinct levels: not really 16-bit")
    print(
        f"16-bit check passed: {len(names)} files in {predictions}, each 1 channel, 16-bit, named as its input, "
        f"{min(levels)} to {max(levels)} distinct levels"
    )
    for row, scores in rows.items():
        means = ", ".join(f"{m} {torch.cat(scores[m]).mean().item():.3f}" for m in METRICS)
        print(f"  scored from the files on disk, {row}: {means}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out_dir", required=True, help="runs go to <out_dir>/<family>, e.g. /tmp/nir_phantom")
    parser.add_argument("--runs", nargs="+", choices=list(FAMILIES), default=list(FAMILIES), help="families to train")
    parser.add_argument("--seed", type=int, default=0, help="--seed_everything of every run")
    parser.add_argument("--num_val", type=int, default=50, help="validation scenes to score (default 50)")
    parser.add_argument("--histogram_images", type=int, default=50, help="training images per domain for histogram matching")
    parser.add_argument("--predict_count", type=int, default=4, help="scenes for the 16-bit predict check; 0 skips it")
    parser.add_argument("--reuse", action="store_true", help="score existing runs in out_dir instead of training anew")
    for name in FAMILIES:
        parser.add_argument(f"--{name}_args", default="", help=f"extra CLI arguments of the {name} run, one string")
    args = parser.parse_args()
    run = RunInfo()
    out_dir = Path(args.out_dir)

    models, configs, facts = {}, {}, []
    for name in args.runs:
        family, experiment, _ = FAMILIES[name]
        root_dir = out_dir / name
        start, cpu_start = time.perf_counter(), time.process_time()
        extra = shlex.split(getattr(args, f"{name}_args"))
        checkpoint = root_dir / "checkpoints" / "last.ckpt"
        reused = args.reuse and checkpoint.is_file()
        if not reused:
            train_with_cli(str(experiment), root_dir, ["--seed_everything", str(args.seed), *extra])
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        configs[name], steps = saved_run(root_dir)
        models[name] = family.load_from_checkpoint(checkpoint, map_location="cpu")
        timing = "an earlier run, reused" if reused else f"{seconds:.0f} s wall / {cpu:.0f} s CPU incl. start-up"
        facts.append(
            f"[{name}] {shlex.join([str(experiment.relative_to(REPO_ROOT)), *extra])}: {steps} generator steps ({timing}); "
            f"checkpoint {checkpoint}"
        )
        print(facts[-1], flush=True)

    scenes = {name: scene_args(config) for name, config in configs.items()}
    if len({repr(sorted(s.items())) for s in scenes.values()}) > 1:
        raise RuntimeError(f"the runs trained on different phantoms, so no common validation set: {scenes}")
    datamodule = phantom_from_config(next(iter(configs.values())), args.num_val)
    matching = histogram_matching(next(iter(configs.values())), args.histogram_images)
    results = evaluate(models, datamodule, matching)
    labels = {"input": "input A (NIR-I/IIa, blurry)"}
    labels.update({name: FAMILIES[name][2] for name in models})
    labels["histogram"] = "histogram matching of A to B (no pairs, no network)"
    labels["affine"] = "oracle: best affine map a A + b"
    labels["target"] = "target B (NIR-IIb, sharp)"
    print_table(results, labels)
    for name in models:
        gains = {m: results[name][m].mean().item() - results["input"][m].mean().item() for m in ("sbr", "psnr")}
        verdict = "raises both" if min(gains.values()) > 0 else "does NOT raise both"
        versus = [f"{m.upper()} {'above' if results[name][m].mean() > results['histogram'][m].mean() else 'below'}"
                  for m in ("sbr", "psnr")]  # fmt: skip
        print(
            f"{FAMILIES[name][2]} {verdict}: SBR {gains['sbr']:+.3f}, PSNR {gains['psnr']:+.2f} dB over the input; "
            f"against histogram matching: {', '.join(versus)}"
        )
    for fact in facts:
        print(fact)
    if args.predict_count > 0 and "pix2pix" in configs:
        check_predict(out_dir / "pix2pix", configs["pix2pix"], out_dir, args.predict_count)
    run.print()


if __name__ == "__main__":
    main()
