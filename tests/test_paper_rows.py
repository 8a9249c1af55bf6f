"""Paper-type (GPU-made) runs beside the cpu tier in notebook 04: the committed H200 `paper-trial` is read as the
table's extra row and the Summary's two-scale bullet, a planted `paper` result appears labelled, and with none on
record the README's status sentence says so (never typed)."""

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cfgrl_core.experiments import gcbc_cfgrl as gx
from cfgrl_core.experiments import protocol, stats

REPO = Path(__file__).resolve().parents[1]
LARGE = "pointmaze-large-navigate-v0"


def test_the_committed_h200_trial_is_what_its_provenance_says():
    runs = gx.paper_runs(REPO / "results")
    assert list(runs) == [f"paper-trial/{LARGE}"]
    trial = runs[f"paper-trial/{LARGE}"]
    cpu = gx.load_result(REPO / "results" / "gcbc_cfgrl" / "cpu" / f"{LARGE}.json")
    assert trial["dataset_sha256"] == cpu["dataset_sha256"]  # the same generated dataset as the cpu tier's
    assert trial["device"].startswith("gpu") and trial["preset"]["hidden_dims"] == [512] * 4
    ws, per_seed = gx.success_by_w(trial)
    assert per_seed.shape == (8, 7)
    np.testing.assert_allclose(100 * per_seed.mean(0), [0.0, 15.5, 71.5, 80.5, 88.5, 84.5, 63.0])
    mean, se, n = gx.paired_gap(trial, 1.0, 2.0)
    assert (round(mean, 1), round(se, 1), n) == (17.0, 2.0, 8) and stats.beyond_noise(mean, se, n)
    assert not stats.beyond_noise(*gx.paired_gap(trial, 1.0, 5.0))  # w = 5: -8.5 ± 4.5, p = 0.1


def _cpu_results():
    folder = REPO / "results" / "gcbc_cfgrl" / "cpu"
    return {env: gx.load_result(folder / f"{env}.json") for env in gx.get_preset("cpu").env_names}


def test_a_planted_paper_result_becomes_a_labelled_row_and_a_two_scale_line(tmp_path, monkeypatch):
    monkeypatch.setenv(protocol.RESULTS_ENV, str(tmp_path))
    assert gx.paper_runs() == {}
    values = gx.summary_values(_cpu_results(), "cpu")
    assert "has not been run yet" in values["paper_status"] and "no paper-type run exists" in values["scales"]

    planted = json.loads((REPO / "results" / "gcbc_cfgrl" / "cpu" / f"{LARGE}.json").read_text())
    planted["preset"]["name"], planted["device"] = "paper", "gpu: planted accelerator"
    (tmp_path / "gcbc_cfgrl" / "paper").mkdir(parents=True)
    (tmp_path / "gcbc_cfgrl" / "paper" / f"{LARGE}.json").write_text(json.dumps(planted))
    runs = gx.paper_runs()
    assert list(runs) == [f"paper/{LARGE}"]
    shown = gx.shown_table([gx.summary_row(r) for r in runs.values()])
    assert shown["run"][0].startswith("gpu: planted accelerator, 100,000 steps × 256, 3×256, 4 seeds")
    values = gx.summary_values(_cpu_results(), "cpu")
    assert "planted accelerator" in values["paper_status"] and "has not been run" not in values["paper_status"]
    trial_only = gx.paper_status(gx.paper_runs(REPO / "results"))  # a shortened trial is not the full preset
    assert "The full `paper` preset (every maze, the paper's step count) has not been run." in trial_only
    assert "**large at two scales.**\n  - `paper` (gpu: planted accelerator" in values["scales"]
    numbers = values["scale_numbers"][f"paper/{LARGE}"]
    assert numbers["paper_type"] == numbers["this"]  # the same numbers planted under another name


def test_a_run_of_the_reported_preset_is_not_its_own_paper_row(tmp_path, monkeypatch):
    monkeypatch.setenv(protocol.RESULTS_ENV, str(tmp_path))
    shutil.copytree(REPO / "results" / "gcbc_cfgrl" / "paper-trial", tmp_path / "gcbc_cfgrl" / "paper-trial")
    trial = gx.paper_runs()[f"paper-trial/{LARGE}"]
    values = gx.summary_values({LARGE: trial}, dataclasses.replace(gx.get_preset("paper"), name="paper-trial"))
    assert "no paper-type run exists" in values["scales"]


@pytest.mark.parametrize("empty", [True, False])
def test_paper_dirs_lists_only_folders_that_hold_results(tmp_path, empty):
    folder = tmp_path / "gcbc_cfgrl" / "paper"
    folder.mkdir(parents=True)
    if not empty:
        (folder / "x.json").write_text("{}")
    assert gx.EXPERIMENT.paper_dirs(tmp_path) == ([] if empty else [folder])
