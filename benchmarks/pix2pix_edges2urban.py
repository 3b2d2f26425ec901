"""pix2pix on edges2urban at a 1000-iteration budget: L1 / PSNR / SSIM on the val split beside the mean-image floor.

Run from the repository root (each 1000-iteration run takes 15 to 30 minutes on one shared thread)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/pix2pix_edges2urban.py --data_root ../shared/data/edges2urban \
        --out_dir /tmp/pix2pix_edges2urban --seeds 0 1 2

Data: ``edges2urban`` (``../shared/docs/DATA.md``): 200 training and 20 validation A|B files, 512x256, A = Canny
edges (black lines on white), B = the photo crop; translated A -> B. Runs, each through the CLI
(``lightning_gans.cli.main``) with ``--seed_everything S`` and exactly ``--steps`` (1000) generator steps at batch 1:

- ``ours`` (``--seeds``, default 0 1 2): ``experiments/pix2pix_edges2urban.yaml`` as committed; any further
  ``--section.key value`` arguments are added to these runs only (that is how the levers were tried).
- ``paper`` (``--paper_seeds``, default none): the paper's settings at this budget, i.e. the family's and data
  module's defaults with ``unet_128``, 143 -> random 128 crops (the paper's 286 -> 256 at half size) and flips:
  our family's version of the reference run that ``DATA.md`` quotes.

Scoring is the reference's test: every val image resized (bicubic, antialiased) to 128x128, no flip, no crop;
the generator runs in the model's own ``inference`` mode (``paper``: dropout on and batch statistics, seeded with
``EVAL_SEED`` so a run scores the same every time; ``eval``: deterministic) in float32. L1 (mean absolute
difference), PSNR and SSIM (``lightning_gans.metrics``) on RGB in [0, 1], per image, averaged over the 20 images.
The floor predicts the mean training photo (the 200 training B images, preprocessed as the val images) for every
input. Two yardsticks beside it: ``ridge_baseline``, a ridge regression of each pixel's colour on multi-scale edge
density and position fit on the training pairs (what a simple edge-aware predictor gets), and an ORACLE that
paints every val image in its own true mean colour (it uses the answers: it shows that the target's L1 < 0.20 /
PSNR > 12.5 dB is about what knowing each photo's average colour exactly scores). ``--bound_epochs N`` adds a
third: ``l1_regression_bound``, the same ``unet_128`` trained on the L1 term alone for N epochs at batch 16 (N / 5
times the budget's 1,000 images), scored after every epoch; its best epoch is chosen on the val images themselves,
so it is an optimistic bound of what this network learns from the 200 pairs, not a method. Printed: each run, the mean and
sample standard deviation over seeds, the floor, the yardsticks, the reference figures of ``DATA.md``, then the
command, wall times, thread settings and load average.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere: import the repo

import torch
from torch import Tensor
from torchmetrics.functional.image import structural_similarity_index_measure

from benchmarks._common import REPO_ROOT, RunInfo, saved_run, train_with_cli
from datamodules import PairedImageDataModule
from lightning_gans import Pix2Pix
from lightning_gans.images import to_unit_range
from lightning_gans.metrics import psnr, ssim

CONFIG = REPO_ROOT / "experiments" / "pix2pix_edges2urban.yaml"
IMAGE_SIZE = 128  # the benchmark's resolution: unet_128, val images resized to 128x128
EVAL_SEED = 1234  # seeds torch's global RNG before scoring (the dropout of ``paper`` inference)
# DATA.md: the reference implementation (unet_128 at 128 px, batch 1, 1000 iterations, its default test-time
# dropout), mean and std over 3 seeds, and the mean-training-image floor it was compared with.
# Its SSIM is torchmetrics' default (reflection padding, the map averaged over the whole image): this script's
# floor reproduces 0.188 that way ("ssim_tm") and 0.178 with lightning_gans.metrics.ssim (valid region only).
REFERENCE = {"l1": (0.244, 0.012), "psnr": (10.90, 0.51), "ssim": (None, None), "ssim_tm": (0.103, None)}
REFERENCE_FLOOR = {"l1": 0.228, "psnr": 11.74, "ssim": None, "ssim_tm": 0.188}
METRICS = ("l1", "psnr", "ssim", "ssim_tm")

# The paper's settings (the family's and data module's defaults) at this benchmark's size; the data root is added.
PAPER_ARGS = [
    "--model", "lightning_gans.Pix2Pix",
    "--model.generator", "unet_128",
    "--data", "datamodules.PairedImageDataModule",
    "--data.load_size", str(IMAGE_SIZE * 286 // 256),
    "--data.crop_size", str(IMAGE_SIZE),
]  # fmt: skip


def scoring_data(root: str, split: str) -> PairedImageDataModule:
    """A split as the reference's test sees it: resized to ``IMAGE_SIZE`` squared, no flip, batch 1, file order.

    Args:
        root: the edges2urban folder (``train/`` and ``val/`` of A|B files).
        split: the split to read (``val``; ``train`` for the floor's mean image).
    """
    datamodule = PairedImageDataModule(
        root=root, load_size=IMAGE_SIZE, crop_size=IMAGE_SIZE, flip=False, batch_size=1, val_split=split, test_split=None
    )
    datamodule.setup("validate")  # evaluation preprocessing: resize to crop_size, centre crop (none left), no flip
    return datamodule


def scores(outputs: Tensor, targets: Tensor) -> dict[str, float]:
    """Mean over images of the per-image L1, PSNR, SSIM (valid region) and SSIM as torchmetrics' default.

    Args:
        outputs: ``(N, 3, H, W)`` predictions in [0, 1].
        targets: ``(N, 3, H, W)`` photos in [0, 1].
    """
    return {
        "l1": (outputs - targets).abs().mean(dim=(1, 2, 3)).mean().item(),
        "psnr": psnr(outputs, targets).mean().item(),
        "ssim": ssim(outputs, targets).mean().item(),
        "ssim_tm": structural_similarity_index_measure(outputs.double(), targets.double(), data_range=1.0).item(),
    }


def load_split(datamodule: PairedImageDataModule) -> tuple[Tensor, Tensor]:
    """All ``(A, B)`` of the data module's val loader, each ``(N, 3, H, W)`` in [-1, 1]."""
    batches = list(datamodule.val_dataloader())
    return torch.cat([b["A"] for b in batches]), torch.cat([b["B"] for b in batches])


@torch.no_grad()
def translate_all(model: Pix2Pix, inputs: Tensor) -> Tensor:
    """``model(A)`` image by image (batch 1, as the reference's test) in float32, mapped to [0, 1]."""
    model.eval()
    torch.manual_seed(EVAL_SEED)
    outputs = [model(image[None]) for image in inputs]  # each (1, 3, H, W) in [-1, 1]
    return to_unit_range(torch.cat(outputs).float()).clamp(0, 1)  # (N, 3, H, W)


def summary(values: list[dict[str, float]]) -> dict[str, tuple[float, float | None]]:
    """Mean and sample standard deviation (None for one value) of each metric over runs."""
    return {
        name: (
            statistics.mean(v[name] for v in values),
            statistics.stdev(v[name] for v in values) if len(values) > 1 else None,
        )
        for name in METRICS
    }


def row(label: str, values: dict, width: int = 48) -> str:
    """One table line: L1, PSNR (dB), SSIM, SSIM (torchmetrics), each a number, a (mean, std) pair or None."""
    cells = []
    for name, digits in zip(METRICS, (4, 2, 4, 4)):
        value = values[name]
        mean, std = value if isinstance(value, tuple) else (value, None)
        if mean is None:
            cells.append("-")
            continue
        cells.append(f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else ""))
    return f"  {label:<{width}}" + "".join(f"{cell:>18}" for cell in cells)


EDGE_SCALES = (1, 2, 4, 8, 16, 32)  # Gaussian sigmas (pixels at 128 px) of the edge-density features


def edge_features(inputs: Tensor) -> Tensor:
    """Per-pixel features of edge maps in [0, 1]: edge density at ``EDGE_SCALES``, the image's edge fraction and the
    position, with their squares and a constant: ``(B, F, H, W)``."""
    from torchvision.transforms.functional import gaussian_blur

    edges = 1 - inputs.mean(dim=1, keepdim=True)  # 1 on the (black) lines
    blurred = [gaussian_blur(edges, 6 * s + 1, float(s)) for s in EDGE_SCALES]
    fraction = edges.mean(dim=(2, 3), keepdim=True).expand_as(edges)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, edges.shape[2]), torch.linspace(-1, 1, edges.shape[3]), indexing="ij")
    position = [ys.expand_as(edges), xs.expand_as(edges)]
    features = torch.cat([edges, *blurred, fraction, *position], dim=1)
    return torch.cat([features, features**2, torch.ones_like(edges)], dim=1)


def ridge_baseline(train_inputs: Tensor, train_targets: Tensor, inputs: Tensor, samples: int = 300_000) -> Tensor:
    """A non-GAN, edge-aware baseline: ridge regression (L2, 1e-3) of each pixel's RGB on ``edge_features``, fit on
    ``samples`` random pixels of the training pairs (seeded), applied to ``inputs``; all in [0, 1]."""
    features = edge_features(train_inputs).permute(0, 2, 3, 1).flatten(0, 2).double()
    colours = train_targets.permute(0, 2, 3, 1).flatten(0, 2).double()
    pick = torch.randperm(features.shape[0], generator=torch.Generator().manual_seed(0))[:samples]
    x, y = features[pick], colours[pick]
    weights = torch.linalg.solve(x.T @ x + 1e-3 * torch.eye(x.shape[1], dtype=x.dtype), x.T @ y)  # (F, 3)
    return (edge_features(inputs).permute(0, 2, 3, 1).double() @ weights).permute(0, 3, 1, 2).float().clamp(0, 1)


def l1_regression_bound(
    train_inputs: Tensor, train_targets: Tensor, inputs: Tensor, targets: Tensor, epochs: int, batch_size: int = 16
) -> list[dict[str, float]]:
    """How far the benchmark's generator gets from these 200 pairs with no budget limit and no GAN: ``unet_128``
    (batch norm, no dropout) trained on the L1 term alone, Adam (2e-4, betas 0.5 / 0.999, pix2pix's) at
    ``batch_size``, random horizontal flips, seeded; ``targets`` scored (``scores``, eval mode) and printed after
    every epoch.

    Args:
        train_inputs: ``(N, 3, H, W)`` training edge maps in [0, 1].
        train_targets: ``(N, 3, H, W)`` training photos in [0, 1].
        inputs: ``(M, 3, H, W)`` val edge maps in [0, 1].
        targets: ``(M, 3, H, W)`` val photos in [0, 1].
        epochs: passes over the training pairs (each shows ``N`` images; the benchmark's budget shows 1,000).
        batch_size: pairs per step.

    Returns:
        the scores after each epoch, in order.
    """
    from lightning_gans.translation import build_generator

    torch.manual_seed(0)
    generator = build_generator("unet_128", 3, 3, width=64, norm="batch", dropout=False)
    optimizer = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    history = []
    for _ in range(epochs):
        generator.train()
        for batch in torch.randperm(len(train_inputs)).split(batch_size):
            flip = (torch.rand(len(batch)) < 0.5)[:, None, None, None]
            a, b = train_inputs[batch], train_targets[batch]
            a, b = torch.where(flip, a.flip(-1), a), torch.where(flip, b.flip(-1), b)
            loss = (to_unit_range(generator(a * 2 - 1)) - b).abs().mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        generator.eval()
        with torch.no_grad():
            history.append(scores(to_unit_range(generator(inputs * 2 - 1)).clamp(0, 1), targets))
        images, result = len(history) * len(train_inputs), history[-1]
        print(
            f"[L1-only unet_128, batch {batch_size}, epoch {len(history)}: {images} images] L1 {result['l1']:.4f}, "
            f"PSNR {result['psnr']:.2f} dB, SSIM {result['ssim']:.4f}",
            flush=True,
        )
    return history


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Unknown --section.key value arguments are passed to the CLI of the 'ours' runs only.",
    )
    parser.add_argument("--data_root", required=True, help="the edges2urban folder (train/, val/), never downloaded")
    parser.add_argument("--out_dir", required=True, help="runs go to <out_dir>/<run name>_seed<S>")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2], help="--seed_everything of the 'ours' runs")
    parser.add_argument("--paper_seeds", type=int, nargs="*", default=[], help="seeds of the paper-settings runs")
    parser.add_argument("--steps", type=int, default=1000, help="generator steps (iterations) of every run")
    parser.add_argument(
        "--bound_epochs",
        type=int,
        default=0,
        help="also train the L1-only unet_128 of l1_regression_bound for this many epochs at batch 16 (0: skip)",
    )
    args, overrides = parser.parse_known_args()
    run = RunInfo()

    val_inputs, val_targets = load_split(scoring_data(args.data_root, "val"))  # (20, 3, 128, 128) each, [-1, 1]
    train_inputs, train_targets = map(to_unit_range, load_split(scoring_data(args.data_root, "train")))  # (200, ...)
    targets, val_edges = to_unit_range(val_targets), to_unit_range(val_inputs)  # [0, 1]
    mean_image = train_targets.mean(dim=0, keepdim=True)  # (1, 3, 128, 128)
    floor = scores(mean_image.expand_as(targets), targets)
    ridge = scores(ridge_baseline(train_inputs, train_targets, val_edges), targets)
    # what knowing each val photo's own mean colour would score (uses the answers: a yardstick, not a method)
    oracle_colour = scores(targets.mean(dim=(2, 3), keepdim=True).expand_as(targets), targets)
    bound = l1_regression_bound(train_inputs, train_targets, val_edges, targets, args.bound_epochs)

    results: dict[str, list[dict[str, float]]] = {"paper": [], "ours": []}
    plans = [("paper", seed) for seed in args.paper_seeds] + [("ours", seed) for seed in args.seeds]
    for name, seed in plans:
        budget = ["--seed_everything", str(seed), "--trainer.max_epochs", "-1", "--trainer.max_steps", str(args.steps)]
        data = ["--data.root", args.data_root]
        if name == "paper":  # the class choices come first: the later --data.* / --trainer.* arguments refine them
            config_file, run_args = None, PAPER_ARGS + data + budget
        else:
            config_file, run_args = str(CONFIG), data + overrides + budget
        root_dir = Path(args.out_dir) / f"{name}_seed{seed}"
        start, cpu_start = time.perf_counter(), time.process_time()
        checkpoint = train_with_cli(config_file, root_dir, run_args)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        config, steps_done = saved_run(root_dir)
        if steps_done != args.steps:
            raise RuntimeError(f"{root_dir} trained {steps_done} generator steps, not {args.steps}")
        model = Pix2Pix.load_from_checkpoint(checkpoint, map_location="cpu")
        result = scores(translate_all(model, val_inputs), targets)
        results[name].append(result)
        mode = model.hparams.inference
        other_mode = "eval" if mode == "paper" else "paper"
        model.hparams.inference = other_mode  # the same weights scored the other way, for information only
        other = scores(translate_all(model, val_inputs), targets)
        hparams, data_args = model.hparams, config["data"]["init_args"]
        print(
            f"[{name} seed {seed}] {hparams.generator}, inference {mode}, precision "
            f"{config['trainer']['precision']}, data {data_args['load_size']} -> {data_args['crop_size']}: "
            f"{steps_done} generator steps in {seconds:.0f} s wall / {cpu:.0f} s CPU ({seconds / steps_done:.2f} s/step "
            f"wall, incl. startup); L1 {result['l1']:.4f}, PSNR {result['psnr']:.2f} dB, SSIM {result['ssim']:.4f} "
            f"(with inference {other_mode}: L1 {other['l1']:.4f}, PSNR {other['psnr']:.2f} dB, SSIM "
            f"{other['ssim']:.4f}); checkpoint {checkpoint}",
            flush=True,
        )

    print(f"config of 'ours': {CONFIG.relative_to(REPO_ROOT)} + {' '.join(overrides) or 'no overrides'}")
    print(
        f"edges2urban val ({len(targets)} images at {IMAGE_SIZE}x{IMAGE_SIZE}, RGB in [0, 1]) after {args.steps} "
        "iterations at batch 1:"
    )
    print(f"  {'':<48}{'L1':>18}{'PSNR (dB)':>18}{'SSIM':>18}{'SSIM (tm default)':>18}")
    print(row(f"mean training image (floor, {len(train_targets)} photos)", floor))
    print(row("  the same floor as DATA.md quotes it", REFERENCE_FLOOR))
    print(row("reference implementation (DATA.md, 3 seeds)", {k: v for k, v in REFERENCE.items()}))
    print(row("ridge regression on edge density + position", ridge))
    print(row("ORACLE: each val photo's own mean colour", oracle_colour))
    if bound:
        best = min(range(len(bound)), key=lambda i: bound[i]["l1"])
        print(row(f"L1-only unet_128, best epoch of {len(bound)} (on val)", bound[best]))
        print(row(f"  the same after its last epoch ({len(bound)})", bound[-1]))
    for name, seeds in (("paper", args.paper_seeds), ("ours", args.seeds)):
        for seed, result in zip(seeds, results[name]):
            print(row(f"{name}, seed {seed}", result))
        if len(results[name]) > 1:
            print(row(f"{name}, mean ± std of {len(results[name])} seeds", summary(results[name])))
    if results["ours"]:
        mean = summary(results["ours"])
        target_met = mean["l1"][0] < 0.20 and mean["psnr"][0] > 12.5
        print(
            f"target (mean of 'ours': L1 < 0.20 and PSNR > 12.5 dB): L1 {mean['l1'][0]:.4f}, PSNR "
            f"{mean['psnr'][0]:.2f} dB -> {'MET' if target_met else 'NOT MET'}; vs the floor: L1 "
            f"{mean['l1'][0] - floor['l1']:+.4f}, PSNR {mean['psnr'][0] - floor['psnr']:+.2f} dB, SSIM "
            f"{mean['ssim'][0] - floor['ssim']:+.4f}"
        )
    run.print()


if __name__ == "__main__":
    main()
