"""Run notebook 05's offline-RL experiment (IQL + AWR vs CFGRL, single-task OGBench) outside the notebook.

    python scripts/run_offline_rl.py --preset cpu                      # the preset's tasks, one after the other
    python scripts/run_offline_rl.py --preset paper --task pointmaze-large-navigate-singletask-v0   # a GPU job
    python scripts/run_offline_rl.py --preset cpu --num-steps 2000 --out /tmp/try   # a short trial of the sizes

Each task's result is written atomically as JSON to results/offline_rl/<preset>/<task>.json (or <out>/<task>.json),
with the preset, timings, device, dataset hash and commit inside; the final critic and actor weights of the seeds
notebook 05 reads (`offline_rl.NOTEBOOK_SEEDS`, as the notebook keeps them; --all-weights: every seed's) and a sample
of transitions with their Q, V and A go to <task>/ beside it. A killed run resumes from its last checkpoint when the
same command is run again. A task whose result exists already is skipped unless --overwrite. Datasets are
generated on first use (scripts/generate_ogbench.py; cube-single takes about 45 min on one core).
"""

from __future__ import annotations

import json
import sys

from cfgrl_core.experiments import cli, offline_rl, protocol
from cfgrl_core.io.provenance import device_description
from cfgrl_core.ogbench import datasets as ogbench_data


def parse_args(argv=None):
    parser = cli.runner_parser(__doc__, offline_rl.EXPERIMENT)
    parser.add_argument(
        "--task", action="append", default=None, help="single-task name (repeatable; default: the preset's)"
    )
    cli.add_data_arguments(parser)
    cli.add_size_overrides(parser)
    parser.add_argument("--overwrite", action="store_true", help="rerun tasks whose result exists already")
    parser.add_argument(
        "--all-weights", action="store_true", help="keep every seed's weights (default: offline_rl.NOTEBOOK_SEEDS only)"
    )
    args = parser.parse_args(argv)
    for task in args.task or ():
        try:
            offline_rl.parse_task(task)
        except ValueError as e:
            parser.error(f"argument --task: {e}")
    return args


@cli.refusing
def main(argv=None) -> int:
    args = parse_args(argv)
    preset = cli.sized_preset(offline_rl.get_preset(args.preset), args)
    out = cli.results_folder(args, offline_rl.EXPERIMENT, preset.name)
    cli.log(f"device: {device_description()}; preset: {preset}")
    tasks = [task for task in args.task or preset.tasks
             if protocol.prepare_result_file(result_file := offline_rl.result_path(preset.name, task, out),
                                             result_file.with_suffix(""), preset_name=preset.name,
                                             overwrite=args.overwrite, log=cli.log)]  # fmt: skip
    for env_name in dict.fromkeys(offline_rl.parse_task(task)[0] for task in tasks):  # read in full before training
        ogbench_data.ready_dataset(env_name, num_episodes=preset.num_episodes, data_dir=args.data_dir, seed=args.seed,
                                   progress=not args.no_progress)  # fmt: skip
    for task in tasks:
        result_file = offline_rl.result_path(preset.name, task, out)
        result = offline_rl.run_and_save(
            task,
            preset,
            out,
            seed=args.seed,
            data_dir=args.data_dir,
            progress=not args.no_progress,
            log=cli.log,
            weight_seeds=None if args.all_weights else offline_rl.NOTEBOOK_SEEDS,
        )
        cli.log(f"{json.dumps(offline_rl.table_row(result))} -> {result_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
