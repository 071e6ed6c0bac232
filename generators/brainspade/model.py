"""The brainSPADE generator (Fernandez et al. 2022): labels from an LDM, images from SPADE.

Fit runs four checkpointed stages: the modality/dataset classifier, the label VAE, the LDM on the
VAE's latents, and SPADE. Sampling draws partial-volume maps from the LDM (DDPM or DDIM), then
one image per channel from SPADE in the style of a style image of that channel: by default slices
of a random real training volume, or of the unlabelled target-domain images in
``SampleContext.style``. Samples are 2D cases with partial-volume maps and their argmax labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from bench.api.case import Case, CaseSet
from bench.api.errors import ConfigError, DataError
from bench.api.generator import CHANNELS, LESION_RATIO, STYLE, FitContext, SampleContext
from bench.api.seeding import seeded_global_rng, torch_generator
from generators import perceptual
from generators.brainspade import images as img
from generators.brainspade import labels as lab
from generators.intensity import IntensityRange
from generators.slicebank import SliceBank, lesion_labels, pv_maps, slice_bank
from generators.slicing import DEFAULT_SLICE_AXIS, KeptAxis, slicing_axis
from generators.state import FittedGenerator

STAGES = ("classifier", "vae", "ldm", "spade")
Pair = tuple[float, float]


class BrainSPADEParams(BaseModel):
    """Hyper-parameters and budgets. ``*_epochs``, when set, replace ``*_steps``."""

    model_config = ConfigDict(extra="forbid")
    size: tuple[int, int] = (64, 64)
    fit: Literal["resize", "pad"] = "resize"
    axis: KeptAxis = 2  # not a choice: see generators.slicing
    min_foreground: float = Field(0.1, ge=0.0, le=1.0)  # the paper: slices with >= 10% brain
    lesion_labels: list[int] | None = None  # None: labels whose names say tumour, oedema, ...
    lesion_fraction: float | None = Field(2 / 3, ge=0.0, le=1.0)  # of LDM batches (paper: 2/3)
    min_lesion_pixels: int = Field(20, ge=1)
    norm_groups: int = 8
    checkpoint_every: int = Field(100, ge=1)
    # modality/dataset classifier (D_mod-dat)
    classifier_channels: tuple[int, ...] = (16, 32, 64)
    classifier_steps: int = Field(200, ge=0)
    classifier_epochs: float | None = None
    classifier_batch: int = Field(16, ge=1)
    classifier_lr: float = 1e-3
    # label VAE
    vae_channels: tuple[int, int, int] = (32, 64, 64)
    vae_res_blocks: int = 1
    latent_channels: int = 3
    vae_disc_channels: int = 32
    vae_disc_layers: int = 3
    vae_steps: int = Field(500, ge=1)
    vae_epochs: float | None = None
    vae_batch: int = Field(16, ge=1)
    vae_lr: float = 1e-4
    vae_betas: Pair = (0.9, 0.999)
    vae_kl: float = 1e-6
    vae_perceptual: float = 1e-3
    vae_perceptual_net: str = "auto"
    vae_adv: float = 0.01
    vae_adv_start: int = 0
    vae_dice: float = Field(0.0, ge=0.0)  # not in the paper: Dice over lesion channels keeps them
    # latent diffusion model
    ldm_channels: tuple[int, ...] = (32, 64, 64)
    ldm_attention: tuple[bool, ...] = (False, False, True)
    ldm_res_blocks: int = 1
    ldm_head_channels: int = 32
    ldm_steps: int = Field(1000, ge=1)
    ldm_epochs: float | None = None
    ldm_batch: int = Field(32, ge=1)
    ldm_lr: float = 1e-4
    ldm_betas: Pair = (0.9, 0.999)
    train_timesteps: int = 1000
    sampler: Literal["ddpm", "ddim"] = "ddim"
    sample_steps: int = Field(50, ge=1)
    sample_batch: int = Field(64, ge=1)
    # SPADE
    spade_channels: tuple[int, ...] = (32, 64, 128)
    z_dim: int = 16
    spade_hidden: int = 64
    # The parameter-free norm inside SPADE blocks: Park et al. use (synchronised) batch norm;
    # instance norm (MONAI's default) erases any spatially uniform feature, style included.
    spade_norm: Literal["BATCH", "INSTANCE"] = "BATCH"
    disc_scales: int = 2
    disc_layers: int = 2
    disc_channels: int = 32
    spade_steps: int = Field(500, ge=1)
    spade_epochs: float | None = None
    spade_batch: int = Field(8, ge=1)
    spade_lr: float = 5e-4
    spade_lr_final: float = Field(0.1, gt=0.0, le=1.0)  # exponential decay to this fraction
    spade_betas: Pair = (0.5, 0.99)
    spade_perceptual_net: str = "auto"
    w_adv: float = 1.0
    w_perceptual: float = 0.25
    w_fm: float = 0.05
    w_kld: float = 0.001
    w_contrastive: float = 1.0
    w_modality: Pair = (0.1, 2.5)  # ramped from the first to the second value
    w_site: Pair = (0.05, 0.75)
    w_l1: float = 0.0  # not in the paper; helps short (demo) budgets
    # Skull-stripped training images are zero outside the brain; SPADE's output is not exactly,
    # and noise there shifts every intensity normalisation that looks at non-zero voxels.
    mask_background: bool = True

    @model_validator(mode="after")
    def _shapes(self):
        ldm_factor = 4 * 2 ** (len(self.ldm_channels) - 1)
        spade_factor = 2 ** len(self.spade_channels)
        for factor, what in ((ldm_factor, "4 x 2^(len(ldm_channels)-1)"),
                             (spade_factor, "2^len(spade_channels)")):
            if any(s % factor for s in self.size):
                raise ValueError(f"size {self.size} must be divisible by {what} = {factor}")
        if min(self.size) < 2 * 2 ** (self.disc_layers * self.disc_scales):
            raise ValueError(f"size {self.size} is too small for {self.disc_scales} "
                             f"discriminators of {self.disc_layers} layers; lower disc_layers")
        if len(self.ldm_attention) != len(self.ldm_channels):
            raise ValueError("ldm_attention needs one entry per ldm_channels level")
        for c in (*self.vae_channels, *self.ldm_channels):
            if c % self.norm_groups:
                raise ValueError(f"channels {c} not divisible by norm_groups {self.norm_groups}")
        for choice in (self.vae_perceptual_net, self.spade_perceptual_net):
            if choice not in perceptual.CHOICES:
                raise ValueError(f"perceptual net '{choice}' not in {perceptual.CHOICES}")
        return self


PRESETS = {
    "tiny": {"size": (32, 32), "classifier_channels": (8, 16), "classifier_steps": 4,
             "classifier_batch": 4, "vae_channels": (8, 16, 16), "vae_disc_channels": 8,
             "vae_disc_layers": 2, "vae_steps": 4, "vae_batch": 4, "ldm_channels": (16, 16),
             "ldm_attention": (False, True), "ldm_head_channels": 8, "ldm_steps": 4,
             "ldm_batch": 4, "sample_steps": 5, "spade_channels": (8, 16), "z_dim": 4,
             "spade_hidden": 8, "disc_channels": 8, "disc_layers": 1,
             "spade_steps": 4, "spade_batch": 4,
             "checkpoint_every": 2, "min_foreground": 0.3},
    "demo": {"size": (64, 64), "classifier_steps": 300, "vae_channels": (16, 32, 32),
             "vae_steps": 400, "vae_lr": 5e-4, "vae_adv_start": 150, "ldm_steps": 800,
             "ldm_lr": 5e-4, "spade_steps": 500, "spade_lr": 2e-4, "w_l1": 1.0,
             "vae_dice": 1.0},
    # Appendix A: epochs, batch sizes, learning rates and loss weights; 192x256 slices, 48x64x3
    # latents; DDPM sampling with the 1000 training steps. Networks: MONAI's LDM tutorial sizes
    # and SPADE's defaults, which the paper does not restate.
    "paper": {"size": (192, 256), "norm_groups": 32,
              "classifier_channels": (32, 64, 128, 256), "classifier_epochs": 10,
              "classifier_batch": 64,
              "vae_channels": (128, 128, 256), "vae_res_blocks": 2, "vae_disc_channels": 64,
              "vae_epochs": 800, "vae_batch": 256, "vae_lr": 5e-5, "vae_betas": (0.99, 0.999),
              "vae_adv_start": 1000,
              "ldm_channels": (128, 256, 256), "ldm_attention": (False, True, True),
              "ldm_head_channels": 256, "ldm_epochs": 1500, "ldm_batch": 384,
              "ldm_lr": 2.5e-5, "ldm_betas": (0.99, 0.999), "sampler": "ddpm",
              "sample_steps": 1000, "sample_batch": 32,
              "spade_channels": (64, 128, 256, 512), "z_dim": 256, "spade_hidden": 128,
              "disc_scales": 2, "disc_layers": 3, "disc_channels": 64, "spade_epochs": 4800,
              "spade_batch": 6, "spade_lr": 5e-4, "spade_lr_final": 0.01,
              "spade_perceptual_net": "auto", "checkpoint_every": 1000},
}


@dataclass
class BrainSPADEState:
    """Everything sampling needs besides the networks, set by fit or load."""

    labels: dict[int, str]
    channels: list[str]
    sites: list[str]
    spacing: tuple[float, ...]
    intensity: IntensityRange  # the unit range -> the training data's units
    scale: float  # the LDM's latent scale factor
    conditioned: bool  # on lesion presence
    lesion_labels: list[int]
    train_lesion_fraction: float
    style_images: torch.Tensor  # (N, C, H, W) half precision: default style slices ...
    style_volume: np.ndarray  # ... and the training volume each one comes from
    losses: dict[str, str]  # which perceptual, site and modality losses were used
    steps: dict[str, int]  # per stage, after epochs became steps
    training_slices: int
    slice_axis: int = DEFAULT_SLICE_AXIS  # the data's slicing axis; style slices are cut along it


class BrainSPADE(FittedGenerator):
    name: ClassVar[str] = "brainspade"
    spatial_dims: ClassVar[int] = 2  # samples slices
    version: ClassVar[str] = "3"  # 2: samples in the data's units; 3: VAE Dice on lesions only
    Params: ClassVar[type[BaseModel]] = BrainSPADEParams
    State: ClassVar[type] = BrainSPADEState
    presets: ClassVar[dict[str, dict]] = PRESETS
    # paints in the style images' style (and channels); lesion-conditioned label generator
    sampling_options: ClassVar[frozenset[str]] = frozenset({STYLE, LESION_RATIO, CHANNELS})
    state: BrainSPADEState | None

    # ---- fit -------------------------------------------------------------------------------
    def fit(self, train: CaseSet, ctx: FitContext) -> None:
        """Every weight initialisation and stage draws from ``ctx.seed`` alone."""
        with seeded_global_rng(ctx.seed, ctx.device):
            self._fit(train, ctx)

    def _fit(self, train: CaseSet, ctx: FitContext) -> None:
        p = self.params
        lesions = lesion_labels(train.labels, p.lesion_labels)
        axis = slicing_axis(train)
        bank = slice_bank(train, tuple(p.size), p.fit, axis, p.min_foreground, lesions,
                          p.min_lesion_pixels)
        p = self._resolve_steps(len(bank))
        vae_net, vae_note = perceptual.resolve(p.vae_perceptual_net, ("squeeze", "alex", "vgg"))
        spade_net, spade_note = perceptual.resolve(p.spade_perceptual_net,
                                                   ("vgg", "squeeze", "alex"))
        conditioned = bool(lesions) and bool(bank.lesion.any())
        classifier = img.build_classifier(bank, p)
        vae, ldm = lab.build_vae(bank.pv.shape[1], p), lab.build_ldm(p, conditioned)
        spade = img.build_spade(bank.pv.shape[1], p)
        ctx.log.info("brainspade: %d training slices of %s, %s", len(bank), p.size,
                     "lesion-conditioned" if conditioned else "healthy only")

        self.curves["classifier"] = img.train_classifier(classifier, bank, p, ctx)
        self.curves["vae"] = lab.train_vae(vae, bank, p, ctx, vae_net, lesions)
        latents = lab.encode_latents(vae, bank, ctx.device)
        scale = lab.latent_scale(*latents, torch_generator(ctx.seed))
        self.curves["ldm"] = lab.train_ldm(ldm, latents, scale, bank, conditioned, p, ctx)
        self.curves["spade"] = img.train_spade(spade, classifier, bank, p, ctx, spade_net)

        self.nets = {"classifier": classifier.cpu(), "vae": vae.cpu(), "ldm": ldm.cpu(),
                     "spade": spade.cpu()}
        self.state = BrainSPADEState(
            labels=bank.labels, channels=bank.channels, sites=bank.sites,
            spacing=tuple(bank.spacing), intensity=bank.intensity, scale=scale,
            conditioned=conditioned, lesion_labels=lesions,
            train_lesion_fraction=float(bank.lesion.mean()),
            style_images=bank.images.half(), style_volume=bank.volume,
            losses={"vae_perceptual": vae_note, "spade_perceptual": spade_note,
                    "site_loss": "on" if len(bank.sites) > 1 else
                    "off (one site in the training data)",
                    "modality_loss": "on" if len(bank.channels) > 1 else
                    "off (one modality in the training data)"},
            steps={s: getattr(p, f"{s}_steps") for s in STAGES},
            training_slices=len(bank), slice_axis=axis)

    def _resolve_steps(self, n_slices: int) -> BrainSPADEParams:
        """Epochs (the paper's unit) to steps for this number of training slices."""
        update = {}
        for stage in STAGES:
            epochs = getattr(self.params, f"{stage}_epochs")
            if epochs is not None:
                batch = getattr(self.params, f"{stage}_batch")
                update[f"{stage}_steps"] = max(1, math.ceil(epochs * n_slices / batch))
        return self.params.model_copy(update=update)

    # ---- sample ----------------------------------------------------------------------------
    def sample(self, n: int, ctx: SampleContext) -> CaseSet:
        p, s = self.params, self.fitted()
        rng = np.random.default_rng(ctx.seed)  # lesion flags and style picks
        flags = self._lesion_flags(n, ctx.lesion_ratio, rng)
        pv = lab.sample_labels(self.nets["vae"], self.nets["ldm"], s.scale,
                               torch.from_numpy(flags), tuple(p.size), p, s.conditioned,
                               ctx.device, torch_generator(ctx.seed, ctx.device))
        return self._paint(pv, [f"brainspade_{i:05d}" for i in range(n)], flags, ctx, rng)

    def images_for(self, maps: CaseSet, ctx: SampleContext) -> CaseSet:
        """Images for given 2D label maps (their pv maps when present), e.g. held-out real ones.

        This is the image generator alone: how well its images match their maps is the
        image-label alignment a segmenter trained on real data can measure.
        """
        s = self.fitted()
        if maps.spatial_dims != 2 or any(c.spatial_shape != tuple(self.params.size) for c in maps):
            raise DataError(f"images_for needs 2D maps of size {self.params.size}")
        pv = torch.from_numpy(np.stack([pv_maps(c, max(s.labels) + 1) for c in maps]))
        flags = np.array([bool(c.meta.get("lesion", False)) for c in maps])
        return self._paint(pv, maps.ids, flags, ctx, np.random.default_rng(ctx.seed))

    def _paint(self, pv: torch.Tensor, ids: list[str], flags: np.ndarray, ctx: SampleContext,
               rng: np.random.Generator) -> CaseSet:
        """SPADE images for maps ``pv``; each case takes its style slices from one volume."""
        p, s = self.params, self.state
        style_images, style_volume, channels, style_ids, intensity = self._styles(ctx)
        n = len(pv)
        chosen = rng.choice(np.unique(style_volume), n)
        image = torch.empty((n, len(channels), *p.size))
        for c, channel_index in enumerate(channels.values()):
            picks = np.array([rng.choice(np.flatnonzero(style_volume == v)) for v in chosen])
            style = style_images[picks, channel_index][:, None].float()
            image[:, c] = img.synthesise(self.nets["spade"], pv, style, ctx.device)[:, 0]
        if p.mask_background:
            image *= 1.0 - pv[:, :1]  # the brain's share of each pixel; 0 is the data's minimum
        image = intensity.pick(list(channels.values())).from_unit(image, channel_axis=1)
        labels = pv.argmax(1).numpy().astype(np.int16)
        cases = [Case(ids[i], image[i].numpy(), labels[i], tuple(s.spacing),
                      pv=pv[i].numpy(),
                      meta={"source": self.name, "lesion": bool(flags[i]),
                            "style": style_ids[int(chosen[i])]})
                 for i in range(n)]
        return CaseSet(cases, dict(s.labels), list(channels), 2,
                       {"source": self.name, "style": "target" if ctx.style else "training"})

    def _lesion_flags(self, n: int, ratio: float | None, rng: np.random.Generator) -> np.ndarray:
        s = self.state
        if ratio is None:
            ratio = s.train_lesion_fraction if s.conditioned else 0.0
        if ratio > 0 and not s.conditioned:
            raise ConfigError("generator 'brainspade': lesion fraction > 0, but it was trained "
                              "without lesion labels")
        k = round(ratio * n)
        return rng.permutation(np.r_[np.ones(k, bool), np.zeros(n - k, bool)])

    def _styles(self, ctx: SampleContext):
        """Style slices, their volumes, the output channels {name: index}, volume ids, and the
        intensity range that brings images to the style data's units."""
        s, p = self.state, self.params
        if ctx.style is None:
            images, volume = s.style_images, s.style_volume
            available = list(s.channels)
            ids = {int(v): f"train_{int(v)}" for v in np.unique(volume)}
            intensity = s.intensity
        else:
            bank = style_bank(ctx.style, p, s.slice_axis)
            images, volume, available = bank.images, bank.volume, bank.channels
            ids = {int(v): ctx.style[int(v)].id for v in np.unique(volume)}
            intensity = bank.intensity
        picks = ctx.channel_indices(available, "the style images")
        return images, volume, {available[i]: i for i in picks}, ids, intensity

    # ---- networks (load fills their weights) ----------------------------------------------
    @classmethod
    def networks(cls, params: BrainSPADEParams, state: BrainSPADEState
                 ) -> dict[str, torch.nn.Module]:
        n_labels = max(state.labels) + 1
        return {"classifier": img.StyleClassifier(tuple(params.classifier_channels),
                                                  len(state.channels), len(state.sites),
                                                  n_labels),
                "vae": lab.build_vae(n_labels, params),
                "ldm": lab.build_ldm(params, state.conditioned),
                "spade": img.build_spade(n_labels, params)}


def style_bank(style: CaseSet, p: BrainSPADEParams, axis: int) -> SliceBank:
    """Slices of style images along ``axis`` (the training slices' axis); unlabelled images
    use their non-background voxels as the brain."""
    cases = []
    for case in style:
        label = case.label
        if label is None:
            label = (case.image > case.image.min(axis=tuple(range(1, case.image.ndim)),
                                                 keepdims=True)).any(0).astype(np.int16)
        cases.append(Case(case.id, case.image, (label > 0).astype(np.int16), case.spacing,
                          meta=case.meta))
    masked = CaseSet(cases, {0: "background", 1: "brain"}, list(style.channels),
                     style.spatial_dims, dict(style.meta))
    return slice_bank(masked, tuple(p.size), p.fit, axis, p.min_foreground, [], 1)
