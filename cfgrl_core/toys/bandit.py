"""A contextual bandit with a known, multimodal reward: offline policy extraction where the truth is exact.

One step, no dynamics. A state s ~ U[-1, 1] is drawn, the policy picks a 1-D action a in [-1, 1], and the
reward is a sum of Gaussian bumps whose centres move with the state:

    r(s, a)  = sum_k h_k exp(-(a - c_k(s))^2 / (2 sigma_k^2)),     c_k(s) = offset_k + amplitude sin(pi s).

The behaviour policy beta(a|s) (the dataset's, = the reference policy pi_hat of the paper) is a mixture of
normals truncated to [-1, 1] -- one around each reward bump, one "bad" mode where the reward is ~0 -- and a
uniform component (noise). With one step, the advantage is exact:

    A(s, a) = r(s, a) - V(s),      V(s) = E_{a ~ beta(.|s)} r(s, a)   (quadrature on a fine action grid),

so AWR and CFGRL receive the same, noise-free advantages and differ only in how they use them.
Tilted policies pi(a|s) ∝ beta(a|s) g(A(s, a)) (the non-parametric optimum of every extraction method
here) are integrated on the same grid, so their expected reward is exact too.

Shapes: states s [...], actions a [...] (the action is 1-D, so no trailing action axis; datasets add one).
Everything here is numpy on host, seeded with np.random.Generator.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

ACTION_LOW, ACTION_HIGH = -1.0, 1.0  # the action box; policies' actions are clipped to it (as the authors do)


@dataclass(frozen=True)
class Bandit:
    heights: tuple[float, ...] = (1.0, 0.6)  # h_k, peak reward of each bump (best first)
    widths: tuple[float, ...] = (0.15, 0.15)  # sigma_k, width of each bump
    offsets: tuple[float, ...] = (0.5, -0.5)  # c_k(s) = offset_k + amplitude sin(pi s)
    amplitude: float = 0.25  # how far the bumps move with the state
    bad_offset: float = 0.0  # centre (before the same state shift) of the behaviour's zero-reward mode
    behaviour_std: float = 0.2  # std of every behaviour mode (before truncation to [-1, 1])
    mixture: tuple[float, ...] = (0.3, 0.3, 0.2, 0.2)  # behaviour weights: near bump 1, .., bad mode, uniform

    def __post_init__(self):
        k = len(self.heights)
        if len(self.widths) != k or len(self.offsets) != k:
            raise ValueError("heights, widths and offsets need one entry per reward bump")
        if len(self.mixture) != k + 2 or min(self.mixture) < 0 or abs(sum(self.mixture) - 1) > 1e-9:
            raise ValueError(f"mixture needs {k + 2} non-negative weights summing to 1, got {self.mixture}")


def shift(bandit: Bandit, s) -> np.ndarray:
    """The state-dependent displacement amplitude sin(pi s) shared by every bump and mode."""
    return bandit.amplitude * np.sin(np.pi * np.asarray(s, float))


def centres(bandit: Bandit, s) -> np.ndarray:
    """c_k(s): [...] -> [..., K]."""
    return np.asarray(bandit.offsets) + shift(bandit, s)[..., None]


def reward(bandit: Bandit, s, a) -> np.ndarray:
    """r(s, a); s and a broadcast against each other."""
    c = centres(bandit, s)
    z = (np.asarray(a, float)[..., None] - c) / np.asarray(bandit.widths)
    return (np.asarray(bandit.heights) * np.exp(-0.5 * z**2)).sum(-1)


def _modes(bandit: Bandit, s) -> np.ndarray:
    """Centres of the behaviour's normal modes: the bumps' centres, then the bad mode. [...] -> [..., K+1]."""
    bad = bandit.bad_offset + shift(bandit, s)
    return np.concatenate([centres(bandit, s), bad[..., None]], axis=-1)


def behaviour_density(bandit: Bandit, s, a) -> np.ndarray:
    """beta(a | s) on [-1, 1] (truncated normals + uniform); s and a broadcast."""
    mu = _modes(bandit, s)
    sd = bandit.behaviour_std
    a = np.asarray(a, float)[..., None]
    mass = ndtr((ACTION_HIGH - mu) / sd) - ndtr((ACTION_LOW - mu) / sd)
    normals = np.exp(-0.5 * ((a - mu) / sd) ** 2) / (sd * np.sqrt(2 * np.pi) * mass)
    w = np.asarray(bandit.mixture)
    dens = (normals * w[:-1]).sum(-1) + w[-1] / (ACTION_HIGH - ACTION_LOW)
    inside = (a[..., 0] >= ACTION_LOW) & (a[..., 0] <= ACTION_HIGH)
    return np.where(inside, dens, 0.0)


def sample_behaviour(bandit: Bandit, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n draws of s ~ U[-1, 1], a ~ beta(.|s) (truncated normals by inverse CDF). Returns (s [n], a [n])."""
    s = rng.uniform(-1.0, 1.0, n)
    comp = rng.choice(len(bandit.mixture), size=n, p=np.asarray(bandit.mixture))
    mu = np.take_along_axis(_modes(bandit, s), np.minimum(comp, len(bandit.mixture) - 2)[:, None], 1)[:, 0]
    sd = bandit.behaviour_std
    lo, hi = ndtr((ACTION_LOW - mu) / sd), ndtr((ACTION_HIGH - mu) / sd)
    u = lo + (hi - lo) * rng.uniform(size=n)
    normal = mu + sd * ndtri(np.clip(u, 1e-12, 1 - 1e-12))
    uniform = rng.uniform(ACTION_LOW, ACTION_HIGH, n)
    a = np.where(comp == len(bandit.mixture) - 1, uniform, normal)
    return s, np.clip(a, ACTION_LOW, ACTION_HIGH)


def action_grid(n: int = 2001) -> np.ndarray:
    """n equally spaced actions covering [-1, 1], ends included (for trapezoid quadrature)."""
    return np.linspace(ACTION_LOW, ACTION_HIGH, n)


def _trapezoid_weights(n: int) -> np.ndarray:
    q = np.full(n, (ACTION_HIGH - ACTION_LOW) / (n - 1))
    q[[0, -1]] *= 0.5
    return q


def state_value(bandit: Bandit, s, n_grid: int = 2001, chunk: int = 1024) -> np.ndarray:
    """V(s) = E_{a ~ beta(.|s)} r(s, a) by trapezoid quadrature (error < 1e-6 at the default grid).

    States are processed `chunk` at a time, so memory stays at chunk x n_grid whatever the number of states.
    """
    s = np.asarray(s, float)
    flat = s.reshape(-1)
    a = action_grid(n_grid)
    q = _trapezoid_weights(n_grid)
    out = np.empty(flat.shape)
    for i in range(0, len(flat), chunk):
        si = flat[i : i + chunk, None]
        out[i : i + chunk] = (behaviour_density(bandit, si, a) * reward(bandit, si, a) * q).sum(-1)
    return out.reshape(s.shape)


@functools.lru_cache(maxsize=8)
def _value_table(bandit: Bandit, n_states: int) -> tuple[np.ndarray, np.ndarray]:
    s = np.linspace(-1.0, 1.0, n_states)
    return s, state_value(bandit, s)


def state_value_fast(bandit: Bandit, s, n_states: int = 2049) -> np.ndarray:
    """V(s) interpolated linearly from `state_value` on n_states equally spaced states (cached).

    V is smooth in s (|V''| < 1 here), so the interpolation error is below 1e-6; tests check it.
    """
    grid, table = _value_table(bandit, n_states)
    return np.interp(np.asarray(s, float), grid, table)


def advantage(bandit: Bandit, s, a) -> np.ndarray:
    """A(s, a) = r(s, a) - V(s), exact up to quadrature and interpolation (< 1e-6)."""
    return reward(bandit, s, a) - state_value_fast(bandit, s)


def make_dataset(bandit: Bandit, rng: np.random.Generator, n: int) -> dict:
    """n behaviour transitions with exact advantages and CFGRL's optimality labels (paper Eq. 15).

    Returns observations [n, 1], actions [n, 1] (float32), rewards [n], advantages [n] (float32) and
    conditions [n] (int32) = o = 1[A >= 0].
    """
    s, a = sample_behaviour(bandit, rng, n)
    adv = advantage(bandit, s, a)
    return {
        "observations": s[:, None].astype(np.float32),
        "actions": a[:, None].astype(np.float32),
        "rewards": reward(bandit, s, a).astype(np.float32),
        "advantages": adv.astype(np.float32),
        "conditions": (adv >= 0).astype(np.int32),
    }


def evaluation_states(n: int, offset: float = 0.5) -> np.ndarray:
    """n stratified states (s_i = -1 + 2 (i + offset) / n): midpoint quadrature of E_{s ~ U[-1, 1]}."""
    return -1.0 + 2.0 * (np.arange(n) + offset) / n


def best_reward(bandit: Bandit, s, n_grid: int = 4001) -> np.ndarray:
    """max_a r(s, a) per state (grid search), the reward of the optimal policy."""
    s = np.asarray(s, float)
    return reward(bandit, s[..., None], action_grid(n_grid)).max(-1)


def tilted_policy_stats(bandit: Bandit, s, weight_fn: Callable[[np.ndarray], np.ndarray], n_grid: int = 2001) -> dict:
    """Exact statistics of pi(a|s) ∝ beta(a|s) g(A(s, a)) per state, g = weight_fn (applied to A).

    Returns per state [...]: 'reward' E_pi r, 'mean_action' E_pi a, 'reward_at_mean' r(s, E_pi a)
    (the deterministic action of a Gaussian fitted by weighted maximum likelihood), and 'mass' Z(s).
    """
    s = np.asarray(s, float)[..., None]
    a = action_grid(n_grid)
    r = reward(bandit, s, a)
    dens = behaviour_density(bandit, s, a) * weight_fn(r - state_value_fast(bandit, s[..., 0])[..., None])
    dens = dens * _trapezoid_weights(n_grid)
    z = dens.sum(-1)
    mean_a = (dens * a).sum(-1) / z
    return {
        "reward": (dens * r).sum(-1) / z,
        "mean_action": mean_a,
        "reward_at_mean": reward(bandit, s[..., 0], mean_a),
        "mass": z,
    }
