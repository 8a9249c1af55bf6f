"""IQL as a complete offline agent: the IQL critic (`iql`) and one Gaussian AWR actor trained with it (`offline`).

This is the IQL of the PGD paper's experiments (reference §3.3): expectile tau = 0.7, advantage weights
exp(beta A) with beta = 3 clipped at 100 (our AWR's run value 1/beta is that factor: `awr_weights(A, 3.0)`), a
Gaussian actor with a state-independent learned log sigma, evaluated at its mean. Critic and actor learn
together (`offline.CriticWithActors`: the actor sees the advantages of the critic before each step).
Differences from the PGD code: our IQL value MLPs use LayerNorm and GELU (theirs: ReLU), and the actor's mean is
not tanh-squashed; `act` clips it to the action box, as the environment would.

Like `td3_bc.TD3BCLearner`, it exposes `actor_params(state)` and `act(actor_params, observations)`, so an outer
loop (PGD's regeneration, evaluation) treats the two agents alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from cfgrl_core.agents.awr import AWRConfig, AWRLearner, GaussianActor
from cfgrl_core.agents.iql import IQLConfig, IQLLearner
from cfgrl_core.agents.offline import Actor, CriticWithActors, JointState
from cfgrl_core.train import TrainConfig

ACTOR = "actor"


@dataclass(frozen=True)
class IQLAgent:
    obs_dim: int
    action_dim: int
    hidden_dims: tuple = (256, 256)
    expectile: float = 0.7
    beta: float = 3.0  # the advantage weight exp(beta A) (IQL's "temperature")
    discount: float = 0.99
    learning_rate: float = 3e-4
    max_action: float = 1.0
    loss_key: str = "iql_loss"

    def __post_init__(self):
        object.__setattr__(self, "hidden_dims", tuple(int(h) for h in self.hidden_dims))

    @property
    def joint(self) -> CriticWithActors:
        train = TrainConfig(learning_rate=self.learning_rate, p_uncond=0.0)
        critic = IQLLearner(IQLConfig(self.obs_dim, self.action_dim, self.hidden_dims, discount=self.discount,
                                      expectile=self.expectile), train)  # fmt: skip
        actor = AWRLearner(self.actor_config, train)
        return CriticWithActors(critic, (Actor(ACTOR, actor, run_values=(self.beta,)),))

    @property
    def actor_config(self) -> AWRConfig:
        return AWRConfig(self.action_dim, self.obs_dim, "gaussian", self.hidden_dims)

    def create(self, key: jax.Array) -> JointState:
        return self.joint.create(key)

    def update(self, state: JointState, batch: dict, key: jax.Array):
        return self.joint.update(state, batch, key)

    @staticmethod
    def actor_params(state: JointState):
        return jax.tree_util.tree_map(lambda x: x[0], state.actors[ACTOR].params)

    def act(self, actor_params, observations):
        mean, _ = GaussianActor(self.actor_config).apply(actor_params, observations)
        return jnp.clip(mean, -self.max_action, self.max_action)
