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

import sys

from cfgrl_core.experiments import cli
from cfgrl_core.experiments import pgd_pointmass as experiment


@cli.refusing
def main(argv=None) -> int:
    parser = cli.runner_parser(__doc__, experiment.EXPERIMENT)
    parser.add_argument("--reuse", action="store_true", help="load a finished run instead of doing it again")
    args = parser.parse_args(argv)
    folder = cli.results_folder(args, experiment.EXPERIMENT, args.preset)
    run = experiment.obtain(args.preset, folder, reuse=args.reuse, progress=not args.no_progress)
    seconds = run.result["seconds"]["total"]
    cli.log(f"{folder}: lambda* = {run.result['lambda_star']:g}, {seconds:.0f} s, commit {run.result['commit']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
