"""The baseline: an ensemble of MLP world models, rolled out for a few steps under the target policy (MOPO/MBPO).

Each member maps a normalised (s, u) to the normalised (Delta s, r) and is trained by mean squared error
(deterministic members, since the true dynamics are deterministic; MOPO's members are Gaussians). Members differ
by their initialisation and minibatch keys. A rollout starts at dataset states and, at every step, samples the
target's action and one member uniformly at random per trajectory (MBPO's scheme): s_{k+1} = s_k + Delta s.

    learner = WorldModelLearner(hidden=(128, 128))
    states = create_runs(learner, keys)            # E members (times seeds) in one vmapped program
    rollout(member_params, norms, TARGET, start_states, steps=5, key=key)
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cfgrl_core.io.checkpoints import load_json, restore_pytree, save_weights_folder
from cfgrl_core.pgd import pointmass
from cfgrl_core.pgd.windows import Normaliser
from cfgrl_core.train import TrainState, create_runs, gradient_step, init_train_state, make_optimizer


class DynamicsMLP(nn.Module):
    hidden: tuple
    out_dim: int

    @nn.compact
    def __call__(self, x):
        for width in self.hidden:
            x = nn.gelu(nn.Dense(width)(x))
        return nn.Dense(self.out_dim)(x)


@dataclasses.dataclass(frozen=True)
class WorldModelLearner:
    """One member; the training loop vmaps it over members (and seeds)."""

    hidden: tuple = (128, 128)
    obs_dim: int = 2
    action_dim: int = 2
    learning_rate: float = 1e-3
    loss_key: str = "mse"

    @property
    def net(self) -> DynamicsMLP:
        return DynamicsMLP(tuple(self.hidden), self.obs_dim + 1)

    @property
    def optimizer(self):
        return make_optimizer(self.learning_rate)

    def create(self, key) -> TrainState:
        return init_train_state(self.net.init(key, jnp.zeros((1, self.obs_dim + self.action_dim))), self.optimizer)

    def loss(self, params, batch: dict):
        """Mean squared error of the normalised (Delta s, r) prediction."""
        mse = jnp.mean((self.net.apply(params, batch["inputs"]) - batch["targets"]) ** 2)
        return mse, {"mse": mse}

    def update(self, state: TrainState, batch: dict, key):
        del key  # deterministic members: the minibatch is the only randomness
        return gradient_step(state, self.optimizer, self.loss, batch)


@dataclasses.dataclass(frozen=True)
class Normalisers:
    inputs: Normaliser  # of concat(s, u)
    targets: Normaliser  # of concat(s' - s, r)


def transition_data(data: dict) -> tuple[dict, Normalisers]:
    """(normalised training arrays {'inputs', 'targets'}, their normalisers) from a transition dataset."""
    inputs = np.concatenate([data["observations"], data["actions"]], -1).astype(np.float32)
    targets = np.concatenate([data["next_observations"] - data["observations"], data["rewards"][:, None]], -1)
    norms = Normalisers(Normaliser.fit(inputs), Normaliser.fit(targets.astype(np.float32)))
    arrays = {"inputs": norms.inputs.normalise(inputs), "targets": norms.targets.normalise(targets)}
    return {k: jnp.asarray(v, jnp.float32) for k, v in arrays.items()}, norms


def predict(learner: WorldModelLearner, params, norms: Normalisers, s, u):
    """(s', r) of one member in data units. s, u: [N, 2]."""
    x = (jnp.concatenate([s, u], -1) - norms.inputs.mean) / norms.inputs.std
    y = learner.net.apply(params, x) * norms.targets.std + norms.targets.mean
    return s + y[:, : learner.obs_dim], y[:, learner.obs_dim]


@functools.partial(jax.jit, static_argnames=("learner", "target", "steps"))
def _rollout(members, norm_arrays, start_states, key, *, learner, target, steps):
    norms = Normalisers(Normaliser(*norm_arrays[:2]), Normaliser(*norm_arrays[2:]))
    num_members = jax.tree_util.tree_leaves(members)[0].shape[0]

    def one_step(s, key):
        key_u, key_m = jax.random.split(key)
        u = pointmass.policy_mean(target, s) + target.noise * jax.random.normal(key_u, s.shape)
        s_all, r_all = jax.vmap(lambda p: predict(learner, p, norms, s, u))(members)  # [E, N, 2], [E, N]
        m = jax.random.randint(key_m, (s.shape[0],), 0, num_members)
        rows = jnp.arange(s.shape[0])
        s_next, r = s_all[m, rows], r_all[m, rows]
        return s_next, (s_next, u, r)

    _, (s_seq, u_seq, r_seq) = jax.lax.scan(one_step, start_states, jax.random.split(key, steps))
    states = jnp.concatenate([start_states[None], s_seq], 0).transpose(1, 0, 2)
    return states, u_seq.transpose(1, 0, 2), r_seq.T


def rollout(learner: WorldModelLearner, members, norms: Normalisers, target: pointmass.GaussianPolicy, start_states,
            steps: int, key) -> dict:  # fmt: skip
    """`steps`-step model rollouts of the target policy from start_states [N, 2], members stacked on axis 0.

    Returns states [N, steps + 1, 2], actions [N, steps, 2], rewards [N, steps] (numpy)."""
    arrays = tuple(jnp.asarray(a) for a in (norms.inputs.mean, norms.inputs.std, norms.targets.mean,
                                               norms.targets.std))  # fmt: skip
    states, actions, rewards = _rollout(members, arrays, jnp.asarray(start_states, jnp.float32), key,
                                        learner=learner, target=target, steps=int(steps))  # fmt: skip
    return {"states": np.asarray(states), "actions": np.asarray(actions), "rewards": np.asarray(rewards)}


def save_ensemble(folder, params, learner: WorldModelLearner, norms: Normalisers, meta: dict):
    """Members' params (stacked on axis 0, e.g. [seeds * members]) + learner, normalisers and meta, whole or not at
    all."""
    num = int(jax.tree_util.tree_leaves(params)[0].shape[0])
    record = {"learner": dataclasses.asdict(learner), "num_runs": num, "inputs": norms.inputs.to_json(),
              "targets": norms.targets.to_json(), **meta}  # fmt: skip
    return save_weights_folder(folder, params, record)


def load_ensemble(folder):
    """(params [R, ...], learner, normalisers, meta) saved by `save_ensemble`."""
    folder = Path(folder)
    meta = load_json(folder / "model.json")
    d = meta.pop("learner")
    learner = WorldModelLearner(**{**d, "hidden": tuple(d["hidden"])})
    norms = Normalisers(Normaliser.from_json(meta.pop("inputs")), Normaliser.from_json(meta.pop("targets")))
    like = create_runs(learner, jax.random.split(jax.random.key(0), int(meta["num_runs"]))).params
    return restore_pytree(folder / "params", jax.device_get(like)), learner, norms, meta
