"""The ``lightning-gans`` command: every experiment runs, outputs land under the root dir, errors are one line."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

import datamodules
import lightning_gans
from lightning_gans import CGAN, DCGAN, GAN
from lightning_gans.cli import main
from lightning_gans.images import save_image
from tests.test_datamodules import write_mnist

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted((REPO / "experiments").glob("*.yaml"))
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


@pytest.fixture(autouse=True)
def _no_wandb_network(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("WANDB_SILENT", "true")


@pytest.fixture
def mnist_dir(tmp_path) -> Path:
    """A real MNIST folder (IDX files) with a few hundred random digits in both official splits."""
    root = tmp_path / "mnist"
    write_mnist(root, "train", 160)
    write_mnist(root, "test", 160)
    return root


def write_translation_folders(root: Path, layout: str, size: int) -> None:
    """A few real image files in the pix2pix (``aligned``) or CycleGAN (``unpaired``) layout, ``size`` px per side."""
    g = torch.Generator().manual_seed(0)
    if layout == "aligned":
        folders = {"train": 2, "val": 1, "test": 1}
        for folder, count in folders.items():
            for i in range(count):
                save_image(torch.rand(3, size, 2 * size, generator=g), root / folder / f"{i}.png")
        return
    for folder in ("trainA", "trainB", "testA", "testB"):
        for i in range(2):
            save_image(torch.rand(3, size, size, generator=g), root / folder / f"{i}.png")


# The experiments' architectures at a fraction of the width: these tests check the YAML and its wiring
NARROW_TRANSLATION = ["--model.generator_width", "4", "--model.discriminator_width", "4"]


def data_overrides(config: Path, mnist_dir: Path, tmp_path: Path) -> list[str]:
    """Small data (and narrow translation networks) for an experiment: generated files or fewer generated samples,
    never a download."""
    data = yaml.safe_load(config.read_text())["data"]
    name, init_args = data["class_path"], data.get("init_args") or {}
    if name.endswith("MNISTDataModule"):
        return ["--data.data_dir", str(mnist_dir), "--data.download", "false", "--data.val_size", "32"]
    if name.endswith("GaussianMixtureDataModule"):
        return ["--data.num_train", "400", "--data.num_val", "100"]
    if name.endswith(("PairedImageDataModule", "UnpairedImageDataModule")):
        root = tmp_path / "images"
        size = int(init_args.get("load_size", 286))
        write_translation_folders(root, "aligned" if name.endswith("PairedImageDataModule") else "unpaired", size)
        return ["--data.root", str(root), "--data.download", "false", *NARROW_TRANSLATION]
    if name.endswith("NIRPhantomDataModule"):
        return ["--data.num_train", "4", "--data.num_val", "2", *NARROW_TRANSLATION]
    if name.endswith("SuperResolutionDataModule"):
        hr = tmp_path / "hr"
        g = torch.Generator().manual_seed(0)
        for i in range(3):
            save_image(torch.rand(3, 136, 144, generator=g), hr / f"{i}.png")
        model = yaml.safe_load(config.read_text())["model"]["class_path"]
        narrow = ["--model.generator_features", "8", "--model.generator_blocks", "1"]
        if not model.endswith("SRResNet"):  # GAN stages: no VGG19 file here, no PSNR checkpoint, a narrow D
            narrow += ["--model.vgg_weights", "random", "--model.pretrained_generator", "null",
                       "--model.discriminator_features", "4"]
        return ["--data.train_dir", str(hr), "--data.val_sets", f"{{tiny: {hr}}}", "--data.num_workers", "0",
                "--data.batch_size", "2", *narrow]
    return ["--data.num_train", "200", "--data.num_val", "40"]


@pytest.mark.parametrize("config", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiment_fast_dev_run(config, tmp_path, mnist_dir):
    main(["fit", "--config", str(config), "--trainer.fast_dev_run", "2", "--trainer.default_root_dir", str(tmp_path / "run"),
          "--trainer.logger", "false", *QUIET, *data_overrides(config, mnist_dir, tmp_path)])


@pytest.mark.parametrize("config", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiment_print_config_roundtrips(config, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["fit", "--config", str(config), "--print_config"])
    assert exit_.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    written = yaml.safe_load(config.read_text())
    assert printed["model"]["class_path"] == written["model"]["class_path"]
    for key, value in written["model"].get("init_args", {}).items():
        if not isinstance(value, dict):
            assert printed["model"]["init_args"][key] == value


@pytest.mark.parametrize(
    "group,name",
    [("model", name) for name in lightning_gans.__all__] + [("data", name) for name in datamodules.__all__ if name[0].isupper()],
)
def test_help_lists_every_argument_from_its_docstring(group, name, capsys):
    with pytest.raises(SystemExit):
        main(["fit", f"--{group}.help", name])
    out = " ".join(capsys.readouterr().out.split())  # help text is re-wrapped: compare with whitespace collapsed
    cls = getattr(lightning_gans if group == "model" else datamodules, name)
    doc = inspect.getdoc(cls)
    for argument in list(inspect.signature(cls.__init__).parameters)[1:]:
        entry = re.search(rf"^    {argument}: (.+)$", doc, re.MULTILINE)
        assert entry, f"{name}.{argument} has no entry in the docstring's Args"
        assert f"--{group}.{argument}" in out
        assert " ".join(entry.group(1).split()[:4]) in out, f"--{group}.{argument}: its docstring is not in --help"


def test_fit_writes_everything_under_the_root_dir_and_resumes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may land in the working directory
    root = tmp_path / "run"
    args = ["fit", "--config", str(REPO / "experiments/gan_ring8.yaml"), "--trainer.default_root_dir", str(root),
            "--data.num_train", "400", "--data.num_val", "100", "--log_to", "csv", "--samples.every_n_steps", "2", "--trainer.log_every_n_steps", "1", *QUIET]
    main([*args, "--trainer.max_steps", "4"])
    assert (root / "checkpoints" / "last.ckpt").is_file()
    assert (root / "samples" / "step_0000002.png").is_file() and (root / "samples" / "step_0000004.png").is_file()
    metrics = next(root.glob("lightning_logs/version_*/metrics.csv")).read_text()
    assert "train/loss_d" in metrics and "train/D(x)" in metrics and "train/lr_g" in metrics
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert torch.load(root / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 4

    main([*args, "--trainer.max_steps", "6", "--ckpt_path", str(root / "checkpoints" / "last.ckpt")])
    assert torch.load(root / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 6
    model = GAN.load_from_checkpoint(root / "checkpoints" / "last.ckpt")
    assert model.sample(3).shape == (3, 2)



def test_fit_without_checkpointing_writes_no_checkpoint(tmp_path):
    root = tmp_path / "run"
    main(["fit", "--config", str(REPO / "experiments/gan_ring8.yaml"), "--trainer.default_root_dir", str(root),
          "--data.num_train", "400", "--data.num_val", "100", "--log_to", "csv", "--trainer.max_steps", "2",
          "--trainer.enable_checkpointing", "false", *QUIET])
    assert not (root / "checkpoints").exists()
    assert next(root.glob("lightning_logs/version_*/metrics.csv")).is_file()  # the run itself happened

def test_predict_writes_images_and_a_per_class_grid(tmp_path, mnist_dir):
    root = tmp_path / "run"
    config = str(REPO / "experiments/cgan_mnist.yaml")
    data = ["--data.data_dir", str(mnist_dir), "--data.download", "false", "--data.val_size", "32"]
    main(["fit", "--config", config, "--trainer.max_steps", "2", "--trainer.default_root_dir", str(root), "--log_to", "csv", *QUIET, *data])
    out = tmp_path / "samples"
    main(["predict", "--config", config, "--ckpt_path", str(root / "checkpoints" / "last.ckpt"), *QUIET, *data,
          "--trainer.default_root_dir", str(root), "--data.num_predict_samples", "20", "--predictions.output_dir", str(out)])
    pngs = sorted(p.name for p in out.glob("class*.png"))
    assert len(pngs) == 20
    assert pngs[:2] == ["class0_00000.png", "class0_00010.png"]
    assert (out / "grid.png").is_file()
    assert CGAN.load_from_checkpoint(root / "checkpoints" / "last.ckpt").sample(4).shape == (4, 1, 28, 28)


def read_wandb_records(path: Path) -> list[bytes]:
    """The records of an offline ``.wandb`` file: a LevelDB-style log of 32 KiB blocks after a 7-byte header."""
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    block, pos, records, pending = 32768, 7, [], b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        length, kind = int.from_bytes(data[pos + 4 : pos + 6], "little"), data[pos + 6]
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 1:  # full
            records.append(chunk)
        elif kind == 2:  # first
            pending = chunk
        elif kind == 3:  # middle
            pending += chunk
        elif kind == 4:  # last
            records.append(pending + chunk)
        elif length == 0:  # zero padding at a block's end
            pos += block - pos % block
    return records


def test_wandb_offline_run_holds_image_grids_and_scalars(tmp_path, monkeypatch):
    import wandb
    from wandb.proto import wandb_internal_pb2

    monkeypatch.setenv("WANDB_MODE", "offline")
    root = tmp_path / "run"
    main(["fit", "--config", str(REPO / "experiments/quickstart.yaml"), "--trainer.default_root_dir", str(root),
          "--log_to", "wandb", "--trainer.max_steps", "4", "--trainer.log_every_n_steps", "1", "--samples.every_n_steps", "2",
          "--data.num_train", "256", "--data.num_val", "64", *QUIET])
    wandb.finish()  # flush the offline run as the process exit would
    run_dir = next((root / "wandb").glob("offline-run-*"))
    assert len(list((run_dir / "files" / "media" / "images").glob("samples_*.png"))) >= 2
    records = []
    for _ in range(60):  # wandb's service writes the file asynchronously; its last record is "exit"
        records = []
        for raw in read_wandb_records(next(run_dir.glob("*.wandb"))):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(raw)
            records.append(record)
        if any(r.WhichOneof("record_type") == "exit" for r in records):
            break
        time.sleep(0.5)
    history = {}
    for record in records:
        if record.WhichOneof("record_type") == "history":
            for item in record.history.item:
                history.setdefault(item.key or item.nested_key[0], []).append(json.loads(item.value_json))
    assert {"train/loss_d", "train/D(G(z))", "train/lr_d"} <= history.keys(), sorted(history)
    assert all(isinstance(v, float) for v in history["train/loss_d"] + history["train/D(G(z))"] + history["train/lr_d"])
    assert len(history["trainer/global_step"]) >= 4  # a row per logged step
    assert history["samples"].count("images/separated") >= 2  # the two sample grids, as wandb image entries


def test_wandb_without_account_goes_offline_and_says_so(tmp_path, monkeypatch, capsys):
    from lightning_gans.cli import wandb_offline_reason

    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    assert "no wandb account" in wandb_offline_reason()


def run_cli(*args, cwd=REPO, env=None):
    return subprocess.run([sys.executable, "-m", "lightning_gans.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "WANDB_MODE": "disabled", "PYTHONPATH": str(REPO), **(env or {})}, timeout=600)


BAD_INPUTS = {
    "unknown model key": (["--model.init_args.imagesize", "3"], "Option 'imagesize' is not accepted"),
    "unknown trainer key in YAML": (["--config", "{tmp}/typo.yaml"], "does not accept option 'trainer.max_epoch'"),
    "image size DCGAN cannot make": (["--model.image_size", "48", "--data.image_size", "48"], "model.image_size 48 cannot be made"),
    "model and data sizes differ": (["--model.image_size", "32"], "model.sample_shape is [1, 32, 32]"),
    "missing data dir, no download": (["--data.data_dir", "{tmp}/nothing", "--data.download", "false"], "MNIST train split not found in"),
    "trainer clipping (manual optimization)": (["--trainer.gradient_clip_val", "1.0"], "set model.gradient_clip_norm"),
    "non-positive clip norm": (["--model.gradient_clip_norm", "0"], "model.gradient_clip_norm must be > 0"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_clear_line(case, tmp_path, mnist_dir):
    extra, expected = BAD_INPUTS[case]
    (tmp_path / "typo.yaml").write_text("trainer:\n  max_epoch: 3\n")
    extra = [arg.replace("{tmp}", str(tmp_path)) for arg in extra]
    data = ["--data.data_dir", str(mnist_dir), "--data.download", "false", "--data.val_size", "32"]
    result = run_cli("fit", "--config", "experiments/dcgan_mnist.yaml", "--trainer.default_root_dir", str(tmp_path / "run"),
                     "--trainer.max_steps", "1", *data, *extra)
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("lightning-gans: error:")]
    assert len(errors) == 1 and expected in errors[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "NoneType" not in result.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_unknown_model_key_points_at_the_family_help(tmp_path):
    result = run_cli("fit", "--config", "experiments/quickstart.yaml", "--model.bogus", "3")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "lightning-gans: error: model lightning_gans.CGAN: Option 'bogus' is not accepted "
        "(see `lightning-gans fit --model.help CGAN`)"
    )


def test_runs_print_no_litlogger_advert_nor_lightning_pytree_warning(tmp_path):
    result = run_cli("fit", "--config", "experiments/quickstart.yaml", "--trainer.fast_dev_run", "1", "--log_to", "csv",
                     "--data.num_train", "64", "--data.num_val", "16", "--trainer.default_root_dir", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "GPU available" in result.stderr  # Lightning's own start-up lines are still there
    assert "litlogger" not in result.stderr + result.stdout
    assert "LeafSpec" not in result.stderr  # torch's deprecation warning about Lightning's own _pytree helper


def test_step_checkpoints_print_no_lightning_manual_optimization_warning(tmp_path):
    result = run_cli("fit", "--config", "experiments/quickstart.yaml", "--trainer.max_steps", "2", "--log_to", "csv",
                     "--trainer.limit_val_batches", "0", "--checkpoint.every_n_train_steps", "1",
                     "--data.num_train", "64", "--data.num_val", "16", "--trainer.default_root_dir", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()  # the step checkpoints were written
    assert "pre-optimization state" not in result.stderr  # Lightning's warning meant for its own test model


def test_class_count_mismatch_is_one_clear_line(tmp_path, mnist_dir):
    result = run_cli("fit", "--config", "experiments/cgan_mnist.yaml", "--model.num_classes", "7", "--trainer.max_steps", "1",
                     "--data.data_dir", str(mnist_dir), "--data.download", "false", "--data.val_size", "32",
                     "--trainer.default_root_dir", str(tmp_path))
    assert result.returncode == 2
    assert "lightning-gans: error: the data has 10 classes but model.num_classes is 7" in result.stderr
    assert "Traceback" not in result.stderr


def test_ddp_two_processes_end_with_identical_weights_and_different_noise(tmp_path):
    root = tmp_path / "ddp"
    result = run_cli("fit", "--config", "experiments/gan_ring8.yaml", "--trainer.strategy", "ddp", "--trainer.devices", "2",
                     "--trainer.accelerator", "cpu", "--trainer.max_steps", "5", "--data.num_train", "2000", "--data.num_val", "200",
                     "--trainer.default_root_dir", str(root), "--trainer.callbacks+=tests.ddp_probe.SaveRankState",
                     "--trainer.logger", "false", *QUIET, env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = (torch.load(root / f"rank{r}.pt") for r in (0, 1))
    assert rank0["state_dict"].keys() == rank1["state_dict"].keys()
    for key, value in rank0["state_dict"].items():
        torch.testing.assert_close(value, rank1["state_dict"][key], rtol=0, atol=0, msg=f"{key} differs across ranks")
    assert not torch.equal(rank0["noise"], rank1["noise"])  # each rank draws its own fakes
    initial = GAN(sample_shape=[2], latent_dim=2, generator_hidden=[400] * 4, discriminator_hidden=[200] * 3)
    assert not torch.equal(initial.state_dict()["generator.net.0.weight"], rank0["state_dict"]["generator.net.0.weight"])


def test_dcgan_checkpoint_from_cli_loads(tmp_path, mnist_dir):
    root = tmp_path / "run"
    main(["fit", "--config", str(REPO / "experiments/dcgan_mnist.yaml"), "--trainer.max_steps", "1", "--trainer.default_root_dir",
          str(root), "--trainer.logger", "false", "--data.data_dir", str(mnist_dir), "--data.download", "false",
          "--data.val_size", "32", *QUIET])
    model = DCGAN.load_from_checkpoint(root / "checkpoints" / "last.ckpt")
    assert model.sample(2).shape == (2, 1, 28, 28)
