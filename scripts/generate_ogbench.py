"""Generate OGBench datasets locally, in OGBench's format (see cfgrl_core/ogbench/datasets.py).

Supported: pointmaze-{medium,large,giant,teleport}-navigate-v0 and cube-single-play-v0.

    python scripts/generate_ogbench.py pointmaze-medium-navigate-v0                 # official size, ~/.ogbench/data
    python scripts/generate_ogbench.py pointmaze-large-navigate-v0 --num-episodes 200 --workers 2 --data-dir data/
    python scripts/generate_ogbench.py cube-single-play-v0 --workers 2             # 1100 x 1001 steps, ~15-30 min

The default folder is $CFGRL_OGBENCH_DATA when set, else ~/.ogbench/data. Every argument is checked before any
work starts (a bad one exits with status 2 and a message naming it). Nothing on disk is overwritten without
--overwrite: a dataset whose two files both exist (and are valid) is kept as it is, with a note; one file of the
pair alone, or a file that is not a valid dataset (read in full: truncated, a corrupt byte, NaN or inf), is
refused with one line and exit status 2. Prints the two paths and the recipe stored in the train file.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys

from cfgrl_core.checks import (
    folder_argument,
    int_argument,
    nonnegative_float_argument,
    nonnegative_int_argument,
    positive_int_argument,
)
from cfgrl_core.experiments.cli import refusing
from cfgrl_core.ogbench import datasets as ogbench_data

positive_int, nonnegative_int = positive_int_argument, nonnegative_int_argument
episode_length = int_argument(2, "an integer >= 2", " (rows per episode)")  # n rows hold n - 1 transitions
nonnegative_float = nonnegative_float_argument


def overwrite_command(name: str, args: argparse.Namespace) -> str:
    """This script's command for `name` with the given options, plus --overwrite."""
    parts = ["python", "scripts/generate_ogbench.py", name]
    for flag, value in [
        ("--num-episodes", args.num_episodes),
        ("--num-val-episodes", args.num_val_episodes),
        ("--episode-length", args.episode_length),
        ("--noise", args.noise),
        ("--seed", args.seed or None),
        ("--data-dir", args.data_dir),
    ]:
        if value is not None:
            parts += [flag, str(value)]
    return shlex.join([*parts, "--overwrite"])


def existing_problem(name: str, args: argparse.Namespace) -> str | None:
    """Why generating `name` would write over something on disk without --overwrite, or None.

    Both files there and valid: None (they are kept; `main` says so). One file of the pair alone, or a file that is
    not a valid dataset: the message refusing it."""
    if args.overwrite:
        return None
    paths = ogbench_data.dataset_paths(name, args.data_dir)
    present = [p for p in paths if p.exists()]
    if not present:
        return None
    if len(present) == 1:
        (there,) = present
        (absent,) = [p for p in paths if p not in present]
        return (
            f"{there} exists but {absent} does not (a generation stopped part-way?); not overwriting it: "
            f"`{overwrite_command(name, args)}` regenerates both"
        )
    for path in paths:
        try:
            ogbench_data.verify_dataset_file(path, regenerate=overwrite_command(name, args))
        except (ValueError, OSError) as e:
            return str(e)
    return None


def parse_args(argv=None) -> argparse.Namespace:
    """The arguments, every one checked: a bad value or an unwritable target is `parser.error` (exit status 2)."""
    supported = sorted(ogbench_data.OFFICIAL_RECIPES)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="+", metavar="NAME", help=f"dataset(s) to generate: {', '.join(supported)}")
    parser.add_argument("--num-episodes", type=positive_int, default=None, help="train episodes (default: official)")
    parser.add_argument(
        "--num-val-episodes", type=positive_int, default=None, help="val episodes (default: train // 10, at least 1)"
    )
    parser.add_argument(
        "--episode-length", type=episode_length, default=None, help="rows per episode (default: official)"
    )
    parser.add_argument(
        "--noise", type=nonnegative_float, default=None, help="oracle noise (default: navigate 0.5, play 0.1)"
    )
    parser.add_argument(
        "--seed", type=nonnegative_int, default=0, help="dataset seed; episode e uses one derived from it"
    )
    parser.add_argument(
        "--data-dir",
        type=folder_argument(writable=True),
        default=None,
        help="output folder (default: $CFGRL_OGBENCH_DATA or ~/.ogbench/data)",
    )
    parser.add_argument("--workers", type=positive_int, default=1, help="processes; the arrays do not depend on it")
    parser.add_argument("--overwrite", action="store_true", help="regenerate files that already exist")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    args = parser.parse_args(argv)
    args.names = list(dict.fromkeys(args.names))  # a name given twice is generated once
    for name in args.names:
        try:
            ogbench_data.check_env_name(name)
        except ValueError as e:
            parser.error(f"argument NAME: {e}")
    for name in args.names:
        problem = existing_problem(name, args)
        if problem:
            parser.error(problem)
    return args


@refusing
def main(argv=None) -> int:
    args = parse_args(argv)
    for name in args.names:
        train_path, val_path = ogbench_data.dataset_paths(name, args.data_dir)
        if not args.overwrite and train_path.exists() and val_path.exists():
            print(
                f"{name}: {train_path} and {val_path} exist: kept as they are (recipe below); --overwrite "
                "regenerates them with these arguments",
                file=sys.stderr,
                flush=True,
            )
        else:
            train_path, val_path = ogbench_data.generate_dataset(
                name,
                num_episodes=args.num_episodes,
                num_val_episodes=args.num_val_episodes,
                episode_length=args.episode_length,
                noise=args.noise,
                seed=args.seed,
                data_dir=args.data_dir,
                num_workers=args.workers,
                overwrite=args.overwrite,
                progress=not args.no_progress,
            )
        print(train_path)
        print(val_path)
        print(json.dumps(ogbench_data.read_recipe(train_path)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
