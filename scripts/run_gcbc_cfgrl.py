"""Run the GCBC-vs-CFGRL experiment of notebook 04 outside the notebook (e.g. the paper preset on a GPU).

    python scripts/run_gcbc_cfgrl.py --preset paper                       # all the preset's envs, 8 seeds, 1M steps
    python scripts/run_gcbc_cfgrl.py --preset cpu --env pointmaze-large-navigate-v0
    python scripts/run_gcbc_cfgrl.py --preset paper --num-steps 20000 --out /tmp/try   # a short trial of the sizes
    python scripts/run_gcbc_cfgrl.py --preset paper --env pointmaze-large-navigate-v0 --estimate-only
    python scripts/run_gcbc_cfgrl.py --preset paper --method hierarchical --env pointmaze-giant-navigate-v0

The seeds are sharded over every local device (`cfgrl_core.train.ShardedRuns`: each device trains its share of
the seeds; one device: as before), and before each env a cost estimate measured on this machine is printed
(`cfgrl_core.ogbench.cost`): training time from a few timed steps, and an upper bound on evaluation's policy time.

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
import sys
from pathlib import Path

import jax

from cfgrl_core.checks import nonnegative_int_argument, positive_int_argument
from cfgrl_core.ogbench import cost, methods
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
    parser.add_argument(
        "--method", action="append", choices=methods.METHODS, default=None,
        help="repeatable; default: the preset's (shared network)",
    )  # fmt: skip
    parser.add_argument("--estimate-only", action="store_true", help="print the cost estimates and stop")
    args = parser.parse_args(argv)
    supported = sorted(gx.ogbench_data.OFFICIAL_RECIPES)
    for name in args.env or ():
        if name not in supported:
            parser.error(f"argument --env: unknown dataset {name!r}; choose from {supported}")
    return args


def log(line: str) -> None:
    print(line, flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    preset = gx.get_preset(args.preset)
    overrides = {k: v for k, v in dict(num_steps=args.num_steps, num_seeds=args.num_seeds).items() if v is not None}
    if overrides:  # a changed preset is recorded under its own name, never mistaken for the real one
        preset = dataclasses.replace(preset, name=f"{preset.name}-modified", **overrides)
    out = args.out or gx.results_dir(preset.name)
    devices = jax.local_devices()
    print(f"device: {gx.device_description()}; {len(devices)} local device(s); preset: {preset}", flush=True)
    for env_name in args.env or preset.env_names:
        for method in args.method or preset.methods:
            result_file = gx.result_path(preset.name, env_name, out, method)
            if args.estimate_only:
                print("cost estimate:", cost.estimate(env_name, preset, method, devices).line(), flush=True)
                continue
            if not gx.prepare_result_file(result_file, overwrite=args.overwrite, fresh=args.fresh, log=log):
                continue
            print("cost estimate:", cost.estimate(env_name, preset, method, devices).line(), flush=True)
            run = gx.run_and_save(
                env_name, preset, result_file, seed=args.seed, data_dir=args.data_dir, progress=not args.no_progress,
                method=method, devices=devices,
            )  # fmt: skip
            print(gx.summary_row(run.result), f"-> {result_file}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
