"""The MedGen3D generator (Xiong et al. 2023): whole 3D image and multi-label mask volumes.

Fit runs five checkpointed stages: the MC-DPM mask model (``masks``), the vid2vid-like image
sequence generator (``sequence``) and the semantic diffusion refiner of each view
(``refiner0``-``refiner2``). Sampling draws mask volumes autoregressively from the MC-DPM,
paints them slice by slice with the sequence generator and, unless ``refine`` is off, refines
them with the three views' diffusion models. Samples are brought back to the training data's
shape and spacing; images come out in [0, 1] (the training images divided by their 99th
percentile), one channel per training channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from bench.api.case import Case, CaseSet
from bench.api.errors import ConfigError, DataError
from bench.api.generator import CHANNELS, FitContext, SampleContext
from bench.api.seeding import seeded_global_rng, torch_generator
from generators.intensity import IntensityRange
from generators.medgen3d import masks as mk
from generators.medgen3d import refiner as rf
from generators.medgen3d import sequence as sq
from generators.medgen3d.data import from_grid, to_grid, volume_bank
from generators.slicing import DEFAULT_SLICE_AXIS, KeptAxis, slicing_axis
from generators.state import FittedGenerator


class MedGen3DParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: int = Field(64, ge=8)  # in-plane pixels of every slice (the paper: 128)
    depth: int = Field(32, ge=4)  # slices along the sequence axis after resampling
    axis: KeptAxis = 2  # not a choice: see generators.slicing
    norm_groups: int = 8
    checkpoint_every: int = Field(100, ge=1)
    sample_batch: int = Field(8, ge=1)
    train_timesteps: int = Field(1000, ge=2)
    # MC-DPM. The paper gives m = 6; n and the three probabilities are not stated.
    m: int = Field(6, ge=2)
    n_cond: int = Field(3, ge=1)
    p_uncond: float = Field(0.2, ge=0.0, le=1.0)
    p_forward: float = Field(0.4, ge=0.0, le=1.0)
    p_backward: float = Field(0.4, ge=0.0, le=1.0)
    position_bins: int = Field(16, ge=1)
    mask_channels: tuple[int, ...] = (32, 64, 64)
    mask_attention: tuple[bool, ...] = (False, False, True)
    mask_res_blocks: int = 1
    mask_head_channels: int = 32
    mask_steps: int = Field(1000, ge=1)
    mask_batch: int = Field(16, ge=1)
    mask_lr: float = 1e-4
    sample_steps: int | None = Field(50, ge=1)  # DDIM steps; None: DDPM over every step
    # what the MC-DPM predicts: the paper's noise (Eq. 4), or the clean mask, which at CPU
    # budgets keeps DDIM's samples on the mask levels (with noise they fell between them: 95%
    # of the demo's voxels came out brain)
    mask_prediction: Literal["epsilon", "sample", "v_prediction"] = "epsilon"
    # how a mask slice enters the MC-DPM: the paper's label levels, one channel per slice, or
    # one channel per label (argmax), which cannot put CSF on every background/brain border
    mask_encoding: Literal["levels", "one_hot"] = "levels"
    # image sequence generator and its discriminators
    seq_channels: tuple[int, ...] = (32, 64, 128)
    seq_len: int = Field(4, ge=2)
    seq_steps: int = Field(1000, ge=1)
    seq_batch: int = Field(4, ge=1)
    seq_lr: float = 2e-4
    disc_scales: int = Field(2, ge=1)
    disc_layers: int = Field(2, ge=1)
    disc_channels: int = 32
    w_fm: float = 10.0  # pix2pixHD / vid2vid
    w_l1: float = 10.0  # stands in for vid2vid's VGG loss
    w_warp: float = 10.0
    w_smooth: float = 0.1
    # semantic diffusion refiner, one per view
    refine: bool = True
    refine_steps: int = Field(10, ge=1)  # the paper: 10 noising steps
    refiner_channels: tuple[int, ...] = (32, 64, 64)
    refiner_attention: tuple[bool, ...] = (False, False, True)
    refiner_res_blocks: int = 1
    refiner_head_channels: int = 32
    refiner_spade_channels: int = 32
    refiner_steps: int = Field(1000, ge=1)
    refiner_batch: int = Field(16, ge=1)
    refiner_lr: float = 1e-4

    @model_validator(mode="after")
    def _consistent(self):
        if self.n_cond >= self.m:
            raise ValueError(f"n_cond ({self.n_cond}) must be smaller than m ({self.m})")
        if self.m > self.depth or self.seq_len > self.depth:
            raise ValueError(f"m and seq_len must not exceed depth ({self.depth})")
        if abs(self.p_uncond + self.p_forward + self.p_backward - 1.0) > 1e-6:
            raise ValueError("p_uncond + p_forward + p_backward must be 1")
        for name in ("mask", "refiner"):
            levels = len(getattr(self, f"{name}_channels"))
            if len(getattr(self, f"{name}_attention")) != levels:
                raise ValueError(f"{name}_attention needs one entry per {name}_channels level")
            factor = 2 ** (levels - 1)
            if self.size % factor or (name == "refiner" and self.depth % factor):
                raise ValueError(f"size (and depth, for the refiner) must be divisible by "
                                 f"2^(len({name}_channels)-1) = {factor}")
        for c in (*self.mask_channels, *self.refiner_channels):
            if c % self.norm_groups:
                raise ValueError(f"channels {c} not divisible by norm_groups {self.norm_groups}")
        if self.size % 2 ** (len(self.seq_channels) - 1):
            raise ValueError("size must be divisible by 2^(len(seq_channels)-1)")
        # MONAI's multi-scale discriminator gives its i-th scale i x disc_layers layers
        if self.size < 2 ** (self.disc_layers * self.disc_scales + 2):
            raise ValueError(f"size {self.size} is too small for {self.disc_scales} "
                             f"discriminator scales of {self.disc_layers} layers")
        return self


PRESETS = {
    "tiny": {"size": 16, "depth": 16, "m": 4, "n_cond": 2, "position_bins": 4,
             "train_timesteps": 20, "sample_steps": None, "mask_channels": (8, 16),
             "mask_attention": (False, False), "mask_head_channels": 8, "mask_steps": 4,
             "mask_batch": 2, "seq_channels": (8, 16), "seq_len": 3, "seq_steps": 4,
             "seq_batch": 2, "disc_scales": 1, "disc_layers": 1, "disc_channels": 8,
             "refine_steps": 3, "refiner_channels": (8, 16),
             "refiner_attention": (False, False), "refiner_head_channels": 8,
             "refiner_spade_channels": 8, "refiner_steps": 4, "refiner_batch": 2,
             "checkpoint_every": 2, "sample_batch": 2},
    "demo": {"size": 32, "depth": 32, "position_bins": 8, "mask_channels": (32, 64),
             # the clean mask as one-hot channels: with the paper's noise target and levels,
             # DDIM's samples were 95% brain; with levels, 2.6 times the real CSF (README)
             "mask_prediction": "sample", "mask_encoding": "one_hot",
             "mask_attention": (False, True), "mask_steps": 2000, "mask_lr": 5e-4,
             "sample_steps": 50, "seq_channels": (16, 32, 64), "seq_steps": 600,
             "disc_channels": 16, "disc_layers": 1, "refiner_channels": (16, 32),
             "refiner_attention": (False, False), "refiner_spade_channels": 16,
             "refiner_steps": 400,
             "refiner_lr": 5e-4},
    # Section 4.1: 128 x 128 slices, m = 6, 10 refinement steps of a 1000-step DDPM, DDPM
    # sampling. OASIS' crop is 192 slices deep. Networks and budgets are not in the paper:
    # MONAI's DDPM tutorial sizes and vid2vid's defaults.
    "paper": {"size": 128, "depth": 192, "norm_groups": 32, "position_bins": 32,
              "mask_channels": (128, 256, 256), "mask_attention": (False, True, True),
              "mask_res_blocks": 2, "mask_head_channels": 64, "mask_steps": 200000,
              "mask_batch": 32, "mask_lr": 1e-4, "sample_steps": None,
              "seq_channels": (64, 128, 256, 512), "seq_len": 6, "seq_steps": 100000,
              "seq_batch": 4, "disc_scales": 2, "disc_layers": 2, "disc_channels": 64,
              "refiner_channels": (128, 256, 256), "refiner_attention": (False, True, True),
              "refiner_res_blocks": 2, "refiner_head_channels": 64,
              "refiner_spade_channels": 128, "refiner_steps": 200000, "refiner_batch": 16,
              "checkpoint_every": 2000},
}


@dataclass
class MedGen3DState:
    """Everything sampling needs besides the networks, set by fit or load."""

    labels: dict[int, str]
    channels: list[str]
    n_labels: int
    spacing: tuple[float, ...]  # samples come back on the training data's grid
    shape: tuple[int, ...]
    training_volumes: int
    intensity: IntensityRange  # the unit range -> the training data's units
    # the refiner keeps its samples within the real images' range, no tighter
    working_range: tuple[float, float]
    steps: dict[str, int]
    slice_axis: int = DEFAULT_SLICE_AXIS  # the sequence axis: the data's slicing axis


class MedGen3D(FittedGenerator):
    name: ClassVar[str] = "medgen3d"
    spatial_dims: ClassVar[int] = 3  # samples volumes
    # 2: masks resampled at voxel centres (on their images); samples in the data's units
    version: ClassVar[str] = "2"
    Params: ClassVar[type[BaseModel]] = MedGen3DParams
    State: ClassVar[type] = MedGen3DState
    presets: ClassVar[dict[str, dict]] = PRESETS
    sampling_options: ClassVar[frozenset[str]] = frozenset({CHANNELS})  # no style, no lesions
    state: MedGen3DState | None

    # ---- fit -------------------------------------------------------------------------------
    def fit(self, train: CaseSet, ctx: FitContext) -> None:
        """Every weight initialisation and stage draws from ``ctx.seed`` alone."""
        with seeded_global_rng(ctx.seed, ctx.device):
            self._fit(train, ctx)

    def _fit(self, train: CaseSet, ctx: FitContext) -> None:
        p, axis = self.params, slicing_axis(train)
        bank = volume_bank(train, p.depth, p.size, axis)
        if bank.n_labels < 2:
            raise DataError("generator 'medgen3d' needs at least one foreground label")
        channels = len(bank.channels)
        ctx.log.info("medgen3d: %d volumes on a %d x %d x %d grid", len(bank.labels), p.depth,
                     p.size, p.size)
        nets = build_networks(p, bank.n_labels, channels)
        self.curves["masks"] = mk.train_masks(nets["masks"], bank, p, ctx)
        self.curves["sequence"] = sq.train_sequence(nets["sequence"], bank, p, ctx)
        for view in rf.VIEWS:
            self.curves[f"refiner{view}"] = rf.train_refiner(nets[f"refiner{view}"], view,
                                                             bank, p, ctx)
        self.nets = {k: v.cpu().eval() for k, v in nets.items()}
        self.state = MedGen3DState(
            labels=bank.label_names, channels=bank.channels, n_labels=bank.n_labels,
            spacing=tuple(bank.spacing), shape=tuple(bank.shape),
            training_volumes=len(bank.labels), intensity=bank.intensity,
            working_range=(float(bank.images.min()), float(bank.images.max())),
            steps={"masks": p.mask_steps, "sequence": p.seq_steps,
                   **{f"refiner{v}": p.refiner_steps for v in rf.VIEWS}},
            slice_axis=axis)

    @classmethod
    def networks(cls, params: MedGen3DParams, state: MedGen3DState) -> dict[str, torch.nn.Module]:
        return build_networks(params, state.n_labels, len(state.channels))

    # ---- sample ----------------------------------------------------------------------------
    def sample(self, n: int, ctx: SampleContext) -> CaseSet:
        p, s = self.params, self.fitted()
        if ctx.lesion_ratio:
            raise ConfigError("generator 'medgen3d' is not lesion-conditioned: leave the "
                              "lesion fraction unset")
        picks = ctx.channel_indices(s.channels, "the training images")
        noise = torch_generator(ctx.seed, ctx.device)
        labels, _ = mk.generate(self.nets["masks"].to(ctx.device), mk.sampler(p), n, p.depth,
                                p.size, p, ctx.device,
                                np.random.default_rng(ctx.seed), noise)
        images = self.paint_grid(labels, ctx.device, p.refine, noise)
        cases = []
        for i in range(n):
            label = from_grid(labels[i][None], s.slice_axis, s.shape, "nearest")[0]
            image = self._data_units(from_grid(images[i], s.slice_axis, s.shape, "trilinear"),
                                     picks)
            cases.append(Case(f"medgen3d_{i:05d}", image,
                              label.numpy().astype(np.int16), tuple(s.spacing),
                              meta={"source": self.name}))
        return CaseSet(cases, dict(s.labels), [s.channels[i] for i in picks], 3,
                       {"source": self.name, "refined": p.refine})

    def paint_grid(self, labels: torch.Tensor, device: str, refine: bool,
                   noise: torch.Generator) -> torch.Tensor:
        """Images in the unit range (N, C, D, H, W) for label volumes on the grid (N, D, H, W);
        the refiner's noise comes from ``noise`` (a generator on ``device``)."""
        p, s = self.params, self.fitted()
        images = sq.paint(self.nets["sequence"], labels, s.n_labels, device, p.sample_batch)
        if refine:
            nets = [self.nets[f"refiner{v}"] for v in rf.VIEWS]
            images = rf.refine(nets, images, labels, s.n_labels, p, device,
                               tuple(s.working_range), noise)
        return (images + 1.0) / 2.0

    def _data_units(self, image: torch.Tensor, picks: list[int]) -> np.ndarray:
        """(C, *s) unit-range image → the picked channels in the training data's units."""
        intensity = self.fitted().intensity.pick(picks)
        return intensity.from_unit(image[picks]).numpy().astype(np.float32)

    def images_for(self, maps: CaseSet, ctx: SampleContext, refine: bool | None = None
                   ) -> CaseSet:
        """Images for given 3D label volumes (e.g. held-out real masks), which they keep.

        This is the conditional image generator alone: how well a segmenter trained on real
        data finds the given masks in these images is the image-mask alignment.
        """
        p, s = self.params, self.fitted()
        if maps.spatial_dims != 3:
            raise DataError("images_for needs 3D label volumes")
        if any(v not in s.labels for v in maps.labels):
            raise DataError(f"images_for: labels {maps.labels} are not the training labels "
                            f"{s.labels}")
        picks = ctx.channel_indices(s.channels, "the training images")
        grid = torch.stack([to_grid(c.label[None], s.slice_axis, p.depth, p.size,
                                    "nearest")[0] for c in maps]).long()
        images = self.paint_grid(grid, ctx.device, p.refine if refine is None else refine,
                                 torch_generator(ctx.seed, ctx.device))
        cases = [Case(c.id, self._data_units(from_grid(images[i], s.slice_axis,
                                                       c.spatial_shape, "trilinear"), picks),
                      c.label, c.spacing,
                      meta={"source": self.name, "mask": c.id})
                 for i, c in enumerate(maps)]
        return CaseSet(cases, dict(maps.labels), [s.channels[i] for i in picks], 3,
                       {"source": self.name})


def build_networks(p: MedGen3DParams, n_labels: int, channels: int) -> dict[str, torch.nn.Module]:
    """The MC-DPM, the sequence generator and one refiner per view, untrained."""
    nets = {"masks": mk.MCDPM(p, n_labels), "sequence": sq.SequenceGenerator(n_labels, channels, p)}
    for view in rf.VIEWS:
        nets[f"refiner{view}"] = rf.build(n_labels, channels, p)
    return nets
