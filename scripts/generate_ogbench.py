"""Generate OGBench datasets locally, in OGBench's format (see cfgrl_core/ogbench/datasets.py).

Supported: pointmaze-{medium,large,giant,teleport}-navigate-v0 and cube-single-play-v0.

    python scripts/generate_ogbench.py pointmaze-medium-navigate-v0                 # official size, ~/.ogbench/data
    python scripts/generate_ogbench.py pointmaze-large-navigate-v0 --num-episodes 200 --workers 2 --data-dir data/
    python scripts/generate_ogbench.py cube-single-play-v0 --workers 2             # 1100 x 1001 steps, ~15-30 min

Existing files are kept unless --overwrite. Prints the two paths and the recipe stored in the train file.
"""

from __future__ import annotations

import argparse
import json
import sys

from cfgrl_core.ogbench import datasets as ogbench_data


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="+", choices=sorted(ogbench_data.OFFICIAL_RECIPES), metavar="NAME")
    parser.add_argument("--num-episodes", type=int, default=None, help="train episodes (default: official)")
    parser.add_argument("--num-val-episodes", type=int, default=None, help="val episodes (default: train // 10)")
    parser.add_argument("--episode-length", type=int, default=None, help="rows per episode (default: official)")
    parser.add_argument("--noise", type=float, default=None, help="oracle noise (default: navigate 0.5, play 0.1)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed; episode e uses a seed derived from it")
    parser.add_argument("--data-dir", default=None, help="output folder (default: ~/.ogbench/data)")
    parser.add_argument("--workers", type=int, default=1, help="processes; the arrays do not depend on it")
    parser.add_argument("--overwrite", action="store_true", help="regenerate files that already exist")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    args = parser.parse_args(argv)
    for name in args.names:
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
