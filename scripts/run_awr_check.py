"""Run notebook 05's AWR check (the mechanism row's critic with the authors' OGBench AWR actor and ours with a
constant sigma, `cfgrl_core.experiments.awr_check`) outside the notebook; `make figures` does not run it.

    python scripts/run_awr_check.py                 # the cpu preset: about 50 min on 2 cores
    python scripts/run_awr_check.py --preset fast --out /tmp/try

The result is written atomically as JSON to results/awr_check/<preset>/<task>.json (or <out>/<task>.json), with the
preset, timings, device, dataset hash and commit inside. A killed run resumes from its last checkpoint when the same
command is run again; a finished result is kept unless --overwrite.
"""

from __future__ import annotations

import sys

from cfgrl_core.experiments import awr_check, cli, offline_rl, protocol
from cfgrl_core.io.provenance import device_description


@cli.refusing
def main(argv=None) -> int:
    parser = cli.runner_parser(__doc__, awr_check.EXPERIMENT)
    cli.add_data_arguments(parser)
    parser.add_argument("--overwrite", action="store_true", help="run again when the result exists already")
    args = parser.parse_args(argv)
    preset = awr_check.get_preset(args.preset)
    out = cli.results_folder(args, awr_check.EXPERIMENT, preset.name)
    result_file = awr_check.result_path(preset.name, out)
    cli.log(f"device: {device_description()}; preset: {preset}")
    if not protocol.prepare_result_file(result_file, result_file.with_suffix(""), preset_name=preset.name,
                                        overwrite=args.overwrite, log=cli.log):  # fmt: skip
        return 0
    result = awr_check.run(preset, folder=out, seed=args.seed, data_dir=args.data_dir, progress=not args.no_progress,
                           log=cli.log)  # fmt: skip
    base_file = offline_rl.result_path(preset.base, preset.task)
    if base_file.is_file():
        found = awr_check.compare(result, offline_rl.load_result(base_file))
        cli.log(f"critics are the base run's: {found['critic_matches']}; ours {found['ours']}")
        for name, v in found["variants"].items():
            cli.log(f"  {name}: {v['success']}, minus ours {awr_check.stats.gap_text(v['gap'])}")
    cli.log(f"-> {result_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
