"""The trajectory model: a flow-matching generative model of normalised trajectory windows.

Why flow matching and not the authors' EDM diffusion: it is the same family (a denoiser and a probability-flow
ODE; `cfgrl_core.pgd.policy_guidance` writes the EDM quantities sigma and D in flow terms), and it lets the
trajectory model reuse the core unchanged: the loss (`cfgrl_core.flow`), the network (`cfgrl_core.networks`:
an MLP on the flattened window, which the reference measured as the CPU-feasible choice instead of the authors'
1-D U-Net), the training loop (`cfgrl_core.train.CFGLearner` with a single label that is never dropped, so no
null condition is ever used) and the Euler sampler. Deterministic Euler sampling replaces EDM's stochastic Heun
sampler; the authors' EMA of weights is not used.

    config = model_config(layout, hidden=(256, 256, 256))
    learner = trajectory_learner(config, batch_size=256, learning_rate=3e-4)
    x = generate(params, config, layout, normaliser, key, n=1024, lam=1.0, target=TARGET)   # [n, dim], data units

A saved model (`save_model` / `load_model`) is one folder: the seed-stacked parameters (orbax) and a JSON file
with the model config, the window layout and the normaliser, so sampling never needs the training data.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from cfgrl_core.checks import check_positive_int
from cfgrl_core.guidance import cfg_velocity_fn, euler_integrate
from cfgrl_core.io.checkpoints import load_json, restore_pytree, save_weights_folder
from cfgrl_core.networks import ModelConfig
from cfgrl_core.pgd import pointmass, policy_guidance
from cfgrl_core.pgd.windows import Normaliser, WindowLayout
from cfgrl_core.train import CFGLearner, TrainConfig, create_runs


def model_config(layout: WindowLayout, hidden=(256, 256, 256)) -> ModelConfig:
    """The window vector is the flow's 'action'; one label, always given (an unconditional model)."""
    return ModelConfig(action_dim=layout.dim, hidden_dims=tuple(hidden), num_labels=1)


def trajectory_learner(config: ModelConfig, *, batch_size: int = 256, learning_rate: float = 3e-4) -> CFGLearner:
    return CFGLearner(config, TrainConfig(batch_size=batch_size, learning_rate=learning_rate, p_uncond=0.0))


def device_data(z: np.ndarray) -> dict:
    """Normalised windows [N, dim] as the training loop's dataset (every condition the single label 0)."""
    return {"actions": jnp.asarray(z, jnp.float32), "conditions": jnp.zeros(len(z), jnp.int32)}


@dataclasses.dataclass(frozen=True)
class FixedPolicyLogProb:
    """log pi(u | s) of a scripted point-mass policy, in the (policy_params, s, u) form guidance takes (no params)."""

    policy: pointmass.GaussianPolicy

    def __call__(self, policy_params, s, u):
        del policy_params
        return pointmass.log_prob(self.policy, s, u)


def window_log_q(layout: WindowLayout, normaliser: Normaliser, log_prob, *, differentiate_states: bool = False):
    """log q_target of normalised windows z [B, dim] -> [B]: sum_t log pi_target(u_t | s_t), states not
    differentiated (as the authors' guidance) unless differentiate_states, rewards and dones not involved.
    log_prob(s [.., 2], u) -> [..]."""
    mean, std = jnp.asarray(normaliser.mean), jnp.asarray(normaliser.std)

    def log_q(z):
        parts = layout.unflatten(z * std + mean)
        s = parts["states"][..., :-1, :]
        s = s if differentiate_states else jax.lax.stop_gradient(s)
        return jnp.sum(log_prob(s, parts["actions"]), -1)

    return log_q


def _generate_one(params, normaliser_arrays, key, lam, policy_params, *, config, layout, log_prob, n, flow_steps,
                  guidance):  # fmt: skip
    """Windows [n, dim] in data units (pure). log_prob=None: unguided; else log_prob(policy_params, s, u)."""
    normaliser = Normaliser(*normaliser_arrays)
    velocity = cfg_velocity_fn(params, config, jnp.zeros(n, jnp.int32))
    x_0 = jax.random.normal(key, (n, config.action_dim))
    if log_prob is None:
        z = euler_integrate(velocity, x_0, flow_steps)
    else:
        window = guidance.gradient == "window"
        log_q = window_log_q(layout, normaliser, lambda s, u: log_prob(policy_params, s, u),
                             differentiate_states=window)  # fmt: skip
        mask = layout.action_mask() | layout.state_mask() if window else layout.action_mask()
        grad = policy_guidance.window_grad_log_q(log_q, mask)
        z = policy_guidance.sample(velocity, grad, x_0, lam, flow_steps=flow_steps, guidance=guidance)
    return z * normaliser.std + normaliser.mean


_STATIC = ("config", "layout", "log_prob", "n", "flow_steps", "guidance")
_generate = jax.jit(_generate_one, static_argnames=_STATIC)


@functools.partial(jax.jit, static_argnames=_STATIC)
def _generate_runs(params, normaliser_arrays, keys, lams, policy_params, **static):
    one = functools.partial(_generate_one, **static)
    return jax.vmap(one, in_axes=(0, None, 0, 0, 0))(params, normaliser_arrays, keys, lams, policy_params)


def generate(params, config: ModelConfig, layout: WindowLayout, normaliser: Normaliser, key, n: int, *, lam=0.0,
             target: pointmass.GaussianPolicy | None = None, flow_steps: int = 32,
             guidance: policy_guidance.PolicyGuidance = policy_guidance.DEFAULT) -> np.ndarray:  # fmt: skip
    """n windows [n, dim] in data units from one seed's parameters. target=None: unguided (the core's sampler);
    otherwise guided towards `target` with weight lam (lam = 0 gives the unguided samples exactly)."""
    check_positive_int("n", n)
    if target is None and lam != 0:
        raise ValueError(f"guidance weight lam={lam} needs a target policy")
    arrays = (jnp.asarray(normaliser.mean), jnp.asarray(normaliser.std))
    log_prob = None if target is None else FixedPolicyLogProb(target)
    x = _generate(params, arrays, key, jnp.float32(lam), None, config=config, layout=layout, log_prob=log_prob, n=n,
                  flow_steps=flow_steps, guidance=guidance)  # fmt: skip
    return np.asarray(x)


def generate_runs(params, config: ModelConfig, layout: WindowLayout, normaliser: Normaliser, keys, n: int, *, lams,
                  log_prob, policy_params, flow_steps: int = 32,
                  guidance: policy_guidance.PolicyGuidance = policy_guidance.DEFAULT) -> np.ndarray:  # fmt: skip
    """n windows per run [R, n, dim], in one program: run r samples the model params[r] with keys[r], guided by
    log_prob(policy_params[r], s, u) with weight lams[r] (leading axis R on params, keys, lams, policy_params).

    log_prob is a static, hashable callable (e.g. a frozen dataclass); the policy parameters are traced, so a new
    policy regenerates without recompiling."""
    check_positive_int("n", n)
    arrays = (jnp.asarray(normaliser.mean), jnp.asarray(normaliser.std))
    x = _generate_runs(params, arrays, keys, jnp.asarray(lams, jnp.float32), policy_params, config=config,
                       layout=layout, log_prob=log_prob, n=n, flow_steps=flow_steps, guidance=guidance)  # fmt: skip
    return np.asarray(x)


def seed_params(params, s: int):
    """The parameters of seed s from a seed-stacked pytree."""
    return jax.tree_util.tree_map(lambda p: p[s], params)


def save_model(folder, params, config: ModelConfig, layout: WindowLayout, normaliser: Normaliser, meta: dict) -> Path:
    """Seed-stacked params + model config, layout, normaliser and meta, as one folder that appears whole."""
    num_seeds = int(jax.tree_util.tree_leaves(params)[0].shape[0])
    record = {"model_config": dataclasses.asdict(config), "layout": dataclasses.asdict(layout),
              "normaliser": normaliser.to_json(), "num_seeds": num_seeds, **meta}  # fmt: skip
    return save_weights_folder(folder, params, record)


def load_model(folder):
    """(seed-stacked params, model config, layout, normaliser, meta) saved by `save_model`."""
    folder = Path(folder)
    meta = load_json(folder / "model.json")
    config = ModelConfig(**meta.pop("model_config"))
    layout = WindowLayout(**meta.pop("layout"))
    normaliser = Normaliser.from_json(meta.pop("normaliser"))
    if config.action_dim != layout.dim or normaliser.mean.shape != (layout.dim,):
        raise ValueError(f"{folder}: the model ({config.action_dim}), layout ({layout.dim}) and normaliser "
                         f"({normaliser.mean.shape}) disagree on the window size")  # fmt: skip
    learner = trajectory_learner(config)
    like = create_runs(learner, jax.random.split(jax.random.key(0), int(meta["num_seeds"]))).params
    params = restore_pytree(folder / "params", jax.device_get(like))
    return params, config, layout, normaliser, meta
