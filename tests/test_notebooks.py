"""Every notebook runs end to end in FAST mode, writing its figures to a temporary folder.

The notebooks' own asserts (each quantitative claim ends in one) are the checks; this test fails with
the failing cell's source and traceback.
"""

import pytest

from cfgrl_core.io.provenance import REPO_ROOT
from cfgrl_core.io.run_notebooks import all_notebooks, execute_notebook

NOTEBOOKS = all_notebooks()


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_in_fast_mode(path, tmp_path):
    figures = tmp_path / "figures"
    before = {p: p.stat().st_mtime_ns for p in (REPO_ROOT / "figures").glob("*")}
    seconds = execute_notebook(path, fast=True, figures_dir=figures, executed_dir=tmp_path / "executed", timeout=600)
    print(f"{path.name}: {seconds:.1f} s in FAST mode")
    prefix = "fig" + path.name[:2] + "_"
    written = sorted(p.name for p in figures.glob(prefix + "*.png"))
    assert written, f"{path.name} wrote no {prefix}*.png figure"
    for png in written:
        stem = png[: -len(".png")]
        assert (figures / f"{stem}.csv").exists(), f"{png} has no CSV of its plotted numbers"
        assert (figures / f"{stem}.json").exists(), f"{png} has no provenance JSON"
    after = {p: p.stat().st_mtime_ns for p in (REPO_ROOT / "figures").glob("*")}
    assert before == after, "a FAST run touched the committed figures/ folder"
