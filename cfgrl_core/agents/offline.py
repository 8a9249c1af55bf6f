"""The IQL critic and every policy extracted from it, trained together as one learner of the core loop.

As in the authors' single-task agents, the actors learn alongside the critic: at every step the critic takes one
IQL step on the batch, and each actor takes one step on the same batch with the advantages
A(s, a) = min_k Q_k(s, a) - V(s) of the critic *before* that step (all losses of a step see the same parameters;
no gradient flows into the critic), read from the critic's own loss pass (`IQLLearner.update_with_advantages`:
no second forward pass). So "the same run evaluated at 25 / 50 / 100 % of its steps" is a budget curve for critic
and actors together, and every actor of a seed sees exactly the same critic -- the paper's "same IQL critic,
independent of the extraction method" (§5).

    actors = (Actor("cfgrl", CFGRLActorLearner(...)),
              Actor("awr_gaussian", AWRLearner(...), run_values=(0, 1, 3, 10, 30)))   # one policy per 1/beta
    learner = CriticWithActors(IQLLearner(...), actors)

An actor with `run_values` holds one independent policy per value, vmapped inside the run, each receiving its value
as the learner's run argument (AWR's 1/beta); they share the step's minibatch and loss key (common random numbers),
so they differ only in their temperature. Seeds are the runs of `run_training` (one critic per seed).
"""

from __future__ import annotations

from dataclasses import dataclass

import flax.struct
import jax
import jax.numpy as jnp

from cfgrl_core.agents.iql import IQLLearner
from cfgrl_core.train import Learner


@dataclass(frozen=True)
class Actor:
    name: str  # key of its state in JointState.actors
    learner: Learner  # create(key) / update(state, batch, key, *run_args) / loss_key
    run_values: tuple | None = None  # e.g. AWR's 1/beta values: one policy per value

    def __post_init__(self):
        if self.run_values is not None:
            object.__setattr__(self, "run_values", tuple(float(v) for v in self.run_values))
            if not self.run_values:
                raise ValueError(f"actor {self.name!r}: run_values must be None or non-empty")


class JointState(flax.struct.PyTreeNode):
    critic: object  # IQLState
    actors: dict  # name -> TrainState (with a leading [len(run_values)] axis for an actor with run_values)
    step: jax.Array


@dataclass(frozen=True)
class CriticWithActors:
    critic: IQLLearner
    actors: tuple  # of Actor
    loss_key: str = "iql_loss"

    def __post_init__(self):
        names = [a.name for a in self.actors]
        if len(set(names)) != len(names):
            raise ValueError(f"actor names must be distinct, got {names}")

    def create(self, key: jax.Array) -> JointState:
        keys = jax.random.split(key, len(self.actors) + 1)
        actors = {}
        for actor, k in zip(self.actors, keys[1:], strict=True):
            if actor.run_values is None:
                actors[actor.name] = actor.learner.create(k)
            else:  # the same initialisation for every value (common random numbers)
                one, n = actor.learner.create(k), len(actor.run_values)
                actors[actor.name] = jax.tree_util.tree_map(lambda x, n=n: jnp.broadcast_to(x, (n, *x.shape)), one)
        return JointState(critic=self.critic.create(keys[0]), actors=actors, step=jnp.zeros((), jnp.int32))

    def update(self, state: JointState, batch: dict, key: jax.Array) -> tuple[JointState, dict]:
        critic, info, adv = self.critic.update_with_advantages(state.critic, batch, key)
        actor_batch = {"observations": batch["observations"], "actions": batch["actions"], "advantages": adv}
        actors, key_actors = {}, jax.random.split(key, len(self.actors))
        for actor, k in zip(self.actors, key_actors, strict=True):
            if actor.run_values is None:
                actors[actor.name], actor_info = actor.learner.update(state.actors[actor.name], actor_batch, k)
            else:
                values = jnp.asarray(actor.run_values, jnp.float32)
                step = lambda s, v, learner=actor.learner, k=k: learner.update(s, actor_batch, k, v)
                actors[actor.name], actor_info = jax.vmap(step)(state.actors[actor.name], values)
            info[f"{actor.name}_loss"] = actor_info[actor.learner.loss_key]
        info["positive_fraction"] = jnp.mean((adv >= 0).astype(jnp.float32))
        return JointState(critic=critic, actors=actors, step=state.step + 1), info
