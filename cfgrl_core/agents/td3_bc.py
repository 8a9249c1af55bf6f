"""TD3+BC (Fujimoto & Gu 2021): TD3 with a behaviour-cloning term, one of PGD's two offline agents (reference §3.3).

A deterministic actor mu_phi(s) = max_action tanh(MLP(s)) and twin critics Q_1, Q_2 with target copies:

    y        = r + gamma m min_k Q_target,k(s', a'),   a' = clip(mu_target(s') + clip(sigma eps, -c, c), +-max_action)
    L_Q      = E_D [ sum_k (Q_k(s, a) - y)^2 ]                                     every step
    L_mu     = -lambda E_D [ Q_1(s, mu(s)) ] + E_D [ mean_j (mu(s)_j - a_j)^2 ],  lambda = alpha / E_D |Q_1(s, mu(s))|
    targets <- (1 - polyak) targets + polyak online                               with the actor

with alpha = 2.5, gamma = 0.99, polyak = 0.005, target smoothing sigma = 0.2 clipped at c = 0.5; the actor and
every target network are updated once every `policy_delay` = 2 critic steps (TD3's delayed policy update; the
PGD code instead updates the actor every step after two critic updates on the same batch). lambda is held fixed
within a step (stop-gradient), so as alpha -> 0 the actor's loss is behaviour cloning's mean squared error, and
the critic is never touched by it. The BC term averages over batch and action dimensions, as the original.

The actor and critics are ReLU MLPs (the original and the PGD code); no state normalisation (the point-mass
states are already of order one). `TD3BCLearner` is a learner of the core loop (`cfgrl_core.train.run_training`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import optax

from cfgrl_core.checks import check_positive_int, check_probability
from cfgrl_core.train import make_optimizer, optimizer_step, polyak


@dataclass(frozen=True)
class TD3BCConfig:
    obs_dim: int  # O
    action_dim: int  # A
    hidden_dims: Sequence[int] = (256, 256)  # actor and critic MLP widths
    alpha: float = 2.5  # weight of the Q term relative to BC (lambda = alpha / mean |Q|)
    discount: float = 0.99  # gamma
    polyak: float = 0.005  # target step size
    policy_noise: float = 0.2  # sigma of the target-policy smoothing noise
    noise_clip: float = 0.5  # c, its clip
    max_action: float = 1.0  # the action box [-max_action, max_action]^A
    policy_delay: int = 2  # actor (and target) updates once every this many critic updates
    learning_rate: float = 3e-4  # Adam, actor and critic alike

    def __post_init__(self):
        object.__setattr__(self, "hidden_dims", tuple(int(h) for h in self.hidden_dims))
        if self.obs_dim <= 0 or self.action_dim <= 0:
            raise ValueError(f"obs_dim and action_dim must be positive, got {self.obs_dim}, {self.action_dim}")
        if not self.alpha >= 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha}")
        if not 0.0 <= self.discount < 1.0:
            raise ValueError(f"discount must lie in [0, 1), got {self.discount}")
        check_probability("polyak", self.polyak)
        check_positive_int("policy_delay", self.policy_delay)
        for name in ("policy_noise", "noise_clip"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.max_action > 0 or not self.learning_rate > 0:
            raise ValueError(f"max_action and learning_rate must be positive, got {self.max_action}, "
                             f"{self.learning_rate}")  # fmt: skip


class MLP(nn.Module):
    hidden_dims: tuple
    out_dim: int

    @nn.compact
    def __call__(self, x):
        for width in self.hidden_dims:
            x = nn.relu(nn.Dense(width)(x))
        return nn.Dense(self.out_dim)(x)


class DeterministicActor(nn.Module):
    """mu(s) = max_action tanh(MLP(s)): [B, O] -> [B, A], inside the action box."""

    config: TD3BCConfig

    @nn.compact
    def __call__(self, observations):
        c = self.config
        return c.max_action * jnp.tanh(MLP(c.hidden_dims, c.action_dim, name="mu")(observations))


class TwinCritic(nn.Module):
    """Q_1(s, a), Q_2(s, a) -> [2, B]."""

    config: TD3BCConfig

    @nn.compact
    def __call__(self, observations, actions):
        x = jnp.concatenate([observations, actions], -1)
        return jnp.stack([MLP(self.config.hidden_dims, 1, name=f"q{k}")(x)[:, 0] for k in (1, 2)])


class TD3BCState(flax.struct.PyTreeNode):
    actor: dict
    critic: dict
    target_actor: dict
    target_critic: dict
    actor_opt: optax.OptState
    critic_opt: optax.OptState
    step: jax.Array


def critic_target(next_q: Callable, target_actor: Callable, batch: dict, key: jax.Array, *, config: TD3BCConfig):
    """y = r + gamma m min_k Q_target,k(s', a') with the smoothed target action a' [B].

    next_q(s', a') -> [2, B] and target_actor(s') -> [B, A] are the target networks as functions, so a test can
    pass hand-made ones."""
    noise = jnp.clip(config.policy_noise * jax.random.normal(key, batch["actions"].shape), -config.noise_clip,
                     config.noise_clip)  # fmt: skip
    next_actions = jnp.clip(target_actor(batch["next_observations"]) + noise, -config.max_action, config.max_action)
    next_value = jnp.min(next_q(batch["next_observations"], next_actions), axis=0)
    return batch["rewards"] + config.discount * batch["masks"] * next_value


def critic_loss(critic_params, batch: dict, target: jax.Array, *, config: TD3BCConfig):
    q = TwinCritic(config).apply(critic_params, batch["observations"], batch["actions"])
    loss = jnp.mean(jnp.sum((q - target[None]) ** 2, axis=0))
    return loss, {"critic_loss": loss, "q_mean": jnp.mean(q)}


def actor_loss(actor_params, critic_params, batch: dict, *, config: TD3BCConfig):
    """-lambda mean Q_1(s, mu(s)) + mean (mu(s) - a)^2, lambda = alpha / mean |Q_1| held fixed (stop-gradient)."""
    pi = DeterministicActor(config).apply(actor_params, batch["observations"])
    q1 = TwinCritic(config).apply(critic_params, batch["observations"], pi)[0]
    lam = jax.lax.stop_gradient(config.alpha / jnp.maximum(jnp.mean(jnp.abs(q1)), 1e-6))
    bc = jnp.mean((pi - batch["actions"]) ** 2)
    loss = -lam * jnp.mean(q1) + bc
    return loss, {"actor_loss": loss, "bc_loss": bc, "lambda_q": lam}


@dataclass(frozen=True)
class TD3BCLearner:
    """TD3+BC as a learner of the core loop: `create(key)`, `update(state, batch, key)`.

    batch: observations [B, O], actions [B, A] (inside the action box), rewards [B], masks [B] (0 at a terminal),
    next_observations [B, O]."""

    config: TD3BCConfig
    loss_key: str = "critic_loss"

    @property
    def optimizer(self) -> optax.GradientTransformation:
        return make_optimizer(self.config.learning_rate)

    def create(self, key: jax.Array) -> TD3BCState:
        k_actor, k_critic = jax.random.split(key)
        obs, act = jnp.zeros((1, self.config.obs_dim)), jnp.zeros((1, self.config.action_dim))
        actor = DeterministicActor(self.config).init(k_actor, obs)
        critic = TwinCritic(self.config).init(k_critic, obs, act)
        return TD3BCState(actor=actor, critic=critic, target_actor=actor, target_critic=critic,
                          actor_opt=self.optimizer.init(actor), critic_opt=self.optimizer.init(critic),
                          step=jnp.zeros((), jnp.int32))  # fmt: skip

    def critic_loss(self, critic_params, batch: dict, target: jax.Array):
        return critic_loss(critic_params, batch, target, config=self.config)

    def actor_loss(self, actor_params, critic_params, batch: dict):
        return actor_loss(actor_params, critic_params, batch, config=self.config)

    def update(self, state: TD3BCState, batch: dict, key: jax.Array) -> tuple[TD3BCState, dict]:
        c, opt = self.config, self.optimizer
        target = critic_target(
            lambda s, a: TwinCritic(c).apply(state.target_critic, s, a),
            lambda s: DeterministicActor(c).apply(state.target_actor, s), batch, key, config=c,
        )  # fmt: skip
        critic, critic_opt, info = optimizer_step(opt, self.critic_loss, state.critic, state.critic_opt, batch, target)
        actor_new, actor_opt_new, actor_info = optimizer_step(opt, self.actor_loss, state.actor, state.actor_opt,
                                                              critic, batch)  # fmt: skip
        delayed = (state.step + 1) % c.policy_delay == 0  # the actor and the targets move on these steps only
        pick = lambda new, old: jax.tree_util.tree_map(lambda n, o: jnp.where(delayed, n, o), new, old)
        actor, actor_opt = pick(actor_new, state.actor), pick(actor_opt_new, state.actor_opt)
        target_actor = pick(polyak(state.target_actor, actor, c.polyak), state.target_actor)
        target_critic = pick(polyak(state.target_critic, critic, c.polyak), state.target_critic)
        new = TD3BCState(actor=actor, critic=critic, target_actor=target_actor, target_critic=target_critic,
                         actor_opt=actor_opt, critic_opt=critic_opt, step=state.step + 1)  # fmt: skip
        return new, {**info, **actor_info, "actor_updated": delayed.astype(jnp.float32)}

    @staticmethod
    def actor_params(state: TD3BCState):
        """The parameters `act` needs (one run's state)."""
        return state.actor

    def act(self, actor_params, observations):
        """The deterministic action mu(s) [B, A] of the policy being evaluated."""
        return DeterministicActor(self.config).apply(actor_params, observations)
