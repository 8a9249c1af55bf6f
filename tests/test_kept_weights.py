"""Issue 30: only the weights a notebook, the app or a test reads are committed. The committed results still load
without training when reused (notebooks 05 and 08), the trimmed and the whole weights folders both load, and a
missing weights folder is an error that names it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jax
import numpy as np
import pytest

from cfgrl_core.experiments import gc_studies as studies
from cfgrl_core.experiments import gcbc_cfgrl as gx
from cfgrl_core.experiments import kl_budget as kb
from cfgrl_core.experiments import offline_rl as orl

REPO = Path(__file__).resolve().parents[1]


def _no_run(*args, **kwargs):
    raise AssertionError("a reused committed result started a run")


def test_offline_rl_keeps_the_notebook_seeds_and_still_loads_whole_weights(tmp_path):
    committed = orl.result_path("cpu", orl.get_preset("cpu").tasks[0], REPO / "results" / "offline_rl" / "cpu")
    params, _ = orl.load_weights(committed)
    meta = json.loads((committed.with_suffix("") / "weights" / "config.json").read_text())
    assert meta["saved_seeds"] == list(orl.NOTEBOOK_SEEDS) and meta["num_seeds"] == 4
    assert {x.shape[0] for x in jax.tree_util.tree_leaves(params)} == {len(orl.NOTEBOOK_SEEDS)}
    # weights saved whole (before trimming; the default of run_and_save) load with every seed
    whole = jax.tree_util.tree_map(lambda x: np.concatenate([x + k for k in range(4)]), params)
    result = tmp_path / "task.json"
    orl.save_weights(tmp_path / "task" / "weights", whole, {k: v for k, v in meta.items() if k != "saved_seeds"})
    loaded, _ = orl.load_weights(result)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(loaded), jax.tree_util.tree_leaves(whole),
                                                    strict=True))  # fmt: skip
    orl.trim_weights(result, (0, 2))
    trimmed, _ = orl.load_weights(result)
    pairs = zip(jax.tree_util.tree_leaves(trimmed), jax.tree_util.tree_leaves(whole), strict=True)
    assert all(np.array_equal(a, b[[0, 2]]) for a, b in pairs)
    with pytest.raises(ValueError, match=r"holds the weights of seeds \[0, 2\], not of \[1\]"):
        orl.trim_weights(result, (1,))
    with pytest.raises(ValueError, match="distinct seeds"):
        orl.save_weights(tmp_path / "other", whole, meta, [4])
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "none" / "weights")):
        orl.load_weights(tmp_path / "none.json")


def test_reused_committed_results_load_without_training(monkeypatch):
    monkeypatch.setattr(orl, "run_and_save", _no_run)
    monkeypatch.setattr(gx, "run_and_save", _no_run)
    for task in orl.get_preset("cpu").tasks:
        assert orl.obtain(task, "cpu", REPO / "results" / "offline_rl" / "cpu", reuse=True, log=lambda _: None)
    # the mechanism row keeps its result and sample, not its weights (offline_rl.RESULT_ONLY_PRESETS)
    mechanism = REPO / "results" / "offline_rl" / "mechanism"
    assert (
        orl.obtain(orl.MEDIUM, "mechanism", mechanism, reuse=True, log=lambda _: None)["preset"]["name"] == "mechanism"
    )
    assert "q_max" in orl.load_sample(orl.result_path("mechanism", orl.MEDIUM, mechanism))
    root = REPO / "results" / "gc_studies" / "cpu"
    for name in studies.TIERS["cpu"]:
        runs = studies.obtain_study(name, "cpu", reuse=True, root=root, log=lambda _: None)
        for method, run in runs.items():
            kept = (name, method) in studies.WEIGHTS_READ
            assert isinstance(run, gx.ExperimentRun if kept else studies.ResultOnlyRun), (name, method)
            assert run.result == studies.load_result(studies.result_file(name, "cpu", method, root))
            if not kept:
                with pytest.raises(FileNotFoundError, match="no weights at .*/weights: the committed results keep"):
                    run.policy(0)


def test_a_measurement_of_runs_without_weights_names_the_missing_folder():
    source = studies.result_file("ablation", "cpu", "separate", REPO / "results" / "gc_studies" / "cpu")
    with pytest.raises(FileNotFoundError, match=r"no weights at .*--separate/weights .*run_gc_studies\.py"):
        kb.load_source_run(source, "notebook 08's", "scripts/run_gc_studies.py --tier cpu --study ablation")


def test_gitignore_keeps_the_read_weights_and_drops_the_others():
    def ignored(path):
        return subprocess.run(["git", "check-ignore", "--no-index", "-q", path], cwd=REPO).returncode == 0

    read = ["results/gcbc_cfgrl/cpu/pointmaze-large-navigate-v0/weights/params/x",
            "results/gc_studies/cpu/pointmaze-giant-navigate-v0--hierarchical/weights/params/x",
            "results/offline_rl/cpu/pointmaze-large-navigate-singletask-v0/weights/params/x",
            "results/pgd/cpu/trajectory_model/params/x", "results/pgd/cpu-wall/samples.npz",
            "results/pgd_agents/cpu/good05/mixed.npz", "results/gc_studies/cpu/cube-single-play-v0.json",
            "results/offline_rl/mechanism/pointmaze-medium-navigate-singletask-v0/sample.npz",
            "results/offline_rl/cpu-earlier/pointmaze-medium-navigate-singletask-task3-v0/sample.npz"]  # fmt: skip
    unread = ["results/gc_studies/cpu/cube-single-play-v0/weights/params/x",
              "results/gc_studies/cpu/pointmaze-large-navigate-v0--separate/weights/params/x",
              "results/pgd/cpu/world_model/params/x", "results/pgd/cpu-wall/trajectory_model/params/x",
              "results/pgd_agents/cpu/good20/trajectory_model/params/x",
              "results/offline_rl/mechanism/pointmaze-medium-navigate-singletask-v0/weights/params/x",
              "results/offline_rl/cpu-earlier/pointmaze-medium-navigate-singletask-task3-v0/weights/params/x",
              "results/offline_rl/mechanism-b256/pointmaze-medium-navigate-singletask-v0/weights/params/x",
              "results/gcbc_cfgrl/cpu-bfloat16/pointmaze-medium-navigate-v0/weights/params/x",
              "results/gcbc_cfgrl/cpu-float32/pointmaze-medium-navigate-v0/weights/params/x"]  # fmt: skip
    assert [p for p in read if ignored(p)] == [] and [p for p in unread if not ignored(p)] == []


def test_the_offline_runner_keeps_the_notebook_seeds_weights_unless_asked_for_all(tmp_path):
    """scripts/run_offline_rl.py writes the weights `obtain` would keep (NOTEBOOK_SEEDS), not every seed's."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("run_offline_rl", REPO / "scripts" / "run_offline_rl.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--preset", "fast", "--task", orl.MEDIUM, "--out", str(tmp_path), "--no-progress"]) == 0
    meta = json.loads((tmp_path / orl.MEDIUM / "weights" / "config.json").read_text())
    assert meta["saved_seeds"] == list(orl.NOTEBOOK_SEEDS) and meta["num_seeds"] == orl.get_preset("fast").num_seeds
    params, _ = orl.load_weights(tmp_path / f"{orl.MEDIUM}.json")
    assert {x.shape[0] for x in jax.tree_util.tree_leaves(params)} == {len(orl.NOTEBOOK_SEEDS)}
    assert script.parse_args(["--preset", "fast", "--all-weights"]).all_weights
