"""Notebook 08's report on the committed `cpu` tier: its figures' CSVs follow from the committed results, a planted
paper-type result becomes a labelled table row and the Summary's paper status, and the paper marks say their source
and budget beside every row that shows them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cfgrl_core.experiments import gc_studies as studies
from cfgrl_core.experiments import gcbc_cfgrl as gx
from cfgrl_core.experiments import protocol
from cfgrl_core.io.figures import table_to_csv

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "results" / "gc_studies" / "cpu"


@pytest.fixture(scope="module")
def committed():
    runs = {(name, method): studies.load_result(studies.result_file(name, "cpu", method, COMMITTED))
            for name, study in studies.TIERS["cpu"].items() for method in study.methods}  # fmt: skip
    return runs, {env: studies.notebook04_result(env) for env in (studies.GIANT, gx.TELEPORT)}


def test_the_figures_csvs_follow_from_the_committed_results(committed, tmp_path, monkeypatch):
    """fig08's table, cube, ablation and hierarchy CSVs are what the module's functions write from the committed
    results (notebook 08 calls the same functions), byte for byte; no paper-type run is planted here."""
    monkeypatch.setenv(protocol.RESULTS_ENV, str(tmp_path))
    runs, flat = committed
    hier, giant = runs[("hierarchy", "hierarchical")], flat[studies.GIANT]
    made = {
        "fig08_table": studies.table_rows(runs, flat),
        "fig08_cube_success_vs_w": studies.curve_rows(runs[("cube", "shared")], "shared network"),
        "fig08_ablation": studies.curve_rows(runs[("ablation", "shared")], "shared (one network, learned null)")
        + studies.curve_rows(runs[("ablation", "separate")], "separate (BC network + GC network)"),
        "fig08_hierarchy": [row for r, label in zip((hier, giant), studies.hierarchy_labels(hier, giant), strict=True)
                            for row in studies.curve_rows(r, label)],
    }  # fmt: skip
    for name, rows in made.items():
        # the notebook writes these through a pandas frame's columns, as here
        assert (
            table_to_csv(pd.DataFrame(rows).to_dict("list") if name != "fig08_table" else rows)
            == (REPO / "figures" / f"{name}.csv").read_text()
        ), name


def test_a_planted_paper_type_result_becomes_a_labelled_row_and_the_paper_status(committed, tmp_path, monkeypatch):
    monkeypatch.setenv(protocol.RESULTS_ENV, str(tmp_path))
    runs, flat = committed
    values = studies.summary_values(runs, "cpu", flat)
    assert studies.paper_runs() == {} and "has not been run" in values["paper_status"]
    assert not any("paper-type" in r["method"] for r in values["table"])

    planted = json.loads(studies.result_file("ablation", "cpu", "separate", COMMITTED).read_text())
    planted["device"] = "gpu: planted accelerator"
    folder = tmp_path / "gc_studies" / "paper"
    folder.mkdir(parents=True)
    (folder / studies.result_file("ablation", "cpu", "separate", folder).name).write_text(json.dumps(planted))
    values = studies.summary_values(runs, "cpu", flat)
    (row,) = [r for r in values["table"] if "paper-type" in r["method"]]
    assert row["method"] == "separate (paper-type)" and row["env"] == studies.LARGE
    assert row["run"] == "gpu: planted accelerator, 30,000 steps × 256, 3×256, 4 seeds, 10 episodes per seed and w"
    assert [r["method"] for r in values["table"]].index("separate (paper-type)") == len(runs)  # after the study rows
    assert "planted accelerator" in values["paper_status"] and "has not been run" not in values["paper_status"]
    assert "gc_studies/paper/pointmaze-large-navigate-v0--separate.json" in values["paper_status"]


def test_the_paper_marks_are_labelled_with_their_source_and_budget(committed, tmp_path, monkeypatch):
    monkeypatch.setenv(protocol.RESULTS_ENV, str(tmp_path))
    rows = studies.table_rows(*committed)
    marked = [r for r in rows if r["paper flow GCBC"] is not None]
    assert {(r["method"], r["steps"]) for r in marked} == {("shared", 30_000), ("shared (notebook 04)", 100_000)}
    for r in marked:
        assert r["paper marks"].startswith("third-party transcription of the paper's Table 3 (1,000,000 steps × 1024")
        assert r["paper marks"].endswith(f"this row {r['steps']:,} steps")
    assert all(r["paper marks"] == "" for r in rows if r["paper flow GCBC"] is None)
    shown = studies.shown_table(rows)
    column = shown["paper GCBC → CFGRL (not this row's budget)"]
    assert column[1] == ("74 → 77 (third-party transcription of the paper's Table 3, 1,000,000 steps × 1024, 8 seeds; "
                         "this row 30,000 steps)")  # fmt: skip
    assert column[0] == "–" and "30,000 steps" in shown["run"][1]


def test_the_ablation_closest_comparison_is_read_from_the_data(committed, tmp_path, monkeypatch):
    """No w separates the two arms in the committed tier (w = 1, -15 ± 5 points, p = 0.058 with 4 seeds); planting
    one more seed-pair-consistent shift at w = 1 makes it a separation that the Summary's values report."""
    monkeypatch.setenv(protocol.RESULTS_ENV, str(tmp_path))
    runs, flat = committed
    values = studies.summary_values(runs, "cpu", flat)
    assert values["n_sep"] == 0 and values["sep_better"] == "no w" and values["abl_closest_w"] == 1.0
    assert values["abl_closest"].startswith("w = 1: -15.0 ± 5.0 points (within the noise: paired t-test over 4 seeds")
    planted = dict(runs)
    sep = json.loads(json.dumps(runs[("ablation", "separate")]))
    step = str(sep["checkpoint_steps"][-1])
    shared = runs[("ablation", "shared")]["success"][step]
    j = list(sep["ws"]).index(1.0)
    for s, seed in enumerate(sep["success"][step]):  # every seed: separate succeeds where shared does, and once more
        for t, task in enumerate(seed):
            for e, _ in enumerate(task):
                task[e][j] = shared[s][t][e][j]
        seed[s % len(seed)][0][j] = 1 if not shared[s][s % len(seed)][0][j] else seed[s % len(seed)][0][j]
    planted[("ablation", "separate")] = sep
    values = studies.summary_values(planted, "cpu", flat)
    assert values["n_sep"] == 1 and values["sep_better"] == "w ∈ {1}"
