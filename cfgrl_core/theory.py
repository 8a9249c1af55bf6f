"""Theorem-check utilities: product policies pi_hat f(A)^w and exact, tabular checks of the paper's theory.

Paper section 4 and Appendix A (see shared/reference/cfgrl.md section 5):

  product policy (Eq. 5, 12)   pi_w(a|s) = pi_hat(a|s) f(A_pi_hat(s, a))^w / Z_w(s),  w >= 0
  Lemma 1 (Chebyshev)          E_mu[g h] >= E_mu[g] E_mu[h] for non-decreasing g, h
  Theorem 1 / Remark 1         f >= 0 non-decreasing  =>  V_{pi_w}(s) >= V_{pi_hat}(s) for all s,
                               so J(pi_w) >= J(pi_hat)
  Theorem 2 / Remark 2         w1 <= w2  =>  E_{pi_w2}[A_pi_hat(s, .)] >= E_{pi_w1}[A_pi_hat(s, .)] at every s
                               (what the proof carries; the true return J(pi_w) need not be monotone in w)
  Remark 3                     pi_hat exp(A / beta) maximises E_pi[A] - beta KL(pi || pi_hat) at every state
  GCBC (Eq. 17-18)             argmax GCBC = pi_hat(a|s) p^gamma(g|s, a) / p^gamma(g|s);
                               guidance tilts pi_hat by p^gamma(g|s, a)^w

Everything is numpy float64 over a leading MDP batch axis B (see cfgrl_core.tabular for the shapes);
sweeps over w add one more leading axis W. Checks return the numbers (gaps, drops, counts), not booleans.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr

from cfgrl_core.checks import check_finite
from cfgrl_core.tabular import TabularMDP, evaluate, goal_occupancy, kl_per_state, state_occupancy

MONOTONE_TOL = 1e-12  # how much a log f may decrease between sorted advantages before f is refused


# ----------------------------------------------------------------------------------------------------------
# The f family


@dataclass(frozen=True)
class Tilt:
    """A weighting function f of the advantage, used as pi_hat f(A)^w (paper Eq. 5, 12).

    Theorem 1 needs f >= 0 and non-decreasing on the advantages at hand; product_policy checks both.
    log_f is what the products use (f^w = exp(w log f), no overflow); f = 0 is log f = -inf.
    """

    name: str  # label for tables and legends
    log_f: Callable[[np.ndarray], np.ndarray]  # A -> log f(A), elementwise, -inf where f(A) = 0
    f: Callable[[np.ndarray], np.ndarray] | None = None  # A -> f(A); default exp(log_f(A))

    def __call__(self, A):
        A = np.asarray(A, dtype=np.float64)
        return self.f(A) if self.f is not None else np.exp(self.log_f(A))


def exp_tilt(beta: float = 1.0) -> Tilt:
    """f(A) = exp(A / beta): AWR's weight; with w it is exp(w A / beta) (Remark 3)."""
    if not beta > 0:
        raise ValueError(f"beta must be positive, got {beta}")
    return Tilt(f"exp(A/{beta:g})", lambda A: np.asarray(A) / beta)


def sigmoid_tilt(k: float = 1.0) -> Tilt:
    """f(A) = sigmoid(k A) = 1 / (1 + exp(-k A)); k >= 0."""
    if not k >= 0:
        raise ValueError(f"the sigmoid slope k must be >= 0 (a negative k makes f decreasing), got {k}")
    return Tilt(f"sigmoid({k:g}A)", lambda A: -np.logaddexp(0.0, -k * np.asarray(A)))


def indicator_tilt(floor: float = 0.0) -> Tilt:
    """f(A) = 1[A >= 0] + floor: the optimality label o = 1[A >= 0] of paper Eq. 15 (floor >= 0)."""
    if not floor >= 0:
        raise ValueError(f"floor must be >= 0, got {floor}")
    top, bottom = np.log1p(floor), (np.log(floor) if floor > 0 else -np.inf)
    name = "1[A>=0]" if floor == 0 else f"1[A>=0]+{floor:g}"
    return Tilt(name, lambda A: np.where(np.asarray(A) >= 0, top, bottom))


def label_noise_tilt(eta: float) -> Tilt:
    """p(o=1|s, a) when the label 1[A >= 0] is flipped with probability eta: 1 - eta if A >= 0 else eta."""
    if not 0 <= eta < 0.5:
        raise ValueError(f"label-flip probability eta must lie in [0, 0.5), got {eta}")
    top, bottom = np.log1p(-eta), (np.log(eta) if eta > 0 else -np.inf)
    return Tilt(f"flip {eta:g}", lambda A: np.where(np.asarray(A) >= 0, top, bottom))


def noisy_advantage_tilt(sigma: float) -> Tilt:
    """p(o=1|s, a) = Pr(A + sigma eps >= 0) = Phi(A / sigma), eps ~ N(0, 1): labels from noisy advantages."""
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    return Tilt(f"Phi(A/{sigma:g})", lambda A: log_ndtr(np.asarray(A) / sigma))


def custom_tilt(f: Callable[[np.ndarray], np.ndarray], name: str = "custom f") -> Tilt:
    """Any user-supplied f; product_policy refuses it where it is negative, NaN or decreasing."""

    def log_f(A):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(np.asarray(f(A), dtype=np.float64))

    return Tilt(name, log_f, f)


def check_admissible(f: Tilt, A) -> np.ndarray:
    """Return log f(A) after checking Theorem 1's conditions on these advantages; raise ValueError otherwise.

    A: [..., S, A]. f must be finite and >= 0 at every A, and non-decreasing over the advantages of each
    MDP (all states and actions of one [S, A] block together, since f is one function of A).
    """
    A = check_finite("advantages A", A)
    log_fA = np.asarray(f.log_f(A), dtype=np.float64)
    if np.isnan(log_fA).any() or (log_fA == np.inf).any():
        fA = np.asarray(f(A), dtype=np.float64)
        bad = np.isnan(log_fA) | (log_fA == np.inf)
        i = tuple(int(j) for j in np.argwhere(bad)[0])
        if fA[i] < 0:
            raise ValueError(f"f ({f.name}) is negative: f({A[i]:.6g}) = {fA[i]:.6g}; Theorem 1 needs f >= 0")
        raise ValueError(f"f ({f.name}) is not a finite number at A = {A[i]:.6g} (got {fA[i]})")
    flat_A = A.reshape(*A.shape[:-2], -1)
    flat_l = log_fA.reshape(flat_A.shape)
    order = np.argsort(flat_A, axis=-1, kind="stable")
    a_sorted = np.take_along_axis(flat_A, order, -1)
    l_sorted = np.take_along_axis(flat_l, order, -1)
    with np.errstate(invalid="ignore"):
        drop = np.diff(l_sorted, axis=-1)
        scale = np.where(np.isfinite(l_sorted[..., 1:]), np.abs(l_sorted[..., 1:]), 0.0)
        bad = (drop < -MONOTONE_TOL * (1 + scale)) & (np.diff(a_sorted, axis=-1) > 0)
    if bad.any():
        i = tuple(int(j) for j in np.argwhere(bad)[0])
        j = i[:-1] + (i[-1] + 1,)
        f0, f1 = np.exp(l_sorted[i]), np.exp(l_sorted[j])
        raise ValueError(
            f"f ({f.name}) is decreasing on the advantages at hand: f({a_sorted[i]:.6g}) = {f0:.6g} > "
            f"f({a_sorted[j]:.6g}) = {f1:.6g}; Theorem 1 needs a non-decreasing f"
        )
    return log_fA


# ----------------------------------------------------------------------------------------------------------
# Product policies


def check_w(w) -> np.ndarray:
    """w: a float or a 1-D array of guidance weights, each finite and >= 0."""
    w = np.asarray(w, dtype=np.float64)
    if w.ndim > 1:
        raise ValueError(f"w must be a number or a 1-D array, got shape {w.shape}")
    check_finite("w", w)
    if (w < 0).any():
        raise ValueError(f"guidance weights must be >= 0 (w < 0 anti-improves), got {w[w < 0][:5]}")
    return w


def tilt_policy(pi_hat, log_weight, w) -> np.ndarray:
    """pi_w(a|s) = pi_hat(a|s) exp(w log_weight(s, a)) / Z(s), computed in log space.

    pi_hat, log_weight: [..., S, A]; w: float -> [..., S, A], or [W] -> [W, ..., S, A].
    w = 0 returns pi_hat exactly (0^0 = 1 by convention). Raises if Z(s) = 0 at some state.
    """
    pi_hat = np.asarray(pi_hat, dtype=np.float64)
    w = check_w(w)
    wb = w.reshape(w.shape + (1,) * pi_hat.ndim)
    with np.errstate(divide="ignore", invalid="ignore"):
        logits = np.log(pi_hat) + np.where(wb == 0, 0.0, wb * log_weight)
    top = logits.max(-1, keepdims=True)
    if np.isneginf(top).any():
        i = tuple(int(j) for j in np.argwhere(np.isneginf(top[..., 0]))[0])
        raise ValueError(f"the product pi_hat f^w is zero at every action of state {i}: Z(s) = 0, pi_w undefined")
    p = np.exp(logits - top)
    p = p / p.sum(-1, keepdims=True)
    return np.where(wb == 0, pi_hat, p)


def product_policy(pi_hat, A, f: Tilt, w) -> np.ndarray:
    """pi_w(a|s) proportional to pi_hat(a|s) f(A(s, a))^w (paper Eq. 12), once f passes Theorem 1's checks.

    pi_hat, A: [..., S, A] (A = A_pi_hat); w: float or [W]. Returns [..., S, A] or [W, ..., S, A].
    """
    return tilt_policy(pi_hat, check_admissible(f, A), w)


# ----------------------------------------------------------------------------------------------------------
# Lemma 1


def chebyshev_gaps(seed, n_measures: int, n_atoms: int = 8):
    """Lemma 1 on random discrete measures: gap = E_mu[g h] - E_mu[g] E_mu[h] for random functions g, h.

    mu: Dirichlet(1) weights on n_atoms N(0, 1) atoms; monotone functions are random step functions (cumulative
    sums of non-negative increments, half of them 0, over the sorted atoms). Returns [n_measures] arrays:
      same       gap with g, h both non-decreasing (Lemma 1: >= 0)
      opposite   gap with g non-decreasing and k non-increasing, k drawn independently of h (Lemma 1
                 reversed: <= 0; not the negative of `same`, so it checks the sign on its own)
      unordered  gap with g, h i.i.d. N(0, 1) values on the atoms, not monotone (either sign: the lemma needs
                 the common order)
      pairs      the proof's identity 1/2 sum_ij mu_i mu_j (g_i - g_j)(h_i - h_j), equal to `same`
    """
    rng = np.random.default_rng(seed)
    x = np.sort(rng.normal(size=(n_measures, n_atoms)), -1)
    mu = rng.dirichlet(np.ones(n_atoms), size=n_measures)

    def monotone():
        steps = rng.exponential(size=(n_measures, n_atoms)) * (rng.random((n_measures, n_atoms)) < 0.5)
        return rng.normal(size=(n_measures, 1)) + np.cumsum(steps, -1)

    g, h = monotone(), monotone()
    k = monotone()[:, ::-1]  # non-increasing along the sorted atoms
    u, v = rng.normal(size=(2, n_measures, n_atoms))

    def gap(a, b):
        return (mu * a * b).sum(-1) - (mu * a).sum(-1) * (mu * b).sum(-1)

    pairs = 0.5 * np.einsum("ni,nj,nij->n", mu, mu, (g[:, :, None] - g[:, None]) * (h[:, :, None] - h[:, None]))
    return dict(x=x, same=gap(g, h), opposite=gap(g, k), unordered=gap(u, v), pairs=pairs)


# ----------------------------------------------------------------------------------------------------------
# Theorem 1, Theorem 2 and the KL trade-off: one sweep over w


@dataclass(frozen=True)
class WSweep:
    """Exact quantities of pi_w for one f over a grid of w on a batch of MDPs."""

    f_name: str
    w: np.ndarray  # [W] guidance weights (sorted, w[0] may be 0)
    J_hat: np.ndarray  # [B] J(pi_hat)
    V_hat: np.ndarray  # [B, S] V_pi_hat
    d_hat: np.ndarray  # [B, S] normalised discounted occupancy of pi_hat
    J: np.ndarray  # [W, B] J(pi_w)
    V: np.ndarray  # [W, B, S] V_pi_w
    surrogate: np.ndarray  # [W, B, S] E_{a ~ pi_w(.|s)}[A_pi_hat(s, a)] (per-state surrogate, Theorem 2)
    kl: np.ndarray  # [W, B, S] KL(pi_w(.|s) || pi_hat(.|s))
    state_mask: np.ndarray  # [B, S] real (unpadded) states

    @property
    def improvement(self) -> np.ndarray:
        """[W, B] J(pi_w) - J(pi_hat) (Theorem 1: >= 0)."""
        return self.J - self.J_hat

    @property
    def min_value_gap(self) -> np.ndarray:
        """[W, B] min_s V_pi_w(s) - V_pi_hat(s) (Theorem 1, statewise: >= 0)."""
        return np.where(self.state_mask, self.V - self.V_hat, np.inf).min(-1)

    @property
    def surrogate_J(self) -> np.ndarray:
        """[W, B] J~(pi_w) = E_{s ~ d_hat} E_{a ~ pi_w}[A_pi_hat] (paper Eq. 3)."""
        return (self.d_hat * self.surrogate).sum(-1)

    @property
    def kl_avg(self) -> np.ndarray:
        """[W, B] E_{s ~ d_hat} KL(pi_w(.|s) || pi_hat(.|s)): KL averaged under the reference's occupancy."""
        return (self.d_hat * self.kl).sum(-1)

    def surrogate_min_step(self) -> np.ndarray:
        """[B] the most negative step of the per-state surrogate between consecutive w (Theorem 2: >= 0)."""
        return np.diff(self.surrogate, axis=0).min(axis=(0, 2))

    def return_drawdown(self) -> np.ndarray:
        """[B] largest fall of J along w, max_{w1 < w2} J(pi_w1) - J(pi_w2); > 0: not monotone."""
        return max_drawdown(self.J)[-1]

    def nonmonotone(self, tol: float = 1e-9) -> np.ndarray:
        """[B] bool: J(pi_w) falls by more than tol somewhere along the w grid."""
        return self.return_drawdown() > tol


def max_drawdown(J) -> np.ndarray:
    """Running largest fall along axis 0: out[k] = max_{i <= j <= k} J[i] - J[j]; [W, ...] -> [W, ...].

    out[-1] > 0 exactly when J is not non-decreasing; out[k] answers the same for the grid up to w[k].
    """
    J = np.asarray(J)
    return np.maximum.accumulate(np.maximum.accumulate(J, axis=0) - J, axis=0)


def w_sweep(mdp: TabularMDP, pi_hat, f: Tilt, w, A_hat=None) -> WSweep:
    """Evaluate pi_w = pi_hat f(A_pi_hat)^w exactly for every w in the grid (one batched solve)."""
    w = np.sort(np.atleast_1d(check_w(w)))
    V_hat, _, A, J_hat = evaluate(mdp, pi_hat)
    A = A if A_hat is None else A_hat
    pi_w = product_policy(pi_hat, A, f, w)  # [W, B, S, A]
    V, _, _, J = evaluate(mdp, pi_w)
    surrogate = (pi_w * A).sum(-1)
    d_hat = state_occupancy(mdp, pi_hat)
    state_mask = np.arange(mdp.shape[0]) < mdp.n_states[:, None]
    return WSweep(f.name, w, J_hat, V_hat, d_hat, J, V, surrogate, kl_per_state(pi_w, pi_hat), state_mask)


def performance_difference(mdp: TabularMDP, pi, pi_hat) -> tuple[np.ndarray, np.ndarray]:
    """Both sides of J(pi) - J(pi_hat) = E_{s ~ d_pi} E_{a ~ pi}[A_pi_hat(s, a)] / (1 - gamma).

    Explains Theorem 2's gap: the surrogate E_pi[A_pi_hat] grows with w at every state, but the true return
    weights it by d_pi, which itself moves with w. Returns (lhs, rhs), each [..., B].
    """
    _, _, A_hat, J_hat = evaluate(mdp, pi_hat)
    _, _, _, J = evaluate(mdp, pi)
    rhs = (state_occupancy(mdp, pi) * (np.asarray(pi) * A_hat).sum(-1)).sum(-1) / (1 - mdp.gamma)
    return J - J_hat, rhs


def w_for_kl_budget(w, kl, budget: float) -> float:
    """The largest w of the grid whose state-averaged KL(pi_w || pi_hat) stays within `budget`.

    w: [W] sorted, w[0] = 0; kl: [W], non-decreasing in w (d KL / dw = w Var_{pi_w}(log f) >= 0 at every
    state). No interpolation: KL jumps at w = 0+ when f has zeros (the indicator), so only grid points are
    certified; refine the grid for a finer answer.
    """
    w, kl = np.asarray(w, dtype=np.float64), np.asarray(kl, dtype=np.float64)
    if (np.diff(kl) < -1e-12).any():
        raise ValueError("kl must be non-decreasing in w")
    within = np.flatnonzero(kl <= budget)
    if within.size == 0:
        raise ValueError(f"no w on the grid has KL <= {budget} (the smallest is {kl.min():.3g})")
    return float(w[within[-1]])


def nonmonotone_example(J, mdp: TabularMDP, tol: float = 1e-9) -> int:
    """Index of the MDP whose J(pi_w) falls most along w relative to its range (ties: fewest states, then
    actions); -1 if J is monotone in every MDP. J: [W, B] returns over a sorted grid of w."""
    J = np.asarray(J)
    fall = max_drawdown(J)[-1]
    bad = np.flatnonzero(fall > tol)
    if bad.size == 0:
        return -1
    rel = fall[bad] / np.maximum(np.ptp(J[:, bad], axis=0), 1e-300)
    key = np.lexsort((mdp.n_actions[bad], mdp.n_states[bad], -rel))
    return int(bad[key[0]])


def two_room_counterexample(stay_reward: float = 0.5, gamma: float = 0.9):
    """A 2-state, 2-action deterministic MDP whose J(pi_w) is not monotone in w (exp, sigmoid, indicator f).

    State 0 (the good room): action 0 stays (reward 1), action 1 moves to state 1 (reward 0).
    State 1 (the start, rho0 = delta_1): action 0 stays (reward stay_reward), action 1 moves to state 0
    (reward 0). pi_hat is uniform. Because pi_hat leaves the good room half the time, V_pi_hat(0) is barely
    above V_pi_hat(1), so at the start A_pi_hat prefers the immediate stay_reward over moving: every tilt by
    A_pi_hat shifts the start towards staying, while the optimal policy moves (J* = gamma / (1 - gamma) = 9;
    staying forever at the start gives 5).
    Small w mostly sharpens the good room's "stay" (J rises); large w locks the start into "stay" (J falls).
    Returns (mdp with B = 1, pi_hat [1, 2, 2]).
    """
    P = np.zeros((1, 2, 2, 2))
    P[0, 0, 0, 0] = P[0, 0, 1, 1] = P[0, 1, 0, 1] = P[0, 1, 1, 0] = 1.0
    r = np.array([[[1.0, 0.0], [stay_reward, 0.0]]])
    return TabularMDP(P, r, np.array([[0.0, 1.0]]), gamma), np.full((1, 2, 2), 0.5)


# ----------------------------------------------------------------------------------------------------------
# Remark 3: pi_hat exp(A / beta) maximises E_pi[A] - beta KL(pi || pi_hat) at every state


def kl_objective(pi, pi_hat, A, beta: float) -> np.ndarray:
    """E_{a ~ pi}[A(s, a)] - beta KL(pi(.|s) || pi_hat(.|s)): [..., S, A] -> [..., S]."""
    return (np.asarray(pi) * A).sum(-1) - beta * kl_per_state(pi, pi_hat)


def kl_optimum(pi_hat, A, beta: float):
    """Remark 3 in closed form: pi* = pi_hat exp(A/beta) / Z, value beta log Z, Z = E_pi_hat exp(A/beta).

    Also objective(pi*) - objective(pi) = beta KL(pi || pi*) for every pi, so pi* is the unique maximiser.
    Returns (pi_star [..., S, A], value [..., S]).
    """
    pi_star = tilt_policy(pi_hat, np.asarray(A) / beta, 1.0)
    with np.errstate(divide="ignore"):
        log_z = np.logaddexp.reduce(np.log(pi_hat) + np.asarray(A) / beta, axis=-1)
    return pi_star, beta * log_z


def exp_frontier(pi_hat, A, kl_target, n_iter: int = 64):
    """Surrogate of the exp tilt pi_t = pi_hat exp(t A) / Z whose KL(pi_t || pi_hat) is kl_target, per state.

    By Remark 3 (pi_t maximises E[A] - KL / t), no policy with KL <= kl_target has a larger E_pi[A]: the exp
    tilt traces the upper frontier of (KL, surrogate). KL(pi_t || pi_hat) increases with t
    (dKL/dt = t Var_pi_t A), so t is found by bisection on log t in [-30, 30] (64 halvings: exact to float).
    pi_hat, A: [..., S, A]; kl_target: [..., S]. If kl_target exceeds what any exp tilt reaches, t = e^30.
    Returns (t [..., S], surrogate [..., S], kl [..., S]).
    """
    A = np.asarray(A, dtype=np.float64)
    with np.errstate(divide="ignore"):
        log_pi = np.log(np.asarray(pi_hat, dtype=np.float64))
    lo = np.full(np.shape(kl_target), -30.0)
    hi = np.full(np.shape(kl_target), 30.0)

    def at(log_t):  # KL(pi_t || pi_hat) = t E_t[A] - log E_pi_hat[exp(t A)]
        tA = np.exp(log_t)[..., None] * A
        z = log_pi + tA
        top = z.max(-1, keepdims=True)
        e = np.exp(z - top)
        pi_t = e / e.sum(-1, keepdims=True)
        return pi_t, (pi_t * tA).sum(-1) - (np.log(e.sum(-1)) + top[..., 0])

    for _ in range(n_iter):
        mid = 0.5 * (lo + hi)
        below = at(mid)[1] < kl_target
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    pi_t, kl = at(lo)
    t = np.where(np.asarray(kl_target) <= 0, 0.0, np.exp(lo))
    return t, (pi_t * A).sum(-1), kl


def kl_perturbation_gaps(seed, pi_hat, A, beta: float, n_perturb: int = 64, scales=(1e-3, 1e-1, 1.0, 10.0)):
    """max over random perturbations pi of objective(pi) - objective(pi*) (Remark 3: <= 0), per state.

    pi = softmax(log pi* + scale * N(0, 1)) on the support of pi_hat. pi_hat, A: [N, A] -> [N].
    """
    rng = np.random.default_rng(seed)
    pi_star, value = kl_optimum(pi_hat, A, beta)
    best = np.full(pi_hat.shape[0], -np.inf)
    for scale in scales:
        noise = scale * rng.normal(size=(n_perturb,) + pi_hat.shape)
        pi = tilt_policy(pi_star, noise, 1.0)
        best = np.maximum(best, (kl_objective(pi, pi_hat, A, beta) - value).max(0))
    return best


def kl_scipy_optimum(pi_hat_s, A_s, beta: float):
    """Maximise E_pi[A] - beta KL(pi || pi_hat) at one state with scipy (SLSQP on the probability simplex).

    Uses only the objective and its gradient g = A - beta (log(pi / pi_hat) + 1), not the closed form; the
    problem is concave in pi, so a constrained local optimiser finds the global maximum.
    pi_hat_s, A_s: [A] (pi_hat_s > 0). Returns (pi_opt [A], value).
    """
    from scipy.optimize import minimize

    log_pi_hat = np.log(pi_hat_s)

    def neg_and_grad(pi):
        log_ratio = np.log(np.maximum(pi, 1e-300)) - log_pi_hat
        value = pi @ A_s - beta * np.sum(np.where(pi > 0, pi * log_ratio, 0.0))
        return -value, -(A_s - beta * (log_ratio + 1))

    simplex = dict(type="eq", fun=lambda pi: pi.sum() - 1, jac=lambda pi: np.ones_like(pi))
    res = minimize(
        neg_and_grad,
        pi_hat_s,
        jac=True,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * len(A_s),
        constraints=[simplex],
        options=dict(ftol=1e-16, maxiter=500),
    )
    return res.x, -res.fun


# ----------------------------------------------------------------------------------------------------------
# GCBC factorisation (Eq. 17-19) and goal-conditioned guidance


def goal_reward(mdp: TabularMDP, goal) -> np.ndarray:
    """r_g(s, a) = P(g|s, a), the goal reward whose Q is p^gamma(g|s, a) / (1 - gamma); goal: int or [B].

    Returns [B, S, A]."""
    goal = np.broadcast_to(np.asarray(goal), (mdp.batch,))
    return np.take_along_axis(mdp.P, goal[:, None, None, None], -1)[..., 0]


def gcbc_policy(mdp: TabularMDP, pi_hat, goal):
    """The GCBC optimum (paper Eq. 18): pi(a|s, g) = pi_hat(a|s) p^gamma(g|s, a) / p^gamma(g|s).

    goal: int or [B]. Returns (pi_g [B, S, A], p_sag [B, S, A] = p^gamma(g|s, a)).
    """
    goal = np.broadcast_to(np.asarray(goal), (mdp.batch,))
    p_sag = np.take_along_axis(goal_occupancy(mdp, pi_hat), goal[:, None, None, None], -1)[..., 0]
    joint = np.asarray(pi_hat) * p_sag
    return joint / joint.sum(-1, keepdims=True), p_sag


def guided_goal_policy(pi_hat, pi_goal, w) -> np.ndarray:
    """Classifier-free guidance on the goal, in log-probabilities (paper Eq. 19 for exact densities):

      log pi_w(a|s, g) = log pi_hat(a|s) + w (log pi(a|s, g) - log pi_hat(a|s)) + const
                       = log pi_hat(a|s) + w log p^gamma(g|s, a) + const
    pi_hat, pi_goal: [B, S, A]; w: float or [W]. w = 0 is BC, w = 1 is GCBC.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.where(np.asarray(pi_hat) > 0, np.log(pi_goal) - np.log(pi_hat), -np.inf)
    return tilt_policy(pi_hat, log_ratio, w)


def goal_occupancy_from(mdp: TabularMDP, pi, goal) -> np.ndarray:
    """p^gamma_pi(g | rho0) = (1 - gamma) E_{s0 ~ rho0} sum_{k>=0} gamma^k Pr(s_{k+1} = g).

    The discounted goal occupancy under pi from the start, i.e. (1 - gamma) J_g(pi) for the reward r_g.
    pi: [..., B, S, A] -> [..., B]."""
    *_, J_g = evaluate(mdp, pi, r=goal_reward(mdp, goal))
    return (1 - mdp.gamma) * J_g


def reach_probability(mdp: TabularMDP, pi, goal, horizon: int) -> np.ndarray:
    """Pr(s_t = g for some t <= horizon | s_0 ~ rho0, pi), exactly, by making g absorbing.

    pi: [..., B, S, A]; goal: int or [B]. Returns [..., B].
    """
    S = mdp.shape[0]
    goal = np.broadcast_to(np.asarray(goal), (mdp.batch,))
    at_goal = np.eye(S)[goal]  # [B, S]
    P_pi = np.einsum("...bsa,bsat->...bst", pi, mdp.P)
    P_pi = np.where(at_goal[..., :, None] > 0, np.eye(S), P_pi)  # goal row -> self-loop
    dist = np.broadcast_to(mdp.rho0, P_pi.shape[:-1]).copy()
    for _ in range(horizon):
        dist = np.einsum("...s,...st->...t", dist, P_pi)
    return (dist * at_goal).sum(-1)


# ----------------------------------------------------------------------------------------------------------
# The binary-label degeneracy and smoothing by a learned classifier


def fit_logistic_classifier(A, weight, lam: float, n_iter: int = 50):
    """Fit p(o=1|s, a) = sigmoid(k A + b) to the deterministic labels o = 1[A >= 0] per MDP (Newton's method).

    Minimises sum_{s,a} weight(s, a) CE(o(s, a), sigmoid(k A + b)) + lam k^2 / 2, with weights the data
    distribution d_hat(s) pi_hat(a|s). Without the penalty the labels are separable and k -> infinity, which
    is the degenerate step again; lam > 0 keeps k finite, like any smooth learned classifier.
    A, weight: [B, S, A]. Returns (k [B], b [B]).
    """
    if not lam > 0:
        raise ValueError(f"lam must be > 0 (lam = 0 diverges on separable labels), got {lam}")
    A = np.asarray(A).reshape(A.shape[0], -1)
    wt = np.asarray(weight).reshape(A.shape)
    wt = wt / wt.sum(-1, keepdims=True)
    o = (A >= 0).astype(np.float64)
    X = np.stack([A, np.ones_like(A)], -1)  # [B, N, 2]
    theta = np.zeros((A.shape[0], 2))
    reg = np.diag([lam, 0.0])
    for _ in range(n_iter):
        p = 1 / (1 + np.exp(-(X @ theta[..., None])[..., 0]))
        grad = np.einsum("bn,bni->bi", wt * (p - o), X) + theta * np.array([lam, 0.0])
        H = np.einsum("bn,bni,bnj->bij", wt * p * (1 - p), X, X) + reg + 1e-12 * np.eye(2)
        theta = theta - np.linalg.solve(H, grad[..., None])[..., 0]
    return theta[:, 0], theta[:, 1]


def logistic_tilt(k, b) -> Tilt:
    """f(A) = sigmoid(k A + b) with per-MDP parameters k, b: [B] (applied to A: [..., B, S, A])."""
    k, b = np.asarray(k)[:, None, None], np.asarray(b)[:, None, None]
    return Tilt("logistic classifier", lambda A: -np.logaddexp(0.0, -(k * np.asarray(A) + b)))
