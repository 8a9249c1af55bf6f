"""Fixed-length trajectory windows, flattened into the vector the trajectory model generates, and their normaliser.

A window of H transitions is H rows (s_t, u_t, r_t, d_t) followed by the state s_H that the last transition
reaches:

    x = [s_0, u_0, r_0, d_0,  s_1, u_1, r_1, d_1,  ...,  s_{H-1}, u_{H-1}, r_{H-1}, d_{H-1},  s_H]
    dim = H (O + A + 2) + O

The final slot is what keeps terminal transitions: the authors' rows have no next-state column, the last row's
action, reward and done are discarded, and since their windows can only end in a terminal, generated data hold
(almost) no terminals (reference section 1.6). Here every one of the H transitions is complete.

Windowing (`make_windows`) works inside one episode at a time, so a window never crosses an episode boundary:
starts 0, stride, 2 stride, ... plus the window that ends on the episode's last transition (its terminal or
timeout). A terminal can therefore appear only in a window's last row. Episodes shorter than H give no window and
are counted (`WindowSet.dropped_episodes`).

`Normaliser`: per-dimension z-score over all windows (a constant dimension gets std 1), saved with the model
(`to_json` / `from_json`) and used again when sampling.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from cfgrl_core.checks import check_positive_int


@dataclasses.dataclass(frozen=True)
class WindowLayout:
    horizon: int  # H, transitions per window
    obs_dim: int = 2
    action_dim: int = 2

    def __post_init__(self):
        check_positive_int("horizon", self.horizon)

    @property
    def row(self) -> int:
        return self.obs_dim + self.action_dim + 2

    @property
    def dim(self) -> int:
        return self.horizon * self.row + self.obs_dim

    def flatten(self, states, actions, rewards, dones) -> np.ndarray:
        """states [N, H+1, O], actions [N, H, A], rewards [N, H], dones [N, H] -> x [N, dim]."""
        n, h = actions.shape[0], self.horizon
        if states.shape != (n, h + 1, self.obs_dim) or actions.shape != (n, h, self.action_dim):
            raise ValueError(f"windows must be states [N, {h + 1}, {self.obs_dim}] and actions [N, {h}, "
                             f"{self.action_dim}], got {states.shape} and {actions.shape}")  # fmt: skip
        rows = np.concatenate([states[:, :h], actions, rewards[..., None], dones[..., None]], -1)
        return np.concatenate([rows.reshape(n, -1), states[:, h]], -1).astype(np.float32)

    def unflatten(self, x) -> dict:
        """x [..., dim] -> states [..., H+1, O], actions [..., H, A], rewards [..., H], dones [..., H]
        (works on numpy and jax arrays)."""
        if x.shape[-1] != self.dim:
            raise ValueError(f"a window vector has {self.dim} entries for this layout, got {x.shape[-1]}")
        lead, h, o, a = x.shape[:-1], self.horizon, self.obs_dim, self.action_dim
        rows = x[..., : h * self.row].reshape(*lead, h, self.row)
        last = x[..., h * self.row :].reshape(*lead, 1, o)
        states = _concat([rows[..., :o], last], -2)
        return {"states": states, "actions": rows[..., o : o + a], "rewards": rows[..., o + a],
                "dones": rows[..., o + a + 1]}  # fmt: skip

    def action_mask(self) -> np.ndarray:
        """[dim] bool: True on the action block (the only entries policy guidance moves)."""
        rows = np.zeros((self.horizon, self.row), bool)
        rows[:, self.obs_dim : self.obs_dim + self.action_dim] = True
        return np.concatenate([rows.reshape(-1), np.zeros(self.obs_dim, bool)])

    def state_mask(self) -> np.ndarray:
        """[dim] bool: True on the states s_0 .. s_H (what whole-window guidance moves besides the actions)."""
        rows = np.zeros((self.horizon, self.row), bool)
        rows[:, : self.obs_dim] = True
        return np.concatenate([rows.reshape(-1), np.ones(self.obs_dim, bool)])


def _concat(parts, axis):
    if all(isinstance(p, np.ndarray) for p in parts):
        return np.concatenate(parts, axis)
    import jax.numpy as jnp

    return jnp.concatenate(parts, axis)


@dataclasses.dataclass(frozen=True)
class WindowSet:
    x: np.ndarray  # [N, dim] flattened windows
    episode_ids: np.ndarray  # [N] the episode each window comes from
    starts: np.ndarray  # [N] index of the window's first transition within its episode
    dropped_episodes: int  # episodes shorter than the horizon (no window)
    layout: WindowLayout


def window_starts(length: int, horizon: int, stride: int) -> list[int]:
    """Starts of the windows of one episode with `length` transitions: 0, stride, ... and length - horizon."""
    if length < horizon:
        return []
    return sorted(set(range(0, length - horizon + 1, stride)) | {length - horizon})


def make_windows(data: dict, horizon: int, stride: int) -> WindowSet:
    """Cut a transition dataset (episodes concatenated, `episode_ids` [N]) into windows of `horizon` transitions."""
    check_positive_int("stride", stride)
    layout = WindowLayout(horizon, data["observations"].shape[1], data["actions"].shape[1])
    ids = np.asarray(data["episode_ids"])
    bounds = np.flatnonzero(np.diff(ids) != 0) + 1
    episodes = np.split(np.arange(len(ids)), bounds)
    starts_all, ids_all, rows, dropped = [], [], [], 0
    for idx in episodes:
        ends = np.flatnonzero(data["terminals"][idx] | data["timeouts"][idx])
        if len(ends) != 1 or ends[0] != len(idx) - 1:
            raise ValueError(f"episode {ids[idx[0]]} must end (terminal or timeout) on its last transition only")
        starts = window_starts(len(idx), horizon, stride)
        dropped += not starts
        for s0 in starts:
            rows.append(idx[s0 : s0 + horizon])
            starts_all.append(s0)
            ids_all.append(ids[idx[0]])
    if not rows:
        raise ValueError(f"no episode has {horizon} transitions: no window to train on")
    r = np.stack(rows)  # [N, H] row indices
    obs, nxt = data["observations"][r], data["next_observations"][r[:, -1]]
    states = np.concatenate([obs, nxt[:, None]], 1)
    x = layout.flatten(states, data["actions"][r], data["rewards"][r], data["terminals"][r].astype(np.float32))
    return WindowSet(x, np.asarray(ids_all), np.asarray(starts_all), dropped, layout)


@dataclasses.dataclass(frozen=True)
class Normaliser:
    mean: np.ndarray  # [dim]
    std: np.ndarray  # [dim]

    @staticmethod
    def fit(x: np.ndarray, min_std: float = 1e-6) -> Normaliser:
        x = np.asarray(x, np.float64)
        std = x.std(0)
        return Normaliser(x.mean(0).astype(np.float32), np.where(std < min_std, 1.0, std).astype(np.float32))

    def normalise(self, x):
        return (x - self.mean) / self.std

    def unnormalise(self, z):
        return z * self.std + self.mean

    def to_json(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @staticmethod
    def from_json(d: dict) -> Normaliser:
        mean, std = np.asarray(d["mean"], np.float32), np.asarray(d["std"], np.float32)
        if mean.shape != std.shape or mean.ndim != 1 or not (std > 0).all():
            raise ValueError(f"a normaliser needs equal-length mean and positive std, got {mean.shape}, {std.shape}")
        return Normaliser(mean, std)
