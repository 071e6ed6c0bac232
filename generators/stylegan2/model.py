"""The StyleGAN2 family of Vu et al.: B-SG, M-SG, C-SG and the MC-SG pipeline, as Generators.

- ``b-sg``: one StyleGAN2 whose output is the image channels followed by a one-hot mask (one
  channel per label, softmax; decoded by argmax).
- ``m-sg``: StyleGAN2 over one-hot masks only. Its samples are masks; so that they still form a
  valid dataset, their one image channel, named ``mask``, holds the label values. (The harness
  refuses to train on them next to real images: the channels differ.)
- ``c-sg``: StyleGAN2 conditioned on a one-hot mask (Figure 2 of the paper), trained on real
  (image, mask) pairs. ``sample`` paints real masks: those of labelled ``SampleContext.style``
  cases, else the training masks kept with the model; ``images_for`` paints any given masks.
- ``mc-sg``: masks from M-SG, images from C-SG for them; ``fit`` trains both.

Training data are 2D slices (``generators.slicebank``) resized or padded to ``resolution``,
each image channel in the unit range of ``generators.intensity`` (nothing clipped), then mapped to
[-1, 1]; samples are mapped back to the training data's units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bench.api.case import Case, CaseSet
from bench.api.errors import ConfigError, DataError
from bench.api.generator import CHANNELS, STYLE, FitContext, SampleContext
from bench.api.seeding import seeded_global_rng, torch_generator
from generators.intensity import IntensityRange
from generators.slicebank import SliceBank, slice_bank
from generators.slicing import DEFAULT_SLICE_AXIS, KeptAxis, slicing_axis
from generators.state import FittedGenerator
from generators.stylegan2 import gan
from generators.stylegan2.augment import MODES

Pair = tuple[float, float]


class StyleGAN2Params(BaseModel):
    """Network sizes, losses and budgets. ``kimg`` (thousands of real images shown to the
    discriminator, StyleGAN's unit), when set, replaces ``steps``."""

    model_config = ConfigDict(extra="forbid")
    resolution: int = 64
    fit: Literal["resize", "pad"] = "resize"
    axis: KeptAxis = 2  # not a choice: see generators.slicing
    min_foreground: float = Field(0.1, ge=0.0, le=1.0)
    z_dim: int = Field(256, ge=1)
    w_dim: int = Field(256, ge=1)
    mapping_layers: int = Field(2, ge=1)
    channel_base: int = Field(8192, ge=1)  # feature maps at resolution r: base / r ...
    channel_max: int = Field(256, ge=1)  # ... at most this many
    mbstd_group: int = Field(4, ge=1)
    steps: int = Field(1000, ge=1)
    kimg: float | None = Field(None, gt=0)
    batch: int = Field(16, ge=1)
    lr: float = Field(0.0025, gt=0)
    betas: Pair = (0.0, 0.99)
    r1_gamma: float = Field(1.0, ge=0)
    r1_every: int = Field(16, ge=1)
    pl_weight: float = Field(0.0, ge=0)  # StyleGAN2 uses 2; optional here
    pl_every: int = Field(4, ge=1)
    pl_decay: float = 0.01
    pl_batch_shrink: int = Field(2, ge=1)
    style_mixing: float = Field(0.9, ge=0, le=1)
    ema_kimg: float = Field(10.0, gt=0)
    ema_rampup: float | None = Field(None, gt=0)
    augment: str = "off"
    ada_target: float = Field(0.6, ge=0, le=1)
    ada_kimg: float = Field(100.0, gt=0)  # images (x1000) for p to move by 1
    truncation: float = Field(1.0, ge=0, le=1)
    keep_masks: int = Field(1000, ge=1)  # training masks C-SG keeps to sample from
    sample_batch: int = Field(64, ge=1)
    checkpoint_every: int = Field(500, ge=1)

    @field_validator("resolution")
    @classmethod
    def _power_of_two(cls, r: int) -> int:
        if r not in (32, 64, 128, 256):
            raise ValueError(f"resolution {r} must be 32, 64, 128 or 256")
        return r

    @field_validator("augment")
    @classmethod
    def _augment(cls, mode: str) -> str:
        if mode not in MODES:
            raise ValueError(f"augment '{mode}' not in {MODES}")
        return mode


PRESETS = {
    "tiny": {"resolution": 32, "z_dim": 16, "w_dim": 16, "mapping_layers": 1,
             "channel_base": 256, "channel_max": 16, "steps": 4, "batch": 4, "r1_every": 2,
             "pl_weight": 2.0, "pl_every": 2, "augment": "ada", "ema_rampup": 0.05,
             "checkpoint_every": 2, "min_foreground": 0.3, "keep_masks": 50},
    # About ten CPU minutes per GAN at 64x64 (16 to 64 feature maps): StyleGAN2-ADA's small-data
    # settings (2 mapping layers, EMA ramp-up, R1 gamma ~ 0.0002 r^2 / batch), DiffAugment on.
    "demo": {"resolution": 64, "z_dim": 128, "w_dim": 128, "mapping_layers": 2,
             "channel_base": 1024, "channel_max": 64, "steps": 1500, "batch": 16,
             "r1_gamma": 0.1, "ema_kimg": 2.0, "ema_rampup": 0.05, "augment": "diffaugment"},
    # The paper's resolution (256x256) with StyleGAN2's config for it (StyleGAN2-ADA's
    # 'paper256': 8 mapping layers, channel_base 16384, max 512, batch 64, lr 0.0025,
    # gamma 1, EMA 20 kimg, minibatch-std groups of 8, path length 2). Vu et al. do not state
    # their training length; 25000 kimg is StyleGAN2-ADA's default. Augmentation off.
    "paper": {"resolution": 256, "z_dim": 512, "w_dim": 512, "mapping_layers": 8,
              "channel_base": 16384, "channel_max": 512, "mbstd_group": 8, "kimg": 25000,
              "batch": 64, "r1_gamma": 1.0, "pl_weight": 2.0, "ema_kimg": 20.0,
              "augment": "off", "checkpoint_every": 2000},
}


@dataclass
class StyleGAN2State:
    """Everything sampling needs besides the networks, set by fit or load."""

    labels: dict[int, str]
    channels: list[str]
    spacing: tuple[float, ...]
    intensity: IntensityRange  # the unit range -> the training data's units
    steps: int
    training_slices: int
    masks: torch.Tensor  # (N, R, R) uint8: training masks C-SG paints by default ...
    mask_ids: list[str]  # ... and the training volume each one comes from
    slice_axis: int = DEFAULT_SLICE_AXIS  # the data's slicing axis; style masks are cut along it


class StyleGAN2Family(FittedGenerator):
    """Shared fit, sampling and storage; subclasses name the GANs they train (``kinds``).
    ``nets`` holds the EMA generator of each kind, under the kind's name."""

    name: ClassVar[str]
    spatial_dims: ClassVar[int] = 2  # samples slices
    version: ClassVar[str] = "2"  # 2: samples in the data's units, never clipped
    # images in the channels asked for; no style, no lesion conditioning (see each subclass)
    sampling_options: ClassVar[frozenset[str]] = frozenset({CHANNELS})
    kinds: ClassVar[tuple[gan.Kind, ...]]
    Params: ClassVar[type[BaseModel]] = StyleGAN2Params
    State: ClassVar[type] = StyleGAN2State
    presets: ClassVar[dict[str, dict]] = PRESETS
    state: StyleGAN2State | None

    # ---- fit -------------------------------------------------------------------------------
    def fit(self, train: CaseSet, ctx: FitContext) -> None:
        p = self.params
        size, axis = (p.resolution, p.resolution), slicing_axis(train)
        bank = slice_bank(train, size, p.fit, axis, p.min_foreground, [], 1)
        if p.kimg is not None:
            p = p.model_copy(update={"steps": max(1, math.ceil(p.kimg * 1000 / p.batch))})
        images, masks = to_tensors(bank)
        ctx.log.info("%s: %d training slices at %dx%d, %d steps", self.name, len(bank),
                     p.resolution, p.resolution, p.steps)
        for kind in self.kinds:
            # each GAN's initial weights and training draw from the seed alone
            with seeded_global_rng(ctx.seed, ctx.device):
                generator, discriminator = gan.build(kind, images.shape[1], masks.shape[1], p)
                ema = gan.new_ema(generator)
                self.curves[kind.name] = gan.train(kind, generator, discriminator, ema, images,
                                                   masks, p, ctx)
            self.nets[kind.name] = ema
        keep = np.random.default_rng(ctx.seed).permutation(len(bank))[:p.keep_masks]
        self.state = StyleGAN2State(
            labels=bank.labels, channels=bank.channels, spacing=tuple(bank.spacing),
            intensity=bank.intensity, steps=p.steps, training_slices=len(bank),
            masks=masks[keep].argmax(1).to(torch.uint8),
            mask_ids=[f"train_{int(bank.volume[i])}" for i in keep], slice_axis=axis)

    @classmethod
    def networks(cls, params: StyleGAN2Params, state: StyleGAN2State
                 ) -> dict[str, torch.nn.Module]:
        n_labels = max(state.labels) + 1
        return {kind.name: gan.build(kind, len(state.channels), n_labels, params)[0]
                for kind in cls.kinds}

    # ---- sample (each subclass's ``sample`` composes these) ----------------------------------
    def _check(self, ctx: SampleContext) -> StyleGAN2State:
        state = self.fitted()
        if ctx.lesion_ratio is not None:
            raise ConfigError(f"generator '{self.name}' cannot set a lesion fraction: its "
                              "GANs are not conditioned on lesions")
        return state

    def _generate(self, kind: str, n: int, ctx: SampleContext, noise: torch.Generator,
                  masks: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` outputs of the EMA generator ``kind`` (raw), in batches, on ``ctx.device``;
        latents and layer noise from ``noise`` (a generator on ``ctx.device``)."""
        p, net = self.params, self.nets[kind].to(ctx.device)
        outs = []
        for start in range(0, n, p.sample_batch):
            stop = min(n, start + p.sample_batch)
            z = torch.randn(stop - start, p.z_dim, device=ctx.device, generator=noise)
            cond = None if masks is None else masks[start:stop].to(ctx.device)
            with torch.no_grad():
                outs.append(net(z, cond, truncation=p.truncation, generator=noise).cpu())
        net.cpu()
        return torch.cat(outs) if outs else torch.empty(0)

    def _cases(self, images: np.ndarray | None, labels: np.ndarray, ids: list[str],
               channels: list[str], meta: list[dict]) -> CaseSet:
        s = self.fitted()
        if images is None:  # masks only: the label map is the one image channel
            images, channels = labels[:, None].astype(np.float32), ["mask"]
        cases = [Case(ids[i], images[i], labels[i].astype(np.int16), tuple(s.spacing),
                      meta={"source": self.name, **meta[i]}) for i in range(len(ids))]
        return CaseSet(cases, dict(s.labels), channels, 2, {"source": self.name})

    def _masks(self, n: int, ctx: SampleContext, noise: torch.Generator) -> torch.Tensor:
        """M-SG label maps (N, R, R), decoded by argmax."""
        return self._generate(gan.MASKS.name, n, ctx, noise).argmax(1)

    def _style_masks(self, style: CaseSet) -> tuple[torch.Tensor, list[str]]:
        """Label slices of labelled cases, cut and resized as the training slices were."""
        if any(c.label is None for c in style):
            raise DataError(f"generator '{self.name}' takes masks from the style cases, which "
                            "need labels")
        if max(style.labels) > max(self.fitted().labels):
            raise DataError(f"style cases have labels {sorted(style.labels)}; the generator was "
                            f"trained on {sorted(self.fitted().labels)}")
        p = self.params
        bank = slice_bank(style, (p.resolution,) * 2, p.fit, self.fitted().slice_axis,
                          p.min_foreground, [], 1)
        return bank.pv.argmax(1).to(torch.uint8), [style[int(v)].id for v in bank.volume]

    def _images(self, raw: torch.Tensor, picks: list[int]) -> np.ndarray:
        """Generated intensities from [-1, 1] back to the training data's units, unclipped."""
        intensity = self.fitted().intensity.pick(picks)
        return intensity.from_unit((raw[:, picks] + 1) / 2, channel_axis=1).numpy()

    def _paint(self, labels: torch.Tensor, ids: list[str], ctx: SampleContext,
               meta: list[dict], noise: torch.Generator) -> CaseSet:
        """C-SG images for label maps (N, R, R)."""
        s = self.fitted()
        picks = ctx.channel_indices(s.channels, f"generator '{self.name}'")
        onehot = one_hot(labels.long(), max(s.labels) + 1)
        raw = self._generate(gan.CONDITIONAL.name, len(labels), ctx, noise, onehot)
        names = [s.channels[i] for i in picks]
        return self._cases(self._images(raw, picks), labels.numpy(), ids, names, meta)

    def _images_for(self, maps: CaseSet, ctx: SampleContext) -> CaseSet:
        """C-SG images for given 2D label maps, e.g. held-out real ones (alignment checks)."""
        if gan.CONDITIONAL not in self.kinds:
            raise ConfigError(f"generator '{self.name}' has no conditional image generator")
        s = self._check(ctx)
        size = (self.params.resolution,) * 2
        if maps.spatial_dims != 2 or any(c.spatial_shape != size for c in maps):
            raise DataError(f"images_for needs 2D label maps of size {size}")
        if max(maps.labels) > max(s.labels):
            raise DataError(f"label maps have labels {sorted(maps.labels)}; the generator "
                            f"was trained on {sorted(s.labels)}")
        labels = torch.from_numpy(np.stack([c.label for c in maps]))
        return self._paint(labels, maps.ids, ctx, [{"mask": c.id} for c in maps],
                           torch_generator(ctx.seed, ctx.device))


class BSG(StyleGAN2Family):
    """B-SG: image channels and a one-hot mask from one unconditional StyleGAN2."""

    name: ClassVar[str] = "b-sg"
    kinds = (gan.JOINT,)

    def sample(self, n: int, ctx: SampleContext) -> CaseSet:
        s = self._check(ctx)
        picks = ctx.channel_indices(s.channels, f"generator '{self.name}'")
        raw = self._generate(gan.JOINT.name, n, ctx, torch_generator(ctx.seed, ctx.device))
        labels = raw[:, len(s.channels):].argmax(1).numpy()
        return self._cases(self._images(raw, picks), labels, _ids(self.name, n),
                           [s.channels[i] for i in picks], [{}] * n)


class MSG(StyleGAN2Family):
    """M-SG: one-hot masks from an unconditional StyleGAN2."""

    name: ClassVar[str] = "m-sg"
    kinds = (gan.MASKS,)
    sampling_options: ClassVar[frozenset[str]] = frozenset()  # masks only: no image channels

    def sample(self, n: int, ctx: SampleContext) -> CaseSet:
        self._check(ctx)
        masks = self._masks(n, ctx, torch_generator(ctx.seed, ctx.device))
        return self._cases(None, masks.numpy(), _ids(self.name, n), [], [{}] * n)


class CSG(StyleGAN2Family):
    """C-SG: images for real masks (of ``ctx.style`` when labelled, else kept training ones)."""

    name: ClassVar[str] = "c-sg"
    kinds = (gan.CONDITIONAL,)
    sampling_options: ClassVar[frozenset[str]] = frozenset({STYLE, CHANNELS})  # style: masks

    def images_for(self, maps: CaseSet, ctx: SampleContext) -> CaseSet:
        """Paints given label maps (the PaintsMasks capability)."""
        return self._images_for(maps, ctx)

    def sample(self, n: int, ctx: SampleContext) -> CaseSet:
        s = self._check(ctx)
        if ctx.style is not None:
            pool, pool_ids = self._style_masks(ctx.style)
        else:
            pool, pool_ids = s.masks, s.mask_ids
        pick = np.random.default_rng(ctx.seed).integers(0, len(pool), n)
        return self._paint(pool[pick], _ids(self.name, n), ctx,
                           [{"mask": pool_ids[i]} for i in pick],
                           torch_generator(ctx.seed, ctx.device))


class MCSG(StyleGAN2Family):
    """MC-SG: masks from M-SG, then C-SG images conditioned on them."""

    name: ClassVar[str] = "mc-sg"
    kinds = (gan.MASKS, gan.CONDITIONAL)

    def images_for(self, maps: CaseSet, ctx: SampleContext) -> CaseSet:
        """Paints given label maps (the PaintsMasks capability)."""
        return self._images_for(maps, ctx)

    def sample(self, n: int, ctx: SampleContext) -> CaseSet:
        self._check(ctx)
        noise = torch_generator(ctx.seed, ctx.device)  # masks first, then their images
        masks = self._masks(n, ctx, noise)
        return self._paint(masks, _ids(self.name, n), ctx, [{}] * n, noise)


def to_tensors(bank: SliceBank) -> tuple[torch.Tensor, torch.Tensor]:
    """Images in [-1, 1] and one-hot masks (of the resized slices' argmax labels)."""
    labels = bank.pv.argmax(1)
    return bank.images * 2 - 1, one_hot(labels, bank.pv.shape[1])


def one_hot(labels: torch.Tensor, n_labels: int) -> torch.Tensor:
    return F.one_hot(labels.long(), n_labels).permute(0, 3, 1, 2).float()


def _ids(name: str, n: int) -> list[str]:
    return [f"{name.replace('-', '')}_{i:05d}" for i in range(n)]

