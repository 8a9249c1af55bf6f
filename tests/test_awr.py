"""AWR weights, losses and training; per-example gradient norms; ESS; the bandit's exact quantities."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cfgrl_core.agents import awr
from cfgrl_core.toys import bandit
from cfgrl_core.toys.per_example import (
    effective_sample_size,
    ess_fraction,
    per_example_grad_norms,
    per_example_grads,
    top_share,
)
from cfgrl_core.train import TrainConfig

LOSS = jax.jit(awr.awr_loss, static_argnames="config")
GAUSS = awr.AWRConfig(action_dim=2, obs_dim=3, policy="gaussian", hidden_dims=(8, 8))
FLOW = awr.AWRConfig(action_dim=2, obs_dim=3, policy="flow", hidden_dims=(8, 8))


def _batch(n=6, seed=0):
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    return {
        "observations": jax.random.normal(k1, (n, 3)),
        "actions": jax.random.normal(k2, (n, 2)),
        "advantages": jax.random.normal(k3, (n,)),
    }


# ---- AWR weights -------------------------------------------------------------------------------------------


def test_awr_weights_are_exp_of_a_over_beta_below_the_clip():
    adv = jnp.array([-2.0, -0.5, 0.0, 0.3, 1.0])
    for inv_beta in (1.0, 3.0):
        assert np.allclose(awr.awr_weights(adv, inv_beta), np.exp(np.asarray(adv) * inv_beta), rtol=1e-6)


def test_awr_weights_clip_at_max_weight_without_overflow():
    adv = jnp.array([0.1, 0.15, 0.5, 100.0])
    u = np.asarray(awr.awr_weights(adv, 30.0))
    assert np.isfinite(u).all()
    assert np.allclose(u, [np.exp(3.0), np.exp(4.5), 100.0, 100.0], rtol=1e-6)  # exp(4.5) = 90 < 100
    assert np.allclose(awr.awr_weights(adv, 1e4, max_weight=7.0), 7.0)


def test_zero_temperature_is_behaviour_cloning():
    adv = jax.random.normal(jax.random.key(0), (50,)) * 10
    assert np.array_equal(np.asarray(awr.awr_weights(adv, 0.0)), np.ones(50))
    batch = _batch()
    bc = {**batch, "advantages": jnp.zeros(6)}
    for config in (GAUSS, FLOW):
        params = awr.init_policy_params(config, jax.random.key(1))
        loss, _ = LOSS(params, batch, jax.random.key(2), 0.0, config=config)
        loss_bc, info = LOSS(params, bc, jax.random.key(2), 5.0, config=config)
        assert np.isclose(loss, loss_bc, rtol=1e-6) and np.isclose(loss, info["unweighted_loss"], rtol=1e-6)


def test_temperature_to_infinity_is_filtered_bc():
    adv = jnp.array([-0.3, -0.01, 0.02, 0.4])
    u = np.asarray(awr.awr_weights(adv, 1e6))
    assert np.allclose(u / u.max(), [0.0, 0.0, 1.0, 1.0])


def test_gaussian_loss_is_weighted_negative_log_likelihood():
    batch = _batch()
    params = awr.init_policy_params(GAUSS, jax.random.key(3))
    loss, _ = awr.awr_loss(params, batch, jax.random.key(0), 3.0, config=GAUSS)
    mean, log_std = awr.GaussianActor(GAUSS).apply(params, batch["observations"])
    sd = np.exp(np.asarray(log_std))
    nll = -np.sum(
        -0.5 * ((np.asarray(batch["actions"]) - np.asarray(mean)) / sd) ** 2 - np.log(sd * np.sqrt(2 * np.pi)),
        axis=-1,
    )
    u = np.minimum(np.exp(3.0 * np.asarray(batch["advantages"])), 100.0)
    assert np.isclose(float(loss), np.mean(u * nll), rtol=1e-5)


def test_fit_trains_every_temperature_and_seed_and_weighted_ml_moves_the_mean():
    # Two actions per state: +1 (A = +1) and -1 (A = -1). BC's mean is 0; AWR with 1/beta = 3 moves it to
    # the weighted mean (e^3 - e^-3) / (e^3 + e^-3) = tanh(3) ~ 0.995.
    n = 512
    obs = np.zeros((n, 1), np.float32)
    acts = np.where(np.arange(n) % 2 == 0, 1.0, -1.0).astype(np.float32)[:, None]
    data = {"observations": obs, "actions": acts, "advantages": acts[:, 0].copy()}
    config = awr.AWRConfig(action_dim=1, obs_dim=1, hidden_dims=(16,))
    state, losses = awr.fit(
        jax.random.key(0),
        data,
        [0.0, 3.0],
        num_seeds=2,
        num_steps=600,
        config=config,
        train_config=TrainConfig(batch_size=128, learning_rate=1e-2),
        steps_per_call=300,
        progress=False,
    )
    assert losses.shape == (2, 2, 600)
    means = np.array(
        [
            [
                float(
                    awr.gaussian_mean_action(
                        jax.tree_util.tree_map(lambda x, i=i, j=j: x[i, j], state.params),
                        jnp.zeros((1, 1)),
                        config=config,
                    )[0, 0]
                )
                for j in range(2)
            ]
            for i in range(2)
        ]
    )
    assert np.abs(means[0]).max() < 0.15  # BC: between the two actions
    assert np.abs(means[1] - np.tanh(3.0)).max() < 0.15  # AWR: the weighted mean


def test_config_and_fit_reject_bad_input():
    with pytest.raises(ValueError, match="policy"):
        awr.AWRConfig(action_dim=1, obs_dim=1, policy="tanh")
    data = {"observations": np.zeros((8, 1)), "actions": np.zeros((8, 1)), "advantages": np.zeros(8)}
    config = awr.AWRConfig(action_dim=1, obs_dim=1, hidden_dims=(4,))
    with pytest.raises(ValueError, match="inv_betas"):
        awr.fit(
            jax.random.key(0),
            data,
            [-1.0],
            num_seeds=1,
            num_steps=1,
            config=config,
            train_config=TrainConfig(batch_size=4),
            progress=False,
        )


def test_flow_policy_samples_are_euler_steps_of_its_velocity_from_gaussian_noise():
    """x_1 = x_0 + sum_k v(x_k, k/K, s) / K from x_0 ~ N(0, I) drawn with the caller's key (K Euler steps), each row
    with its own observation: written out by hand with the policy's velocity for K = 1 and K = 3."""
    params = awr.init_policy_params(FLOW, jax.random.key(0))
    obs = jax.random.normal(jax.random.key(2), (5, 3))
    x_0 = jax.random.normal(jax.random.key(1), (5, 2))
    for k in (1, 3):
        x = x_0
        for i in range(k):
            x = x + awr._flow_velocity(params, FLOW, x, jnp.full((5, 1), i / k), obs) / k
        got = awr.sample_flow_policy(params, jax.random.key(1), obs, config=FLOW, flow_steps=k)
        np.testing.assert_allclose(got, x, atol=1e-5)
    assert not np.allclose(x, x_0, atol=1e-3)  # the velocity moves the samples


# ---- per-example gradients ---------------------------------------------------------------------------------


@pytest.mark.parametrize("config", [GAUSS, FLOW], ids=lambda c: c.policy)
def test_per_example_grad_norms_equal_a_python_loop(config):
    batch = _batch(n=5)
    params = awr.init_policy_params(config, jax.random.key(4))
    loss_fn = lambda p, b, k: awr.awr_loss(p, b, k, 3.0, config=config)
    key = jax.random.key(9)
    norms = np.asarray(jax.jit(per_example_grad_norms, static_argnums=0)(loss_fn, params, batch, key))
    keys = jax.random.split(key, 5)
    for i in range(5):
        single = jax.tree_util.tree_map(lambda x, i=i: x[i : i + 1], batch)
        g = jax.grad(lambda p, single=single, k=keys[i]: loss_fn(p, single, k)[0])(params)
        norm = np.sqrt(sum(float(jnp.sum(x**2)) for x in jax.tree_util.tree_leaves(g)))
        assert np.isclose(norms[i], norm, rtol=1e-4), (i, norms[i], norm)


def test_mean_of_per_example_grads_is_the_batch_gradient():
    batch = _batch(n=7)
    params = awr.init_policy_params(GAUSS, jax.random.key(5))
    loss_fn = lambda p, b, k: awr.awr_loss(p, b, k, 1.0, config=GAUSS)  # deterministic: no key dependence
    per = jax.jit(per_example_grads, static_argnums=0)(loss_fn, params, batch, jax.random.key(0))
    full = jax.jit(jax.grad(lambda p: loss_fn(p, batch, jax.random.key(0))[0]))(params)
    for a, b in zip(jax.tree_util.tree_leaves(per), jax.tree_util.tree_leaves(full), strict=True):
        assert np.allclose(np.asarray(a).mean(0), np.asarray(b), atol=1e-6)


# ---- effective sample size and top shares ------------------------------------------------------------------


def test_ess_of_known_weight_vectors():
    assert effective_sample_size(np.ones(10)) == pytest.approx(10.0)
    assert ess_fraction(np.full(64, 3.7)) == pytest.approx(1.0)
    assert ess_fraction(np.eye(50)[3]) == pytest.approx(1 / 50)
    assert effective_sample_size([1.0, 1.0, 0.0, 0.0]) == pytest.approx(2.0)
    assert effective_sample_size([3.0, 1.0]) == pytest.approx(16 / 10)
    with pytest.raises(ValueError):
        effective_sample_size([0.0, 0.0])
    with pytest.raises(ValueError):
        effective_sample_size([1.0, -1.0])


def test_top_share():
    v = np.arange(1, 101, dtype=float)  # 1..100
    assert top_share(v, 0.01) == pytest.approx(100 / v.sum())
    assert top_share(v, 0.10) == pytest.approx(v[-10:].sum() / v.sum())
    assert top_share(np.ones(1000), 0.1) == pytest.approx(0.1)
    assert top_share(np.ones(50), 0.01) == pytest.approx(1 / 50)  # at least one example
    assert top_share(np.eye(20)[5], 0.1) == pytest.approx(1.0)


# ---- the bandit --------------------------------------------------------------------------------------------


def test_bandit_behaviour_density_normalises_and_matches_its_samples():
    b = bandit.Bandit()
    s = bandit.evaluation_states(7)
    a = bandit.action_grid(4001)
    mass = np.trapezoid(bandit.behaviour_density(b, s[:, None], a), a, axis=-1)
    assert np.allclose(mass, 1.0, atol=1e-6)
    rng = np.random.default_rng(0)
    s_, a_ = bandit.sample_behaviour(b, rng, 200_000)
    assert a_.min() >= -1 and a_.max() <= 1 and s_.min() >= -1 and s_.max() <= 1
    # E[r] of the samples = E_s V(s) (quadrature), within Monte Carlo error
    v = bandit.state_value(b, bandit.evaluation_states(400)).mean()
    assert abs(bandit.reward(b, s_, a_).mean() - v) < 4 * bandit.reward(b, s_, a_).std() / np.sqrt(len(s_))


def test_bandit_advantages_and_labels():
    b = bandit.Bandit()
    data = bandit.make_dataset(b, np.random.default_rng(1), 20_000)
    assert abs(float(data["advantages"].mean())) < 0.01  # E_beta[A] = 0
    assert np.array_equal(data["conditions"], (data["advantages"] >= 0).astype(np.int32))
    assert data["observations"].shape == (20_000, 1) and data["actions"].shape == (20_000, 1)
    s = np.random.default_rng(2).uniform(-1, 1, 300)  # the interpolated V equals the quadrature
    assert np.abs(bandit.state_value_fast(b, s) - bandit.state_value(b, s)).max() < 1e-6


def test_bandit_tilts():
    b = bandit.Bandit()
    s = bandit.evaluation_states(50)
    bc = bandit.tilted_policy_stats(b, s, np.ones_like)
    assert np.allclose(bc["reward"], bandit.state_value(b, s), atol=1e-6) and np.allclose(bc["mass"], 1, atol=1e-6)
    filtered = bandit.tilted_policy_stats(b, s, lambda a: (a >= 0) * 1.0)
    huge = bandit.tilted_policy_stats(b, s, lambda a: np.asarray(awr.awr_weights(jnp.asarray(a), 1e5)))
    assert (filtered["reward"] > bc["reward"]).all()  # Theorem 1: filtering improves
    assert np.allclose(filtered["reward"], huge["reward"], atol=1e-3)  # clipped AWR -> filtered BC
    assert (bandit.best_reward(b, s) >= filtered["reward"]).all()
