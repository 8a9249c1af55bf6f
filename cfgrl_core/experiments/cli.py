"""The command-line base every `scripts/run_*.py` builds on: a flag two runners share means the same in both.

    parser = runner_parser(__doc__, EXPERIMENT)      # --preset, --out, --no-progress
    add_data_arguments(parser)                       # --seed, --data-dir (the OGBench runners)
    add_size_overrides(parser)                       # --num-steps, --num-seeds
    args = parser.parse_args(argv)
    preset = sized_preset(EXPERIMENT.preset(args.preset), args)     # "<name>-modified" when a size is overridden
    folder = results_folder(args, EXPERIMENT, preset.name)          # --out, else results/<experiment>/<preset>

`--out` is always the folder that receives this preset's results (what results/<experiment>/<preset>/ is by
default); a changed size is recorded under its own preset name, never mistaken for the real preset. What a runner
does with a finished result follows its notebook's cost: the OGBench runners (04, 05, 08: hours) keep it and skip
the run unless --overwrite (and --fresh drops an unfinished run's checkpoints), the point-mass runners (06, 07:
minutes) make it again unless --reuse.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from cfgrl_core.checks import nonnegative_int_argument, positive_int_argument
from cfgrl_core.experiments.protocol import Experiment


def runner_parser(doc: str, experiment: Experiment, *, flag: str = "--preset", default: str = "cpu"):
    """An ArgumentParser with the script's docstring, the preset (or tier) choice, --out and --no-progress."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    name = flag.lstrip("-")
    parser.add_argument(flag, default=default, choices=sorted(experiment.presets), help=f"default: {default}")
    parser.add_argument(
        "--out", type=Path, default=None, help=f"results folder (default: results/{experiment.name}/<{name}>)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def add_data_arguments(parser) -> None:
    """--seed (the run's seed: datasets, training, evaluation) and --data-dir (where OGBench datasets live)."""
    parser.add_argument("--seed", type=nonnegative_int_argument, default=0)
    parser.add_argument(
        "--data-dir", default=None, help="dataset folder (default: $CFGRL_OGBENCH_DATA, else ~/.ogbench/data)"
    )


def add_size_overrides(parser) -> None:
    """--num-steps and --num-seeds, overriding the preset's."""
    parser.add_argument("--num-steps", type=positive_int_argument, default=None, help="override the training steps")
    parser.add_argument("--num-seeds", type=positive_int_argument, default=None, help="override the number of seeds")


def sized_preset(preset, args):
    """The preset with --num-steps / --num-seeds applied, renamed '<name>-modified' when either is given."""
    overrides = {k: v for k, v in dict(num_steps=args.num_steps, num_seeds=args.num_seeds).items() if v is not None}
    if not overrides:
        return preset
    return dataclasses.replace(preset, name=f"{preset.name}-modified", **overrides)


def results_folder(args, experiment: Experiment, preset_name: str) -> Path:
    """--out, else results/<experiment>/<preset> ($CFGRL_RESULTS_DIR/<experiment>/<preset>)."""
    return args.out or experiment.results_dir(preset_name)


def log(line: str) -> None:
    """A line on the terminal at once (long runs show their progress as they go)."""
    print(line, flush=True)
