"""Notebook 05's learners (the IQL critic, CFGRL's label schemes, AWR at 1/beta = 0), OGBench's single-task data and
rollouts, and notebook 05's report: the Summary's per-task lines, paper-type rows and the committed figure data."""

import copy
import dataclasses
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from cfgrl_core import tabular
from cfgrl_core.agents import awr, cfgrl_actor, iql
from cfgrl_core.experiments import offline_rl, protocol
from cfgrl_core.flow import sample_path
from cfgrl_core.io.figures import table_to_csv
from cfgrl_core.io.provenance import file_sha256, npz_arrays_sha256
from cfgrl_core.networks import VectorField
from cfgrl_core.ogbench import evaluation, singletask
from cfgrl_core.train import TrainConfig, create_runs, run_training

# ---- the expectile loss --------------------------------------------------------------------------------------


def expectile_by_bisection(x, tau):
    """The tau-expectile e of the empirical distribution x: tau E[(x - e)+] = (1 - tau) E[(e - x)+]."""
    lo, hi = float(np.min(x)), float(np.max(x))
    for _ in range(200):
        e = 0.5 * (lo + hi)
        if tau * np.maximum(x - e, 0).mean() > (1 - tau) * np.maximum(e - x, 0).mean():
            lo = e
        else:
            hi = e
    return e


def test_expectile_loss_is_the_asymmetric_square():
    u = jnp.array([-2.0, -0.5, 0.0, 0.5, 3.0])
    assert np.allclose(iql.expectile_loss(u, 0.9), [0.1 * 4, 0.1 * 0.25, 0.0, 0.9 * 0.25, 0.9 * 9])
    assert np.allclose(iql.expectile_loss(u, 0.5), 0.5 * np.asarray(u) ** 2)


@pytest.mark.parametrize("tau", [0.5, 0.7, 0.9])
def test_expectile_loss_is_minimised_by_the_expectile(tau):
    x = np.random.default_rng(0).gamma(2.0, size=500)  # skewed, so mean and expectiles differ
    grad = jax.jit(jax.grad(lambda c: jnp.mean(iql.expectile_loss(jnp.asarray(x) - c, tau))))
    c = float(np.mean(x))
    for _ in range(2000):
        c -= 0.5 * float(grad(c))
    expected = expectile_by_bisection(x, tau)
    assert abs(c - expected) < 1e-4
    assert (expected > x.mean() + 0.1) == (tau > 0.5)


# ---- IQL on a chain MDP with exact values -------------------------------------------------------------------

CHAIN = 4  # states 0..3, actions 0 = left, 1 = right; the goal 3 is absorbing: reward 0, mask 0
GAMMA = 0.9


def chain_mdp() -> tabular.TabularMDP:
    P = np.zeros((1, CHAIN, 2, CHAIN))
    for s in range(CHAIN):
        P[0, s, 0, max(s - 1, 0)] = 1.0
        P[0, s, 1, min(s + 1, CHAIN - 1)] = 1.0
    P[0, CHAIN - 1] = 0.0
    P[0, CHAIN - 1, :, CHAIN - 1] = 1.0
    r = np.full((1, CHAIN, 2), -1.0)
    r[0, CHAIN - 1] = 0.0  # OGBench's relabelling: reward = success - 1, with success at the goal state
    return tabular.TabularMDP(P, r, np.full((1, CHAIN), 1 / CHAIN), GAMMA)


def chain_dataset(repeats=16):
    """Every (s, a) pair `repeats` times: the behaviour policy is uniform. One-hot states, action -1 / +1."""
    s, a = np.meshgrid(np.arange(CHAIN), np.arange(2), indexing="ij")
    s, a = np.repeat(s.ravel(), repeats), np.repeat(a.ravel(), repeats)
    nxt = np.where(s == CHAIN - 1, s, np.clip(s + 2 * a - 1, 0, CHAIN - 1))
    eye = np.eye(CHAIN, dtype=np.float32)
    success = (s == CHAIN - 1).astype(np.float32)
    return {
        "observations": jnp.asarray(eye[s]),
        "actions": jnp.asarray((2 * a - 1)[:, None], jnp.float32),
        "rewards": jnp.asarray(success - 1.0),
        "masks": jnp.asarray(1.0 - success),
        "next_observations": jnp.asarray(eye[nxt]),
    }


def expectile_fixed_point(tau, iters=500):
    """V(s) = tau-expectile of Q(s, .) under the uniform behaviour policy, Q(s, a) = r + gamma m V(s').
    For two equally likely values q_lo <= q_hi the expectile is (1 - tau) q_lo + tau q_hi."""
    mdp = chain_mdp()
    v = np.zeros(CHAIN)
    for _ in range(iters):
        q = np.einsum("sat,t->sa", mdp.P[0], v) * GAMMA + mdp.r[0]
        q[CHAIN - 1] = 0.0
        lo, hi = q.min(axis=1), q.max(axis=1)
        v = (1 - tau) * lo + tau * hi
    return v, q


def train_chain_iql(tau, steps=3000):
    config = iql.IQLConfig(obs_dim=CHAIN, action_dim=1, hidden_dims=(64, 64), discount=GAMMA, expectile=tau,
                           polyak=0.05)  # fmt: skip
    learner = iql.IQLLearner(config, TrainConfig(batch_size=64, learning_rate=1e-3))
    keys = jax.random.split(jax.random.key(0), 1)
    states, _ = run_training(learner, create_runs(learner, keys), chain_dataset(), keys, num_steps=steps,
                             batch_size=64, progress=False)  # fmt: skip
    state = jax.tree_util.tree_map(lambda x: x[0], states)
    eye = jnp.eye(CHAIN)
    v = np.asarray(iql.state_values(state, eye, config=config))
    q = np.stack([np.asarray(iql.q_values(state, eye, jnp.full((CHAIN, 1), a), config=config)) for a in (-1.0, 1.0)], 1)
    return v, q


def test_iql_with_the_mean_expectile_learns_the_behaviour_policys_values():
    v, q = train_chain_iql(0.5)
    mdp = chain_mdp()
    v_exact, q_exact, _, _ = tabular.evaluate(mdp, np.full((1, CHAIN, 2), 0.5))
    assert np.abs(v - v_exact[0]).max() < 0.1, (v, v_exact)
    assert np.abs(q - q_exact[0]).max() < 0.1, (q, q_exact)


def test_iql_with_an_upper_expectile_learns_its_fixed_point_above_the_behaviour_values():
    v, q = train_chain_iql(0.9)
    v_exact, q_exact = expectile_fixed_point(0.9)
    assert np.abs(v - v_exact).max() < 0.1, (v, v_exact)
    assert np.abs(q - q_exact).max() < 0.1, (q, q_exact)
    v_behaviour = tabular.evaluate(chain_mdp(), np.full((1, CHAIN, 2), 0.5))[0][0]
    assert (v_exact[:-1] > v_behaviour[:-1] + 0.5).all()  # the test can tell tau = 0.9 from tau = 0.5
    a = q - v[:, None]
    assert (a[:-1, 1] > 0).all() and (a[:-1, 0] < 0).all()  # right is the better action, left the worse


def test_advantages_do_not_depend_on_how_many_rows_are_asked_for():
    config = iql.IQLConfig(obs_dim=3, action_dim=2, hidden_dims=(16,))
    state = iql.IQLLearner(config, TrainConfig()).create(jax.random.key(0))
    rng = np.random.default_rng(0)
    obs, act = rng.normal(size=(9000, 3)), rng.normal(size=(9000, 2))
    a = iql.advantages(state, obs, act, config=config)
    assert a.shape == (9000,) and np.array_equal(a[:10], iql.advantages(state, obs[:10], act[:10], config=config))


# ---- CFGRL's label schemes ------------------------------------------------------------------------------------

ACTOR = dict(obs_dim=3, action_dim=2, hidden_dims=(16, 16))


def _batch():
    k1, k2 = jax.random.split(jax.random.key(3))
    return {
        "observations": jax.random.normal(k1, (5, 3)),
        "actions": jax.random.normal(k2, (5, 2)),
        "advantages": jnp.array([-1.0, 0.0, 2.0, -0.5, 0.3]),
    }


def _per_example(params, config, batch, key, labels, null):
    """Per-example squared velocity errors with the path drawn from `key` (as the losses draw it)."""
    t, x_t, vel = sample_path(key, batch["actions"])
    v = VectorField(config.model_config).apply(params, x_t, t, labels, null, batch["observations"])
    return np.asarray(jnp.mean((v - vel) ** 2, axis=-1))


def test_three_way_loss_is_the_flow_loss_on_labels_a_at_least_threshold():
    batch, key = _batch(), jax.random.key(7)
    for thr, expected in [(0.0, [0, 1, 1, 0, 1]), (0.5, [0, 0, 1, 0, 0])]:
        config = cfgrl_actor.CFGRLActorConfig(**ACTOR, threshold=thr, p_uncond=0.0)
        params = cfgrl_actor.CFGRLActorLearner(config, TrainConfig()).create(jax.random.key(1)).params
        loss, info = cfgrl_actor.actor_loss(params, batch, key, config=config)
        # cfg_flow_loss splits its key into (null-mask key, path key)
        path_key = jax.random.split(key)[1]
        by_hand = _per_example(params, config, batch, path_key, jnp.array(expected), jnp.zeros(5, bool))
        assert np.isclose(loss, by_hand.mean(), rtol=1e-5) and np.isclose(info["positive_fraction"], np.mean(expected))
    config = cfgrl_actor.CFGRLActorConfig(**ACTOR, p_uncond=1.0)  # every label dropped: the unconditional loss
    loss, _ = cfgrl_actor.actor_loss(params, batch, key, config=config)
    null = _per_example(params, config, batch, jax.random.split(key)[1], jnp.zeros(5, jnp.int32), jnp.ones(5, bool))
    assert np.isclose(loss, null.mean(), rtol=1e-5)


def test_two_pass_loss_weights_the_positive_pass_by_a_above_threshold_and_the_null_pass_by_a_constant():
    batch, key = _batch(), jax.random.key(7)
    config = cfgrl_actor.CFGRLActorConfig(**ACTOR, label_scheme="two_pass", uncond_weight=0.1)
    params = cfgrl_actor.CFGRLActorLearner(config, TrainConfig()).create(jax.random.key(1)).params
    loss, info = cfgrl_actor.actor_loss(params, batch, key, config=config)
    pos = _per_example(params, config, batch, key, jnp.ones(5, jnp.int32), jnp.zeros(5, bool))
    null = _per_example(params, config, batch, key, jnp.ones(5, jnp.int32), jnp.ones(5, bool))
    strict = np.array([0, 0, 1, 0, 1])  # A = 0 is not positive here (the authors' strict inequality)
    assert np.isclose(loss, np.mean(strict * pos + 0.1 * null), rtol=1e-5)
    assert np.isclose(info["positive_fraction"], 0.4)
    assert not np.isclose(loss, np.mean(np.array([0, 1, 1, 0, 1]) * pos + 0.1 * null), rtol=1e-3)


def test_bad_actor_configs_are_refused():
    with pytest.raises(ValueError, match="label_scheme"):
        cfgrl_actor.CFGRLActorConfig(**ACTOR, label_scheme="two-pass")
    with pytest.raises(ValueError, match="uncond_weight"):
        cfgrl_actor.CFGRLActorConfig(**ACTOR, uncond_weight=-1.0)


# ---- AWR at 1/beta = 0 is BC; the joint learner ----------------------------------------------------------------


def _actor_data(advantages):
    k1, k2 = jax.random.split(jax.random.key(5))
    return {
        "observations": jax.random.normal(k1, (200, 3)),
        "actions": jnp.tanh(jax.random.normal(k2, (200, 2))),
        "advantages": jnp.asarray(advantages, jnp.float32),
    }


def _train_awr(advantages, inv_betas, steps=50):
    config = awr.AWRConfig(action_dim=2, obs_dim=3, hidden_dims=(16,))
    learner = awr.AWRLearner(config, TrainConfig(batch_size=32))
    keys = jnp.stack([jax.random.key(0)] * len(inv_betas))  # common random numbers across the runs
    states, _ = run_training(learner, create_runs(learner, keys), _actor_data(advantages), keys, num_steps=steps,
                             batch_size=32, run_args=(jnp.asarray(inv_betas, jnp.float32),),
                             progress=False)  # fmt: skip
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(states.params)]


def test_awr_at_zero_inverse_temperature_is_behaviour_cloning_whatever_the_advantages():
    adv = np.random.default_rng(1).normal(size=200) * 5
    runs = _train_awr(adv, inv_betas=[0.0, 3.0])
    bc = _train_awr(np.zeros(200), inv_betas=[0.0, 3.0])  # the same program shape: bit-for-bit comparable
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(runs, bc, strict=True))  # 1/beta = 0 ignores the advantages
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(runs, bc, strict=True))  # 1/beta = 3 does use them


def _joint(inv_betas=(0.0, 3.0)):
    from cfgrl_core.agents.offline import Actor, CriticWithActors

    critic = iql.IQLLearner(iql.IQLConfig(obs_dim=3, action_dim=2, hidden_dims=(16,)), TrainConfig(batch_size=32))
    actors = (
        Actor("cfgrl",
              cfgrl_actor.CFGRLActorLearner(cfgrl_actor.CFGRLActorConfig(**ACTOR), TrainConfig(batch_size=32))),
        Actor("awr", awr.AWRLearner(awr.AWRConfig(action_dim=2, obs_dim=3, hidden_dims=(16,)), TrainConfig()),
              run_values=inv_betas),
    )  # fmt: skip
    return CriticWithActors(critic, actors)


def _critic_data(seed: int) -> dict:
    """300 random transitions (obs dim 3, action dim 2, reward -1 or 0) for the joint learner of `_joint`."""
    rng = np.random.default_rng(seed)
    data = {k: jnp.asarray(rng.normal(size=(300, 3)), jnp.float32) for k in ("observations", "next_observations")}
    data |= {"actions": jnp.asarray(np.tanh(rng.normal(size=(300, 2))), jnp.float32),
             "rewards": jnp.asarray((rng.random(300) < 0.1) - 1.0, jnp.float32), "masks": jnp.ones(300)}  # fmt: skip
    return data


def test_the_joint_learner_trains_its_critic_exactly_as_iql_alone():
    data = _critic_data(2)
    joint = _joint()
    keys = jax.random.split(jax.random.key(0), 2)
    states, _ = run_training(joint, create_runs(joint, keys), data, keys, num_steps=30, batch_size=32, progress=False)
    # the critic alone, started from the same initialisation (the joint learner's first split)
    alone = iql.IQLLearner(joint.critic.config, TrainConfig(batch_size=32))
    init = jax.vmap(lambda k: alone.create(jax.random.split(k, 3)[0]))(keys)
    only, _ = run_training(alone, init, data, keys, num_steps=30, batch_size=32, progress=False)
    for a, b in zip(
        jax.tree_util.tree_leaves(states.critic.params), jax.tree_util.tree_leaves(only.params), strict=True
    ):
        assert np.allclose(a, b, atol=1e-6)
    awr_params = jax.tree_util.tree_leaves(states.actors["awr"].params)[0]
    assert awr_params.shape[:2] == (2, 2)  # [seeds, 1/beta values]
    assert not np.array_equal(awr_params[:, 0], awr_params[:, 1])  # 1/beta = 0 and 3 trained differently


def test_the_critic_and_cfgrl_are_bit_identical_whatever_the_awr_temperatures_beside_them():
    # what dropping a temperature from a preset relies on: the critic (hence the labels every actor and the AWR check
    # read) and CFGRL train to the same bits; the AWR actors themselves need not (the vmapped count can change them)
    data = _critic_data(3)
    keys = jax.random.split(jax.random.key(0), 2)
    trained = []
    for inv_betas in ((0.0, 1.0, 3.0, 10.0, 30.0), (0.0, 10.0, 30.0)):
        joint = _joint(inv_betas)
        trained.append(run_training(joint, create_runs(joint, keys), data, keys, num_steps=200, batch_size=32,
                                    progress=False)[0])  # fmt: skip
    for part in (lambda s: s.critic, lambda s: s.actors["cfgrl"]):
        a, b = (jax.tree_util.tree_leaves(part(s)) for s in trained)
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


# ---- OGBench's single-task data, the runner -------------------------------------------------------------------


@pytest.fixture(scope="module")
def fast_medium():
    """The fast preset's 20-episode medium dataset (generated once into the session's data folder), relabelled."""
    data, _, _ = offline_rl.load_task_data(offline_rl.MEDIUM, offline_rl.get_preset("fast"), progress=False)
    return data


@pytest.mark.parametrize("task_id", [1, 3])
def test_single_task_rewards_and_masks_are_success_of_the_state_before_the_action(task_id, fast_medium):
    """Recomputed here from the positions and the task's goal cell: reward 0 and mask 0 exactly where the agent is
    within the goal tolerance (pointmaze observations are the x-y position)."""
    task = singletask.singletask_name("pointmaze-medium-navigate-v0", task_id)
    data = fast_medium if task_id == 1 else offline_rl.load_task_data(task, offline_rl.get_preset("fast"),
                                                                       progress=False)[0]  # fmt: skip
    env = evaluation.make_env(task)
    try:
        maze = env.unwrapped
        goal = maze.ij_to_xy(maze.task_infos[task_id - 1]["goal_ij"])
        tol = maze._goal_tol
    finally:
        env.close()
    at_goal = np.linalg.norm(data["observations"][:, :2] - goal, axis=1) <= tol
    assert at_goal.any() and not at_goal.all()
    assert np.array_equal(data["rewards"], at_goal.astype(np.float32) - 1)
    assert np.array_equal(data["masks"], 1 - at_goal.astype(np.float32))
    # the next observation of a row is the observation of the next row within an episode
    same = np.all(data["next_observations"][:-1] == data["observations"][1:], axis=1)
    assert same.mean() > 0.99


def test_task_names_parse_and_bad_ones_are_refused():
    assert offline_rl.parse_task(offline_rl.LARGE) == ("pointmaze-large-navigate-v0", 1)
    assert offline_rl.parse_task(offline_rl.MEDIUM3) == ("pointmaze-medium-navigate-v0", 3)
    assert offline_rl.parse_task(offline_rl.CUBE) == ("cube-single-play-v0", 2)
    for bad in ("pointmaze-large-navigate-v0", "pointmaze-large-navigate-singletask-taskx-v0", 3):
        with pytest.raises(ValueError, match="single-task"):
            offline_rl.parse_task(bad)
    with pytest.raises(ValueError, match="unknown preset"):
        offline_rl.get_preset("gpu")


def test_rollouts_count_success_a_policy_heading_for_the_goal_succeeds_and_one_standing_still_does_not():
    """From the path start next to the goal (medium task 1), the row's w decides: w = 1 moves at full speed towards
    the goal and must succeed in every episode within the step cap, w = 0 stands still and must never succeed; the
    rollouts repeat exactly."""
    env_name, task_id = "pointmaze-medium-navigate-v0", 1
    starts = singletask.path_starts(env_name, task_id)[:1]
    env = singletask.path_start_env(env_name, task_id)
    goal = jnp.asarray(env.unwrapped.ij_to_xy(starts[0]["goal_ij"]), jnp.float32)
    env.close()

    def act(keys, goals, ws, observations):
        d = goal - observations[:, :2]
        return ws[:, None] * d / (jnp.abs(d).max(axis=1, keepdims=True) + 1e-6)

    policy = evaluation.RowPolicy(act=act, obs_dim=2, goal_dim=None)
    pool = evaluation.EnvPool()
    pool.register("path", lambda: singletask.path_start_env(env_name, task_id))
    try:
        run = lambda: evaluation.evaluate_policy("path", policy, (0.0, 1.0), task_infos=starts, episodes_per_task=3,
                                                 seed=0, max_steps=60, pool=pool)  # fmt: skip
        r, again = run(), run()
    finally:
        pool.close()
    assert r.success[..., 1].all() and not r.success[..., 0].any(), r.success
    assert (r.lengths[..., 0] == 60).all() and (r.lengths[..., 1] < 60).all()  # an episode ends at its success
    assert np.array_equal(r.lengths, again.lengths)


def test_the_awr_policy_acts_with_the_gaussians_clipped_mean_whatever_its_key_and_w():
    cfg = offline_rl.configs(offline_rl.get_preset("fast"), 2, 2)["awr_gaussian"]
    params = awr.init_policy_params(cfg, jax.random.key(1))
    params = jax.tree_util.tree_map(lambda x: 3 * x + 0.5, params)  # a mean that leaves [-1, 1] somewhere
    obs = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
    act = singletask.awr_policy(params, cfg).act
    a = np.asarray(act(jax.random.split(jax.random.key(0), 64), None, jnp.zeros(64), obs))
    mean = np.asarray(awr.gaussian_mean_action(params, obs, config=cfg))
    assert np.allclose(a, np.clip(mean, -1, 1), atol=1e-6) and (np.abs(mean) > 1).any()
    b = np.asarray(act(jax.random.split(jax.random.key(9), 64), None, jnp.full(64, 3.0), obs))
    assert np.array_equal(a, b)


def test_a_policy_of_another_env_is_refused(fast_medium):
    cfgs = offline_rl.configs(offline_rl.get_preset("fast"), 2, 2)
    params = cfgrl_actor.CFGRLActorLearner(cfgs["cfgrl"], TrainConfig()).create(jax.random.key(0)).params
    policy = singletask.cfgrl_policy(params, cfgs["cfgrl"], flow_steps=2)
    wrong = evaluation.RowPolicy(act=policy.act, obs_dim=3, goal_dim=None)  # e.g. a policy of another env
    with pytest.raises(ValueError, match="policy expects"):
        evaluation.evaluate_policy(offline_rl.MEDIUM, wrong, (1.0,), task_ids=(1,), episodes_per_task=1, seed=0,
                                   max_steps=2)  # fmt: skip


def test_choose_takes_the_best_validation_value_and_ties_go_to_the_smaller():
    val = np.zeros((2, 4, 3))
    val[0, :, 2] = 1  # seed 0: only the third value succeeds
    val[1, :2, 1] = val[1, :2, 2] = 1  # seed 1: a tie between the second and the third
    assert offline_rl.choose(val, [0.0, 1.0, 3.0]) == [3.0, 1.0]


@pytest.mark.slow  # about a minute and a half: the whole runner, training and evaluation
def test_the_fast_run_writes_a_result_that_loads_back(tmp_path, monkeypatch):
    result = offline_rl.run_and_save(offline_rl.MEDIUM, "fast", tmp_path, progress=False, log=lambda *a: None)
    fast = offline_rl.get_preset("fast")
    assert offline_rl.load_result(offline_rl.result_path("fast", offline_rl.MEDIUM, tmp_path)) == json.loads(
        json.dumps(result)
    )
    assert sorted(result["actors"]) == ["awr_flow", "awr_gaussian", "cfgrl", "cfgrl_two_pass"]
    assert np.asarray(result["success"][str(fast.num_steps)]["cfgrl"]).shape == (2, fast.episodes, len(fast.ws))
    params, cfgs = offline_rl.load_weights(offline_rl.result_path("fast", offline_rl.MEDIUM, tmp_path))
    sample = offline_rl.load_sample(offline_rl.result_path("fast", offline_rl.MEDIUM, tmp_path))
    q = iql.q_values(jax.tree_util.tree_map(lambda x: x[1], params["critic"])["critic"], sample["observations"],
                     sample["actions"], config=cfgs["critic"])  # fmt: skip
    assert np.allclose(q, sample["q"][1], atol=1e-4)
    row = offline_rl.table_row(result)
    assert row["seeds"] == 2 and row["paper AWR mean"] is None
    assert not (tmp_path / "fast" / offline_rl.MEDIUM / "train").exists()  # the work files are cleared
    _, _, train_path = offline_rl.load_task_data(offline_rl.MEDIUM, fast, progress=False)
    assert result["dataset_sha256"] == file_sha256(train_path)
    assert result["dataset_arrays_sha256"] == npz_arrays_sha256(train_path)  # the data, whatever the bytes


def test_path_starts_walk_the_shortest_path_and_the_path_env_starts_there():
    starts = singletask.path_starts("pointmaze-medium-navigate-v0", 1)
    assert [s["distance"] for s in starts] == list(range(1, len(starts) + 1))
    cells = [tuple(starts[0]["goal_ij"])] + [tuple(s["init_ij"]) for s in starts]  # goal, then nearest first
    assert all(abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1 for a, b in zip(cells[:-1], cells[1:], strict=True))
    env = evaluation.make_env(offline_rl.MEDIUM)
    try:
        task = env.unwrapped.task_infos[0]
        assert list(starts[-1]["init_ij"]) == list(task["init_ij"]) and list(starts[0]["goal_ij"]) == list(
            task["goal_ij"]
        )
    finally:
        env.close()
    env = singletask.path_start_env("pointmaze-medium-navigate-v0", 1)
    try:
        maze = env.unwrapped
        obs, info = evaluation.reset_env(env, starts[1], 0)
        assert np.linalg.norm(obs[:2] - maze.ij_to_xy(starts[1]["init_ij"])) < 0.5 * maze._maze_unit
        assert np.allclose(info["goal"][:2], maze.ij_to_xy(starts[1]["goal_ij"]))  # no goal noise
    finally:
        env.close()
    with pytest.raises(ValueError, match="point mazes"):
        singletask.path_start_env("cube-single-play-v0", 2)


# ---- notebook 05's report: the Summary's per-task lines, paper-type rows, the committed figure data ------------

REPO = Path(__file__).resolve().parents[1]
CPU = REPO / "results" / "offline_rl" / "cpu"


def _cpu_results() -> dict:
    return {t: offline_rl.load_result(CPU / f"{t}.json") for t in offline_rl.get_preset("cpu").tasks}


def _zeroed(result: dict, names=None) -> dict:
    """A copy of `result` in which `names` (default: every actor) never succeed, test or validation, at any step."""
    out = copy.deepcopy(result)
    names = out["actors"] if names is None else names
    zero = lambda x: np.zeros_like(np.asarray(x)).tolist()
    for name in names:
        for step in out["success"]:
            out["success"][step][name] = zero(out["success"][step][name])
        out["val_success"][name] = zero(out["val_success"][name])
    return out


def _line(result: dict) -> str:
    return offline_rl.task_line(result, offline_rl.table_row(result), offline_rl.label_row(result))


def test_a_task_where_nothing_succeeds_is_called_uninformative_with_no_gap_peak_or_validated_value():
    mechanism, _ = offline_rl.recorded_run("mechanism-b256")  # both succeed there: a gap, a verdict, a peak
    line = _line(mechanism)
    assert "CFGRL − AWR +7.5 ± 29.5 points (within the noise: paired t-test over 4 seeds" in line
    assert "peaks at w = 3" in line and "1/β per seed [3.0, 3.0, 10.0, 10.0]." in line
    assert "succeeds in none" not in line and "uninformative" not in line and "tie-break" not in line

    no_awr = _line(_zeroed(mechanism, ["awr_gaussian"]))  # AWR never succeeds: said, with its tie-broken values
    assert "AWR succeeds in none of its 120 test episodes" in no_awr
    assert "(4 of 4 by tie-break: no validation success)" in no_awr
    assert "CFGRL − AWR" in no_awr and "uninformative" not in no_awr

    silent = _zeroed(mechanism)  # the synthetic all-zero result
    assert offline_rl.no_success(silent) and not offline_rl.no_success(mechanism)
    line = _line(silent)
    assert line.startswith("- **medium task 1**: no method succeeds at this budget") and "uninformative" in line
    for claim in ("CFGRL − AWR", "within the noise", "peaks", "Validated", "per seed", "±"):
        assert claim not in line, claim
    values = offline_rl.summary_values({offline_rl.MEDIUM: silent}, "mechanism")
    assert values["no_success"] == ["medium task 1"] and values["informative_gaps"] == {}


def test_the_recorded_runs_load_with_their_samples_and_an_unknown_one_is_refused():
    for folder, task in offline_rl.RECORDED_RUNS.items():
        result, sample = offline_rl.recorded_run(folder)
        assert result["task"] == task and sample["v"].shape == (result["preset"]["num_seeds"], len(sample["index"]))
        assert not (REPO / "results" / "offline_rl" / folder / task / "weights").exists()  # a record: no weights
    assert offline_rl.recorded_run("cpu-earlier")[0]["path_starts"]  # what notebook 05's section 6 reads from it
    assert "Intel" in offline_rl.recorded_machine("mechanism-3betas")  # its machine.json, for the result's commit
    assert offline_rl.recorded_machine("cpu-earlier") is None
    with pytest.raises(ValueError, match="no recorded run 'cpu'; the recorded runs are"):
        offline_rl.recorded_run("cpu")


def _carried_on(base: dict) -> dict:
    """A synthetic run that continues `base` to twice its steps: its losses, then more; its checkpoints at 1/4, 1/2
    and all of the longer run with 4 test episodes before the last, as the runner's; base's episodes where they meet."""
    longer = copy.deepcopy(base)
    last = base["checkpoint_steps"][-1]
    longer["preset"] |= dict(name="mechanism-modified", num_steps=2 * last)
    losses = np.asarray(base["loss_every_100"])
    longer["loss_every_100"] = np.concatenate([losses, losses[:, :7] + 1.0], axis=1).tolist()
    longer["checkpoint_steps"] = [last // 2, last, 2 * last]
    four = lambda step: {n: np.asarray(v)[:, :4].tolist() for n, v in base["success"][str(step)].items()}  # noqa: E731
    longer["success"] = {str(last // 2): four(last // 2), str(last): four(last),
                         str(2 * last): base["success"][str(last)]}  # fmt: skip
    return longer


def test_a_run_carried_on_continues_the_shorter_one_and_any_difference_in_what_they_share_breaks_it():
    base = offline_rl.load_result(offline_rl.result_path("mechanism", offline_rl.MEDIUM))
    longer = _carried_on(base)
    assert offline_rl.continues(longer, base) and not offline_rl.continues(base, longer)
    fresh = longer | {"preset": {k: tuple(v) if isinstance(v, list) else v for k, v in longer["preset"].items()}}
    assert offline_rl.continues(fresh, base)  # a result fresh from the runner (tuples) compares as its JSON (lists)
    assert not offline_rl.continues(base, base)  # not longer
    steps = base["checkpoint_steps"][-1]
    assert offline_rl.continues_text(longer, base, "the run") == (
        f"its first {steps:,} steps repeat the run: the same losses and test episodes"
    )
    assert (
        offline_rl.continues_text(base, base, "the run")
        == "made on other arithmetic than the run: it does not repeat its steps"
    )

    def flipped(result, step, seed, episode):
        out = copy.deepcopy(result)
        cell = out["success"][str(step)]["cfgrl"][seed][episode]
        cell[2] = 1 - cell[2]
        return out

    half, last = base["checkpoint_steps"][1], base["checkpoint_steps"][-1]
    assert not offline_rl.continues(flipped(longer, half, 0, 0), base)  # an episode both played at 1/4
    assert not offline_rl.continues(flipped(longer, last, 3, 3), base)  # the 4th of the episodes both played
    assert offline_rl.continues(longer, flipped(base, last, 3, 4))  # the 5th: only the shorter run played it
    assert offline_rl.continues(flipped(longer, 2 * last, 0, 0), base)  # after the shorter run's steps
    other_loss = copy.deepcopy(longer)
    other_loss["loss_every_100"][1][len(base["loss_every_100"][1]) - 1] += 1e-4
    assert not offline_rl.continues(other_loss, base)
    for key, value in (("seed", 1), ("dataset_sha256", "0" * 64), ("task", offline_rl.LARGE)):
        assert not offline_rl.continues(longer | {key: value}, base), key
    other_batch = copy.deepcopy(longer)
    other_batch["preset"]["batch_size"] = 256
    assert not offline_rl.continues(other_batch, base)

    gap = offline_rl.paired_gap_between(base, longer, "cfgrl")  # the same chosen values at the same test episodes
    assert gap[0] == 0 and gap[2] == base["preset"]["num_seeds"]


def test_the_100k_record_carries_the_committed_mechanism_run_on():
    record, _ = offline_rl.recorded_run("mechanism-100k")
    base = offline_rl.load_result(offline_rl.result_path("mechanism", offline_rl.MEDIUM))
    preset = offline_rl.get_preset("mechanism")
    carried = dict(name="mechanism-modified", num_steps=2 * preset.num_steps)
    assert record["preset"] == json.loads(json.dumps(dataclasses.asdict(preset) | carried))
    assert record["checkpoint_steps"] == [preset.num_steps // 2, preset.num_steps, 2 * preset.num_steps]
    if record["device"] == base["device"]:  # on one kind of machine its first steps are the committed run's
        assert offline_rl.continues(record, base)
    for name in offline_rl.TABLE_ACTORS:
        values = offline_rl.validated(record, name) - offline_rl.validated(base, name)
        assert offline_rl.paired_gap_between(base, record, name)[0] == pytest.approx(100 * values.mean())


def test_by_value_line_gives_each_value_its_success_and_how_many_seeds_chose_it():
    three, _ = offline_rl.recorded_run("mechanism-3betas")
    line = offline_rl.by_value_line(three, "awr_gaussian")
    per_seed = offline_rl.curves(three, "awr_gaussian") * 100
    cells = line.split(": ", 1)[1].split("; ")
    assert len(cells) == len(three["inv_betas"])
    for i, (beta, cell) in enumerate(zip(three["inv_betas"], cells, strict=True)):
        m, sd = per_seed[:, i].mean(), per_seed[:, i].std(ddof=1)
        assert cell.startswith(f"{beta:g}: {m:.0f} ± {sd:.0f} (") and cell.endswith(" of 4 chose it)")
    assert sum(int(c.rsplit("(", 1)[1].split()[0]) for c in cells) == len(three["chosen"]["awr_gaussian"])
    early = offline_rl.by_value_line(three, "awr_gaussian", three["checkpoint_steps"][0])
    assert "chose it" not in early and early.startswith(f"awr_gaussian by 1/β at step {three['checkpoint_steps'][0]:,}")


def test_the_mechanism_preset_keeps_every_temperature_the_three_temperature_record_validated():
    # the preset dropped 1/beta = 3 for its cost; the recorded run it was dropped from chose only what is kept
    three, _ = offline_rl.recorded_run("mechanism-3betas")
    kept = offline_rl.get_preset("mechanism").inv_betas
    assert set(three["chosen"]["awr_gaussian"]) <= set(kept) < set(three["inv_betas"])


def test_when_only_the_extra_actors_succeed_the_line_says_neither_awr_nor_cfgrl_does():
    medium = _zeroed(offline_rl.recorded_run("cpu-earlier")[0], ["awr_gaussian", "cfgrl"])  # its extras succeed
    line = _line(medium)
    assert "neither AWR nor CFGRL succeeds at this budget" in line and "CFGRL − AWR" not in line
    assert "awr_flow (validated):" in line and "of 200 test episodes over its sweep" in line
    assert "no method succeeds" in _line(_zeroed(medium))


def test_a_planted_paper_result_becomes_a_labelled_table_row_and_the_status_names_it(tmp_path, monkeypatch):
    monkeypatch.setenv(protocol.RESULTS_ENV, str(tmp_path))
    cpu = _cpu_results()
    assert offline_rl.paper_runs() == {} and len(offline_rl.table_rows(cpu)) == len(cpu)
    status = offline_rl.summary_values(cpu, "cpu")["paper_status"]
    assert status.startswith("The `paper` preset") and "has not been run" in status

    planted = json.loads((CPU / f"{offline_rl.TELEPORT}.json").read_text())
    planted["preset"]["name"], planted["device"] = "paper", "gpu: planted accelerator"
    (tmp_path / "offline_rl" / "paper").mkdir(parents=True)
    (tmp_path / "offline_rl" / "paper" / f"{offline_rl.TELEPORT}.json").write_text(json.dumps(planted))
    assert list(offline_rl.paper_runs()) == [f"paper/{offline_rl.TELEPORT}"]
    rows = offline_rl.table_rows(cpu)
    assert len(rows) == len(cpu) + 1
    shown = offline_rl.shown_table(rows)
    assert list(shown["preset"]) == ["cpu"] * len(cpu) + ["paper"]
    assert shown["run"].iloc[-1] == ("gpu: planted accelerator, 30,000 steps × 128, critic 2×128, actors 3×128, "
                                     "4 seeds, 10 test episodes per seed and value")  # fmt: skip
    assert shown["run"].iloc[0].startswith(f"{next(iter(cpu.values()))['device']}, 30,000 steps × 128")
    assert shown["CFGRL"].iloc[-1] == shown["CFGRL"].iloc[-2]  # the same numbers, planted
    values = offline_rl.summary_values(cpu, "cpu")
    status = values["paper_status"]
    assert status.startswith("Paper-type runs on record") and "planted accelerator" in status
    assert f"`results/offline_rl/paper/{offline_rl.TELEPORT}.json`" in status
    assert len(values["paper_table"]) == 1
    # a run of the reported preset is not its own paper row
    assert len(offline_rl.table_rows({offline_rl.TELEPORT: planted})) == 1


def test_fig05_table_csv_is_the_table_rows_of_the_committed_results():
    rows = offline_rl.table_rows(_cpu_results(), offline_rl.paper_runs(REPO / "results"))
    mechanism = REPO / "results" / "offline_rl" / "mechanism"
    rows.append(offline_rl.table_row(offline_rl.load_result(mechanism / f"{offline_rl.MEDIUM}.json")))  # its row
    records = pd.DataFrame(rows).to_dict("records")  # as the notebook saves them: a missing paper entry is NaN
    assert (REPO / "figures" / "fig05_table.csv").read_text() == table_to_csv(records)


def test_fig05_mechanism_csv_is_each_seeds_success_in_the_committed_mechanism_result():
    r = offline_rl.load_result(REPO / "results" / "offline_rl" / "mechanism" / f"{offline_rl.MEDIUM}.json")
    frame = pd.read_csv(REPO / "figures" / "fig05_mechanism.csv")
    final = frame[frame["panel"] == "final"]
    for name, values in (("cfgrl", r["ws"]), ("awr_gaussian", r["inv_betas"])):
        got = final[final["actor"] == name].pivot(index="seed", columns="value", values="success")
        np.testing.assert_allclose(got[values].to_numpy(), offline_rl.curves(r, name), rtol=1e-5)
    budget = frame[(frame["panel"] == "budget") & (frame["actor"] == "CFGRL, best w (oracle)")]
    for step in r["checkpoint_steps"]:
        got = budget[budget["value"] == step].sort_values("seed")["success"].to_numpy()
        np.testing.assert_allclose(got, offline_rl.curves(r, "cfgrl", step).max(axis=1), rtol=1e-5)


def test_fig05_curve_budget_and_path_csvs_are_each_seeds_success_in_the_committed_results():
    results = _cpu_results()
    path_runs = {t: r for t, r in results.items() if r.get("path_starts")}
    if not path_runs:  # the notebook reads the recorded earlier cpu run's path starts instead
        earlier, _ = offline_rl.recorded_run("cpu-earlier")
        path_runs = {earlier["task"]: earlier}
    curves = pd.read_csv(REPO / "figures" / "fig05_success_curves.csv")
    budget = pd.read_csv(REPO / "figures" / "fig05_budget.csv")
    path = pd.read_csv(REPO / "figures" / "fig05_path_starts.csv")
    n_curves = 0
    for task, r in results.items():
        for name in r["actors"]:
            values = r["ws"] if name.startswith("cfgrl") else r["inv_betas"]
            part = curves[(curves["task"] == task) & (curves["actor"] == name)]
            got = part.pivot(index="seed", columns="value", values="success")
            np.testing.assert_allclose(got[values].to_numpy(), offline_rl.curves(r, name), rtol=1e-5)
            n_curves += len(part)
            for step in r["checkpoint_steps"]:
                b = budget[(budget["task"] == task) & (budget["actor"] == name) & (budget["step"] == step)]
                success = np.asarray(r["success"][str(step)][name], float)  # [S, E, V]
                assert np.isclose(b["best_mean"].item(), 100 * success.mean(axis=(0, 1)).max(), rtol=1e-5)
                assert b["episodes"].item() == success.shape[1]
    assert len(curves) == n_curves
    assert set(path["task"]) == set(path_runs)
    for task, r in path_runs.items():
        dist = [s_["distance"] for s_ in r["path_starts"]["starts"]]
        for name in offline_rl.PATH_ACTORS:
            part = path[(path["task"] == task) & (path["actor"] == name) & (path["selection"] == "validated")]
            got = part.pivot(index="seed", columns="distance", values="success")[dist].to_numpy()
            np.testing.assert_allclose(got, offline_rl.path_validated(r, name), rtol=1e-5)


def test_fig05_labels_csv_is_the_histogram_of_the_committed_samples_advantages():
    saved = pd.read_csv(REPO / "figures" / "fig05_labels.csv")
    for task in offline_rl.get_preset("cpu").tasks:
        adv = offline_rl.load_sample(CPU / f"{task}.json")["advantages"]  # [S, n]
        lo, hi = np.quantile(adv, [0.005, 0.995])
        bins = np.linspace(lo, hi, 60)
        for s in range(len(adv)):
            part = saved[(saved["task"] == task) & (saved["seed"] == s)]
            assert part["count"].tolist() == np.histogram(adv[s], bins)[0].tolist()
            np.testing.assert_allclose(part["bin_lo"], bins[:-1], rtol=1e-5)
