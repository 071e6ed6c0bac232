"""The embedded brain phantom: the default dataset, built from the MNI152 2009 template in nilearn.

Every subject starts from the template's grey- and white-matter probability maps (CSF is the brain
mask minus both), then gets what makes real subjects differ: atrophy (CSF growing into tissue), an
optional tumour with oedema and mass effect, and a smooth non-linear deformation plus a small
affine. Images are synthesised from the partial-volume maps per MR sequence and per site, so the
three test conditions of the brainSPADE paper exist without downloading anything:

- site ``A``: the training site, T1 that keeps the real template's intensity detail;
- site ``B``: another T1 protocol (other contrast, stronger bias field, blur and noise): near OOD;
- site ``C``: FLAIR: far OOD.

Labels: 0 background, 1 CSF, 2 grey matter, 3 white matter, and with lesions 4 tumour, 5 oedema.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, field_validator
from scipy import ndimage, special
from threadpoolctl import threadpool_limits

from bench.api.case import Case, CaseSet

PHANTOM_VERSION = 2  # 2: one BLAS thread, so the same bytes on every machine (1 varied with it)
TISSUES = ("background", "CSF", "grey matter", "white matter")
LESIONS = ("tumour", "oedema")
SEQUENCES = ("T1", "T2", "FLAIR")

# Mean intensity per label value (background, CSF, GM, WM, tumour, oedema) for each sequence.
CONTRAST = {
    "T1": (0.0, 0.30, 0.60, 0.85, 0.45, 0.50),
    "T2": (0.0, 1.00, 0.65, 0.45, 0.75, 0.85),
    "FLAIR": (0.0, 0.10, 0.60, 0.45, 0.85, 1.00),
}


class SiteProtocol(BaseModel):
    """How one site images a subject: contrast changes, artefacts and noise."""

    model_config = ConfigDict(frozen=True)
    default_channels: tuple[str, ...]
    contrast: dict[str, tuple[float, ...]] = {}  # overrides of CONTRAST per sequence
    gamma: float = 1.0
    template_detail: float = 0.0  # weight of the real template T1's residual detail (T1 only)
    bias: float = 0.1  # std of the log bias field
    blur: float = 0.5  # Gaussian sigma in voxels
    noise: float = 0.02  # Rician noise sigma, relative to white matter on T1
    texture: float = 0.04  # std of the multiplicative tissue texture


SITES: dict[str, SiteProtocol] = {
    "A": SiteProtocol(default_channels=("T1",), template_detail=1.0, bias=0.05, blur=0.4,
                      noise=0.015),
    "B": SiteProtocol(default_channels=("T1",),
                      contrast={"T1": (0.0, 0.42, 0.66, 0.80, 0.52, 0.56)},
                      gamma=0.8, template_detail=0.3, bias=0.12, blur=1.0, noise=0.035),
    "C": SiteProtocol(default_channels=("FLAIR",), bias=0.08, blur=0.7, noise=0.03),
}


class PhantomConfig(BaseModel):
    """Everything that determines a phantom dataset; its hash keys the on-disk cache."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    subjects: int = Field(20, ge=1, le=10_000)
    site: Literal["A", "B", "C"] = "A"
    channels: tuple[str, ...] | None = None  # None: the site's default sequence
    lesions: bool = False
    lesion_probability: float = Field(1.0, ge=0.0, le=1.0)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    resolution: float = Field(2.0, gt=0.5, le=4.0)  # isotropic voxel size in mm
    deformation_mm: float = Field(3.0, ge=0.0)  # std of the smooth displacement
    max_rotation_deg: float = Field(5.0, ge=0.0)
    max_scale: float = Field(0.06, ge=0.0)
    max_atrophy: float = Field(0.5, ge=0.0, le=0.9)

    @field_validator("channels")
    @classmethod
    def _known_sequences(cls, value):
        if value is not None:
            unknown = [c for c in value if c not in SEQUENCES]
            if unknown or not value:
                raise ValueError(f"channels must be a non-empty subset of {SEQUENCES}")
        return value

    @property
    def sequences(self) -> tuple[str, ...]:
        return self.channels or SITES[self.site].default_channels

    @property
    def labels(self) -> dict[int, str]:
        names = TISSUES + (LESIONS if self.lesions else ())
        return dict(enumerate(names))

    def key(self) -> str:
        payload = json.dumps({"v": PHANTOM_VERSION, **self.model_dump()}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def default_cache_dir() -> Path:
    return Path(os.environ.get("SYNTH2SEG_CACHE", Path.home() / ".cache" / "synth2seg"))


def make_phantom(config: PhantomConfig | None = None, cache_dir: Path | None = None,
                 use_cache: bool = True) -> CaseSet:
    """The phantom CaseSet for ``config``; subjects are read from the cache when present."""
    config = config or PhantomConfig()
    folder = (cache_dir or default_cache_dir()) / "phantom" / config.key()
    template = _template(config.resolution)
    cases = []
    for i in range(config.subjects):
        path = folder / f"{i:04d}.npz"
        case = _read_cached(path, config, i, template) if use_cache else None
        if case is None:
            case = make_subject(config, i, template)
            if use_cache:
                _write_cached(path, case)
        cases.append(case)
    meta = {"source": "phantom", "site": config.site, "config": config.model_dump(mode="json")}
    return CaseSet(cases, config.labels, list(config.sequences), 3, meta)


def subject_id(config: PhantomConfig, index: int) -> str:
    """Unique per (site, seed, index): two specs share an id only when they share the subject."""
    return f"phantom{config.site}_s{config.seed}_{index:03d}"


def _one_blas_thread(function):
    """Run ``function`` with one BLAS thread: more threads sum in another order, and the
    phantom's bytes (its fingerprint, every fit key and number built on it) would depend on
    the machine."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return function(*args, **kwargs)
    return wrapper


@_one_blas_thread
def make_subject(config: PhantomConfig, index: int, template: Template | None = None) -> Case:
    """Subject ``index`` of ``config``: deterministic given the seed, the site and the index."""
    template = template or _template(config.resolution)
    site_number = "ABC".index(config.site)
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, site_number, index]))
    pv = template.pv.copy()
    atrophy = rng.uniform(0.0, config.max_atrophy)
    _atrophy(pv, atrophy)
    detail = template.detail[None].copy()
    has_lesion = config.lesions and rng.uniform() < config.lesion_probability
    if config.lesions:
        pv = np.concatenate([pv, np.zeros((2, *pv.shape[1:]), np.float32)])
    if has_lesion:
        pv, detail = _add_tumour(pv, detail, template, rng)
    warped = _warp(np.concatenate([pv, detail]), _subject_grid(config, template, rng))
    pv, detail = warped[:-1], warped[-1]
    pv = np.clip(pv, 0.0, None)
    pv /= pv.sum(0, keepdims=True)
    label = pv.argmax(0).astype(np.uint8)
    image = np.stack([_synthesise(pv, detail, seq, SITES[config.site], rng)
                      for seq in config.sequences])
    meta = {"site": config.site, "lesion": bool(has_lesion), "source": "phantom",
            "channels": list(config.sequences), "atrophy": round(float(atrophy), 4)}
    case_id = subject_id(config, index)
    spacing = (config.resolution,) * 3
    return Case(case_id, image, label, spacing, pv=pv, affine=template.affine.copy(), meta=meta)


class Template:
    """The MNI152 2009 template cropped to the brain: partial volumes, residual T1 detail."""

    def __init__(self, pv: np.ndarray, detail: np.ndarray, affine: np.ndarray, depth: np.ndarray):
        self.pv, self.detail, self.affine, self.depth = pv, detail, affine, depth

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.pv.shape[1:])


@lru_cache(maxsize=4)
@_one_blas_thread
def _template(resolution: float) -> Template:
    from nilearn import datasets, image

    loaders = (datasets.load_mni152_template, datasets.load_mni152_gm_template,
               datasets.load_mni152_wm_template, datasets.load_mni152_brain_mask)
    if float(resolution).is_integer():
        imgs = [load(resolution=int(resolution)) for load in loaders]
    else:
        target = np.diag([resolution] * 3)
        imgs = [image.resample_img(load(resolution=1), target_affine=target,
                                   interpolation="nearest" if load is loaders[-1] else "continuous",
                                   force_resample=True, copy_header=True)
                for load in loaders]
    t1, gm, wm, mask = (np.asarray(img.get_fdata(), np.float32) for img in imgs)
    mask = (mask > 0.5).astype(np.float32)
    gm, wm = np.clip(gm, 0, 1) * mask, np.clip(wm, 0, 1) * mask
    tissue = gm + wm
    over = tissue > 1.0
    gm[over], wm[over] = gm[over] / tissue[over], wm[over] / tissue[over]
    csf = np.clip(mask - gm - wm, 0.0, 1.0)
    pv = np.stack([1.0 - csf - gm - wm, csf, gm, wm]).astype(np.float32)
    # Crop to the brain with a margin, padding where the brain touches the field of view.
    margin = 4
    nz = np.argwhere(mask > 0)
    lo, hi = nz.min(0) - margin, nz.max(0) + margin + 1
    pad = [(max(0, -a), max(0, b - n)) for a, b, n in zip(lo, hi, mask.shape, strict=True)]
    lo_c, hi_c = np.maximum(lo, 0), np.minimum(hi, mask.shape)
    crop = tuple(slice(a, b) for a, b in zip(lo_c, hi_c, strict=True))

    def cut(volume, fill=0.0):
        return np.pad(volume[crop], pad, constant_values=fill)

    pv = np.stack([cut(pv[0], 1.0)] + [cut(p) for p in pv[1:]])
    t1, mask = cut(t1), cut(mask)
    t1 = t1 / np.percentile(t1[mask > 0], 99)
    # The real T1 detail is what a tissue-mean model of the template cannot explain.
    inside = mask > 0
    design = pv[1:, inside].T
    means, *_ = np.linalg.lstsq(design, t1[inside], rcond=None)
    detail = np.zeros_like(t1)
    detail[inside] = t1[inside] - design @ means
    detail /= means.max()  # in units of the brightest tissue, as CONTRAST is
    affine = imgs[0].affine.copy()
    affine[:3, 3] += affine[:3, :3] @ lo  # voxel 0 of the crop is voxel ``lo`` of the template
    depth = ndimage.distance_transform_edt(inside).astype(np.float32)
    return Template(pv.astype(np.float32), detail.astype(np.float32), affine, depth)


def _smooth_noise(rng, shape, sigma: float) -> np.ndarray:
    """Zero-mean, unit-std Gaussian random field with correlation length ``sigma`` voxels."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    return (field - field.mean()) / (field.std() + 1e-8)


def _coarse_field(rng, shape, channels: int, spacing_vox: float) -> np.ndarray:
    """Smooth random fields: normal values on a coarse grid, cubic-upsampled to a quarter of
    ``shape`` and linearly from there (full-size cubic interpolation costs ten times more)."""
    coarse = [max(2, int(np.ceil(n / spacing_vox)) + 1) for n in shape]
    grid = rng.standard_normal((channels, *coarse)).astype(np.float32)
    middle = [max(c, int(np.ceil(n / 4))) for n, c in zip(shape, coarse, strict=True)]
    zoom = [m / c for m, c in zip(middle, coarse, strict=True)]
    smooth = np.stack([ndimage.zoom(g, zoom, order=3, mode="nearest", grid_mode=True)
                       for g in grid])
    full = F.interpolate(torch.from_numpy(smooth)[None], size=tuple(shape), mode="trilinear",
                         align_corners=True)
    return full[0].numpy()


def _atrophy(pv: np.ndarray, amount: float) -> None:
    """CSF grows into the tissue next to it: wider sulci, larger ventricles."""
    near_csf = np.clip(ndimage.gaussian_filter(pv[1], 1.5) * 3.0, 0.0, 1.0)
    gm_loss = amount * near_csf * pv[2]
    wm_loss = 0.3 * amount * near_csf * pv[3]
    pv[2] -= gm_loss
    pv[3] -= wm_loss
    pv[1] += gm_loss + wm_loss


def _add_tumour(pv, detail, template: Template, rng):
    """An irregular core with oedema around it, placed in white matter, pushing tissue away."""
    res = float(np.mean(np.abs(np.diag(template.affine)[:3])))
    core_r = rng.uniform(9.0, 20.0) / res
    edema_r = core_r * rng.uniform(1.4, 2.0)
    candidates = np.argwhere((pv[3] > 0.6) & (template.depth > edema_r + 2))
    if len(candidates) == 0:
        candidates = np.argwhere(template.depth >= template.depth.max() * 0.8)
    centre = candidates[rng.integers(len(candidates))].astype(np.float32)
    coords = np.indices(template.shape, dtype=np.float32)
    offset = coords - centre[:, None, None, None]
    dist = np.sqrt((offset**2).sum(0)) + 1e-6
    # Mass effect: sample each voxel from nearer the centre, fading with distance and at the skull.
    push = rng.uniform(0.3, 0.6) * core_r * np.exp(-(dist**2) / (2 * (1.5 * edema_r) ** 2))
    push *= np.clip(template.depth / 3.0, 0.0, 1.0)
    source = coords - push * offset / dist
    warped = _warp(np.concatenate([pv, detail]), _voxel_grid(source, template.shape))
    pv, detail = warped[:-1], warped[-1:]
    brain = 1.0 - pv[0]
    core = _soft_blob(dist, core_r, _smooth_noise(rng, template.shape, 2.0)) * brain
    edema = _soft_blob(dist, edema_r, _smooth_noise(rng, template.shape, 2.5)) * (1 - core)
    edema *= np.clip(pv[3] + 0.5 * pv[2], 0.0, 1.0)
    keep = 1.0 - core - edema
    pv[:4] *= keep
    pv[4], pv[5] = core, edema
    detail *= keep
    return pv, detail


def _soft_blob(dist: np.ndarray, radius: float, noise: np.ndarray) -> np.ndarray:
    """A ball of ``radius`` with a noisy, partial-volume boundary."""
    irregular = dist / (1.0 + 0.25 * noise)
    return special.expit((radius - irregular) / 0.7).astype(np.float32)


def _subject_grid(config: PhantomConfig, template: Template, rng) -> torch.Tensor:
    """Sampling positions: a random affine about the centre plus a smooth displacement."""
    shape = template.shape
    coords = np.indices(shape, dtype=np.float32).reshape(3, -1)
    centre = (np.array(shape, np.float32)[:, None] - 1) / 2
    angles = np.deg2rad(rng.uniform(-config.max_rotation_deg, config.max_rotation_deg, 3))
    scale = 1.0 + rng.uniform(-config.max_scale, config.max_scale, 3)
    matrix = _rotation(angles) @ np.diag(1.0 / scale)
    shift = rng.uniform(-1.5, 1.5, 3)[:, None] / config.resolution
    source = matrix @ (coords - centre) + centre + shift
    if config.deformation_mm > 0:
        field = _coarse_field(rng, shape, 3, spacing_vox=20.0 / config.resolution)
        source = source + field.reshape(3, -1) * (config.deformation_mm / config.resolution)
    return _voxel_grid(source.reshape(3, *shape), shape)


def _rotation(angles: np.ndarray) -> np.ndarray:
    cx, cy, cz = np.cos(angles)
    sx, sy, sz = np.sin(angles)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return (rz @ ry @ rx).astype(np.float32)


def _voxel_grid(source: np.ndarray, shape) -> torch.Tensor:
    """Voxel positions (3, X, Y, Z) as the normalised (1, X, Y, Z, 3) grid of grid_sample."""
    sizes = np.array(shape, np.float32).reshape(3, 1, 1, 1)
    normalised = (2.0 * source / (sizes - 1.0) - 1.0).astype(np.float32)
    # grid_sample's last axis is (W, H, D) = (Z, Y, X) for a volume stored as (X, Y, Z).
    return torch.from_numpy(np.ascontiguousarray(normalised[::-1].transpose(1, 2, 3, 0)))[None]


def _warp(volumes: np.ndarray, grid: torch.Tensor) -> np.ndarray:
    """Trilinear resampling of channel-first ``volumes`` at ``grid``; outside stays at the edge."""
    out = F.grid_sample(torch.from_numpy(np.ascontiguousarray(volumes))[None], grid,
                        mode="bilinear", padding_mode="border", align_corners=True)
    return out[0].numpy()


def _synthesise(pv, detail, sequence: str, site: SiteProtocol, rng) -> np.ndarray:
    """One MR sequence from partial volumes: tissue means, texture, detail, bias, blur, noise."""
    means = np.array(site.contrast.get(sequence, CONTRAST[sequence])[: len(pv)], np.float32)
    means = means * (1.0 + rng.normal(0.0, 0.03, len(means))).astype(np.float32)
    image = np.tensordot(means, pv, axes=1)
    image *= 1.0 + site.texture * _smooth_noise(rng, image.shape, 1.0)
    if sequence == "T1" and site.template_detail:
        image += site.template_detail * detail
    image = np.clip(image, 0.0, None) ** site.gamma
    bias = _coarse_field(rng, image.shape, 1, spacing_vox=image.shape[0] / 2.0)[0]
    image *= np.exp(site.bias * bias)
    image = ndimage.gaussian_filter(image, site.blur)
    real = image + rng.normal(0.0, site.noise, image.shape)
    imaginary = rng.normal(0.0, site.noise, image.shape)
    return np.sqrt(real**2 + imaginary**2).astype(np.float32)


def _read_cached(path: Path, config: PhantomConfig, index: int, template: Template) -> Case | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            meta.pop("id", None)
            return Case(subject_id(config, index), data["image"], data["label"],
                        (config.resolution,) * 3, pv=data["pv"],
                        affine=template.affine.copy(), meta=meta)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # a damaged cache entry is rebuilt, never trusted


def _write_cached(path: Path, case: Case) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, image=case.image, label=case.label, pv=case.pv,
             meta=json.dumps({"id": case.id, **case.meta}))
    os.replace(tmp, path)
