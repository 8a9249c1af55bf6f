"""Lockstep OGBench evaluation (cfgrl_core.ogbench.evaluation): one batched policy call per env step gives the same
rollouts as the authors' one-episode-at-a-time loop on the same seeds, and the same seed gives the same results.

Tiny: an untrained (16,) network, 2 tasks x 1 episode x 2 w, 30 steps.
"""

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cfgrl_core.networks import ModelConfig, init_params
from cfgrl_core.ogbench import evaluation as ev

NAME = "pointmaze-medium-navigate-v0"
CONFIG = ModelConfig(action_dim=2, obs_dim=2, cond_dim=2, hidden_dims=(16,))
SMALL = dict(task_ids=(1, 2), episodes_per_task=1, max_steps=30, flow_steps=4)
WS = (0.0, 3.0)


@pytest.fixture(scope="module")
def params():
    return init_params(CONFIG, jax.random.PRNGKey(0))


@pytest.fixture(scope="module")
def lockstep(params):
    return ev.evaluate_lockstep(NAME, params, CONFIG, WS, seed=3, **SMALL)


def test_lockstep_equals_one_at_a_time(params, lockstep):
    single = ev.evaluate_one_at_a_time(NAME, params, CONFIG, WS, seed=3, **SMALL)
    np.testing.assert_array_equal(lockstep.success, single.success)
    np.testing.assert_array_equal(lockstep.lengths, single.lengths)
    np.testing.assert_array_equal(lockstep.env_seeds, single.env_seeds)
    np.testing.assert_allclose(lockstep.final_observations, single.final_observations, atol=1e-4)
    assert lockstep.success.shape == (2, 1, 2) and lockstep.success_rate.shape == (2, 2)
    assert np.all(lockstep.lengths == 30)  # untrained: no success, cut at max_steps
    # The agent moved, and w changes the rollout (same start state and noise, different guidance).
    assert not np.allclose(lockstep.final_observations[:, :, 0], lockstep.final_observations[:, :, 1])


def test_same_seed_same_results_other_seed_differs(params, lockstep):
    again = ev.evaluate_lockstep(NAME, params, CONFIG, WS, seed=3, **SMALL)
    np.testing.assert_array_equal(again.final_observations, lockstep.final_observations)
    np.testing.assert_array_equal(again.success, lockstep.success)
    other = ev.evaluate_lockstep(NAME, params, CONFIG, WS, seed=4, **SMALL)
    assert not np.allclose(other.final_observations, lockstep.final_observations)
    rows = lockstep.episodes()
    assert len(rows) == 4 and rows[0] == dict(task_id=1, episode=0, w=0.0, success=False, length=30)


def test_reset_is_seeded_and_leaves_numpy_global_rng_alone():
    env = ev.make_env(NAME)
    state = np.random.get_state()[1].copy()
    ob1, info1 = ev.reset_env(env, 2, 123)
    ob2, info2 = ev.reset_env(env, 2, 123)
    np.testing.assert_array_equal(ob1, ob2)
    np.testing.assert_array_equal(info1["goal"], info2["goal"])
    ob3, _ = ev.reset_env(env, 2, 124)
    assert not np.array_equal(ob1, ob3)
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_sample_actions_does_not_depend_on_the_other_rows(params):
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(0), i))(jnp.arange(5))
    goals = jax.random.normal(jax.random.PRNGKey(1), (5, 2))
    obs = jax.random.normal(jax.random.PRNGKey(2), (5, 2))
    ws = jnp.array([0.0, 1.0, 3.0, 3.0, 0.5])
    batch = ev.sample_actions(params, keys, goals, ws, obs, config=CONFIG, flow_steps=4)
    assert batch.shape == (5, 2) and np.all(np.abs(np.asarray(batch)) <= 1.0)
    for n in range(5):
        one = ev.sample_actions(
            params, keys[n : n + 1], goals[n : n + 1], ws[n : n + 1], obs[n : n + 1], config=CONFIG, flow_steps=4
        )
        np.testing.assert_allclose(one[0], batch[n], atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(env_name="no-such-env-v0"), "unknown OGBench env"),
        (dict(episodes_per_task=0), "episodes_per_task"),
        (dict(max_steps=0), "max_steps"),
        (dict(max_steps=2.5), "max_steps"),
        (dict(flow_steps=0), "flow_steps"),
        (dict(ws=[[1.0]]), "ws"),
        (dict(ws=[np.nan]), "non-finite"),
        (dict(task_ids=(6,)), "task_ids"),
        (dict(seed=-1), "seed"),
        (dict(task_ids=()), "task_ids"),
        (dict(config=ModelConfig(action_dim=2, obs_dim=2, cond_dim=3, hidden_dims=(16,))), "policy expects"),
        (dict(config=ModelConfig(action_dim=2, num_labels=2, hidden_dims=(16,))), "goal-conditioned"),
    ],
)
def test_bad_inputs(params, kwargs, match):
    args = dict(env_name=NAME, params=params, config=CONFIG, ws=WS, seed=0, **SMALL)
    args.update(kwargs)
    wrong_type = any(isinstance(v, float) for k, v in kwargs.items() if k in ("max_steps", "episodes_per_task"))
    with pytest.raises(TypeError if wrong_type else ValueError, match=match):
        ev.evaluate_lockstep(**args)


def test_a_rollout_does_not_depend_on_what_is_evaluated_beside_it(params, lockstep):
    # More tasks, more episodes and more w in the batch: the (task 2, episode 0, w = 3) rollout is the same.
    bigger = ev.evaluate_lockstep(
        NAME, params, CONFIG, (0.0, 1.0, 3.0), seed=3, task_ids=(2, 3), episodes_per_task=2, max_steps=30,
        flow_steps=4, record_trajectories=True,
    )  # fmt: skip
    np.testing.assert_array_equal(bigger.final_observations[0, 0, 2], lockstep.final_observations[1, 0, 1])
    np.testing.assert_array_equal(bigger.lengths[0, 0, 2], lockstep.lengths[1, 0, 1])
    # trajectories: [T, E, W, steps + 1, O], starting at the reset state and ending at the final observation
    assert bigger.trajectories.shape == (2, 2, 3, 31, 2)
    np.testing.assert_array_equal(bigger.trajectories[..., -1, :], bigger.final_observations)
    np.testing.assert_array_equal(bigger.trajectories[:, :, 0, 0], bigger.trajectories[:, :, 2, 0])  # same start


def test_task_infos_reset_to_the_given_start_and_goal(params):
    env = ev.make_env(NAME)
    maze = env.unwrapped
    info = dict(init_ij=(1, 1), goal_ij=(3, 4))
    result = ev.evaluate_lockstep(
        NAME, params, CONFIG, (1.0,), seed=0, task_infos=[info], max_steps=2, flow_steps=2, record_trajectories=True
    )
    start = result.trajectories[0, 0, 0, 0]
    assert np.linalg.norm(start - np.asarray(maze.ij_to_xy((1, 1)))) < 1.0  # reset noise is small
    assert result.task_ids == (1,) and result.task_infos == (info,)
    with pytest.raises(ValueError, match="task_infos"):
        ev.evaluate_lockstep(NAME, params, CONFIG, (1.0,), task_infos=[], max_steps=2)


def test_bucket_sizes():
    assert [ev.bucket_size(k, 70) for k in (1, 8, 9, 16, 17, 33, 64, 65, 70)] == [8, 8, 16, 16, 32, 64, 64, 70, 70]
    assert ev.bucket_size(3, 4) == 4


def test_finished_rollouts_leave_the_batch_without_changing_the_others(params):
    # Tasks 1 and 2 start on their goal cell (success at the first step); task 3 runs to max_steps. With 3 x 4 = 12
    # rows, after step 1 only 4 run and the policy call shrinks to a bucket of 8 rows: the long rollouts must be the
    # same as when they are evaluated one at a time.
    tasks = [
        dict(init_ij=(1, 1), goal_ij=(1, 1)),
        dict(init_ij=(6, 6), goal_ij=(6, 6)),
        dict(init_ij=(1, 1), goal_ij=(6, 6)),
    ]
    ws = (0.0, 1.0, 3.0, 5.0)
    args = dict(task_infos=tasks, seed=5, max_steps=25, flow_steps=4)
    lock = ev.evaluate_lockstep(NAME, params, CONFIG, ws, **args)
    single = ev.evaluate_one_at_a_time(NAME, params, CONFIG, ws, **args)
    np.testing.assert_array_equal(lock.lengths[:2], 1)
    assert lock.success[:2].all() and not lock.success[2].any() and np.all(lock.lengths[2] == 25)
    np.testing.assert_array_equal(lock.lengths, single.lengths)
    np.testing.assert_allclose(lock.final_observations, single.final_observations, atol=1e-4)


def test_cube_envs_are_pooled_and_reuse_changes_nothing():
    name = "cube-single-play-oraclerep-v0"
    config = ModelConfig(action_dim=5, obs_dim=28, cond_dim=3, hidden_dims=(16,))
    params = init_params(config, jax.random.PRNGKey(1))
    args = dict(task_ids=(1, 4), max_steps=6, flow_steps=2, seed=2)
    with ev.EnvPool() as pool:
        first = ev.evaluate_lockstep(name, params, config, (0.0, 3.0), pool=pool, **args)
        assert pool.size(name) == 2  # one env per task and episode: the two ws run in waves on them
        pooled = pool.get(name, 2)
        again = ev.evaluate_lockstep(name, params, config, (0.0, 3.0), pool=pool, **args)
        assert pool.get(name, 2) == pooled and pool.size(name) == 2  # the same env objects, not new ones
    assert pool.size(name) == 0  # closed and forgotten when the block ends
    np.testing.assert_array_equal(again.final_observations, first.final_observations)
    fresh = ev.evaluate_lockstep(name, params, config, (0.0, 3.0), **args)  # no pool: envs of its own, closed after
    np.testing.assert_array_equal(fresh.final_observations, first.final_observations)
    single = ev.evaluate_one_at_a_time(name, params, config, (0.0, 3.0), **args)  # a fresh env of its own
    np.testing.assert_allclose(single.final_observations, first.final_observations, atol=1e-4)
    assert not np.allclose(first.final_observations[0, 0, 0], first.final_observations[0, 0, 1])


def test_the_w_waves_of_the_reference_path_equal_one_lockstep_of_every_row():
    """Cube rollouts run one w at a time on the same envs (`evaluate_many`); one lockstep of all the rows (the
    private loop, as before the waves) gives the same rollouts: two jobs with w grids of different lengths, recorded
    trajectories padded to the longest wave as a lockstep freezes a finished rollout."""
    name = "cube-single-play-oraclerep-v0"
    config = ModelConfig(action_dim=5, obs_dim=28, cond_dim=3, hidden_dims=(16,))
    policies = [ev.goal_conditioned_policy(init_params(config, jax.random.PRNGKey(k)), config, 2) for k in (1, 2)]
    jobs = [(policies[0], (0.0, 3.0, 1.0)), (policies[1], (2.0,))]
    args = dict(task_ids=(1, 4), episodes_per_task=1, seed=2, max_steps=5, record_trajectories=True)
    with ev.EnvPool() as pool:
        waves = ev.evaluate_many(name, jobs, pool=pool, **args)
        assert pool.size(name) == 4  # 2 jobs x 2 tasks, not the 8 rows
        lockstep = ev._evaluate_lockstep(name, jobs, **args, task_infos=None, env_threads=None, physics="auto",
                                         pool=pool, progress=False)  # fmt: skip
    for a, b in zip(waves, lockstep, strict=True):
        np.testing.assert_array_equal(a.ws, b.ws)
        for field in ("success", "lengths", "final_observations", "trajectories"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    assert waves[0].seconds == waves[1].seconds > 0
    assert not np.allclose(waves[0].final_observations[0, 0, 0], waves[0].final_observations[0, 0, 1])
    # a wave whose rollouts all ended early is frozen at its last observation up to the longest wave
    short = dataclasses.replace(waves[1], trajectories=waves[1].trajectories[:, :, :, :3])
    joined = ev._join_w([waves[0], short], seconds=1.0, policy_seconds=0.5)
    assert joined.trajectories.shape == (2, 1, 4, 6, 28) and joined.seconds == 1.0 and joined.policy_seconds == 0.5
    np.testing.assert_array_equal(joined.trajectories[:, :, 3, 3:], np.repeat(short.trajectories[:, :, 0, -1:], 3, 2))
    np.testing.assert_array_equal(joined.ws, [0.0, 3.0, 1.0, 2.0])


def test_the_seconds_count_rollouts_not_building_envs(params):
    def slow_make():
        time.sleep(1.5)
        return ev.make_env(NAME)

    with ev.EnvPool() as pool:
        pool.register(NAME, slow_make)
        start = time.perf_counter()
        result = ev.evaluate_lockstep(NAME, params, CONFIG, (0.0, 1.0), task_ids=(1,), max_steps=3, flow_steps=2,
                                      physics="reference", pool=pool)  # fmt: skip
        assert time.perf_counter() - start > 1.5 and pool.size(NAME) == 1
    assert 0 < result.seconds < 1.0


def test_env_threads_change_nothing(params):
    args = dict(ws=(0.0, 1.0, 3.0, 5.0), episodes_per_task=1, seed=7, max_steps=20, flow_steps=2)  # 20 rows
    one = ev.evaluate_lockstep(NAME, params, CONFIG, env_threads=1, record_trajectories=True, **args)
    two = ev.evaluate_lockstep(NAME, params, CONFIG, env_threads=2, record_trajectories=True, **args)
    many = ev.evaluate_lockstep(NAME, params, CONFIG, env_threads=7, record_trajectories=True, **args)
    for other in (two, many):
        np.testing.assert_array_equal(other.trajectories, one.trajectories)
        np.testing.assert_array_equal(other.lengths, one.lengths)
    with pytest.raises(ValueError, match="env_threads"):
        ev.evaluate_lockstep(NAME, params, CONFIG, env_threads=0, **args)


TELEPORT = "pointmaze-teleport-navigate-oraclerep-v0"


def test_teleports_do_not_depend_on_threads_batch_or_the_global_rng():
    # Every rollout starts on a teleport entrance, so its first step sends it to one of three exits, drawn from
    # numpy's global RNG inside OGBench's step(): each rollout must draw from its own stream.
    params = init_params(CONFIG, jax.random.PRNGKey(3))
    tasks = [dict(init_ij=(4, 6), goal_ij=(7, 1)), dict(init_ij=(5, 1), goal_ij=(1, 10))] * 4
    args = dict(task_infos=tasks, episodes_per_task=2, seed=5, max_steps=3, flow_steps=2, record_trajectories=True)
    np.random.seed(123)
    outer = np.random.get_state()[1].copy()
    one = ev.evaluate_lockstep(TELEPORT, params, CONFIG, (0.0, 3.0), env_threads=1, **args)
    assert np.array_equal(np.random.get_state()[1], outer)  # the caller's global RNG is untouched
    np.random.seed(999)  # another global state changes nothing
    two = ev.evaluate_lockstep(TELEPORT, params, CONFIG, (0.0, 3.0), env_threads=2, **args)
    many = ev.evaluate_lockstep(TELEPORT, params, CONFIG, (0.0, 3.0), env_threads=7, **args)
    wider = ev.evaluate_lockstep(TELEPORT, params, CONFIG, (0.0, 1.0, 3.0), env_threads=2, **args)  # other batch
    for other in (two, many):
        np.testing.assert_array_equal(other.trajectories, one.trajectories)
    np.testing.assert_array_equal(wider.trajectories[:, :, [0, 2]], one.trajectories)
    plain = {k: v for k, v in args.items() if k != "record_trajectories"}
    single = ev.evaluate_one_at_a_time(TELEPORT, params, CONFIG, (0.0, 3.0), **plain)
    np.testing.assert_allclose(single.final_observations, one.final_observations, atol=1e-4)
    # The teleports happened, to more than one exit: the test exercises the random draw.
    first_step = one.trajectories[..., 2, :].reshape(-1, 2)  # step() returns the pre-teleport observation
    exits = np.array([(24.0, 0.0), (0.0, 20.0), (36.0, 20.0)])
    distance = np.linalg.norm(first_step[:, None] - exits[None], axis=-1)  # [rollouts, exits]
    teleported = distance.min(axis=1) < 1.0
    assert teleported.mean() > 0.5, "most rollouts should be at a teleport exit after their first step"
    assert len(set(np.argmin(distance[teleported], axis=1).tolist())) >= 2  # more than one exit was drawn


def test_each_policy_is_called_once_per_step_on_host_rows_with_its_rows_keys():
    # The loop's contract with a RowPolicy (and what keeps it fast: no eager device-side gathers per job): at every
    # env step each job is called once, on numpy arrays of its running rows; a row's key is
    # fold_in(its rollout key, step), whatever job it is in.
    calls = []

    def act(keys, goals, ws, observations):
        calls.append((keys, goals, ws, observations))
        return np.zeros((len(observations), 2))

    policy = ev.RowPolicy(act=act, obs_dim=2, goal_dim=2)
    steps = 4
    results = ev.evaluate_many(NAME, [(policy, (0.0, 1.0)), (policy, (3.0,))], task_ids=(1,), episodes_per_task=2,
                               seed=7, max_steps=steps)  # fmt: skip
    assert len(calls) == 2 * steps and all(r.lengths.min() == steps for r in results)
    for keys, goals, ws, obs in calls:
        assert all(type(x) is np.ndarray for x in (keys, goals, ws, obs)), [type(x) for x in (keys, goals, ws, obs)]
    _, keys0, _ = ev._rollout_setup((0.0, 1.0), (1,), 2, 7)
    for step in range(steps):
        keys, _, ws, _ = calls[2 * step]  # the first job: rows (episode, w) = (0, 0), (0, 1), (1, 0), (1, 1)
        np.testing.assert_array_equal(keys[:4], np.asarray(jax.vmap(jax.random.fold_in, (0, None))(keys0, step)))
        np.testing.assert_array_equal(ws[:4], [0.0, 1.0, 0.0, 1.0])
        keys_2, _, ws_2, _ = calls[2 * step + 1]  # the second job's rows share the first job's rollout keys (CRN)
        np.testing.assert_array_equal(keys_2[:2], keys[[0, 2]])
        np.testing.assert_array_equal(ws_2[:2], [3.0, 3.0])
