"""The README's generated blocks equal what scripts/render_readme.py makes from the committed data files."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("render_readme", REPO / "scripts" / "render_readme.py")
render_readme = importlib.util.module_from_spec(spec)
spec.loader.exec_module(render_readme)


def test_readme_blocks_match_the_data():
    text = (REPO / "README.md").read_text()
    assert render_readme.render(text, REPO / "figures") == text, "README is stale: python scripts/render_readme.py"


def test_a_planted_mismatch_is_caught(tmp_path):
    shutil.copy(REPO / "figures" / "fig04_table.csv", tmp_path / "fig04_table.csv")
    path = tmp_path / "fig04_table.csv"
    lines = path.read_text().splitlines()
    head, first = lines[0].split(","), lines[1].split(",")
    col = head.index("flow GCBC (w=1) mean")
    first[col] = str(float(first[col]) + 0.5)
    path.write_text("\n".join([lines[0], ",".join(first), *lines[2:]]) + "\n")
    text = (REPO / "README.md").read_text()
    assert render_readme.render(text, tmp_path) != text
