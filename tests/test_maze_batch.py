"""The batched point-maze physics (cfgrl_core.ogbench.maze_batch) against OGBench's env, the reference.

For every env the fast path serves (the navigate mazes, their single-task variants with success timed before the
step, and the path-start env of notebook 05), random action sequences of 1000 steps, some pressed into walls and
through teleports: the observations agree within 1e-12 (the solver's warm start is the only difference), and
success and teleports agree step for step. Then the same success and lengths on a fixed set of policy episodes
(a goal-seeking policy with noise, so some episodes succeed and some end at walls), through `evaluate_policy`.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cfgrl_core.ogbench import evaluation as ev
from cfgrl_core.ogbench import maze_batch, singletask
from cfgrl_core.ogbench.env_rng import IsolatedRNG

ATOL = 1e-12
ENVS = {
    "pointmaze-medium-navigate-v0": lambda: ev.make_env("pointmaze-medium-navigate-v0"),
    "pointmaze-large-navigate-v0": lambda: ev.make_env("pointmaze-large-navigate-v0"),
    "pointmaze-giant-navigate-v0": lambda: ev.make_env("pointmaze-giant-navigate-v0"),
    "pointmaze-teleport-navigate-v0": lambda: ev.make_env("pointmaze-teleport-navigate-v0"),
    "pointmaze-large-navigate-singletask-v0": lambda: ev.make_env("pointmaze-large-navigate-singletask-v0"),
    "pointmaze-teleport-navigate-singletask-v0": lambda: ev.make_env("pointmaze-teleport-navigate-singletask-v0"),
    "path-start medium task 3": lambda: singletask.path_start_env("pointmaze-medium-navigate-v0", 3),
}


def random_actions(rows: int, steps: int, seed: int) -> np.ndarray:
    """Half the rows wander, half push in a fixed direction (into walls) with noise; in [-1, 1]."""
    rng = np.random.default_rng(seed)
    actions = rng.uniform(-1, 1, (rows, steps, 2))
    actions[: rows // 2] = actions[: rows // 2] * 0.4 + rng.uniform(-1, 1, (rows // 2, 1, 2))
    return np.clip(actions, -1, 1)


def task_of(env, r: int):
    u = env.unwrapped
    if u._reward_task_id is not None:
        return u._reward_task_id
    return 1 + r % u.num_tasks


@pytest.mark.parametrize("name", list(ENVS))
def test_fast_physics_follows_ogbench_step_for_step(name):
    env = ENVS[name]()
    assert maze_batch.supports(env)
    rows, steps = (12 if "teleport" in name else 6), 1000
    actions = random_actions(rows, steps, seed=len(name))
    ref_obs, ref_success = np.zeros((rows, steps, 2)), np.zeros((rows, steps), bool)
    state, goal_xy, rngs = np.zeros((rows, 5)), np.zeros((rows, 2)), []
    with maze_batch.PointMazeBatch(env, threads=2) as batch:
        for r in range(rows):  # the reference: OGBench's env.step, one rollout after another
            ref_rng = IsolatedRNG(100 + r)
            ev.reset_env(env, task_of(env, r), 100 + r, ref_rng)
            for k in range(steps):
                ob, _, _, _, info = ev.step_env(env, actions[r, k], ref_rng)
                ref_obs[r, k], ref_success[r, k] = ob, info["success"]
        for r in range(rows):  # the same resets, captured for the batch
            rngs.append(IsolatedRNG(100 + r))
            ev.reset_env(env, task_of(env, r), 100 + r, rngs[r])
            state[r], goal_xy[r] = batch.capture(env), env.unwrapped.cur_goal_xy
        obs, success = np.zeros_like(ref_obs), np.zeros_like(ref_success)
        for k in range(steps):
            obs[:, k], success[:, k], state = batch.step(state, actions[:, k], goal_xy, rngs)
    np.testing.assert_allclose(obs, ref_obs, atol=ATOL, rtol=0)
    np.testing.assert_array_equal(success, ref_success)
    jumps = np.linalg.norm(np.diff(ref_obs, axis=1), axis=-1) > 1.0  # a step moves at most 0.2 * sqrt(2) otherwise
    np.testing.assert_array_equal(np.linalg.norm(np.diff(obs, axis=1), axis=-1) > 1.0, jumps)
    if "teleport" in name:
        assert jumps.any(), "the actions should pass through a teleport at least once"


def goal_seeking_policy(noise: float = 0.6) -> ev.RowPolicy:
    """Heads straight for the goal with Gaussian noise: succeeds where the line of sight is clear, sticks at walls."""

    @jax.jit
    def act(keys, goals, ws, observations):
        direction = goals - observations
        direction = direction / (jnp.linalg.norm(direction, axis=-1, keepdims=True) + 1e-6)
        eps = jax.vmap(lambda k: jax.random.normal(k, (2,)))(keys)
        return jnp.clip(direction + noise * eps, -1.0, 1.0)

    return ev.RowPolicy(act=act, obs_dim=2, goal_dim=2)


@pytest.mark.parametrize("name", ["pointmaze-medium-navigate-v0", "pointmaze-teleport-navigate-v0"])
def test_same_success_on_policy_episodes(name):
    args = dict(episodes_per_task=4, seed=7, max_steps=400, record_trajectories=True)
    fast = ev.evaluate_policy(name, goal_seeking_policy(), (0.0,), physics="batched", **args)
    ref = ev.evaluate_policy(name, goal_seeking_policy(), (0.0,), physics="reference", **args)
    np.testing.assert_array_equal(fast.success, ref.success)
    np.testing.assert_array_equal(fast.lengths, ref.lengths)
    np.testing.assert_allclose(fast.trajectories, ref.trajectories, atol=1e-5, rtol=0)
    assert 0 < fast.success.sum() < fast.success.size  # some episodes succeed, some do not


def test_many_policies_in_one_lockstep_equal_each_alone():
    """evaluate_many: the jobs stepped together give what each gives alone, whatever runs beside it."""
    name, args = "pointmaze-medium-navigate-v0", dict(task_ids=(1, 3), episodes_per_task=2, seed=2, max_steps=300)
    slow, fast = goal_seeking_policy(0.9), goal_seeking_policy(0.3)
    together = ev.evaluate_many(name, [(slow, (0.0,)), (fast, (0.0, 1.0))], **args)
    for (policy, ws), result in zip([(slow, (0.0,)), (fast, (0.0, 1.0))], together, strict=True):
        alone = ev.evaluate_policy(name, policy, ws, **args)
        np.testing.assert_array_equal(result.success, alone.success)
        np.testing.assert_array_equal(result.lengths, alone.lengths)
        np.testing.assert_array_equal(result.final_observations, alone.final_observations)
    assert together[0].lengths.shape == (2, 2, 1) and together[1].lengths.shape == (2, 2, 2)


def test_batched_physics_rejects_other_envs_and_bad_input():
    with pytest.raises(ValueError, match="physics must be one of"):
        ev.evaluate_policy("pointmaze-medium-navigate-v0", goal_seeking_policy(), (0.0,), physics="gpu", max_steps=2)
    with pytest.raises(ValueError, match="jobs is empty"):
        ev.evaluate_many("pointmaze-medium-navigate-v0", [])
    env = ENVS["pointmaze-medium-navigate-v0"]()
    with maze_batch.PointMazeBatch(env) as batch, pytest.raises(ValueError, match="state must be"):
        batch.step(np.zeros((3, 5)), np.zeros((2, 2)), np.zeros((3, 2)), [None] * 3)
