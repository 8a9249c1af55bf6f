"""How a batch's gradient is shared among its examples (CFGRL paper Figure 2).

A batch loss L = (1/B) sum_i l_i(theta) has gradient (1/B) sum_i g_i with g_i = grad l_i. For a weighted loss
l_i = u_i l~_i (AWR, u_i = exp(A_i / beta) clipped), a few examples with large u_i can carry most of the
gradient; the rest of the batch is then computed but barely used. Three summaries:

    per-example gradient norms   ||g_i||, i = 1..B, all parameters flattened into one vector
                                 (jax.vmap of jax.grad over examples, each example a batch of one);
    effective sample size        ESS(u) = (sum_i u_i)^2 / sum_i u_i^2, in [1, B]; ESS / B = 1 for equal
                                 weights and 1 / B when one example has all the weight (Kish's formula);
    top-k share                  sum of the largest ceil(q B) values / sum of all values, for q = 1%, 10%.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

LossFn = Callable  # (params, batch, key) -> (loss, info): a batch loss, applied here to batches of one


def per_example_grads(loss_fn: LossFn, params, batch: dict, key: jax.Array):
    """g_i = grad_theta loss_fn(params, {example i}, key_i) for every example, in one vmapped call.

    batch: dict of [B, ...] arrays. Example i is fed as a batch of one ([1, ...]) with its own key
    key_i = split(key, B)[i], so stochastic losses (flow matching draws t and x_0) get independent draws.
    Returns a pytree shaped like params with a leading [B] axis.
    """
    num = jax.tree_util.tree_leaves(batch)[0].shape[0]
    keys = jax.random.split(key, num)

    def one(example, k):
        single = jax.tree_util.tree_map(lambda x: x[None], example)
        return jax.grad(lambda p: loss_fn(p, single, k)[0])(params)

    return jax.vmap(one)(batch, keys)


def tree_norms(grads) -> jax.Array:
    """Global L2 norm per leading index: sqrt(sum over all leaves and entries of g_i^2). -> [B]."""
    leaves = jax.tree_util.tree_leaves(grads)
    return jnp.sqrt(sum(jnp.sum(x.reshape(x.shape[0], -1) ** 2, axis=1) for x in leaves))


def per_example_grad_norms(loss_fn: LossFn, params, batch: dict, key: jax.Array) -> jax.Array:
    """||g_i|| for every example of the batch. [B]. Jit at the call site (loss_fn static)."""
    return tree_norms(per_example_grads(loss_fn, params, batch, key))


def effective_sample_size(weights) -> float:
    """Kish's ESS = (sum u)^2 / sum u^2 of non-negative weights u [B] (not all zero)."""
    u = np.asarray(weights, np.float64)
    if u.ndim != 1 or len(u) == 0 or (u < 0).any() or not np.isfinite(u).all() or u.sum() == 0:
        raise ValueError("weights must be a non-empty vector of finite, non-negative values, not all zero")
    return float(u.sum() ** 2 / np.sum(u**2))


def ess_fraction(weights) -> float:
    """ESS / B in [1/B, 1]."""
    return effective_sample_size(weights) / len(np.asarray(weights))


def top_share(values, fraction: float) -> float:
    """Share of sum(values) carried by the largest ceil(fraction B) of them (at least one). values >= 0."""
    v = np.sort(np.asarray(values, np.float64))[::-1]
    if v.ndim != 1 or len(v) == 0 or (v < 0).any() or v.sum() == 0:
        raise ValueError("values must be a non-empty vector of non-negative numbers, not all zero")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    k = max(1, math.ceil(fraction * len(v) - 1e-9))
    return float(v[:k].sum() / v.sum())
