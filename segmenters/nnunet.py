"""nnU-Net v2 as a segmenter.

All of a strategy's data goes into one run-local nnU-Net raw dataset, planned and preprocessed
once, so every stage shares one plan and a fine-tune stage can load the previous stage's weights.
Stage *i* is fold *i* of a ``splits_final.json`` written by us: its training cases are that
stage's data, its validation cases are the run's validation set. nnU-Net itself runs in a
subprocess (:mod:`segmenters.nnunet_worker`) because it reads ``nnUNet_raw``,
``nnUNet_preprocessed`` and ``nnUNet_results`` once, at import time: the subprocess gets folders
inside the run directory and never the user's own.

The augmentation set picks nnU-Net's own trainer (its full augmentation pipeline, for the sets
``nnunet`` and ``default``) or ``nnUNetTrainerNoDA`` (``none``); other sets are refused.
nnU-Net samples its training cases uniformly, so a ``real+synthetic`` stage with a mixing ratio
is refused rather than silently ignored.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from bench.api.augment_sets import NNUNET_SETS
from bench.api.case import Case, CaseSet
from bench.api.errors import ConfigError
from bench.api.segmenter import TrainContext, TrainedModel
from bench.api.strategies import Stage
from bench.data import write_nnunet
from bench.data.nifti import read_volume, write_volume

DATASET = "Dataset001_synth2seg"


class NnUNetParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    configuration: Literal["2d", "3d_fullres"] = "2d"
    epochs: int = Field(1000, ge=1)
    finetune_epochs: int | None = Field(None, ge=1)  # epochs of fine-tune stages
    iterations_per_epoch: int = Field(250, ge=1)
    val_iterations_per_epoch: int = Field(50, ge=1)
    save_every: int = Field(50, ge=1)  # epochs between resumable checkpoints
    processes: int = Field(2, ge=1)  # preprocessing and export workers
    augmentation_workers: int = Field(2, ge=0)  # 0: augment in the training process


class NnUNetSegmenter:
    name: ClassVar[str] = "nnunet"
    Params: ClassVar[type[NnUNetParams]] = NnUNetParams
    version: ClassVar[str] = "1"
    augmentation_sets: ClassVar[tuple[str, ...]] = NNUNET_SETS  # what its trainers express
    presets: ClassVar[dict[str, dict]] = {
        "tiny": {"epochs": 1, "iterations_per_epoch": 2, "val_iterations_per_epoch": 1,
                 "save_every": 1, "processes": 1, "augmentation_workers": 0},
        "demo": {"epochs": 10, "iterations_per_epoch": 50, "val_iterations_per_epoch": 10,
                 "save_every": 2},
        "paper": {},  # nnU-Net's own defaults: 1000 epochs of 250 iterations
    }

    def __init__(self, params: NnUNetParams | None = None):
        self.params = params or self.Params()

    @property
    def spatial_dims(self) -> int:
        return 2 if self.params.configuration == "2d" else 3

    def train(self, stages: list[Stage], ctx: TrainContext) -> TrainedModel:
        if any(s.synthetic_fraction is not None for s in stages):
            raise ConfigError("segmenter 'nnunet' samples its training cases uniformly: "
                              "drop synthetic_fraction (concatenation is the default)")
        p = self.params
        root = ctx.workdir / "nnunet"
        names = _write_dataset(ctx.data, root / "raw" / DATASET)
        splits = [{"train": [i for part in s.data.split("+") for i in names[part]],
                   "val": _validation(s, names)} for s in stages]
        env = _environment(root, p)
        preprocessed = root / "preprocessed" / DATASET
        if not (preprocessed / "nnUNetPlans.json").exists() or \
                not (preprocessed / f"nnUNetPlans_{p.configuration}").is_dir():
            _worker(env, ctx, "plan", "--configuration", p.configuration,
                    "--processes", str(p.processes))
        (preprocessed / "splits_final.json").write_text(json.dumps(splits, indent=1))
        fold_dir, training = None, []
        for fold, stage in enumerate(stages):
            epochs = p.finetune_epochs if stage.finetune and p.finetune_epochs else p.epochs
            steps = epochs * p.iterations_per_epoch  # nnU-Net's fixed schedule: no early stop
            training.append({"stage": f"fold{fold}_{stage.data}", "steps": steps, "cap": steps,
                             "patience": 0, "stopped": "cap", "stale": None,
                             "best_val_dice": None})
            args = ["train", "--configuration", p.configuration, "--fold", str(fold),
                    "--epochs", str(epochs), "--iterations", str(p.iterations_per_epoch),
                    "--val-iterations", str(p.val_iterations_per_epoch),
                    "--save-every", str(p.save_every), "--device", ctx.device,
                    "--seed", str(ctx.seed + fold)]
            if ctx.augment not in NNUNET_SETS:
                raise ConfigError(f"segmenter 'nnunet' runs nnU-Net's own trainers: augmentation "
                                  f"'{ctx.augment}' is not one of {', '.join(NNUNET_SETS)}")
            augment = ctx.augment != "none"
            if augment:
                args.append("--augment")
            if stage.finetune and fold_dir is not None:
                args += ["--pretrained", str(fold_dir / "checkpoint_final.pth")]
            _worker(env, ctx, *args)
            fold_dir = _fold_dir(root, p.configuration, fold, augment)
        info = {"segmenter": self.name, "params": p.model_dump(mode="json"), "root": str(root),
                "fold": len(stages) - 1, "augment": ctx.augment != "none",
                "n_classes": max(ctx.data["real"].labels) + 1, "training": training}
        (ctx.workdir / "model.json").write_text(json.dumps(info, indent=2))
        return TrainedModel(fold_dir, info)

    def predict(self, model: TrainedModel, cases: CaseSet, device: str = "cpu") -> list:
        root = Path(model.info["root"])
        inputs, outputs = root / "predict" / "in", root / "predict" / "out"
        for folder in (inputs, outputs):
            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.iterdir():
                old.unlink()
        volumes = _as_volumes(cases)
        for i, case in enumerate(volumes):
            for c, channel in enumerate(case.image):
                write_volume(inputs / f"case{i:04d}_{c:04d}.nii.gz", channel, _affine(case))
        env = _environment(root, self.params)
        ctx = TrainContext(workdir=root, data={}, device=device)
        _worker(env, ctx, "predict", "--model", str(model.path), "--fold",
                str(model.info["fold"]), "--input", str(inputs), "--output", str(outputs),
                "--device", device, "--processes", str(self.params.processes))
        preds = []
        for i in range(len(cases)):
            label = np.asarray(read_volume(outputs / f"case{i:04d}.nii.gz", "prediction").data)
            preds.append(label[..., 0] if cases.spatial_dims == 2 else label)
        return [p.astype(np.int16) for p in preds]


def _validation(stage: Stage, names: dict[str, list[str]]) -> list[str]:
    """A stage's validation cases: the target stage's come from the target domain."""
    if stage.data == "target":
        return names.get("target_val") or names["target"]
    return names.get("val") or names["real"]


def _fold_dir(root: Path, configuration: str, fold: int, augment: bool) -> Path:
    """Where nnU-Net puts a fold's checkpoints (its own naming scheme)."""
    trainer = "nnUNetTrainer" if augment else "nnUNetTrainerNoDA"
    return root / "results" / DATASET / f"{trainer}__nnUNetPlans__{configuration}" / f"fold_{fold}"


def _write_dataset(data: dict[str, CaseSet], folder: Path) -> dict[str, list[str]]:
    """One raw dataset holding every role's cases under role-prefixed ids."""
    names, cases = {}, []
    reference = data["real"]
    for role, subset in data.items():
        renamed = [dataclasses.replace(c, id=f"{role}_{i:04d}", meta={})
                   for i, c in enumerate(_as_volumes(subset))]
        names[role] = [c.id for c in renamed]
        cases += renamed
    merged = CaseSet(cases, dict(reference.labels), list(reference.channels), 3)
    write_nnunet(merged, folder, name="synth2seg", overwrite=True)
    return names


def _as_volumes(cases: CaseSet) -> CaseSet:
    """2D cases as volumes of depth one, the way nnU-Net reads 2D data."""
    if cases.spatial_dims == 3:
        return cases
    lifted = [dataclasses.replace(c, image=c.image[..., None], label=c.label[..., None],
                                  pv=None if c.pv is None else c.pv[..., None],
                                  spacing=(*c.spacing, 1.0), affine=None) for c in cases]
    return CaseSet(lifted, dict(cases.labels), list(cases.channels), 3, dict(cases.meta))


def _affine(case: Case) -> np.ndarray:
    if case.affine is not None:
        return case.affine
    return np.diag([*case.spacing, 1.0])


def _environment(root: Path, p: NnUNetParams) -> dict[str, str]:
    env = {**os.environ,
           "nnUNet_raw": str(root / "raw"), "nnUNet_preprocessed": str(root / "preprocessed"),
           "nnUNet_results": str(root / "results"), "nnUNet_compile": "f",
           "nnUNet_n_proc_DA": str(p.augmentation_workers)}
    return env


def _worker(env: dict[str, str], ctx: TrainContext, *args: str) -> None:
    """Run one nnU-Net step in a subprocess; everything it prints goes to ``nnunet.log``."""
    log = ctx.workdir / "nnunet.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as stream:
        stream.write(f"$ nnunet_worker {' '.join(args)}\n")
        stream.flush()
        if args[0] != "train":  # planning uses the variable as a thread count: keep it >= 1
            env = {**env, "nnUNet_n_proc_DA": str(max(1, int(env["nnUNet_n_proc_DA"])))}
        result = subprocess.run([sys.executable, "-m", "segmenters.nnunet_worker", *args],
                                env=env, stdout=stream, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise RuntimeError(f"nnU-Net step '{args[0]}' failed (exit {result.returncode}); "
                           f"see {log}")
