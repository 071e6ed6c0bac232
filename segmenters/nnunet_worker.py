"""The nnU-Net steps, run in a subprocess whose ``nnUNet_*`` variables point into a run folder.

``python -m segmenters.nnunet_worker plan|train|predict ...``; see :mod:`segmenters.nnunet`.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np
import torch

DATASET_ID = 1


def plan(args) -> None:
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprints,
        plan_experiments,
        preprocess,
    )

    extract_fingerprints([DATASET_ID], num_processes=args.processes, check_dataset_integrity=True,
                         show_progress_bar=False)
    plan_experiments([DATASET_ID])
    preprocess([DATASET_ID], configurations=(args.configuration,),
               num_processes=(args.processes,), show_progress_bar=False)


def train(args) -> None:
    from nnunetv2.run.run_training import get_trainer_from_args, maybe_load_checkpoint

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    name = "nnUNetTrainer" if args.augment else "nnUNetTrainerNoDA"
    trainer = get_trainer_from_args(str(DATASET_ID), args.configuration, args.fold, name,
                                    continue_training=True, device=torch.device(args.device))
    trainer.num_epochs = args.epochs
    trainer.num_iterations_per_epoch = args.iterations
    trainer.num_val_iterations_per_epoch = args.val_iterations
    trainer.save_every = args.save_every
    out = Path(trainer.output_folder)
    if (out / "checkpoint_final.pth").exists():
        print(f"fold {args.fold}: already trained")
        return
    resume = (out / "checkpoint_latest.pth").exists()
    maybe_load_checkpoint(trainer, resume, False, None if resume else args.pretrained)
    trainer.run_training()


def predict(args) -> None:
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    device = torch.device(args.device)
    predictor = nnUNetPredictor(device=device, perform_everything_on_device=device.type == "cuda",
                                allow_tqdm=False)
    predictor.initialize_from_trained_model_folder(str(Path(args.model).parent),
                                                   use_folds=(args.fold,))
    predictor.predict_from_files(args.input, args.output, save_probabilities=False,
                                 overwrite=True, num_processes_preprocessing=args.processes,
                                 num_processes_segmentation_export=args.processes)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="nnunet_worker")
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("plan")
    p.add_argument("--configuration", required=True)
    p.add_argument("--processes", type=int, default=2)
    t = sub.add_parser("train")
    t.add_argument("--configuration", required=True)
    t.add_argument("--fold", type=int, required=True)
    t.add_argument("--epochs", type=int, required=True)
    t.add_argument("--iterations", type=int, required=True)
    t.add_argument("--val-iterations", type=int, required=True)
    t.add_argument("--save-every", type=int, default=50)
    t.add_argument("--device", default="cpu")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--augment", action="store_true")
    t.add_argument("--pretrained")
    r = sub.add_parser("predict")
    r.add_argument("--model", required=True)
    r.add_argument("--fold", type=int, required=True)
    r.add_argument("--input", required=True)
    r.add_argument("--output", required=True)
    r.add_argument("--device", default="cpu")
    r.add_argument("--processes", type=int, default=2)
    args = parser.parse_args(argv)
    {"plan": plan, "train": train, "predict": predict}[args.step](args)


if __name__ == "__main__":
    main()
