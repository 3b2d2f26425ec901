"""Classifier-feature FID of DCGAN on MNIST: our recommended config against pytorch/examples' canonical one.

Run from the repository root, after ``benchmarks/mnist_classifier.py`` (the canonical 64 px run dominates: about
half an hour on one thread)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/dcgan_mnist_fid.py --data_dir /path/to/mnist \
        --classifier /tmp/mnist_classifier.pt --out_dir /tmp/dcgan_mnist_fid

Both runs train through the CLI (``lightning_gans.cli.main``) on the GAN-train part of the 10k MNIST test split
(3,000 digits; split protocol: ``benchmarks/_common.py``) for the same budget of ``--presentations`` real images
(default 30,000 = 3 epochs' worth of the 10k digits, i.e. 10 epochs of the 3,000): ``ceil(presentations /
batch size)`` generator steps. Runs:

- ``canonical``: pytorch/examples ``dcgan/main.py`` through our DCGAN family: 64x64 (digits resized with
  antialiased bilinear), batch 64, ngf = ndf = 64, nz = 100, Adam(2e-4, betas (0.5, 0.999)), non-saturating
  loss, N(0, 0.02) init, no EMA.
- ``ours``: ``experiments/dcgan_mnist_3epochs.yaml`` as it is (any further ``--section.key value`` arguments are added
  to this run only, for tuning).

Each generator (in eval mode; the EMA copy when the config has one) draws ``FID_SET_SIZE`` (2,000) images from the
same fixed noise; FID (torchmetrics, on the 64-d penultimate features of the held-out-trained ``DigitClassifier``;
64 px images are resized to 28 px by ``ClassifierFeatures``) is taken against the 2,000 ``fid_reference`` digits
and printed beside the real-vs-real floor (the 2,000 ``fid_floor`` digits against the same reference, at 28 px and
after the 28 -> 64 -> 28 px round trip the 64 px model's data goes through). A diagnostic line repeats the FIDs
with BatchNorm using batch statistics (how pytorch/examples draws its samples). Last come the FID ratio
ours / canonical (target <= 0.5), the command, wall times, thread settings and load average.
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
        epilog="Unknown --section.key value arguments are passed to the CLI of the 'ours' run only.",
    )
    parser.add_argument("--data_dir", required=True, help="folder with MNIST/raw/t10k-*-ubyte(.gz) (never downloaded)")
    parser.add_argument("--classifier", required=True, help="checkpoint written by benchmarks/mnist_classifier.py")
    parser.add_argument("--out_dir", required=True, help="runs go to <out_dir>/<run name>, e.g. /tmp/dcgan_fid")
    parser.add_argument(
        "--runs", nargs="+", choices=["canonical", "ours"], default=["canonical", "ours"], help="which runs to train"
    )
    parser.add_argument("--presentations", type=int, default=30_000, help="real images each run trains on")
    args, overrides = parser.parse_known_args()
    run = RunInfo()

    split = digit_split(args.data_dir)
    build_fid(args.classifier)  # fail before training when the classifier is missing
    reference = split.unit_images(split.fid_reference)  # (2000, 1, 28, 28)

    # Each FID is taken against the 28 px reference and against the reference at the model's own resolution
    # (resized as the model's training data was; ClassifierFeatures brings every image back to 28 px).
    fids: dict[str, tuple[float, float]] = {}
    sizes = {28, 64}  # the real-vs-real floors shown: native digits, canonical's resolution, and each model's
    for name in args.runs:
        batch_size = CANONICAL_BATCH_SIZE if name == "canonical" else config_batch_size(overrides)
        steps = math.ceil(args.presentations / batch_size)
        budget = ["--trainer.max_epochs", "-1", "--trainer.max_steps", str(steps)]
        root_dir = Path(args.out_dir) / name
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
        for label, samples in (("", generate(model, FID_SET_SIZE)), (" BN batch stats", batch_stats_samples(model))):
            fids[f"{name}{label}"] = (
                frechet_distance(args.classifier, reference, samples),
                frechet_distance(args.classifier, own_reference, samples),
            )
        hparams = model.hparams
        print(
            f"[{name}] {size} px, batch {config['data']['init_args']['batch_size']}, ngf {hparams.generator_width}, "
            f"ndf {hparams.discriminator_width}, ema_decay {hparams.ema_decay}: {steps_done} generator steps = "
            f"{steps_done * batch_size} presentations in {seconds:.0f} s wall / {cpu:.0f} s CPU "
            f"({seconds / max(steps_done, 1):.3f} s/step wall, {cpu / max(steps_done, 1):.3f} s/step CPU, incl. "
            f"startup); checkpoint {checkpoint}",
            flush=True,
        )

    floors: dict[str, tuple[float, float]] = {}
    for size in sorted(sizes):
        floor_set = real_at_size(split, split.fid_floor, size)
        floors[f"real-vs-real floor, {size} px data"] = (
            frechet_distance(args.classifier, reference, floor_set),
            frechet_distance(args.classifier, real_at_size(split, split.fid_reference, size), floor_set),
        )

    print(f"config of 'ours': {CONFIG.relative_to(REPO_ROOT)} + {' '.join(overrides) or 'no overrides'}")
    print(
        f"FID of {FID_SET_SIZE} images vs {len(reference)} held-out real digits (DigitClassifier features), "
        f"{args.presentations} presentations per run:"
    )
    print(f"  {'':<36}{'vs 28 px reference':>20}{'vs reference at model size':>28}")
    for name, (fid_28, fid_own) in {**floors, **fids}.items():
        note = "   [diagnostic: BatchNorm with batch statistics, as pytorch/examples samples]" if "BN" in name else ""
        print(f"  {name:<36}{fid_28:>20.3f}{fid_own:>28.3f}{note}")
    if "canonical" in fids and "ours" in fids:
        ratios = [ours / canonical for ours, canonical in zip(fids["ours"], fids["canonical"])]
        print(f"ratio ours / canonical: {ratios[0]:.3f} vs 28 px reference, {ratios[1]:.3f} vs reference at model size"
              "   (target <= 0.5)")
    run.print()


if __name__ == "__main__":
    main()
