"""Train the MNIST ``DigitClassifier`` (the benchmarks' digit judge and FID feature extractor) on held-out digits.

Run from the repository root (takes about 1-2 minutes on one thread)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/mnist_classifier.py \
        --data_dir /path/to/mnist --out /tmp/mnist_classifier.pt

It trains ``lightning_gans.fid.DigitClassifier`` on the ``classifier_train`` slice (3,000 digits) of the part of
the 10k MNIST test split that no GAN trains on (split protocol: ``benchmarks/_common.py``), with random shifts of
up to 2 pixels as augmentation, saves it with ``save_classifier`` to ``--out`` and prints its accuracy on the
``classifier_eval`` slice (4,000 other held-out digits; expect about 98%), per class too, followed by the command,
wall time, thread settings and load average. The checkpoint is what the other benchmarks take as
``--classifier`` and what families take as ``--model.fid_features PATH``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere: import the repo

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmarks._common import DigitSplit, RunInfo, digit_split
from lightning_gans.fid import DigitClassifier, load_classifier, save_classifier


def random_shift(images: Tensor, max_shift: int, generator: torch.Generator) -> Tensor:
    """Translate each image by a random whole number of pixels in ``[-max_shift, max_shift]`` (zeros come in).

    Args:
        images: ``(B, 1, H, W)`` float in [0, 1].
        max_shift: largest shift in pixels along each axis, >= 0.
        generator: source of the random shifts.
    """
    batch, _, height, width = images.shape
    padded = F.pad(images, (max_shift,) * 4)  # (B, 1, H + 2s, W + 2s)
    offsets = torch.randint(0, 2 * max_shift + 1, (2, batch), generator=generator)
    rows = offsets[0, :, None] + torch.arange(height)  # (B, H) source rows
    cols = offsets[1, :, None] + torch.arange(width)  # (B, W) source columns
    batch_index = torch.arange(batch)[:, None, None]
    return padded[batch_index, 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)  # (B, 1, H, W)


def train_classifier(split: DigitSplit, epochs: int, batch_size: int, lr: float, seed: int) -> DigitClassifier:
    """Train a ``DigitClassifier`` on ``split.classifier_train`` with Adam and a cosine learning-rate decay.

    Args:
        split: the benchmark split.
        epochs: passes over the 3,000 training digits.
        batch_size: digits per step.
        lr: Adam's initial learning rate.
        seed: seed of the initial weights, the data order and the shifts.
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    images = split.unit_images(split.classifier_train)  # (N, 1, 28, 28) in [0, 1]
    labels = split.labels[split.classifier_train]  # (N,)
    model = DigitClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = math.ceil(len(images) / batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(images), generator=generator)
        total_loss = 0.0
        for start in range(0, len(images), batch_size):
            batch = order[start : start + batch_size]
            logits = model(random_shift(images[batch], max_shift=2, generator=generator))
            loss = F.cross_entropy(logits, labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total_loss += float(loss) * len(batch)
        print(f"epoch {epoch + 1}/{epochs}: train loss {total_loss / len(images):.4f}", flush=True)
    return model.eval()


@torch.no_grad()
def predict(model: DigitClassifier, images: Tensor, batch_size: int = 1000) -> Tensor:
    """Predicted labels ``(n,)`` of float images ``(n, 1, 28, 28)`` in [0, 1]."""
    model.eval()
    return torch.cat([model(images[i : i + batch_size]).argmax(1) for i in range(0, len(images), batch_size)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", required=True, help="folder with MNIST/raw/t10k-*-ubyte(.gz) (never downloaded)")
    parser.add_argument("--out", required=True, help="where to save the classifier checkpoint, e.g. /tmp/mnist_classifier.pt")
    parser.add_argument("--epochs", type=int, default=30, help="passes over the 3,000 classifier-train digits")
    parser.add_argument("--batch_size", type=int, default=64, help="digits per step")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam's initial learning rate (cosine decay to 0)")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights, data order and augmentation")
    args = parser.parse_args()
    run = RunInfo()

    split = digit_split(args.data_dir)
    model = train_classifier(split, args.epochs, args.batch_size, args.lr, args.seed)
    save_classifier(model, args.out)
    model = load_classifier(args.out)  # score what was saved

    labels = split.labels[split.classifier_eval]
    correct = predict(model, split.unit_images(split.classifier_eval)) == labels
    per_class = " ".join(f"{k}:{correct[labels == k].float().mean():.3f}" for k in range(10))
    print(
        f"split: {len(split.gan_train)} GAN-train / {len(split.classifier_train)} classifier-train / "
        f"{len(split.classifier_eval)} classifier-eval digits (disjoint, from the 10k test split)"
    )
    print(f"saved: {args.out}")
    print(f"accuracy on the {len(labels)} classifier-eval digits: {correct.float().mean():.4f}")
    print(f"per-class accuracy: {per_class}")
    run.print()


if __name__ == "__main__":
    main()
