"""Notebook 08's methods: subgoal targets of the hierarchy, separate-network guidance, sharded training, and tiny
end-to-end runs of the separate and hierarchical methods through the one experiment runner."""

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cfgrl_core import guidance, train
from cfgrl_core.experiments import gcbc_cfgrl as gx
from cfgrl_core.networks import ModelConfig, init_params
from cfgrl_core.ogbench import evaluation, hierarchy, methods

MEDIUM = "pointmaze-medium-navigate-v0"


def two_episodes(lengths=(40, 30)):
    """A raw-layout dataset (terminal on each episode's last row) whose oracle reps encode the row index."""
    n = sum(lengths)
    terminals = np.zeros(n, bool)
    terminals[np.cumsum(lengths) - 1] = True
    reps = np.stack([np.arange(n), -np.arange(n)], axis=1).astype(np.float32)
    return dict(observations=reps * 0.5, actions=np.tanh(reps / 100), terminals=terminals, oracle_reps=reps), np.cumsum(
        lengths
    ) - 1


def test_subgoal_targets_are_25_steps_ahead_clipped_to_the_episode_end_and_to_the_goal():
    raw, ends = two_episodes()
    data, _ = hierarchy.make_hier_sampler(raw)
    batch = hierarchy.sample_hier_batch(data, jax.random.PRNGKey(0), 4096)
    idxs, goals = np.asarray(batch["idxs"]), np.asarray(batch["goal_idxs"])
    final = np.where(idxs <= ends[0], ends[0], ends[1])
    low, high = np.asarray(batch["low_subgoal_idxs"]), np.asarray(batch["high_target_idxs"])
    np.testing.assert_array_equal(low, np.minimum(idxs + 25, final))
    np.testing.assert_array_equal(high, np.minimum(idxs + 25, goals))
    assert (goals <= final).all() and (high <= low).all()  # never past the episode, never past the goal
    assert (low == final).any() and (low == idxs + 25).any() and (high == goals).any() and (high < goals).any()
    # the arrays are the oracle reps (row index) of those rows, and the level's observations / actions
    np.testing.assert_array_equal(np.asarray(batch["low"]["conditions"])[:, 0], low)
    np.testing.assert_array_equal(np.asarray(batch["high"]["actions"])[:, 0], high)
    np.testing.assert_array_equal(np.asarray(batch["high"]["conditions"])[:, 0], goals)
    np.testing.assert_array_equal(np.asarray(batch["low"]["actions"]), raw["actions"][idxs])
    np.testing.assert_array_equal(np.asarray(batch["high"]["observations"]), raw["observations"][idxs])
    # a hand-worked case: row 30 of the first episode (last row 39): subgoal 39; row 3: 28; goal 10 caps at 10
    got = hierarchy.subgoal_idxs(jnp.array([30, 3, 3]), jnp.array([39, 39, 10]), 25)
    np.testing.assert_array_equal(np.asarray(got), [39, 28, 10])


def random_params(config, seed):
    params = init_params(config, jax.random.PRNGKey(seed))
    # the null embedding and weights random enough that guidance moves the samples
    return jax.tree_util.tree_map(lambda x: x * 1.5, params)


def test_separate_network_guidance_with_identical_networks_equals_the_shared_sampler():
    config = ModelConfig(action_dim=2, hidden_dims=(32, 32), obs_dim=3, cond_dim=2)
    params = random_params(config, 0)
    k = jax.random.split(jax.random.PRNGKey(1), 3)
    x_0, goals, obs = (jax.random.normal(k[0], (12, 2)), jax.random.normal(k[1], (12, 2)),
                       jax.random.normal(k[2], (12, 3)))  # fmt: skip
    ws = jnp.linspace(0.0, 5.0, 12)
    shared = guidance.sample_rows(params, config, x_0, goals, obs, ws, flow_steps=8)
    separate = guidance.sample_rows(params, config, x_0, goals, obs, ws, flow_steps=8, uncond_params=params)
    np.testing.assert_allclose(np.asarray(separate), np.asarray(shared), rtol=1e-5, atol=1e-5)
    # the evaluation policies agree too, and a different BC network changes every w but w = 1
    keys = jax.random.split(jax.random.PRNGKey(2), 12)
    a_shared = evaluation.sample_actions(params, keys, goals, ws, obs, config=config, flow_steps=8)
    a_sep = evaluation.sample_actions(params, keys, goals, ws, obs, config=config, flow_steps=8, uncond_params=params)
    np.testing.assert_allclose(np.asarray(a_sep), np.asarray(a_shared), rtol=1e-5, atol=1e-5)
    other = random_params(config, 7)
    a_other = np.asarray(evaluation.sample_actions(params, keys, goals, jnp.ones(12), obs, config=config, flow_steps=8,
                                                   uncond_params=other))  # fmt: skip
    a_w1 = np.asarray(evaluation.sample_actions(params, keys, goals, jnp.ones(12), obs, config=config, flow_steps=8))
    np.testing.assert_allclose(a_other, a_w1, rtol=1e-5, atol=1e-5)  # w = 1: the conditional network alone
    moved = np.asarray(evaluation.sample_actions(params, keys, goals, ws, obs, config=config, flow_steps=8,
                                                 uncond_params=other))  # fmt: skip
    assert np.abs(moved - np.asarray(a_sep))[ws != 1].max() > 1e-3
    with pytest.raises(ValueError, match="needs ws"):
        guidance.cfg_velocity_fn(params, config, goals, obs, None, uncond_params=params)


def test_multi_flow_learner_sums_the_members_losses_and_trains_each_on_its_own_sub_batch():
    config = ModelConfig(action_dim=2, hidden_dims=(16,), obs_dim=3, cond_dim=2)
    learner = train.MultiFlowLearner((train.FlowMember("bc", config, 1.0), train.FlowMember("gc", config, 0.0)))
    state = learner.create(jax.random.PRNGKey(0))
    raw, _ = two_episodes()
    raw["observations"] = np.concatenate([raw["observations"], raw["observations"][:, :1]], axis=1)
    data = methods.make_sampler("separate", raw, gx.PRESETS["fast"])[0]
    batch = methods.sample_pair_batch(data, jax.random.PRNGKey(1), 32)
    total, info = learner.loss(state.params, batch, jax.random.PRNGKey(2))
    assert np.isclose(float(total), float(info["bc_loss"] + info["gc_loss"]))
    new, _ = learner.update(state, batch, jax.random.PRNGKey(2))
    # p_uncond = 1: the BC network's goal input never matters, so its null embedding is trained; p_uncond = 0:
    # the GC network's null embedding gets no gradient
    assert not np.allclose(new.params["bc"]["params"]["null_embedding"], state.params["bc"]["params"]["null_embedding"])
    np.testing.assert_array_equal(new.params["gc"]["params"]["null_embedding"],
                                  state.params["gc"]["params"]["null_embedding"])  # fmt: skip
    with pytest.raises(ValueError, match="distinct names"):
        train.MultiFlowLearner((train.FlowMember("a", config, 0.1), train.FlowMember("a", config, 0.1)))


SHARD_SCRIPT = textwrap.dedent(
    """
    import dataclasses, sys
    import jax, numpy as np
    from cfgrl_core import train
    from cfgrl_core.experiments import gcbc_cfgrl as gx
    from cfgrl_core.ogbench import methods
    raw = dict(np.load(sys.argv[1]))
    preset = dataclasses.replace(gx.PRESETS["fast"], hidden_dims=(32, 32), batch_size=16)
    learner = methods.make_learner(sys.argv[3], raw, preset)
    data, sample_fn = methods.make_sampler(sys.argv[3], raw, preset)
    states = train.create_runs(learner, jax.random.split(jax.random.PRNGKey(0), 4))
    devices = jax.local_devices()
    states, losses = train.run_training(learner, states, data, jax.random.split(jax.random.PRNGKey(1), 4),
        num_steps=60, batch_size=16, sample_fn=sample_fn, steps_per_call=25, stops=[30], progress=False,
        devices=devices)
    kernel = jax.tree_util.tree_leaves(states.params)[0]
    print(len(devices), len(kernel.sharding.device_set))
    np.savez(sys.argv[2], losses=losses, *[np.asarray(x) for x in jax.tree_util.tree_leaves(states)])
    """
)


@pytest.mark.parametrize("method", ["shared", "hierarchical"])
def test_sharded_training_equals_unsharded_on_two_host_devices(tmp_path, method):
    """Bit for bit for notebook 04's shared network (what `--preset paper` shards) at these sizes; the two-network
    learner's vmapped program already differs in the last bit with the number of runs in it (`train.ShardedRuns`),
    so it is compared to float rounding."""
    raw, _ = two_episodes((50, 60, 40))
    np.savez(tmp_path / "raw.npz", **raw)
    script = tmp_path / "shard.py"
    script.write_text(SHARD_SCRIPT)
    outs = {}
    for n in (1, 2):
        env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=f"--xla_force_host_platform_device_count={n}")
        args = [sys.executable, str(script), str(tmp_path / "raw.npz"), str(tmp_path / f"{n}.npz"), method]
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.split() == [str(n), str(n)]  # 2 devices: the parameters really live on both
        outs[n] = np.load(tmp_path / f"{n}.npz")
    assert outs[1].files == outs[2].files
    for k in outs[1].files:
        if method == "shared":
            np.testing.assert_array_equal(outs[2][k], outs[1][k], err_msg=k)
        else:
            np.testing.assert_allclose(outs[2][k], outs[1][k], rtol=1e-4, atol=1e-6, err_msg=k)


def test_run_devices_takes_the_most_devices_that_divide_the_runs():
    devs = ["a", "b", "c", "d"]
    assert train.run_devices(8, devs) == devs and train.run_devices(6, devs) == ["a", "b", "c"]
    assert train.run_devices(5, devs) == ["a"] and train.run_devices(2, devs) == ["a", "b"]
    with pytest.raises(ValueError, match="empty"):
        train.run_devices(4, [])


TINY = dataclasses.replace(
    gx.PRESETS["fast"], name="tiny", num_episodes=6, num_steps=40, steps_per_call=20, max_steps=8, num_val_tasks=2,
    hidden_dims=(16,), batch_size=16, checkpoint_fractions=(1.0,), ws=(0.0, 1.0, 3.0),
)  # fmt: skip


@pytest.mark.parametrize("method", ["separate", "hierarchical"])
def test_tiny_two_network_runs_save_load_and_reproduce(tmp_path, method):
    result_file = gx.result_path("tiny", MEDIUM, tmp_path / "out", method)
    assert result_file.name == f"{MEDIUM}--{method}.json"
    run = gx.run_and_save(MEDIUM, TINY, result_file, data_dir=tmp_path, progress=False, log=lambda _: None,
                          method=method)  # fmt: skip
    r = run.result
    assert r["method"] == method and np.asarray(r["success"]["40"]).shape == (2, 5, 1, 3)
    names = {"separate": {"bc", "gc"}, "hierarchical": {"high", "low"}}[method]
    assert set(run.params) == names and set(r["model_configs"]) == names
    loaded = gx.load_run(result_file)
    assert loaded.method == method and loaded.learner == run.learner
    for a, b in zip(jax.tree_util.tree_leaves(loaded.params), jax.tree_util.tree_leaves(run.params), strict=True):
        np.testing.assert_array_equal(a, b)
    again = gx.run_experiment(MEDIUM, TINY, data_dir=tmp_path, progress=False, log=lambda _: None, method=method)
    assert again.result["success"] == r["success"] and again.result["loss_every_100"] == r["loss_every_100"]
    # the loaded policy acts like the trained one
    obs, goals = jnp.zeros((3, 2)), jnp.ones((3, 2))
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    a = loaded.policy(0).act(keys, goals, jnp.ones(3) * 2, obs)
    b = run.policy(0).act(keys, goals, jnp.ones(3) * 2, obs)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert np.abs(np.asarray(a)).max() <= 1.0
    with pytest.raises(ValueError, match="unknown method"):
        gx.result_path("tiny", MEDIUM, tmp_path, "both")


def test_the_cost_estimate_is_measured_and_printed_before_a_run(capsys):
    import importlib.util

    from cfgrl_core.experiments import gc_cost as cost

    est = cost.estimate(MEDIUM, TINY, "hierarchical", probe_steps=5)
    assert est.ms_per_step > 0 and est.train_s == pytest.approx(est.ms_per_step / 1000 * TINY.num_steps)
    assert est.eval_policy_s > 0 and est.num_devices == 1 and "hierarchical" in est.line()
    assert cost.duration(30) == "30 s" and cost.duration(600) == "10 min" and cost.duration(3 * 3600) == "3.0 h"
    script_path = Path(__file__).resolve().parents[1] / "scripts" / "run_gcbc_cfgrl.py"
    spec = importlib.util.spec_from_file_location("run_gcbc_cfgrl", script_path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--preset", "fast", "--estimate-only", "--method", "separate"]) == 0
    out = capsys.readouterr().out
    assert "cost estimate: pointmaze-medium-navigate-v0 (separate): about" in out
    assert "1 local device(s)" in out
