"""Pretrained weight files for the fidelity metrics: found on disk, or fetched once and verified.

A :class:`WeightFile` names one file, its canonical URL and a pinned SHA-256. :func:`ensure`
looks for it in a folder the user names and in the torch hub cache (``<hub>/checkpoints``, where
torchvision, torchmetrics and torch-fidelity put theirs); when it is absent and network access
is allowed, it downloads the file there. Every file is verified against its pinned hash before
use, whether downloaded or found, so that a truncated or replaced file can never produce a
number. A download is written to a temporary file beside the target and moved into place only
once complete and verified (``os.replace``): an interrupted or corrupted transfer leaves nothing
in the cache.

Offline (``--offline``, ``fidelity.offline`` or ``SYNTH2SEG_OFFLINE=1``) nothing is fetched and a
missing file raises :class:`Unavailable` with a one-line reason: which file, where it was looked
for, and how to provide it.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

OFFLINE_ENV = "SYNTH2SEG_OFFLINE"
CHUNK = 1 << 20


class Unavailable(Exception):
    """A metric cannot be computed here; the message says why and what to do, in one line."""


class WeightsError(Unavailable):
    """A weight file is not the pinned one (wrong hash) or its transfer broke off."""


@dataclass(frozen=True)
class WeightFile:
    """One pretrained file. ``sha256`` is the full hex digest, or a prefix of it where only the
    prefix is published (torch.hub's ``check_hash`` convention: the prefix is in the name)."""

    filename: str
    url: str
    sha256: str
    what: str  # the metric it serves, for messages: "Inception (FID/KID)"
    member: str | None = None  # the file's path inside a zip archive at ``url``, if it ships so

    @property
    def pinned(self) -> str:
        return "SHA-256" if len(self.sha256) == 64 else f"SHA-256 prefix {self.sha256}"


# The files the fidelity metrics use, by key. Hashes: torchvision and torch-fidelity publish only
# the first 8 hex digits of the SHA-256, in the file name (what torch.hub's check_hash verifies),
# so only that prefix is pinned for them. The medical files have full SHA-256 digests, each
# reported identically by several independent projects that verify them (MedicalNet's also is the
# Hugging Face LFS object id, 57,456,599 bytes).
WEIGHTS: dict[str, WeightFile] = {
    "inception": WeightFile(
        "weights-inception-2015-12-05-6726825d.pth",
        "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
        "weights-inception-2015-12-05-6726825d.pth", "6726825d", "Inception (FID/KID)"),
    "alexnet": WeightFile(
        "alexnet-owt-7be5be79.pth", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        "7be5be79", "LPIPS (AlexNet)"),
    # RadImageNet's own PyTorch release (github.com/BMEII-AI/RadImageNet): a zip on Google Drive
    # holding torchvision-layout backbones. Google Drive may answer a large file with a
    # confirmation page instead of the zip; the message then says to fetch it by hand.
    "radimagenet": WeightFile(
        "RadImageNet-ResNet50.pt",
        "https://drive.google.com/uc?export=download&id=1RHt2GnuOYlc_gcoTETtBDSW73mFyRAtR",
        "08629f7e7bd3e29b8ee9522ca3f65ce4d010a7ddf74f0ea3c7e3f3d0bbab0734",
        "RadImageNet ResNet-50", member="RadImageNet_pytorch/ResNet50.pt"),
    # Tencent MedicalNet ResNet-10 pretrained on 23 datasets, the 3D extractor of MONAI's
    # generative tutorials (via the Warvito/MedicalNet-models hub entry point).
    "medicalnet": WeightFile(
        "resnet_10_23dataset.pth",
        "https://huggingface.co/TencentMedicalNet/MedicalNet-Resnet10/resolve/main/"
        "resnet_10_23dataset.pth",
        "afa8055f3e47f4a18239495d92a7abc587902c69c31c743de2b2784653b72605",
        "MedicalNet ResNet-10"),
}


def offline_requested(flag: bool = False) -> bool:
    """True when the caller, or the environment variable ``SYNTH2SEG_OFFLINE``, forbids fetching."""
    return flag or os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def cache_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def search_dirs(weights_dir: Path | str | None) -> list[Path]:
    return [*([Path(weights_dir)] if weights_dir else []), cache_dir()]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, weight: WeightFile) -> str:
    """The file's full SHA-256, after checking it against the pinned hash (or prefix)."""
    digest = sha256_of(path)
    if not digest.startswith(weight.sha256.lower()):
        raise WeightsError(f"{weight.what} weights {path} have SHA-256 {digest[:16]}..., not the "
                           f"pinned {weight.sha256[:16]}...: delete the file and fetch it again")
    return digest


def ensure(weight: WeightFile, weights_dir: Path | str | None = None,
           offline: bool = False) -> tuple[Path, str]:
    """The verified file and its full SHA-256; fetched into the hub cache if missing and allowed."""
    dirs = search_dirs(weights_dir)
    for folder in dirs:
        if (folder / weight.filename).is_file():
            path = folder / weight.filename
            return path, verify(path, weight)
    if offline_requested(offline):
        where = " or ".join(str(d) for d in dirs)
        raise Unavailable(f"{weight.what} weights {weight.filename} not found in {where} and "
                          f"offline ({OFFLINE_ENV}=1 or --offline): copy the file there from "
                          f"{weight.url}, or pass --weights-dir")
    target = cache_dir() / weight.filename
    return target, download(weight, target)


def download(weight: WeightFile, target: Path) -> str:
    """Fetch ``weight.url`` to ``target`` atomically; the full SHA-256 of what was written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part",
                                       dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            _transfer(weight, out)
        if weight.member is not None:
            _extract(weight, Path(partial))
        digest = sha256_of(Path(partial))
        if not digest.startswith(weight.sha256.lower()):
            raise WeightsError(f"{weight.what} weights from {weight.url} have SHA-256 "
                               f"{digest[:16]}..., not the pinned {weight.sha256[:16]}...; "
                               "nothing was cached")
        os.replace(partial, target)
    except (OSError, ValueError, KeyError, http.client.HTTPException) as exc:  # URLError, ...
        raise WeightsError(f"{weight.what} weights could not be fetched from {weight.url} "
                           f"({type(exc).__name__}: {exc}); nothing was cached; copy "
                           f"{weight.filename} into {target.parent} by hand, or pass --offline"
                           ) from None
    finally:
        Path(partial).unlink(missing_ok=True)
        Path(partial).with_suffix(".member").unlink(missing_ok=True)
    return digest


def _transfer(weight: WeightFile, out) -> None:
    received = 0
    with urllib.request.urlopen(weight.url, timeout=60) as response:
        expected = response.headers.get("Content-Length")
        for block in iter(lambda: response.read(CHUNK), b""):
            out.write(block)
            received += len(block)
    if expected is not None and received != int(expected):
        raise WeightsError(f"{weight.what} weights from {weight.url}: the transfer stopped after "
                           f"{received} of {expected} bytes; nothing was cached")


def _extract(weight: WeightFile, path: Path) -> None:
    """Replace a downloaded archive by its one member that is the weight file."""
    if not zipfile.is_zipfile(path):
        raise WeightsError(f"{weight.what} weights from {weight.url}: expected a zip archive "
                           f"holding {weight.member}, got something else (a sign-in or "
                           "confirmation page?); nothing was cached")
    with zipfile.ZipFile(path) as archive, archive.open(weight.member) as member, \
            open(path.with_suffix(".member"), "wb") as out:
        shutil.copyfileobj(member, out, CHUNK)
    os.replace(path.with_suffix(".member"), path)
