"""Exact tilts of the toys, exact Gaussian-mixture flow velocities, and the sample distances."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cfgrl_core.guidance import euler_integrate
from cfgrl_core.toys import gmm
from cfgrl_core.toys import product_toy as toy
from cfgrl_core.toys.metrics import mmd, sliced_wasserstein

TOY = toy.EllipseToy()


def test_reference_samples_are_uniform_in_the_ellipse():
    x = toy.sample_reference(TOY, np.random.default_rng(0), 50_000)
    assert (toy.reference_density(TOY, x) > 0).all()
    # uniform on an ellipse: covariance = R diag(a^2/4, b^2/4) R^T
    r, (a, b) = TOY.rotation, TOY.semi_axes
    assert np.allclose(np.cov(x.T), r @ np.diag([a**2 / 4, b**2 / 4]) @ r.T, atol=0.02)


def test_grid_density_integrates_to_one_and_w0_is_the_reference():
    xs, ys, pts = toy.grid(TOY, 300)
    cell = (xs[1] - xs[0]) * (ys[1] - ys[0])
    dens = toy.exact_tilt_density(TOY, pts, [0.0, 2.0])
    assert np.allclose(dens.sum((1, 2)) * cell, 1.0)
    ref = toy.reference_density(TOY, pts)
    assert np.allclose(dens[0], ref / (ref.sum() * cell))


def test_closed_form_tilt_of_a_linear_exponential():
    # With f = exp(A) on pi_hat uniform on [-1, 1] x [-1, 1] (approximated by the grid) E_w[A] is known:
    # for density ∝ e^{w x} on [-1, 1], E[x] = coth(w) - 1/w. Check the same identity with our weights.
    x = np.linspace(-1, 1, 200_001)
    for w in (0.5, 2.0, 5.0):
        wt = toy.tilt_weights(np.exp(x), w)
        assert np.isclose((wt * x).sum() / wt.sum(), 1 / np.tanh(w) - 1 / w, atol=1e-6)


def test_exact_expectation_agrees_with_importance_resampling():
    ws = [0.0, 1.0, 4.0]
    grid_mean = toy.exact_expectation(TOY, ws)
    samples = toy.resample_tilt(TOY, np.random.default_rng(1), ws, 20_000, n_proposal=400_000)
    assert np.allclose(toy.advantage(TOY, samples).mean(-1), grid_mean, atol=0.02)
    assert np.all(np.diff(grid_mean) > 0)


def test_resampling_is_unbiased_when_the_proposal_is_small():
    # Drawing n of n_proposal without replacement would take most of the proposal at large w and pull the mean
    # back towards pi_hat; with replacement the resampled mean stays on the exact one.
    ws = [8.0]
    exact = toy.exact_expectation(TOY, ws)
    samples = toy.resample_tilt(TOY, np.random.default_rng(2), ws, 15_000, n_proposal=20_000)
    assert np.allclose(toy.advantage(TOY, samples).mean(-1), exact, atol=0.02)
    q = (0.1, 0.9)
    gmm_samples = gmm.exact_tilt_samples(MIX, q, 3, ws, 15_000, n_proposal=20_000)
    log_p = np.asarray(gmm.log_p_optimal(MIX, q, gmm_samples[0]))
    big = gmm.exact_tilt_samples(MIX, q, 4, ws, 15_000, n_proposal=400_000)
    assert abs(log_p.mean() - np.asarray(gmm.log_p_optimal(MIX, q, big[0])).mean()) < 0.02


def test_deterministic_labels_make_the_tilt_independent_of_w():
    _, _, pts = toy.grid(TOY, 100)
    dens = toy.exact_tilt_density(TOY, pts, [0.5, 1.0, 7.0], hard=True)
    assert np.abs(dens - dens[1]).max() < 1e-12


def test_negative_w_is_refused():
    with pytest.raises(ValueError, match="w must be >= 0"):
        toy.tilt_weights(np.ones(3), -1.0)


def test_labels_follow_the_sigmoid():
    ds = toy.label_dataset(TOY, np.random.default_rng(0), 100_000)
    adv = toy.advantage(TOY, ds["actions"])
    near_zero = np.abs(adv) < 0.05
    assert abs(ds["conditions"][near_zero].mean() - 0.5) < 0.05
    assert ds["conditions"][adv > 1.5].mean() > 0.93


MIX = gmm.Mixture(means=((-1.0, 0.0), (1.5, 0.5)), stds=(0.3, 0.6), weights=(0.3, 0.7))


def test_gmm_velocity_matches_a_monte_carlo_conditional_expectation():
    # v(x, t) = E[x_1 - x_0 | x_t = x]: estimate it by kernel regression on samples of the path.
    key0, key1 = jax.random.split(jax.random.key(0))
    n, t = 2_000_000, 0.6
    x_1 = gmm.sample(MIX, key0, n)
    x_0 = jax.random.normal(key1, (n, 2))
    x_t = (1 - t) * x_0 + t * x_1
    query = jnp.array([0.2, 0.1])
    w = jnp.exp(-((x_t - query) ** 2).sum(-1) / (2 * 0.05**2))
    mc = (w[:, None] * (x_1 - x_0)).sum(0) / w.sum()
    assert jnp.allclose(gmm.velocity(MIX, query, t), mc, atol=0.05)


def test_exact_gmm_velocity_transports_noise_to_the_mixture():
    x_0 = jax.random.normal(jax.random.key(1), (20_000, 2))
    x_1 = np.asarray(euler_integrate(lambda x, t: gmm.velocity(MIX, x, t), x_0, 200))
    target = np.asarray(gmm.sample(MIX, jax.random.key(2), 20_000))
    assert np.allclose(x_1.mean(0), target.mean(0), atol=0.03)
    assert sliced_wasserstein(x_1, target) < 0.05


def test_guided_exact_velocities_match_product_at_w0_and_w1_only():
    q = (0.2, 0.9)
    ws = [0.0, 1.0, 6.0]
    guided = np.asarray(gmm.guided_samples(MIX, q, jax.random.key(0), ws, 8000))
    exact = gmm.exact_tilt_samples(MIX, q, 1, ws, 8000)
    d = [sliced_wasserstein(guided[i], exact[i]) for i in range(3)]
    assert d[0] < 0.05 and d[1] < 0.05
    assert d[2] > 0.1


def test_sliced_wasserstein_of_a_shift_and_mmd_sign():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5000, 2))
    # SW_2 of a shift by s along e_1 is |s| times RMS of |<theta, e_1>| over the sphere = s / sqrt(2) in 2-D
    sw = sliced_wasserstein(x, x + np.array([1.0, 0.0]), num_projections=2000)
    assert np.isclose(sw, 1 / np.sqrt(2), atol=0.03)
    assert sliced_wasserstein(x, x) == 0.0
    assert abs(mmd(x, rng.normal(size=(5000, 2)))) < 0.005 < mmd(x, x + 1.0)
    with pytest.raises(ValueError, match="same D"):
        sliced_wasserstein(x, np.zeros((10, 3)))
