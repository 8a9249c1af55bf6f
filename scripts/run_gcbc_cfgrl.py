"""Run the GCBC-vs-CFGRL experiment of notebook 04 outside the notebook (e.g. the paper preset on a GPU).

    python scripts/run_gcbc_cfgrl.py --preset paper                       # all the preset's envs, 8 seeds, 1M steps
    python scripts/run_gcbc_cfgrl.py --preset cpu --env pointmaze-large-navigate-v0
    python scripts/run_gcbc_cfgrl.py --preset paper --num-steps 20000 --out /tmp/try   # a short trial of the sizes
    python scripts/run_gcbc_cfgrl.py --preset paper --env pointmaze-large-navigate-v0 --estimate-only
    python scripts/run_gcbc_cfgrl.py --preset paper --method hierarchical --env pointmaze-giant-navigate-v0
    python scripts/run_gcbc_cfgrl.py --preset cpu --env pointmaze-medium-navigate-v0 --compute-dtype bfloat16
    python scripts/run_gcbc_cfgrl.py --preset cpu --env pointmaze-medium-navigate-v0 --compute-dtype float32
                                    # the bfloat16 check's two arms: results/gcbc_cfgrl/cpu-bfloat16/, cpu-float32/

The seeds are sharded over every local device (`cfgrl_core.train.ShardedRuns`: each device trains its share of
the seeds; one device: as before), and before each env a cost estimate measured on this machine is printed
(`cfgrl_core.experiments.gc_cost`): training time from a few timed steps, and an upper bound on evaluation's policy
time.

Each env's result is written atomically as JSON to results/gcbc_cfgrl/<preset>/<env>.json (or --out), with the
preset, timings, device, dataset hash and commit inside, and its final weights to <env>/weights/ beside it. A run
that is killed resumes from its last checkpoint when the same command is run again (checkpoints every
`checkpoint_every` steps and finished evaluations live in <env>/ until the run completes). An env whose result
exists already is skipped unless --overwrite. Install the GPU build of JAX first (`pip install -e .[gpu]`).
Datasets are generated on first use (see scripts/generate_ogbench.py).
"""

from __future__ import annotations

import dataclasses
import sys

import jax

from cfgrl_core.experiments import cli, gc_cost
from cfgrl_core.experiments import gcbc_cfgrl as gx
from cfgrl_core.io.provenance import device_description
from cfgrl_core.ogbench import datasets as ogbench_data
from cfgrl_core.ogbench import methods


def parse_args(argv=None):
    parser = cli.runner_parser(__doc__, gx.EXPERIMENT)
    parser.add_argument("--env", action="append", default=None, help="dataset name (repeatable; default: the preset's)")
    cli.add_data_arguments(parser)
    cli.add_size_overrides(parser)
    parser.add_argument("--overwrite", action="store_true", help="rerun envs whose result exists already")
    parser.add_argument("--fresh", action="store_true", help="discard an unfinished run's checkpoints, start again")
    parser.add_argument(
        "--method", action="append", choices=methods.METHODS, default=None,
        help="repeatable; default: the preset's (shared network)",
    )  # fmt: skip
    parser.add_argument("--estimate-only", action="store_true", help="print the cost estimates and stop")
    parser.add_argument(
        "--compute-dtype", choices=("float32", "bfloat16"), default=None,
        help="the matmul dtype; the preset is then named <preset>-<dtype> (its own results folder), even when the "
        "dtype is the preset's own",
    )  # fmt: skip
    args = parser.parse_args(argv)
    supported = sorted(ogbench_data.OFFICIAL_RECIPES)
    for name in args.env or ():
        if name not in supported:
            parser.error(f"argument --env: unknown dataset {name!r}; choose from {supported}")
    return args


@cli.refusing
def main(argv=None) -> int:
    args = parse_args(argv)
    preset = cli.sized_preset(gx.get_preset(args.preset), args)
    if args.compute_dtype is not None:  # named for the dtype even where it is the preset's: a check's own arm
        preset = dataclasses.replace(
            preset, name=f"{preset.name}-{args.compute_dtype}", compute_dtype=args.compute_dtype
        )
    out = cli.results_folder(args, gx.EXPERIMENT, preset.name)
    devices = jax.local_devices()
    cli.log(f"device: {device_description()}; {len(devices)} local device(s); preset: {preset}")
    runs = [(env_name, method) for env_name in args.env or preset.env_names for method in args.method or preset.methods]
    if args.estimate_only:
        for env_name, method in runs:
            cli.log(f"cost estimate: {gc_cost.estimate(env_name, preset, method, devices).line()}")
        return 0
    runs = [(env_name, method, result_file) for env_name, method in runs
            if gx.prepare_result_file(result_file := gx.result_path(preset.name, env_name, out, method), preset.name,
                                      overwrite=args.overwrite, fresh=args.fresh, log=cli.log)]  # fmt: skip
    for env_name in dict.fromkeys(env_name for env_name, _, _ in runs):  # every dataset read in full before training
        ogbench_data.ready_dataset(env_name, num_episodes=preset.num_episodes, data_dir=args.data_dir, seed=args.seed,
                                   progress=not args.no_progress)  # fmt: skip
    for env_name, method, result_file in runs:
        cli.log(f"cost estimate: {gc_cost.estimate(env_name, preset, method, devices).line()}")
        run = gx.run_and_save(
            env_name, preset, result_file, seed=args.seed, data_dir=args.data_dir, progress=not args.no_progress,
            method=method, devices=devices,
        )  # fmt: skip
        cli.log(f"{gx.summary_row(run.result)} -> {result_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
