"""What a 2D generator's working grid alone costs a segmenter, as one reproducible command.

    python -m bench.replicate.quality.grid --data phantom:A:12 --size 64 64 --out runs/grid-64

brainSPADE and the StyleGAN2 family resize real slices to their grid (64 x 64 in the `demo`
presets) and the harness brings their samples back to the real voxel size: even a generator
that reproduced its training slices exactly would hand the segmenter slices that went through
the grid. A unet2d (demo preset) trained on the real training slices at their own voxel size,
and one trained on the same slices sent through the grid, segment the real held-out slices;
the difference is the ceiling the grid puts on synthetic-only training.

Results go to OUT/quality.json.
"""

from __future__ import annotations

import math

from bench.api.case import CaseSet
from bench.api.slices import extract_slices, fit_case, to_spacing
from bench.replicate.quality.common import alignment_dice, prepare, quality_parser, write_results


def through_grid(slices: CaseSet, size: tuple[int, int]) -> CaseSet:
    """Each slice resized to ``size`` and back to its own voxel size and shape."""
    return slices.replace([fit_case(to_spacing(fit_case(c, size, "resize"), c.spacing),
                                    c.spatial_shape, "pad") for c in slices])


def padded(*sets: CaseSet, multiple: int = 16) -> list[CaseSet]:
    """Slice sets zero-padded to one shape, the next multiple of ``multiple`` (the UNet's
    downsampling) above the largest slice of any set, so training and test slices agree."""
    largest = [max(c.spatial_shape[d] for cases in sets for c in cases) for d in range(2)]
    shape = tuple(math.ceil(n / multiple) * multiple for n in largest)
    return [cases.replace([fit_case(c, shape, "pad") for c in cases]) for cases in sets]


def main(argv: list[str] | None = None) -> dict:
    parser = quality_parser(__doc__)
    parser.add_argument("--size", type=int, nargs=2, default=[64, 64])
    parser.add_argument("--axis", type=int, default=2)
    parser.add_argument("--min-foreground", type=float, default=0.1)
    args = parser.parse_args(argv)
    device, _, parts, results = prepare(args)
    train, heldout = (extract_slices(parts[k], axis=args.axis,
                                     min_foreground=args.min_foreground).cases
                      for k in ("train", "heldout"))
    size = tuple(args.size)
    native, coarse, test = padded(train, through_grid(train, size), heldout)
    arms = {"native": native, f"through_{size[0]}x{size[1]}": coarse}
    results["n_slices"] = {"train": len(train), "heldout": len(heldout)}
    results["dice_on_real_heldout"] = {
        name: alignment_dice(cases, {"heldout": test}, args.segmenter_steps, device,
                             args.out / name)["heldout"] for name, cases in arms.items()}
    values = [d["mean"] for d in results["dice_on_real_heldout"].values()]
    results["grid_cost"] = values[0] - values[1]
    return write_results(args.out, results)


if __name__ == "__main__":
    main()
