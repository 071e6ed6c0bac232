"""The quality figures of the StyleGAN2 family on the phantom, as one reproducible command.

    python -m bench.replicate.quality.stylegan2 --preset demo --out runs/stylegan2-quality

Fits B-SG and MC-SG (which trains M-SG and C-SG) on the same training volumes, then reports:

1. Masks: mean relative class-fraction error of M-SG's and B-SG's sampled masks against the
   real training slices.
2. Image-mask alignment: a unet2d trained on real training slices segments (a) the real held-out
   slices, (b) C-SG images generated from the held-out slices' own masks and (c) B-SG samples;
   Dice on (b) and (c) against the generated pairs' masks, next to (a), says how faithfully
   images follow their masks.

Results go to OUT/quality.json; training curves and sample montages beside it.
"""

from __future__ import annotations

import time

from bench.api.generator import SampleContext
from bench.fidelity.montage import save_montage
from bench.replicate.quality.common import (
    alignment_dice,
    class_fraction_error,
    fit_timed,
    prepare,
    quality_parser,
    real_slices,
    write_results,
)

KINDS = ("b-sg", "mc-sg")
MASKS_OF = {"b-sg": "b-sg", "mc-sg": "m-sg"}  # which GAN drew each fit's masks


def main(argv: list[str] | None = None) -> dict:
    parser = quality_parser(__doc__)
    parser.add_argument("--only", choices=KINDS, help="fit and judge one of the two (a B-SG "
                        "setting tried alone leaves MC-SG's figures out)")
    args = parser.parse_args(argv)
    device, params, parts, results = prepare(args)
    generators = {name: fit_timed(name, args, parts["train"], device, params, results)
                  for name in KINDS if args.only in (None, name)}
    first = next(iter(generators.values()))
    p = first.params
    size = (p.resolution, p.resolution)
    train, heldout = (real_slices(parts[k], size, p.axis, p.min_foreground, p.fit)
                      for k in ("train", "heldout"))

    samples = {}
    for name, generator in generators.items():
        started = time.time()
        samples[name] = generator.sample(args.samples, SampleContext(seed=0, device=device))
        results["timings"][f"{name}_sample_s"] = time.time() - started
        save_montage(samples[name], args.out / f"{name}_samples.png")
    results["class_fraction_error"] = {
        MASKS_OF[name]: class_fraction_error(train, fake)
        for name, fake in samples.items()}

    tests = {"real_heldout": heldout} | {f"{name}_samples": fake for name, fake in samples.items()}
    if "mc-sg" in generators:
        tests["c-sg_from_heldout_masks"] = generators["mc-sg"].images_for(
            heldout, SampleContext(seed=0, device=device))
        save_montage(tests["c-sg_from_heldout_masks"], args.out / "c-sg_heldout_masks.png")
    results["alignment_dice"] = alignment_dice(train, tests, args.segmenter_steps, device,
                                               args.out / "segmenter")
    results["training_slices"] = first.state.training_slices
    return write_results(args.out, results)


if __name__ == "__main__":
    main()
