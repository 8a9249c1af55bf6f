"""Training a conditional flow policy with classifier-free (null-condition) dropout.

Per example, the condition (label o or goal g) is replaced by the learned null embedding with probability
p_uncond, so one network learns v_cond and v_uncond together (paper section 4; p_uncond = 0.1 in the
authors' code). Many optimisation steps run inside one jitted `lax.scan` (minibatches drawn on device),
and the whole loop can be `vmap`ped over seeds: several independent runs train in one XLA program.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from cfgrl_core.checks import check_dataset, check_probability
from cfgrl_core.flow import flow_matching_loss
from cfgrl_core.networks import ModelConfig, VectorField, init_params


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 256  # examples per optimisation step
    learning_rate: float = 3e-4  # Adam step size (the authors' default)
    p_uncond: float = 0.1  # probability that an example's condition is replaced by the null embedding

    def __post_init__(self):
        if self.batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        check_probability("p_uncond", self.p_uncond)


class TrainState(flax.struct.PyTreeNode):
    params: dict
    opt_state: optax.OptState
    step: jax.Array


def make_optimizer(train_config: TrainConfig) -> optax.GradientTransformation:
    return optax.adam(train_config.learning_rate)


def null_mask(key: jax.Array, batch_size: int, p_uncond: float) -> jax.Array:
    """[B] bool, True where the condition is dropped to the null embedding (probability p_uncond each)."""
    return jax.random.bernoulli(key, p_uncond, (batch_size,))


def cfg_flow_loss(params, batch: dict, key: jax.Array, *, model_config: ModelConfig, p_uncond: float):
    """Flow-matching loss of v_theta(x_t, t, s, c) with condition dropout. Returns (loss, info).

    batch: actions [B, A], conditions [B] or [B, C], optionally observations [B, O].
    """
    key_null, key_flow = jax.random.split(key)
    mask = null_mask(key_null, batch["actions"].shape[0], p_uncond)
    net = VectorField(model_config)

    def velocity_fn(x_t, t):
        return net.apply(params, x_t, t, batch["conditions"], mask, batch.get("observations"))

    loss, info = flow_matching_loss(velocity_fn, batch["actions"], key_flow)
    return loss, {**info, "null_fraction": mask.mean()}


def create_train_state(key: jax.Array, model_config: ModelConfig, train_config: TrainConfig) -> TrainState:
    params = init_params(model_config, key)
    opt_state = make_optimizer(train_config).init(params)
    return TrainState(params=params, opt_state=opt_state, step=jnp.zeros((), jnp.int32))


def update(
    state: TrainState, batch: dict, key: jax.Array, *, model_config: ModelConfig, train_config: TrainConfig
) -> tuple[TrainState, dict]:
    """One Adam step on one batch. Pure; jit it at the call site."""
    grad_fn = jax.value_and_grad(cfg_flow_loss, has_aux=True)
    (_, info), grads = grad_fn(state.params, batch, key, model_config=model_config, p_uncond=train_config.p_uncond)
    updates, opt_state = make_optimizer(train_config).update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    return TrainState(params=params, opt_state=opt_state, step=state.step + 1), info


def sample_batch(dataset: dict, key: jax.Array, batch_size: int) -> dict:
    """Uniform minibatch (with replacement) gathered on device. dataset: dict of [N, ...] arrays."""
    n = jax.tree_util.tree_leaves(dataset)[0].shape[0]
    idx = jax.random.randint(key, (batch_size,), 0, n)
    return jax.tree_util.tree_map(lambda x: x[idx], dataset)


def scan_updates(
    step_fn, state, dataset: dict, key: jax.Array, *, num_steps: int, batch_size: int, sample_fn=sample_batch
):
    """`num_steps` calls of `step_fn(state, batch, key) -> (state, info)` in one lax.scan.

    The key for step k is fold_in(key, state.step + k), split into the minibatch key and the loss key, so
    splitting a run into several calls gives the same result as one long call. `sample_fn(dataset, key,
    batch_size) -> batch` draws each minibatch on device. Shared by CFGRL (`train_steps`) and AWR
    (`cfgrl_core.awr.train_steps`), so both use the same key schedule.
    """

    def body(state, _):
        key_batch, key_loss = jax.random.split(jax.random.fold_in(key, state.step))
        return step_fn(state, sample_fn(dataset, key_batch, batch_size), key_loss)

    return jax.lax.scan(body, state, None, length=num_steps)


def train_steps(
    state: TrainState,
    dataset: dict,
    key: jax.Array,
    *,
    num_steps: int,
    model_config: ModelConfig,
    train_config: TrainConfig,
    sample_fn=sample_batch,
) -> tuple[TrainState, dict]:
    """`num_steps` CFG flow updates in one lax.scan (`scan_updates`). Returns the new state and info with a
    leading [num_steps] axis. `sample_fn` defaults to uniform rows; e.g. `gc_dataset.sample_gc_training_batch`
    relabels goals in hindsight.
    """
    step_fn = functools.partial(update, model_config=model_config, train_config=train_config)
    return scan_updates(
        step_fn, state, dataset, key, num_steps=num_steps, batch_size=train_config.batch_size, sample_fn=sample_fn
    )


_STATIC = ("num_steps", "model_config", "train_config", "sample_fn")
train_steps_jit = jax.jit(train_steps, static_argnames=_STATIC)


@functools.partial(jax.jit, static_argnames=_STATIC)
def train_steps_seeds(
    states: TrainState,
    dataset: dict,
    keys: jax.Array,
    *,
    num_steps: int,
    model_config: ModelConfig,
    train_config: TrainConfig,
    sample_fn=sample_batch,
):
    """`train_steps` vmapped over a leading seed axis of `states` and `keys` (the data are shared)."""
    fn = functools.partial(
        train_steps, num_steps=num_steps, model_config=model_config, train_config=train_config, sample_fn=sample_fn
    )
    return jax.vmap(fn, in_axes=(0, None, 0))(states, dataset, keys)


def create_train_states(keys: jax.Array, model_config: ModelConfig, train_config: TrainConfig) -> TrainState:
    """One TrainState per key, stacked along a leading seed axis."""
    return jax.vmap(lambda k: create_train_state(k, model_config, train_config))(keys)


def to_device_dataset(dataset: dict, model_config: ModelConfig) -> dict:
    """Validate a host dataset and move it to the device as float32 (labels int32)."""
    check_dataset(
        dataset,
        action_dim=model_config.action_dim,
        obs_dim=model_config.obs_dim or None,
        cond_dim=model_config.cond_dim or None,
        num_labels=model_config.num_labels or None,
    )
    out = {"actions": jnp.asarray(dataset["actions"], jnp.float32)}
    cond = np.asarray(dataset["conditions"])
    out["conditions"] = jnp.asarray(cond, jnp.int32 if model_config.num_labels > 0 else jnp.float32)
    if model_config.obs_dim > 0:
        out["observations"] = jnp.asarray(dataset["observations"], jnp.float32)
    return out


def fit(
    key: jax.Array,
    dataset: dict,
    *,
    num_steps: int,
    model_config: ModelConfig,
    train_config: TrainConfig,
    num_seeds: int | None = None,
    steps_per_call: int = 1000,
    progress: bool = True,
    sample_fn=None,
) -> tuple[TrainState, np.ndarray]:
    """Train from scratch on a host dataset, `steps_per_call` scanned steps per jitted call.

    num_seeds=None trains one run; an int trains that many seeds in one vmapped program (leading axis on
    the returned state). Returns (state, loss curve [num_steps] or [num_seeds, num_steps]).
    sample_fn=None draws uniform rows of `dataset` (validated and moved to the device here); otherwise
    `dataset` is already prepared for `sample_fn` (e.g. `gc_dataset.make_gc_sampler(raw)` returns both).
    """
    if num_steps <= 0:
        raise ValueError(f"num_steps must be positive, got {num_steps}")
    if steps_per_call <= 0:
        raise ValueError(f"steps_per_call must be positive, got {steps_per_call}")
    if sample_fn is None:
        data, sample_fn = to_device_dataset(dataset, model_config), sample_batch
    else:
        data = dataset
    key_init, key_train = jax.random.split(key)
    static = {"model_config": model_config, "train_config": train_config, "sample_fn": sample_fn}
    if num_seeds is None:
        state = create_train_state(key_init, model_config, train_config)
        run, keys = train_steps_jit, key_train
    else:
        if num_seeds <= 0:
            raise ValueError(f"num_seeds must be positive, got {num_seeds}")
        state = create_train_states(jax.random.split(key_init, num_seeds), model_config, train_config)
        run, keys = train_steps_seeds, jax.random.split(key_train, num_seeds)
    losses = []
    chunks = [steps_per_call] * (num_steps // steps_per_call)
    if num_steps % steps_per_call:
        chunks.append(num_steps % steps_per_call)
    iterator = chunks
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(chunks, desc=f"training {num_steps} steps", unit="chunk")
    for n in iterator:
        state, info = run(state, data, keys, num_steps=n, **static)
        losses.append(np.asarray(info["flow_loss"]))
    return state, np.concatenate(losses, axis=-1)
