"""Callbacks shared by the generative families: sample grids during training, and writing predictions to disk.

Both rely only on the family interface of the project spec: ``pl_module.sample(n, labels=..., generator=...)``
returning images ``(n, C, H, W)`` in [-1, 1] or points ``(n, 2)`` (translation families instead have
``pl_module.panels(n) -> (images, images_per_row)``: fixed inputs beside their translations), ``pl_module.num_classes`` (0 when
unconditional) and ``predict_step`` returning ``{"samples", "labels", "indices"}`` (plus an optional ``"names"``).
When the data module has ``modes`` (the 2-D Gaussian mixtures), scatter plots mark them as red crosses.
"""

import csv
import math
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from torch import Tensor

from lightning_gans.images import image_grid, points_to_image, save_image, to_unit_range

__all__ = ["PredictionWriter", "SampleImages", "log_image_grid"]

_SCATTER_SIZE = 256  # pixels of the 2-D scatter images
_LOSSLESS_SUFFIXES = (".png", ".tif", ".tiff")  # predictions keep these file formats; others become PNG


def _is_points(samples: Tensor) -> bool:
    """True for a batch of 2-D points ``(n, 2)``, False for images ``(n, C, H, W)``; ValueError otherwise."""
    if samples.ndim == 2 and samples.shape[1] == 2:
        return True
    if samples.ndim == 4:
        return False
    raise ValueError(
        f"samples of shape {tuple(samples.shape)} are neither images (n, C, H, W) nor 2-D points (n, 2); "
        "check the model's sample()/predict_step()"
    )


def _reference_points(trainer: Trainer) -> Tensor | None:
    """The data module's ``modes`` ``(K, 2)`` (true mixture means), or None when it has none."""
    modes = getattr(trainer.datamodule, "modes", None)
    if isinstance(modes, Tensor) and modes.ndim == 2 and modes.shape[1] == 2 and len(modes) > 0:
        return modes.detach().float().cpu()
    return None


def _scatter_extent(trainer: Trainer, data_points: Tensor | None, samples: Tensor) -> float:
    """Half-width of the plotted square, from the data (not the samples, so plots over training are comparable).

    Mixture modes: 1.25 * max |mode coordinate| + 3 sigma (when the data module has a float ``sigma``); else
    real data points: 1.25 * max |coordinate|; else the samples' 99th percentile of |coordinate| (times 1.25).
    """
    modes = _reference_points(trainer)
    if modes is not None and modes.abs().max() > 0:
        sigma = getattr(trainer.datamodule, "sigma", 0.0)
        margin = 3 * float(sigma) if isinstance(sigma, (int, float)) else 0.0
        return 1.25 * float(modes.abs().max()) + margin
    if data_points is not None and torch.isfinite(data_points).all() and data_points.abs().max() > 0:
        return 1.25 * float(data_points.abs().max())
    finite = samples[torch.isfinite(samples).all(dim=1)].abs()
    extent = 1.25 * float(finite.quantile(0.99)) if len(finite) else 0.0
    return extent if extent > 0 else 1.0


class SampleImages(Callback):
    """Log a grid of generator samples every ``every_n_steps`` generator steps and at the end of training.

    The noise is the same at every call (a ``torch.Generator`` reseeded with ``seed``), so grids over training
    show how the same latent codes evolve. Conditional models (``num_classes > 0``) get labels
    ``arange(num_samples) % num_classes`` and ``num_classes`` images per row: each column is one class. 2-D
    points are drawn as a scatter plot (the data module's ``modes`` as red crosses).

    Each grid is written to ``<trainer.default_root_dir>/samples/step_{global_step:07d}.png`` and logged to every
    ``WandbLogger`` (``log_image``) and ``TensorBoardLogger`` (``add_image``) as ``samples``; other loggers
    (``CSVLogger``) rely on the PNG. Runs on global rank 0 only, with the module in eval mode under
    ``torch.no_grad()``; every submodule's train/eval mode is restored afterwards.

    Args:
        every_n_steps: Interval in ``trainer.global_step``, which in this project counts generator steps (>= 1).
        num_samples: Images (or points) per grid (>= 1).
        nrow: Images per grid row; None: ``num_classes`` for conditional models, else 8.
        seed: Seed of the fixed sampling noise.
        save_png: Write each grid as a PNG file under ``<default_root_dir>/samples/``.
    """

    def __init__(
        self,
        every_n_steps: int = 500,
        num_samples: int = 64,
        nrow: int | None = None,
        seed: int = 0,
        save_png: bool = True,
    ) -> None:
        for name, value in (("every_n_steps", every_n_steps), ("num_samples", num_samples), ("nrow", nrow)):
            if value is not None and value < 1:
                raise ValueError(f"SampleImages: {name} must be >= 1, got {value}")
        self.every_n_steps = every_n_steps
        self.num_samples = num_samples
        self.nrow = nrow
        self.seed = seed
        self.save_png = save_png
        self._last_step: int | None = None  # global_step of the last grid, so one step never gets two
        self._data_points: Tensor | None = None  # a real batch of 2-D points, to size scatter plots
        self._dirpath: Path | None = None

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        # Resolved here, on every rank: trainer.log_dir broadcasts, so calling it from rank 0 alone would hang DDP.
        self._dirpath = Path(trainer.default_root_dir or trainer.log_dir or ".") / "samples"
        self._last_step = None

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._data_points is None:
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            if isinstance(x, Tensor) and x.ndim == 2 and x.shape[1] == 2:
                self._data_points = x.detach().float().cpu()
        step = trainer.global_step
        if step % self.every_n_steps == 0 and step != self._last_step:
            self._log_samples(trainer, pl_module)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.global_step != self._last_step:
            self._log_samples(trainer, pl_module)

    def sample_grid(self, trainer: Trainer, pl_module: LightningModule) -> Tensor:
        """Draw the fixed-noise samples and tile them.

        Args:
            trainer: The running trainer (for the data module's ``modes``).
            pl_module: The family: has ``sample(n, labels=..., generator=...)`` and ``num_classes``.

        Returns:
            ``(C, H, W)`` grid in [0, 1] on the CPU (C = 3 for point scatter plots).
        """
        num_classes = int(getattr(pl_module, "num_classes", 0) or 0)
        labels = torch.arange(self.num_samples, device=pl_module.device) % num_classes if num_classes else None
        generator = torch.Generator(device=pl_module.device).manual_seed(self.seed)  # same noise at every call
        training_modes = {module: module.training for module in pl_module.modules()}
        pl_module.eval()
        try:
            with torch.no_grad():
                if hasattr(pl_module, "panels"):  # image-to-image translation: fixed inputs beside their outputs
                    samples, nrow = pl_module.panels(self.num_samples)  # (N, C, H, W) in [-1, 1], images per row
                    return image_grid(to_unit_range(samples.detach().float().cpu()), nrow=nrow)
                samples = pl_module.sample(self.num_samples, labels=labels, generator=generator)
        finally:
            for module, training in training_modes.items():
                module.training = training  # restore each submodule's own mode (some stay in eval on purpose)
        samples = samples.detach().float().cpu()
        if _is_points(samples):
            extent = _scatter_extent(trainer, self._data_points, samples)
            return points_to_image(samples, extent, _SCATTER_SIZE, _reference_points(trainer))
        nrow = self.nrow or (num_classes if num_classes else 8)
        return image_grid(to_unit_range(samples), nrow=nrow)

    def _log_samples(self, trainer: Trainer, pl_module: LightningModule) -> None:
        step = trainer.global_step
        self._last_step = step  # on every rank, so all ranks agree on what was logged
        if not trainer.is_global_zero:
            return
        grid = self.sample_grid(trainer, pl_module)
        log_image_grid(trainer, "samples", grid, self._dirpath / f"step_{step:07d}.png" if self.save_png else None)


def log_image_grid(trainer: Trainer, key: str, grid: Tensor, png_path: Path | None = None) -> None:
    """Write ``grid`` ``(C, H, W)`` in [0, 1] as a PNG (if ``png_path``) and log it to wandb / TensorBoard as ``key``.

    Call on global rank 0. Lightning's ``self.log`` puts metrics at x = ``fit_loop.epoch_loop._batches_that_stepped``
    (one per batch, not per optimizer step; a private counter, but the one LoggerConnector uses). Logging images
    at the same x keeps them aligned with the losses; ``global_step`` would put them elsewhere (LIGHTNING_TRAPS.md).
    CSVLogger has no image API: the PNG is what it keeps.
    """
    if png_path is not None:
        save_image(grid, png_path)
    x_step = trainer.fit_loop.epoch_loop._batches_that_stepped
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            pixels = (grid * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()  # (H, W, C)
            pixels = pixels[..., 0] if pixels.shape[-1] == 1 else pixels
            logger.log_image(key=key, images=[pixels], step=x_step, caption=[f"global_step {trainer.global_step}"])
        elif isinstance(logger, TensorBoardLogger):
            logger.experiment.add_image(key, grid, global_step=x_step)


class PredictionWriter(BasePredictionWriter):
    """Write each predicted sample to its own PNG file, plus an overview ``grid.png``.

    For every ``predict_step`` output ``{"samples", "labels", "indices"[, "names"]}``:

    - images ``(B, C, H, W)`` in [-1, 1] become ``<output_dir>/{index:05d}.png``, or ``class{label}_{index:05d}.png``
      when ``labels`` is given, or ``<output_dir>/<name>`` when ``names`` (a list of relative file names, e.g. for
      image-to-image translation) is given: PNG and TIFF names are kept, other formats (JPEG) become ``.png``;
      an optional ``"bit_depth"`` ``(B,)`` gives each input's bits per sample, written back at that depth;
    - 2-D points ``(B, 2)`` are written at the end as ``points.csv`` (columns ``index,[label,]x,y``).

    At the end, ``grid.png`` shows the images (conditional: one column per class, samples sorted by index) or a
    scatter plot of the points, and one line ``wrote N samples to <dir>`` is printed. Named outputs (translations
    of a folder, each at its input's size) get no ``grid.png``.

    Under DDP every rank writes its own samples (indices are unique across ranks); rank ``r > 0`` writes its
    points to ``points_rank{r}.csv``. ``grid.png`` is made by rank 0 from rank 0's samples only (a strided subset
    of the indices), and N is the total over all ranks.

    Args:
        output_dir: Folder for the files; None: ``<trainer.default_root_dir>/predictions``.
        bit_depth: Bits per sample of the per-sample files: 8 or 16, or None (default) for the input's depth where
            the prediction carries one (``"bit_depth"``, image-to-image translation: 16-bit in, 16-bit out) and 8
            otherwise. ``grid.png`` is always 8-bit.
        grid_max_samples: Most samples shown in ``grid.png`` (the first ones received); None: all of them.
    """

    def __init__(
        self, output_dir: str | None = None, bit_depth: Literal[8, 16] | None = None, grid_max_samples: int | None = None
    ) -> None:
        super().__init__(write_interval="batch")
        if bit_depth not in (8, 16, None):
            raise ValueError(f"PredictionWriter: bit_depth must be 8, 16 or None (the input's), got {bit_depth!r}")
        if grid_max_samples is not None and grid_max_samples < 1:
            raise ValueError(f"PredictionWriter: grid_max_samples must be >= 1 or None, got {grid_max_samples}")
        self.output_dir = output_dir
        self.bit_depth = bit_depth
        self.grid_max_samples = grid_max_samples
        self._dirpath = Path(output_dir) if output_dir else Path("predictions")
        self._reset()

    def _reset(self) -> None:
        self._num_written = 0
        self._grid_samples: list[Tensor] = []  # rank 0: images as uint8 (B, C, H, W) or points (B, 2)
        self._grid_labels: list[Tensor] = []
        self._grid_indices: list[Tensor] = []
        self._points: list[Tensor] = []  # every rank: (B, 2) points, written to CSV at the end
        self._point_labels: list[Tensor] = []
        self._point_indices: list[Tensor] = []

    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._dirpath = Path(self.output_dir or Path(trainer.default_root_dir) / "predictions")
        self._dirpath.mkdir(parents=True, exist_ok=True)
        self._reset()

    def _file_name(self, position: int, index: int, labels: Tensor | None, names: list[str] | None) -> Path:
        if names is not None:
            name = PurePosixPath(str(names[position]).replace("\\", "/"))
            if name.is_absolute() or ".." in name.parts or not name.name:
                raise ValueError(f"PredictionWriter: names must be relative file names inside output_dir, got {name}")
            keeps_format = name.suffix.lower() in _LOSSLESS_SUFFIXES  # JPEG and the rest are written as PNG
            return self._dirpath / (name if keeps_format else name.with_suffix(".png"))
        if labels is not None:
            return self._dirpath / f"class{int(labels[position])}_{index:05d}.png"
        return self._dirpath / f"{index:05d}.png"

    def write_on_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        prediction: Any,
        batch_indices: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        if not isinstance(prediction, Mapping) or "samples" not in prediction or "indices" not in prediction:
            raise ValueError(
                "PredictionWriter: predict_step must return a dict with 'samples', 'labels' and 'indices', got "
                f"{type(prediction).__name__}"
            )
        samples = prediction["samples"].detach().float().cpu()
        indices = prediction["indices"].detach().cpu().long().reshape(-1)
        labels = prediction.get("labels")
        labels = labels.detach().cpu().long().reshape(-1) if labels is not None else None
        names = prediction.get("names")
        if len(indices) != len(samples) or (labels is not None and len(labels) != len(samples)):
            raise ValueError(
                f"PredictionWriter: got {len(samples)} samples but {len(indices)} indices"
                + (f" and {len(labels)} labels" if labels is not None else "")
            )
        if names is not None and len(names) != len(samples):
            raise ValueError(f"PredictionWriter: got {len(samples)} samples but {len(names)} names")
        self._num_written += len(samples)
        if _is_points(samples):
            self._points.append(samples)
            self._point_indices.append(indices)
            if labels is not None:
                self._point_labels.append(labels)
            grid_batch = samples
        else:
            images = to_unit_range(samples)  # (B, C, H, W) in [0, 1]
            input_depths = prediction.get("bit_depth")
            for position, index in enumerate(indices.tolist()):
                depth = self.bit_depth or (int(input_depths[position]) if input_depths is not None else 8)
                save_image(images[position], self._file_name(position, index, labels, names), depth)
            grid_batch = (images * 255).round().to(torch.uint8)  # compact copy for grid.png
        if trainer.is_global_zero and names is None:  # translations keep their own sizes: no grid of them
            kept = sum(len(s) for s in self._grid_samples)
            room = len(grid_batch) if self.grid_max_samples is None else max(0, self.grid_max_samples - kept)
            if room > 0:
                self._grid_samples.append(grid_batch[:room])
                self._grid_indices.append(indices[:room])
                if labels is not None:
                    self._grid_labels.append(labels[:room])

    def on_predict_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._points:
            self._write_points_csv(trainer.global_rank)
        # Total over ranks (a collective: every rank runs this hook).
        total = trainer.strategy.reduce(
            torch.tensor(self._num_written, device=pl_module.device, dtype=torch.float64), reduce_op="sum"
        )
        if not trainer.is_global_zero:
            return
        if self._grid_samples:
            self._write_grid(trainer, pl_module)
        print(f"wrote {int(total)} samples to {self._dirpath}")

    def _write_points_csv(self, rank: int) -> None:
        points = torch.cat(self._points).double()  # (N, 2)
        indices = torch.cat(self._point_indices)
        labels = torch.cat(self._point_labels) if self._point_labels else None
        order = torch.argsort(indices)
        path = self._dirpath / ("points.csv" if rank == 0 else f"points_rank{rank}.csv")
        with open(path, "w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["index", "label", "x", "y"] if labels is not None else ["index", "x", "y"])
            for i in order.tolist():
                label = [int(labels[i])] if labels is not None else []
                writer.writerow([int(indices[i]), *label, repr(float(points[i, 0])), repr(float(points[i, 1]))])

    def _write_grid(self, trainer: Trainer, pl_module: LightningModule) -> None:
        samples = torch.cat(self._grid_samples)
        indices = torch.cat(self._grid_indices)
        labels = torch.cat(self._grid_labels) if self._grid_labels else None
        if _is_points(samples):
            extent = _scatter_extent(trainer, None, samples)
            grid = points_to_image(samples, extent, _SCATTER_SIZE, _reference_points(trainer))
            save_image(grid, self._dirpath / "grid.png")
            return
        images = samples.float() / 255  # (N, C, H, W) in [0, 1]
        if labels is None:
            order = torch.argsort(indices)
            nrow = math.ceil(math.sqrt(len(images)))
            save_image(image_grid(images[order], nrow=nrow), self._dirpath / "grid.png")
            return
        num_classes = max(int(getattr(pl_module, "num_classes", 0) or 0), int(labels.max()) + 1)
        # One column per class: row r, column c holds the r-th sample (by index) of class c; gaps stay black.
        by_class = [torch.nonzero(labels == c).flatten() for c in range(num_classes)]
        by_class = [members[torch.argsort(indices[members])] for members in by_class]
        num_rows = max(len(members) for members in by_class)
        canvas = torch.zeros(num_rows * num_classes, *images.shape[1:])
        for c, members in enumerate(by_class):
            canvas[c + num_classes * torch.arange(len(members))] = images[members]
        save_image(image_grid(canvas, nrow=num_classes), self._dirpath / "grid.png")

