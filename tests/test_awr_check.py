"""The authors' OGBench AWR actor options (constant sigma, OGBench's initialisation) and notebook 05's AWR check:
its committed record pairs with the mechanism run (same critics, same seeds), and its comparison reads it right."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cfgrl_core.agents import awr
from cfgrl_core.experiments import awr_check, offline_rl, stats

BASE = dict(action_dim=2, obs_dim=2, policy="gaussian", hidden_dims=(64, 64))


def _params(**kw):
    cfg = awr.AWRConfig(**(BASE | kw))
    return cfg, awr.init_policy_params(cfg, jax.random.PRNGKey(0))["params"]


def test_const_std_has_no_log_std_and_its_loss_is_a_weighted_squared_error_plus_a_constant():
    cfg, params = _params(const_std=True)
    assert "log_std" not in params
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(1), 3)
    batch = {"observations": jax.random.normal(k1, (16, 2)), "actions": jax.random.normal(k2, (16, 2)),
             "advantages": jax.random.normal(k3, (16,))}  # fmt: skip
    loss, info = awr.awr_loss({"params": params}, batch, k1, 3.0, config=cfg)
    mean, log_std = awr.GaussianActor(cfg).apply({"params": params}, batch["observations"])
    assert np.all(np.asarray(log_std) == 0)
    u = awr.awr_weights(batch["advantages"], 3.0)
    sq = 0.5 * jnp.sum((batch["actions"] - mean) ** 2, axis=-1) + np.log(2 * np.pi)  # 2 action dims
    assert np.allclose(loss, jnp.mean(u * sq), rtol=1e-5)
    assert "log_std" in awr.init_policy_params(awr.AWRConfig(**BASE), jax.random.PRNGKey(0))["params"]


def test_ogbench_init_is_fan_average_with_a_small_mean_layer():
    _, flax = _params()
    _, ogb = _params(init="ogbench")
    assert jax.tree_util.tree_structure(flax) == jax.tree_util.tree_structure(ogb)
    # fan-average uniform: variance 2 / (fan_in + fan_out); on 2 inputs far below LeCun's 1 / fan_in
    for i, (fan_in, fan_out) in enumerate([(2, 64), (64, 64)]):
        assert np.isclose(ogb[f"Dense_{i}"]["kernel"].var(), 2 / (fan_in + fan_out), rtol=0.35)
    assert ogb["Dense_0"]["kernel"].std() < flax["Dense_0"]["kernel"].std() / 3
    assert np.isclose(ogb["Dense_2"]["kernel"].var(), 0.01 * 2 / 66, rtol=0.6)  # the mean layer, x 0.01
    assert all(np.all(np.asarray(ogb[f"Dense_{i}"]["bias"]) == 0) for i in range(3))


@pytest.mark.parametrize("kw, match", [(dict(init="xavier"), "init must be one of"),
                                        (dict(policy="flow", const_std=True), "Gaussian policy only"),
                                        (dict(policy="flow", init="ogbench"), "Gaussian policy only")])  # fmt: skip
def test_bad_options_are_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        awr.AWRConfig(**(BASE | kw))


def test_defaults_are_the_flax_actor():
    default, explicit = _params()[1], _params(const_std=False, init="flax")[1]
    assert jax.tree_util.tree_all(jax.tree_util.tree_map(lambda a, b: bool(jnp.all(a == b)), default, explicit))


@pytest.fixture(scope="module")
def record():
    """The committed check and the mechanism run it was made with: the 3-temperature run kept as a record (the
    mechanism row committed now was made on another CPU, with other critics)."""
    return awr_check.load_record("cpu"), offline_rl.recorded_run("mechanism-3betas")[0]


def test_the_committed_mechanism_run_made_elsewhere_is_read_through_the_recorded_pair(record):
    result, paired = record
    now = offline_rl.load_result(offline_rl.result_path("mechanism", offline_rl.MEDIUM))
    found = awr_check.compare(result, now)
    if now["labels"] == paired["labels"]:  # a rerun on the check's machine: the same critics, paired directly
        assert found["paired_with"] == "given"
    else:
        assert found["critic_matches"] and found["paired_with"] == "recorded"
        assert np.allclose(found["ours"], awr_check.compare(result, paired)["ours"])


def test_the_committed_record_pairs_with_the_mechanism_run(record):
    result, base = record
    found = awr_check.compare(result, base)
    assert found["critic_matches"]  # same keys, same data: the same critics, seed by seed
    preset = awr_check.get_preset("cpu")
    assert result["step"] == offline_rl.get_preset(preset.base).num_steps and result["inv_beta"] == preset.inv_beta
    assert [v["name"] for v in result["preset"]["variants"]] == list(found["variants"])
    n_seeds = offline_rl.get_preset(preset.base).num_seeds
    for name, v in found["variants"].items():
        assert np.asarray(result["success"][name]).shape == (n_seeds, result["episodes"])
        assert v["gap"][2] == v["step"][2] == n_seeds
    # the comparison is recomputed from the raw episodes here, not read back from the function under test
    last = str(max(int(k) for k in base["success"]))
    col = [float(b) for b in base["inv_betas"]].index(result["inv_beta"])
    ours = 100 * np.asarray(base["success"][last][awr_check.BASE_ACTOR], float)[:, :, col].mean(axis=1)
    assert np.allclose(found["ours"], ours)
    before = ours
    for name in found["variants"]:
        rates = 100 * np.asarray(result["success"][name], float).mean(axis=1)
        assert np.allclose(found["variants"][name]["gap"][:2], stats.mean_se(rates - ours))
        assert np.allclose(found["variants"][name]["step"][:2], stats.mean_se(rates - before), equal_nan=True)
        before = rates
    assert "the same critics" in awr_check.summary_line(result, base)


def test_compare_refuses_another_task_step_or_broken_pairing(record):
    result, base = record
    with pytest.raises(ValueError, match="the check is of"):
        awr_check.compare(dict(result, task="other"), base)
    with pytest.raises(ValueError, match="last step"):
        awr_check.compare(dict(result, step=result["step"] + 1), base)
    moved = dict(result, labels=dict(result["labels"], positive_fraction=[0.0] * 4))
    assert not awr_check.compare(moved, base)["critic_matches"]
    assert "NOT the mechanism run's" in awr_check.summary_line(moved, base)


def test_the_record_runner_refuses_an_unknown_record():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "scripts/run_record.py", "nothing", "--preset", "fast"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode != 0 and "invalid choice" in proc.stderr and "awr_check" in proc.stderr


def test_the_committed_record_keeps_the_run_it_is_paired_with(record):
    result, base = record
    # the committed mechanism run: its critics and episodes (a rerun that reproduced it bit for bit has another commit)
    kept, now = result["base_run"], awr_check.base_run(base, result["inv_beta"])
    assert {k: v for k, v in kept.items() if k not in ("commit", "device")} == {
        k: v for k, v in now.items() if k not in ("commit", "device")}  # fmt: skip
    assert awr_check.compare(result, base)["paired_with"] == "given"


def _retrained_elsewhere(base):
    """The mechanism result as another machine could retrain it: other label statistics, other episodes."""
    last = str(max(int(k) for k in base["success"]))
    flipped = 1 - np.asarray(base["success"][last][awr_check.BASE_ACTOR])
    success = dict(base["success"], **{last: dict(base["success"][last], **{awr_check.BASE_ACTOR: flipped.tolist()})})
    labels = dict(base["labels"], positive_fraction=[x + 1e-6 for x in base["labels"]["positive_fraction"]])
    return dict(base, labels=labels, success=success, commit="elsewhere")


def test_a_base_retrained_elsewhere_is_not_paired_the_recorded_run_is(record):
    result, base = record
    other = _retrained_elsewhere(base)
    found = awr_check.compare(result, other)
    assert found["critic_matches"] and found["paired_with"] == "recorded"
    assert found["base_commit"] == result["base_run"]["commit"] != "elsewhere"
    assert np.allclose(found["ours"], awr_check.compare(result, base)["ours"])  # the recorded episodes, not the flipped
    assert "recorded with the check" in awr_check.summary_line(result, other)
    # a record without its base run can only be paired with the run given: the pairing is broken, and says so
    bare = {k: v for k, v in result.items() if k != "base_run"}
    assert not awr_check.compare(bare, other)["critic_matches"]
    assert "NOT the mechanism run's" in awr_check.summary_line(bare, other)
    with pytest.raises(ValueError, match="other critics"):
        awr_check.with_base_run(result, other)
