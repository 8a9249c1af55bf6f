"""Recorded check: notebooks run on the committed results (CFGRL_REUSE_RESULTS=1) regenerate the committed figures.

    python scripts/check_reuse.py                      # notebooks 04-08, full settings, about 5 min on 2 cores
    python scripts/check_reuse.py 07_pgd_offline_agents --no-record

Each notebook runs headless (`cfgrl_core.io.run_notebooks`) with CFGRL_REUSE_RESULTS=1, so it loads the committed
results and weights instead of training, and writes its figures into a temporary folder. Every figNN_*.csv is then
compared byte for byte with the committed one in figures/, every figNN_summary.json on its values, template and
text, and every PNG byte for byte (reported, not required: a picture may differ across matplotlib builds). The
outcome goes to figures/reuse_check.json (the commit, the machine, one line per file) unless --no-record; the exit
status is 1 when a CSV or a summary differs.

Notebooks 04 and 05 draw their datasets: generate them first (`scripts/generate_ogbench.py`), or the dataset
panels are skipped and those CSVs differ. Parts that are computed again rather than loaded (rollouts from the
saved weights, notebook 06's analytic Figure 3) are exact on one machine and may differ in the last float bits on
another, which is why this is a recorded check and not a test of the suite.
"""

from __future__ import annotations

import argparse
import datetime
import filecmp
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cfgrl_core.io.atomic import atomic_write_json  # noqa: E402
from cfgrl_core.io.provenance import git_commit  # noqa: E402
from cfgrl_core.io.run_notebooks import NOTEBOOK_DIR, execute_notebook  # noqa: E402

DEFAULT = ("04", "05", "06", "07", "08")
OTHER_RESULTS = ("CFGRL_RESULTS_DIR", "CFGRL_GCBC_PRESET", "CFGRL_OFFLINE_PRESET", "CFGRL_PGD_PRESET",
                 "CFGRL_PGD_AGENTS_PRESET", "CFGRL_STUDIES_TIER")  # fmt: skip
RECORD = REPO / "figures" / "reuse_check.json"


def cpu_model() -> str:
    """The CPU's model name (Linux), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def compare(prefix: str, made: Path, committed: Path) -> list[dict]:
    """One line per committed file of notebook `prefix` ('fig04'): {file, kind, same}."""
    lines = []
    for path in sorted(committed.glob(f"{prefix}_*")):
        new = made / path.name
        if path.suffix == ".csv" or path.suffix == ".png":
            same = new.is_file() and filecmp.cmp(new, path, shallow=False)
            lines.append(dict(file=path.name, kind=path.suffix[1:], same=same))
        elif path.name.endswith("_summary.json"):
            a, b = json.loads(path.read_text()), json.loads(new.read_text()) if new.is_file() else {}
            same = all(
                json.dumps(a.get(k), sort_keys=True) == json.dumps(b.get(k), sort_keys=True)
                for k in ("values", "template", "text")
            )  # the same values, in whatever order
            lines.append(dict(file=path.name, kind="summary", same=same))
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", help="notebook numbers or stems (default: 04 to 08)")
    parser.add_argument("--no-record", action="store_true", help=f"do not write {RECORD.relative_to(REPO)}")
    args = parser.parse_args(argv)
    wanted = args.notebooks or DEFAULT
    every = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    notebooks = [p for p in every if any(p.stem.startswith(w) for w in wanted)]
    if not notebooks:
        parser.error(f"no notebook matches {wanted}")
    os.environ["CFGRL_REUSE_RESULTS"] = "1"
    for name in OTHER_RESULTS:  # the committed results of the default presets, whatever this shell sets
        os.environ.pop(name, None)
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        for nb in notebooks:
            print(f"[check_reuse] {nb.name} on the committed results ...", flush=True)
            seconds = execute_notebook(nb, fast=False, figures_dir=Path(tmp), executed_dir=Path(tmp) / "executed")
            found = compare(f"fig{nb.name[:2]}", Path(tmp), REPO / "figures")
            lines += [dict(line, notebook=nb.stem) for line in found]
            print(f"[check_reuse] {nb.name}: {sum(x['same'] for x in found)} of {len(found)} files identical "
                  f"({seconds:.0f} s)", flush=True)  # fmt: skip
    for line in lines:
        if not line["same"]:
            print(f"  differs: {line['file']} ({line['kind']})")
    failed = [x for x in lines if not x["same"] and x["kind"] != "png"]
    if not args.no_record:
        atomic_write_json(RECORD, dict(
            what="notebooks run with CFGRL_REUSE_RESULTS=1 against the committed figures (scripts/check_reuse.py)",
            commit=git_commit(), machine=f"{cpu_model()}, {os.cpu_count()} cores",
            created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            identical_csv_and_summaries=not failed, files=lines,
        ))  # fmt: skip
    print("[check_reuse] " + ("every CSV and summary identical" if not failed else f"{len(failed)} differ"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
