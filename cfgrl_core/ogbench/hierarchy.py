"""Hierarchical CFGRL (HCFGRL, the authors' `hcfgrl.py`): a subgoal flow and an action flow, both guided with w.

Two flow networks, each with its own learned null condition and 10 % condition dropout, trained together
(`train.MultiFlowLearner`: losses summed, one Adam):

    high   pi_h(z | s, g):  predicts the subgoal z = phi(s_{min(t + K, k)}), the oracle rep of the state K steps
           ahead of t, or of the goal state k if that is nearer (k = the hindsight goal index of the row)
    low    pi_l(a | s, z):  predicts the action a_t from the subgoal z = phi(s_{min(t + K, T_e)}), K steps ahead
           clipped to T_e, the episode's last row (in OGBench's regular layout, its last transition's start state,
           as in the authors' code), so always a state of the same episode

with K = `subgoal_steps` = 25 (the authors' default). At evaluation the subgoal is sampled with guidance w from the
high flow, then the action with the same w from the low flow conditioned on it (16 Euler steps each), at every
env step. w = 1 for both is flow HGCBC (the authors' `hgcfbc.py` trains it without dropout; ours is the same
networks at w = 1); w = 0 for both is a hierarchy of unconditional flows (the high level then predicts a subgoal
25 steps ahead of the behaviour, not towards the goal).

    data, sample_fn = make_hier_sampler(raw, subgoal_steps=25)      batch = {"high": {...}, "low": {...}}
    learner = hier_learner(raw, hidden_dims, p_uncond=0.1)
    policy = hierarchical_policy(params, learner, flow_steps=16)    an evaluation.RowPolicy
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import jax
import jax.numpy as jnp

from cfgrl_core.checks import check_flow_steps, check_positive_int
from cfgrl_core.guidance import sample_rows
from cfgrl_core.networks import ModelConfig
from cfgrl_core.ogbench import gc_dataset
from cfgrl_core.ogbench.evaluation import RowPolicy, map_row_chunks
from cfgrl_core.train import FlowMember, MultiFlowLearner

SUBGOAL_STEPS = 25  # the authors' subgoal_steps


def subgoal_idxs(idxs: jax.Array, limit_idxs: jax.Array, subgoal_steps: int) -> jax.Array:
    """The row `subgoal_steps` after each of idxs [B], clipped to limit_idxs [B] (the episode's last row for the
    low level, the goal row for the high level): min(idxs + K, limit)."""
    return jnp.minimum(idxs + subgoal_steps, limit_idxs)


def sample_hier_batch(data: dict, key: jax.Array, batch_size: int, subgoal_steps: int = SUBGOAL_STEPS) -> dict:
    """One minibatch for both levels from the same rows t (uniform over valid rows) and hindsight goals k
    (`gc_dataset.sample_goal_idxs`). Pure JAX. Returns {"high": {observations, conditions = phi(s_k), actions =
    phi(s_min(t+K, k))}, "low": {observations, conditions = phi(s_min(t+K, T_e)), actions = a_t}} plus "idxs",
    "goal_idxs", "high_target_idxs", "low_subgoal_idxs" [B] for inspection."""
    key_idx, key_goal = jax.random.split(key)
    valid = data["valid_idxs"]
    idxs = valid[jax.random.randint(key_idx, (batch_size,), 0, valid.shape[0])]
    goal_idxs = gc_dataset.sample_goal_idxs(data["final_idx"], idxs, key_goal)
    high_target = subgoal_idxs(idxs, goal_idxs, subgoal_steps)
    low_subgoal = subgoal_idxs(idxs, data["final_idx"][idxs], subgoal_steps)
    obs, reps = data["observations"][idxs], data["goal_reps"]
    return {
        "high": {"observations": obs, "conditions": reps[goal_idxs], "actions": reps[high_target]},
        "low": {"observations": obs, "conditions": reps[low_subgoal], "actions": data["actions"][idxs]},
        "idxs": idxs,
        "goal_idxs": goal_idxs,
        "high_target_idxs": high_target,
        "low_subgoal_idxs": low_subgoal,
    }


def sample_hier_training_batch(data: dict, key: jax.Array, batch_size: int, subgoal_steps: int = SUBGOAL_STEPS):
    """`sample_hier_batch` with only the two sub-batches `MultiFlowLearner` reads."""
    batch = sample_hier_batch(data, key, batch_size, subgoal_steps)
    return {"high": batch["high"], "low": batch["low"]}


def make_hier_sampler(dataset: Mapping, *, subgoal_steps: int = SUBGOAL_STEPS):
    """(device data, sample_fn(data, key, batch_size)) for the hierarchy, like `gc_dataset.make_gc_sampler`."""
    subgoal_steps = check_positive_int("subgoal_steps", subgoal_steps)
    sample_fn = functools.partial(sample_hier_training_batch, subgoal_steps=subgoal_steps)
    return gc_dataset.prepare_gc_dataset(dataset), sample_fn


def hier_learner(raw: Mapping, hidden_dims, *, p_uncond: float = 0.1, learning_rate: float = 3e-4,
                 compute_dtype: str = "float32") -> MultiFlowLearner:  # fmt: skip
    """The two flows of a dataset: high (subgoal of the goal rep's size, from obs and goal), low (action from obs
    and subgoal), both with `hidden_dims` and null dropout p_uncond."""
    obs_dim, goal_dim = raw["observations"].shape[1], raw["oracle_reps"].shape[1]
    common = dict(hidden_dims=tuple(hidden_dims), obs_dim=obs_dim, cond_dim=goal_dim, compute_dtype=compute_dtype)
    high = ModelConfig(action_dim=goal_dim, **common)
    low = ModelConfig(action_dim=raw["actions"].shape[1], **common)
    members = (FlowMember("high", high, p_uncond), FlowMember("low", low, p_uncond))
    return MultiFlowLearner(members, learning_rate=learning_rate)


def level_noise(keys: jax.Array, high_dim: int, low_dim: int):
    """Each row's x_0 of the two levels, from its own key split in two: ([N, high_dim], [N, low_dim])."""

    def noise(k):
        k_high, k_low = jax.random.split(k)
        return jax.random.normal(k_high, (high_dim,)), jax.random.normal(k_low, (low_dim,))

    return jax.vmap(noise)(keys)


@functools.partial(jax.jit, static_argnames=("high_config", "low_config", "flow_steps"))
def sample_hier_actions(params, keys, goals, ws, observations, *, high_config, low_config, flow_steps: int):
    """Per row: a subgoal from the guided high flow, then an action from the guided low flow given it (the same
    w_n), clipped to [-1, 1]. keys [N], goals [N, G], ws [N], observations [N, O] -> actions [N, A]. A row's action
    depends only on its own key (split into the two levels' noise) and inputs (`map_row_chunks`)."""

    x_high, x_low = level_noise(keys, high_config.action_dim, low_config.action_dim)

    def one_chunk(xh, xl, g, w, o):
        subgoal = sample_rows(params["high"], high_config, xh, g, o, w, flow_steps=flow_steps)
        return sample_rows(params["low"], low_config, xl, subgoal, o, w, flow_steps=flow_steps)

    return jnp.clip(map_row_chunks(one_chunk, (x_high, x_low, goals, ws, observations)), -1.0, 1.0)


def sample_hier_subgoals(params, keys, goals, ws, observations, *, high_config, flow_steps: int = 16):
    """The guided subgoals alone (the high level's samples, the same draws as `sample_hier_actions` for the same
    keys), [N, G]: what the low level is steered towards."""
    x_high, _ = level_noise(keys, high_config.action_dim, 1)
    return sample_rows(params["high"], high_config, x_high, goals, observations, ws, flow_steps=flow_steps)


def hierarchical_policy(params, learner: MultiFlowLearner, flow_steps: int = 16) -> RowPolicy:
    """The guided two-level policy of one seed's params {"high", "low"} as an evaluation.RowPolicy."""
    configs = learner.configs()
    if set(configs) != {"high", "low"}:
        raise ValueError(f"a hierarchical learner has members 'high' and 'low', got {sorted(configs)}")
    flow_steps = check_flow_steps(flow_steps)
    act = functools.partial(
        sample_hier_actions, params, high_config=configs["high"], low_config=configs["low"], flow_steps=flow_steps
    )
    return RowPolicy(act=act, obs_dim=configs["low"].obs_dim, goal_dim=configs["low"].cond_dim)
