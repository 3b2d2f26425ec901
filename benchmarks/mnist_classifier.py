"""Train the MNIST ``DigitClassifier`` (the benchmarks' digit judge and FID feature extractor) on held-out digits.

Run from the repository root (takes about 1-2 minutes on one thread)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/mnist_classifier.py \
        --data_dir /path/to/mnist --out /tmp/mnist_classifier.pt

``--train_on rendered`` trains the same network on rendered font digits instead (the 3,000 training digits of
``benchmarks/cyclegan_digits.py``'s domain A: ``RenderedDigitsDataModule`` at 28 px with the split's seed; its
validation digits, which that benchmark scores, are never shown), with ``HandwritingJitter`` on top of the
shifts. That is CyCADA's source-domain classifier f_S, which ``CycleGAN``'s ``semantic_classifier`` option keeps
fixed; it never sees an MNIST label::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/mnist_classifier.py --train_on rendered \
        --data_dir /path/to/mnist --out /tmp/rendered_classifier.pt

``--self_train_rounds R`` adapts that f_S to CycleGAN's domain B, the 3,000 GAN-train MNIST digits, without their
labels: R rounds of class-balanced self-training (``self_train``), each pseudo-labelling a growing share of them
with the previous round's classifier and training a fresh one on the font digits plus those. It reads MNIST only
as CycleGAN does (unlabelled domain-B images); the MNIST accuracy printed at the end is for information.
``--jitter_pseudo_labelled`` makes the student noisy: the pseudo-labelled digits get ``HandwritingJitter`` too, not
only random shifts. That f_T is CycleGAN's ``semantic_classifier_b``::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/mnist_classifier.py --train_on rendered --self_train_rounds 3 \
        --jitter_pseudo_labelled --data_dir /path/to/mnist --out /tmp/noisy_student.pt

It trains ``lightning_gans.fid.DigitClassifier`` on the ``classifier_train`` slice (3,000 digits) of the part of
the 10k MNIST test split that no GAN trains on (split protocol: ``benchmarks/_common.py``), with random shifts of
up to 2 pixels as augmentation, saves it with ``save_classifier`` to ``--out`` and prints its accuracy on the
``classifier_eval`` slice (4,000 other held-out digits; expect about 98%), per class too, followed by the command,
wall time, thread settings and load average. A rendered-digit classifier is scored on 2,000 held-out rendered
digits and, for information, on the same MNIST slice. The checkpoint is what the other benchmarks take as
``--classifier`` and what families take as ``--model.fid_features PATH``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere: import the repo

import kornia.augmentation as K
import torch
import torch.nn.functional as F
from torch import Tensor

from benchmarks._common import FID_SET_SIZE, SPLIT_SEED, RunInfo, digit_split
from datamodules.rendered_digits import RenderedDigitsDataModule
from lightning_gans.fid import DigitClassifier, load_classifier, save_classifier

RENDERED_TRAIN_SIZE = 3000  # experiments/cyclegan_digits.yaml's num_train: the digits CycleGAN's domain A holds


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


class HandwritingJitter:
    """Handwriting-like variation for font digits, so that f_S also reads MNIST-like translations of them.

    Elastic distortion (Simard et al. 2003, "Best Practices for Convolutional Neural Networks Applied to Visual
    Document Analysis": smoothed random displacement fields, here sigma 4 px), a random affine (rotation up to
    15 degrees, scale 0.85-1.1, shear up to 15 degrees), and a stroke width changed at random by a 3x3 grey-level
    dilation or erosion at twice the size (a third of the images each), before ``random_shift``. Kornia draws its
    parameters from torch's global generator (seeded by ``train_classifier``).
    """

    def __init__(self) -> None:
        self.elastic = K.RandomElasticTransform(kernel_size=(27, 27), sigma=(4.0, 4.0), alpha=(3.0, 3.0), p=1.0)
        self.affine = K.RandomAffine(degrees=15, scale=(0.85, 1.1), shear=(-15, 15), p=1.0)

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        """Jittered copies of float ``(B, 1, 28, 28)`` in [0, 1]; ``generator`` draws the stroke changes."""
        images = self.affine(self.elastic(images))
        large = F.interpolate(images, scale_factor=2, mode="bilinear")  # (B, 1, 56, 56)
        choice = torch.randint(3, (images.shape[0], 1, 1, 1), generator=generator)  # 0 bolder, 1 thinner, 2 as is
        bolder, thinner = F.max_pool2d(large, 3, 1, 1), -F.max_pool2d(-large, 3, 1, 1)
        large = torch.where(choice == 0, bolder, torch.where(choice == 1, thinner, large))
        return F.interpolate(large, size=images.shape[-2:], mode="bilinear", antialias=True)


def rendered_digits(num_train: int, num_val: int) -> RenderedDigitsDataModule:
    """The rendered digits of ``benchmarks/cyclegan_digits.py``'s domain A at 28 px (split seed, system fonts)."""
    datamodule = RenderedDigitsDataModule(num_train=num_train, num_val=num_val, image_size=28, seed=SPLIT_SEED)
    datamodule.setup()
    return datamodule


def train_classifier(
    images: Tensor,
    labels: Tensor,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    handwriting: bool | Tensor = False,
) -> DigitClassifier:
    """Train a ``DigitClassifier`` on labelled digits with Adam and a cosine learning-rate decay.

    Args:
        images: float ``(N, 1, 28, 28)`` in [0, 1].
        labels: int64 ``(N,)`` in 0..9.
        epochs: passes over the training digits.
        batch_size: digits per step.
        lr: Adam's initial learning rate.
        seed: seed of the initial weights, the data order and the augmentation.
        handwriting: apply ``HandwritingJitter`` before the random shifts: ``True`` to all digits (font digits), or
            a bool ``(N,)`` mask of the digits that get it (the font digits among pseudo-labelled MNIST ones).
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = DigitClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = math.ceil(len(images) / batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)
    jittered = torch.as_tensor(handwriting).expand(len(images))  # (N,) bool: which digits get HandwritingJitter
    jitter = HandwritingJitter() if bool(jittered.any()) else None
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(images), generator=generator)
        total_loss = 0.0
        for start in range(0, len(images), batch_size):
            batch = order[start : start + batch_size]
            batch_images = images[batch]
            if jitter is not None:
                batch_images = torch.where(jittered[batch, None, None, None], jitter(batch_images, generator), batch_images)
            logits = model(random_shift(batch_images, max_shift=2, generator=generator))
            loss = F.cross_entropy(logits, labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total_loss += loss.detach().item() * len(batch)
        print(f"epoch {epoch + 1}/{epochs}: train loss {total_loss / len(images):.4f}", flush=True)
    return model.eval()


@torch.no_grad()
def class_logits(model: DigitClassifier, images: Tensor, batch_size: int = 1000) -> Tensor:
    """Logits ``(n, 10)`` of float images ``(n, 1, 28, 28)`` in [0, 1], in eval mode, ``batch_size`` at a time."""
    model.eval()
    return torch.cat([model(images[i : i + batch_size]) for i in range(0, len(images), batch_size)])


def predict(model: DigitClassifier, images: Tensor, batch_size: int = 1000) -> Tensor:
    """Predicted labels ``(n,)`` of float images ``(n, 1, 28, 28)`` in [0, 1]."""
    return class_logits(model, images, batch_size).argmax(1)


@torch.no_grad()
def class_balanced_pseudo_labels(model: DigitClassifier, images: Tensor, share: float) -> tuple[Tensor, Tensor]:
    """Indices and predicted labels of the most confident ``share`` of unlabelled digits, class by class.

    Class-balanced self-training (Zou et al., "Unsupervised Domain Adaptation for Semantic Segmentation via
    Class-Balanced Self-Training", ECCV 2018): for every class k, of the digits ``model`` reads as k, keep the
    ``ceil(share * N / 10)`` it is most sure of (all of them if fewer), so no class takes over the pseudo-labels.

    Args:
        model: the current classifier.
        images: unlabelled float ``(N, 1, 28, 28)`` in [0, 1].
        share: share of the digits to keep, in (0, 1].
    """
    confidence, predicted = class_logits(model, images).softmax(1).max(1)
    per_class = math.ceil(share * len(images) / 10)
    kept = []
    for k in range(10):
        candidates = (predicted == k).nonzero().squeeze(1)
        kept.append(candidates[confidence[candidates].argsort(descending=True)[:per_class]])
    indices = torch.cat(kept)
    return indices, predicted[indices]


def self_train(
    font_images: Tensor,
    font_labels: Tensor,
    unlabelled: Tensor,
    rounds: int,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    jitter_pseudo_labelled: bool = False,
) -> DigitClassifier:
    """f_S from labelled font digits, adapted to unlabelled digits of the other domain by self-training.

    Round 0 trains on the font digits alone (``HandwritingJitter`` on); round r = 1..rounds pseudo-labels the
    unlabelled digits with the previous round's classifier (``class_balanced_pseudo_labels``, share r / rounds)
    and trains a fresh classifier on the font digits plus those pseudo-labelled digits (random shifts only, or
    ``HandwritingJitter`` too with ``jitter_pseudo_labelled``: the noisy student of Xie et al. 2020, "Self-training
    with Noisy Student improves ImageNet classification", whose student learns the teacher's labels under noise).

    Args:
        font_images, font_labels: the labelled source digits (float ``(N, 1, 28, 28)`` in [0, 1], int64 ``(N,)``).
        unlabelled: the target digits whose labels are never read, float ``(M, 1, 28, 28)`` in [0, 1].
        rounds: pseudo-labelling rounds, >= 1.
        epochs, batch_size, lr, seed: as ``train_classifier``'s, for every round.
        jitter_pseudo_labelled: ``HandwritingJitter`` on the pseudo-labelled digits as well as on the font digits.
    """
    model = train_classifier(font_images, font_labels, epochs, batch_size, lr, seed, handwriting=True)
    for round_index in range(1, rounds + 1):
        indices, pseudo_labels = class_balanced_pseudo_labels(model, unlabelled, round_index / rounds)
        counts = " ".join(str(int((pseudo_labels == k).sum())) for k in range(10))
        print(f"self-training round {round_index}/{rounds}: {len(indices)} pseudo-labelled digits (per class {counts})")
        images = torch.cat([font_images, unlabelled[indices]])
        labels = torch.cat([font_labels, pseudo_labels])
        jittered = torch.cat(  # (N + M',) bool: the font digits, then the pseudo-labelled ones if jittered
            [torch.ones(len(font_images), dtype=torch.bool), torch.full((len(indices),), jitter_pseudo_labelled)]
        )
        model = train_classifier(images, labels, epochs, batch_size, lr, seed, handwriting=jittered)
    return model




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", required=True, help="folder with MNIST/raw/t10k-*-ubyte(.gz) (never downloaded)")
    parser.add_argument("--out", required=True, help="where to save the classifier checkpoint, e.g. /tmp/mnist_classifier.pt")
    parser.add_argument(
        "--train_on", choices=["mnist", "rendered"], default="mnist",
        help="mnist: the 3,000 classifier-train MNIST digits (the judge); rendered: domain A's 3,000 font digits (f_S)",
    )  # fmt: skip
    parser.add_argument(
        "--self_train_rounds", type=int, default=0,
        help="rendered only: adapt f_S to the unlabelled GAN-train MNIST digits (CycleGAN's domain B) by this many "
        "rounds of class-balanced self-training (0: off); no MNIST label is read for it",
    )  # fmt: skip
    parser.add_argument(
        "--jitter_pseudo_labelled", action="store_true",
        help="with --self_train_rounds: HandwritingJitter on the pseudo-labelled MNIST digits too (a noisy student), "
        "not only random shifts",
    )  # fmt: skip
    parser.add_argument(
        "--no_jitter", action="store_true",
        help="rendered only: random shifts only, no HandwritingJitter: an f_S that reads the font digits almost "
        "perfectly (the labeller of domain A for CycleGAN's semantic_classifier) but MNIST poorly",
    )  # fmt: skip
    parser.add_argument("--epochs", type=int, default=30, help="passes over the 3,000 training digits")
    parser.add_argument("--batch_size", type=int, default=64, help="digits per step")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam's initial learning rate (cosine decay to 0)")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights, data order and augmentation")
    args = parser.parse_args()
    if args.self_train_rounds < 0 or (args.self_train_rounds and args.train_on != "rendered"):
        parser.error("--self_train_rounds must be >= 0, and needs --train_on rendered")
    if args.no_jitter and (args.train_on != "rendered" or args.self_train_rounds):
        parser.error("--no_jitter needs --train_on rendered and no --self_train_rounds")
    if args.jitter_pseudo_labelled and not args.self_train_rounds:
        parser.error("--jitter_pseudo_labelled needs --self_train_rounds")
    run = RunInfo()

    split = digit_split(args.data_dir)
    if args.train_on == "mnist":
        images, labels = split.unit_images(split.classifier_train), split.labels[split.classifier_train]
    else:
        rendered = rendered_digits(RENDERED_TRAIN_SIZE, FID_SET_SIZE)
        images, labels = rendered.train_set.images.float() / 255, rendered.train_set.labels
    if args.self_train_rounds:
        unlabelled = split.unit_images(split.gan_train)  # domain B's digits; their labels are never read
        model = self_train(
            images, labels, unlabelled, args.self_train_rounds, args.epochs, args.batch_size, args.lr, args.seed,
            jitter_pseudo_labelled=args.jitter_pseudo_labelled,
        )
    else:
        handwriting = args.train_on == "rendered" and not args.no_jitter
        model = train_classifier(images, labels, args.epochs, args.batch_size, args.lr, args.seed, handwriting)
    save_classifier(model, args.out)
    model = load_classifier(args.out)  # score what was saved

    print(
        f"split: {len(split.gan_train)} GAN-train / {len(split.classifier_train)} classifier-train / "
        f"{len(split.classifier_eval)} classifier-eval digits (disjoint, from the 10k test split)"
    )
    jitter = " (random shifts only)" if args.no_jitter else ""
    adapted = f", self-trained on the {len(split.gan_train)} unlabelled GAN-train MNIST digits" if args.self_train_rounds else ""
    adapted += " (jittered: a noisy student)" if args.jitter_pseudo_labelled else ""
    print(f"trained on: {len(labels)} {args.train_on} digits{jitter}{adapted}; saved: {args.out}")
    scored = [("MNIST classifier-eval", split.unit_images(split.classifier_eval), split.labels[split.classifier_eval])]
    if args.train_on == "rendered":
        scored.insert(0, ("held-out rendered", rendered.val_set.images.float() / 255, rendered.val_set.labels))
    for name, eval_images, eval_labels in scored:
        correct = predict(model, eval_images) == eval_labels
        per_class = " ".join(f"{k}:{correct[eval_labels == k].float().mean():.3f}" for k in range(10))
        print(f"accuracy on the {len(eval_labels)} {name} digits: {correct.float().mean():.4f}")
        print(f"per-class accuracy: {per_class}")
    run.print()


if __name__ == "__main__":
    main()
