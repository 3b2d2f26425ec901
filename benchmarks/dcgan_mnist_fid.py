"""Classifier-feature FID of DCGAN on MNIST: our recommended config against pytorch/examples' canonical one.

Run from the repository root, after ``benchmarks/mnist_classifier.py`` (about 55 minutes on one thread: the
canonical 64 px run is 469 steps at ~1.7 s/step, each of the three 'ours' runs ~12 minutes)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/dcgan_mnist_fid.py --data_dir /path/to/mnist \
        --classifier /tmp/mnist_classifier.pt --out_dir /tmp/dcgan_mnist_fid

Every run trains through the CLI (``lightning_gans.cli.main``) on the GAN-train part of the 10k MNIST test split
(3,000 digits; split protocol: ``benchmarks/_common.py``) for the same budget of ``--presentations`` real images
(default 30,000 = 3 epochs' worth of the 10k digits, i.e. 10 epochs of the 3,000): ``ceil(presentations /
batch size)`` generator steps, with ``--seed_everything`` set per run. Runs:

- ``canonical`` (``--canonical_seeds``, default 0): pytorch/examples ``dcgan/main.py`` through our DCGAN family:
  64x64 (digits resized with antialiased bilinear), batch 64, ngf = ndf = 64, nz = 100, Adam(2e-4, betas (0.5,
  0.999)), non-saturating loss, N(0, 0.02) init, no EMA.
- ``ours`` (``--seeds``, default 0 1 2): ``experiments/dcgan_mnist_3epochs.yaml`` as it is (any further
  ``--section.key value`` arguments are added to these runs only, for tuning).

Each generator (in eval mode; the EMA copy when the config has one) draws ``FID_SET_SIZE`` (2,000) images from the
same fixed noise; FID (torchmetrics, on the 64-d penultimate features of the held-out-trained ``DigitClassifier``;
64 px images are resized to 28 px by ``ClassifierFeatures``) is taken against the 2,000 ``fid_reference`` digits
and printed beside the real-vs-real floor (the 2,000 ``fid_floor`` digits against the same reference, at 28 px and
after the 28 -> 64 -> 28 px round trip the 64 px model's data goes through). Each run is also scored with
BatchNorm using batch statistics, which is how pytorch/examples draws its samples. Last come the ratios of the mean
FID of 'ours' to the canonical's, against the canonical sampled either way; the target (<= 0.5, at each model's
own size) is judged against the better of the two canonical FIDs. Then the command, wall times, thread settings
and load average.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere: import the repo

import torch
import yaml
from torch import Tensor
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from benchmarks._common import (
    FID_NOISE_SEED,
    FID_SET_SIZE,
    REPO_ROOT,
    DigitSplit,
    RunInfo,
    digit_split,
    gan_data_args,
    generate,
    saved_run,
    train_with_cli,
)
from lightning_gans import DCGAN
from lightning_gans.fid import build_fid

CONFIG = REPO_ROOT / "experiments" / "dcgan_mnist_3epochs.yaml"

# pytorch/examples dcgan/main.py defaults (imageSize 64, batchSize 64, nz 100, ngf 64, ndf 64, lr 0.0002,
# beta1 0.5, BCE loss = non-saturating G loss), written out in full so no default of ours leaks in.
CANONICAL_ARGS = [
    "--model", "lightning_gans.DCGAN",
    "--model.channels", "1",
    "--model.image_size", "64",
    "--model.latent_dim", "100",
    "--model.generator_width", "64",
    "--model.discriminator_width", "64",
    "--model.adversarial_loss", "non_saturating",
    "--model.ema_decay", "null",
    "--model.generator_optimizer", "torch.optim.Adam",
    "--model.generator_optimizer.lr", "0.0002",
    "--model.generator_optimizer.betas", "[0.5, 0.999]",
    "--model.discriminator_optimizer", "torch.optim.Adam",
    "--model.discriminator_optimizer.lr", "0.0002",
    "--model.discriminator_optimizer.betas", "[0.5, 0.999]",
    "--data", "datamodules.MNISTDataModule",
    "--data.image_size", "64",
    "--data.batch_size", "64",
]  # fmt: skip
CANONICAL_BATCH_SIZE = 64


def config_batch_size(overrides: list[str]) -> int:
    """Batch size of ``ours``: the last ``--data.batch_size`` override, else the one in the experiment YAML."""
    for flag, value in zip(overrides[::-1][1:], overrides[::-1]):
        if flag == "--data.batch_size":
            return int(value)
    return int(yaml.safe_load(CONFIG.read_text())["data"]["init_args"]["batch_size"])


def frechet_distance(classifier_path: str, reference: Tensor, images: Tensor) -> float:
    """FID between two image sets on the classifier's features.

    Args:
        classifier_path: ``DigitClassifier`` checkpoint (the feature extractor).
        reference: float ``(n, 1, H, W)`` in [0, 1], the real reference set.
        images: float ``(m, 1, H', W')`` in [0, 1], the set to score.
    """
    metric, _ = build_fid(classifier_path)
    for start in range(0, len(reference), 500):
        metric.update(reference[start : start + 500], real=True)
    for start in range(0, len(images), 500):
        metric.update(images[start : start + 500], real=False)
    return float(metric.compute())


def real_at_size(split: DigitSplit, indices: Tensor, image_size: int) -> Tensor:
    """Digits as a model of side ``image_size`` sees them: resized as ``MNISTDataModule`` does, float in [0, 1].

    Args:
        split: the benchmark split.
        indices: which digits.
        image_size: side in pixels; 28 leaves the digits as they are.
    """
    images = split.images[indices]  # (n, 1, 28, 28) uint8
    if image_size != images.shape[-1]:
        images = TF.resize(images, [image_size, image_size], interpolation=InterpolationMode.BILINEAR, antialias=True)
    return images.float() / 255  # (n, 1, image_size, image_size)


def batch_stats_samples(model: DCGAN) -> Tensor:
    """``generate``'s images but with BatchNorm using batch statistics (train mode), as pytorch/examples samples."""
    samples = generate(model, FID_SET_SIZE, train_mode=True)
    model.eval()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Unknown --section.key value arguments are passed to the CLI of the 'ours' runs only.",
    )
    parser.add_argument("--data_dir", required=True, help="folder with MNIST/raw/t10k-*-ubyte(.gz) (never downloaded)")
    parser.add_argument("--classifier", required=True, help="checkpoint written by benchmarks/mnist_classifier.py")
    parser.add_argument("--out_dir", required=True, help="runs go to <out_dir>/<run name>_seed<S>, e.g. /tmp/dcgan_fid")
    parser.add_argument(
        "--runs", nargs="+", choices=["canonical", "ours"], default=["canonical", "ours"], help="which runs to train"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="--seed_everything of the 'ours' runs")
    parser.add_argument(
        "--canonical_seeds", type=int, nargs="+", default=[0], help="--seed_everything of the canonical runs (slow)"
    )
    parser.add_argument("--presentations", type=int, default=30_000, help="real images each run trains on")
    args, overrides = parser.parse_known_args()
    run = RunInfo()

    split = digit_split(args.data_dir)
    build_fid(args.classifier)  # fail before training when the classifier is missing
    reference = split.unit_images(split.fid_reference)  # (2000, 1, 28, 28)

    # Each FID is taken against the 28 px reference and against the reference at the model's own resolution
    # (resized as the model's training data was; ClassifierFeatures brings every image back to 28 px).
    # fids[run][sampling] is a list over seeds of (FID vs 28 px reference, FID vs reference at model size).
    fids: dict[str, dict[str, list[tuple[float, float]]]] = {}
    sizes = {28, 64}  # the real-vs-real floors shown: native digits, canonical's resolution, and each model's
    for name in args.runs:
        fids[name] = {"eval": [], "BN batch stats": []}
        for seed in args.canonical_seeds if name == "canonical" else args.seeds:
            batch_size = CANONICAL_BATCH_SIZE if name == "canonical" else config_batch_size(overrides)
            steps = math.ceil(args.presentations / batch_size)
            budget = ["--seed_everything", str(seed), "--trainer.max_epochs", "-1", "--trainer.max_steps", str(steps)]
            root_dir = Path(args.out_dir) / f"{name}_seed{seed}"
            if name == "canonical":  # the class choices come first: later --data.* arguments refine them
                config_file, run_args = None, CANONICAL_ARGS + gan_data_args(args.data_dir) + budget
            else:
                config_file, run_args = str(CONFIG), gan_data_args(args.data_dir) + overrides + budget
            start, cpu_start = time.perf_counter(), time.process_time()
            checkpoint = train_with_cli(config_file, root_dir, run_args)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            config, steps_done = saved_run(root_dir)
            model = DCGAN.load_from_checkpoint(checkpoint, map_location="cpu")
            size = model.hparams.image_size
            sizes.add(size)
            own_reference = real_at_size(split, split.fid_reference, size)
            samplings = {"eval": generate(model, FID_SET_SIZE), "BN batch stats": batch_stats_samples(model)}
            for sampling, samples in samplings.items():
                fids[name][sampling].append(
                    (
                        frechet_distance(args.classifier, reference, samples),
                        frechet_distance(args.classifier, own_reference, samples),
                    )
                )
            hparams = model.hparams
            print(
                f"[{name} seed {seed}] {size} px, batch {config['data']['init_args']['batch_size']}, "
                f"ngf {hparams.generator_width}, ndf {hparams.discriminator_width}, ema_decay {hparams.ema_decay}: "
                f"{steps_done} generator steps = {steps_done * batch_size} presentations in {seconds:.0f} s wall / "
                f"{cpu:.0f} s CPU ({seconds / max(steps_done, 1):.3f} s/step wall, {cpu / max(steps_done, 1):.3f} "
                f"s/step CPU, incl. startup); FID at model size {fids[name]['eval'][-1][1]:.2f}; checkpoint {checkpoint}",
                flush=True,
            )

    floors: dict[str, tuple[float, float]] = {}
    for size in sorted(sizes):
        floor_set = real_at_size(split, split.fid_floor, size)
        floors[f"real-vs-real floor, {size} px data"] = (
            frechet_distance(args.classifier, reference, floor_set),
            frechet_distance(args.classifier, real_at_size(split, split.fid_reference, size), floor_set),
        )

    def mean(rows: list[tuple[float, float]]) -> tuple[float, float]:
        return sum(r[0] for r in rows) / len(rows), sum(r[1] for r in rows) / len(rows)

    print(f"config of 'ours': {CONFIG.relative_to(REPO_ROOT)} + {' '.join(overrides) or 'no overrides'}")
    print(
        f"FID of {FID_SET_SIZE} images vs {len(reference)} held-out real digits (DigitClassifier features), "
        f"{args.presentations} presentations per run; generators in eval mode unless marked:"
    )
    print(f"  {'':<44}{'vs 28 px reference':>20}{'vs reference at model size':>28}")
    rows = dict(floors)
    for name, by_sampling in fids.items():
        seeds = args.canonical_seeds if name == "canonical" else args.seeds
        for sampling, values in by_sampling.items():
            label = name if sampling == "eval" else f"{name}, {sampling}"
            for seed, value in zip(seeds, values):
                rows[f"{label}, seed {seed}"] = value
            if len(values) > 1:
                rows[f"{label}, mean of {len(values)} seeds"] = mean(values)
    for name, (fid_28, fid_own) in rows.items():
        print(f"  {name:<44}{fid_28:>20.3f}{fid_own:>28.3f}")
    if "canonical" in fids and "ours" in fids:
        ours = mean(fids["ours"]["eval"])
        for sampling in ("eval", "BN batch stats"):
            canonical = mean(fids["canonical"][sampling])
            print(
                f"ratio mean ours / mean canonical ({sampling}): {ours[0] / canonical[0]:.3f} vs 28 px reference, "
                f"{ours[1] / canonical[1]:.3f} vs reference at model size"
            )
        worst = max(ours[1] / mean(fids["canonical"][s])[1] for s in ("eval", "BN batch stats"))
        print(
            f"target <= 0.5 at model size against the better-sampled canonical: {worst:.3f} -> "
            f"{'MET' if worst <= 0.5 else 'NOT MET'}"
        )
    run.print()


if __name__ == "__main__":
    main()
