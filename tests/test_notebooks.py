"""Every notebook runs end to end in FAST mode, writing its figures to a temporary folder.

The notebooks' own asserts (each quantitative claim ends in one) are the checks; this test fails with
the failing cell's source and traceback.
"""

from pathlib import Path

import pytest

from cfgrl_core.io.provenance import REPO_ROOT
from cfgrl_core.io.run_notebooks import all_notebooks, execute_notebook

NOTEBOOKS = all_notebooks()
USER_OGBENCH_DATA = Path("~/.ogbench/data").expanduser()  # OGBench's default folder, what `make figures` uses


def _mtimes(folder: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*")} if folder.is_dir() else {}


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_in_fast_mode(path, tmp_path, ogbench_data_dir):
    figures = tmp_path / "figures"
    before = {p: p.stat().st_mtime_ns for p in (REPO_ROOT / "figures").glob("*")}
    user_data_before = _mtimes(USER_OGBENCH_DATA)
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
    # Datasets go to the session's folder ($CFGRL_OGBENCH_DATA, set in conftest.py), never to ~/.ogbench/data.
    assert _mtimes(USER_OGBENCH_DATA) == user_data_before, f"a FAST run wrote into {USER_OGBENCH_DATA}"
    if path.name.startswith("04_"):
        from cfgrl_core.experiments import gcbc_cfgrl as gx
        from cfgrl_core.ogbench import datasets as ogbench_data

        fast = gx.PRESETS["fast"]
        for name in fast.env_names:
            train_path, _ = ogbench_data.dataset_paths(name, gx.dataset_folder(fast))
            assert train_path.is_relative_to(ogbench_data_dir) and train_path.is_file(), f"no FAST dataset {train_path}"


@pytest.mark.notebook
def test_notebook_07_on_the_committed_results_regenerates_the_committed_figures(tmp_path, monkeypatch):
    """Notebook 07 draws every figure from its committed results (nothing is computed again), so on any machine it
    must rewrite the committed CSVs and Summary exactly (`scripts/check_reuse.py` records the same for 04-08)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_reuse", REPO_ROOT / "scripts" / "check_reuse.py")
    check_reuse = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check_reuse)
    monkeypatch.setenv("CFGRL_REUSE_RESULTS", "1")
    path = next(p for p in NOTEBOOKS if p.name.startswith("07_"))
    execute_notebook(path, fast=False, figures_dir=tmp_path, executed_dir=tmp_path / "executed", timeout=600)
    lines = [x for x in check_reuse.compare("fig07", tmp_path, REPO_ROOT / "figures") if x["kind"] != "png"]
    assert len(lines) >= 6 and all(x["same"] for x in lines), [x for x in lines if not x["same"]]


def test_a_recorded_time_names_its_machine_and_commit_and_keeps_the_other_mode(tmp_path, monkeypatch):
    from cfgrl_core.io import run_notebooks
    from cfgrl_core.io.provenance import cpu_model

    monkeypatch.setattr(run_notebooks, "TIMES_FILE", tmp_path / "notebook_times.json")
    run_notebooks.record_time("05_x.ipynb", "fast", 12.34, "aaaaaaa")
    run_notebooks.record_time("05_x.ipynb", "full", 2500.06, "bbbbbbb")
    times = run_notebooks.recorded_times()["05_x.ipynb"]
    assert times["fast"] == 12.3 and times["fast_commit"] == "aaaaaaa"
    assert times["full"] == 2500.1 and times["full_commit"] == "bbbbbbb"
    assert times["full_machine"].startswith(cpu_model()) and times["full_machine"].endswith("cores")


def test_a_cpu_device_description_names_the_cpu_model_and_its_cores():
    # two CPUs of one core count give other floating-point results (offline_rl's mechanism-3betas record)
    import os

    import jax

    from cfgrl_core.io.provenance import cpu_model, device_description

    if jax.devices()[0].platform != "cpu":
        pytest.skip("an accelerator is the first device")
    assert device_description() == f"cpu ({cpu_model()}, {os.cpu_count()} cores)"
