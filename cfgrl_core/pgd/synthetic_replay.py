"""What an offline agent trains on: real transitions, synthetic ones, or a stated mix (PGD's outer loop, §1.8).

    learner = MixedReplay(agent, synth_batch=240)            # 16 real + 240 synthetic rows per step of 256
    run_training(learner, states, real, keys, num_steps=..., batch_size=16, run_args=(synthetic,))

The core loop draws the real rows (`batch_size` of them, from the shared real dataset) and `MixedReplay.update`
draws `synth_batch` rows from the run's own synthetic dataset, a run argument with a leading run axis, so every
run (seed, lambda) keeps its own synthetic data and a regenerated dataset is a new argument of the same shape (no
recompilation). synth_batch = 0 is training on real data alone.

Windows become transitions (`window_transitions`): the H rows (s_t, u_t, r_t, d_t) of a window with s_{t+1} the
next row's state (the window's final state for the last row); the generated done is thresholded at 0.5 and the
mask is 1 - done. Actions are clipped to the action box: the simulator clips them (`pointmass.step`), so the
clipped action is the one that acted, and it is what TD3+BC's behaviour-cloning term and the critics see. The
policy guidance, on the other hand, scores the pre-clip action the trajectory model generates
(`AgentLogProb`): for TD3+BC's deterministic actor the released code's unit-variance Gaussian around mu(s)
(reference §1.5, item 4), and the same Gaussian for IQL's actor (the code uses the actor's learned sigma there:
one guidance scale for both agents is our choice, so that one lambda means the same pull for both).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from cfgrl_core.checks import check_nonnegative_int
from cfgrl_core.pgd.windows import WindowLayout
from cfgrl_core.train import sample_batch

TRANSITION_KEYS = ("observations", "actions", "rewards", "masks", "next_observations")


def window_transitions(layout: WindowLayout, x, max_action: float = 1.0) -> dict:
    """Windows x [..., N, dim] (data units) -> transitions [..., N * H, ...] float32 (`TRANSITION_KEYS`)."""
    parts = layout.unflatten(np.asarray(x, np.float32))
    lead = parts["actions"].shape[:-3]
    flat = lambda a, width: np.ascontiguousarray(a).reshape(*lead, -1, *width)
    dones = (parts["dones"] > 0.5).astype(np.float32)
    return {
        "observations": flat(parts["states"][..., :-1, :], (layout.obs_dim,)),
        "actions": flat(np.clip(parts["actions"], -max_action, max_action), (layout.action_dim,)),
        "rewards": flat(parts["rewards"], ()),
        "masks": flat(1.0 - dones, ()),
        "next_observations": flat(parts["states"][..., 1:, :], (layout.obs_dim,)),
    }


def real_transitions(data: dict, max_action: float = 1.0) -> dict:
    """A transition dataset (`pointmass` keys) in the same form, float32."""
    return {
        "observations": np.asarray(data["observations"], np.float32),
        "actions": np.clip(np.asarray(data["actions"], np.float32), -max_action, max_action),
        "rewards": np.asarray(data["rewards"], np.float32),
        "masks": 1.0 - np.asarray(data["terminals"], np.float32),
        "next_observations": np.asarray(data["next_observations"], np.float32),
    }


def to_device(transitions: dict) -> dict:
    return {k: jnp.asarray(transitions[k], jnp.float32) for k in TRANSITION_KEYS}


@dataclasses.dataclass(frozen=True)
class MixedReplay:
    """A learner of the core loop wrapping an agent: each step's batch is the loop's real rows followed by
    `synth_batch` rows drawn uniformly (with replacement) from the run argument `synthetic`."""

    agent: object
    synth_batch: int = 0

    def __post_init__(self):
        check_nonnegative_int("synth_batch", self.synth_batch)

    @property
    def loss_key(self) -> str:
        return self.agent.loss_key

    def create(self, key):
        return self.agent.create(key)

    def update(self, state, batch: dict, key, synthetic: dict | None = None):
        if self.synth_batch == 0:
            if synthetic is not None:
                raise ValueError("MixedReplay(synth_batch=0) trains on real data only; got a synthetic dataset")
            return self.agent.update(state, batch, key)
        if synthetic is None:
            raise ValueError(f"MixedReplay(synth_batch={self.synth_batch}) needs a synthetic dataset run argument")
        key_rows, key_loss = jax.random.split(key)
        synth = sample_batch(synthetic, key_rows, self.synth_batch)
        mixed = {k: jnp.concatenate([batch[k], synth[k]], 0) for k in TRANSITION_KEYS}
        return self.agent.update(state, mixed, key_loss)


@dataclasses.dataclass(frozen=True)
class AgentLogProb:
    """log N(u; act(s), std^2 I): the target likelihood PGD guides with, as log_prob(actor_params, s, u).

    `agent` is any learner with `act(actor_params, observations [B, O])`; s and u may have extra leading axes."""

    agent: object
    std: float = 1.0

    def __call__(self, actor_params, s, u):
        lead = s.shape[:-1]
        mean = self.agent.act(actor_params, s.reshape(-1, s.shape[-1])).reshape(*lead, -1)
        z = (u - mean) / self.std
        return -0.5 * jnp.sum(z**2, -1) - u.shape[-1] * (jnp.log(self.std) + 0.5 * jnp.log(2 * jnp.pi))

    def numpy(self, actor_params, s, u) -> np.ndarray:
        return np.asarray(self(actor_params, jnp.asarray(s, jnp.float32), jnp.asarray(u, jnp.float32)))
