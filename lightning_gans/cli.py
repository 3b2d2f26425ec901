"""The ``lightning-gans`` command: a LightningCLI over every family and data module, configured by YAML.

    lightning-gans fit --config experiments/dcgan_mnist.yaml
    lightning-gans fit --config experiments/dcgan_mnist.yaml --print_config
    lightning-gans fit --model.help DCGAN                      # a family's arguments, from its docstring
    lightning-gans predict --config experiments/cgan_mnist.yaml --ckpt_path runs/cgan_mnist/checkpoints/last.ckpt \
        --predictions.output_dir samples/ --data.num_predict_samples 100

What this adds to LightningCLI:
- ``--log_to wandb|csv|tensorboard`` (default wandb, project ``lightning-gans``). Without a wandb account or
  network, wandb runs offline and says so; it never waits on a login prompt.
- Every file a run writes goes under ``--trainer.default_root_dir``: ``checkpoints/`` (``last.ckpt`` always
  kept), ``samples/`` (PNG grids), ``wandb/`` or ``lightning_logs/``, and ``config.yaml``.
- ``--checkpoint.*`` (ModelCheckpoint), ``--samples.*`` (SampleImages), ``--predictions.*`` (PredictionWriter).
- Errors the user can fix are one line: ``lightning-gans: error: ...``.
"""

from __future__ import annotations

import logging
import netrc
import os
import socket
import sys
import warnings
from pathlib import Path
from typing import Any, Literal, Optional, Union

from jsonargparse import ArgumentError, Namespace
from lightning.pytorch import LightningDataModule, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningCLI

import datamodules  # noqa: F401  (registers the data modules for --data NAME)
import lightning_gans  # noqa: F401  (registers the families for --model NAME)
from datamodules import *  # noqa: F401,F403
from lightning_gans.callbacks import PredictionWriter, SampleImages
from lightning_gans.errors import NonFiniteLossError, UserInputError

LoggerName = Literal["wandb", "csv", "tensorboard"]


def wandb_offline_reason(host: str = "api.wandb.ai", timeout: float = 3.0) -> Optional[str]:
    """Why wandb must run offline (no account, no network), or ``None`` when it can go online.

    Checks ``WANDB_MODE``, an API key (``WANDB_API_KEY`` or the ``~/.netrc`` entry that ``wandb login`` writes)
    and a TCP connection to the wandb server, so a run without an account never blocks on a login prompt.
    """
    mode = os.environ.get("WANDB_MODE", "")
    if mode in ("offline", "dryrun", "disabled"):
        return f"WANDB_MODE={mode}"
    has_key = bool(os.environ.get("WANDB_API_KEY"))
    if not has_key:
        try:
            has_key = netrc.netrc().authenticators(host) is not None
        except (FileNotFoundError, netrc.NetrcParseError, OSError):
            has_key = False
    if not has_key:
        return "no wandb account found (set WANDB_API_KEY or run `wandb login`)"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        return f"{host} is unreachable"
    return None


def logger_config(name: LoggerName, root_dir: str) -> Namespace:
    """The LightningCLI config of the logger ``--log_to`` names, writing under ``root_dir``."""
    if name == "wandb":
        reason = wandb_offline_reason()
        if reason and reason != "WANDB_MODE=disabled":
            print(
                f"lightning-gans: wandb runs offline: {reason}. The run is saved in {root_dir}/wandb/ "
                "(upload it later with `wandb sync`).",
                file=sys.stderr,
            )
        init_args = Namespace(project="lightning-gans", save_dir=root_dir, offline=reason is not None)
        return Namespace(class_path="lightning.pytorch.loggers.WandbLogger", init_args=init_args)
    if name == "csv":
        return Namespace(class_path="lightning.pytorch.loggers.CSVLogger", init_args=Namespace(save_dir=root_dir))
    return Namespace(class_path="lightning.pytorch.loggers.TensorBoardLogger", init_args=Namespace(save_dir=root_dir))


class _WithoutLitLoggerTip(logging.Filter):
    """Drops Lightning 2.6's "💡 Tip: ... try installing litlogger" advert, printed at the start of every run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


def silence_litlogger_tip() -> None:
    """Install :class:`_WithoutLitLoggerTip` on the loggers Lightning's ``rank_zero_info`` writes to."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _WithoutLitLoggerTip) for f in logger.filters):
            logger.addFilter(_WithoutLitLoggerTip())


def silence_lightning_warnings() -> None:
    """Ignore two warnings that Lightning 2.6 raises at every run of these families and no user action removes.

    - torch's FutureWarning about ``LeafSpec``: Lightning's own ``_pytree`` helper builds
      ``torch.utils._pytree.LeafSpec()``, which torch 2.10+ deprecates.
    - ``ModelCheckpoint``'s "manual optimization and every_n_train_steps, but no pre-optimization state was saved":
      it asks for a ``saved_models`` dict of a ``layer`` attribute (its own test's model) and warns whenever a
      manually optimised module saves every n steps. The checkpoint after the optimizer steps is what these
      families want: weights, both optimizers and ``global_step`` then agree, and resume continues bit-identically
      from it (``tests/test_training.py``).
    """
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning)
    warnings.filterwarnings("ignore", message=r"Using ModelCheckpoint with manual optimization and every_n_train_steps")


def one_line(message: str) -> str:
    """The gist of a jsonargparse error, which nests the reasons of every alternative it tried, on one line.

    For ``--model`` / ``--data`` the alternatives are the chosen class and ``None``; the ``None`` branch's
    "Expected a <class 'NoneType'>" says nothing to the user, so only the chosen class's reason is kept, with a
    pointer to that class's ``--help``.
    """
    lines = [line.strip().lstrip("- ") for line in message.splitlines() if line.strip()]
    if not lines:
        return "invalid arguments"
    for i, line in enumerate(lines):
        if line.startswith("Problem with given class_path"):
            reasons = [
                part.rstrip(":")
                for part in lines[i + 1 : i + 3]
                if not part.startswith(("Given value", "Expected a <class 'NoneType'>"))
            ]
            key = lines[0].rstrip(":").removeprefix("Parser key ").strip('"')
            class_path = line.split("'")[1] if line.count("'") >= 2 else ""
            where = f"{key} {class_path}".strip()
            hint = f" (see `lightning-gans fit --{key}.help {class_path.rsplit('.', 1)[-1]}`)" if class_path else ""
            return f"{where}: {'; '.join(reasons) or 'invalid value'}{hint}"
    return lines[0]


def user_error_in(error: BaseException) -> Optional[Exception]:
    """The user-fixable error that ``error`` was raised from, if any (jsonargparse wraps constructor errors)."""
    while error is not None:
        if isinstance(error, (UserInputError, FileNotFoundError)):
            return error
        error = error.__cause__ or error.__context__
    return None


class GanCLI(LightningCLI):
    """LightningCLI with the project's logger choice, output layout and always-on callbacks."""

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument(
            "--log_to",
            type=Union[LoggerName, list[LoggerName]],
            default="wandb",
            help="Logger(s) used when --trainer.logger is not given: wandb (offline without an account), csv "
            "(metrics.csv; sample grids as PNG) or tensorboard (needs `pip install tensorboard`); e.g. [wandb, csv].",
        )
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.save_last": True})
        parser.add_lightning_class_args(SampleImages, "samples")
        parser.add_lightning_class_args(PredictionWriter, "predictions")

    def parse_arguments(self, parser, args) -> None:
        self._command_line = list(args) if isinstance(args, (list, tuple)) else sys.argv[1:]
        super().parse_arguments(parser, args)

    def _parse_ckpt_path(self) -> None:
        """Checkpoint hyperparameters under what the user asked for, not over it.

        Lightning 2.6 merges a ``--ckpt_path`` checkpoint's hyperparameters over the parsed command line, so
        ``predict --ckpt_path x.ckpt --model.tile_size 256`` silently kept the checkpoint's value (upstream PR
        #21455). Here the command line (its ``--config`` files and ``--model.*`` flags) is parsed again on top.
        """
        super()._parse_ckpt_path()
        subcommand = self.config.get("subcommand")
        if subcommand and self.config[subcommand].get("ckpt_path") and isinstance(self._command_line, list):
            self.config = self.parser.parse_args(self._command_line, namespace=self.config)

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """The Trainer with the always-on callbacks, less ``ModelCheckpoint`` under ``enable_checkpointing false``."""
        extra_callbacks = [self._get(self.config_init, key) for key in self._parser(self.subcommand).callback_keys]
        trainer_config = {**self._get(self.config_init, "trainer", default={}), **kwargs}
        if trainer_config.get("enable_checkpointing") is False:  # Lightning refuses a ModelCheckpoint then
            extra_callbacks = [c for c in extra_callbacks if not isinstance(c, ModelCheckpoint)]
        return self._instantiate_trainer(trainer_config, extra_callbacks)

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        trainer = config.trainer
        if trainer.gradient_clip_val is not None:  # Lightning raises deep inside fit: manual optimization
            raise UserInputError(
                "trainer.gradient_clip_val does not apply to GANs (manual optimization): set model.gradient_clip_norm"
            )
        if trainer.accumulate_grad_batches not in (None, 1):
            raise UserInputError(
                "trainer.accumulate_grad_batches does not apply to GANs (manual optimization): raise data.batch_size"
            )
        root_dir = str(trainer.default_root_dir or os.getcwd())
        trainer.default_root_dir = root_dir
        if trainer.logger is None or trainer.logger is True:
            names = [config.log_to] if isinstance(config.log_to, str) else list(config.log_to)
            trainer.logger = False if self.subcommand == "predict" else [logger_config(name, root_dir) for name in names]
        if config.checkpoint.dirpath is None:
            config.checkpoint.dirpath = str(Path(root_dir) / "checkpoints")


def main(args: Optional[list[str]] = None) -> None:
    """Entry point of the ``lightning-gans`` console script."""
    silence_litlogger_tip()
    silence_lightning_warnings()
    try:
        GanCLI(
            LightningModule,
            LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            auto_configure_optimizers=False,
            seed_everything_default=0,
            save_config_kwargs={"overwrite": True},
            parser_kwargs={"exit_on_error": False},  # bad arguments raise; reported below in one line
            args=args,
        )
    except ArgumentError as error:
        reason = one_line(str(error))
        hint = "" if "--help" in reason or ".help " in reason else " (see `lightning-gans fit --help`)"
        print(f"lightning-gans: error: {reason}{hint}", file=sys.stderr)
        raise SystemExit(2) from None
    except NonFiniteLossError as error:
        print(f"lightning-gans: error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    except (ValueError, FileNotFoundError) as error:
        cause = user_error_in(error)
        if cause is None:
            raise
        print(f"lightning-gans: error: {cause}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
