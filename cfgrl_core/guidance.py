"""Classifier-free guided sampling: CFGRL paper Eq. 11 in velocity form, integrated with Euler.

    v_w(x, t) = v_uncond(x, t) + w (v_cond(x, t) - v_uncond(x, t))

w = 0 samples the unconditional policy pi_hat (behaviour cloning), w = 1 the conditional one
(pi_hat(.|o=1), or GCBC for a goal), w > 1 extrapolates towards pi_hat * p(o|.)^w. For the exact
scores of the *clean* distributions this is exactly the product policy; a flow guides the velocity at
every t, which is not the velocity of the noised product (notebook 01 shows the difference).

Integration: start at x_0 ~ N(0, I) at t = 0 and take `flow_steps` Euler steps with t_i = i / flow_steps:
x <- x + v_w(x, t_i) / flow_steps. The conditional and unconditional velocities come from one network call
on a doubled batch, and a whole vector of w values is sampled in that same call. One sampler, `sample_rows`,
serves every sampler of a guided *policy* (rows carry their own condition, observation and w); `euler_integrate`
under it also integrates velocity fields that are not a policy network's: PGD's policy-guided trajectory model
(`cfgrl_core.pgd.trajectory_model`) and notebook 01's exact Gaussian-mixture velocities (`cfgrl_core.toys.gmm`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from cfgrl_core.checks import check_finite, check_flow_steps
from cfgrl_core.networks import ModelConfig, VectorField


def guided_velocity(v_cond: jax.Array, v_uncond: jax.Array, w) -> jax.Array:
    """v_uncond + w (v_cond - v_uncond); w broadcasts against the velocities."""
    return v_uncond + w * (v_cond - v_uncond)


def euler_integrate(velocity_fn: Callable, x_0: jax.Array, flow_steps: int) -> jax.Array:
    """Integrate dx/dt = velocity_fn(x, t) from t = 0 to 1 with `flow_steps` Euler steps.

    velocity_fn: (x [..., A], t scalar) -> [..., A]. Returns x at t = 1, same shape as x_0.
    """
    dt = 1.0 / flow_steps

    def step(i, x):
        t = i * dt
        return x + dt * velocity_fn(x, t)

    return jax.lax.fori_loop(0, flow_steps, step, x_0)


def cfg_velocity_fn(params, config: ModelConfig, conditions, observations=None, ws=None, uncond_params=None):
    """v(x, t) over N rows, each with its own condition, observation and guidance weight.

    conditions [N] int labels or [N, C] goals; observations [N, O] or None; ws [N] or None.
    ws given: v_uncond + w_n (v_cond - v_uncond), cond and uncond in ONE network call on 2 N rows
              (rows 0..N-1 conditional, N..2N-1 the null condition).
    ws None:  the conditional velocity alone, one call on N rows (an unguided conditional flow).
    uncond_params: separate networks (the paper's Figure 7 ablation): v_cond from `params` with the real
              condition and v_uncond from `uncond_params` (a network of the same config trained with every
              condition dropped), each on N rows, combined by the same formula. With uncond_params = params
              this is the shared-network velocity up to float rounding (a test).
    Returns velocity(x [N, A], t scalar) -> [N, A].
    """
    net = VectorField(config)
    n = conditions.shape[0]
    if uncond_params is not None:
        if ws is None:
            raise ValueError("uncond_params needs ws: separate networks are only combined by guidance")
        cond_mask, null_mask = jnp.zeros(n, bool), jnp.ones(n, bool)

        def separate(x, t):
            t_n = jnp.full((n, 1), t, x.dtype)
            v_cond = net.apply(params, x, t_n, conditions, cond_mask, observations)
            v_uncond = net.apply(uncond_params, x, t_n, conditions, null_mask, observations)
            return guided_velocity(v_cond, v_uncond, ws[:, None])

        return separate
    if ws is None:
        mask = jnp.zeros(n, bool)

        def conditional(x, t):
            return net.apply(params, x, jnp.full((n, 1), t, x.dtype), conditions, mask, observations)

        return conditional

    null_mask = jnp.concatenate([jnp.zeros(n, bool), jnp.ones(n, bool)])
    cond2 = jnp.concatenate([conditions, conditions])
    obs2 = None if observations is None else jnp.concatenate([observations, observations])

    def guided(x, t):
        x2 = jnp.concatenate([x, x])
        v = net.apply(params, x2, jnp.full((2 * n, 1), t, x2.dtype), cond2, null_mask, obs2)
        return guided_velocity(v[:n], v[n:], ws[:, None])

    return guided


def sample_rows(
    params, config: ModelConfig, x_0, conditions, observations=None, ws=None, *, flow_steps: int, uncond_params=None
):
    """THE sampler: Euler from x_0 [N, A] at t = 0 to t = 1 under `cfg_velocity_fn` (each row its own condition,
    observation and w; ws=None integrates the conditional flow alone; uncond_params: the unconditional velocity
    from a separate network). Pure and traceable; returns x_1 [N, A].

    Every policy sampler of the collection goes through here: `sample_guided` (a vector of w for a batch), the
    OGBench evaluation (`cfgrl_core.ogbench.evaluation.sample_actions`, one w and key per rollout; HCFGRL's two
    levels) and AWR's flow actor. (Fields that are not a policy network's call `euler_integrate` directly.)
    """
    velocity = cfg_velocity_fn(params, config, conditions, observations, ws, uncond_params)
    return euler_integrate(velocity, x_0, flow_steps)


def _tile(x, reps: int):
    """Repeat an array `reps` times along a new leading axis and flatten it into the batch axis."""
    return jnp.broadcast_to(x, (reps, *x.shape)).reshape(reps * x.shape[0], *x.shape[1:])


ROWS_PER_CALL = 2048  # network rows per call; larger batches fall out of cache on CPU (measured in the benchmark)


@functools.partial(jax.jit, static_argnames=("config", "flow_steps", "clip", "shared_noise"))
def _sample_guided(params, key, conditions, ws, observations, *, config, flow_steps, clip, shared_noise):
    num_w, batch = ws.shape[0], conditions.shape[0]
    if shared_noise:
        x_0 = jnp.broadcast_to(jax.random.normal(key, (batch, config.action_dim)), (num_w, batch, config.action_dim))
    else:
        x_0 = jax.random.normal(key, (num_w, batch, config.action_dim))
    # Several w share one network call (2 * w_chunk * batch rows); chunks of w run one after another.
    w_chunk = int(min(num_w, max(1, ROWS_PER_CALL // (2 * batch))))
    num_chunks = -(-num_w // w_chunk)
    pad = num_chunks * w_chunk - num_w
    ws_c = jnp.pad(ws, (0, pad)).reshape(num_chunks, w_chunk)
    x_0c = jnp.pad(x_0, ((0, pad), (0, 0), (0, 0))).reshape(num_chunks, w_chunk, batch, config.action_dim)
    cond_rows = _tile(conditions, w_chunk)  # row r = (w index r // B, sample r % B)
    obs_rows = None if observations is None else _tile(observations, w_chunk)

    def integrate(args):
        w_vec, x_start = args
        rows = x_start.reshape(w_chunk * batch, config.action_dim)
        x_1 = sample_rows(params, config, rows, cond_rows, obs_rows, jnp.repeat(w_vec, batch), flow_steps=flow_steps)
        return x_1.reshape(w_chunk, batch, config.action_dim)

    x_1 = jax.lax.map(integrate, (ws_c, x_0c)).reshape(num_chunks * w_chunk, batch, config.action_dim)[:num_w]
    if clip is not None:
        x_1 = jnp.clip(x_1, -clip, clip)
    return x_1


def sample_guided(
    params,
    config: ModelConfig,
    key: jax.Array,
    conditions,
    ws,
    observations=None,
    *,
    flow_steps: int = 16,
    clip: float | None = None,
    shared_noise: bool = True,
) -> jax.Array:
    """Sample actions from pi_w for every w in `ws` in one jitted call.

    conditions: [B] int labels or [B, C] goals (one per sample); observations: [B, O] or None;
    ws: [W] guidance weights. Returns x_1: [W, B, A].
    shared_noise=True starts every w from the same x_0 (common random numbers: the samples move smoothly
    as w changes, which is what a slider should show; each w's marginal is unaffected).
    clip: if given, clip the final action to [-clip, clip] (the authors clip to [-1, 1] once at the end).
    """
    flow_steps = check_flow_steps(flow_steps)
    ws = check_finite("ws", np.atleast_1d(np.asarray(ws, np.float32)))
    if ws.ndim != 1:
        raise ValueError(f"ws must be a 1-D vector of guidance weights, got shape {ws.shape}")
    conditions = jnp.asarray(conditions)
    if config.num_labels > 0:
        if conditions.ndim != 1 or not jnp.issubdtype(conditions.dtype, jnp.integer):
            raise ValueError(f"labels must be an int array [B], got {conditions.dtype} {conditions.shape}")
    elif conditions.ndim != 2 or conditions.shape[1] != config.cond_dim:
        raise ValueError(f"goals must have shape [B, {config.cond_dim}], got {conditions.shape}")
    if config.obs_dim > 0:
        if observations is None:
            raise ValueError(f"the model expects observations [B, {config.obs_dim}], got None")
        observations = jnp.asarray(observations)
        if observations.shape != (conditions.shape[0], config.obs_dim):
            raise ValueError(
                f"observations must have shape [{conditions.shape[0]}, {config.obs_dim}], got {observations.shape}"
            )
    elif observations is not None:
        raise ValueError("this model takes no observations (obs_dim=0), but observations were given")
    if clip is not None and not clip > 0:
        raise ValueError(f"clip must be positive or None, got {clip}")
    return _sample_guided(
        params,
        key,
        conditions,
        jnp.asarray(ws),
        observations,
        config=config,
        flow_steps=flow_steps,
        clip=clip,
        shared_noise=shared_noise,
    )
