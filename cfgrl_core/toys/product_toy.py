"""A 2-D product-policy toy (CFGRL paper Figure 1): pi_hat uniform on an ellipse, A(a) = <a, u>.

The product policy of paper Eq. 12 is pi_w(a) ∝ pi_hat(a) f(A(a))^w. With an optimality label drawn as
o ~ Bernoulli(f(A)), f = p(o=1|a) and the conditional policy is pi_hat(a|o=1) ∝ pi_hat(a) f(A(a)), so a
flow model trained on (a, o) pairs with null dropout and guided with weight w targets pi_w.

Exact tilts are computed two ways: a density on a grid (for pictures and exact expectations) and
importance resampling of pi_hat samples with weights f(A)^w (samples to compare against the model's).
Everything here is numpy on host, seeded with np.random.Generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EllipseToy:
    center: tuple[float, float] = (0.0, 0.0)  # centre of the ellipse
    semi_axes: tuple[float, float] = (2.0, 0.7)  # semi-axis lengths before rotation
    angle_deg: float = 30.0  # rotation of the ellipse's long axis, degrees counter-clockwise
    direction: tuple[float, float] = (1.0, 0.0)  # u in A(a) = <a, u>: the advantage grows along u
    k: float = 2.0  # slope of the graded optimality p(o=1|a) = sigmoid(k A(a))

    @property
    def rotation(self) -> np.ndarray:
        th = np.deg2rad(self.angle_deg)
        return np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])

    @property
    def area(self) -> float:
        return float(np.pi * self.semi_axes[0] * self.semi_axes[1])


def sample_reference(toy: EllipseToy, rng: np.random.Generator, n: int) -> np.ndarray:
    """n samples from pi_hat = uniform on the filled ellipse. Returns [n, 2]."""
    r = np.sqrt(rng.uniform(size=n))  # sqrt: uniform in the disc's area
    phi = rng.uniform(0.0, 2.0 * np.pi, size=n)
    disc = np.stack([r * np.cos(phi), r * np.sin(phi)], axis=-1) * np.asarray(toy.semi_axes)
    return disc @ toy.rotation.T + np.asarray(toy.center)


def reference_density(toy: EllipseToy, a: np.ndarray) -> np.ndarray:
    """pi_hat(a) = 1[a inside the ellipse] / area.  a: [..., 2] -> [...]."""
    local = (np.asarray(a) - np.asarray(toy.center)) @ toy.rotation  # rotate back to the axis-aligned frame
    inside = ((local / np.asarray(toy.semi_axes)) ** 2).sum(-1) <= 1.0
    return inside / toy.area


def advantage(toy: EllipseToy, a: np.ndarray) -> np.ndarray:
    """A(a) = <a, u> with u normalised.  a: [..., 2] -> [...]."""
    u = np.asarray(toy.direction, float)
    return np.asarray(a) @ (u / np.linalg.norm(u))


def sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x)))  # overflow-free form of 1 / (1 + exp(-x))


def p_optimal(toy: EllipseToy, a: np.ndarray, hard: bool = False) -> np.ndarray:
    """p(o=1|a): sigmoid(k A(a)) (graded), or the deterministic label 1[A(a) >= 0] (hard)."""
    adv = advantage(toy, a)
    return (adv >= 0).astype(float) if hard else sigmoid(toy.k * adv)


def tilt_weights(p: np.ndarray, w: float) -> np.ndarray:
    """f^w with the convention 0^0 = 1, so w = 0 leaves pi_hat unchanged even where f = 0."""
    if w < 0:
        raise ValueError(f"guidance weight w must be >= 0, got {w}")
    return np.ones_like(p) if w == 0 else np.power(p, w)


def label_dataset(toy: EllipseToy, rng: np.random.Generator, n: int, hard: bool = False) -> dict:
    """n labelled samples: a ~ pi_hat, o ~ Bernoulli(p(o=1|a)).  -> {'actions': [n, 2], 'conditions': [n]}."""
    a = sample_reference(toy, rng, n)
    o = (rng.uniform(size=n) < p_optimal(toy, a, hard)).astype(np.int32)
    return {"actions": a.astype(np.float32), "conditions": o}


def grid(toy: EllipseToy, n: int = 200, pad: float = 0.15) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A square grid covering the ellipse: (xs [n], ys [n], points [n, n, 2]), points[i, j] = (xs[j], ys[i])."""
    half = max(toy.semi_axes) * (1.0 + pad)
    xs = np.linspace(toy.center[0] - half, toy.center[0] + half, n)
    ys = np.linspace(toy.center[1] - half, toy.center[1] + half, n)
    xx, yy = np.meshgrid(xs, ys)
    return xs, ys, np.stack([xx, yy], axis=-1)


def exact_tilt_density(toy: EllipseToy, points: np.ndarray, ws, hard: bool = False) -> np.ndarray:
    """Normalised density of pi_w on a regular grid.  points: [ny, nx, 2], ws: [W] -> [W, ny, nx].

    Each slice integrates to 1 over the grid cell area (Riemann sum).
    """
    base = reference_density(toy, points)
    p = p_optimal(toy, points, hard)
    cell = (points[0, 1, 0] - points[0, 0, 0]) * (points[1, 0, 1] - points[0, 0, 1])
    out = []
    for w in np.atleast_1d(ws):
        dens = base * tilt_weights(p, float(w))
        out.append(dens / (dens.sum() * cell))
    return np.stack(out)


def exact_expectation(toy: EllipseToy, ws, fn=None, hard: bool = False, n_grid: int = 600) -> np.ndarray:
    """E_{a ~ pi_w}[fn(a)] by a fine grid (default fn = A).  ws: [W] -> [W]."""
    fn = fn or (lambda a: advantage(toy, a))
    _, _, pts = grid(toy, n_grid, pad=0.02)
    dens = exact_tilt_density(toy, pts, ws, hard)
    vals = fn(pts)
    return (dens * vals).sum((-1, -2)) / dens.sum((-1, -2))


def resample_tilt(
    toy: EllipseToy, rng: np.random.Generator, ws, n: int, n_proposal: int = 200_000, hard: bool = False
) -> np.ndarray:
    """Samples from pi_w by importance resampling pi_hat samples with weights f^w.  -> [W, n, 2].

    Sampling without replacement from a proposal >> n keeps duplicates rare; for very large w the
    effective sample size of the proposal, (sum f^w)^2 / sum f^(2w), shrinks.
    """
    proposal = sample_reference(toy, rng, n_proposal)
    p = p_optimal(toy, proposal, hard)
    out = []
    for w in np.atleast_1d(ws):
        weights = tilt_weights(p, float(w))
        idx = rng.choice(n_proposal, size=n, replace=True, p=weights / weights.sum())
        out.append(proposal[idx])
    return np.stack(out)
