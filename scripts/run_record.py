"""Run one of notebook 05's records: runs the notebook reads from the committed results and `make figures` does not
train again (their cost on 2 cores), each the check of a question an earlier run raised.

    python scripts/run_record.py awr_check         # is AWR's gap to CFGRL our actor? (about 50 min on 2 cores)
    python scripts/run_record.py critic_budget     # medium task 3's values along its path (about 18 min)
    python scripts/run_record.py awr_check --preset fast --out /tmp/try

The result is written atomically as JSON to results/<record>/<preset>/<task>.json (or <out>/<task>.json), with the
preset, timings, device, dataset hash and commit inside; the AWR check's also keeps the committed mechanism run it is
paired with (`base_run`), when that run's critics are its own. A killed run resumes from its last checkpoint when the
same command is run again; a finished result is kept unless --overwrite.
"""

from __future__ import annotations

import sys

from cfgrl_core.experiments import awr_check, cli, critic_budget, offline_rl, protocol
from cfgrl_core.io.provenance import device_description

RECORDS = {"awr_check": awr_check, "critic_budget": critic_budget}


@cli.refusing
def main(argv=None) -> int:
    parser = cli.runner_parser(__doc__, awr_check.EXPERIMENT)  # both records have the presets "fast" and "cpu"
    parser.add_argument("record", choices=sorted(RECORDS))
    cli.add_data_arguments(parser)
    parser.add_argument("--overwrite", action="store_true", help="run again when the result exists already")
    args = parser.parse_args(argv)
    module = RECORDS[args.record]
    preset = module.get_preset(args.preset)
    out = cli.results_folder(args, module.EXPERIMENT, preset.name)
    result_file = module.result_path(preset.name, out)
    cli.log(f"device: {device_description()}; {args.record}: {preset}")
    if not protocol.prepare_result_file(result_file, result_file.with_suffix(""), preset_name=preset.name,
                                        overwrite=args.overwrite, log=cli.log):  # fmt: skip
        return 0
    kw = dict(folder=out, seed=args.seed, data_dir=args.data_dir, progress=not args.no_progress, log=cli.log)
    base_file = offline_rl.result_path(preset.base, preset.task) if module is awr_check else None
    if base_file is not None and base_file.is_file():  # the committed run the check pairs with (awr_check.base_run)
        base = offline_rl.load_result(base_file)
        result = module.run(preset, **kw, base_result=base)
        cli.log(f"against {base_file}: {awr_check.summary_line(result, base)}")
    else:
        module.run(preset, **kw)
    cli.log(f"-> {result_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
