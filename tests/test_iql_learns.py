"""Notebook 05's learners solve a task: the IQL critic with the CFGRL and AWR actors, trained together exactly as
`offline_rl` trains them (`CriticWithActors`) and rolled out through the same `singletask` policies, on the tiniest
offline task on which a wrong critic or actor fails.

The task, a 1-D corridor: position s in [0, 1], action a in [-1, 1], s' = clip(s + STEP a, 0, 1); the goal is
s >= GOAL, with OGBench's single-task relabelling (reward = success(s) - 1, mask = 1 - success(s)). The data are
uniform: s ~ U[0, 1], a ~ U[-1, 1], so behaviour cloning's actions average to zero and a BC policy started at s = 0
drifts (flow BC) or stands still (the Gaussian's mean action) and fails; reaching the goal within HORIZON steps
needs the actions to point right, which only the critic's advantages can tell. An episode starts at s = 0 and
succeeds once s >= GOAL; the shortest episode takes GOAL / STEP steps.

Claims, each with its threshold (out of EPISODES episodes): CFGRL at w = 3 and AWR at 1/beta = 10 succeed in at
least 90 %; their BC ends (w = 0, 1/beta = 0) in at most 10 %; the same actors trained on the same critic with the
advantage's sign flipped succeed in at most 10 % (so the test fails with a critic or a label of the wrong sign); and
at a tight horizon, where the mean action must be near +1, w = 3 beats filtered BC (w = 1) by at least half the
episodes (guidance beyond w = 1 sharpens the policy, notebook 02's point).

Measured when written (1,000 steps, batch 256, seed 0, 64 episodes): at HORIZON, CFGRL 0 / 94 / 100 % at
w = 0 / 1 / 3 and AWR 0 / 100 % at 1/beta = 0 / 10; every flipped actor 0 % (w = 1 and 3, 1/beta = 0 and 10); at
TIGHT, CFGRL 0 / 0 / 100 % at w = 0 / 1 / 3 (AWR's Gaussian mean at 1/beta = 10: 0 %, not asserted). About 20 s of
CPU, most of it compiling.
"""

from dataclasses import dataclass, replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cfgrl_core.agents import awr, cfgrl_actor, iql
from cfgrl_core.agents.offline import Actor, CriticWithActors
from cfgrl_core.ogbench import singletask
from cfgrl_core.train import TrainConfig, create_runs, run_training

STEP, GOAL = 0.1, 0.9  # the corridor: s' = clip(s + STEP a, 0, 1), success at s >= GOAL (9 steps at a = +1)
HORIZON, TIGHT = 20, 12  # episode lengths: generous, and one that needs a mean action of at least 0.75
EPISODES = 64
STEPS, BATCH = 1000, 256
INV_BETAS = (0.0, 10.0)


def corridor_data(n=8192, seed=0) -> dict:
    rng = np.random.default_rng(seed)
    s = rng.uniform(0, 1, n).astype(np.float32)
    a = rng.uniform(-1, 1, n).astype(np.float32)
    success = (s >= GOAL).astype(np.float32)
    return {
        "observations": jnp.asarray(s[:, None]),
        "actions": jnp.asarray(a[:, None]),
        "rewards": jnp.asarray(success - 1.0),
        "masks": jnp.asarray(1.0 - success),
        "next_observations": jnp.asarray(np.clip(s + STEP * a, 0, 1)[:, None]),
    }


@dataclass(frozen=True)
class FlippedAdvantages:
    """An actor learner that sees -A instead of A: the broken control the test must tell apart."""

    inner: object

    @property
    def loss_key(self):
        return self.inner.loss_key

    def create(self, key):
        return self.inner.create(key)

    def update(self, state, batch, key, *run_args):
        return self.inner.update(state, {**batch, "advantages": -batch["advantages"]}, key, *run_args)


def success_rate(policy, w: float, horizon: int, seed: int = 1) -> float:
    """Fraction of EPISODES episodes from s = 0 that reach s >= GOAL within `horizon` steps."""
    s = np.zeros((EPISODES, 1), np.float32)
    reached = np.zeros(EPISODES, bool)
    key = jax.random.key(seed)
    for _ in range(horizon):
        reached |= s[:, 0] >= GOAL
        key, k = jax.random.split(key)
        ws = jnp.full((EPISODES,), w, jnp.float32)
        a = np.asarray(policy.act(jax.random.split(k, EPISODES), None, ws, jnp.asarray(s)))
        s = np.clip(s + STEP * a, 0.0, 1.0)
    return float((reached | (s[:, 0] >= GOAL)).mean())


@pytest.fixture(scope="module")
def trained():
    tc = TrainConfig(batch_size=BATCH, learning_rate=1e-3)
    critic = iql.IQLConfig(obs_dim=1, action_dim=1, hidden_dims=(32, 32), discount=0.9, polyak=0.05)
    flow = cfgrl_actor.CFGRLActorConfig(obs_dim=1, action_dim=1, hidden_dims=(32, 32))
    gauss = awr.AWRConfig(action_dim=1, obs_dim=1, policy="gaussian", hidden_dims=(32,))
    learner = CriticWithActors(
        iql.IQLLearner(critic, tc),
        (
            Actor("cfgrl", cfgrl_actor.CFGRLActorLearner(flow, tc)),
            Actor("awr", awr.AWRLearner(gauss, tc), run_values=INV_BETAS),
            Actor("cfgrl_flipped", FlippedAdvantages(cfgrl_actor.CFGRLActorLearner(flow, tc))),
            Actor("awr_flipped", FlippedAdvantages(awr.AWRLearner(gauss, tc)), run_values=INV_BETAS),
        ),
    )
    keys = jax.random.split(jax.random.key(0), 1)
    states, _ = run_training(learner, create_runs(learner, keys), corridor_data(), keys, num_steps=STEPS,
                             batch_size=BATCH, progress=False)  # fmt: skip
    state = jax.tree_util.tree_map(lambda x: x[0], states)
    cfgrl = {name: singletask.cfgrl_policy(state.actors[name].params, flow, flow_steps=8)
             for name in ("cfgrl", "cfgrl_flipped")}  # fmt: skip
    awr_by_beta = {(name, ib): singletask.awr_policy(jax.tree_util.tree_map(lambda x, b=b: x[b],
                                                                            state.actors[name].params), gauss)
                   for name in ("awr", "awr_flipped") for b, ib in enumerate(INV_BETAS)}  # fmt: skip
    return state, critic, cfgrl, awr_by_beta


def test_the_critic_learns_that_moving_right_is_better(trained):
    state, critic, _, _ = trained
    s = jnp.linspace(0.0, 0.8, 9)[:, None]  # the states left of the goal
    v = np.asarray(iql.state_values(state.critic, s, config=critic))
    adv = {a: np.asarray(iql.batch_advantages(state.critic, s, jnp.full_like(s, a), config=critic)) for a in (-1, 1)}
    assert np.all(np.diff(v) > 0), v  # V grows towards the goal
    assert np.all(adv[1] > adv[-1] + 0.1), adv  # right beats left at every state


def test_cfgrl_and_awr_reach_the_goal_and_their_bc_ends_do_not(trained):
    _, _, cfgrl, awr_by_beta = trained
    got = {f"cfgrl w={w:g}": success_rate(cfgrl["cfgrl"], w, HORIZON) for w in (0.0, 3.0)}
    got |= {f"awr 1/beta={ib:g}": success_rate(awr_by_beta["awr", ib], 0.0, HORIZON) for ib in INV_BETAS}
    assert got["cfgrl w=3"] >= 0.9 and got["awr 1/beta=10"] >= 0.9, got
    assert got["cfgrl w=0"] <= 0.1 and got["awr 1/beta=0"] <= 0.1, got


def test_the_same_actors_fail_with_the_advantage_sign_flipped(trained):
    _, _, cfgrl, awr_by_beta = trained
    got = {"cfgrl w=3": success_rate(cfgrl["cfgrl_flipped"], 3.0, HORIZON),
           "awr 1/beta=10": success_rate(awr_by_beta["awr_flipped", 10.0], 0.0, HORIZON)}  # fmt: skip
    assert max(got.values()) <= 0.1, got


def test_guidance_beyond_w_1_sharpens_what_filtered_bc_cannot(trained):
    _, _, cfgrl, _ = trained
    w1, w3 = (success_rate(cfgrl["cfgrl"], w, TIGHT) for w in (1.0, 3.0))
    assert w3 >= 0.9 and w3 - w1 >= 0.5, (w1, w3)


@pytest.mark.parametrize("online", [True, False])
def test_the_critic_step_hands_on_the_advantages_from_before_it(online):
    """`update_with_advantages` reads A(s, a) from the IQL loss's own forward passes (the joint learner's only
    advantage pass): it must equal `batch_advantages` of the state before the step, from the online or the target
    critic as configured, and its step must be `update`'s, whose info stays scalars."""
    config = iql.IQLConfig(obs_dim=1, action_dim=1, hidden_dims=(32, 32), polyak=0.5, online_advantage=online)
    learner = iql.IQLLearner(config, TrainConfig(batch_size=64, learning_rate=1e-2))
    batch, key = corridor_data(64), jax.random.key(0)
    state = learner.create(key)
    for _ in range(3):  # the target critic moves off the online one, so the two choices differ
        state, _ = learner.update(state, batch, key)
    obs, actions = batch["observations"], batch["actions"]
    before = {o: iql.batch_advantages(state, obs, actions, config=replace(config, online_advantage=o))
              for o in (True, False)}  # fmt: skip
    assert float(jnp.max(jnp.abs(before[True] - before[False]))) > 1e-3
    stepped, info, adv = jax.jit(learner.update_with_advantages)(state, batch, key)
    np.testing.assert_allclose(adv, before[online], rtol=1e-6, atol=1e-6)
    plain, plain_info = jax.jit(learner.update)(state, batch, key)
    for a, b in zip(jax.tree_util.tree_leaves(stepped), jax.tree_util.tree_leaves(plain), strict=True):
        assert np.array_equal(a, b)
    assert "advantages" not in info and all(np.ndim(v) == 0 for v in plain_info.values())
