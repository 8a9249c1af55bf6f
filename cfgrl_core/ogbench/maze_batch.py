"""Point mazes stepped as one batch: OGBench's `PointEnv` + `MazeEnv.step`, with the physics of every rollout in one
call to MuJoCo's threaded `rollout` (C threads, no GIL, no gymnasium wrappers per step).

OGBench's env stays the reference. Each rollout is still reset by an OGBench env (`evaluation.reset_env`: the start
noise, the goal, the random stabilising steps), and its MuJoCo state is read from that env. A step then does what
OGBench's code does, row by row, in numpy:

    PointEnv.step      qpos <- qpos + 0.2 a; qvel <- 0; mj_step x frame_skip (5); observation = qpos
    MazeEnv.step       success = |xy - goal_xy| <= goal_tol, before the physics (success_timing 'pre', the
                       single-task envs) or after it ('post', the default); teleport: an xy within 1.5 x radius of an
                       inbound teleport moves to an outbound one drawn by np.random.randint (the rollout's own
                       IsolatedRNG, as in `evaluation.step_env`); the observation returned is the one from before
                       the teleport, as OGBench's
    TimeLimit          truncated at the env's max_episode_steps; terminated = success (terminate_at_goal)

What differs: MuJoCo's solver warm start. OGBench carries `qacc_warmstart` from one step to the next; `rollout`
starts each step from the warm start given (here zeros), so on contact with a wall the solver starts from another
guess. The observations of the fast path stay within 1e-12 of OGBench's over 1000-step episodes (a test, on random
action sequences for every maze this module serves, with teleports), and success and teleports agree step for step.

`supports(env)` says whether an env is one this module reproduces (a point maze with state observations and no
reward shaping beyond success); other envs (cube, ant) stay on the reference path.
"""

from __future__ import annotations

import mujoco
import numpy as np
from mujoco import rollout as mj_rollout

from cfgrl_core.checks import check_positive_int

ACTION_SCALE = 0.2  # PointEnv.step: qpos += 0.2 * action
_STATE = mujoco.mjtState.mjSTATE_FULLPHYSICS  # the state `rollout` reads and writes: time, qpos, qvel (point: 1+2+2)


def supports(env) -> bool:
    """Whether `env` (an OGBench env, wrapped or not) is a point maze this module steps exactly as OGBench does."""
    u = env.unwrapped
    return (
        type(u).__name__ == "MazeEnv"
        and type(u).__mro__[1].__name__ == "PointEnv"
        and getattr(u, "_ob_type", None) == "states"
        and getattr(u, "_success_timing", None) in ("pre", "post")
        and u.model.nq == 2
        and u.model.nv == 2
        and getattr(u, "frame_skip", None) == 5
    )


class PointMazeBatch:
    """The physics of R point-maze rollouts, stepped together by `rollout` on `threads` C threads.

        batch = PointMazeBatch(env, threads=2)          # env: any OGBench env of this maze (`supports(env)`)
        state = np.stack([batch.capture(env_r) for env_r in reset_envs])   # [R, 5] after each OGBench reset
        obs, success, state = batch.step(state, actions, goal_xy, rngs)   # one env step of every row

    A row's result depends only on its own state, action and rng, not on the others or on the thread count.
    """

    def __init__(self, env, threads: int = 1):
        if not supports(env):
            raise ValueError(f"{env.unwrapped!r} is not a point maze with state observations (see maze_batch.supports)")
        self.threads = check_positive_int("threads", threads)
        u = env.unwrapped
        self.model = u.model
        self.frame_skip = int(u.frame_skip)
        self.goal_tol = float(u._goal_tol)
        self.success_before_step = u._success_timing == "pre"
        self.max_episode_steps = env.spec.max_episode_steps if env.spec is not None else None
        info = u._teleport_info
        self.teleport_in = None if info is None else np.asarray(info["teleport_in_xys"], np.float64)
        self.teleport_out = None if info is None else np.asarray(info["teleport_out_xys"], np.float64)
        self.teleport_reach = None if info is None else float(info["teleport_radius"]) * 1.5
        self._datas = [mujoco.MjData(self.model) for _ in range(self.threads)]
        self._pool = mj_rollout.Rollout(nthread=self.threads if self.threads > 1 else 0)
        self.state_size = mujoco.mj_stateSize(self.model, _STATE)

    def capture(self, env) -> np.ndarray:
        """The MuJoCo state [time, qpos, qvel] of an env of this maze (after `evaluation.reset_env`)."""
        state = np.empty(self.state_size)
        mujoco.mj_getState(env.unwrapped.model, env.unwrapped.data, state, _STATE)
        return state

    def close(self) -> None:
        self._pool.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def succeeded(self, xy: np.ndarray, goal_xy: np.ndarray) -> np.ndarray:
        """MazeEnv.compute_success of every row: [R] bool."""
        return np.linalg.norm(xy - goal_xy, axis=-1) <= self.goal_tol

    def step(self, state: np.ndarray, actions: np.ndarray, goal_xy: np.ndarray, rngs) -> tuple:
        """One env step of R rows. state [R, 5] float64 (not modified), actions [R, 2], goal_xy [R, 2], rngs: R
        IsolatedRNG (drawn from only on a teleport). Returns observations [R, 2] (as OGBench returns them, before a
        teleport), success [R] bool, and the next state [R, 5] (after any teleport)."""
        state = np.array(state, np.float64)  # a copy: the caller's rows stay as they were
        actions = np.asarray(actions, np.float64)
        if state.ndim != 2 or state.shape[1] != self.state_size or actions.shape != (state.shape[0], 2):
            raise ValueError(
                f"state must be [R, {self.state_size}] and actions [R, 2], got {state.shape}, {actions.shape}"
            )
        if self.success_before_step:
            success = self.succeeded(state[:, 1:3], goal_xy)
        state[:, 1:3] = state[:, 1:3] + ACTION_SCALE * actions
        state[:, 3:5] = 0.0
        rows = state.shape[0]
        out = np.empty((rows, self.frame_skip, self.state_size))
        self._pool.rollout(
            self.model, self._datas, state, None, nstep=self.frame_skip, initial_warmstart=np.zeros((rows, 2)),
            state=out, skip_checks=False,
        )  # fmt: skip
        state = out[:, -1].copy()
        observations = state[:, 1:3].copy()
        if not self.success_before_step:
            success = self.succeeded(state[:, 1:3], goal_xy)
        if self.teleport_in is not None:
            near = (
                np.linalg.norm(state[:, None, 1:3] - self.teleport_in[None], axis=-1) <= self.teleport_reach
            )  # [R, I]
            for r in np.flatnonzero(near.any(axis=1)):
                with rngs[r].active():
                    exit_index = np.random.randint(len(self.teleport_out))
                state[r, 1:3] = self.teleport_out[exit_index]
        return observations, success, state
