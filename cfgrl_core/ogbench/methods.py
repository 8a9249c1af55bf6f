"""The three goal-conditioned guided policies one experiment (`experiments.gcbc_cfgrl`) can train and evaluate.

    shared        ONE flow network with a learned null goal (10 % goal dropout): v_cond and v_uncond share every
                  weight; guided with w (the paper's method; notebook 04).
    separate      TWO flow networks trained on the same minibatches and steps: an unconditional BC flow (every goal
                  dropped, p_uncond = 1) and a goal-conditioned flow (never dropped, p_uncond = 0), combined by the
                  same guidance formula, v_bc + w (v_gc - v_bc) (the paper's Figure 7 ablation, App. B).
    hierarchical  a subgoal flow and an action flow, each with its own null goal, both guided with w
                  (HCFGRL, `hierarchy`).

Each method gives the learner and minibatch sampler for a dataset, and the evaluation RowPolicy for one seed's
parameters; the training loop, checkpoints, evaluation and results are the experiment's, the same for all three.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping

import jax

from cfgrl_core import train
from cfgrl_core.checks import check_flow_steps
from cfgrl_core.networks import ModelConfig
from cfgrl_core.ogbench import evaluation, gc_dataset, hierarchy

METHODS = ("shared", "separate", "hierarchical")


def check_method(method) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {list(METHODS)}")
    return method


def model_config_for(raw: Mapping, preset) -> ModelConfig:
    """The goal-conditioned vector field of a dataset: obs, oracle goal and action sizes from its arrays."""
    return ModelConfig(
        action_dim=raw["actions"].shape[1], hidden_dims=tuple(preset.hidden_dims), obs_dim=raw["observations"].shape[1],
        cond_dim=raw["oracle_reps"].shape[1], compute_dtype=preset.compute_dtype,
    )  # fmt: skip


def make_learner(method: str, raw: Mapping, preset):
    """The learner of `method` for a dataset and a preset (sizes, learning rate, p_uncond)."""
    config = model_config_for(raw, preset)
    if check_method(method) == "shared":
        tc = train.TrainConfig(batch_size=preset.batch_size, learning_rate=preset.learning_rate,
                               p_uncond=preset.p_uncond)  # fmt: skip
        return train.CFGLearner(config, tc)
    if method == "separate":
        members = (train.FlowMember("bc", config, 1.0), train.FlowMember("gc", config, 0.0))
        return train.MultiFlowLearner(members, learning_rate=preset.learning_rate)
    return hierarchy.hier_learner(raw, preset.hidden_dims, p_uncond=preset.p_uncond,
                                  learning_rate=preset.learning_rate, compute_dtype=preset.compute_dtype)  # fmt: skip


def sample_pair_batch(data: dict, key: jax.Array, batch_size: int) -> dict:
    """One relabelled minibatch given to both separate networks: {"bc": batch, "gc": batch}."""
    batch = gc_dataset.sample_gc_training_batch(data, key, batch_size)
    return {"bc": batch, "gc": batch}


def make_sampler(method: str, raw: Mapping, preset):
    """(device data, sample_fn) for `method`'s minibatches."""
    if check_method(method) == "shared":
        return gc_dataset.make_gc_sampler(raw)
    if method == "separate":
        return gc_dataset.make_gc_sampler(raw)[0], sample_pair_batch
    return hierarchy.make_hier_sampler(raw, subgoal_steps=preset.subgoal_steps)


def model_configs(learner) -> dict:
    """{member name: ModelConfig} of a learner ({"policy": config} for the shared network)."""
    if isinstance(learner, train.CFGLearner):
        return {"policy": learner.model_config}
    return learner.configs()


def policy(method: str, params, learner, flow_steps: int = 16) -> evaluation.RowPolicy:
    """The evaluation RowPolicy of one seed's parameters."""
    if check_method(method) == "shared":
        return evaluation.goal_conditioned_policy(params, learner.model_config, flow_steps)
    if method == "hierarchical":
        return hierarchy.hierarchical_policy(params, learner, flow_steps)
    config = learner.configs()["gc"]
    act = functools.partial(evaluation.sample_actions, params["gc"], uncond_params=params["bc"], config=config,
                            flow_steps=check_flow_steps(flow_steps))  # fmt: skip
    return evaluation.RowPolicy(act=act, obs_dim=config.obs_dim, goal_dim=config.cond_dim)


def configs_record(learner) -> dict:
    """JSON-able {member: ModelConfig fields}."""
    return {k: dataclasses.asdict(v) for k, v in model_configs(learner).items()}
