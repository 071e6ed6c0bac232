"""MONAI segmenters: UNet 2D/3D, UNETR and Swin-UNETR behind the Segmenter protocol.

2D models train on slices cut from volumes along the dataset's slicing axis (its low-resolution
axis, ``bench.data.geometry``; axial when isotropic) and predict volumes slice by slice,
re-assembled for volume-level metrics, as the brainSPADE paper evaluates. 3D models train on
random patches and predict with sliding windows. Intensities are normalised per channel kind
(``bench.data.normalisation``): CT channels with the training set's foreground statistics, the
others z-scored per case and channel over the non-zero voxels; the model keeps what it used.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import torch
from monai.networks.nets import UNETR, SwinUNETR, UNet
from pydantic import BaseModel, ConfigDict, Field, model_serializer

from bench.api.augment_sets import AUGMENTATION_SETS
from bench.api.case import Case, CaseSet, channel_map
from bench.api.checkpoints import load_checkpoint
from bench.api.errors import ConfigError
from bench.api.seeding import seeded_global_rng
from bench.api.segmenter import TrainContext, TrainedModel
from bench.api.slices import extract_slices, fit_slices, restore
from bench.api.strategies import Stage
from bench.data.geometry import DEFAULT_SLICE_AXIS, slicing_axis
from bench.data.normalisation import channel_terms, normalise_image, plan_normalisation
from segmenters.augment import BatchAugment, augmentation_set
from segmenters.batches import item
from segmenters.training import Loop, infer, train_network


class NetParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channels: tuple[int, ...] = (16, 32, 64, 128)  # UNet widths; transformers use the first
    patch: tuple[int, ...] = (64, 64)  # 2D slice size or 3D patch
    batch: int = Field(8, ge=1)
    steps: int = Field(500, ge=0)
    finetune_steps: int | None = Field(None, ge=0)  # steps of fine-tune stages (default: steps)
    # When set, training length is in passes over each stage's data (the papers' unit) and
    # ``steps`` / ``finetune_steps`` are ignored.
    epochs: int | None = Field(None, ge=1)
    lr: float = Field(1e-4, gt=0)
    val_every: int = Field(100, ge=1)
    # Stopping rule: validations in a row without a better validation Dice before a stage stops
    # (a plateau); ``steps`` stays the cap. 0 trains every stage to ``steps``.
    patience: int = Field(0, ge=0)
    checkpoint_every: int = Field(100, ge=1)
    # 2D: slices kept for training. 0 keeps them all: models are evaluated on whole volumes,
    # and one that never saw the near-empty end slices paints tissue into them.
    min_foreground: float = Field(0.0, ge=0.0, le=1.0)
    # 2D: how slices reach ``patch``. "pad" keeps the voxel size, so predictions map back to the
    # volume exactly; "resize" suits data whose slices differ much in shape.
    fit: Literal["pad", "resize"] = "pad"
    # Speed, not results. "device" keeps the training data on the training device and augments
    # whole batches there; "host" augments sample by sample with MONAI on the CPU (the path of
    # results made before these options existed). Both draw the same batches (segmenters/batches).
    data: Literal["device", "host"] = "device"
    bf16: bool = True  # autocast to bfloat16 on CUDA
    channels_last: bool = False
    compile: bool = False  # torch.compile the network for training

    @model_serializer(mode="wrap")
    def _keep_older_identities(self, handler):
        """Without a stopping rule the params dump as before ``patience`` existed, so cells
        trained earlier keep their content-addressed keys."""
        data = handler(self)
        if self.patience == 0:
            data.pop("patience", None)
        return data


class MonaiSegmenter:
    """The shared train/predict logic; subclasses name the network and their presets."""

    name: ClassVar[str]
    spatial_dims: ClassVar[int]
    Params: ClassVar[type[NetParams]] = NetParams
    version: ClassVar[str] = "1"
    presets: ClassVar[dict[str, dict]] = {}
    augmentation_sets: ClassVar[tuple[str, ...]] = tuple(AUGMENTATION_SETS)

    def __init__(self, params: NetParams | None = None):
        self.params = params or self.Params()
        self._norm: dict | None = None  # train(): the training set's normalisation plan
        self._axis = DEFAULT_SLICE_AXIS  # train(): the training set's slicing axis
        if len(self.params.patch) != self.spatial_dims:
            raise ConfigError(f"segmenter '{self.name}': patch {self.params.patch} is not "
                              f"{self.spatial_dims}D")
        self._check_architecture()

    def _check_architecture(self) -> None:
        """Refuse, when the matrix resolves, what the network would refuse inside a cell."""

    def build(self, in_channels: int, n_classes: int) -> torch.nn.Module:
        raise NotImplementedError

    def train(self, stages: list[Stage], ctx: TrainContext) -> TrainedModel:
        real = ctx.data["real"]
        n_classes, channels = max(real.labels) + 1, len(real.channels)
        self._norm, self._axis = plan_normalisation(real), slicing_axis(real)
        previous, training = None, []
        for i, stage in enumerate(stages):
            val = self._validation(stage, ctx.data)
            items, weights = self._stage_items(stage, ctx.data)
            with seeded_global_rng(ctx.seed):  # initial weights from the seed alone
                net = self.build(channels, n_classes)
            p = self.params
            steps = p.finetune_steps if stage.finetune and p.finetune_steps is not None \
                else p.steps
            if p.epochs is not None:
                steps = -(-p.epochs * len(items) // p.batch)
            augment, data = None, p.data
            if ctx.augment == "default" and p.data == "device":
                augment = BatchAugment(self.spatial_dims)
            elif ctx.augment != "none":  # the other named sets are MONAI's per-sample transforms
                augment, data = augmentation_set(self.spatial_dims, ctx.seed, ctx.augment,
                                                 p.patch), "host"
            loop = Loop(steps, p.batch, p.lr, p.val_every, p.checkpoint_every, p.patch,
                        data, p.bf16, p.channels_last, p.compile, p.patience)
            name = f"stage{i}_{stage.data}"
            trained = train_network(
                net, items, weights, val, loop, ctx.workdir / name, ctx.device, ctx.seed + i,
                augment, previous if stage.finetune else None, n_classes)
            previous = trained.best
            training.append(trained.record(name, steps, p.patience))
        info = {"segmenter": self.name, "params": self.params.model_dump(mode="json"),
                "in_channels": channels, "n_classes": n_classes,
                "weights": str(Path(previous).relative_to(ctx.workdir)),
                "normalisation": self._norm, "slice_axis": self._axis, "training": training}
        (ctx.workdir / "model.json").write_text(json.dumps(info, indent=2))
        return TrainedModel(previous, info)

    def load(self, workdir: Path) -> TrainedModel:
        """The model that :meth:`train` left in ``workdir`` (a cell's ``model`` folder)."""
        info = json.loads((Path(workdir) / "model.json").read_text())
        return TrainedModel(Path(workdir) / info["weights"], info)

    def input_size(self) -> tuple[int, ...]:
        return tuple(self.params.patch)

    def network(self, model: TrainedModel, device: str = "cpu") -> torch.nn.Module:
        net = self.build(model.info["in_channels"], model.info["n_classes"])
        net.load_state_dict(load_checkpoint(model.path, device))
        return net.to(device).eval()

    def predict(self, model: TrainedModel, cases: CaseSet, device: str = "cpu") -> list:
        net = self.network(model, device)
        cases = normalise(cases, model.info.get("normalisation"))
        if self.spatial_dims == 3:
            return [infer(net, torch.as_tensor(c.image)[None], self.params.patch, device)
                    .argmax(1)[0].numpy().astype(np.int16) for c in cases]
        p = self.params
        if cases.spatial_dims == 2:
            scores = self._scores(net, fit_slices(cases, p.patch, p.fit), device)
            return [restore(s, c.spatial_shape, p.fit).astype(np.int16)
                    for s, c in zip(scores, cases, strict=True)]
        axis = model.info.get("slice_axis", slicing_axis(cases))
        view = extract_slices(cases, axis=axis, size=p.patch, min_foreground=0.0, fit=p.fit)
        return view.assemble(self._scores(net, view.cases, device))

    def _scores(self, net, slices: CaseSet, device: str) -> list[np.ndarray]:
        scores = []
        for start in range(0, len(slices), 32):
            image = torch.stack([torch.as_tensor(c.image) for c in slices.cases[start:start + 32]])
            scores.extend(infer(net, image, self.params.patch, device).softmax(1).numpy())
        return scores

    def _validation(self, stage: Stage, data: dict[str, CaseSet]) -> list[dict]:
        """The cases a stage picks its checkpoint on: the target stage's come from the target
        domain (selecting it on the source domain would pick the wrong checkpoint)."""
        role = "target_val" if stage.data == "target" else "val"
        return self._items(data[role], train=False) if role in data else []

    def _stage_items(self, stage: Stage, data: dict[str, CaseSet]):
        names = stage.data.split("+")
        missing = [n for n in names if n not in data]
        if missing:
            raise ConfigError(f"strategy stage '{stage.data}' needs {missing[0]} data")
        parts = [self._items(data[n], train=True) for n in names]
        items = [item for part in parts for item in part]
        weights = None
        if stage.synthetic_fraction is not None:
            real, synthetic = parts
            weights = np.concatenate([
                np.full(len(real), (1 - stage.synthetic_fraction) / len(real)),
                np.full(len(synthetic), stage.synthetic_fraction / len(synthetic))])
        return items, weights

    def _items(self, cases: CaseSet, train: bool) -> list[dict]:
        cases = normalise(cases, self._norm)
        if self.spatial_dims == 2 and cases.spatial_dims == 3:
            cases = extract_slices(cases, axis=self._axis, size=self.params.patch,
                                   fit=self.params.fit,
                                   min_foreground=self.params.min_foreground if train else 0.1
                                   ).cases
        elif self.spatial_dims == 2:
            cases = fit_slices(cases, self.params.patch, self.params.fit)
        return [item(c) for c in cases]  # references stay references (segmenters.batches)


def normalise(cases: CaseSet, plan: dict | None = None) -> CaseSet:
    """Each case normalised by ``plan`` (:func:`bench.data.normalisation.plan_normalisation` of
    the training set); None z-scores each case and channel over its non-zero voxels (the brain
    in skull-stripped MR)."""
    return cases.replace([_normalised(case, plan) for case in cases])


def _normalised(case: Case, plan: dict | None) -> Case:
    """One case normalised; a case that references its arrays (read from the dataset cache)
    stays a reference: its per-channel terms come from one read and the map is applied to
    whatever is read later (a slice reads and maps one slice), so no volume is kept."""
    if not case.lazy:
        return dataclasses.replace(case, image=normalise_image(case.image, plan))
    terms = channel_terms(case.image, plan)
    return case.with_arrays(image=channel_map(case.ref("image"), *terms))


class UNet2D(MonaiSegmenter):
    name = "unet2d"
    spatial_dims = 2
    presets = {
        "tiny": {"channels": (8, 16), "patch": (32, 32), "batch": 4, "steps": 4, "val_every": 2,
                 "checkpoint_every": 2},
        # Fits axial slices of the phantom at 1.5 mm (108 x 131) and 2 mm (81 x 98) by padding.
        "demo": {"channels": (16, 32, 64, 128), "patch": (112, 136), "batch": 16, "steps": 1000,
                 "lr": 1e-3, "val_every": 100},
        # Vu et al., Table 1: Adam 1e-4, batch 64, 70 epochs (150 for the smallest datasets),
        # slices resized to 256 x 256.
        "paper": {"channels": (32, 64, 128, 256, 512), "patch": (256, 256), "batch": 64,
                  "epochs": 70, "lr": 1e-4, "val_every": 500, "checkpoint_every": 500,
                  "fit": "resize"},
    }

    def _check_architecture(self) -> None:
        """A UNet of k widths halves the patch k − 1 times and joins the skips back: at least two
        widths, and every patch side divisible by 2^(k − 1)."""
        c, patch = self.params.channels, self.params.patch
        if len(c) < 2:
            raise ConfigError(f"segmenter '{self.name}' parameter 'channels': {c} has one width; "
                              "a UNet needs at least two")
        factor = 2 ** (len(c) - 1)
        if any(side % factor for side in patch):
            raise ConfigError(f"segmenter '{self.name}' parameter 'patch': {patch} must be "
                              f"divisible by {factor} ({len(c)} widths halve it "
                              f"{len(c) - 1} times)")

    def build(self, in_channels, n_classes):
        c = self.params.channels
        return UNet(self.spatial_dims, in_channels, n_classes, channels=c,
                    strides=(2,) * (len(c) - 1),
                    num_res_units=2)


class UNet3D(UNet2D):
    name = "unet3d"
    spatial_dims = 3
    presets = {
        "tiny": {"channels": (8, 16), "patch": (32, 32, 32), "batch": 2, "steps": 4,
                 "val_every": 2, "checkpoint_every": 2},
        "demo": {"channels": (16, 32, 64, 128), "patch": (64, 64, 64), "batch": 2,
                 "steps": 400, "lr": 1e-3, "val_every": 100},
        "paper": {"channels": (32, 64, 128, 256, 512), "patch": (96, 96, 96), "batch": 2,
                  "steps": 25000, "lr": 1e-4, "val_every": 500, "checkpoint_every": 500},
    }


class UNETRSegmenter(MonaiSegmenter):
    name = "unetr"
    spatial_dims = 3
    presets = {
        "tiny": {"channels": (8,), "patch": (32, 32, 32), "batch": 1, "steps": 2,
                 "val_every": 1, "checkpoint_every": 1},
        "demo": {"channels": (16,), "patch": (64, 64, 64), "batch": 2, "steps": 400,
                 "lr": 1e-4, "val_every": 100},
        "paper": {"channels": (16,), "patch": (96, 96, 96), "batch": 2, "steps": 25000,
                  "lr": 1e-4, "val_every": 500, "checkpoint_every": 500},
    }

    def _check_architecture(self) -> None:
        """UNETR cuts the patch into 16-voxel tokens."""
        if any(side % 16 for side in self.params.patch):
            raise ConfigError(f"segmenter '{self.name}' parameter 'patch': {self.params.patch} "
                              "must be divisible by 16 (UNETR's 16-voxel tokens)")

    def build(self, in_channels, n_classes):
        small = self.params.patch[0] < 64
        return UNETR(in_channels, n_classes, img_size=self.params.patch,
                     feature_size=self.params.channels[0],
                     hidden_size=192 if small else 768, mlp_dim=768 if small else 3072,
                     num_heads=4 if small else 12)


class SwinUNETRSegmenter(UNETRSegmenter):
    name = "swin_unetr"
    # Five downsamplings: patches below 64 leave a 1-voxel bottleneck that instance norm refuses.
    presets = {**UNETRSegmenter.presets,
               "tiny": {**UNETRSegmenter.presets["tiny"], "patch": (64, 64, 64)}}

    def __init__(self, params: NetParams | None = None):
        super().__init__(params)
        patch = self.params.patch
        if any(side < 64 or side % 32 for side in patch):
            raise ConfigError(f"segmenter 'swin_unetr': patch {patch} must be at least 64 and a "
                              "multiple of 32 on every side (five downsamplings; a 1-voxel "
                              "bottleneck fails to train)")

    def build(self, in_channels, n_classes):
        return SwinUNETR(in_channels, n_classes,
                         feature_size=12 * max(1, self.params.channels[0] // 12),  # /12 needed
                         spatial_dims=3)
