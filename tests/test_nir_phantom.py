"""Tests of the NIR vessel phantom: batch format, 16-bit levels, determinism, physics seen through the metrics,
paired vs unpaired scenes, PNG export and speed. Images are small (48 px) except in the speed test."""

from __future__ import annotations

import inspect
import subprocess
import sys
import time
from pathlib import Path

import docstring_parser
import numpy as np
import pytest
import torch

from datamodules.nir_phantom import (
    MAX_LEVEL,
    NIRPhantomDataModule,
    PhantomPhysics,
    item_rng,
    main,
    render_phantom,
    scattering_kernel,
    write_phantom_dataset,
)
from lightning_gans.errors import UserInputError
from lightning_gans.images import read_image
from lightning_gans.metrics import psnr, signal_to_background_ratio, ssim

REPO = Path(__file__).resolve().parents[1]

SIZE = 48


def module(**kwargs) -> NIRPhantomDataModule:
    options = {"image_size": SIZE, "num_train": 4, "num_val": 3, "batch_size": 2, **kwargs}
    data = NIRPhantomDataModule(**options)
    data.setup()
    return data


def first_batch(loader) -> dict:
    return next(iter(loader))


def levels(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] model range back to 16-bit levels, in float64."""
    return (x.double() + 1) / 2 * MAX_LEVEL


def test_batches_have_the_documented_format() -> None:
    data = module()
    assert (data.input_channels, data.output_channels, data.bit_depth) == (1, 1, 16)
    for loader in (data.train_dataloader(), data.val_dataloader()):
        batch = first_batch(loader)
        for key in ("A", "B"):
            assert batch[key].shape == (2, 1, SIZE, SIZE) and batch[key].dtype == torch.float32
            assert batch[key].min() >= -1 and batch[key].max() <= 1
        for key in ("vessel_mask", "background_mask"):
            assert batch[key].shape == (2, 1, SIZE, SIZE) and batch[key].dtype == torch.bool
            assert batch[key].flatten(1).any(dim=1).all()  # every image has vessels and background for SBR
        assert not (batch["vessel_mask"] & batch["background_mask"]).any()
        assert batch["bit_depth"].dtype == torch.int64 and batch["bit_depth"].tolist() == [16, 16]
    assert first_batch(data.val_dataloader())["name"] == ["val_00000.png", "val_00001.png"]


def test_values_are_16_bit_levels() -> None:
    batch = first_batch(module().val_dataloader())
    for key in ("A", "B"):
        k = levels(batch[key])
        assert (k - k.round()).abs().max() < 0.01  # float32 rounding of k / 65535 * 2 - 1 only
        assert k.round().unique().numel() > 1000  # many distinct levels: 16-bit, not 8-bit, data
    # and k / 65535 * 2 - 1 exactly (to float32 precision)
    k = levels(batch["B"]).round()
    assert torch.allclose(batch["B"].double(), k / MAX_LEVEL * 2 - 1, atol=1e-7, rtol=0)


def test_images_are_a_pure_function_of_seed_split_and_index() -> None:
    one, two = module(), module(num_train=9)  # the validation set does not depend on num_train
    val_one, val_two = first_batch(one.val_dataloader()), first_batch(two.val_dataloader())
    for key in ("A", "B", "vessel_mask", "background_mask"):
        assert torch.equal(val_one[key], val_two[key])
    assert torch.equal(one.train_set[3]["A"], two.train_set[3]["A"])
    assert torch.equal(one.train_set[1]["B"], one.train_set[1]["B"])  # rendering again gives the same image
    other_seed = module(seed=1)
    assert not torch.equal(one.val_set[0]["A"], other_seed.val_set[0]["A"])
    assert not torch.equal(one.train_set[0]["A"], one.val_set[0]["A"])  # splits differ


def test_blurry_image_scores_below_the_sharp_one() -> None:
    physics = PhantomPhysics()
    for index in range(3):
        scene = lambda: item_rng(0, "val", index, 0)  # noqa: E731
        pair = render_phantom(physics, SIZE, scene(), item_rng(0, "val", index, 2), item_rng(0, "val", index, 3))
        again = render_phantom(physics, SIZE, scene(), item_rng(0, "val", index, 5), item_rng(0, "val", index, 6))
        unit = lambda levels: torch.from_numpy(levels.astype(np.float64) / MAX_LEVEL)[None, None]  # noqa: E731
        a, b, b_again = unit(pair["a"]), unit(pair["b"]), unit(again["b"])
        masks = [torch.from_numpy(pair[k])[None, None] for k in ("vessel_mask", "background_mask")]
        assert np.array_equal(pair["vessel_mask"], again["vessel_mask"])  # same scene, new camera noise
        sbr_a, sbr_b = signal_to_background_ratio(a, *masks).item(), signal_to_background_ratio(b, *masks).item()
        assert sbr_a < 0.6 * sbr_b
        assert sbr_b > 2
        # the blurry image is further from the sharp one than another exposure of the sharp scene is
        assert psnr(a, b).item() < psnr(b_again, b).item() - 3
        assert ssim(a, b).item() < ssim(b_again, b).item() - 0.1


def test_score_translation_reports_the_baseline_and_the_ceiling() -> None:
    data = module()
    batch = first_batch(data.val_dataloader())
    baseline = data.score_translation(batch["A"], batch)
    ceiling = data.score_translation(batch["B"], batch)
    assert set(baseline) == {"psnr", "ssim", "sbr"} and all(v.shape == (2,) for v in baseline.values())
    assert torch.isinf(ceiling["psnr"]).all() and torch.allclose(ceiling["ssim"], torch.ones(2))
    assert (baseline["sbr"] < ceiling["sbr"]).all() and (baseline["ssim"] < 0.9).all()


def test_the_scattering_psf_has_a_heavy_tail_and_keeps_the_light() -> None:
    physics = PhantomPhysics()
    kernel = scattering_kernel(physics)
    assert kernel.sum() == pytest.approx(1.0)
    m = physics.margin
    y, x = np.mgrid[-m : m + 1, -m : m + 1]
    far = kernel[np.hypot(x, y) > 4 * physics.scatter_core_sigma].sum()
    assert far > 0.4  # most of the tail fraction (0.6) lies where a Gaussian core has no light


def test_paired_and_unpaired_scenes() -> None:
    paired, unpaired = module(mode="paired"), module(mode="unpaired")
    for index in range(2):
        same, different = paired.train_set[index], unpaired.train_set[index]
        assert torch.equal(same["A"], different["A"])  # A and its masks come from the same stream in both modes
        assert torch.equal(same["vessel_mask"], different["vessel_mask"])
        assert not torch.equal(same["B"], different["B"])
        masks = (same["vessel_mask"][None], same["background_mask"][None])
        unit = lambda x: (x[None] + 1) / 2  # noqa: E731
        # B of the paired scene is bright on A's vessels; B of another scene is not
        assert signal_to_background_ratio(unit(same["B"]), *masks) > 2 * signal_to_background_ratio(
            unit(different["B"]), *masks
        )
    for key in ("A", "B", "vessel_mask"):  # validation is paired in both modes
        assert torch.equal(paired.val_set[1][key], unpaired.val_set[1][key])


def test_writes_16_bit_png_folders(tmp_path: Path) -> None:
    root = write_phantom_dataset(tmp_path / "folders", num_train=2, num_val=1, layout="folders", image_size=SIZE)
    data = module(num_train=2, num_val=1)
    for split, dataset in (("train", data.train_set), ("val", data.val_set)):
        for index in range(len(dataset)):
            name = f"{split}_{index:05d}.png"
            item = dataset[index]
            for key in ("A", "B"):
                image, bit_depth = read_image(root / split / key / name)
                assert bit_depth == 16 and image.shape == (1, SIZE, SIZE)
                assert torch.equal((image.double() * MAX_LEVEL).round(), levels(item[key]).round())
            mask, bit_depth = read_image(root / "masks" / split / "vessel" / name)
            assert bit_depth == 8 and torch.equal(mask > 0.5, item["vessel_mask"])
    unpaired = write_phantom_dataset(tmp_path / "unpaired", num_train=2, num_val=1, layout="unpaired", image_size=SIZE)
    assert sorted(p.name for p in unpaired.iterdir()) == ["masks", "testA", "testB", "trainA", "trainB"]
    assert len(list((unpaired / "trainB").glob("*.png"))) == 2
    image, _ = read_image(unpaired / "testB" / "val_00000.png")  # validation: the paired scene
    assert torch.equal((image.double() * MAX_LEVEL).round(), levels(data.val_set[0]["B"]).round())


def test_export_refuses_bad_input_before_writing(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    with pytest.raises(UserInputError, match="not an empty folder"):
        write_phantom_dataset(tmp_path / "full", 1, 1, image_size=SIZE)
    with pytest.raises(UserInputError, match="layout must be"):
        write_phantom_dataset(tmp_path / "new", 1, 1, layout="aligned")  # type: ignore[arg-type]
    with pytest.raises(UserInputError, match="unknown physics parameter"):
        write_phantom_dataset(tmp_path / "new", 1, 1, blur=3.0)
    with pytest.raises(UserInputError, match="scatter_tail_fraction must be in"):
        write_phantom_dataset(tmp_path / "new", 1, 1, scatter_tail_fraction=1.5)
    assert not (tmp_path / "new").exists()


def test_command_line_writes_the_dataset(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["--out", str(tmp_path / "cli"), "--num-train", "1", "--num-val", "1", "--image-size", str(SIZE)]
    assert main(args) == 0
    assert (tmp_path / "cli" / "val" / "B" / "val_00000.png").is_file()
    assert main(args) == 2  # now not empty: one line on stderr, exit code 2
    assert capsys.readouterr().err.strip().count("\n") == 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mode": "aligned"}, "mode must be"),
        ({"image_size": 16}, "image_size must be >= 32"),
        ({"peak_photons": 0.0}, "peak_photons must be a finite number > 0"),
        ({"vessel_radius": (3.0, 1.0)}, "vessel_radius must be"),
        ({"num_vessels": (0, 2)}, "num_vessels must be"),
    ],
)
def test_bad_arguments_raise_one_line_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        NIRPhantomDataModule(**kwargs)


def test_every_argument_is_documented() -> None:
    documented = {p.arg_name for p in docstring_parser.parse(NIRPhantomDataModule.__doc__).params}
    arguments = set(inspect.signature(NIRPhantomDataModule.__init__).parameters) - {"self"}
    assert arguments <= documented


def test_rendering_a_pair_is_much_faster_than_a_training_step() -> None:
    data = NIRPhantomDataModule(num_train=1, num_val=20)  # the default 128 px
    data.setup()
    data.val_set[0]  # warm up
    start, start_cpu = time.perf_counter(), time.process_time()
    for index in range(20):
        data.val_set[index]
    ms_per_pair = (time.perf_counter() - start) / 20 * 1000
    cpu_ms_per_pair = (time.process_time() - start_cpu) / 20 * 1000  # CPU time: robust to a busy machine
    print(f"phantom: {ms_per_pair:.1f} ms wall, {cpu_ms_per_pair:.1f} ms CPU per 128x128 pair")
    assert cpu_ms_per_pair < 60  # a pix2pix unet_128 step on 2 CPU cores takes about 220 ms (REFERENCES.md)


def test_module_command_runs_without_warnings(tmp_path: Path) -> None:
    out = tmp_path / "m"
    command = [sys.executable, "-W", "error::RuntimeWarning", "-m", "datamodules.write_nir_phantom", "--out", str(out),
               "--num-train", "1", "--num-val", "1", "--image-size", str(SIZE)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "RuntimeWarning" not in result.stderr and (out / "train" / "A" / "train_00000.png").is_file()
