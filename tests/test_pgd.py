"""Policy-Guided Diffusion (cfgrl_core.pgd): guidance, closed forms, windows, measures, files."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cfgrl_core.experiments import pgd_pointmass as experiment
from cfgrl_core.experiments.resumable import train_resumable
from cfgrl_core.guidance import euler_integrate
from cfgrl_core.io.checkpoints import CheckpointDir
from cfgrl_core.io.provenance import file_sha256
from cfgrl_core.pgd import measures, pointmass, policy_guidance, tilt, trajectory_model, world_model
from cfgrl_core.pgd.windows import Normaliser, WindowLayout, make_windows, window_starts
from cfgrl_core.toys import gmm
from cfgrl_core.train import create_runs

WORLD = pointmass.PointMassWorld()


@pytest.fixture(scope="module")
def data():
    return pointmass.generate_dataset(pointmass.Recipe(num_episodes=60, seed=3))


def tiny_model(layout, key=0, seeds=1):
    config = trajectory_model.model_config(layout, hidden=(32, 32))
    learner = trajectory_model.trajectory_learner(config)
    return create_runs(learner, jax.random.split(jax.random.key(key), seeds)).params, config


# ---------------------------------------------------------------------------------------------------------
# Guidance
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("guidance", [policy_guidance.DEFAULT, policy_guidance.CODE_STYLE])
def test_lambda_zero_is_the_unguided_sampler_exactly(data, guidance):
    ws = make_windows(data, 8, 4)
    norm = Normaliser.fit(ws.x)
    params, config = tiny_model(ws.layout)
    p = trajectory_model.seed_params(params, 0)
    key = jax.random.key(5)
    unguided = trajectory_model.generate(p, config, ws.layout, norm, key, 64, flow_steps=12)
    guided = trajectory_model.generate(p, config, ws.layout, norm, key, 64, lam=0.0, target=pointmass.TARGET,
                                       flow_steps=12, guidance=guidance)  # fmt: skip
    np.testing.assert_array_equal(guided, unguided)
    moved = trajectory_model.generate(p, config, ws.layout, norm, key, 64, lam=1.0, target=pointmass.TARGET,
                                      flow_steps=12, guidance=guidance)  # fmt: skip
    mask = ws.layout.action_mask()
    assert np.abs(moved - unguided)[:, mask].max() > 1e-3  # and a positive lambda does move the actions


def test_lambda_zero_analytic_velocity():
    mix = gmm.Mixture(means=((0.0, 1.0), (1.0, -1.0)), stds=(0.4, 0.3), weights=(0.5, 0.5))
    x_0 = jax.random.normal(jax.random.key(0), (256, 2))

    def velocity(x, t):
        return gmm.velocity(mix, x, t)

    plain = jax.jit(lambda x: euler_integrate(velocity, x, 20))(x_0)
    for guidance in (policy_guidance.DEFAULT, policy_guidance.CODE_STYLE,
                     policy_guidance.PolicyGuidance(evaluate_at="noisy")):  # fmt: skip
        guided = jax.jit(lambda x, g=guidance: policy_guidance.sample(velocity, lambda z: -z, x, 0.0, flow_steps=20,
                                                                      guidance=g))(x_0)  # fmt: skip
        np.testing.assert_array_equal(np.asarray(guided), np.asarray(plain))


GAUSS_B, GAUSS_Q = np.array([0.5, -0.5]), np.array([1.5, 1.0])  # unit-variance behaviour and target


def guided_gaussian(lam, guidance=policy_guidance.DEFAULT, flow_steps=200, n=20_000):
    mix = gmm.Mixture(means=(tuple(GAUSS_B),), stds=(1.0,), weights=(1.0,))
    x_0 = jax.random.normal(jax.random.key(1), (n, 2))
    grad = lambda z: -(z - jnp.asarray(GAUSS_Q))  # noqa: E731
    run = jax.jit(lambda x: policy_guidance.sample(lambda x_, t: gmm.velocity(mix, x_, t), grad, x, lam,
                                                   flow_steps=flow_steps, guidance=guidance))  # fmt: skip
    return np.asarray(run(x_0))


def test_guided_gaussian_matches_the_closed_form_product_at_weak_guidance():
    """Stated tolerance: for N(m_b, I) x N(m_q, I)^lambda with lambda = 0.25 (the product's mean a fifth of the
    way to m_q), the guided denoiser's samples (200 Euler steps, exact behaviour velocity) have mean within 0.06
    and std within 0.06 of the closed form. The approximation log E[q^lambda | x_t] ~ lambda log q(x1_hat) ignores
    the posterior spread of x_1, so it over-tilts, and the bias grows with lambda (checked too)."""
    mean, std = tilt.gaussian_product(GAUSS_B, 1.0, GAUSS_Q, 1.0, 0.25)
    x = guided_gaussian(0.25)
    assert np.abs(x.mean(0) - mean).max() < 0.06
    assert np.abs(x.std(0) - std).max() < 0.06
    mean_1, _ = tilt.gaussian_product(GAUSS_B, 1.0, GAUSS_Q, 1.0, 1.0)
    bias_1 = np.linalg.norm(guided_gaussian(1.0).mean(0) - mean_1)
    assert bias_1 > 2 * np.linalg.norm(x.mean(0) - mean)
    # the overshoot points towards the target: guidance tilts too much, never too little
    assert np.dot(guided_gaussian(1.0).mean(0) - mean_1, GAUSS_Q - GAUSS_B) > 0


def test_exact_tilted_velocity_samples_the_product():
    """The tilted density is a Gaussian (mixture) again; its own flow velocity samples it (the reference sampler of
    notebook 06's Figure 3)."""
    means, stds, weights = tilt.tilt_mixture([GAUSS_B], [1.0], [1.0], GAUSS_Q, 1.0, 1.0)
    mean, std = tilt.gaussian_product(GAUSS_B, 1.0, GAUSS_Q, 1.0, 1.0)
    np.testing.assert_allclose(means[0], mean)
    mix = gmm.Mixture(tuple(map(tuple, means)), tuple(stds), tuple(weights))
    x = np.asarray(jax.jit(lambda x: euler_integrate(lambda x_, t: gmm.velocity(mix, x_, t), x, 200))(
        jax.random.normal(jax.random.key(2), (20_000, 2))))  # fmt: skip
    assert np.abs(x.mean(0) - mean).max() < 0.02 and np.abs(x.std(0) - std).max() < 0.02


def test_shift_schedule_and_normalisation():
    n = 10
    lam = np.asarray(policy_guidance.shift_schedule(jnp.arange(n), n, 0.3))
    assert lam[-1] == 0.0
    np.testing.assert_allclose(lam[0], 1.0 + 0.3 * np.sin(np.pi / n), rtol=1e-6)
    np.testing.assert_allclose(lam[:-1], (1 - np.arange(n - 1) / n) + 0.3 * np.sin(np.pi * np.arange(1, n) / n),
                               rtol=1e-6)  # fmt: skip
    # a zero gradient: eps is inside the denominator, so the step is 0, not NaN (the released code's bug)
    v = policy_guidance.guided_velocity_fn(lambda x, t: x * 0, lambda z: z * 0, 1.0, policy_guidance.CODE_STYLE, n)
    assert np.isfinite(np.asarray(v(jnp.ones((3, 4)), 0.0))).all()
    # the per-window step has length N * lambda_k (the sample moves by lambda_k per Euler step)
    v = policy_guidance.guided_velocity_fn(
        lambda x, t: x * 0, lambda z: z * 0 + 3.0, 0.5, policy_guidance.CODE_STYLE, n
    )
    np.testing.assert_allclose(np.linalg.norm(np.asarray(v(jnp.ones((2, 4)), 0.0)), axis=-1), n * 0.5 * lam[0],
                               rtol=1e-5)  # fmt: skip


def test_guidance_options_are_checked():
    with pytest.raises(ValueError, match="mode"):
        policy_guidance.PolicyGuidance(mode="logit")
    with pytest.raises(ValueError, match="evaluate_at"):
        policy_guidance.PolicyGuidance(evaluate_at="clean")
    with pytest.raises(ValueError, match=">= 0"):
        tilt.gaussian_product(0.0, 1.0, 1.0, 1.0, -1.0)


# ---------------------------------------------------------------------------------------------------------
# Closed forms
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0, 10.0])
def test_tilted_mixture_closed_form_matches_a_grid(lam):
    means, stds, weights = [(-1.5, 0.0), (0.5, 1.2), (1.0, -1.0)], [0.4, 0.4, 0.4], [0.5, 0.3, 0.2]
    mq, sq = np.array([1.8, 1.5]), np.sqrt(0.5)
    g = np.linspace(-4, 4, 321)
    xy = np.stack(np.meshgrid(g, g), -1)
    log_grid = tilt.mixture_log_density(means, stds, weights, xy) + lam * (-0.5 * ((xy - mq) ** 2).sum(-1) / sq**2)
    grid = np.exp(log_grid - log_grid.max())
    grid /= grid.sum() * (g[1] - g[0]) ** 2
    closed = np.exp(tilt.mixture_log_density(*tilt.tilt_mixture(means, stds, weights, mq, sq, lam), xy))
    assert np.abs(closed - grid).max() < 1e-3 * closed.max()


def test_log_normaliser_is_the_integral():
    mb, mq, sb, sq, lam = np.array([0.3, -0.2]), np.array([1.0, 0.5]), 0.5, 0.2, 0.7
    g = np.linspace(-3, 3, 601)
    a = np.stack(np.meshgrid(g, g), -1)
    nb = np.exp(-0.5 * ((a - mb) ** 2).sum(-1) / sb**2) / (2 * np.pi * sb**2)
    nq = np.exp(-0.5 * ((a - mq) ** 2).sum(-1) / sq**2) / (2 * np.pi * sq**2)
    integral = (nb * nq**lam).sum() * (g[1] - g[0]) ** 2
    np.testing.assert_allclose(np.exp(tilt.log_normaliser(mb, sb, mq, sq, lam)), integral, rtol=1e-4)


def test_exact_pgd_weights_favour_states_where_the_policies_agree():
    rng = np.random.default_rng(0)
    s0 = np.zeros((2000, 2), np.float32)
    st, _, log_w = tilt.product_policy_windows(WORLD, pointmass.BEHAVIOUR, pointmass.TARGET, 1.0, s0, 8, rng)
    log_z = tilt.log_z_state(pointmass.BEHAVIOUR, pointmass.TARGET, 1.0, st[:, :-1]).sum(1)
    np.testing.assert_allclose(log_w, log_z, rtol=1e-6)
    pick, ess = tilt.resample(log_w, 2000, rng)
    assert 1 < ess < 2000
    assert log_w[pick].mean() > log_w.mean()


# ---------------------------------------------------------------------------------------------------------
# Windows, data and measures
# ---------------------------------------------------------------------------------------------------------
def handmade_episodes(lengths_and_terminal):
    rows = {k: [] for k in pointmass.DATA_KEYS}
    rng = np.random.default_rng(0)
    for e, (length, term) in enumerate(lengths_and_terminal):
        s = rng.normal(size=(length + 1, 2)).astype(np.float32)
        rows["observations"].append(s[:-1])
        rows["next_observations"].append(s[1:])
        rows["actions"].append(rng.normal(size=(length, 2)).astype(np.float32))
        rows["rewards"].append(np.arange(length, dtype=np.float32) + 100 * e)
        t = np.zeros(length, bool)
        t[-1] = term
        rows["terminals"].append(t)
        rows["timeouts"].append(~t & (np.arange(length) == length - 1))
        rows["episode_ids"].append(np.full(length, e, np.int32))
    return {k: np.concatenate(v) for k, v in rows.items()}


def test_windows_stay_inside_episodes_and_keep_terminals():
    data = handmade_episodes([(20, False), (5, True), (17, True), (8, True)])
    ws = make_windows(data, 8, 4)
    assert ws.dropped_episodes == 1  # the 5-step episode
    parts = ws.layout.unflatten(ws.x)
    for i in range(len(ws.x)):
        e, s0 = ws.episode_ids[i], ws.starts[i]
        rows = np.flatnonzero(data["episode_ids"] == e)[s0 : s0 + 8]
        assert len(rows) == 8 and (data["episode_ids"][rows] == e).all()  # never crosses a boundary
        np.testing.assert_array_equal(parts["rewards"][i], data["rewards"][rows])
        np.testing.assert_array_equal(parts["states"][i, 1:], data["next_observations"][rows])
        assert (parts["dones"][i, :-1] == 0).all()  # a terminal only ever in the last row
    assert sorted(set(ws.starts[ws.episode_ids == 0])) == [0, 4, 8, 12]
    for e in (2, 3):  # every episode long enough keeps its terminal transition, with its next state
        last = np.flatnonzero(data["episode_ids"] == e)[-1]
        sel = (ws.episode_ids == e) & (parts["dones"][:, -1] == 1)
        assert sel.sum() == 1
        np.testing.assert_array_equal(parts["states"][sel][0, -1], data["next_observations"][last])
    assert window_starts(17, 8, 4) == [0, 4, 8, 9]


def test_layout_round_trips():
    layout = WindowLayout(5)
    rng = np.random.default_rng(1)
    states, actions = rng.normal(size=(3, 6, 2)), rng.normal(size=(3, 5, 2))
    rewards, dones = rng.normal(size=(3, 5)), (rng.random((3, 5)) > 0.5).astype(float)
    x = layout.flatten(states, actions, rewards, dones)
    assert x.shape == (3, layout.dim) and layout.action_mask().sum() == 10
    back = layout.unflatten(x)
    for k, v in (("states", states), ("actions", actions), ("rewards", rewards), ("dones", dones)):
        np.testing.assert_allclose(back[k], v, rtol=1e-6)
    np.testing.assert_allclose(x[:, layout.action_mask()], actions.reshape(3, -1), rtol=1e-6)


def test_dynamics_error_is_zero_on_real_data(data):
    assert data["terminals"].sum() > 0  # the pit ends some episodes
    one = {
        "states": np.stack([data["observations"], data["next_observations"]], 1),
        "actions": data["actions"][:, None],
    }
    assert measures.dynamics_error(WORLD, **one) == 0.0
    assert measures.reward_error(WORLD, **one, rewards=data["rewards"][:, None]) == 0.0
    parts = make_windows(data, 16, 4).layout.unflatten(make_windows(data, 16, 4).x)
    assert measures.dynamics_errors(WORLD, parts["states"], parts["actions"]).max() == 0.0
    shifted = parts["states"].copy()
    shifted[:, -1] += 0.01  # a wrong final state: only the last transition is off, by 0.01 sqrt 2
    errors = measures.dynamics_errors(WORLD, shifted, parts["actions"])
    assert errors[:, :-1].max() == 0.0
    np.testing.assert_allclose(errors[:, -1], 0.01 * np.sqrt(2), rtol=1e-3)


def test_dataset_is_seeded_saved_with_its_recipe_and_checked(tmp_path, data):
    recipe = pointmass.Recipe(num_episodes=60, seed=3)
    again = pointmass.generate_dataset(recipe)
    for k in pointmass.DATA_KEYS:
        np.testing.assert_array_equal(again[k], data[k])
    path = pointmass.save_dataset(tmp_path / "d.npz", data, recipe)
    loaded, found = pointmass.load_dataset(path)
    assert found == recipe
    for k in pointmass.DATA_KEYS:
        np.testing.assert_array_equal(loaded[k], data[k])
    with pytest.raises(ValueError, match="another recipe"):
        pointmass.obtain_dataset(path, pointmass.Recipe(num_episodes=61, seed=3))
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz"):
        pointmass.load_dataset(tmp_path / "bad.npz")
    assert not pointmass.generate_dataset(pointmass.Recipe(num_episodes=5, seed=4))["rewards"].tolist() == \
        data["rewards"][: 5 * 40].tolist()  # fmt: skip


def test_normaliser_round_trips_through_a_saved_model(tmp_path, data):
    ws = make_windows(data, 8, 4)
    norm = Normaliser.fit(ws.x)
    params, config = tiny_model(ws.layout, seeds=2)
    folder = trajectory_model.save_model(tmp_path / "m", params, config, ws.layout, norm, {"steps": 0})
    params2, config2, layout2, norm2, meta = trajectory_model.load_model(folder)
    assert config2 == config and layout2 == ws.layout and meta["steps"] == 0
    np.testing.assert_array_equal(norm2.mean, norm.mean)
    np.testing.assert_array_equal(norm2.std, norm.std)
    np.testing.assert_array_equal(norm2.unnormalise(norm2.normalise(ws.x)), norm.unnormalise(norm.normalise(ws.x)))
    key = jax.random.key(0)
    a = trajectory_model.generate(trajectory_model.seed_params(params, 1), config, ws.layout, norm, key, 16)
    b = trajectory_model.generate(trajectory_model.seed_params(params2, 1), config2, layout2, norm2, key, 16)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="positive std"):
        Normaliser.from_json({"mean": [0.0], "std": [0.0]})


def test_training_resumes_to_the_same_numbers(tmp_path, data):
    arrays, _ = world_model.transition_data(data)
    learner = world_model.WorldModelLearner(hidden=(16,))
    keys = jax.random.split(jax.random.key(3), 2)

    def fresh():
        return create_runs(learner, jax.random.split(jax.random.key(4), 2))

    straight, losses = train_resumable(learner, fresh(), arrays, keys, num_steps=60, batch_size=32, checkpoints=None,
                                       checkpoint_every=20, steps_per_call=20, progress=False)  # fmt: skip
    ckpt = CheckpointDir(tmp_path / "train")
    train_resumable(learner, fresh(), arrays, keys, num_steps=40, batch_size=32, checkpoints=ckpt,
                    checkpoint_every=20, steps_per_call=20, progress=False)  # fmt: skip
    assert ckpt.steps() == [20]  # only the latest is kept
    resumed, losses2 = train_resumable(learner, fresh(), arrays, keys, num_steps=60, batch_size=32, checkpoints=ckpt,
                                       checkpoint_every=20, steps_per_call=20, progress=False)  # fmt: skip
    np.testing.assert_array_equal(losses2, losses)
    for a, b in zip(jax.tree_util.tree_leaves(resumed.params), jax.tree_util.tree_leaves(straight.params), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_world_model_rollout_and_ensemble_files(tmp_path, data):
    arrays, norms = world_model.transition_data(data)
    learner = world_model.WorldModelLearner(hidden=(16,))
    params = create_runs(learner, jax.random.split(jax.random.key(0), 3)).params
    roll = world_model.rollout(learner, params, norms, pointmass.TARGET, data["observations"][:10], 4,
                               jax.random.key(1))  # fmt: skip
    assert roll["states"].shape == (10, 5, 2) and roll["actions"].shape == (10, 4, 2)
    np.testing.assert_array_equal(roll["states"][:, 0], data["observations"][:10])
    folder = world_model.save_ensemble(tmp_path / "wm", params, learner, norms, {"steps": 0})
    params2, learner2, norms2, _ = world_model.load_ensemble(folder)
    assert learner2 == learner
    roll2 = world_model.rollout(learner2, params2, norms2, pointmass.TARGET, data["observations"][:10], 4,
                                jax.random.key(1))  # fmt: skip
    np.testing.assert_array_equal(roll2["states"], roll["states"])


def test_measure_counts_diverged_windows():
    states = np.zeros((4, 3, 2), np.float32)
    states[0, 2] = 1e6
    states[1, 1] = np.nan
    out = experiment.measure(states, np.zeros((4, 2, 2), np.float32))
    assert out["diverged_fraction"] == 0.5 and out["dynamics_error"] == 0.0
    assert set(experiment.measure(states[:2], np.zeros((2, 2, 2)))) == {"diverged_fraction"}


def test_choose_lambda_uses_validation_and_refuses_divergence():
    preset = experiment.get_preset("fast")

    def m(dyn, div=0.0):
        return {"dynamics_error": dyn, "diverged_fraction": div}

    val = [{"pgd": {"0": m(1.0), "0.1": m(1.2), "1": m(1.4), "30": m(1.0, 0.01)}}] * 2
    assert experiment.choose_lambda(val, preset) == 1.0
    val = [{"pgd": {"0": m(1.0), "0.1": m(1.6), "1": m(3.0), "30": m(1.0, 0.5)}}] * 2
    assert experiment.choose_lambda(val, preset) == 0.0


def test_presets_are_valid_and_the_committed_cpu_run_is_this_code_s():
    """The committed run (results/pgd/cpu) was made with the cpu preset as it stands, on a dataset that the
    generator still reproduces bit for bit, and its model files load."""
    for name in experiment.PRESETS:
        assert experiment.get_preset(name).name == name
    with pytest.raises(ValueError, match="unknown preset"):
        experiment.get_preset("huge")
    folder = experiment.EXPERIMENT.committed_dir("cpu")
    assert json.loads((folder / "config.json").read_text()) == experiment.run_config(experiment.get_preset("cpu"))
    committed, recipe = pointmass.load_dataset(folder / "pointmass.npz")
    regenerated = pointmass.generate_dataset(recipe)
    for k in pointmass.DATA_KEYS:
        np.testing.assert_array_equal(regenerated[k], committed[k])
    result = json.loads((folder / "results.json").read_text())
    assert result["dataset_sha256"] == file_sha256(folder / "pointmass.npz")
    _, _, layout, normaliser, meta = trajectory_model.load_model(folder / "trajectory_model")
    assert layout.horizon == experiment.get_preset("cpu").horizon and meta["steps"] == result["config"]["preset"][
        "num_steps"]  # fmt: skip
    windows = make_windows(committed, layout.horizon, experiment.get_preset("cpu").stride)
    np.testing.assert_allclose(normaliser.mean, Normaliser.fit(windows.x).mean, rtol=1e-6)


# ---------------------------------------------------------------------------------------------------------
# Issue 31: whole-window guidance, the wall world, the integrator, paper-type rows
# ---------------------------------------------------------------------------------------------------------
def test_whole_window_gradient_differentiates_the_states(data):
    ws = make_windows(data, 8, 4)
    norm, layout = Normaliser.fit(ws.x), ws.layout
    actions, states = layout.action_mask(), layout.state_mask()
    assert not (actions & states).any() and states.sum() == (layout.horizon + 1) * layout.obs_dim
    z = jnp.asarray(norm.normalise(ws.x[:16]))
    log_prob = lambda s, u: pointmass.log_prob(pointmass.TARGET, s, u)  # noqa: E731
    for window, mask in ((False, actions), (True, actions | states)):
        log_q = trajectory_model.window_log_q(layout, norm, log_prob, differentiate_states=window)
        g = np.asarray(policy_guidance.window_grad_log_q(log_q, mask)(z))
        state_grad = np.abs(g[:, states])
        assert (state_grad.max() > 1e-3) == window  # only the whole-window option moves the states
        assert np.abs(g[:, states][:, -layout.obs_dim :]).max() == 0  # s_H conditions no action: no gradient
        assert np.abs(g[:, ~mask]).max() == 0 and np.abs(g[:, actions]).max() > 1e-3
    with pytest.raises(ValueError, match="gradient"):
        policy_guidance.PolicyGuidance(gradient="states")


def test_wall_world_stops_moves_at_the_wall_and_keeps_its_recipe(tmp_path, data):
    wall = pointmass.WallWorld()
    s = np.array([[0.45, 0.0], [0.45, 0.3], [0.55, 0.0], [0.2, 0.0], [0.49, 0.1]], np.float32)
    u = np.array([[1, 0], [1, 0], [-1, 0], [1, 0], [1, 1]], np.float32)
    out = pointmass.step(wall, s, u)
    np.testing.assert_allclose(out[0], [wall.wall_x - wall.gap, 0.0], atol=1e-6)  # blocked from the left
    np.testing.assert_allclose(out[1], [0.55, 0.3], atol=1e-6)  # above the wall: free
    np.testing.assert_allclose(out[2], [wall.wall_x + wall.gap, 0.0], atol=1e-6)  # blocked from the right
    np.testing.assert_allclose(out[3], [0.3, 0.0], atol=1e-6)  # short of the wall: free
    np.testing.assert_allclose(out[4], [wall.wall_x - wall.gap, 0.2], atol=1e-6)  # slides along it
    np.testing.assert_array_equal(pointmass.step(WORLD, s, u), np.clip(s + 0.1 * u, -1.5, 1.5).astype(np.float32))
    recipe = pointmass.Recipe(num_episodes=30, world=wall)
    d = pointmass.obtain_dataset(tmp_path / "wall.npz", recipe)
    assert pointmass.load_dataset(tmp_path / "wall.npz")[1] == recipe
    assert experiment.contact_fraction(d, wall) > 0.05 and experiment.contact_fraction(data, WORLD) == 0
    states = np.stack([d["observations"], d["next_observations"]], 1)[:, None].reshape(-1, 2, 2)
    assert measures.dynamics_error(wall, states, d["actions"][:, None]) == 0.0  # the wall's data obey the wall
    assert measures.dynamics_error(WORLD, states, d["actions"][:, None]) > 0.0  # and not the open box


def test_choose_flow_steps_is_the_smallest_stable_converged_count():
    def study(dyn, div):
        grid, lams = [8, 16, 32], [0.0, 1.0]
        metrics = {str(n): {f"{lam:g}": {"diverged_fraction": [div[i][j]] * 2, "dynamics_error": [dyn[i][j]] * 2}
                            for j, lam in enumerate(lams)} for i, n in enumerate(grid)}  # fmt: skip
        return {"flow_steps": grid, "lams": lams, "metrics": metrics}

    converged = [[1.0, 2.0], [1.0, 2.05], [1.0, 2.0]]
    assert experiment.choose_flow_steps(study(converged, [[0, 0.5], [0, 0], [0, 0]]), 0.05) == 16
    assert experiment.choose_flow_steps(study(converged, [[0, 0.5], [0, 0], [0, 0]]), 0.01) == 32
    assert experiment.choose_flow_steps(study(converged, [[0, 0], [0, 0], [0, 0]]), 0.05) == 8


def test_lambda_30_at_128_steps_does_not_diverge_on_the_committed_model():
    """The committed cpu trajectory model, seed 0, 256 windows: lambda = 30 diverges at 32 Euler steps (explicit
    Euler on a velocity stiff in lambda) and not at 128; the break-down was the integrator's."""
    params, config, layout, normaliser, _ = trajectory_model.load_model(
        experiment.EXPERIMENT.committed_dir("cpu") / "trajectory_model")  # fmt: skip
    p, key = trajectory_model.seed_params(params, 0), jax.random.key(11)
    diverged = {}
    for steps in (32, 128):
        x = trajectory_model.generate(p, config, layout, normaliser, key, 256, lam=30.0, target=pointmass.TARGET,
                                      flow_steps=steps)  # fmt: skip
        diverged[steps] = experiment.measure(**layout.unflatten(x))["diverged_fraction"]
    assert diverged[128] == 0.0 and diverged[32] > 0.5, diverged


def test_paper_type_result_adds_labelled_rows(tmp_path, monkeypatch):
    """A planted paper-type result in $CFGRL_RESULTS_DIR/pgd/paper/ appears in the table (its rows labelled with
    device, steps, seeds, windows and flow steps) and in the README's status sentence."""
    committed = json.loads((experiment.EXPERIMENT.committed_dir("cpu") / "results.json").read_text())
    monkeypatch.setenv("CFGRL_RESULTS_DIR", str(tmp_path))
    before = experiment.summary_values(committed, "cpu")
    assert experiment.paper_runs() == {} and "has not been run yet" in before["paper_status"]
    planted = json.loads(json.dumps(committed))
    planted["device"] = "gpu: planted H100"
    planted["config"]["preset"] |= {"name": "paper", "num_steps": 200_000, "num_samples": 4096}
    (tmp_path / "pgd" / "paper").mkdir(parents=True)
    (tmp_path / "pgd" / "paper" / "results.json").write_text(json.dumps(planted))
    assert list(experiment.paper_runs()) == ["paper"]
    label = "gpu: planted H100, 200,000 steps, 3 seeds, 4096 windows per set"
    rows = experiment.all_table_rows(committed, "cpu")
    assert len(rows) == 2 * len(before["table"].splitlines()[2:]) and label in rows[len(rows) // 2]["run"]
    after = experiment.summary_values(committed, "cpu")
    assert label in after["table"] and label not in before["table"]
    assert "results/pgd/paper/results.json" in after["paper_status"] and label in after["paper_status"]
