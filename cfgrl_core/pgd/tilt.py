"""The PGD sampling distribution in closed form (reference section 1.3): what guidance should produce.

p_PGD(tau) ∝ p_off(tau) q_target(tau)^lambda. With isotropic Gaussians everything stays Gaussian:

    N(a; m_b, s_b^2 I) N(a; m_q, s_q^2 I)^lambda ∝ N(a; m_lam, s_lam^2 I) Z,
    1 / s_lam^2 = 1 / s_b^2 + lambda / s_q^2,   m_lam = s_lam^2 (m_b / s_b^2 + lambda m_q / s_q^2),
    Z = ∫ N(a; m_b, s_b^2) N(a; m_q, s_q^2)^lambda da
      = (2 pi s_q^2)^(-d lambda / 2) (2 pi s_q^2 / lambda)^(d / 2) N(m_b; m_q, (s_b^2 + s_q^2 / lambda) I).

A Gaussian mixture p_off keeps its components' shape family; component k's weight is multiplied by its Z_k, so mass
moves to the supported components nearest the target (`tilt_mixture`, notebook 06's Figure 3).

In a world with dynamics, per step the action factor is the product policy pi~ = pi_b pi_t^lambda / Z(s), and

    p_PGD(tau) ∝ p(s_0) prod_t pi~(a_t | s_t) Z(s_t) P(s_{t+1} | s_t, a_t):

p_PGD is *not* the rollout distribution of pi~; it is that distribution tilted by prod_t Z(s_t), towards states
where the two policies agree. `product_policy_windows` draws pi~ rollouts in the true simulator with their log
weights sum_t log Z(s_t); resampling by those weights (`resample`) gives exact p_PGD windows.
"""

from __future__ import annotations

import numpy as np

from cfgrl_core.checks import check_positive_int
from cfgrl_core.pgd import pointmass


def _check_lam(lam) -> float:
    lam = float(lam)
    if not lam >= 0:
        raise ValueError(f"the guidance exponent lambda must be >= 0, got {lam}")
    return lam


def gaussian_product(mean_b, std_b, mean_q, std_q, lam):
    """(mean, std) of N(m_b, s_b^2 I) N(m_q, s_q^2 I)^lambda, normalised. Means [..., d] broadcast."""
    lam = _check_lam(lam)
    prec = 1.0 / std_b**2 + lam / std_q**2
    mean = (np.asarray(mean_b) / std_b**2 + lam * np.asarray(mean_q) / std_q**2) / prec
    return mean, float(np.sqrt(1.0 / prec))


def log_normaliser(mean_b, std_b, mean_q, std_q, lam) -> np.ndarray:
    """log Z of the product above (0 at lambda = 0). Means [..., d] -> [...]."""
    lam = _check_lam(lam)
    diff = np.asarray(mean_b, float) - np.asarray(mean_q, float)
    d = diff.shape[-1]
    if lam == 0:
        return np.zeros(diff.shape[:-1])
    var = std_b**2 + std_q**2 / lam
    log_n = -0.5 * (diff**2).sum(-1) / var - 0.5 * d * np.log(2 * np.pi * var)
    return log_n - 0.5 * d * lam * np.log(2 * np.pi * std_q**2) + 0.5 * d * np.log(2 * np.pi * std_q**2 / lam)


def tilt_mixture(means, stds, weights, mean_q, std_q, lam):
    """sum_k w_k N(m_k, s_k^2 I) times N(m_q, s_q^2 I)^lambda, normalised: (means [K, d], stds [K], weights [K])."""
    means, stds = np.asarray(means, float), np.asarray(stds, float)
    weights = np.asarray(weights, float) / np.sum(weights)
    prec = 1.0 / stds**2 + _check_lam(lam) / std_q**2
    new_means = (means / stds[:, None] ** 2 + lam * np.asarray(mean_q, float) / std_q**2) / prec[:, None]
    log_z = [log_normaliser(m, s, mean_q, std_q, lam) for m, s in zip(means, stds, strict=True)]
    log_w = np.log(weights) + np.array(log_z)
    w = np.exp(log_w - log_w.max())
    return new_means, np.sqrt(1.0 / prec), w / w.sum()


def mixture_log_density(means, stds, weights, x) -> np.ndarray:
    """log sum_k w_k N(x; m_k, s_k^2 I) for x [..., d] -> [...] (numpy; to check the closed form on a grid)."""
    means, stds, weights = np.asarray(means, float), np.asarray(stds, float), np.asarray(weights, float)
    x = np.asarray(x, float)[..., None, :]
    d = means.shape[1]
    log_c = -0.5 * ((x - means) ** 2).sum(-1) / stds**2 - d * np.log(stds) - 0.5 * d * np.log(2 * np.pi)
    a = log_c + np.log(weights / weights.sum())
    top = a.max(-1, keepdims=True)
    return (top + np.log(np.exp(a - top).sum(-1, keepdims=True)))[..., 0]


def log_z_state(behaviour: pointmass.GaussianPolicy, target: pointmass.GaussianPolicy, lam, states) -> np.ndarray:
    """log Z(s) of the point-mass world's product policy at states [..., 2] -> [...]."""
    mb = np.asarray(pointmass.policy_mean(behaviour, np.asarray(states, np.float32)))
    mt = np.asarray(pointmass.policy_mean(target, np.asarray(states, np.float32)))
    return log_normaliser(mb, behaviour.noise, mt, target.noise, lam)


def product_policy_windows(world, behaviour, target, lam, start_states, horizon: int, rng: np.random.Generator):
    """Rollouts of pi~ = pi_b pi_t^lambda / Z from start_states [N, 2] for `horizon` steps in the true simulator
    (no terminals), with their log weights sum_{t < H} log Z(s_t).

    Returns (states [N, H+1, 2], actions [N, H, 2], log_w [N])."""
    check_positive_int("horizon", horizon)
    s = np.asarray(start_states, np.float32)
    states, actions, log_w = [s], [], np.zeros(len(s))
    for _ in range(horizon):
        mb = np.asarray(pointmass.policy_mean(behaviour, s))
        mt = np.asarray(pointmass.policy_mean(target, s))
        mean, std = gaussian_product(mb, behaviour.noise, mt, target.noise, lam)
        log_w += log_normaliser(mb, behaviour.noise, mt, target.noise, lam)
        u = (mean + std * rng.standard_normal(s.shape)).astype(np.float32)
        s = pointmass.step(world, s, u)
        states.append(s)
        actions.append(u)
    return np.stack(states, 1), np.stack(actions, 1), log_w


def resample(log_w: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """n indices drawn with replacement ∝ exp(log_w), and the effective sample size of the weights."""
    p = np.exp(log_w - log_w.max())
    p /= p.sum()
    return rng.choice(len(p), n, replace=True, p=p), float(1.0 / np.sum(p**2))
