"""Flow matching (Eq. 13): the path, its target velocity, and the loss at the exact velocity."""

import jax
import jax.numpy as jnp
import numpy as np

from cfgrl_core.flow import flow_matching_loss, interpolate, point_mass_velocity, sample_path, target_velocity


def test_interpolation_endpoints_and_midpoint():
    x_0, x_1 = jnp.array([[0.0, 2.0]]), jnp.array([[4.0, -2.0]])
    assert jnp.allclose(interpolate(x_0, x_1, jnp.zeros((1, 1))), x_0)  # noise at t = 0
    assert jnp.allclose(interpolate(x_0, x_1, jnp.ones((1, 1))), x_1)  # data at t = 1
    assert jnp.allclose(interpolate(x_0, x_1, jnp.full((1, 1), 0.5)), jnp.array([[2.0, 0.0]]))


def test_target_velocity_is_the_path_derivative():
    key = jax.random.key(0)
    x_0, x_1 = jax.random.normal(key, (2, 8, 3))
    t = jnp.full((8, 1), 0.3)
    eps = 1e-3
    finite_diff = (interpolate(x_0, x_1, t + eps) - interpolate(x_0, x_1, t)) / eps
    assert jnp.allclose(finite_diff, target_velocity(x_0, x_1), atol=1e-2)


def test_sample_path_shapes_and_time_range():
    x_1 = jnp.ones((1000, 2))
    t, x_t, vel = sample_path(jax.random.key(1), x_1)
    assert t.shape == (1000, 1) and x_t.shape == vel.shape == (1000, 2)
    assert float(t.min()) >= 0.0 and float(t.max()) < 1.0
    assert 0.45 < float(t.mean()) < 0.55


def test_loss_is_zero_for_the_exact_velocity_of_a_point_mass():
    c = jnp.array([0.7, -1.3])
    x_1 = jnp.broadcast_to(c, (512, 2))
    loss, info = flow_matching_loss(point_mass_velocity(c), x_1, jax.random.key(2))
    assert float(loss) < 1e-8
    assert float(info["flow_loss"]) == float(loss)


def test_loss_is_positive_for_a_wrong_velocity():
    x_1 = jnp.broadcast_to(jnp.array([0.7, -1.3]), (512, 2))
    loss, _ = flow_matching_loss(lambda x_t, t: jnp.zeros_like(x_t), x_1, jax.random.key(2))
    # E|x_1 - x_0|^2 / A = (|c|^2 + A) / A for x_0 ~ N(0, I)
    expected = (0.7**2 + 1.3**2 + 2) / 2
    assert np.isclose(float(loss), expected, rtol=0.15)
