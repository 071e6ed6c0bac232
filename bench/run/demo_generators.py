"""Refit the generators the demo samples from and publish them small (``make demo-generators``).

The demo has 15 CPU minutes, too few to fit brainSPADE and two StyleGAN2s, so it samples fits
shipped beside the presets (``bench/presets/generators/<name>``, named by ``fitted:`` entries).
This module makes them with the project's own ``synth2seg generator fit`` on phantom subjects
that are not in the demo's data, keeps ``generator.json`` and ``model/`` (not the checkpoints),
stores the weights in half precision, and writes ``manifest.json``: for each generator the exact
command, its preset, data and data fingerprint, wall time, device and size, so that the demo can
say what budget its generators had.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

from bench.api.checkpoints import load_checkpoint
from bench.run.config import PRESETS
from bench.run.sources import INFO, read_info

# Four subjects, as many as the demo's real-only arm trains on; seed 1 makes subjects that are
# none of the demo's (seed 0), so the leakage guard accepts the fits for its test sets.
DATA = "phantom:A:4:seed=1"
# preset and overrides: the StyleGAN2s at 600 of their demo's 1500 steps (1.5 s a step on one
# CPU core; MC-SG trains two GANs); brainSPADE's SPADE at 2 000 steps as in brainspade-3.1-cpu
# and -3.2 (500 left its images further from their masks: alignment Dice 0.58 against 0.62)
FITS = {"brainspade": ("demo", {"spade_steps": 2000}), "b-sg": ("demo", {"steps": 600}),
        "mc-sg": ("demo", {"steps": 600})}
OUT = PRESETS / "generators"
MANIFEST = "manifest.json"
WEIGHTS = "fitted.pt"


def fit_command(name: str, folder: Path, device: str) -> list[str]:
    preset, overrides = FITS[name]
    sets = [arg for k, v in overrides.items() for arg in ("--set", f"{k}={v}")]
    return ["synth2seg", "generator", "fit", name, "--data", DATA, "--preset", preset, *sets,
            "--out", str(folder), "--seed", "0", "--device", device]


def fit(name: str, folder: Path, device: str) -> dict:
    """Fit ``name`` from scratch into ``folder`` with the command line; what the manifest says."""
    shutil.rmtree(folder, ignore_errors=True)  # a refit, never a resumed one: the time is whole
    command = fit_command(name, folder, device)
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / command[0]), *command[1:]], check=True)
    seconds = time.perf_counter() - started
    info = read_info(folder)
    return {"command": " ".join(command), "preset": FITS[name][0],
            "overrides": FITS[name][1], "data": DATA,
            "data_fingerprint": info["data"], "training_images": len(info["cases"]),
            "seed": 0, "version": info["version"], "fit_seconds": round(seconds, 1),
            "device": device, "machine": f"{platform.machine()}, {torch.get_num_threads()} "
                                        "torch threads", "torch": torch.__version__}


def publish(folder: Path, dest: Path) -> int:
    """Copy ``generator.json`` and ``model/`` of a finished fit, weights halved; bytes written."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    shutil.copy2(folder / INFO, dest / INFO)
    shutil.copytree(folder / "model", dest / "model")
    halve(dest / "model" / WEIGHTS)
    return sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())


def halve(path: Path) -> None:
    """Store the networks' float32 weights as float16: loading casts them back, and the demo's
    fits shrink to half. The fitted state (intensity ranges, kept masks) stays as it was."""
    saved = load_checkpoint(path)
    saved["nets"] = {net: {k: v.half() if v.dtype == torch.float32 else v
                           for k, v in weights.items()}
                     for net, weights in saved["nets"].items()}
    torch.save(saved, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("runs/demo-generators"),
                        help="where the fits (with their checkpoints) are made")
    parser.add_argument("--out", type=Path, default=OUT, help="where they are published")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", nargs="*", choices=sorted(FITS), default=sorted(FITS))
    args = parser.parse_args(argv)
    path = args.out / MANIFEST
    for name in args.only:
        entry = fit(name, args.work / name, args.device)
        entry["bytes"] = publish(args.work / name, args.out / name)
        # read now, not at the start: another refit (--only) may have written meanwhile
        manifest = json.loads(path.read_text()) if path.exists() else {}
        manifest[name] = entry
        path.write_text(json.dumps(dict(sorted(manifest.items())), indent=1) + "\n")
        print(f"{name}: fitted in {entry['fit_seconds']:.0f} s, {entry['bytes'] / 1e6:.1f} MB "
              f"-> {args.out / name}")


if __name__ == "__main__":
    main()
