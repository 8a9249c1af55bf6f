"""Finite MDPs with exact answers: random batches, exact policy evaluation, occupancies, goal occupancies.

Everything is numpy float64 and batched over a leading MDP axis B, so thousands of small MDPs are
evaluated with one batched `np.linalg.solve`. Shapes:

  P     [B, S, A, S]   P(s'|s, a), rows sum to 1
  r     [B, S, A]      r(s, a)
  rho0  [B, S]         initial state distribution
  pi    [..., B, S, A] a stochastic policy pi(a|s); extra leading axes (e.g. one per w) broadcast

Exact policy evaluation (paper Eq. 1 with a discount gamma):

  P_pi(s, s') = sum_a pi(a|s) P(s'|s, a),     r_pi(s) = sum_a pi(a|s) r(s, a)
  V_pi = (I - gamma P_pi)^-1 r_pi,            Q_pi(s, a) = r(s, a) + gamma sum_s' P(s'|s, a) V_pi(s')
  A_pi = Q_pi - V_pi,                         J(pi) = sum_s rho0(s) V_pi(s)

Random batches may mix MDP sizes. They are padded to the largest size: a padded state is absorbing with
reward 0 and unreachable (rho0 = 0, no transitions into it); a padded action is an exact copy of action 0
and the random reference policy gives it probability 0, so it never changes J, V, Q or A of real entries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cfgrl_core.checks import check_finite

ROW_TOL = 1e-9  # how far a probability row may sum from 1


def _check_rows(name: str, p: np.ndarray) -> None:
    """Probability rows (last axis) must be finite, non-negative and sum to 1 within ROW_TOL."""
    check_finite(name, p)
    if (p < 0).any():
        first = tuple(int(i) for i in np.argwhere(p < 0)[0])
        raise ValueError(f"{name} has negative probabilities (first at index {first}: {p[first]:.3g})")
    err = np.abs(p.sum(-1) - 1.0)
    if (err > ROW_TOL).any():
        first = tuple(int(i) for i in np.argwhere(err > ROW_TOL)[0])
        raise ValueError(
            f"{name} rows must sum to 1; row {first} sums to {p[first].sum():.12g} (tolerance {ROW_TOL:g})"
        )


def check_policy(pi, n_states: int | None = None, n_actions: int | None = None) -> np.ndarray:
    """pi: [..., S, A], finite, non-negative, each pi(.|s) sums to 1."""
    pi = np.asarray(pi, dtype=np.float64)
    if pi.ndim < 2:
        raise ValueError(f"a policy has shape [..., S, A], got {pi.shape}")
    if n_states is not None and pi.shape[-2:] != (n_states, n_actions):
        raise ValueError(
            f"policy has shape [..., {pi.shape[-2]}, {pi.shape[-1]}], the MDP has [{n_states}, {n_actions}]"
        )
    _check_rows("policy pi(a|s)", pi)
    return pi


@dataclass(frozen=True)
class TabularMDP:
    """A batch of B finite discounted MDPs (padded to common sizes S and A)."""

    P: np.ndarray  # [B, S, A, S] transition probabilities P(s'|s, a)
    r: np.ndarray  # [B, S, A] rewards r(s, a)
    rho0: np.ndarray  # [B, S] initial state distribution
    gamma: float  # discount in [0, 1)
    n_states: np.ndarray | None = None  # [B] real (unpadded) number of states; None = all S
    n_actions: np.ndarray | None = None  # [B] real (unpadded) number of actions; None = all A

    def __post_init__(self):
        P = np.asarray(self.P, dtype=np.float64)
        r = np.asarray(self.r, dtype=np.float64)
        rho0 = np.asarray(self.rho0, dtype=np.float64)
        if P.ndim != 4 or P.shape[1] != P.shape[3]:
            raise ValueError(f"P must have shape [B, S, A, S], got {P.shape}")
        B, S, A, _ = P.shape
        if r.shape != (B, S, A):
            raise ValueError(f"r must have shape [B, S, A] = {(B, S, A)}, got {r.shape}")
        if rho0.shape != (B, S):
            raise ValueError(f"rho0 must have shape [B, S] = {(B, S)}, got {rho0.shape}")
        gamma = float(self.gamma)
        if not 0.0 <= gamma < 1.0:
            raise ValueError(f"gamma must lie in [0, 1), got {gamma}")
        _check_rows("transition matrix P(s'|s,a)", P)
        _check_rows("initial distribution rho0", rho0)
        check_finite("rewards r", r)
        n_s = np.full(B, S) if self.n_states is None else np.asarray(self.n_states, dtype=np.int64)
        n_a = np.full(B, A) if self.n_actions is None else np.asarray(self.n_actions, dtype=np.int64)
        if (
            n_s.shape != (B,)
            or n_a.shape != (B,)
            or (n_s < 1).any()
            or (n_s > S).any()
            or (n_a < 1).any()
            or (n_a > A).any()
        ):
            raise ValueError(f"n_states / n_actions must be [B] ints in [1, S] / [1, A]; got {n_s}, {n_a}")
        for name, value in dict(P=P, r=r, rho0=rho0, gamma=gamma, n_states=n_s, n_actions=n_a).items():
            object.__setattr__(self, name, value)

    @property
    def batch(self) -> int:
        return self.P.shape[0]

    @property
    def shape(self) -> tuple[int, int]:
        """(S, A), the padded sizes."""
        return self.P.shape[1], self.P.shape[2]

    @property
    def action_mask(self) -> np.ndarray:
        """[B, S, A] bool: real state and real action."""
        S, A = self.shape
        s_ok = np.arange(S)[None, :] < self.n_states[:, None]
        a_ok = np.arange(A)[None, :] < self.n_actions[:, None]
        return s_ok[:, :, None] & a_ok[:, None, :]

    def take(self, idx) -> TabularMDP:
        """The sub-batch idx (an int keeps a batch axis of 1)."""
        idx = np.atleast_1d(idx)
        return TabularMDP(self.P[idx], self.r[idx], self.rho0[idx], self.gamma, self.n_states[idx], self.n_actions[idx])


def _sizes(rng: np.random.Generator, n: int, size) -> np.ndarray:
    """int k -> [k]*n; (lo, hi) -> uniform ints in [lo, hi]."""
    if np.isscalar(size):
        return np.full(n, int(size))
    lo, hi = size
    return rng.integers(lo, hi + 1, size=n)


def random_mdps(
    seed,
    n_mdps: int,
    n_states=(2, 4),
    n_actions=(2, 3),
    gamma: float = 0.9,
    concentration: float = 1.0,
    reward_scale: float = 1.0,
):
    """B random MDPs and a random reference policy pi_hat for each.

    Distribution (per MDP): S ~ U{n_states}, A ~ U{n_actions} (an int or an inclusive (lo, hi) range);
    P(.|s, a) ~ Dirichlet(concentration * 1_S); r(s, a) ~ U[0, reward_scale]; rho0 ~ Dirichlet(1_S);
    pi_hat(.|s) ~ Dirichlet(1_A). Returns (mdp: TabularMDP, pi_hat: [B, S_max, A_max]).
    """
    rng = np.random.default_rng(seed)
    n_s, n_a = _sizes(rng, n_mdps, n_states), _sizes(rng, n_mdps, n_actions)
    S, A = int(n_s.max()), int(n_a.max())
    s_ok = np.arange(S)[None, :] < n_s[:, None]  # [B, S]
    a_ok = np.arange(A)[None, :] < n_a[:, None]  # [B, A]

    def dirichlet(shape, alpha, ok):  # normalised Gamma draws restricted to `ok` entries of the last axis
        g = rng.gamma(alpha, size=shape) * ok
        return g / g.sum(-1, keepdims=True)

    P = dirichlet((n_mdps, S, A, S), concentration, s_ok[:, None, None, :])
    r = rng.uniform(0.0, reward_scale, size=(n_mdps, S, A))
    rho0 = dirichlet((n_mdps, S), 1.0, s_ok)
    pi_hat = dirichlet((n_mdps, S, A), 1.0, a_ok[:, None, :])
    # padding: padded actions copy action 0; padded states are absorbing with reward 0 and a uniform pi_hat
    pad_a = ~a_ok[:, None, :]  # [B, 1, A]
    P = np.where(pad_a[..., None], P[:, :, :1, :], P)
    r = np.where(pad_a, r[:, :, :1], r)
    pad_s = ~s_ok  # [B, S]
    P = np.where(pad_s[:, :, None, None], np.eye(S)[None, :, None, :], P)
    r = np.where(pad_s[:, :, None], 0.0, r)
    pi_hat = np.where(pad_s[:, :, None], a_ok[:, None, :] / n_a[:, None, None], pi_hat)
    return TabularMDP(P, r, rho0, gamma, n_s, n_a), pi_hat


def gridworld(size: int = 5, slip: float = 0.2, gamma: float = 0.95, start: int = 0) -> TabularMDP:
    """A size x size grid (B = 1), states s = row * size + col, actions 0..4 = up, down, left, right, stay.

    With probability 1 - slip the chosen move happens, otherwise a uniformly random one of the five;
    moves into a wall stay put. Rewards are 0 (goal rewards are added by the goal-conditioned code).
    """
    if size < 2:
        raise ValueError(f"gridworld size must be at least 2, got {size}")
    if not 0.0 <= slip <= 1.0:
        raise ValueError(f"slip must lie in [0, 1], got {slip}")
    moves = [(-1, 0), (1, 0), (0, -1), (0, 1), (0, 0)]
    S = size * size
    step = np.zeros((S, 5, S))  # deterministic effect of each move
    for s in range(S):
        row, col = divmod(s, size)
        for a, (dr, dc) in enumerate(moves):
            rr, cc = min(max(row + dr, 0), size - 1), min(max(col + dc, 0), size - 1)
            step[s, a, rr * size + cc] = 1.0
    P = (1 - slip) * step + slip * step.mean(1, keepdims=True)
    rho0 = np.zeros(S)
    rho0[start] = 1.0
    return TabularMDP(P[None], np.zeros((1, S, 5)), rho0[None], gamma)


def policy_matrices(mdp: TabularMDP, pi):
    """P_pi: [..., B, S, S] and r_pi: [..., B, S] for pi: [..., B, S, A]."""
    P_pi = np.einsum("...bsa,bsat->...bst", pi, mdp.P)
    r_pi = np.einsum("...bsa,bsa->...bs", pi, mdp.r)
    return P_pi, r_pi


def evaluate(mdp: TabularMDP, pi, r=None):
    """Exact V, Q, A, J of pi by one batched linear solve.

    pi: [..., B, S, A] -> V: [..., B, S], Q and A: [..., B, S, A], J: [..., B].
    r: optional reward [B, S, A] replacing mdp.r (e.g. a goal reward).
    """
    pi = check_policy(pi, *mdp.shape)
    r = mdp.r if r is None else np.asarray(r, dtype=np.float64)
    P_pi = np.einsum("...bsa,bsat->...bst", pi, mdp.P)
    r_pi = np.einsum("...bsa,bsa->...bs", pi, r)
    S = mdp.shape[0]
    V = np.linalg.solve(np.eye(S) - mdp.gamma * P_pi, r_pi[..., None])[..., 0]
    Q = r + mdp.gamma * np.einsum("bsat,...bt->...bsa", mdp.P, V)
    A = Q - V[..., None]
    J = np.einsum("bs,...bs->...b", mdp.rho0, V)
    return V, Q, A, J


def state_occupancy(mdp: TabularMDP, pi) -> np.ndarray:
    """Normalised discounted state occupancy d_pi(s) = (1 - gamma) sum_t gamma^t Pr(s_t = s | rho0, pi).

    pi: [..., B, S, A] -> d: [..., B, S], sums to 1. J(pi) = sum_s d_pi(s) r_pi(s) / (1 - gamma).
    """
    pi = check_policy(pi, *mdp.shape)
    P_pi, _ = policy_matrices(mdp, pi)
    S = mdp.shape[0]
    M = np.eye(S) - mdp.gamma * np.swapaxes(P_pi, -1, -2)
    rho0 = np.broadcast_to(mdp.rho0, P_pi.shape[:-1])
    return (1 - mdp.gamma) * np.linalg.solve(M, rho0[..., None])[..., 0]


def goal_occupancy(mdp: TabularMDP, pi) -> np.ndarray:
    """Discounted goal occupancy p^gamma(g|s, a) of the future state s_{t+k}, k ~ Geom(1 - gamma) on {1, 2..}.

    p^gamma(g|s, a) = (1 - gamma) sum_{k>=1} gamma^(k-1) Pr(s_{t+k} = g | s_t = s, a_t = a, then pi)
                    = (1 - gamma) [P (I - gamma P_pi)^-1](s, a, g)           (paper Eq. 17-18)
    pi: [B, S, A] -> [B, S, A, S] (goal last); each (s, a) row sums to 1.
    """
    pi = check_policy(pi, *mdp.shape)
    P_pi, _ = policy_matrices(mdp, pi)
    S = mdp.shape[0]
    N = np.linalg.inv(np.eye(S) - mdp.gamma * P_pi)  # [B, S, S] expected discounted visits
    return (1 - mdp.gamma) * np.einsum("bsat,btg->bsag", mdp.P, N)


def optimal_policy(mdp: TabularMDP, max_iter: int = 100):
    """Exact optimal policy by policy iteration (greedy over real actions). Returns (pi_star, J_star: [B])."""
    S, A = mdp.shape
    mask = mdp.action_mask
    pi = np.where(np.arange(A) == 0, 1.0, 0.0) * np.ones((mdp.batch, S, 1))
    for _ in range(max_iter):
        _, Q, _, J = evaluate(mdp, pi)
        greedy = np.argmax(np.where(mask, Q, -np.inf), axis=-1)
        new = np.eye(A)[greedy]
        # keep the current action on ties so the iteration terminates
        cur_q = np.sum(pi * Q, -1)
        best_q = np.take_along_axis(Q, greedy[..., None], -1)[..., 0]
        new = np.where((best_q <= cur_q + 1e-12)[..., None], pi, new)
        if np.array_equal(new, pi):
            return pi, J
        pi = new
    raise RuntimeError(f"policy iteration did not converge in {max_iter} iterations")


def kl_per_state(pi, pi_hat) -> np.ndarray:
    """KL(pi(.|s) || pi_hat(.|s)) = sum_a pi log(pi / pi_hat) with 0 log 0 = 0: [..., S, A] -> [..., S]."""
    pi, pi_hat = np.asarray(pi), np.asarray(pi_hat)
    if ((pi > 0) & (pi_hat <= 0)).any():
        return np.where(((pi > 0) & (pi_hat <= 0)).any(-1), np.inf, _kl(pi, pi_hat))
    return _kl(pi, pi_hat)


def _kl(pi, pi_hat):
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(pi > 0, pi * (np.log(pi) - np.log(np.where(pi_hat > 0, pi_hat, 1.0))), 0.0)
    return terms.sum(-1)
