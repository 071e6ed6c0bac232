"""The quality figures of MedGen3D on the phantom, as one reproducible command.

    python -m bench.replicate.quality.medgen3d --preset demo --out runs/medgen3d-quality

Fits MedGen3D on the training volumes, then reports:

0. Grid alignment: the training masks on MedGen3D's working grid against the tissue their
   images show there (the argmax of the partial-volume maps resampled like the images): the
   foreground Dice and the brain's centroid offset in grid voxels.
1. Masks: the relative class-fraction error of sampled mask volumes against the real training
   volumes, and the time to sample one volume with and without the refiner.
2. Image-mask alignment: a unet3d trained on the real training volumes segments (a) the real
   held-out volumes and (b) images MedGen3D generates from the held-out volumes' own masks,
   with and without the semantic diffusion refiner, and (c) its own samples. Dice on (b) and
   (c) against the masks, next to (a), says how faithfully images follow their masks.

Results go to OUT/quality.json; training curves and sample montages beside it.
"""

from __future__ import annotations

import time

import numpy as np
from scipy import ndimage

from bench.api.case import CaseSet
from bench.api.generator import SampleContext
from bench.fidelity.montage import save_montage
from bench.replicate.quality.common import (
    alignment_dice,
    class_fraction_error,
    fit_timed,
    prepare,
    quality_parser,
    write_results,
)
from generators.medgen3d.data import to_grid


def main(argv: list[str] | None = None) -> dict:
    parser = quality_parser(__doc__)
    parser.set_defaults(data="phantom:A:16:2.0", samples=8, segmenter_steps=400)
    args = parser.parse_args(argv)
    device, params, parts, results = prepare(args)
    model = fit_timed("medgen3d", args, parts["train"], device, params, results)
    p = model.params
    results["grid_alignment"] = grid_alignment(parts["train"], p.axis, p.depth, p.size)

    samples = {}
    for refine in (True, False):
        model.params = model.params.model_copy(update={"refine": refine})
        started = time.time()
        samples[refine] = model.sample(args.samples, SampleContext(seed=0, device=device))
        per_volume = (time.time() - started) / args.samples
        results["timings"][f"sample_s_per_volume_{'refined' if refine else 'unrefined'}"] = \
            per_volume
    save_montage(samples[True], args.out / "samples.png")
    results["class_fraction_error"] = class_fraction_error(parts["train"], samples[True])

    ctx = SampleContext(seed=0, device=device)
    painted = {refine: model.images_for(parts["heldout"], ctx, refine=refine)
               for refine in (True, False)}
    save_montage(painted[True], args.out / "heldout_masks_refined.png")
    results["alignment_dice"] = alignment_dice(
        parts["train"], {"real_heldout": parts["heldout"],
                         "from_heldout_masks_refined": painted[True],
                         "from_heldout_masks_unrefined": painted[False],
                         "samples_refined": samples[True]},
        args.segmenter_steps, device, args.out / "segmenter", segmenter="unet3d")
    results["training_volumes"] = model.state.training_volumes
    return write_results(args.out, results)


def grid_alignment(cases: CaseSet, axis: int, depth: int, size: int) -> dict[str, float]:
    """Masks on the grid against the argmax of the resampled partial-volume maps."""
    dices, offsets = [], []
    for case in cases:
        if case.pv is None:
            continue
        truth = to_grid(case.pv, axis, depth, size, "trilinear").argmax(0).numpy()
        mask = to_grid(case.label[None], axis, depth, size, "nearest")[0].numpy().astype(int)
        dices.append(np.mean([2 * ((mask == k) & (truth == k)).sum()
                              / max(1, (mask == k).sum() + (truth == k).sum())
                              for k in range(1, int(truth.max()) + 1)]))
        offsets.append(np.subtract(ndimage.center_of_mass(mask > 0),
                                   ndimage.center_of_mass(truth > 0)))
    if not dices:
        return {}
    return {"dice": float(np.mean(dices)),
            "max_centroid_offset_voxels": float(np.abs(np.mean(offsets, 0)).max())}


if __name__ == "__main__":
    main()
