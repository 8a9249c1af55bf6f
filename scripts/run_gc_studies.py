"""Run notebook 08's studies outside the notebook: cube-single, the shared-vs-separate ablation, the hierarchy.

    python scripts/run_gc_studies.py --tier cpu                          # all three studies (2 cores: see notebook 08)
    python scripts/run_gc_studies.py --tier cpu --study ablation --study hierarchy
    python scripts/run_gc_studies.py --tier paper --study ablation       # a GPU job
    python scripts/run_gc_studies.py --tier fast --out /tmp/try          # seconds: the pipeline only

Each run's result goes atomically to results/gc_studies/<tier>/<env>[--<method>].json (or --out) with its weights
beside it (`cfgrl_core.experiments.gc_studies`). A killed run resumes from its checkpoints when the command is run
again; a finished run is kept (skipped) unless --overwrite. Datasets (official size) are generated on first use.
"""

from __future__ import annotations

import sys

import jax

from cfgrl_core.experiments import cli, gc_studies
from cfgrl_core.experiments import gcbc_cfgrl as gx
from cfgrl_core.io.provenance import device_description
from cfgrl_core.ogbench import datasets as ogbench_data


def parse_args(argv=None):
    parser = cli.runner_parser(__doc__, gc_studies.EXPERIMENT, flag="--tier")
    parser.add_argument("--study", action="append", choices=sorted(gc_studies.TIERS["cpu"]), default=None)
    cli.add_data_arguments(parser)
    parser.add_argument("--overwrite", action="store_true", help="rerun finished runs from scratch")
    return parser.parse_args(argv)


@cli.refusing
def main(argv=None) -> int:
    args = parse_args(argv)
    out = cli.results_folder(args, gc_studies.EXPERIMENT, args.tier)
    cli.log(f"device: {device_description()}; {len(jax.local_devices())} local device(s)")
    studies = [gc_studies.get_study(name, args.tier) for name in args.study or list(gc_studies.TIERS[args.tier])]
    runs = [(study, method, result_file) for study in studies for method in study.methods
            if gx.prepare_result_file(result_file := gc_studies.result_file(study.name, args.tier, method, out),
                                      study.preset.name, overwrite=args.overwrite, log=cli.log)]  # fmt: skip
    datasets = dict.fromkeys((s.env_name, s.preset.num_episodes) for s, _, _ in runs)
    for env_name, num_episodes in datasets:  # every dataset read in full before any training
        ogbench_data.ready_dataset(env_name, num_episodes=num_episodes, data_dir=args.data_dir, seed=args.seed,
                                   progress=not args.no_progress)  # fmt: skip
    for study, method, result_file in runs:
        run = gx.run_and_save(
            study.env_name, study.preset, result_file, seed=args.seed, data_dir=args.data_dir,
            progress=not args.no_progress, method=method, devices=jax.local_devices(),
        )  # fmt: skip
        cli.log(f"{study.name} {method} {gx.summary_row(run.result)} -> {result_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
