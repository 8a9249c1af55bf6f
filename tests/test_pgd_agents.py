"""Notebook 07's parts: TD3+BC, IQL as one agent, mixed replay, regeneration by the current policy, the reward task."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cfgrl_core.agents.iql_agent import IQLAgent
from cfgrl_core.agents.td3_bc import TD3BCConfig, TD3BCLearner, actor_loss, critic_target
from cfgrl_core.experiments import pgd_agents
from cfgrl_core.io.checkpoints import CheckpointDir
from cfgrl_core.pgd import pointmass, reward_task, trajectory_model
from cfgrl_core.pgd.synthetic_replay import AgentLogProb, MixedReplay, real_transitions, window_transitions
from cfgrl_core.pgd.windows import Normaliser, make_windows
from cfgrl_core.train import TrainState, create_runs, run_training

CONFIG = TD3BCConfig(2, 2, (16, 16))


def batch(n=32, seed=0, marker=None):
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n, 2)).astype(np.float32)
    if marker is not None:
        obs[:, 0] = marker
    return {
        "observations": jnp.asarray(obs),
        "actions": jnp.asarray(rng.uniform(-1, 1, (n, 2)), jnp.float32),
        "rewards": jnp.asarray(rng.uniform(0, 1, n), jnp.float32),
        "masks": jnp.asarray(rng.integers(0, 2, n), jnp.float32),
        "next_observations": jnp.asarray(rng.normal(size=(n, 2)), jnp.float32),
    }


# ------------------------------------------------------------------------------------------------------- TD3+BC
def test_td3bc_actor_loss_with_alpha_zero_is_behaviour_cloning():
    learner = TD3BCLearner(dataclasses.replace(CONFIG, alpha=0.0))
    state = learner.create(jax.random.key(0))
    b = batch()

    def bc(actor):
        return jnp.mean((learner.act(actor, b["observations"]) - b["actions"]) ** 2)

    grad_td3 = jax.grad(lambda p: actor_loss(p, state.critic, b, config=learner.config)[0])(state.actor)
    grad_bc = jax.grad(bc)(state.actor)
    np.testing.assert_allclose(actor_loss(state.actor, state.critic, b, config=learner.config)[0], bc(state.actor))
    for g1, g2 in zip(jax.tree_util.tree_leaves(grad_td3), jax.tree_util.tree_leaves(grad_bc), strict=True):
        np.testing.assert_allclose(g1, g2, rtol=1e-6, atol=1e-8)
    # with alpha > 0 the Q term changes the gradient (the test above could not pass by accident)
    grad_q = jax.grad(lambda p: actor_loss(p, state.critic, b, config=CONFIG)[0])(state.actor)
    assert (
        max(
            float(jnp.abs(a - c).max())
            for a, c in zip(jax.tree_util.tree_leaves(grad_q), jax.tree_util.tree_leaves(grad_bc), strict=True)
        )
        > 1e-6
    )


def test_td3bc_critic_target_on_a_hand_made_batch():
    b = {
        "rewards": jnp.array([1.0, 0.5, 0.0]),
        "masks": jnp.array([1.0, 0.0, 1.0]),
        "actions": jnp.zeros((3, 2)),
        "next_observations": jnp.array([[0.0, 0.0], [1.0, 1.0], [2.0, -1.0]]),
    }

    def next_q(s, a):  # Q1 = sum(s) + sum(a), Q2 = Q1 + 1: the min is Q1
        q1 = s.sum(-1) + a.sum(-1)
        return jnp.stack([q1, q1 + 1.0])

    target_actor = lambda s: jnp.full((len(s), 2), 0.9)
    no_noise = dataclasses.replace(CONFIG, policy_noise=0.0, discount=0.5)
    y = critic_target(next_q, target_actor, b, jax.random.key(0), config=no_noise)
    # by hand: Q1(s', 0.9, 0.9) = sum(s') + 1.8; y = r + 0.5 m Q1
    np.testing.assert_allclose(y, [1.0 + 0.5 * 1.8, 0.5, 0.0 + 0.5 * (1.0 + 1.8)], rtol=1e-6)
    # smoothing: noise clipped to +-0.5, the action then to the box: each coordinate of a' lies in [0.4, 1]
    loud = dataclasses.replace(no_noise, policy_noise=10.0)
    for k in range(5):
        y = np.asarray(critic_target(next_q, target_actor, b, jax.random.key(k), config=loud))
        a_sum = (y[[0, 2]] - np.array([1.0, 0.0])) / 0.5 - np.array([0.0, 1.0])
        assert np.all(a_sum >= 0.8 - 1e-5) and np.all(a_sum <= 2.0 + 1e-5)
        assert y[1] == pytest.approx(0.5)  # masked: no bootstrap


def test_td3bc_actor_and_targets_move_every_second_step_only():
    learner = TD3BCLearner(CONFIG)
    s0 = learner.create(jax.random.key(0))
    s1, _ = learner.update(s0, batch(), jax.random.key(1))
    s2, _ = learner.update(s1, batch(seed=1), jax.random.key(2))
    same = lambda a, b: all(
        np.array_equal(x, y) for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True)
    )
    assert not same(s1.critic, s0.critic) and same(s1.actor, s0.actor) and same(s1.target_critic, s0.target_critic)
    assert not same(s2.actor, s1.actor) and not same(s2.target_actor, s1.target_actor)
    assert np.all(np.abs(learner.act(s2.actor, batch()["observations"])) <= CONFIG.max_action)


def test_iql_agent_acts_inside_the_box_and_learns():
    agent = IQLAgent(2, 2, (16, 16))
    state = agent.create(jax.random.key(0))
    state, info = agent.update(state, batch(), jax.random.key(1))
    a = agent.act(agent.actor_params(state), batch(n=100)["observations"] * 50)
    assert a.shape == (100, 2) and np.all(np.abs(a) <= 1.0)
    assert np.isfinite(info["iql_loss"]) and np.isfinite(info["actor_loss"])


# ------------------------------------------------------------------------------------------------ mixed replay
class Probe:
    """An 'agent' that reports which rows of its batch came from the synthetic data (marker observation 100)."""

    loss_key = "synthetic_fraction"

    def create(self, key):
        return TrainState(params={"rows": jnp.zeros((), jnp.float32)}, opt_state=(), step=jnp.zeros((), jnp.int32))

    def update(self, state, b, key):
        synthetic = (b["observations"][:, 0] == 100.0).astype(jnp.float32)
        new = TrainState(params={"rows": jnp.float32(len(synthetic))}, opt_state=(), step=state.step + 1)
        return new, {"synthetic_fraction": synthetic.mean()}


@pytest.mark.parametrize("synth_batch, real_rows", [(240, 16), (8, 24)])
def test_the_mixing_ratio_holds_in_every_batch(synth_batch, real_rows):
    learner = MixedReplay(Probe(), synth_batch)
    states = create_runs(learner, jax.random.split(jax.random.key(0), 2))
    synthetic = jax.tree_util.tree_map(lambda x: jnp.stack([x, x]), batch(64, marker=100.0))
    keys = jax.random.split(jax.random.key(1), 2)
    states, fractions = run_training(learner, states, batch(64, seed=2), keys, num_steps=20, batch_size=real_rows,
                                     run_args=(synthetic,), progress=False)  # fmt: skip
    np.testing.assert_allclose(fractions, synth_batch / (synth_batch + real_rows), rtol=1e-6)
    assert np.all(np.asarray(states.params["rows"]) == synth_batch + real_rows)


def test_real_only_replay_refuses_a_synthetic_dataset_and_vice_versa():
    with pytest.raises(ValueError, match="real data only"):
        MixedReplay(Probe(), 0).update(Probe().create(None), batch(), jax.random.key(0), batch())
    with pytest.raises(ValueError, match="needs a synthetic dataset"):
        MixedReplay(Probe(), 4).update(Probe().create(None), batch(), jax.random.key(0))


# ----------------------------------------------------------------------------------------------- regeneration
@pytest.fixture(scope="module")
def mixed():
    return reward_task.generate_dataset(reward_task.MixedRecipe(num_episodes=40, seed=1))


def test_windows_become_the_real_transitions_they_came_from(mixed):
    ws = make_windows(mixed, 8, 8)
    tr = window_transitions(ws.layout, ws.x)
    real = real_transitions(mixed)
    # every window transition is a real transition: look each up by its observation and action
    pairs = zip(real["observations"], real["actions"], strict=True)
    index = {(tuple(o), tuple(a)): i for i, (o, a) in enumerate(pairs)}
    rows = [index[(tuple(o), tuple(a))] for o, a in zip(tr["observations"], tr["actions"], strict=True)]
    for k in ("rewards", "masks", "next_observations"):
        np.testing.assert_array_equal(tr[k], real[k][rows])
    assert np.abs(tr["actions"]).max() <= 1.0 < np.abs(mixed["actions"]).max()  # clipped, as the simulator does


def test_regeneration_follows_the_policy_parameters_and_nothing_else(mixed):
    ws = make_windows(mixed, 8, 4)
    norm = Normaliser.fit(ws.x)
    config = trajectory_model.model_config(ws.layout, hidden=(32, 32))
    traj = create_runs(trajectory_model.trajectory_learner(config), jax.random.split(jax.random.key(0), 2)).params
    agent = TD3BCLearner(CONFIG)
    policies = create_runs(agent, jax.random.split(jax.random.key(1), 2)).actor
    log_prob = AgentLogProb(agent, 1.0)
    keys = jax.random.split(jax.random.key(2), 2)

    def regenerate(actor, lam=2.5):
        return trajectory_model.generate_runs(traj, config, ws.layout, norm, keys, 16, lams=[lam, lam],
                                              log_prob=log_prob, policy_params=actor, flow_steps=6)  # fmt: skip

    first = regenerate(policies)
    np.testing.assert_array_equal(regenerate(policies), first)  # same parameters: the same data
    moved = jax.tree_util.tree_map(lambda p: p.at[1].add(0.3), policies)  # change run 1's policy only
    second = regenerate(moved)
    np.testing.assert_array_equal(second[0], first[0])
    assert np.abs(second[1] - first[1])[:, ws.layout.action_mask()].max() > 1e-4
    np.testing.assert_array_equal(regenerate(moved, 0.0), regenerate(policies, 0.0))  # lam = 0 ignores the policy


# ----------------------------------------------------------------------------------------------- reward task
def test_mixed_dataset_rewards_terminals_and_proportions(mixed):
    task = reward_task.RewardTask()
    np.testing.assert_array_equal(mixed["rewards"], reward_task.reward(task, mixed["next_observations"]))
    np.testing.assert_array_equal(mixed["terminals"], pointmass.terminal(task.world, mixed["next_observations"]))
    big = reward_task.generate_dataset(reward_task.MixedRecipe(num_episodes=400, seed=2))
    starts = np.r_[0, np.flatnonzero(np.diff(big["episode_ids"])) + 1]
    assert abs(big["behaviour_ids"][starts].mean() - 0.2) < 0.06  # 20 % of episodes head to the rewarded goal
    returns = reward_task.data_returns(big)
    by_policy = [returns[big["behaviour_ids"][starts] == k].mean() for k in (0, 1)]
    assert by_policy[1] > 3 * by_policy[0]  # the minority is the good data


def test_mixed_recipe_file_round_trip_and_refusal(tmp_path):
    recipe = reward_task.MixedRecipe(num_episodes=5)
    path = tmp_path / "mixed.npz"
    data = reward_task.obtain_dataset(path, recipe)
    again = reward_task.obtain_dataset(path, recipe)
    for k in reward_task.DATA_KEYS:
        np.testing.assert_array_equal(again[k], data[k])
    with pytest.raises(ValueError, match="another recipe"):
        reward_task.obtain_dataset(path, reward_task.MixedRecipe(num_episodes=6))
    with pytest.raises(ValueError, match="MixedRecipe"):  # a notebook-06 file is not a mixed-quality dataset
        other = tmp_path / "single.npz"
        pointmass.obtain_dataset(other, pointmass.Recipe(num_episodes=3))
        pointmass.load_dataset(other, recipe_type=reward_task.MixedRecipe)


def test_score_references_order():
    refs = reward_task.reference_returns(reward_task.RewardTask(), 20, seed=1)
    assert refs["random"] < refs["wrong_controller"] < refs["right_controller"] < refs["expert"]
    np.testing.assert_allclose(reward_task.normalised_score([refs["random"], refs["expert"]], refs), [0, 100])


# ------------------------------------------------------------------------------------------------ the runner
TINY = dataclasses.replace(pgd_agents.PRESETS["fast"], name="tiny", agents=("td3_bc",), agent_steps=200,
                           lam_sweep=(2.5,), traj_steps=100)  # fmt: skip


def test_runner_resumes_to_the_same_numbers(tmp_path, monkeypatch):
    whole = pgd_agents.run_task(TINY, 0.2, tmp_path / "whole", progress=False, log=lambda m: None)
    save = CheckpointDir.save

    def save_then_die(self, step, tree):  # killed right after the agent's first period is saved
        out = save(self, step, tree)
        if "td3_bc" in str(self.root):
            raise KeyboardInterrupt
        return out

    monkeypatch.setattr(CheckpointDir, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        pgd_agents.run_task(TINY, 0.2, tmp_path / "killed", progress=False, log=lambda m: None)
    monkeypatch.setattr(CheckpointDir, "save", save)
    resumed = pgd_agents.run_task(TINY, 0.2, tmp_path / "killed", progress=False, log=lambda m: None)
    assert resumed["agents"] == whole["agents"]
    arms = whole["agents"]["td3_bc"]["arms"]
    assert set(arms) == {"real", "unguided", "pgd_2.5"}
    assert len(arms["pgd_2.5"]["final_score"]) == TINY.num_seeds
    assert len(whole["agents"]["td3_bc"]["steps"]) == TINY.periods + 1
