"""Guided sampling: the CFG combination, Euler integration, and the batched w-vector sampler."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cfgrl_core.guidance import euler_integrate, guided_velocity, sample_guided
from cfgrl_core.networks import ModelConfig, VectorField, init_params


def test_w0_is_unconditional_and_w1_is_conditional():
    v_cond, v_uncond = jax.random.normal(jax.random.key(0), (2, 16, 3))
    assert jnp.array_equal(guided_velocity(v_cond, v_uncond, 0.0), v_uncond)
    assert jnp.allclose(guided_velocity(v_cond, v_uncond, 1.0), v_cond)
    assert jnp.allclose(guided_velocity(v_cond, v_uncond, 3.0), v_uncond + 3 * (v_cond - v_uncond))


@pytest.mark.parametrize("flow_steps", [1, 4, 32])
def test_euler_on_a_linear_field_matches_the_closed_form(flow_steps):
    # dx/dt = a x  ->  Euler with N steps gives x_0 (1 + a / N)^N exactly; the ODE gives x_0 e^a.
    a, x_0 = -0.8, jnp.array([[1.5, -2.0]])
    x_1 = euler_integrate(lambda x, t: a * x, x_0, flow_steps)
    assert jnp.allclose(x_1, x_0 * (1 + a / flow_steps) ** flow_steps, rtol=1e-5)


def test_euler_converges_to_the_ode_solution_with_time_dependence():
    # dx/dt = 2 t  ->  x(1) = x_0 + 1; Euler with t_i = i/N gives x_0 + (N - 1) / N.
    x_0 = jnp.zeros((1, 1))
    for n in (4, 64):
        x_1 = euler_integrate(lambda x, t: 2 * t * jnp.ones_like(x), x_0, n)
        assert np.isclose(float(x_1[0, 0]), (n - 1) / n, atol=1e-6)


@pytest.fixture(scope="module")
def tiny_model():
    config = ModelConfig(action_dim=2, hidden_dims=(16, 16), num_labels=2)
    return config, init_params(config, jax.random.key(0))


def test_guided_sampler_equals_manual_cfg_euler(tiny_model):
    config, params = tiny_model
    net = VectorField(config)
    labels = jnp.ones(5, jnp.int32)
    ws = jnp.array([0.0, 1.0, 2.5])
    key = jax.random.key(3)
    got = sample_guided(params, config, key, labels, ws, flow_steps=8)
    x_0 = jax.random.normal(key, (5, 2))
    for i, w in enumerate(ws):

        def v(x, t, w=w):
            tt = jnp.full((5, 1), t)
            vc = net.apply(params, x, tt, labels, jnp.zeros(5, bool))
            vu = net.apply(params, x, tt, labels, jnp.ones(5, bool))
            return vu + w * (vc - vu)

        assert jnp.allclose(got[i], euler_integrate(v, x_0, 8), atol=1e-5)


def test_guided_sampler_batches_observations_and_goals():
    config = ModelConfig(action_dim=3, hidden_dims=(16,), obs_dim=4, cond_dim=2)
    params = init_params(config, jax.random.key(0))
    obs = jax.random.normal(jax.random.key(1), (7, 4))
    goals = jax.random.normal(jax.random.key(2), (7, 2))
    x = sample_guided(params, config, jax.random.key(3), goals, [0.0, 1.0, 3.0], obs, clip=1.0)
    assert x.shape == (3, 7, 3)
    assert float(jnp.abs(x).max()) <= 1.0
    # against a manual CFG Euler loop with the observations and goals bound
    net = VectorField(config)
    got = sample_guided(params, config, jax.random.key(3), goals, [2.0], obs, flow_steps=4)[0]

    def v(x, t):
        tt = jnp.full((7, 1), t)
        vc = net.apply(params, x, tt, goals, jnp.zeros(7, bool), obs)
        vu = net.apply(params, x, tt, goals, jnp.ones(7, bool), obs)
        return vu + 2.0 * (vc - vu)

    assert jnp.allclose(got, euler_integrate(v, jax.random.normal(jax.random.key(3), (7, 3)), 4), atol=1e-5)


def test_w_vector_matches_separate_calls(tiny_model):
    config, params = tiny_model
    labels = jnp.ones(6, jnp.int32)
    both = sample_guided(params, config, jax.random.key(5), labels, [0.5, 4.0])
    one = sample_guided(params, config, jax.random.key(5), labels, [4.0])
    assert jnp.allclose(both[1], one[0], atol=1e-5)


@pytest.mark.parametrize("bad", [0, -3])
def test_non_positive_flow_steps_are_refused(tiny_model, bad):
    config, params = tiny_model
    with pytest.raises(ValueError, match="flow_steps must be positive"):
        sample_guided(params, config, jax.random.key(0), jnp.ones(2, jnp.int32), [1.0], flow_steps=bad)


def test_bad_sampler_inputs_are_refused(tiny_model):
    config, params = tiny_model
    key = jax.random.key(0)
    with pytest.raises(TypeError, match="flow_steps must be a positive int"):
        sample_guided(params, config, key, jnp.ones(2, jnp.int32), [1.0], flow_steps=2.5)
    with pytest.raises(ValueError, match="ws contains 1 non-finite"):
        sample_guided(params, config, key, jnp.ones(2, jnp.int32), [1.0, np.nan])
    with pytest.raises(ValueError, match="labels must be an int array"):
        sample_guided(params, config, key, jnp.ones((2, 2)), [1.0])
    with pytest.raises(ValueError, match="takes no observations"):
        sample_guided(params, config, key, jnp.ones(2, jnp.int32), [1.0], jnp.ones((2, 3)))
    goal_config = ModelConfig(action_dim=2, hidden_dims=(8,), obs_dim=3, cond_dim=2)
    goal_params = init_params(goal_config, key)
    with pytest.raises(ValueError, match=r"goals must have shape \[B, 2\]"):
        sample_guided(goal_params, goal_config, key, jnp.ones((4, 5)), [1.0], jnp.ones((4, 3)))
    with pytest.raises(ValueError, match=r"observations must have shape \[4, 3\]"):
        sample_guided(goal_params, goal_config, key, jnp.ones((4, 2)), [1.0], jnp.ones((4, 2)))


def test_w_chunks_with_padding_match_separate_calls(tiny_model):
    # 300 states: 2048 rows per call hold 3 values of w, so 7 values run as 3 chunks (2 padded slots)
    config, params = tiny_model
    labels = jnp.ones(300, jnp.int32)
    ws = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0]
    all_w = sample_guided(params, config, jax.random.key(9), labels, ws, flow_steps=4)
    assert all_w.shape == (7, 300, 2)
    for i in (0, 4, 6):
        one = sample_guided(params, config, jax.random.key(9), labels, [ws[i]], flow_steps=4)
        assert jnp.allclose(all_w[i], one[0], atol=1e-5)


def test_bfloat16_matmuls_stay_close_to_float32(tiny_model):
    import dataclasses

    config, params = tiny_model
    bf16 = dataclasses.replace(config, compute_dtype="bfloat16")  # same parameters, mixed-precision matmuls
    labels = jnp.ones(500, jnp.int32)
    a = sample_guided(params, config, jax.random.key(2), labels, [0.0, 3.0])
    b = sample_guided(params, bf16, jax.random.key(2), labels, [0.0, 3.0])
    assert float(jnp.abs(a - b).max()) < 0.05
    with pytest.raises(ValueError, match="compute_dtype"):
        dataclasses.replace(config, compute_dtype="float16")
