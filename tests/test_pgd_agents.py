"""Notebook 07's parts: TD3+BC, IQL as one agent, mixed replay, regeneration by the current policy, the reward task."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cfgrl_core.agents.iql_agent import IQLAgent
from cfgrl_core.agents.td3_bc import TD3BCConfig, TD3BCLearner, actor_loss, critic_target
from cfgrl_core.experiments import pgd_agents, protocol
from cfgrl_core.io.checkpoints import CheckpointDir
from cfgrl_core.io.figures import table_to_csv
from cfgrl_core.io.provenance import file_sha256
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


def bandit(n=512, seed=0):
    """A one-step task (every transition terminal): reward 1 - |a - (0.6, -0.4)|^2 / 2, behaviour actions uniform in
    the box. The best action is (0.6, -0.4); the behaviour's mean action is 0."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    return {
        "observations": jnp.asarray(rng.normal(size=(n, 2)), jnp.float32),
        "actions": jnp.asarray(a),
        "rewards": jnp.asarray(1 - 0.5 * ((a - BEST) ** 2).sum(-1), jnp.float32),
        "masks": jnp.zeros(n, jnp.float32),
        "next_observations": jnp.asarray(rng.normal(size=(n, 2)), jnp.float32),
    }


BEST = np.array([0.6, -0.4], np.float32)


def test_iql_agent_learns_a_bandit_its_critic_ranks_actions_and_its_actor_leaves_the_behaviour_mean():
    """On a one-step task IQL's Q is the reward: after 600 steps the critic ranks the best action above the
    behaviour's mean action and a bad one, its loss has fallen, and the AWR actor's action (clipped to the box) has
    moved from the behaviour's mean (0) most of the way to the best action; at step 0 the critic is far off."""
    from cfgrl_core.agents.iql import q_values

    agent = IQLAgent(2, 2, (32, 32), learning_rate=1e-3)
    data = bandit()
    state = agent.create(jax.random.key(0))
    s = data["observations"][:64]
    config = agent.joint.critic.config

    def q(st, a):
        return float(q_values(st.critic, s, jnp.broadcast_to(jnp.asarray(a, jnp.float32), s.shape),
                              config=config).mean())  # fmt: skip

    def distance(st):
        return float(np.linalg.norm(np.asarray(agent.act(agent.actor_params(st), s)) - BEST, axis=-1).mean())

    start_distance = distance(state)
    assert abs(q(state, BEST) - 1.0) > 0.5  # untrained: far from the true value
    states = jax.tree_util.tree_map(lambda x: x[None], state)
    states, losses = run_training(agent, states, data, jax.random.key(1)[None], num_steps=600, batch_size=128,
                                  steps_per_call=600, progress=False)  # fmt: skip
    state = jax.tree_util.tree_map(lambda x: x[0], states)
    assert losses[0, -50:].mean() < 0.4 * losses[0, :50].mean()  # measured: 0.28
    assert q(state, BEST) > q(state, [0.0, 0.0]) + 0.05 > q(state, -BEST) + 0.5  # true values 1, 0.74, -0.04
    assert abs(q(state, BEST) - 1.0) < 0.15
    assert distance(state) < 0.5 * start_distance and distance(state) < 0.35  # the behaviour's mean is 0.72 away


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
    # the reconstructed probe's path (the real arm alone) gives the real arm's final numbers bit for bit
    data = reward_task.load_dataset(tmp_path / "whole" / "mixed.npz")[0]
    alone = pgd_agents.train_real_only("td3_bc", TINY, data)
    assert alone["final_score"] == arms["real"]["final_score"] and alone["final_return"] == arms["real"]["final_return"]


# ------------------------------------------------------------------------------------ the committed results
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def committed():
    preset = pgd_agents.get_preset("cpu")
    folder = REPO / "results" / "pgd_agents" / "cpu"
    return {pgd_agents.task_name(g): pgd_agents.load_result(folder / pgd_agents.task_name(g))
            for g in preset.good_fractions}  # fmt: skip


def test_the_figures_csvs_follow_from_the_committed_results(committed):
    """Every committed fig07 CSV is what the module's table functions write from the committed results (notebook 07
    calls the same functions), byte for byte."""
    preset = pgd_agents.get_preset("cpu")
    datasets = {t: reward_task.load_dataset(REPO / "results" / "pgd_agents" / "cpu" / t / "mixed.npz")[0]
                for t in committed}  # fmt: skip
    refs = committed["good20"]["agents"]["td3_bc"]["references"]
    made = {
        "fig07_task": pgd_agents.task_rows(datasets, refs),
        "fig07_return_curves": pgd_agents.return_curve_rows(committed, preset),
        "fig07_table": pgd_agents.criteria_table(committed, preset),
        "fig07_regenerated_data": pgd_agents.regenerated_data_rows(committed, preset),
        "fig07_lambda_sweep": pgd_agents.sweep_table(committed, preset),
    }
    for name, rows in made.items():
        assert table_to_csv(rows) == (REPO / "figures" / f"{name}.csv").read_text(), name
    assert sorted(p.stem for p in (REPO / "figures").glob("fig07_*.csv")) == sorted(made)


def test_the_summary_lists_every_separated_comparison_from_the_data(committed):
    """The Summary's separated cells come from the paired t-test on the data: none at the pre-registered lambda in
    the committed run (good05 TD3+BC, PGD - unguided, is the closest), and a planted shift of one cell is listed."""
    values = pgd_agents.summary_values(committed, "cpu")
    assert values["n_sep_head"] == 0 and values["separated"] == "none does" and values["n_head"] == 8
    # the closest headline comparison, recomputed here from the per-seed final scores with scipy's paired t-test
    from scipy import stats as scipy_stats

    headline = pgd_agents.headline_arms(pgd_agents.get_preset("cpu"))[-1]
    pairs = []
    for task, run in committed.items():
        for agent, record in run["agents"].items():
            for other in ("real", "unguided"):
                d = np.subtract(record["arms"][headline]["final_score"], record["arms"][other]["final_score"])
                p = scipy_stats.ttest_rel(record["arms"][headline]["final_score"], record["arms"][other]["final_score"])
                label = f"{task} {pgd_agents.AGENT_NAMES[agent]}, {headline} − {other}"
                pairs.append((p.pvalue, f"{label} {d.mean():+.1f} ± {d.std(ddof=1) / np.sqrt(len(d)):.1f}"))
    assert len(pairs) == values["n_head"] and not any(np.isnan(p) for p, _ in pairs)
    p_min = min(p for p, _ in pairs)
    closest = [f"{text} (p = {p:.2g})" for p, text in pairs if p <= p_min * (1 + 1e-9)]  # ties: any of them
    assert values["closest"] in closest
    assert "pgd_10 − unguided" in values["sweep_separated"]
    planted = copy.deepcopy(committed)
    arm = planted["good20"]["agents"]["iql"]["arms"]["pgd_2.5"]
    arm["final_score"] = [v + 30 + k for k, v in enumerate(planted["good20"]["agents"]["iql"]["arms"]["real"][
        "final_score"])]  # fmt: skip
    values = pgd_agents.summary_values(planted, "cpu")
    assert values["n_sep_head"] == 2 and values["separated"].startswith("good20 IQL, pgd_2.5 − real +31.0 ± 0.6")
    assert "; good20 IQL, pgd_2.5 − unguided" in values["separated"] and values["met3"] == 1


def test_paper_status_names_a_planted_paper_run(tmp_path, monkeypatch, committed):
    monkeypatch.setenv(protocol.RESULTS_ENV, str(tmp_path))
    assert "has not been run" in pgd_agents.paper_status() and pgd_agents.load_probe() is None
    planted = copy.deepcopy(committed["good20"])
    planted["device"] = "gpu: planted accelerator"
    (tmp_path / "pgd_agents" / "paper" / "good20").mkdir(parents=True)
    (tmp_path / "pgd_agents" / "paper" / "good20" / "results.json").write_text(json.dumps(planted))
    status = pgd_agents.paper_status()
    assert (
        "`results/pgd_agents/paper/good20/results.json` (gpu: planted accelerator, 20,000 agent steps, 3 seeds"
        in status
    )
    assert "not been run" not in status


def test_the_committed_probe_is_the_real_arm_alone_on_its_own_dataset():
    """The reconstructed real-data probe (results/pgd_agents/probe-real-cpu): the cpu preset's sizes, its dataset
    is the recipe of p_good = 0.1 and the file it names, one final score per seed and agent; the Summary prints it."""
    probe = pgd_agents.EXPERIMENT.load_result(REPO / "results" / "pgd_agents" / "probe-real-cpu" / "results.json")
    preset = pgd_agents.get_preset("cpu")
    assert probe["preset"] == json.loads(json.dumps(dataclasses.asdict(preset)))
    assert list(probe["tasks"]) == ["good10"] and "reconstruction" in probe["note"]
    path = REPO / "results" / "pgd_agents" / "probe-real-cpu" / "good10" / "mixed.npz"
    data, recipe = reward_task.load_dataset(path)
    assert recipe == pgd_agents.recipe(preset, 0.1) and file_sha256(path) == probe["tasks"]["good10"]["dataset_sha256"]
    for agent in preset.agents:
        assert len(probe["tasks"]["good10"]["agents"][agent]["final_score"]) == preset.num_seeds
    text = pgd_agents.probe_values(probe)["probe"]
    assert "good10 ($p_\\text{good} = 0.1$): TD3+BC" in text and "IQL" in text
    assert "no reconstruction" in pgd_agents.probe_values(None)["probe"]
