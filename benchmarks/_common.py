"""Pieces shared by the MNIST benchmarks: the one split of the 10k digits, GAN training through the CLI, reporting.

Split protocol (the only real MNIST here is the official 10,000-image **test** split):

1. ``MNISTDataModule(train_split="test", val_size=HELD_OUT_SIZE, seed=SPLIT_SEED)`` permutes the 10,000 digits
   with its seeded generator and holds out the first ``HELD_OUT_SIZE`` of the permutation. The rest is the
   **GAN-train part**: the GANs are trained through the CLI with exactly these data arguments
   (``gan_data_args``), so they never see a held-out digit.
2. The held-out part, in the same permuted order, is cut into three disjoint slices:
   ``classifier_train`` (``CLASSIFIER_TRAIN_SIZE`` digits, trains the ``DigitClassifier``), then
   ``fid_reference`` and ``fid_floor`` (``FID_SET_SIZE`` digits each). ``classifier_eval`` is their union: the
   classifier's accuracy is measured on digits neither it nor any GAN was trained on.
3. FID compares ``FID_SET_SIZE`` generated images with ``fid_reference``; the real-vs-real floor is
   ``fid_floor`` vs ``fid_reference`` (same sizes, so the small-sample bias of FID is the same).

Sizes: 3,000 GAN-train / 3,000 classifier-train / 2,000 FID reference / 2,000 FID floor.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from torch import Tensor

from datamodules import MNISTDataModule

SPLIT_SEED = 0  # seed of MNISTDataModule's permutation of the 10k digits
HELD_OUT_SIZE = 7000  # digits no GAN trains on (MNISTDataModule's val_size)
CLASSIFIER_TRAIN_SIZE = 3000  # first slice of the held-out part: trains the DigitClassifier
FID_SET_SIZE = 2000  # size of each real FID set and of every generated FID set
FID_NOISE_SEED = 1234  # seed of the latent noise of every generated FID set (same noise for every model)
REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class DigitSplit:
    """The 10k real digits and the disjoint index sets of the split protocol (module docstring).

    Args:
        images: all digits, uint8 ``(N, 1, 28, 28)``, values 0..255 (white ink on black).
        labels: int64 ``(N,)`` digit labels in 0..9.
        gan_train: indices the GANs train on.
        classifier_train: held-out indices the classifier trains on.
        fid_reference: held-out indices of the real FID reference set.
        fid_floor: held-out indices of the second real set, for the real-vs-real FID floor.
    """

    images: Tensor
    labels: Tensor
    gan_train: Tensor
    classifier_train: Tensor
    fid_reference: Tensor
    fid_floor: Tensor

    @property
    def classifier_eval(self) -> Tensor:
        """Held-out indices the classifier is evaluated on: ``fid_reference`` and ``fid_floor``."""
        return torch.cat([self.fid_reference, self.fid_floor])

    def unit_images(self, indices: Tensor) -> Tensor:
        """Digits at ``indices`` as float32 ``(n, 1, 28, 28)`` in [0, 1] (what the classifier and FID take)."""
        return self.images[indices].float() / 255


def digit_split(data_dir: str) -> DigitSplit:
    """Load the 10k test digits from ``data_dir`` and split them as the module docstring says.

    Args:
        data_dir: folder holding ``MNIST/raw/t10k-{images-idx3,labels-idx1}-ubyte(.gz)`` (never downloaded).
    """
    datamodule = MNISTDataModule(
        data_dir=data_dir, train_split="test", download=False, val_size=HELD_OUT_SIZE, seed=SPLIT_SEED, batch_size=1
    )
    datamodule.prepare_data()  # raises a one-line FileNotFoundError when the files are missing
    datamodule.setup("fit")
    dataset = datamodule.val_set.dataset  # UInt8ImageDataset over all 10k digits, 28x28
    held_out = torch.tensor(datamodule.val_set.indices)
    reference_end = CLASSIFIER_TRAIN_SIZE + FID_SET_SIZE
    split = DigitSplit(
        images=dataset.images,
        labels=dataset.labels,
        gan_train=torch.tensor(datamodule.train_set.indices),
        classifier_train=held_out[:CLASSIFIER_TRAIN_SIZE],
        fid_reference=held_out[CLASSIFIER_TRAIN_SIZE:reference_end],
        fid_floor=held_out[reference_end : reference_end + FID_SET_SIZE],
    )
    parts = [split.gan_train, split.classifier_train, split.fid_reference, split.fid_floor]
    if len(torch.cat(parts).unique()) != sum(len(p) for p in parts) or len(split.fid_floor) != FID_SET_SIZE:
        raise RuntimeError("benchmark split: the GAN-train, classifier-train and FID sets overlap or are short")
    return split


def gan_data_args(data_dir: str) -> list[str]:
    """CLI arguments that train a GAN on the GAN-train part only (the held-out part becomes its unused val set)."""
    return [
        "--data.data_dir", data_dir,
        "--data.train_split", "test",
        "--data.download", "false",
        "--data.val_size", str(HELD_OUT_SIZE),
        "--data.seed", str(SPLIT_SEED),
    ]  # fmt: skip


def train_with_cli(config: str | None, root_dir: Path, args: list[str]) -> Path:
    """Run ``lightning-gans fit`` in this process and return ``<root_dir>/checkpoints/last.ckpt``.

    Validation is off (``limit_val_batches 0``): the held-out digits are the benchmark's, scored afterwards.

    Args:
        config: an ``experiments/*.yaml`` file, or ``None`` when ``args`` give the whole configuration.
        root_dir: the run's ``trainer.default_root_dir`` (checkpoints, sample grids, metrics.csv).
        args: further CLI arguments (data split, budget, overrides).
    """
    from lightning_gans.cli import main  # imported here so that --help stays fast

    if (root_dir / "checkpoints").exists():
        raise ValueError(f"{root_dir} already holds a run (checkpoints/): pass a fresh output folder")
    cli_args = ["fit"] + (["--config", config] if config else [])
    cli_args += [
        "--log_to", "csv",
        "--trainer.default_root_dir", str(root_dir),
        "--trainer.limit_val_batches", "0",
        "--trainer.enable_progress_bar", "false",
        *args,
    ]  # fmt: skip
    print("lightning-gans " + shlex.join(cli_args), flush=True)
    benchmark_argv, sys.argv = sys.argv, ["lightning-gans"]  # LightningCLI warns when sys.argv also has arguments
    try:
        main(cli_args)
    finally:
        sys.argv = benchmark_argv
    checkpoint = root_dir / "checkpoints" / "last.ckpt"
    if not checkpoint.is_file():
        raise RuntimeError(f"training wrote no checkpoint at {checkpoint}")
    return checkpoint


def saved_run(root_dir: Path) -> tuple[dict, int]:
    """The configuration the CLI saved for a run (its logger's ``config.yaml``) and its generator steps.

    Args:
        root_dir: the run's ``trainer.default_root_dir`` (``train_with_cli`` makes sure it held no earlier run).
    """
    config_files = sorted(root_dir.glob("**/config.yaml"), key=lambda path: path.stat().st_mtime)
    if not config_files:
        raise RuntimeError(f"no config.yaml under {root_dir}: was the run made with lightning-gans fit?")
    config = yaml.safe_load(config_files[-1].read_text())
    checkpoint = torch.load(root_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    return config, int(checkpoint["global_step"])


@torch.no_grad()
def generate(
    model: torch.nn.Module, n: int, labels: Tensor | None = None, batch_size: int = 500, train_mode: bool = False
) -> Tensor:
    """``n`` samples of a family as float32 ``(n, C, H, W)`` in [0, 1], from ``FID_NOISE_SEED`` noise.

    Args:
        model: a generative family with ``sample(n, labels, generator)`` returning images in [-1, 1].
        n: number of samples.
        labels: int64 ``(n,)`` labels for conditional families, ``None`` for unconditional ones.
        batch_size: samples per ``sample`` call (bounds memory); the noise stream does not depend on it.
        train_mode: sample in train mode (BatchNorm uses the statistics of each ``batch_size`` chunk; its
            running statistics get updated) instead of eval mode.
    """
    model.train(train_mode)
    generator = torch.Generator().manual_seed(FID_NOISE_SEED)
    chunks = []
    for start in range(0, n, batch_size):
        end = min(start + batch_size, n)
        chunk_labels = None if labels is None else labels[start:end]
        chunks.append(model.sample(end - start, labels=chunk_labels, generator=generator))
    return ((torch.cat(chunks) + 1) / 2).clamp(0, 1)  # (n, C, H, W) in [0, 1]


class RunInfo:
    """Records the start of a benchmark and prints the command, wall and CPU time, threads and load average."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.cpu_start = time.process_time()
        self.load_at_start = os.getloadavg()

    def print(self) -> None:
        """Print the run's facts (call at the end)."""
        threads = {name: os.environ.get(name, "unset") for name in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
        load_end = os.getloadavg()
        env = [f"{name}={value}" for name, value in threads.items() if value != "unset"]
        python = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd()) else sys.executable
        print("command: " + " ".join(env + [shlex.join([python, *sys.argv])]))
        wall, cpu = time.perf_counter() - self.start, time.process_time() - self.cpu_start
        print(f"wall time: {wall:.1f} s; CPU time of this process: {cpu:.1f} s (the machine is shared: see the load)")
        print(
            f"threads: torch.get_num_threads()={torch.get_num_threads()}, "
            + ", ".join(f"{k}={v}" for k, v in threads.items())
        )
        print(
            "load average (1, 5, 15 min): at start "
            + ", ".join(f"{x:.2f}" for x in self.load_at_start)
            + "; at end "
            + ", ".join(f"{x:.2f}" for x in load_end)
            + f" (on {os.cpu_count()} CPUs)"
        )
