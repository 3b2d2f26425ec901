"""Class accuracy of the CGAN experiment: does ``sample(n, labels=k)`` draw the digit k?

Run from the repository root, after ``benchmarks/mnist_classifier.py`` (about 10-15 minutes on one thread)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cgan_mnist_accuracy.py --data_dir /path/to/mnist \
        --classifier /tmp/mnist_classifier.pt --out_dir /tmp/cgan_mnist_accuracy

It trains ``experiments/cgan_mnist.yaml`` through the CLI (``lightning_gans.cli.main``) on the GAN-train part
of the 10k MNIST test split only (3,000 digits; split protocol: ``benchmarks/_common.py``), loads
``<out_dir>/checkpoints/last.ckpt``, draws ``--samples_per_class`` images of each digit (fixed noise seed; the EMA
generator when the config turns EMA on) and prints the fraction the held-out-trained ``DigitClassifier`` reads as
the asked digit (overall and per class), beside the classifier's own accuracy on real held-out digits (its
ceiling), then the command, wall times, thread settings and load average. Target: >= 97%.

Any further ``--section.key value`` arguments go to the CLI unchanged (e.g. ``--trainer.max_epochs 10``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere: import the repo

import torch

from benchmarks._common import REPO_ROOT, RunInfo, digit_split, gan_data_args, generate, saved_run, train_with_cli
from lightning_gans import CGAN
from lightning_gans.fid import load_classifier

CONFIG = REPO_ROOT / "experiments" / "cgan_mnist.yaml"


@torch.no_grad()
def classify(classifier: torch.nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Predicted digits ``(n,)`` of float images ``(n, 1, 28, 28)`` in [0, 1]."""
    return torch.cat([classifier(images[i : i + batch_size]).argmax(1) for i in range(0, len(images), batch_size)])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog="Unknown --section.key value arguments are passed to the CLI."
    )
    parser.add_argument("--data_dir", required=True, help="folder with MNIST/raw/t10k-*-ubyte(.gz) (never downloaded)")
    parser.add_argument("--classifier", required=True, help="checkpoint written by benchmarks/mnist_classifier.py")
    parser.add_argument("--out_dir", required=True, help="the run's trainer.default_root_dir, e.g. /tmp/cgan_run")
    parser.add_argument("--samples_per_class", type=int, default=1000, help="generated images of each digit")
    args, cli_overrides = parser.parse_known_args()
    run = RunInfo()

    split = digit_split(args.data_dir)
    classifier = load_classifier(args.classifier)  # fail before training when it is missing
    train_start, train_cpu_start = time.perf_counter(), time.process_time()
    checkpoint = train_with_cli(str(CONFIG), Path(args.out_dir), gan_data_args(args.data_dir) + cli_overrides)
    train_seconds, train_cpu = time.perf_counter() - train_start, time.process_time() - train_cpu_start

    model = CGAN.load_from_checkpoint(checkpoint, map_location="cpu")
    config, steps = saved_run(Path(args.out_dir))
    batch_size = config["data"]["init_args"]["batch_size"]
    labels = torch.arange(model.num_classes).repeat_interleave(args.samples_per_class)  # (10 * n,)
    correct = classify(classifier, generate(model, len(labels), labels)) == labels
    real_labels = split.labels[split.classifier_eval]
    real_accuracy = (classify(classifier, split.unit_images(split.classifier_eval)) == real_labels).float().mean()

    per_class = " ".join(f"{k}:{correct[labels == k].float().mean():.3f}" for k in range(model.num_classes))
    print(f"config: {CONFIG.relative_to(REPO_ROOT)} + {' '.join(cli_overrides) or 'no overrides'}")
    print(
        f"trained on {len(split.gan_train)} GAN-train digits: {steps} generator steps of batch {batch_size} "
        f"({steps * batch_size} image presentations) in {train_seconds:.0f} s wall, {train_cpu:.0f} s CPU"
    )
    print(f"checkpoint: {checkpoint}")
    print(f"EMA generator used for sampling: {model.generator_ema is not None}")
    print(
        f"class accuracy of {len(labels)} generated digits ({args.samples_per_class} per class): "
        f"{correct.float().mean():.4f}   (target >= 0.97)"
    )
    print(f"per-class: {per_class}")
    print(f"classifier on {len(real_labels)} real held-out digits (its ceiling): {real_accuracy:.4f}")
    run.print()


if __name__ == "__main__":
    main()
