"""`ogbench.value_map` (cells, BFS distances, values by distance and along a path, the data's returns-to-go),
`iql.grid_max_q`, and `experiments.critic_budget` (notebook 05's check of its critic) on the tiniest sizes."""

import json

import jax
import numpy as np
import pytest

from cfgrl_core.agents import iql
from cfgrl_core.experiments import critic_budget
from cfgrl_core.experiments import offline_rl as orl
from cfgrl_core.ogbench import singletask, value_map


@pytest.fixture(scope="module")
def medium3():
    return value_map.maze_layout("pointmaze-medium-navigate-v0", 3)


@pytest.mark.parametrize("env_name", ["pointmaze-medium-navigate-v0", "pointmaze-teleport-navigate-v0"])
def test_cells_are_ogbench_cells(env_name):
    layout = value_map.maze_layout(env_name, 1)
    env = singletask.make_env(singletask.singletask_name(env_name, 1))
    try:
        maze = env.unwrapped
        xy = np.random.default_rng(0).uniform(-6, 40, size=(500, 2))
        inside = [maze.xy_to_ij(p) for p in xy]
        shape = np.asarray(maze.maze_map).shape
        keep = [k for k, (i, j) in enumerate(inside) if 0 <= i < shape[0] and 0 <= j < shape[1]]
        assert len(keep) > 100
        assert value_map.cells_of(layout, xy[keep]).tolist() == [list(inside[k]) for k in keep]
    finally:
        env.close()


def test_distances_count_the_path_and_walls_are_not_joined(medium3):
    path_xy = [np.asarray(medium3["origin"]) + medium3["unit"] * np.asarray(c[::-1]) for c in medium3["path"]]
    assert value_map.goal_distances(medium3, path_xy).tolist() == list(range(1, len(medium3["path"]) + 1))
    goal_xy = medium3["origin"] + medium3["unit"] * medium3["goal_ij"][::-1]
    assert value_map.goal_distances(medium3, [goal_xy]).tolist() == [0]
    wall = np.argwhere(medium3["maze_map"] == 1)[0]
    assert medium3["distance"][tuple(wall)] == -1
    assert medium3["distance"][tuple(medium3["start_ij"])] == len(medium3["path"])
    teleport = value_map.maze_layout("pointmaze-teleport-navigate-v0", 1)
    free_unjoined = (teleport["maze_map"] == 0) & (teleport["distance"] < 0)
    assert free_unjoined.any()  # the teleport maze's far side: joined to the goal only through a teleporter


def test_by_distance_and_along_path_average_the_right_states(medium3):
    xy = np.array([medium3["origin"] + medium3["unit"] * np.asarray(c[::-1]) for c in medium3["path"][:2]] * 2)
    xy = np.vstack(
        [xy, [medium3["origin"] + medium3["unit"] * np.asarray(np.argwhere(medium3["maze_map"] == 1)[0][::-1])]]
    )
    values = np.array([[1.0, 2.0, 3.0, 4.0, 99.0], [0.0, 0.0, 2.0, 2.0, 99.0]])
    table = value_map.by_distance(values, value_map.goal_distances(medium3, xy))
    assert table["distance"].tolist() == [1, 2] and table["count"].tolist() == [2, 2] and table["unjoined"] == 1
    assert np.allclose(table["mean"], [[2.0, 3.0], [1.0, 1.0]])
    on_path, counts = value_map.along_path(values, medium3, xy)
    assert counts.tolist()[:3] == [2, 2, 0] and np.allclose(on_path[:, :2], [[2.0, 3.0], [1.0, 1.0]])
    assert np.isnan(on_path[:, 2]).all()
    with pytest.raises(ValueError, match="values hold"):
        value_map.by_distance(values[:, :3], value_map.goal_distances(medium3, xy))


def test_returns_to_go_stop_at_the_goal_and_at_episode_ends():
    r = np.array([-1, -1, 0, -1, -1, -1, -1], float)
    m = np.array([1, 1, 0, 1, 1, 1, 1], float)
    term = np.array([0, 0, 0, 0, 1, 0, 1], float)
    g, reaches = value_map.returns_to_go(r, m, term, discount=0.5)
    assert np.allclose(g, [-1.5, -1.0, 0.0, -1.5, -1.0, -1.5, -1.0])
    assert reaches.tolist() == [True, True, True, False, False, False, False]
    with pytest.raises(ValueError, match="discount"):
        value_map.returns_to_go(r, m, term, discount=1.0)


def test_rank_correlation():
    assert value_map.rank_correlation([1, 2, 3, 4], [9, 5, 2, 1]) == pytest.approx(-1.0)
    assert value_map.rank_correlation([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    assert np.isnan(value_map.rank_correlation([1, 2, 3], [4, 4, 4]))
    with pytest.raises(ValueError, match="equal-length"):
        value_map.rank_correlation([1, 2], [1])


def test_grid_max_q_is_the_brute_force_maximum():
    config = iql.IQLConfig(obs_dim=2, action_dim=2, hidden_dims=(8,))
    critic = iql.init_iql_params(config, jax.random.PRNGKey(0))["critic"]
    grid = iql.action_grid(2, per_axis=5)
    assert grid.shape == (25, 2) and grid.min() == -1 and grid.max() == 1
    obs = np.random.default_rng(0).normal(size=(7, 2)).astype(np.float32)
    q_max, best = iql.grid_max_q(critic, obs, grid, config=config)
    every = np.stack([np.asarray(iql.q_values(critic, obs, np.tile(a, (7, 1)), config=config)) for a in grid])
    assert np.allclose(q_max, every.max(0), atol=1e-6) and np.allclose(best, grid[every.argmax(0)])


def test_sample_q_max_needs_weights_when_the_sample_has_none():
    with pytest.raises(ValueError, match="no q_max"):
        orl.sample_q_max({"actions": np.zeros((3, 2)), "observations": np.zeros((3, 2))})
    sample = {"q_max": np.ones((2, 3))}
    q, seeds = orl.sample_q_max(sample)
    assert seeds == [0, 1] and q.shape == (2, 3)


@pytest.mark.slow  # about half a minute: a FAST dataset and two tiny critics
def test_the_fast_critic_budget_run_reads_the_path_and_loads_back(tmp_path):
    preset = critic_budget.get_preset("fast")
    result = critic_budget.run(preset, folder=tmp_path, progress=False, log=lambda *_: None)
    assert json.loads((tmp_path / f"{preset.task}.json").read_text()) == json.loads(json.dumps(result))
    assert not (tmp_path / preset.task).exists()  # the checkpoints and readings are gone once the result is written
    (var,) = result["variants"].values()
    assert sorted(var["readings"]) == [str(s) for s in preset.stops]
    reading = var["readings"][str(preset.stops[-1])]
    assert np.asarray(reading["path_v"]).shape == (preset.num_seeds, len(result["path"]))
    assert all(-1 <= r <= 1 for r in reading["path_rank"])
    assert len(result["data_best_return"]) == len(result["path"]) and np.asarray(var["loss_every_100"]).shape[0] == 2
    assert "rank correlation" in critic_budget.summary_line(result)
    again = critic_budget.obtain(preset, reuse=True, folder=tmp_path, log=lambda *_: None)
    assert again == json.loads(json.dumps(result))
