"""Goal-conditioned minibatches with hindsight relabelling, sampled on device (GCBC / GCBC-CFGRL, paper section 6).

A transition (s_t, a_t) of episode e is paired with a goal g = phi(s_k), the oracle representation of a state
k of the SAME episode at or after t + 1 (hindsight relabelling). The authors' `GCDataset` with
`actor_p_trajgoal=1.0, actor_p_curgoal=actor_p_randomgoal=0, actor_geom_sample=False` draws

    lo = min(t + 1, T_e),   u ~ U[0, 1),   k = round(lo * u + T_e * (1 - u))

where T_e is the index of episode e's last state in the layout. So k is uniform over the future states
{t + 1, .., T_e}, except that rounding gives the two end points half the weight of the interior ones, and the
last row of an episode (t = T_e, no later state) gets its own state as goal. We reproduce exactly that law:

    P(k = lo) = P(k = T_e) = 1 / (2 (T_e - lo)),   P(k = j) = 1 / (T_e - lo) for lo < j < T_e   (T_e > lo)

(computed as k = lo + round((T_e - lo) (1 - u)), the same number without float32 error on large indices).

Layouts (OGBench's `load_dataset`):
  regular (default, `compact_dataset=False`): rows are transitions (s_t, a_t, s_{t+1}); `terminals` is 1 on the
      last transition of each episode, so T_e is that row and goals are drawn from `observations` rows.
  compact (`compact_dataset=True`): every stored state is a row, `valids` is 0 on the last row of each episode and
      `terminals` is 1 on its last two rows. Rows t are drawn only where `valids` is 1, and T_e is the first
      terminal at or after t, i.e. the last valid row, exactly as the authors' code does.
  a raw NAME.npz file (as written by `cfgrl_core.ogbench.datasets`) has `terminals` 1 on each episode's last row and
      is treated as the regular layout (every row, including the last one, is a transition start).
Goal representation: `oracle_reps` [N, G] if the dataset has it (`-oraclerep` variants), else
`observations[:, :goal_dim]` (for pointmaze, observations are the x-y position, which IS the oracle rep).

    data = prepare_gc_dataset(dataset)                  host numpy -> device arrays (once)
    batch = sample_gc_batch(data, key, batch_size)      pure JAX, jit / lax.scan friendly
    batch: observations [B, O], actions [B, A], conditions [B, G] (the goals), plus idxs / goal_idxs [B] int32
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from cfgrl_core.checks import check_finite


def episode_final_index(terminals: np.ndarray) -> np.ndarray:
    """final[i] = index of the first terminal at or after row i (T_e of row i's episode). terminals: [N] -> [N] int.

    The last row must be terminal (OGBench guarantees it), otherwise the last episode has no end.
    """
    terminals = np.asarray(terminals)
    if terminals.ndim != 1 or terminals.shape[0] == 0:
        raise ValueError(f"terminals must be a non-empty 1-D array [N], got shape {terminals.shape}")
    locs = np.flatnonzero(terminals > 0)
    if locs.size == 0 or locs[-1] != terminals.shape[0] - 1:
        raise ValueError("terminals must be 1 on the last row (every episode must end with a terminal row)")
    return locs[np.searchsorted(locs, np.arange(terminals.shape[0]))]


def prepare_gc_dataset(dataset: Mapping, *, goal_dim: int | None = None) -> dict:
    """Validate an OGBench-format dataset and move what the sampler needs to the device (float32 / int32).

    dataset: observations [N, O], actions [N, A], terminals [N]; optional oracle_reps [N, G], valids [N].
    goal_dim: without oracle_reps, goals are observations[:, :goal_dim] (None = the whole observation).
    Returns {observations, actions, goal_reps [N, G], final_idx [N], valid_idxs [V]} on device.
    """
    for k in ("observations", "actions", "terminals"):
        if k not in dataset:
            raise KeyError(f"dataset has no {k!r} key; keys are {sorted(dataset)}")
    obs = check_finite("observations", np.asarray(dataset["observations"]))
    actions = check_finite("actions", np.asarray(dataset["actions"]))
    terminals = np.asarray(dataset["terminals"])
    if obs.ndim != 2 or actions.ndim != 2:
        raise ValueError(f"observations and actions must be [N, O] and [N, A], got {obs.shape} and {actions.shape}")
    n = obs.shape[0]
    if actions.shape[0] != n or terminals.shape != (n,):
        raise ValueError(
            f"row counts differ: observations {obs.shape}, actions {actions.shape}, terminals {terminals.shape}"
        )
    if "oracle_reps" in dataset:
        goal_reps = check_finite("oracle_reps", np.asarray(dataset["oracle_reps"]))
        if goal_reps.ndim != 2 or goal_reps.shape[0] != n:
            raise ValueError(f"oracle_reps must have shape [{n}, G], got {goal_reps.shape}")
    else:
        if goal_dim is not None and not 0 < goal_dim <= obs.shape[1]:
            raise ValueError(f"goal_dim must lie in [1, {obs.shape[1]}], got {goal_dim}")
        goal_reps = obs[:, :goal_dim]
    final_idx = episode_final_index(terminals)
    if "valids" in dataset:
        valids = np.asarray(dataset["valids"])
        if valids.shape != (n,):
            raise ValueError(f"valids must have shape [{n}], got {valids.shape}")
        valid_idxs = np.flatnonzero(valids > 0)
        if valid_idxs.size == 0:
            raise ValueError("valids is 0 everywhere: no transition to sample")
    else:
        valid_idxs = np.arange(n)
    return {
        "observations": jnp.asarray(obs, jnp.float32),
        "actions": jnp.asarray(actions, jnp.float32),
        "goal_reps": jnp.asarray(goal_reps, jnp.float32),
        "final_idx": jnp.asarray(final_idx, jnp.int32),
        "valid_idxs": jnp.asarray(valid_idxs, jnp.int32),
    }


def sample_goal_idxs(final_idx: jax.Array, idxs: jax.Array, key: jax.Array) -> jax.Array:
    """Hindsight goal indices [B] for rows idxs [B]: the authors' uniform future-state law (module docstring)."""
    final = final_idx[idxs]
    lo = jnp.minimum(idxs + 1, final)
    u = jax.random.uniform(key, idxs.shape)
    offset = jnp.round((final - lo).astype(jnp.float32) * (1.0 - u)).astype(jnp.int32)
    return jnp.clip(lo + offset, lo, final)


def sample_gc_batch(data: dict, key: jax.Array, batch_size: int) -> dict:
    """A relabelled minibatch (rows with replacement, uniform over valid rows). Pure JAX: jit / scan it.

    data: the output of `prepare_gc_dataset`. Returns observations [B, O], actions [B, A], conditions [B, G]
    (goals = goal_reps[k]), idxs [B] and goal_idxs [B] (int32, for inspection).
    Same signature as `cfgrl_core.train.sample_batch`, so it can replace it in `train.run_training`.
    """
    key_idx, key_goal = jax.random.split(key)
    valid = data["valid_idxs"]
    idxs = valid[jax.random.randint(key_idx, (batch_size,), 0, valid.shape[0])]
    goal_idxs = sample_goal_idxs(data["final_idx"], idxs, key_goal)
    return {
        "observations": data["observations"][idxs],
        "actions": data["actions"][idxs],
        "conditions": data["goal_reps"][goal_idxs],
        "idxs": idxs,
        "goal_idxs": goal_idxs,
    }


def sample_gc_training_batch(data: dict, key: jax.Array, batch_size: int) -> dict:
    """`sample_gc_batch` restricted to the keys `train.CFGLearner.loss` reads: observations, actions, conditions.

    A module-level function, so it is hashable and can be a static argument of a jitted training loop.
    """
    batch = sample_gc_batch(data, key, batch_size)
    return {k: batch[k] for k in ("observations", "actions", "conditions")}


def make_gc_sampler(dataset: Mapping, *, goal_dim: int | None = None):
    """(data, sample_fn): device data (`prepare_gc_dataset`) and `sample_gc_training_batch`, which has the role and
    signature of `cfgrl_core.train.sample_batch`: sample_fn(data, key, batch_size) -> batch."""
    return prepare_gc_dataset(dataset, goal_dim=goal_dim), sample_gc_training_batch
