"""Advantage-weighted regression (AWR), the weighted-regression baseline of the CFGRL paper.

AWR (Peng et al. 2019) extracts a policy from advantages by weighted maximum likelihood,

    L(theta) = - E_{(s, a) ~ D} [ u(A(s, a)) log pi_theta(a | s) ],     u(A) = min(exp(A / beta), u_max),

whose non-parametric optimum is pi ∝ pi_hat u(A): with no clip, the product policy with f = exp and
w = 1/beta (paper Remark 3). The authors' code clips the weight at u_max = 100 and averages over the batch
without normalising the weights; 1/beta = 0 gives u = 1 everywhere, i.e. behaviour cloning. Because of the
clip, as 1/beta -> inf every example with A > 0 gets the same weight u_max while those with A < 0 get ~0:
AWR tends to *filtered* BC, pi_hat 1[A > 0] -- the policy CFGRL samples at w = 1.

Two policy classes (`AWRConfig.policy`):
  "gaussian"  the paper's AWR baseline, after the authors' ExORL `iql.py`: N(mu_theta(s), diag sigma^2) with an
              MLP mean and a state-independent learned log sigma (clipped below at -5), evaluated at its mean
              (deterministic). Shared with the authors: the learned state-independent log sigma, its clip,
              the weight clip, the mean at evaluation. Different: our mean MLP uses GELU without LayerNorm
              (theirs: Dense -> LayerNorm -> mish) and Flax's default initialisation, and the mean is not
              clipped to +-5 (the actions here lie in [-1, 1], and evaluation clips the action to that range).
              Two options give the authors' *OGBench* AWR actor instead (their `iql.py`, which has no LayerNorm
              in the actor either): `const_std=True`, a fixed sigma = 1 (log sigma = 0, no parameter), so the
              loss is a weighted squared error plus a constant; `init="ogbench"`, OGBench's initialisation
              (hidden kernels variance_scaling(1, fan_avg, uniform), the mean layer's kernel scaled by 0.01).
  "flow"      CFGRL's own network (`cfgrl_core.networks.VectorField`, one constant label, never dropped) with
              the weighted flow-matching loss E[ u(A) || v_theta(x_t, t, s) - (x_1 - x_0) ||^2 ]; its
              minimiser is the flow of pi_hat u(A) / Z. AWR and CFGRL then differ only in how the advantage
              enters (a weight on the loss vs a label plus guidance), not in what the policy can represent.

The temperature 1/beta is a traced argument, so `fit` trains every (1/beta, seed) pair as one vmapped program;
each pair is still a separate training run with its own parameters.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cfgrl_core.checks import check_flow_steps, check_positive_int
from cfgrl_core.flow import sample_path
from cfgrl_core.guidance import sample_rows
from cfgrl_core.networks import ModelConfig, VectorField, init_params
from cfgrl_core.train import (
    TrainConfig,
    TrainState,
    create_runs,
    gradient_step,
    init_train_state,
    make_optimizer,
    run_training,
)

POLICIES = ("gaussian", "flow")
INITS = ("flax", "ogbench")  # the Gaussian mean MLP's initialisation: Flax's default or OGBench's


@dataclass(frozen=True)
class AWRConfig:
    action_dim: int  # A, dimension of the action
    obs_dim: int  # O, dimension of the observation s (> 0: AWR's policy is state-conditioned)
    policy: str = "gaussian"  # "gaussian" (the paper's AWR baseline) or "flow" (CFGRL's network, weighted loss)
    hidden_dims: Sequence[int] = (256, 256)  # MLP widths (Gaussian mean network, or the vector field)
    max_weight: float = 100.0  # u_max, the clip of exp(A / beta) in the authors' code
    log_std_min: float = -5.0  # lower clip of the Gaussian's learned log sigma (authors' code)
    const_std: bool = False  # Gaussian: sigma fixed at 1 (OGBench's AWR actor) instead of a learned log sigma
    init: str = "flax"  # Gaussian: "flax" (Flax's default initialisation) or "ogbench" (OGBench's, see above)

    def __post_init__(self):
        object.__setattr__(self, "hidden_dims", tuple(int(h) for h in self.hidden_dims))
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {self.policy!r}")
        if self.action_dim <= 0 or self.obs_dim <= 0:
            raise ValueError(f"action_dim and obs_dim must be positive, got {self.action_dim}, {self.obs_dim}")
        if not self.max_weight > 0:
            raise ValueError(f"max_weight must be positive, got {self.max_weight}")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {self.init!r}")
        if self.policy != "gaussian" and (self.const_std or self.init != "flax"):
            raise ValueError("const_std and init are options of the Gaussian policy only")

    @property
    def flow_config(self) -> ModelConfig:
        """The vector field of the "flow" policy: CFGRL's network with a single (constant) label."""
        return ModelConfig(action_dim=self.action_dim, hidden_dims=self.hidden_dims, obs_dim=self.obs_dim, num_labels=1)


def awr_weights(advantages: jax.Array, inv_beta, max_weight: float = 100.0) -> jax.Array:
    """u = min(exp(A / beta), u_max), computed as exp(min(A / beta, log u_max)) (no overflow). [B] -> [B].

    inv_beta = 0 gives u = 1 for every example (behaviour cloning).
    """
    return jnp.exp(jnp.minimum(advantages * inv_beta, jnp.log(max_weight)))


class GaussianActor(nn.Module):
    """pi_theta(a | s) = N(mu_theta(s), diag exp(2 log_sigma)).

    observations [B, O] -> (mean [B, A], log_std [A]); log sigma is one learned vector, not a function of s
    (or zero, with `const_std`).
    """

    config: AWRConfig

    @nn.compact
    def __call__(self, observations):
        if self.config.init == "ogbench":
            hidden_init = nn.initializers.variance_scaling(1.0, "fan_avg", "uniform")
            mean_init = nn.initializers.variance_scaling(0.01, "fan_avg", "uniform")
        else:
            hidden_init = mean_init = nn.linear.default_kernel_init
        h = observations
        for width in self.config.hidden_dims:
            h = nn.gelu(nn.Dense(width, kernel_init=hidden_init)(h))
        mean = nn.Dense(self.config.action_dim, kernel_init=mean_init)(h)
        if self.config.const_std:
            return mean, jnp.zeros(self.config.action_dim, mean.dtype)
        log_std = self.param("log_std", nn.initializers.zeros, (self.config.action_dim,))
        return mean, jnp.maximum(log_std, self.config.log_std_min)


def gaussian_log_prob(mean: jax.Array, log_std: jax.Array, actions: jax.Array) -> jax.Array:
    """log N(actions; mean, diag exp(2 log_std)), summed over action dimensions. [B, A] -> [B]."""
    z = (actions - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1)


def _flow_velocity(params, config: AWRConfig, x_t, t, observations):
    """v_theta(x_t, t, s) of the "flow" policy (constant label 0, never the null embedding)."""
    batch = x_t.shape[0]
    return VectorField(config.flow_config).apply(
        params, x_t, t, jnp.zeros(batch, jnp.int32), jnp.zeros(batch, bool), observations
    )


def awr_loss(params, batch: dict, key: jax.Array, inv_beta, *, config: AWRConfig) -> tuple[jax.Array, dict]:
    """The AWR actor loss of one batch: mean_i u_i l_i, u_i = awr_weights(A_i). Returns (loss, info).

    batch: observations [B, O], actions [B, A], advantages [B].
    gaussian: l_i = -log pi_theta(a_i | s_i).
    flow:     l_i = mean over action dims of ||v_theta(x_t, t, s_i) - (x_1 - x_0)||^2 (one draw of t and x_0
              per example, from `key`).
    """
    u = awr_weights(batch["advantages"], inv_beta, config.max_weight)
    if config.policy == "gaussian":
        mean, log_std = GaussianActor(config).apply(params, batch["observations"])
        per_example = -gaussian_log_prob(mean, log_std, batch["actions"])
        extra = {"log_std": jnp.mean(log_std)}
    else:
        t, x_t, vel = sample_path(key, batch["actions"])
        err = _flow_velocity(params, config, x_t, t, batch["observations"]) - vel
        per_example = jnp.mean(err**2, axis=-1)
        extra = {}
    loss = jnp.mean(u * per_example)
    return loss, {
        "actor_loss": loss,
        "unweighted_loss": jnp.mean(per_example),
        "mean_weight": jnp.mean(u),
        "max_weight": jnp.max(u),
        **extra,
    }


def init_policy_params(config: AWRConfig, key: jax.Array):
    """Parameters of the Gaussian actor or of the flow policy's vector field."""
    if config.policy == "gaussian":
        return GaussianActor(config).init(key, jnp.zeros((1, config.obs_dim)))
    return init_params(config.flow_config, key)


@dataclass(frozen=True)
class AWRLearner:
    """AWR's actor as a learner of the core loop (`cfgrl_core.train.run_training`): 1/beta is a per-run argument."""

    config: AWRConfig
    train_config: TrainConfig
    loss_key: str = "actor_loss"

    @property
    def optimizer(self):
        return make_optimizer(self.train_config.learning_rate)

    def create(self, key: jax.Array) -> TrainState:
        return init_train_state(init_policy_params(self.config, key), self.optimizer)

    def loss(self, params, batch: dict, key: jax.Array, inv_beta):
        return awr_loss(params, batch, key, inv_beta, config=self.config)

    def update(self, state: TrainState, batch: dict, key: jax.Array, inv_beta) -> tuple[TrainState, dict]:
        return gradient_step(state, self.optimizer, self.loss, batch, key, inv_beta)


def fit(
    key: jax.Array,
    dataset: dict,
    inv_betas: Sequence[float],
    *,
    num_seeds: int,
    num_steps: int,
    config: AWRConfig,
    train_config: TrainConfig,
    steps_per_call: int = 1000,
    progress: bool = True,
) -> tuple[TrainState, np.ndarray]:
    """Train one AWR policy per (1/beta, seed) pair, all in one vmapped program (the core's `run_training`).

    dataset: observations [N, O], actions [N, A], advantages [N] (host arrays; other keys are ignored).
    Seed j uses the same initialisation and minibatch keys for every 1/beta (common random numbers), so
    the runs of one seed differ only in their temperature.
    Returns (state with leading axes [num_betas, num_seeds], actor loss [num_betas, num_seeds, num_steps]).
    """
    inv_betas = np.asarray(inv_betas, np.float32)
    if inv_betas.ndim != 1 or len(inv_betas) == 0 or (inv_betas < 0).any() or not np.isfinite(inv_betas).all():
        raise ValueError(f"inv_betas must be a non-empty vector of finite values >= 0, got {inv_betas}")
    for name, value in [("num_steps", num_steps), ("num_seeds", num_seeds), ("steps_per_call", steps_per_call)]:
        check_positive_int(name, value)
    data = {k: jnp.asarray(dataset[k], jnp.float32) for k in ("observations", "actions", "advantages")}
    if data["actions"].shape[1:] != (config.action_dim,) or data["observations"].shape[1:] != (config.obs_dim,):
        raise ValueError(
            f"dataset shapes {data['observations'].shape}, {data['actions'].shape} do not match "
            f"obs_dim={config.obs_dim}, action_dim={config.action_dim}"
        )
    num_betas = len(inv_betas)
    key_init, key_train = jax.random.split(key)
    seed_init = jax.random.split(key_init, num_seeds)
    seed_train = jax.random.split(key_train, num_seeds)
    tile = lambda k: jnp.tile(k, (num_betas,) + (1,) * (k.ndim - 1))  # run r = (beta r // S, seed r % S)
    learner = AWRLearner(config, train_config)
    states, losses = run_training(
        learner, create_runs(learner, tile(seed_init)), data, tile(seed_train), num_steps=num_steps,
        batch_size=train_config.batch_size, run_args=(jnp.repeat(jnp.asarray(inv_betas), num_seeds),),
        steps_per_call=steps_per_call, progress=progress,
        desc=f"AWR-{config.policy}: {num_betas * num_seeds} runs",
    )  # fmt: skip
    unflatten = lambda x: x.reshape(num_betas, num_seeds, *x.shape[1:])
    return jax.tree_util.tree_map(unflatten, states), unflatten(losses)


@functools.partial(jax.jit, static_argnames=("config",))
def gaussian_mean_action(params, observations: jax.Array, *, config: AWRConfig) -> jax.Array:
    """The deterministic action mu_theta(s) at which the authors evaluate AWR. [B, O] -> [B, A]."""
    return GaussianActor(config).apply(params, observations)[0]


@functools.partial(jax.jit, static_argnames=("config", "flow_steps"))
def _sample_flow_policy(params, key, observations, *, config: AWRConfig, flow_steps: int):
    batch = observations.shape[0]
    x_0 = jax.random.normal(key, (batch, config.action_dim))
    labels = jnp.zeros(batch, jnp.int32)  # the constant label; never the null embedding
    return sample_rows(params, config.flow_config, x_0, labels, observations, flow_steps=flow_steps)


def sample_flow_policy(
    params, key: jax.Array, observations: jax.Array, *, config: AWRConfig, flow_steps: int = 16
) -> jax.Array:
    """Actions of the "flow" AWR policy: Euler from x_0 ~ N(0, I) at t = 0 to t = 1 (the core's `sample_rows`,
    conditional flow only). [B, O] -> [B, A]."""
    return _sample_flow_policy(params, key, observations, config=config, flow_steps=check_flow_steps(flow_steps))
