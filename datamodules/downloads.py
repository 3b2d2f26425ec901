"""Download the standard pix2pix and CycleGAN data sets from the reference's public archives.

URLs as in pytorch-CycleGAN-and-pix2pix's ``datasets/download_pix2pix_dataset.sh`` (``<name>.tar.gz``, A|B
side-by-side files in ``train/``, ``val/``, ``test/``) and ``datasets/download_cyclegan_dataset.sh``
(``<name>.zip``, ``trainA/``, ``trainB/``, ``testA/``, ``testB/``). Cityscapes cannot be redistributed: the
reference sends users to cityscapes-dataset.com and its ``datasets/prepare_cityscapes_dataset.py``.

An archive is downloaded next to the target folder, extracted into a temporary folder there and renamed into
place, so an interrupted download never leaves a half-filled data folder.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import urllib.error
import urllib.request
import uuid
import zipfile
from pathlib import Path
from typing import Literal

from lightning.pytorch.utilities import rank_zero_info

from lightning_gans.errors import UserInputError

__all__ = ["PAIRED_DATASETS", "UNPAIRED_DATASETS", "dataset_url", "download_dataset"]

PAIRED_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/{name}.tar.gz"
UNPAIRED_URL = "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/{name}.zip"
PAIRED_DATASETS: tuple[str, ...] = ("facades", "cityscapes", "maps", "edges2shoes", "edges2handbags", "night2day")
UNPAIRED_DATASETS: tuple[str, ...] = (
    "horse2zebra",
    "apple2orange",
    "summer2winter_yosemite",
    "monet2photo",
    "cezanne2photo",
    "ukiyoe2photo",
    "vangogh2photo",
    "maps",
    "cityscapes",
    "facades",
    "iphone2dslr_flower",
)
NOT_REDISTRIBUTED = ("cityscapes",)  # licence: the reference downloads none of it
TIMEOUT_S = 60  # per network operation (connect, each read)
LAYOUT = {
    "paired": "train/, val/ (and test/) holding A|B side-by-side images",
    "unpaired": "trainA/, trainB/, testA/, testB/",
}


def dataset_url(name: str, kind: Literal["paired", "unpaired"]) -> str:
    """The reference's archive URL for a data set.

    Args:
        name: a data set of ``PAIRED_DATASETS`` (pix2pix) or ``UNPAIRED_DATASETS`` (CycleGAN).
        kind: ``paired`` (pix2pix archives) or ``unpaired`` (CycleGAN archives); facades and maps exist as both.

    Returns:
        The URL of the archive.
    """
    if kind not in LAYOUT:
        raise UserInputError(f"kind must be 'paired' or 'unpaired', got {kind!r}")
    names = PAIRED_DATASETS if kind == "paired" else UNPAIRED_DATASETS
    if name not in names:
        raise UserInputError(
            f"unknown {kind} data set {name!r}; the reference's are: {', '.join(names)} (set dataset= to one of them)"
        )
    if name in NOT_REDISTRIBUTED:
        raise UserInputError(
            f"{name} cannot be downloaded for licence reasons: get gtFine_trainvaltest.zip and "
            "leftImg8bit_trainvaltest.zip from https://cityscapes-dataset.com and convert them with "
            "pytorch-CycleGAN-and-pix2pix's datasets/prepare_cityscapes_dataset.py"
        )
    return (PAIRED_URL if kind == "paired" else UNPAIRED_URL).format(name=name)


def _fetch(url: str, destination: Path, root: Path, kind: str) -> None:
    """Stream ``url`` into ``destination``; network failures become one line naming the URL and the folder."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(destination, "xb") as file:
            shutil.copyfileobj(response, file, length=1 << 20)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:  # HTTPError is a URLError
        reason = getattr(error, "reason", None) or error
        raise UserInputError(
            f"could not download {url} ({reason}); download it elsewhere and extract it so that {root} holds "
            f"{LAYOUT[kind]}"
        ) from None


def _extract(archive: Path, folder: Path) -> None:
    """Extract a .tar.gz or .zip archive into ``folder``, refusing members that would land outside it."""
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(folder)  # zipfile drops absolute and ".." parts of member names
    else:
        with tarfile.open(archive, "r:gz") as tarred:
            tarred.extractall(folder, filter="data")  # refuses absolute paths, "..", links out of the folder


def download_dataset(name: str, root: str | os.PathLike, kind: Literal["paired", "unpaired"]) -> Path:
    """Download and extract one of the reference's data sets so that ``root`` holds its splits.

    The reference's archives hold one top-level folder (``facades/train/...``); its contents become ``root``'s.
    Nothing is done when ``root`` already exists.

    Args:
        name: the data set, e.g. ``facades`` (paired) or ``horse2zebra`` (unpaired); see ``PAIRED_DATASETS`` and
            ``UNPAIRED_DATASETS``.
        root: the folder to create, e.g. ``datasets/facades``.
        kind: ``paired`` (pix2pix's .tar.gz) or ``unpaired`` (CycleGAN's .zip).

    Returns:
        ``root`` as a ``Path``.
    """
    root = Path(root)
    url = dataset_url(name, kind)
    if root.exists():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}.{uuid.uuid4().hex[:8]}"
    archive = root.parent / f".{root.name}.{tag}.{url.rsplit('/', 1)[-1]}"
    staging = root.parent / f".{root.name}.{tag}.extract"
    rank_zero_info(f"downloading {url} into {root}")
    try:
        _fetch(url, archive, root, kind)
        staging.mkdir()
        try:
            _extract(archive, staging)
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as error:
            raise UserInputError(
                f"the archive downloaded from {url} is damaged ({error}); run again to download it anew"
            ) from None
        entries = [entry for entry in staging.iterdir() if not entry.name.startswith(".")]
        source = entries[0] if len(entries) == 1 and entries[0].is_dir() else staging
        if root.exists():  # another process finished first: keep its copy
            return root
        os.replace(source, root)
    finally:
        archive.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
    return root
