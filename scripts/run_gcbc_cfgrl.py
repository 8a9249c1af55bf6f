"""Run the GCBC-vs-CFGRL experiment of notebook 04 outside the notebook (e.g. the paper preset on a GPU).

    python scripts/run_gcbc_cfgrl.py --preset paper                       # all the preset's envs, 8 seeds, 1M steps
    python scripts/run_gcbc_cfgrl.py --preset cpu --env pointmaze-large-navigate-v0
    python scripts/run_gcbc_cfgrl.py --preset paper --num-steps 20000 --out /tmp/try   # a short trial of the sizes

Each env's result is written atomically as JSON to results/gcbc_cfgrl/<preset>/<env>.json (or --out), with the
preset, timings, device, dataset hash and commit inside, and its final weights to <env>/weights/ beside it. A run
that is killed resumes from its last checkpoint when the same command is run again (checkpoints every
`checkpoint_every` steps and finished evaluations live in <env>/ until the run completes). An env whose result
exists already is skipped unless --overwrite. Install the GPU build of JAX first (`pip install -e .[gpu]`).
Datasets are generated on first use (see scripts/generate_ogbench.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
from pathlib import Path

from cfgrl_core.checks import nonnegative_int_argument, positive_int_argument
from cfgrl_core.ogbench import experiment as gx

positive_int, nonnegative_int = positive_int_argument, nonnegative_int_argument


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="cpu", choices=sorted(gx.PRESETS))
    parser.add_argument("--env", action="append", default=None, help="dataset name (repeatable; default: the preset's)")
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    parser.add_argument("--num-steps", type=positive_int, default=None, help="override the preset's training steps")
    parser.add_argument("--num-seeds", type=positive_int, default=None, help="override the preset's number of seeds")
    parser.add_argument(
        "--data-dir", default=None, help="dataset folder (default: $CFGRL_OGBENCH_DATA, else ~/.ogbench/data)"
    )
    parser.add_argument("--out", type=Path, default=None, help="results folder (default: results/gcbc_cfgrl/<preset>)")
    parser.add_argument("--overwrite", action="store_true", help="rerun envs whose result exists already")
    parser.add_argument("--fresh", action="store_true", help="discard an unfinished run's checkpoints, start again")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    supported = sorted(gx.ogbench_data.OFFICIAL_RECIPES)
    for name in args.env or ():
        if name not in supported:
            parser.error(f"argument --env: unknown dataset {name!r}; choose from {supported}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    preset = gx.get_preset(args.preset)
    overrides = {k: v for k, v in dict(num_steps=args.num_steps, num_seeds=args.num_seeds).items() if v is not None}
    if overrides:  # a changed preset is recorded under its own name, never mistaken for the real one
        preset = dataclasses.replace(preset, name=f"{preset.name}-modified", **overrides)
    out = args.out or gx.results_dir(preset.name)
    print(f"device: {gx.device_description()}; preset: {preset}", flush=True)
    for env_name in args.env or preset.env_names:
        result_file = gx.result_path(preset.name, env_name, out)
        if result_file.exists() and not args.overwrite:
            print(f"{result_file} exists: skipped (--overwrite to run it again)", flush=True)
            continue
        if args.fresh or result_file.exists():  # --overwrite of a finished run starts from scratch
            shutil.rmtree(gx.run_dir_for(result_file), ignore_errors=True)
        run = gx.run_and_save(
            env_name, preset, result_file, seed=args.seed, data_dir=args.data_dir, progress=not args.no_progress
        )
        print(gx.summary_row(run.result), f"-> {result_file}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
