"""The quality figures of brainSPADE on the phantom, as one reproducible command.

    python -m bench.replicate.quality.brainspade --preset demo --out runs/brainspade-quality

1. Label generator: mean relative class-fraction error of sampled label slices against the real
   training slices.
2. Image-label alignment: a unet2d trained on real training slices segments (a) the real held-out
   slices and (b) SPADE images generated from the held-out slices' own maps; the Dice on (b)
   against the maps, next to (a), says how faithfully images follow their labels.
3. Style: images generated with FLAIR style images of site C (far out of distribution) must order
   the tissues as FLAIR does (here grey matter > white matter > CSF), and T1-styled ones as T1.

Results go to OUT/quality.json, and sample montages to OUT/*.png.
"""

from __future__ import annotations

import time

from bench.api.generator import SampleContext
from bench.data import open_dataset
from bench.fidelity.montage import save_montage
from bench.replicate.quality.common import (
    alignment_dice,
    class_fraction_error,
    class_means,
    contrast_order,
    fit_timed,
    prepare,
    quality_parser,
    real_slices,
    write_results,
)
from generators.intensity import to_unit


def main(argv: list[str] | None = None) -> dict:
    parser = quality_parser(__doc__)
    parser.add_argument("--style", default="phantom:C:4")
    args = parser.parse_args(argv)
    device, params, parts, results = prepare(args)
    timings = results["timings"]
    generator = fit_timed("brainspade", args, parts["train"], device, params, results,
                          folder="generator")
    p = generator.params
    results["losses"] = generator.state.losses

    train_slices, heldout_slices = (real_slices(parts[k], p.size, p.axis, p.min_foreground,
                                                p.fit) for k in ("train", "heldout"))
    started = time.time()
    samples = generator.sample(args.samples, SampleContext(seed=0, device=device))
    timings["sample_s"] = time.time() - started
    results["class_fraction_error"] = class_fraction_error(train_slices, samples)
    save_montage(samples, args.out / "samples.png")

    painted = generator.images_for(heldout_slices, SampleContext(seed=0, device=device))
    save_montage(painted, args.out / "heldout_painted.png")
    results["alignment_dice"] = alignment_dice(
        train_slices, {"real_heldout": heldout_slices, "generated_from_heldout": painted},
        args.segmenter_steps, device, args.out / "segmenter")

    style = open_dataset(args.style)
    flair = generator.sample(args.samples // 4, SampleContext(seed=1, device=device, style=style))
    save_montage(flair, args.out / "styled_siteC.png")
    reference = style.replace([to_unit(c) for c in style])
    styled = {"generated_siteC_style": class_means(flair),
              "real_siteC": class_means(reference)}
    for c, channel in enumerate(samples.channels):
        styled[f"generated_{channel}_training_style"] = class_means(samples, c)
        styled[f"real_{channel}"] = class_means(train_slices, c)
    results["contrast"] = {k: {"means": v, "order": contrast_order(v)} for k, v in styled.items()}
    return write_results(args.out, results)


if __name__ == "__main__":
    main()
