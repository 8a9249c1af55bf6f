"""Training: condition dropout rate, determinism, seed vmapping, learning, and bad-input errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cfgrl_core.guidance import sample_guided
from cfgrl_core.networks import ModelConfig, VectorField, init_params
from cfgrl_core.train import (
    CFGLearner,
    Learner,
    TrainConfig,
    cfg_flow_loss,
    create_runs,
    fit,
    gradient_step,
    make_optimizer,
    null_mask,
    polyak,
    run_training,
    to_device_dataset,
)

CONFIG = ModelConfig(action_dim=2, hidden_dims=(32, 32), num_labels=2)


def _dataset(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, 2)).astype(np.float32)
    return {"actions": a, "conditions": (a[:, 0] > 0).astype(np.int32)}


@pytest.mark.parametrize("p_uncond", [0.0, 0.1, 0.5, 1.0])
def test_null_rate_matches_p_uncond(p_uncond):
    mask = null_mask(jax.random.key(0), 200_000, p_uncond)
    assert abs(float(mask.mean()) - p_uncond) < 0.005


def test_null_mask_reaches_the_network_through_the_loss():
    params = init_params(CONFIG, jax.random.key(0))
    batch = jax.tree_util.tree_map(jnp.asarray, _dataset(4096))
    _, info = cfg_flow_loss(params, batch, jax.random.key(1), model_config=CONFIG, p_uncond=0.25)
    assert abs(float(info["null_fraction"]) - 0.25) < 0.03


def test_null_embedding_replaces_the_condition():
    params = init_params(CONFIG, jax.random.key(0))
    net = VectorField(CONFIG)
    x, t = jnp.ones((2, 2)), jnp.full((2, 1), 0.5)
    v_null = net.apply(params, x, t, jnp.array([0, 1]), jnp.ones(2, bool))
    assert jnp.allclose(v_null[0], v_null[1])  # the label is ignored under the null mask
    v = net.apply(params, x, t, jnp.array([0, 1]), jnp.zeros(2, bool))
    assert not jnp.allclose(v[0], v[1])


def test_seeded_training_is_deterministic_on_cpu():
    kw = dict(num_steps=200, model_config=CONFIG, train_config=TrainConfig(batch_size=64), progress=False)
    s1, l1 = fit(jax.random.key(7), _dataset(), **kw)
    s2, l2 = fit(jax.random.key(7), _dataset(), **kw)
    assert np.array_equal(l1, l2)
    for a, b in zip(jax.tree_util.tree_leaves(s1.params), jax.tree_util.tree_leaves(s2.params), strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    s3, _ = fit(jax.random.key(8), _dataset(), **kw)
    assert not np.array_equal(
        np.asarray(jax.tree_util.tree_leaves(s1.params)[0]),
        np.asarray(jax.tree_util.tree_leaves(s3.params)[0]),
    )


def test_chunked_training_equals_one_long_scan():
    tc = TrainConfig(batch_size=32)
    learner, data = CFGLearner(CONFIG, tc), to_device_dataset(_dataset(), CONFIG)
    keys = jax.random.split(jax.random.key(1), 1)
    states = create_runs(learner, jax.random.split(jax.random.key(0), 1))
    kw = dict(num_steps=20, batch_size=tc.batch_size, progress=False)
    long, _ = run_training(learner, states, data, keys, steps_per_call=20, **kw)
    half, _ = run_training(learner, states, data, keys, steps_per_call=10, **kw)
    for a, b in zip(jax.tree_util.tree_leaves(long.params), jax.tree_util.tree_leaves(half.params), strict=True):
        assert np.allclose(a, b, atol=1e-6)


def test_vmapped_seeds_equal_separate_runs():
    kw = dict(num_steps=50, model_config=CONFIG, train_config=TrainConfig(batch_size=32), progress=False)
    together, _ = fit(jax.random.key(3), _dataset(), num_seeds=3, **kw)
    assert jax.tree_util.tree_leaves(together.params)[0].shape[0] == 3
    seeds = jax.tree_util.tree_leaves(together.params)[0]
    assert not np.allclose(seeds[0], seeds[1])
    # seed i of the vmapped run equals a run of that seed alone, started from the same per-seed keys
    learner = CFGLearner(CONFIG, kw["train_config"])
    key_init, key_train = jax.random.split(jax.random.key(3))
    alone = create_runs(learner, jax.random.split(key_init, 3)[1:2])
    alone, _ = run_training(learner, alone, to_device_dataset(_dataset(), CONFIG), jax.random.split(key_train, 3)[1:2],
                            num_steps=50, batch_size=32, progress=False)  # fmt: skip
    for a, b in zip(jax.tree_util.tree_leaves(alone.params), jax.tree_util.tree_leaves(together.params), strict=True):
        assert np.allclose(a[0], b[1], atol=1e-5)


def test_every_learner_meets_the_contract():
    from cfgrl_core.agents import awr, cfgrl_actor, iql
    from cfgrl_core.agents.iql_agent import IQLAgent
    from cfgrl_core.agents.offline import CriticWithActors
    from cfgrl_core.agents.td3_bc import TD3BCConfig, TD3BCLearner
    from cfgrl_core.pgd.synthetic_replay import MixedReplay
    from cfgrl_core.pgd.world_model import WorldModelLearner
    from cfgrl_core.train import FlowMember, MultiFlowLearner

    tc = TrainConfig()
    learners = [
        CFGLearner(CONFIG, tc), MultiFlowLearner((FlowMember("a", CONFIG, 0.0),)),
        awr.AWRLearner(awr.AWRConfig(2, 2), tc), iql.IQLLearner(iql.IQLConfig(2, 2), tc),
        cfgrl_actor.CFGRLActorLearner(cfgrl_actor.CFGRLActorConfig(2, 2), tc),
        CriticWithActors(iql.IQLLearner(iql.IQLConfig(2, 2), tc), ()), TD3BCLearner(TD3BCConfig(2, 2)),
        IQLAgent(2, 2), WorldModelLearner(), MixedReplay(TD3BCLearner(TD3BCConfig(2, 2))),
    ]  # fmt: skip
    for learner in learners:
        assert isinstance(learner, Learner), type(learner).__name__
        hash(learner)  # a static argument of the jitted chunk
        state = learner.create(jax.random.key(0))
        assert int(state.step) == 0, type(learner).__name__


def test_gradient_step_is_one_adam_step_and_polyak_averages():
    params = {"w": jnp.array([1.0, -2.0])}
    opt = make_optimizer(0.1)

    def loss(p, scale):
        return scale * jnp.sum(p["w"] ** 2), {"loss": scale * jnp.sum(p["w"] ** 2)}

    from cfgrl_core.train import init_train_state

    state, info = gradient_step(init_train_state(params, opt), opt, loss, 3.0)
    # Adam's first step moves every weight by the step size against the sign of its gradient
    assert np.allclose(state.params["w"], [0.9, -1.9]) and int(state.step) == 1 and float(info["loss"]) == 15.0
    averaged = polyak({"w": jnp.zeros(2)}, {"w": jnp.ones(2)}, 0.25)
    assert np.allclose(averaged["w"], 0.25)


def test_training_learns_the_conditional_and_unconditional_policies():
    # a ~ N(0, I), o = 1[a_x > 0]: pi(a|o=1) has E[a_x] = sqrt(2/pi) ~ 0.80; pi_hat has E[a_x] = 0.
    state, loss = fit(
        jax.random.key(0),
        _dataset(20_000),
        num_steps=3000,
        model_config=CONFIG,
        train_config=TrainConfig(batch_size=256, learning_rate=1e-3),
        progress=False,
    )
    assert loss[-200:].mean() < loss[:50].mean()
    x = sample_guided(state.params, CONFIG, jax.random.key(1), jnp.ones(4000, jnp.int32), [0.0, 1.0, 3.0])
    mean_x = np.asarray(x[..., 0].mean(-1))
    assert abs(mean_x[0]) < 0.12
    assert abs(mean_x[1] - np.sqrt(2 / np.pi)) < 0.12
    assert mean_x[2] > mean_x[1] + 0.2  # guidance beyond w = 1 pushes further


def test_bad_training_inputs_are_refused():
    kw = dict(num_steps=10, model_config=CONFIG, train_config=TrainConfig(), progress=False)
    bad = _dataset()
    bad["actions"][5, 1] = np.nan
    with pytest.raises(ValueError, match=r"actions contains 1 non-finite value.*\(5, 1\)"):
        fit(jax.random.key(0), bad, **kw)
    with pytest.raises(ValueError, match="conditions have 3 rows but actions have 2000"):
        fit(jax.random.key(0), {"actions": _dataset()["actions"], "conditions": np.zeros(3, np.int32)}, **kw)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 1\]"):
        fit(jax.random.key(0), {"actions": _dataset()["actions"], "conditions": np.full(2000, 2)}, **kw)
    with pytest.raises(ValueError, match="actions have dimension 3, the model expects 2"):
        fit(jax.random.key(0), {"actions": np.zeros((4, 3)), "conditions": np.zeros(4, np.int32)}, **kw)
    with pytest.raises(KeyError, match="no 'conditions' key"):
        fit(jax.random.key(0), {"actions": np.zeros((4, 2))}, **kw)
    with pytest.raises(ValueError, match="p_uncond must lie in"):
        TrainConfig(p_uncond=1.5)
    with pytest.raises(ValueError, match="p_uncond must lie in"):
        TrainConfig(p_uncond=-0.1)
    with pytest.raises(ValueError, match="num_steps must be positive"):
        fit(jax.random.key(0), _dataset(), **{**kw, "num_steps": 0})
    with pytest.raises(ValueError, match="exactly one of num_labels"):
        ModelConfig(action_dim=2, num_labels=2, cond_dim=3)
    goal_config = ModelConfig(action_dim=2, hidden_dims=(8,), obs_dim=3, cond_dim=2)
    with pytest.raises(KeyError, match="expects observations of dimension 3"):
        fit(
            jax.random.key(0),
            {"actions": np.zeros((4, 2)), "conditions": np.zeros((4, 2))},
            **{**kw, "model_config": goal_config},
        )
    with pytest.raises(ValueError, match=r"goals\) must have shape \[N, C\]"):
        fit(
            jax.random.key(0),
            {"actions": np.zeros((4, 2)), "conditions": np.zeros(4), "observations": np.zeros((4, 3))},
            **{**kw, "model_config": goal_config},
        )
