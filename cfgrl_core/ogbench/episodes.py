"""The rows of one generated episode, shared by the maze and cube rollouts (OGBench's file layout).

Every episode has exactly `episode_length` rows; row t holds the observation s_t the action was taken in, a_t, the
end-of-episode flag and the simulator state before the step (see `cfgrl_core.ogbench.datasets` for the layout).
"""

from __future__ import annotations

import numpy as np

DATA_KEYS = ("observations", "actions", "terminals", "qpos", "qvel")


def empty_episode(episode_length: int, ob_dim: int, action_dim: int, model) -> dict:
    """The DATA_KEYS arrays of one episode, to be filled row by row (qpos / qvel sized by the MuJoCo model)."""
    return {
        "observations": np.empty((episode_length, ob_dim), np.float32),
        "actions": np.empty((episode_length, action_dim), np.float32),
        "terminals": np.zeros(episode_length, bool),
        "qpos": np.empty((episode_length, model.nq), np.float32),
        "qvel": np.empty((episode_length, model.nv), np.float32),
    }


def record_step(out: dict, t: int, ob, action, done: bool, info: dict) -> None:
    """Row t: the observation s_t the action was taken in, a_t, the episode's end flag and the simulator state
    before the step. An env that ends before the last row, or not at it, is an error (rows must be fixed-length)."""
    last = len(out["terminals"]) - 1
    if done != (t == last):
        raise RuntimeError(f"episode ended at step {t}, expected exactly {last + 1} steps")
    out["observations"][t] = ob
    out["actions"][t] = action
    out["terminals"][t] = done
    out["qpos"][t] = info["prev_qpos"]
    out["qvel"][t] = info["prev_qvel"]
