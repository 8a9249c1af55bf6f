"""The exact log-density of the Euler sampler, checked where it is known in closed form.

A linear velocity field v(x, t) = alpha(t) x + beta(t) makes every Euler step affine, so the sampled policy is
N(m_K, g_K^2 I) exactly (m, g by the same recursion); guided linear fields stay linear, so KL(pi_w || pi_hat) is the
KL of two Gaussians. Notebook 01's exact mixture velocities carry N(0, I) to the mixture itself, so with fine steps
the density is the mixture's. A random network's policy integrates to 1 on a grid."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cfgrl_core import likelihood
from cfgrl_core.guidance import cfg_velocity_fn, euler_integrate, sample_rows
from cfgrl_core.networks import ModelConfig, VectorField
from cfgrl_core.toys import gmm


def gaussian_field(mu, s):
    """The rectified flow's exact velocity from N(0, I) to N(mu, diag(s^2)): linear in x, per dimension."""
    mu, s = jnp.asarray(mu, jnp.float32), jnp.asarray(s, jnp.float32)

    def coefficients(t):
        var_t = (1.0 - t) ** 2 + t**2 * s**2
        alpha = (t * s**2 - (1.0 - t)) / var_t
        return alpha, mu - alpha * t * mu

    return coefficients


def guided_field(cond, uncond, w):
    def coefficients(t):
        (a_c, b_c), (a_u, b_u) = cond(t), uncond(t)
        return a_u + w * (a_c - a_u), b_u + w * (b_c - b_u)

    return coefficients


def as_velocity(coefficients):
    def velocity(x, t):
        alpha, beta = coefficients(t)
        return alpha * x + beta

    return velocity


def euler_gaussian(coefficients, flow_steps):
    """(m_K, g_K) of the Euler map's output for x_0 ~ N(0, I): x_{k+1} = (1 + h alpha_k) x_k + h beta_k."""
    h = 1.0 / flow_steps
    m, g = np.zeros(2), np.ones(2)
    for k in range(flow_steps):
        alpha, beta = (np.asarray(c, np.float64) for c in coefficients(k * h))
        m, g = (1 + h * alpha) * m + h * beta, (1 + h * alpha) * g
    return m, np.abs(g)


def gaussian_log_prob(x, m, g):
    return (-0.5 * ((x - m) / g) ** 2 - np.log(g) - 0.5 * np.log(2 * np.pi)).sum(-1)


def gaussian_kl(m1, g1, m2, g2):
    return float((np.log(g2 / g1) + (g1**2 + (m1 - m2) ** 2) / (2 * g2**2) - 0.5).sum())


COND = gaussian_field([1.0, -0.5], [0.3, 0.6])
UNCOND = gaussian_field([0.0, 0.2], [1.0, 0.9])


@pytest.mark.parametrize("flow_steps", [4, 16])
def test_a_linear_field_has_the_closed_form_gaussian_density_both_ways(flow_steps):
    field = guided_field(COND, UNCOND, 2.5)
    velocity = as_velocity(field)
    m, g = euler_gaussian(field, flow_steps)
    x_0 = jax.random.normal(jax.random.key(0), (500, 2))
    x_k, log_p, det_min = likelihood.sample_log_prob(velocity, x_0, flow_steps)
    np.testing.assert_array_equal(x_k, euler_integrate(velocity, x_0, flow_steps))  # the sampler's own actions
    np.testing.assert_allclose(log_p, gaussian_log_prob(np.asarray(x_k, np.float64), m, g), rtol=5e-5, atol=2e-4)
    # With 4 steps the guided field's step at t = 0.75 reverses orientation (1 + h alpha < 0): a linear map stays
    # invertible and log|det| stays exact, but det_min says so; with 16 steps every step keeps orientation.
    assert (det_min > 0).all() == (flow_steps == 16)
    a = jnp.asarray(np.random.default_rng(1).normal(m, 2 * g, size=(300, 2)), jnp.float32)  # anywhere, not samples
    log_q, noise, residual = likelihood.log_prob(velocity, a, flow_steps)
    np.testing.assert_allclose(log_q, gaussian_log_prob(np.asarray(a, np.float64), m, g), rtol=5e-5, atol=2e-4)
    np.testing.assert_allclose(euler_integrate(velocity, noise, flow_steps), a, atol=1e-5)
    assert float(residual.max()) < 1e-5


def test_the_monte_carlo_kl_of_guided_linear_fields_matches_the_gaussian_kl():
    flow_steps = 16
    m_hat, g_hat = euler_gaussian(UNCOND, flow_steps)
    x_0 = jax.random.normal(jax.random.key(2), (20_000, 2))
    for w in (0.0, 1.0, 3.0):
        field = guided_field(COND, UNCOND, w)
        a, log_p_w, _ = likelihood.sample_log_prob(as_velocity(field), x_0, flow_steps)
        log_p_hat, _, residual = likelihood.log_prob(as_velocity(UNCOND), a, flow_steps)
        kl, se = likelihood.mean_and_se(log_p_w - log_p_hat)
        exact = gaussian_kl(*euler_gaussian(field, flow_steps), m_hat, g_hat)
        assert abs(float(kl) - exact) < 4 * float(se) + 1e-4, (w, float(kl), float(se), exact)
        assert float(residual.max()) < 1e-4
    assert exact > 1.0  # w = 3 moves far from pi_hat: the check is not a check of zeros


MIX = gmm.Mixture(means=((-1.5, -1.0), (1.5, -1.0), (-1.5, 1.0), (1.5, 1.0)), stds=(0.35,) * 4, weights=(0.25,) * 4)
Q = (0.1, 0.3, 0.5, 0.8)


def grid(lo=-3.5, hi=3.5, n=101):
    side = np.linspace(lo, hi, n, dtype=np.float32)
    xx, yy = np.meshgrid(side, side, indexing="ij")
    return jnp.asarray(np.stack([xx.ravel(), yy.ravel()], -1)), (side[1] - side[0]) ** 2


def test_the_exact_mixture_flow_reaches_the_mixture_density_and_the_kl_of_its_tilt():
    """With the mixture's exact velocities and 200 steps, the Euler map's density is the mixture's own (w = 1: the
    reweighted mixture; w = 0: the mixture), and KL(pi_1 || pi_0) is the mixtures' KL computed on a grid."""
    flow_steps = 200
    cond = MIX.reweighted(Q)
    points, cell = grid()
    log_q, _, residual = jax.jit(lambda a: likelihood.log_prob(lambda x, t: gmm.velocity(cond, x, t), a, flow_steps))(
        points
    )
    exact = gmm.log_density(cond, points)
    # The Euler map's density is not the ODE's: it converges at O(h) (measured: the largest |error| where
    # log p > -2 is 0.019 at 200 steps, 0.0047 at 800), largest in the tails where the field turns fast.
    bulk = np.asarray(exact) > -2
    np.testing.assert_allclose(np.asarray(log_q)[bulk], np.asarray(exact)[bulk], atol=0.03)
    assert float((jnp.exp(exact) * (exact - log_q)).sum() * cell) < 1e-3  # KL(mixture || Euler density) on the grid
    assert float(residual.max()) < 1e-4
    assert abs(float(jnp.exp(log_q).sum() * cell) - 1.0) < 0.01
    grid_kl = float((jnp.exp(exact) * (exact - gmm.log_density(MIX, points))).sum() * cell)
    x_0 = jax.random.normal(jax.random.key(3), (4000, 2))
    a, log_p_1, _ = jax.jit(lambda x: likelihood.sample_log_prob(lambda y, t: gmm.velocity(cond, y, t), x, flow_steps))(
        x_0
    )
    log_p_0, _, _ = jax.jit(lambda a: likelihood.log_prob(lambda y, t: gmm.velocity(MIX, y, t), a, flow_steps))(a)
    kl, se = likelihood.mean_and_se(log_p_1 - log_p_0)
    assert grid_kl > 0.1 and abs(float(kl) - grid_kl) < 4 * float(se) + 0.02, (float(kl), float(se), grid_kl)


CONFIG = ModelConfig(action_dim=2, hidden_dims=(32, 32), num_labels=2)


@pytest.fixture(scope="module")
def params():
    net = VectorField(CONFIG)
    x = jnp.zeros((1, 2))
    return net.init(jax.random.key(4), x, jnp.zeros((1, 1)), jnp.zeros(1, jnp.int32), jnp.zeros(1, bool), None)


def test_a_network_policy_integrates_to_one_and_its_kl_at_w_zero_is_zero(params):
    points, cell = grid(-5.0, 5.0, 161)
    labels = jnp.ones(points.shape[0], jnp.int32)
    for w in (0.0, 2.0):
        v = cfg_velocity_fn(params, CONFIG, labels, None, jnp.full(points.shape[0], w))
        log_q, _, residual = jax.jit(lambda a, v=v: likelihood.log_prob(v, a, 16))(points)
        assert abs(float(jnp.exp(log_q).sum() * cell) - 1.0) < 0.01 and float(residual.max()) < 1e-4
    out = likelihood.policy_kl(params, CONFIG, jax.random.key(5), jnp.ones(3, jnp.int32), [0.0, 1.0, 3.0],
                               num_samples=512)  # fmt: skip
    assert out["kl"].shape == (3, 3) and (out["det_min"] > 0).all() and out["residual"].max() < 1e-4
    np.testing.assert_allclose(out["kl"][0], 0.0, atol=1e-4)  # pi_0 is pi_hat: the same map both ways
    assert (out["kl"][2] > out["kl"][1]).all() and (out["kl"][2] > 4 * out["se"][2]).all()  # w = 3 moves away


def test_policy_kl_samples_what_the_sampler_samples(params):
    """policy_kl's actions are sample_rows' actions for the same noise, and their log-density is the one the
    inverse map gives at them."""
    v = cfg_velocity_fn(params, CONFIG, jnp.ones(64, jnp.int32), None, jnp.full(64, 2.0))
    x_0 = jax.random.normal(jax.random.key(6), (64, 2))
    a, log_p, _ = likelihood.sample_log_prob(v, x_0, 16)
    np.testing.assert_allclose(a, sample_rows(params, CONFIG, x_0, jnp.ones(64, jnp.int32), ws=jnp.full(64, 2.0),
                                              flow_steps=16), atol=1e-6)  # fmt: skip
    log_q, noise, _ = likelihood.log_prob(v, a, 16)
    np.testing.assert_allclose(log_q, log_p, atol=1e-3)
    np.testing.assert_allclose(noise, x_0, atol=1e-4)


def test_unconditional_field_is_the_w0_field(params):
    """pi_hat's field (one network pass on the null condition) is the guided field at w = 0."""
    x = jax.random.normal(jax.random.key(7), (32, 2))
    labels = jnp.ones(32, jnp.int32)
    guided = cfg_velocity_fn(params, CONFIG, labels, None, jnp.zeros(32))(x, 0.3)
    np.testing.assert_allclose(likelihood.unconditional_velocity_fn(params, CONFIG, labels)(x, 0.3), guided, atol=1e-5)
