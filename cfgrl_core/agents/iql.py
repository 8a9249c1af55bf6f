"""The IQL critic (Kostrikov et al. 2022) that both AWR and CFGRL extract their policies from (CFGRL paper §5).

Implicit Q-learning never queries actions outside the dataset. A state value V regresses the min of two target
Q-networks by an upper expectile, and the Q-networks regress a one-step TD target through V:

    L_V(psi)   = E_D [ L2_tau( min_k Q_target,k(s, a) - V_psi(s) ) ],   L2_tau(u) = |tau - 1[u < 0]| u^2
    L_Q(theta) = E_D [ sum_k ( Q_theta,k(s, a) - (r + gamma m V_psi(s')) )^2 ]       (V_psi held fixed)
    Q_target <- (1 - polyak) Q_target + polyak Q_theta                                  after every step

with tau = 0.9 (expectile), gamma = 0.99, polyak = 0.005, r and the mask m from OGBench's single-task relabelling
(r = success - 1, m = 0 where the task is solved). tau = 0.5 makes V the mean of Q over the data's actions (SARSA,
the behaviour policy's values); tau -> 1 makes V the max over the actions in the data. This is the recipe of the
authors' single-task agent (`cfgrl_submit`, `flowiql.py`, after OGBench's `iql.py`): two LayerNorm MLPs for Q,
one for V, the value loss on the target critic, V(s') from the value network's current parameters, one optimizer
over both losses. The advantage for the actors, A(s, a) = min_k Q_k(s, a) - V(s), uses the online critic
(`online_advantage=True`, the submit code); False uses the target critic (the authors' ExORL code).

`IQLLearner` is a learner of the core loop (`cfgrl_core.train.run_training`): seeds are vmapped runs.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from cfgrl_core.checks import check_probability
from cfgrl_core.train import TrainConfig, make_optimizer, optimizer_step, polyak

TRANSITION_KEYS = ("observations", "actions", "rewards", "masks", "next_observations")


@dataclass(frozen=True)
class IQLConfig:
    obs_dim: int  # O
    action_dim: int  # A
    hidden_dims: Sequence[int] = (256, 256)  # widths of every value MLP (the paper: 4 x 512)
    layer_norm: bool = True  # Dense -> LayerNorm -> GELU in the hidden layers (the authors' value networks)
    discount: float = 0.99  # gamma
    expectile: float = 0.9  # tau of the value loss
    polyak: float = 0.005  # target-network step size
    online_advantage: bool = True  # A from the online critic (single-task submit code) or the target one (ExORL)

    def __post_init__(self):
        object.__setattr__(self, "hidden_dims", tuple(int(h) for h in self.hidden_dims))
        if self.obs_dim <= 0 or self.action_dim <= 0:
            raise ValueError(f"obs_dim and action_dim must be positive, got {self.obs_dim}, {self.action_dim}")
        if not 0.0 <= self.discount < 1.0:
            raise ValueError(f"discount must lie in [0, 1), got {self.discount}")
        if not 0.0 < self.expectile < 1.0:
            raise ValueError(f"expectile must lie in (0, 1), got {self.expectile}")
        check_probability("polyak", self.polyak)


class ValueMLP(nn.Module):
    """A scalar head on an MLP: inputs [B, D] -> [B]."""

    hidden_dims: tuple
    layer_norm: bool

    @nn.compact
    def __call__(self, x):
        for width in self.hidden_dims:
            x = nn.Dense(width)(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
            x = nn.gelu(x)
        return nn.Dense(1)(x)[:, 0]


class Critic(nn.Module):
    """Q_1(s, a), Q_2(s, a): two independent MLPs on concat(s, a). -> [2, B]."""

    config: IQLConfig

    @nn.compact
    def __call__(self, observations, actions):
        x = jnp.concatenate([observations, actions], axis=-1)
        return jnp.stack([ValueMLP(self.config.hidden_dims, self.config.layer_norm, name=f"q{k}")(x) for k in (1, 2)])


class Value(nn.Module):
    """V(s). -> [B]."""

    config: IQLConfig

    @nn.compact
    def __call__(self, observations):
        return ValueMLP(self.config.hidden_dims, self.config.layer_norm, name="v")(observations)


class IQLState(flax.struct.PyTreeNode):
    params: dict  # {"critic": ..., "value": ...}, trained by one optimizer
    target_critic: dict  # Polyak average of params["critic"]
    opt_state: optax.OptState
    step: jax.Array


def expectile_loss(diff: jax.Array, expectile: float) -> jax.Array:
    """L2_tau(u) = |tau - 1[u < 0]| u^2, elementwise. Its minimiser over a constant c of E L2_tau(X - c) is the
    tau-expectile of X (tau = 0.5: the mean)."""
    weight = jnp.where(diff > 0, expectile, 1.0 - expectile)
    return weight * diff**2


def init_iql_params(config: IQLConfig, key: jax.Array) -> dict:
    key_q, key_v = jax.random.split(key)
    obs, act = jnp.zeros((1, config.obs_dim)), jnp.zeros((1, config.action_dim))
    return {"critic": Critic(config).init(key_q, obs, act), "value": Value(config).init(key_v, obs)}


def iql_loss(params, target_critic, batch: dict, *, config: IQLConfig) -> tuple[jax.Array, dict]:
    """L_V + L_Q of one batch (`TRANSITION_KEYS`, rewards and masks [B]). Returns (loss, info); info holds scalars
    and the batch's advantages [B] under "advantages" (`batch_advantages` of these parameters, no gradient), which
    `IQLLearner` takes out of it."""
    q_target = jnp.min(Critic(config).apply(target_critic, batch["observations"], batch["actions"]), axis=0)
    v = Value(config).apply(params["value"], batch["observations"])
    value_loss = jnp.mean(expectile_loss(q_target - v, config.expectile))
    next_v = jax.lax.stop_gradient(Value(config).apply(params["value"], batch["next_observations"]))
    td_target = batch["rewards"] + config.discount * batch["masks"] * next_v
    q = Critic(config).apply(params["critic"], batch["observations"], batch["actions"])
    critic_loss = jnp.mean(jnp.sum((q - td_target[None]) ** 2, axis=0))
    loss = value_loss + critic_loss
    q_adv = jnp.min(q, axis=0) if config.online_advantage else q_target
    return loss, {
        "advantages": jax.lax.stop_gradient(q_adv - v),  # [B]: `batch_advantages`, before the step
        "iql_loss": loss,
        "value_loss": value_loss,
        "critic_loss": critic_loss,
        "v_mean": jnp.mean(v),
        "advantage_mean": jnp.mean(q_target - v),
    }


@dataclass(frozen=True)
class IQLLearner:
    """The IQL critic as a learner of the core loop: `create(key)`, `update(state, batch, key)`."""

    config: IQLConfig
    train_config: TrainConfig
    loss_key: str = "iql_loss"

    @property
    def optimizer(self) -> optax.GradientTransformation:
        return make_optimizer(self.train_config.learning_rate)

    def create(self, key: jax.Array) -> IQLState:
        params = init_iql_params(self.config, key)
        return IQLState(params=params, target_critic=params["critic"], opt_state=self.optimizer.init(params),
                        step=jnp.zeros((), jnp.int32))  # fmt: skip

    def loss(self, params, target_critic, batch: dict):
        return iql_loss(params, target_critic, batch, config=self.config)

    def update(self, state: IQLState, batch: dict, key: jax.Array) -> tuple[IQLState, dict]:
        state, info, _ = self.update_with_advantages(state, batch, key)
        return state, info

    def update_with_advantages(self, state: IQLState, batch: dict, key: jax.Array) -> tuple[IQLState, dict, jax.Array]:
        """`update`, and the batch's advantages before the step ([B], as `batch_advantages` gives them) taken from
        the loss's own forward passes: an actor trained beside the critic needs no second pass."""
        del key  # IQL's losses are deterministic given the batch
        params, opt_state, info = optimizer_step(self.optimizer, self.loss, state.params, state.opt_state,
                                                 state.target_critic, batch)  # fmt: skip
        target = polyak(state.target_critic, params["critic"], self.config.polyak)
        advantages = info.pop("advantages")
        return IQLState(params=params, target_critic=target, opt_state=opt_state, step=state.step + 1), info, advantages


def q_values(params_or_state, observations, actions, *, config: IQLConfig, target: bool = False) -> jax.Array:
    """min_k Q_k(s, a) [B] of a state (online critic, or the target one) or of a critic's params."""
    if isinstance(params_or_state, IQLState):
        critic = params_or_state.target_critic if target else params_or_state.params["critic"]
    else:
        critic = params_or_state
    return jnp.min(Critic(config).apply(critic, observations, actions), axis=0)


def state_values(state: IQLState, observations, *, config: IQLConfig) -> jax.Array:
    """V(s) [B]."""
    return Value(config).apply(state.params["value"], observations)


@functools.partial(jax.jit, static_argnames=("config",))
def batch_advantages(state: IQLState, observations, actions, *, config: IQLConfig) -> jax.Array:
    """A(s, a) [B] of one batch, from the online or the target critic (`IQLConfig.online_advantage`)."""
    critic = state.params["critic"] if config.online_advantage else state.target_critic
    return q_values(critic, observations, actions, config=config) - state_values(state, observations, config=config)


def action_grid(action_dim: int, per_axis: int = 11) -> np.ndarray:
    """A regular grid over the action box [-1, 1]^A, per_axis points per axis: [per_axis^A, A] float32."""
    axes = np.meshgrid(*[np.linspace(-1.0, 1.0, per_axis)] * action_dim, indexing="ij")
    return np.stack([a.ravel() for a in axes], axis=-1).astype(np.float32)


@functools.partial(jax.jit, static_argnames=("config",))
def grid_max_q(critic, observations, grid, *, config: IQLConfig) -> tuple[jax.Array, jax.Array]:
    """max over the actions of `grid` [K, A] of min_k Q_k(s, a), and the maximising action, for every observation:
    ([B], [B, A]). `critic`: a critic's params (or an IQLState: its online critic). A grid, not an optimiser: the
    maximum over the whole action box (not only the data's actions, which IQL's V tracks), to the grid's step."""
    q = jax.vmap(lambda a: q_values(critic, observations, jnp.broadcast_to(a, (observations.shape[0], a.shape[0])),
                                    config=config))(grid)  # [K, B]  # fmt: skip
    best = jnp.argmax(q, axis=0)
    return jnp.max(q, axis=0), grid[best]


ADVANTAGE_ROWS = 8192  # rows per call of `advantages` (a fixed shape: the same numbers whatever N is)


def advantages(state: IQLState, observations, actions, *, config: IQLConfig) -> np.ndarray:
    """A(s, a) = min_k Q_k(s, a) - V(s) for every row, float32 [N]; one run's state (no leading run axis).

    Computed on fixed chunks of ADVANTAGE_ROWS rows (the last one padded), so a row's value does not depend on N.
    """
    observations = np.asarray(observations, np.float32)
    actions = np.asarray(actions, np.float32)
    n = len(observations)
    out = np.empty(n, np.float32)
    for start in range(0, n, ADVANTAGE_ROWS):
        stop = min(start + ADVANTAGE_ROWS, n)
        pad = ADVANTAGE_ROWS - (stop - start)
        obs = np.pad(observations[start:stop], ((0, pad), (0, 0)), mode="edge")
        act = np.pad(actions[start:stop], ((0, pad), (0, 0)), mode="edge")
        out[start:stop] = np.asarray(batch_advantages(state, obs, act, config=config))[: stop - start]
    return out
