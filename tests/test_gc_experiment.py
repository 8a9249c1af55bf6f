"""The GCBC-vs-CFGRL experiment (cfgrl_core.experiments.gcbc_cfgrl): presets, checkpoints, validation goals, w
selection, results files, and a tiny end-to-end run whose numbers are reproducible."""

import dataclasses
import json
import re

import numpy as np
import pytest

from cfgrl_core.experiments import gcbc_cfgrl as gx
from cfgrl_core.experiments import protocol, stats
from cfgrl_core.experiments.resumable import checkpoint_steps
from cfgrl_core.ogbench import datasets as od
from cfgrl_core.ogbench import evaluation, validation
from cfgrl_core.ogbench import maze as maze_geometry

MEDIUM = "pointmaze-medium-navigate-v0"


def test_presets_are_the_ones_the_issue_names():
    paper = gx.PRESETS["paper"]
    assert (paper.hidden_dims, paper.batch_size, paper.num_steps, paper.flow_steps, paper.num_seeds) == (
        (512, 512, 512, 512), 1024, 1_000_000, 16, 8
    )  # fmt: skip
    for preset in gx.PRESETS.values():
        assert tuple(preset.ws) == (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0) and preset.p_uncond == 0.1
        assert checkpoint_steps(preset)[-1] == preset.num_steps
    assert checkpoint_steps(gx.PRESETS["cpu"]) == [25_000, 50_000, 100_000]
    assert gx.get_preset("cpu") is gx.PRESETS["cpu"]
    with pytest.raises(ValueError, match="unknown preset 'gpu'"):
        gx.get_preset("gpu")
    with pytest.raises(ValueError, match="checkpoint_fractions"):
        checkpoint_steps(dataclasses.replace(paper, checkpoint_fractions=(0.0, 1.0)))


def test_names_and_folders():
    assert validation.oraclerep_name(MEDIUM) == "pointmaze-medium-navigate-oraclerep-v0"
    official = gx.dataset_folder(gx.PRESETS["cpu"], "/d")
    small = gx.dataset_folder(gx.PRESETS["fast"], "/d")
    assert str(official) == "/d" and small != official  # a small dataset never shadows an official one


@pytest.mark.parametrize("name", [MEDIUM, "pointmaze-giant-navigate-v0"])
def test_validation_goals_are_not_evaluation_tasks_and_as_long(name):
    tasks = validation.maze_validation_tasks(name, 12, seed=0)
    assert tasks == validation.maze_validation_tasks(name, 12, seed=0)  # seeded
    assert tasks != validation.maze_validation_tasks(name, 12, seed=1)
    maze = evaluation.make_env(validation.oraclerep_name(name)).unwrapped
    grid = np.asarray(maze.maze_map)
    eval_pairs = [(tuple(t["init_ij"]), tuple(t["goal_ij"])) for t in maze.task_infos]
    lengths = [maze_geometry.bfs_distances(grid, s)[g] for s, g in eval_pairs]
    pairs = [(t["init_ij"], t["goal_ij"]) for t in tasks]
    assert len(set(pairs)) == 12
    for s, g in pairs:
        assert (s, g) not in eval_pairs and (g, s) not in eval_pairs
        assert grid[s] == 0 and grid[g] == 0
        assert min(lengths) <= maze_geometry.bfs_distances(grid, s)[g] <= max(lengths)
    with pytest.raises(ValueError, match="num_tasks"):
        validation.maze_validation_tasks(name, 0, seed=0)


def test_cube_validation_tasks_reset_the_env_to_their_start_and_goal():
    name = "cube-single-play-v0"
    tasks = validation.validation_tasks(name, 6, seed=0)
    assert tasks == validation.cube_validation_tasks(name, 6, seed=0) and tasks != validation.cube_validation_tasks(
        name, 6, seed=1
    )
    assert json.loads(json.dumps(tasks)) == tasks  # stored in the results JSON as they are
    for t in tasks:
        start, goal = np.asarray(t["init_xyzs"])[0], np.asarray(t["goal_xyzs"])[0]
        assert np.linalg.norm(goal[:2] - start[:2]) >= validation.CUBE_MIN_DISTANCE
        assert np.all(validation.CUBE_XY_BOUNDS[0] <= start[:2]) and np.all(start[:2] <= validation.CUBE_XY_BOUNDS[1])
    # The env resets to the task: the oracle-rep goal is the goal cube position (normalised as cube_env does it).
    env = evaluation.make_env(validation.oraclerep_name(name))
    ob, info = evaluation.reset_env(env, validation.as_task_info(tasks[0]), seed=0)
    goal = np.asarray(tasks[0]["goal_xyzs"])[0]
    np.testing.assert_allclose(info["goal"], (goal - [0.425, 0.0, 0.0]) * 10.0, atol=0.05)
    assert np.linalg.norm(ob[19:21] / 10.0 + [0.425, 0.0] - tasks[0]["init_xyzs"][0][:2]) < 0.02
    env.close()


def test_bfs_distances_on_a_corridor():
    grid = np.ones((3, 6), int)
    grid[1, 1:5] = 0
    assert maze_geometry.bfs_distances(grid, (1, 1)) == {(1, 1): 0, (1, 2): 1, (1, 3): 2, (1, 4): 3}


def test_choose_by_validation_takes_the_best_w_and_the_smallest_on_ties():
    ws = (0.0, 1.0, 3.0)
    val = np.array([[[0, 1, 1], [0, 0, 1]], [[1, 1, 0], [0, 1, 1]]])  # [S=2, K=2, W=3]
    np.testing.assert_array_equal(stats.choose_by_validation(val, ws), [3.0, 1.0])


def _fake_result(per_seed_task_success, chosen_w, name="pointmaze-giant-navigate-v0"):
    success = np.asarray(per_seed_task_success)[:, :, None, :]  # [S, T, E=1, W]
    return dict(
        env_name=name, preset=dict(name="t"), ws=[0.0, 1.0, 3.0], checkpoint_steps=[5, 10],
        success={"5": np.zeros_like(success).tolist(), "10": success.tolist()}, chosen_w=chosen_w,
    )  # fmt: skip


def test_summary_row_reports_mean_std_and_the_validated_w_per_seed():
    # seed 0: tasks succeed at w=0 1/2, w=1 1/2, w=3 2/2; seed 1: 0/2, 1/2, 1/2
    result = _fake_result([[[1, 1, 1], [0, 0, 1]], [[0, 1, 1], [0, 0, 0]]], chosen_w=[3.0, 1.0])
    ws, per_seed = gx.success_by_w(result)
    np.testing.assert_allclose(per_seed, [[0.5, 0.5, 1.0], [0.0, 0.5, 0.5]])
    np.testing.assert_allclose(gx.success_by_w(result, 5)[1], 0)
    row = gx.summary_row(result)
    assert row["flow GCBC (w=1) mean"] == 50.0 and row["flow GCBC (w=1) std"] == 0.0
    # std over seeds is the sample std (ddof = 1): seeds at 100 and 50 give 35.36, not numpy's default 25.
    assert row["CFGRL (w=3) mean"] == 75.0 and row["CFGRL (w=3) std"] == pytest.approx(25 * np.sqrt(2))
    assert row["CFGRL (validated w) mean"] == 75.0  # seed 0 at w=3 (100), seed 1 at w=1 (50)
    assert row["CFGRL (validated w) std"] == pytest.approx(25 * np.sqrt(2))
    assert (row["paper flow GCBC"], row["paper CFGRL (w=3)"]) == (4.0, 30.0)
    assert row["validated w per seed"] == "3 1"


def test_summary_row_of_a_single_seed_has_nan_std_and_no_warning():
    import warnings

    result = _fake_result([[[1, 0, 1], [0, 1, 1]]], chosen_w=[3.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "degrees of freedom <= 0" would be one
        row = gx.summary_row(result)
    assert row["seeds"] == 1 and row["CFGRL (w=3) mean"] == 100.0 and row["flow GCBC (w=1) mean"] == 50.0
    for label in ("flow BC (w=0)", "flow GCBC (w=1)", "CFGRL (w=3)", "CFGRL (validated w)"):
        assert np.isnan(row[f"{label} std"]), label
    assert stats.mean_std([40.0]) == (40.0, pytest.approx(np.nan, nan_ok=True))
    assert stats.mean_std([0.0, 100.0, 50.0]) == (50.0, 50.0)


def test_a_nan_std_survives_the_table_csv():
    """fig04_table.csv is written by save_figure's table_to_csv; a NaN std is written as 'nan' and reads back."""
    import csv
    import io

    from cfgrl_core.io.figures import table_to_csv

    row = gx.summary_row(_fake_result([[[1, 0, 1], [0, 1, 1]]], chosen_w=[3.0]))
    (back,) = csv.DictReader(io.StringIO(table_to_csv([row])))
    assert back["CFGRL (w=3) std"] == "nan" and np.isnan(float(back["CFGRL (w=3) std"]))
    assert float(back["CFGRL (w=3) mean"]) == 100.0


@pytest.mark.parametrize("ws, missing", [([0.0, 1.0], "w = 3"), ([0.5, 3.0], "w = 0, 1"), ([0.0, 3.0, 5.0], "w = 1")])
def test_summary_row_without_w_0_1_or_3_is_a_clear_error(ws, missing):
    result = _fake_result(np.ones((2, 2, len(ws)), int), chosen_w=[ws[-1]] * 2)
    result["ws"] = ws
    with pytest.raises(ValueError, match=rf"needs w = 0, 1 and 3 .*ws {re.escape(str(ws))}\) lacks {missing}:"):
        gx.summary_row(result)


def test_summary_row_with_a_chosen_w_that_was_not_evaluated_is_a_clear_error():
    result = _fake_result(np.ones((2, 1, 3), int), chosen_w=[3.0, 2.0])
    with pytest.raises(ValueError, match=r"chosen_w \[3.0, 2.0\] .* not one evaluated w per seed"):
        gx.summary_row(result)
    with pytest.raises(ValueError, match="not one evaluated w per seed"):
        gx.summary_row(_fake_result(np.ones((2, 1, 3), int), chosen_w=[3.0]))


def test_a_corrupt_dataset_file_is_a_clear_error_with_the_command_that_regenerates_it(tmp_path):
    folder = gx.dataset_folder(TINY, tmp_path)
    train_path, val_path = od.generate_dataset(MEDIUM, data_dir=folder, seed=2, num_episodes=TINY.num_episodes,
                                               progress=False)  # fmt: skip
    size = train_path.stat().st_size
    train_path.write_bytes(train_path.read_bytes()[: size // 3])  # truncated, as by a full disk
    before = (train_path.read_bytes(), val_path.read_bytes())
    with pytest.raises(od.DatasetFileError) as info:
        gx.load_training_data(MEDIUM, TINY, data_dir=tmp_path, seed=2, progress=False)
    message = str(info.value)
    assert message.startswith(f"{train_path} is not a valid dataset file"), message
    command = f"python scripts/generate_ogbench.py {MEDIUM} --num-episodes 6 --seed 2 --data-dir {folder} --overwrite"
    assert command in message and "zip" in message.lower()
    assert (train_path.read_bytes(), val_path.read_bytes()) == before  # neither deleted nor regenerated
    val_path.write_text("not a dataset")
    train_path.unlink()  # the train file deleted, as the message suggests; the val file left alone is not a dataset
    with pytest.raises(od.DatasetFileError, match=f"{val_path} is not a valid dataset file"):
        gx.load_training_data(MEDIUM, TINY, data_dir=tmp_path, seed=2, progress=False)
    assert val_path.read_text() == "not a dataset" and not train_path.exists()  # refused, not overwritten
    val_path.unlink()  # both gone: the next run regenerates both
    raw, recipe, path = gx.load_training_data(MEDIUM, TINY, data_dir=tmp_path, seed=2, progress=False)
    assert path == train_path and recipe["seed"] == 2 and raw["oracle_reps"].shape[1] == 2


def test_results_round_trip_and_missing_file(tmp_path):
    result = _fake_result([[[1, 0, 1]]], chosen_w=[0.0])
    path = protocol.save_result(result, tmp_path / "sub" / "r.json")
    assert gx.load_result(path) == json.loads(json.dumps(result))
    assert not list(tmp_path.glob("sub/*.tmp*"))
    with pytest.raises(FileNotFoundError, match=r"no result at .* \(run scripts/run_gcbc_cfgrl.py to make one\)"):
        gx.load_result(tmp_path / "nope.json")


TINY = dataclasses.replace(
    gx.PRESETS["fast"], name="tiny", num_episodes=6, num_steps=40, steps_per_call=20, max_steps=8, num_val_tasks=2,
    hidden_dims=(16,), batch_size=16,
)  # fmt: skip


def test_tiny_experiment_end_to_end_is_reproducible(tmp_path):
    logs = []
    run = gx.run_experiment(MEDIUM, TINY, seed=1, data_dir=tmp_path, progress=False, log=logs.append)
    r = run.result
    assert r["checkpoint_steps"] == [10, 20, 40] and r["preset"]["name"] == "tiny"
    assert np.asarray(r["success"]["40"]).shape == (2, 5, 1, 7)  # seeds, tasks, episodes, ws
    assert np.asarray(r["val_success"]).shape == (2, 2, 7) and len(r["chosen_w"]) == 2
    assert r["dataset_recipe"]["num_episodes"] == 6 and r["device"].startswith("cpu")
    assert np.asarray(r["loss_every_100"]).shape == (2, 1)
    assert jax_leading_axis(run.params) == 2 and any("trained 2 seeds" in line for line in logs)
    again = gx.run_experiment(MEDIUM, TINY, seed=1, data_dir=tmp_path, progress=False, log=logs.append).result
    for key in ("success", "lengths", "val_success", "chosen_w", "loss_every_100"):
        assert again[key] == r[key], key


def jax_leading_axis(params):
    import jax

    return {x.shape[0] for x in jax.tree_util.tree_leaves(params)}.pop()


@pytest.mark.slow
def test_tiny_cube_experiment_runs(tmp_path):
    cube = dataclasses.replace(TINY, name="tiny-cube", num_episodes=2, num_val_tasks=1, ws=(0.0, 3.0))
    r = gx.run_experiment("cube-single-play-v0", cube, seed=0, data_dir=tmp_path, progress=False, log=lambda _: None)
    assert r.model_config.obs_dim == 28 and r.model_config.cond_dim == 3 and r.model_config.action_dim == 5
    assert np.asarray(r.result["success"]["40"]).shape == (2, 5, 1, 2)
    assert np.asarray(r.result["val_success"]).shape == (2, 1, 2) and "init_xyzs" in r.result["val_tasks"][0]
