"""Gaussian mixtures whose flow velocities are known exactly: CFG with no learning error.

For x_1 ~ sum_k pi_k N(mu_k, sigma_k^2 I), x_0 ~ N(0, I) and x_t = (1 - t) x_0 + t x_1, each component
stays Gaussian along the path:  x_t | k ~ N(t mu_k, s_k^2 I),  s_k^2 = (1 - t)^2 + t^2 sigma_k^2,
and the exact marginal velocity v(x, t) = E[x_1 - x_0 | x_t = x] is a responsibility-weighted sum of
per-component linear maps:

    v_k(x, t) = mu_k + (t sigma_k^2 - (1 - t)) / s_k^2 * (x - t mu_k),
    v(x, t)   = sum_k r_k(x, t) v_k(x, t),   r_k ∝ pi_k N(x; t mu_k, s_k^2 I).

If the optimality label depends on the component, p(o=1 | k) = q_k, then pi_hat(a|o=1) is the same
mixture with weights ∝ pi_k q_k, and p(o=1|a) = sum_k pi_k q_k N(a; mu_k, sigma_k^2) / pi_hat(a) is a graded
function of a. So both v_uncond and v_cond are exact, and guided Euler sampling isolates what CFG itself
does: at w not in {0, 1} it does not sample the product pi_hat(a) p(o=1|a)^w.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from cfgrl_core.guidance import euler_integrate, guided_velocity


@dataclass(frozen=True)
class Mixture:
    means: tuple  # [K, D] component means mu_k
    stds: tuple  # [K] isotropic component standard deviations sigma_k
    weights: tuple  # [K] mixture weights pi_k (normalised on use)

    def arrays(self):
        w = np.asarray(self.weights, float)
        return np.asarray(self.means, float), np.asarray(self.stds, float), w / w.sum()

    def reweighted(self, q) -> Mixture:
        """The mixture conditioned on o = 1 when p(o=1|k) = q_k: weights ∝ pi_k q_k."""
        _, _, w = self.arrays()
        return Mixture(self.means, self.stds, tuple((w * np.asarray(q, float)).tolist()))


def log_density(mix: Mixture, a) -> jax.Array:
    """log pi(a) for a: [..., D] -> [...]."""
    mu, sd, w = (jnp.asarray(x) for x in mix.arrays())
    d = mu.shape[1]
    a = jnp.asarray(a)[..., None, :]  # [..., 1, D]
    sq = ((a - mu) ** 2).sum(-1)  # [..., K]
    log_comp = -0.5 * sq / sd**2 - d * jnp.log(sd) - 0.5 * d * jnp.log(2 * jnp.pi)
    return logsumexp(log_comp + jnp.log(w), axis=-1)


def sample(mix: Mixture, key: jax.Array, n: int) -> jax.Array:
    """n samples [n, D]."""
    mu, sd, w = (jnp.asarray(x) for x in mix.arrays())
    key_k, key_x = jax.random.split(key)
    k = jax.random.choice(key_k, len(w), (n,), p=w)
    return mu[k] + sd[k][:, None] * jax.random.normal(key_x, (n, mu.shape[1]))


def velocity(mix: Mixture, x: jax.Array, t) -> jax.Array:
    """Exact marginal velocity v(x, t) of the rectified flow from N(0, I) to `mix`.  x: [..., D]."""
    return velocity_of(*mix.arrays(), x, t)


def velocity_of(means, stds, weights, x: jax.Array, t) -> jax.Array:
    """`velocity` from the arrays of a mixture (means [K, D], stds [K], weights [K] summing to 1), which may be
    traced: one compiled sampler then serves every mixture of the same size."""
    mu, sd, w = jnp.asarray(means), jnp.asarray(stds), jnp.asarray(weights)
    d = mu.shape[1]
    var_t = (1.0 - t) ** 2 + t**2 * sd**2  # [K]
    diff = x[..., None, :] - t * mu  # [..., K, D]
    log_r = jnp.log(w) - 0.5 * (diff**2).sum(-1) / var_t - 0.5 * d * jnp.log(var_t)
    r = jax.nn.softmax(log_r, axis=-1)  # responsibilities [..., K]
    v_k = mu + ((t * sd**2 - (1.0 - t)) / var_t)[:, None] * diff  # [..., K, D]
    return (r[..., None] * v_k).sum(-2)


def guided_samples(mix: Mixture, q, key: jax.Array, ws, n: int, flow_steps: int = 200) -> jax.Array:
    """CFG samples with exact velocities: v_uncond of `mix`, v_cond of mix reweighted by q.  -> [W, n, D]."""
    cond = mix.reweighted(q)
    ws = jnp.asarray(ws, jnp.float32)
    x_0 = jax.random.normal(key, (n, np.asarray(mix.means).shape[1]))
    x_0 = jnp.broadcast_to(x_0, (ws.shape[0], *x_0.shape))

    def v(x, t):
        return guided_velocity(velocity(cond, x, t), velocity(mix, x, t), ws[:, None, None])

    return jax.jit(lambda x: euler_integrate(v, x, flow_steps))(x_0)


def log_p_optimal(mix: Mixture, q, a) -> jax.Array:
    """log p(o=1|a) = log pi_hat(a|o=1) + log P(o=1) - log pi_hat(a)."""
    _, _, w = mix.arrays()
    p_o = float((w * np.asarray(q, float)).sum())
    return log_density(mix.reweighted(q), a) + jnp.log(p_o) - log_density(mix, a)


def exact_tilt_samples(mix: Mixture, q, seed: int, ws, n: int, n_proposal: int = 400_000) -> np.ndarray:
    """Samples of pi_w ∝ pi_hat p(o=1|.)^w by importance resampling pi_hat samples.  -> [W, n, D]."""
    proposal = np.asarray(sample(mix, jax.random.key(seed), n_proposal))
    log_p = np.asarray(log_p_optimal(mix, q, proposal), float)
    rng = np.random.default_rng(seed)
    out = []
    for w in np.atleast_1d(ws):
        lw = w * log_p
        p = np.exp(lw - lw.max())
        out.append(proposal[rng.choice(n_proposal, n, replace=True, p=p / p.sum())])
    return np.stack(out)


def component_masses(mix: Mixture, samples) -> np.ndarray:
    """Fraction of samples assigned (largest responsibility at t = 1) to each component. [..., n, D] -> [..., K]."""
    mu, sd, w = (jnp.asarray(x) for x in mix.arrays())
    x = jnp.asarray(samples)
    log_r = jnp.log(w) - 0.5 * ((x[..., None, :] - mu) ** 2).sum(-1) / sd**2 - mu.shape[1] * jnp.log(sd)
    k = jnp.argmax(log_r, axis=-1)
    return np.asarray(jax.nn.one_hot(k, len(w)).mean(-2))


def exact_tilt_masses(mix: Mixture, q, ws) -> np.ndarray:
    """Mixture weights of the tilt in the well-separated limit: ∝ pi_k q_k^w (an approximation)."""
    _, _, w = mix.arrays()
    out = np.stack([w * np.power(np.asarray(q, float), wv) for wv in np.atleast_1d(ws)])
    return out / out.sum(-1, keepdims=True)
