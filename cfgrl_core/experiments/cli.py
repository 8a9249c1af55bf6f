"""The command-line base every `scripts/run_*.py` builds on: a flag two runners share means the same in both, and
every runner refuses bad input the same way.

    @refusing                                        # an InputError or OSError: one line, exit status 2
    def main(argv=None) -> int:
        parser = runner_parser(__doc__, EXPERIMENT)  # --preset, --out (a folder it can write), --no-progress
        add_data_arguments(parser)                   # --seed, --data-dir (the OGBench runners; not a file)
        add_size_overrides(parser)                   # --num-steps, --num-seeds
        args = parser.parse_args(argv)
        preset = sized_preset(EXPERIMENT.preset(args.preset), args)  # "<name>-modified" when a size is overridden
        folder = results_folder(args, EXPERIMENT, preset.name)       # --out, else results/<experiment>/<preset>

`--out` is always the folder that receives this preset's results (what results/<experiment>/<preset>/ is by
default); a changed size is recorded under its own preset name, never mistaken for the real preset. What a runner
does with a finished result follows its notebook's cost: the OGBench runners (04, 05, 08: hours) keep it and skip
the run unless --overwrite (and --fresh drops an unfinished run's checkpoints), the point-mass runners (06, 07:
minutes) make it again unless --reuse.

Refusals: a bad argument is argparse's (usage, then `error: argument ...`, status 2), and so is an --out or
--data-dir that is a file, below a file, or (--out) not writable, before any work. Bad data or a bad folder found
later (a corrupt, truncated or non-finite dataset, one file of a pair, a result of another preset, a file that is
not valid JSON: `cfgrl_core.checks.InputError`; a file the system refuses: OSError) ends the run with one line,
`<script>: error: <what, naming the file>`, status 2 and no traceback (`refusing`). Nothing is deleted or
overwritten on the way: the checks run before anything is written.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
import time
from pathlib import Path

from cfgrl_core.checks import (
    InputError,
    check_folder,
    folder_argument,
    nonnegative_int_argument,
    positive_int_argument,
)
from cfgrl_core.experiments.protocol import RESULTS_ENV, Experiment
from cfgrl_core.io.provenance import git_commit

REFUSED = 2  # the exit status of a refusal, argparse's own for a bad argument


def refusing(main):
    """`main(argv) -> int` whose InputError or OSError (bad data or a bad folder, found after parsing) ends as one
    line on stderr, `<script>: error: <message>`, returning status 2 instead of a traceback. Other exceptions are
    bugs and keep their traceback. The commit is read before `main` runs (`provenance.git_commit`, cached for the
    process): a run stamps the tree it started from, not the tree as it is when the run ends and saves."""
    script = Path(main.__globals__.get("__file__", "runner")).name

    @functools.wraps(main)
    def guarded(argv=None) -> int:
        git_commit()
        try:
            return main(argv)
        except (InputError, OSError) as e:
            message = " ".join(str(e).split())
            print(f"{script}: error: {message}", file=sys.stderr, flush=True)
            return REFUSED

    return guarded


def runner_parser(doc: str, experiment: Experiment, *, flag: str = "--preset", default: str = "cpu"):
    """An ArgumentParser with the script's docstring, the preset (or tier) choice, --out and --no-progress."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    name = flag.lstrip("-")
    parser.add_argument(flag, default=default, choices=sorted(experiment.presets), help=f"default: {default}")
    parser.add_argument(
        "--out", type=folder_argument(writable=True), default=None,
        help=f"results folder (default: results/{experiment.name}/<{name}>, or "
        f"${RESULTS_ENV}/{experiment.name}/<{name}> when ${RESULTS_ENV} is set)",
    )  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def add_data_arguments(parser) -> None:
    """--seed (the run's seed: datasets, training, evaluation) and --data-dir (where OGBench datasets live)."""
    parser.add_argument("--seed", type=nonnegative_int_argument, default=0)
    parser.add_argument(
        "--data-dir",
        type=folder_argument(writable=False),
        default=None,
        help="dataset folder (default: $CFGRL_OGBENCH_DATA, else ~/.ogbench/data)",
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
    """--out, else results/<experiment>/<preset> ($CFGRL_RESULTS_DIR/<experiment>/<preset>): a folder this process
    can write into (else an InputError naming it, before any work)."""
    return check_folder(args.out or experiment.results_dir(preset_name))


def log(line: str) -> None:
    """A line on the terminal at once, after the UTC time of day (long runs show their progress as they go, and
    where their time goes)."""
    print(f"{time.strftime('%H:%M:%S', time.gmtime())} {line}", flush=True)
