"""Run notebook 08's studies outside the notebook: cube-single, the shared-vs-separate ablation, the hierarchy.

    python scripts/run_gc_studies.py --tier cpu                          # all three studies (2 cores: see notebook 08)
    python scripts/run_gc_studies.py --tier cpu --study ablation --study hierarchy
    python scripts/run_gc_studies.py --tier paper --study ablation       # a GPU job

Each run's result goes atomically to results/gc_studies/<tier>/<env>[--<method>].json with its weights beside it
(`cfgrl_core.ogbench.studies`). A killed run resumes from its checkpoints when the command is run again; a finished
run is kept (skipped) unless --overwrite. Datasets (official size) are generated on first use.
"""

from __future__ import annotations

import argparse
import sys

import jax

from cfgrl_core.ogbench import experiment as gx
from cfgrl_core.ogbench import studies


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tier", default="cpu", choices=sorted(studies.TIERS))
    parser.add_argument("--study", action="append", choices=sorted(studies.TIERS["cpu"]), default=None)
    parser.add_argument(
        "--data-dir", default=None, help="dataset folder (default: $CFGRL_OGBENCH_DATA or ~/.ogbench/data)"
    )
    parser.add_argument("--overwrite", action="store_true", help="rerun finished runs from scratch")
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    print(f"device: {gx.device_description()}; {len(jax.local_devices())} local device(s)", flush=True)
    for name in args.study or list(studies.TIERS[args.tier]):
        study = studies.get_study(name, args.tier)
        for method in study.methods:
            result_file = studies.result_file(name, args.tier, method)
            if not gx.prepare_result_file(result_file, overwrite=args.overwrite, log=lambda s: print(s, flush=True)):
                continue
            run = gx.run_and_save(
                study.env_name,
                study.preset,
                result_file,
                data_dir=args.data_dir,
                progress=not args.no_progress,
                method=method,
                devices=jax.local_devices(),
            )
            print(name, method, gx.summary_row(run.result), f"-> {result_file}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
