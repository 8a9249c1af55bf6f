"""Run notebook 06's point-mass PGD experiment outside the notebook (e.g. the paper preset on a GPU).

    python scripts/run_pgd.py --preset cpu             # what `make figures` runs inside notebook 06
    python scripts/run_pgd.py --preset paper           # GPU sizes (install the GPU build of JAX first)
    python scripts/run_pgd.py --preset cpu --out /tmp/try

Writes results/pgd/<preset>/ (or --out): pointmass.npz (the dataset and its recipe), trajectory_model/ and
world_model/ (weights with their normalisers), samples.npz (windows for the figures) and results.json (every
measure per seed, lambda*, timings, device, dataset hash and commit). A killed run resumes from its checkpoints
(<out>/train/) when the same command is run again; a finished one is done again unless --reuse.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cfgrl_core.pgd import experiment


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="cpu", choices=sorted(experiment.PRESETS))
    parser.add_argument("--out", type=Path, default=None, help="results folder (default: results/pgd/<preset>)")
    parser.add_argument("--reuse", action="store_true", help="load a finished run instead of doing it again")
    args = parser.parse_args(argv)
    folder = args.out or experiment.results_dir(args.preset)
    run = experiment.obtain(args.preset, folder, reuse=args.reuse)
    seconds = run.result["seconds"]["total"]
    print(f"{folder}: lambda* = {run.result['lambda_star']:g}, {seconds:.0f} s, commit {run.result['commit']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
