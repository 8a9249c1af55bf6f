"""Run the GCBC-vs-CFGRL experiment of notebook 04 outside the notebook (e.g. the paper preset on a GPU).

    python scripts/run_gcbc_cfgrl.py --preset paper                       # all the preset's mazes, 8 seeds, 1M steps
    python scripts/run_gcbc_cfgrl.py --preset cpu --env pointmaze-large-navigate-v0
    python scripts/run_gcbc_cfgrl.py --preset paper --num-steps 20000 --out /tmp/try   # a short trial of the sizes

Each maze's result is written atomically as JSON to results/gcbc_cfgrl/<preset>/<env>.json (or --out), with the
preset, timings, device and commit inside; notebook 04 shows committed `paper` results next to its own. Install the
GPU build of JAX first (`pip install -e .[gpu]`). Datasets are generated on first use (see scripts/generate_ogbench.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from cfgrl_core import gc_experiment as gx


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="cpu", choices=sorted(gx.PRESETS))
    parser.add_argument(
        "--env", action="append", default=None, help="maze dataset name (repeatable; default: the preset's)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-steps", type=int, default=None, help="override the preset's training steps")
    parser.add_argument("--num-seeds", type=int, default=None, help="override the preset's number of seeds")
    parser.add_argument("--data-dir", default=None, help="dataset folder (default: ~/.ogbench/data)")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default: results/gcbc_cfgrl/<preset>)")
    args = parser.parse_args(argv)
    preset = gx.get_preset(args.preset)
    overrides = {k: v for k, v in dict(num_steps=args.num_steps, num_seeds=args.num_seeds).items() if v is not None}
    if overrides:  # a changed preset is recorded under its own name, never mistaken for the real one
        preset = dataclasses.replace(preset, name=f"{preset.name}-modified", **overrides)
    out = args.out or gx.results_dir(preset.name)
    print(f"device: {gx.device_description()}; preset: {preset}", flush=True)
    for env_name in args.env or preset.env_names:
        run = gx.run_experiment(env_name, preset, seed=args.seed, data_dir=args.data_dir)
        path = gx.save_results(run.result, out / f"{env_name}.json")
        print(gx.summary_row(run.result), f"-> {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
