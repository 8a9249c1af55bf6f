"""Run notebook 05's offline-RL experiment (IQL + AWR vs CFGRL, single-task OGBench) outside the notebook.

    python scripts/run_offline_rl.py --preset cpu                      # the preset's tasks, one after the other
    python scripts/run_offline_rl.py --preset paper --task pointmaze-large-navigate-singletask-v0   # a GPU job
    python scripts/run_offline_rl.py --preset cpu --num-steps 2000 --out /tmp/try   # a short trial of the sizes

Each task's result is written atomically as JSON to results/offline_rl/<preset>/<task>.json (or under --out), with
the preset, timings, device, dataset hash and commit inside; its final critic and actor weights and a sample of
transitions with their Q, V and A go to <task>/ beside it. A killed run resumes from its last checkpoint when the same
command is run again. A task whose result exists already is skipped unless --overwrite. Datasets are generated on
first use (scripts/generate_ogbench.py; cube-single takes about 45 min on one core).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
from pathlib import Path

from cfgrl_core.checks import nonnegative_int_argument, positive_int_argument
from cfgrl_core.ogbench import offline_rl


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="cpu", choices=sorted(offline_rl.PRESETS))
    parser.add_argument(
        "--task", action="append", default=None, help="single-task name (repeatable; default: the preset's)"
    )
    parser.add_argument("--seed", type=nonnegative_int_argument, default=0)
    parser.add_argument("--num-steps", type=positive_int_argument, default=None, help="override the training steps")
    parser.add_argument("--num-seeds", type=positive_int_argument, default=None, help="override the number of seeds")
    parser.add_argument(
        "--data-dir", default=None, help="dataset folder (default: $CFGRL_OGBENCH_DATA, else ~/.ogbench/data)"
    )
    parser.add_argument("--out", type=Path, default=None, help="results root (default: results/offline_rl)")
    parser.add_argument("--overwrite", action="store_true", help="rerun tasks whose result exists already")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    for task in args.task or ():
        try:
            offline_rl.parse_task(task)
        except ValueError as e:
            parser.error(f"argument --task: {e}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.out is not None:
        os.environ["CFGRL_RESULTS_DIR"] = str(args.out)
    preset = offline_rl.get_preset(args.preset)
    overrides = {k: v for k, v in dict(num_steps=args.num_steps, num_seeds=args.num_seeds).items() if v is not None}
    if overrides:  # a changed preset is recorded under its own name, never mistaken for the real one
        preset = dataclasses.replace(preset, name=f"{preset.name}-modified", **overrides)
    print(f"device: {offline_rl.device_description()}; preset: {preset}", flush=True)
    for task in args.task or preset.tasks:
        result_file = offline_rl.result_path(preset.name, task)
        if result_file.exists() and not args.overwrite:
            print(f"{result_file} exists: skipped (--overwrite to run it again)", flush=True)
            continue
        if result_file.exists():  # --overwrite of a finished run starts from scratch
            shutil.rmtree(result_file.with_suffix(""), ignore_errors=True)
        result = offline_rl.run_and_save(
            task, preset, seed=args.seed, data_dir=args.data_dir, progress=not args.no_progress
        )
        print(json.dumps(offline_rl.table_row(result)), f"-> {result_file}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
