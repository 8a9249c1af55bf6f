"""CFGRL's offline-RL actor: a flow policy conditioned on an optimality label from the critic's advantage.

The label is o = 1[A(s, a) >= thr] (paper Eq. 15, thr = 0). One network (`cfgrl_core.networks.VectorField`) holds
v(x_t, t, s, o) for o in {0: negative, 1: positive} and the unconditional v(x_t, t, s, null) through its learned null
embedding; sampling guides from null towards o = 1 with weight w (`cfgrl_core.guidance`). The authors drop the
condition in three different ways (`shared/reference/cfgrl.md` §1.3); two of them are losses, selectable here
(`CFGRLActorConfig.label_scheme`), with the threshold thr as the third option:

  "three_way"  the paper's description and the authors' OGBench single-task agent: labels {null, A < thr,
               A >= thr}, the label replaced by null with probability p_uncond = 0.1, one pass. This is exactly the
               core's `CFGLearner` loss (`cfgrl_core.train.cfg_flow_loss`) with the label as the condition.
  "two_pass"   the authors' ExORL agent: only {null, positive}; every example is passed twice, with o = 1 and its
               loss multiplied by 1[A > thr] (strict, as in their code), and with null and its loss multiplied by
               uncond_weight = 0.1. Negative examples train only the unconditional branch.

      three_way:  L = E[ || v(x_t, t, s, c) - (x_1 - x_0) ||^2 ],  c = null w.p. p_uncond, else 1[A >= thr]
      two_pass:   L = E[ 1[A > thr] ||v(x_t, t, s, 1) - u||^2 + uncond_weight ||v(x_t, t, s, null) - u||^2 ]

(squared errors are means over action dimensions; both passes of one example share x_0 and t.) In both schemes
w = 0 samples behaviour cloning, w = 1 filtered BC pi_hat(a | s, o = 1), w > 1 extrapolates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from cfgrl_core.checks import check_probability
from cfgrl_core.flow import sample_path
from cfgrl_core.networks import ModelConfig, VectorField, init_params
from cfgrl_core.train import TrainConfig, TrainState, cfg_flow_loss, gradient_step, init_train_state, make_optimizer

LABEL_SCHEMES = ("three_way", "two_pass")
POSITIVE = 1  # the label that guidance steers towards
NEGATIVE = 0


@dataclass(frozen=True)
class CFGRLActorConfig:
    obs_dim: int  # O
    action_dim: int  # A
    hidden_dims: Sequence[int] = (256, 256, 256)  # vector-field MLP (the paper: 4 x 512)
    label_scheme: str = "three_way"  # "three_way" (paper, single-task code) or "two_pass" (ExORL code)
    threshold: float = 0.0  # thr: o = 1 where A >= thr (three_way) or A > thr (two_pass)
    p_uncond: float = 0.1  # three_way: probability of replacing the label by null
    uncond_weight: float = 0.1  # two_pass: weight of the unconditional pass

    def __post_init__(self):
        object.__setattr__(self, "hidden_dims", tuple(int(h) for h in self.hidden_dims))
        if self.label_scheme not in LABEL_SCHEMES:
            raise ValueError(f"label_scheme must be one of {LABEL_SCHEMES}, got {self.label_scheme!r}")
        check_probability("p_uncond", self.p_uncond)
        if not self.uncond_weight >= 0:
            raise ValueError(f"uncond_weight must be >= 0, got {self.uncond_weight}")
        _ = self.model_config  # validates the sizes

    @property
    def model_config(self) -> ModelConfig:
        """The vector field: labels {NEGATIVE, POSITIVE} plus the learned null embedding."""
        return ModelConfig(action_dim=self.action_dim, hidden_dims=self.hidden_dims, obs_dim=self.obs_dim, num_labels=2)


def optimality_labels(advantages: jax.Array, threshold: float = 0.0, *, strict: bool = False) -> jax.Array:
    """o = 1[A >= thr] (or 1[A > thr] with strict=True) as int32 labels. [B] -> [B]."""
    positive = advantages > threshold if strict else advantages >= threshold
    return positive.astype(jnp.int32)


def two_pass_loss(params, batch: dict, key: jax.Array, *, config: CFGRLActorConfig) -> tuple[jax.Array, dict]:
    """The ExORL scheme's loss (module docstring). batch: observations [B, O], actions [B, A], advantages [B]."""
    positive = optimality_labels(batch["advantages"], config.threshold, strict=True).astype(jnp.float32)
    t, x_t, vel = sample_path(key, batch["actions"])
    b = x_t.shape[0]
    net = VectorField(config.model_config)
    labels = jnp.full(b, POSITIVE, jnp.int32)
    v_pos = net.apply(params, x_t, t, labels, jnp.zeros(b, bool), batch["observations"])
    v_null = net.apply(params, x_t, t, labels, jnp.ones(b, bool), batch["observations"])
    loss_pos = jnp.mean((v_pos - vel) ** 2, axis=-1)
    loss_null = jnp.mean((v_null - vel) ** 2, axis=-1)
    loss = jnp.mean(positive * loss_pos + config.uncond_weight * loss_null)
    return loss, {"flow_loss": loss, "positive_fraction": jnp.mean(positive)}


def actor_loss(params, batch: dict, key: jax.Array, *, config: CFGRLActorConfig) -> tuple[jax.Array, dict]:
    """The label scheme's loss on one batch (observations, actions, advantages). Returns (loss, info)."""
    if config.label_scheme == "two_pass":
        return two_pass_loss(params, batch, key, config=config)
    labels = optimality_labels(batch["advantages"], config.threshold)
    flow_batch = {"actions": batch["actions"], "conditions": labels, "observations": batch["observations"]}
    loss, info = cfg_flow_loss(params, flow_batch, key, model_config=config.model_config, p_uncond=config.p_uncond)
    return loss, {**info, "positive_fraction": jnp.mean(labels.astype(jnp.float32))}


@dataclass(frozen=True)
class CFGRLActorLearner:
    """The label-conditioned flow actor as a learner of the core loop (`cfgrl_core.train.run_training`)."""

    config: CFGRLActorConfig
    train_config: TrainConfig
    loss_key: str = "flow_loss"

    @property
    def optimizer(self):
        return make_optimizer(self.train_config.learning_rate)

    def create(self, key: jax.Array) -> TrainState:
        return init_train_state(init_params(self.config.model_config, key), self.optimizer)

    def loss(self, params, batch: dict, key: jax.Array):
        return actor_loss(params, batch, key, config=self.config)

    def update(self, state: TrainState, batch: dict, key: jax.Array) -> tuple[TrainState, dict]:
        return gradient_step(state, self.optimizer, self.loss, batch, key)
