"""Flow matching, rectified-flow convention (CFGRL paper Eq. 13).

Noise sits at t = 0 and data at t = 1:

    x_0 ~ N(0, I),   x_1 ~ data,   t ~ U[0, 1),
    x_t = (1 - t) x_0 + t x_1,
    vel = d x_t / d t = x_1 - x_0,
    loss = E || v_theta(x_t, t) - vel ||^2   (mean over batch and action dimensions, as in the authors' code).

The minimiser of the loss is the marginal velocity v(x, t) = E[x_1 - x_0 | x_t = x], whose ODE
dx/dt = v(x, t) carries N(0, I) at t = 0 to the data distribution at t = 1.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

VelocityFn = Callable[[jax.Array, jax.Array], jax.Array]  # (x_t [B, A], t [B, 1]) -> v [B, A]


def interpolate(x_0: jax.Array, x_1: jax.Array, t: jax.Array) -> jax.Array:
    """x_t = (1 - t) x_0 + t x_1.  x_0, x_1: [B, A]; t: [B, 1] -> x_t: [B, A]."""
    return (1.0 - t) * x_0 + t * x_1


def target_velocity(x_0: jax.Array, x_1: jax.Array) -> jax.Array:
    """vel = x_1 - x_0, the time derivative of the straight path (independent of t)."""
    return x_1 - x_0


def sample_path(key: jax.Array, x_1: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Draw noise and times for a batch of data actions.

    x_1: [B, A]  ->  (t [B, 1] ~ U[0, 1), x_t [B, A], vel [B, A]).
    """
    key_noise, key_t = jax.random.split(key)
    x_0 = jax.random.normal(key_noise, x_1.shape, x_1.dtype)
    t = jax.random.uniform(key_t, (x_1.shape[0], 1), x_1.dtype)
    return t, interpolate(x_0, x_1, t), target_velocity(x_0, x_1)


def flow_matching_loss(velocity_fn: VelocityFn, x_1: jax.Array, key: jax.Array) -> tuple[jax.Array, dict]:
    """Conditional flow-matching loss for one batch.

    velocity_fn: (x_t [B, A], t [B, 1]) -> v [B, A], e.g. a network with its condition bound.
    Returns (loss, info) with the loss a scalar mean over batch and action dimensions.
    """
    t, x_t, vel = sample_path(key, x_1)
    err = velocity_fn(x_t, t) - vel
    loss = jnp.mean(err**2)
    return loss, {"flow_loss": loss}


def point_mass_velocity(c: jax.Array) -> VelocityFn:
    """Exact marginal velocity when the data are a point mass at c: v(x, t) = (c - x) / (1 - t).

    Along any path x_t = (1 - t) x_0 + t c this equals c - x_0, the target, so the flow loss is 0.
    """
    return lambda x_t, t: (c - x_t) / (1.0 - t)
