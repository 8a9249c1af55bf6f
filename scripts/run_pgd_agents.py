"""Run notebook 07's experiment outside the notebook: TD3+BC and IQL on real, unguided and PGD data.

    python scripts/run_pgd_agents.py --preset cpu          # what `make figures` runs inside notebook 07
    python scripts/run_pgd_agents.py --preset paper        # larger sizes (a GPU build of JAX helps)
    python scripts/run_pgd_agents.py --preset fast --out /tmp/try

Writes results/pgd_agents/<preset>/<task>/ (or --out/<task>/; one task per good fraction, e.g. good20):
mixed.npz (the mixed-quality dataset and its recipe),
trajectory_model/ (weights and normaliser), initial_windows.npz (a few unguided windows per seed) and results.json
(every curve per arm and seed, the references of the normalised score, timings, device, dataset hash, commit).
A killed run resumes from its checkpoints (<out>/<task>/train/) when the same command is run again; a finished one is
done again unless --reuse.
"""

from __future__ import annotations

import sys

from cfgrl_core.experiments import cli, pgd_agents, stats


@cli.refusing
def main(argv=None) -> int:
    parser = cli.runner_parser(__doc__, pgd_agents.EXPERIMENT)
    parser.add_argument("--reuse", action="store_true", help="load a finished run instead of doing it again")
    args = parser.parse_args(argv)
    folder = cli.results_folder(args, pgd_agents.EXPERIMENT, args.preset)
    results = pgd_agents.obtain(args.preset, folder, reuse=args.reuse, progress=not args.no_progress)
    for task, result in results.items():
        for agent, r in result["agents"].items():
            for arm, a in r["arms"].items():
                score = a["final_score"]
                cli.log(f"{task} {agent:7s} {arm:10s} score {stats.pm(*stats.mean_std(score), '6.1f')} "
                        f"(seeds {len(score)})")  # fmt: skip
        cli.log(f"{folder / task}: {result['seconds']['total']:.0f} s, commit {result['commit']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
