"""Render the README's generated blocks from the committed data files, or check that they are up to date.

    python scripts/render_readme.py            # rewrite the blocks in README.md (atomically)
    python scripts/render_readme.py --check    # exit 1 and show the difference if a block is stale

A block sits between `<!-- BEGIN name -->` and `<!-- END name -->`; its text is made only from files under
figures/ and results/, so a number in it cannot drift from the data (tests/test_readme.py runs --check).
"""

from __future__ import annotations

import argparse
import csv
import difflib
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"


def _f(x: str) -> str:
    return f"{float(x):.1f}"


def table_04(figures: Path) -> str:
    """Notebook 04's table: success (%) mean ± std (ddof 0) over seeds, from fig04_table.csv."""
    rows = list(csv.DictReader((figures / "fig04_table.csv").open()))
    cols = ["flow BC (w=0)", "flow GCBC (w=1)", "CFGRL (w=3)", "CFGRL (validated w)"]
    out = [
        "| env | preset | seeds | flow BC (`w = 0`) | flow GCBC (`w = 1`) | CFGRL (`w = 3`) | CFGRL (validated `w`) "
        "| validated `w` per seed | paper GCBC → CFGRL (`w = 3`), third-party transcription |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        paper = f"{float(r['paper flow GCBC']):g} → {float(r['paper CFGRL (w=3)']):g}" if r["paper flow GCBC"] else "–"
        cells = [f"{_f(r[c + ' mean'])} ± {_f(r[c + ' std'])}" for c in cols]
        env = r["env"].replace("pointmaze-", "").replace("-navigate-v0", "")
        out.append(f"| {env} | {r['preset']} | {r['seeds']} | " + " | ".join(cells)
                   + f" | {r['validated w per seed']} | {paper} |")  # fmt: skip
    return "\n".join(out)


BLOCKS = {"table04": table_04}


def render(text: str, figures: Path) -> str:
    for name, make in BLOCKS.items():
        pattern = re.compile(rf"(<!-- BEGIN {name} -->\n)(?:.*?\n)?(<!-- END {name} -->)", re.S)
        if not pattern.search(text):
            raise ValueError(f"README has no block {name!r} (<!-- BEGIN {name} --> ... <!-- END {name} -->)")
        body = make(figures)
        text = pattern.sub(lambda m, body=body: m.group(1) + body + "\n" + m.group(2), text)
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if a block is stale")
    parser.add_argument("--figures", type=Path, default=REPO / "figures")
    args = parser.parse_args(argv)
    old = README.read_text()
    new = render(old, args.figures)
    if args.check:
        if new != old:
            sys.stdout.writelines(
                difflib.unified_diff(old.splitlines(True), new.splitlines(True), "README.md", "rendered")
            )
            return 1
        return 0
    if new != old:
        sys.path.insert(0, str(REPO))
        from cfgrl_core.io.atomic import atomic_write_bytes

        atomic_write_bytes(README, new.encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
