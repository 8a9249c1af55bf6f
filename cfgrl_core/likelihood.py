"""The exact density of what the Euler sampler draws: log pi_w(a | s) of a guided flow policy, and KL(pi_w || pi_hat).

The sampler (`guidance.euler_integrate`) maps noise x_0 ~ N(0, I) to an action a = x_K through K Euler steps

    x_{k+1} = x_k + h v_w(x_k, t_k),   h = 1 / K,  t_k = k h.

Each step is a map of R^A onto itself; while det(I + h dv_w/dx) > 0 it is invertible, and the change of variables
gives the density of the action the sampler returns, exactly (no ODE error term: this is the density of the
*discrete* map, the policy that is actually sampled):

    log pi_w(x_K) = log N(x_0; 0, I) - sum_k log det(I + h J_k),   J_k = dv_w/dx (x_k, t_k)   [A x A].

Our actions have A = 2 (point mazes), so J_k is computed exactly, by forward-mode autodiff (A Jacobian-vector
products per step). Two directions:

  `sample_log_prob`  forward from x_0: the action and its log-density (what a sample of pi_w costs, plus A jvps).
  `log_prob`         any action a (e.g. pi_hat's density at a sample of pi_w): the map inverted step by step from
                     t = 1 back to t = 0, each step x_k + h v(x_k, t_k) = x_{k+1} solved by Newton's method with
                     the exact Jacobian; the largest residual of those equations is returned with the density, so a
                     caller can see that the inversion converged.

The velocity field is any `velocity_fn(x [N, A], t) -> [N, A]` that acts row by row (row n of the output depends on
row n of x only), as every velocity in this collection does (`guidance.cfg_velocity_fn`, the exact mixture's).
`policy_kl` estimates KL(pi_w(.|s) || pi_hat(.|s)) per state and w by Monte Carlo from these log-densities, with
its standard error. Checks (tests/test_likelihood.py): a linear velocity field, whose Euler map is affine, so that
pi_w is Gaussian in closed form; notebook 01's exact mixture velocities, whose flow reaches the mixture itself.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from cfgrl_core.checks import check_finite, check_flow_steps, check_positive_int
from cfgrl_core.guidance import cfg_velocity_fn
from cfgrl_core.networks import ModelConfig, VectorField


def velocity_and_jacobian(velocity_fn: Callable, x: jax.Array, t) -> tuple[jax.Array, jax.Array]:
    """(v [N, A], J [N, A, A]) with J[n, i, j] = d v_i / d x_j at row n: A forward-mode products, one per input
    direction, each pushing the same basis vector through every row (the field acts row by row)."""
    a = x.shape[-1]

    def column(e):
        return jax.jvp(lambda y: velocity_fn(y, t), (x,), (jnp.broadcast_to(e, x.shape),))

    v, columns = jax.vmap(column, out_axes=(None, 0))(jnp.eye(a, dtype=x.dtype))  # columns [A (j), N, A (i)]
    return v, jnp.transpose(columns, (1, 2, 0))


def _step_log_det(jacobian: jax.Array, h: float) -> tuple[jax.Array, jax.Array]:
    """(log |det(I + h J)|, det(I + h J)) per row."""
    sign, log_det = jnp.linalg.slogdet(jnp.eye(jacobian.shape[-1], dtype=jacobian.dtype) + h * jacobian)
    return log_det, sign * jnp.exp(log_det)


def standard_normal_log_prob(x: jax.Array) -> jax.Array:
    """log N(x; 0, I) over the last axis."""
    return -0.5 * (x**2).sum(-1) - 0.5 * x.shape[-1] * math.log(2 * math.pi)


def sample_log_prob(velocity_fn: Callable, x_0: jax.Array, flow_steps: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Euler from x_0 [N, A] to x_K as `euler_integrate` does, with the exact log-density of x_K under the map.

    Returns (x_K [N, A], log pi(x_K) [N], the smallest det(I + h J_k) met [N]: the map is invertible, and the
    density the one of the sampled policy, where it stays > 0)."""
    h = 1.0 / flow_steps

    def step(i, carry):
        x, log_det, det_min = carry
        v, jac = velocity_and_jacobian(velocity_fn, x, i * h)
        ld, det = _step_log_det(jac, h)
        return x + h * v, log_det + ld, jnp.minimum(det_min, det)

    n = x_0.shape[0]
    init = (x_0, jnp.zeros(n, x_0.dtype), jnp.full(n, jnp.inf, x_0.dtype))
    x_k, log_det, det_min = jax.lax.fori_loop(0, flow_steps, step, init)
    return x_k, standard_normal_log_prob(x_0) - log_det, det_min


def log_prob(velocity_fn: Callable, a: jax.Array, flow_steps: int, *, newton_steps: int = 6):
    """The log-density of actions a [N, A] under the Euler map of `velocity_fn`: each step x + h v(x, t_k) = y
    solved for x from t = 1 back to 0 (start x = y - h v(y, t_k), then `newton_steps` Newton steps with the exact
    Jacobian), then the change of variables as in `sample_log_prob`.

    Returns (log pi(a) [N], x_0 [N, A] the noise that maps to a, the largest residual |x + h v(x, t_k) - y| over the
    steps [N]: the inversion is exact where it is at float rounding)."""
    h = 1.0 / flow_steps

    def invert(j, carry):
        y, log_det, residual = carry
        t = (flow_steps - 1 - j) * h
        x = y - h * velocity_fn(y, t)

        def newton(_, x):
            v, jac = velocity_and_jacobian(velocity_fn, x, t)
            r = x + h * v - y
            m = jnp.eye(x.shape[-1], dtype=x.dtype) + h * jac
            return x - jnp.linalg.solve(m, r[..., None])[..., 0]

        x = jax.lax.fori_loop(0, newton_steps, newton, x)
        v, jac = velocity_and_jacobian(velocity_fn, x, t)
        ld, _ = _step_log_det(jac, h)
        r = jnp.abs(x + h * v - y).max(-1)
        return x, log_det + ld, jnp.maximum(residual, r)

    n = a.shape[0]
    x_0, log_det, residual = jax.lax.fori_loop(0, flow_steps, invert, (a, jnp.zeros(n, a.dtype), jnp.zeros(n, a.dtype)))
    return standard_normal_log_prob(x_0) - log_det, x_0, residual


def unconditional_velocity_fn(params, config: ModelConfig, conditions, observations=None) -> Callable:
    """pi_hat's velocity v(x, t | s, null) over N rows: the network with the null condition, one call on N rows (the
    w = 0 field of `guidance.cfg_velocity_fn` at half its cost; equal to it up to float rounding). For separate
    networks pass the unconditional network's parameters."""
    net = VectorField(config)
    n = conditions.shape[0]
    null_mask = jnp.ones(n, bool)

    def unconditional(x, t):
        return net.apply(params, x, jnp.full((n, 1), t, x.dtype), conditions, null_mask, observations)

    return unconditional


def mean_and_se(x: jax.Array, axis: int = -1) -> tuple[jax.Array, jax.Array]:
    """Monte Carlo mean and its standard error (std with ddof = 1 over sqrt(n)) along `axis`."""
    n = x.shape[axis]
    return x.mean(axis), x.std(axis, ddof=1) / math.sqrt(n)


@functools.partial(jax.jit, static_argnames=("config", "num_samples", "flow_steps", "newton_steps"))
def _policy_kl(params, uncond_params, key, conditions, observations, ws, *, config, num_samples, flow_steps,
               newton_steps):  # fmt: skip
    num_w, num_s = ws.shape[0], conditions.shape[0]
    rows = num_w * num_s * num_samples  # row = (w, state, sample)
    tile = lambda z: None if z is None else jnp.repeat(jnp.tile(z, (num_w,) + (1,) * (z.ndim - 1)), num_samples, 0)  # noqa: E731
    cond_rows, obs_rows = tile(conditions), tile(observations)
    w_rows = jnp.repeat(ws, num_s * num_samples)
    v_w = cfg_velocity_fn(params, config, cond_rows, obs_rows, w_rows, uncond_params)
    v_hat = unconditional_velocity_fn(params if uncond_params is None else uncond_params, config, cond_rows, obs_rows)
    x_0 = jax.random.normal(key, (rows, config.action_dim))
    a, log_p_w, det_min = sample_log_prob(v_w, x_0, flow_steps)
    log_p_hat, _, residual = log_prob(v_hat, a, flow_steps, newton_steps=newton_steps)
    shape = (num_w, num_s, num_samples)
    return log_p_w.reshape(shape), log_p_hat.reshape(shape), det_min.reshape(shape), residual.reshape(shape)


def policy_kl(params, config: ModelConfig, key: jax.Array, conditions, ws, observations=None, *, num_samples: int = 256,
              flow_steps: int = 16, uncond_params=None, newton_steps: int = 6) -> dict:  # fmt: skip
    """KL(pi_w(.|s, c) || pi_hat(.|s)) of a guided flow policy for every w of `ws` and every state row, by Monte Carlo:
    `num_samples` actions a ~ pi_w (the Euler sampler, with their exact log-density) and the mean of
    log pi_w(a) - log pi_hat(a), pi_hat = the w = 0 policy (`unconditional_velocity_fn`: the null condition; with
    `uncond_params`, the separate unconditional network) evaluated at a by inverting its map.

    conditions [B] labels or [B, C] goals, observations [B, O] or None, ws [W]. Returns numpy arrays: kl, se [W, B]
    (mean and its standard error over the samples), det_min [W, B] (smallest step determinant of pi_w's map: > 0 means
    invertible), residual [W, B] (largest residual of pi_hat's inversion), log_p_w and log_p_hat [W, B, num_samples]."""
    flow_steps = check_flow_steps(flow_steps)
    num_samples = check_positive_int("num_samples", num_samples)
    if num_samples < 2:
        raise ValueError("a standard error needs num_samples >= 2")
    ws = check_finite("ws", np.atleast_1d(np.asarray(ws, np.float32)))
    observations = None if observations is None else jnp.asarray(observations)
    log_p_w, log_p_hat, det_min, residual = _policy_kl(
        params, uncond_params, key, jnp.asarray(conditions), observations, jnp.asarray(ws),
        config=config, num_samples=num_samples, flow_steps=flow_steps, newton_steps=newton_steps,
    )  # fmt: skip
    kl, se = mean_and_se(log_p_w - log_p_hat)
    return {
        "kl": np.asarray(kl), "se": np.asarray(se), "det_min": np.asarray(det_min.min(-1)),
        "residual": np.asarray(residual.max(-1)), "log_p_w": np.asarray(log_p_w), "log_p_hat": np.asarray(log_p_hat),
    }  # fmt: skip
