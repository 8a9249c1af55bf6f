"""OGBench 'play' episodes of the cube manipulation env, driven by OGBench's scripted plan oracle.

The cube rollouts of `cfgrl_core.ogbench.datasets` (which owns the recipes, seeding and the file writer); it follows
OGBench's `data_gen_scripts/generate_manipspace.py --dataset_type=play`:

    env = cube-single-v0 in mode='data_collection' (random arm pose, cube pose and target; no goal termination)
    oracle = CubePlanOracle(noise, noise_smoothing): a pick-and-place plan of keyframes (above the cube, grasp,
             lift, a random clearance point, above the target, release, a random final arm pose), interpolated
             at the control rate, plus Gaussian noise (std noise * [0.05, 0.05, 0.05, 0.3, 1.0] per action
             dimension) smoothed over time with a Gaussian filter of width `noise_smoothing` steps
    a_t = clip(normalised difference between the plan's next pose and the effector's pose, -1, 1)

When the oracle's plan is finished (`oracle.done`), the env draws a new target (`set_new_target`) and the oracle
plans again, so one 1001-step episode holds several pick-and-place tasks.
"""

from __future__ import annotations

import numpy as np

from cfgrl_core.ogbench import scratch
from cfgrl_core.ogbench.env_rng import IsolatedRNG
from cfgrl_core.ogbench.episodes import empty_episode, record_step

# Probability that a new target stacks the cube on another cube; OGBench uses 0 for cube-single (one cube only).
P_STACK_SINGLE = 0.0


def make_play_env(env_name: str, episode_length: int):
    """The env OGBench collects 'play' data in: data-collection mode, no goal termination, `episode_length` rows."""
    import gymnasium
    import ogbench.manipspace  # noqa: F401  (registers the cube-*-v0 env ids)

    env_id = env_name.replace("-play", "")  # cube-single-play-v0 -> cube-single-v0
    with scratch.env_files():
        return gymnasium.make(env_id, terminate_at_goal=False, mode="data_collection", max_episode_steps=episode_length)


def rollout_play_episode(env, ep_seed: int, episode_length: int, noise: float, noise_smoothing: float) -> dict:
    """One 'play' episode of the cube plan oracle; returns the rows and how many tasks it finished.

    Returns arrays observations [T, 28], actions [T, 5], terminals [T] (bool), qpos [T, nq], qvel [T, nv] with
    T = episode_length (cube-single: nq = 21, nv = 20), plus `tasks_completed` (plans the oracle finished) and
    `goals_reached` (those that ended with the cube within 4 cm of its target). Randomness: the env's gymnasium
    np_random (arm, cube and target poses) is seeded by `reset(seed=ep_seed)`, and numpy's global RNG, which the
    oracle uses for its keyframes and plan noise, is an `IsolatedRNG` seeded with `ep_seed`.
    """
    from ogbench.manipspace.oracles.plan.cube_plan import CubePlanOracle

    manip = env.unwrapped
    with IsolatedRNG(ep_seed).active():
        oracle = CubePlanOracle(env=env, noise=noise, noise_smoothing=noise_smoothing)
        ob, info = env.reset(seed=ep_seed)
        oracle.reset(ob, info)
        out = empty_episode(episode_length, ob.shape[-1], 5, manip.model)
        tasks_completed = goals_reached = 0
        for t in range(episode_length):
            action = np.clip(np.asarray(oracle.select_action(ob, info)), -1.0, 1.0)
            next_ob, _, terminated, truncated, info = env.step(action)
            record_step(out, t, ob, action, terminated or truncated, info)  # info: this step's, before a new target
            if oracle.done:  # plan finished: new target, new plan (the recorded row is unaffected)
                tasks_completed += 1
                goals_reached += bool(info["success"])
                oracle.reset(*manip.set_new_target(p_stack=P_STACK_SINGLE))
            ob = next_ob
    out["tasks_completed"] = tasks_completed
    out["goals_reached"] = goals_reached
    return out


def make_play_sampler(env_name: str, episode_length: int, noise: float, noise_smoothing: float | None):
    """(sample, close): sample(ep_seed) -> one 'play' episode of `env_name`; one env serves every episode."""
    env = make_play_env(env_name, episode_length)

    def sample(ep_seed: int) -> dict:
        return rollout_play_episode(env, ep_seed, episode_length, noise, noise_smoothing)

    return sample, env.close
