"""The one training loop of the collection, and the CFG flow learner it trains.

Learner: a small frozen (hashable) dataclass with a config and two pure functions,

    learner.create(key) -> TrainState                      parameters, optimizer state, step
    learner.update(state, batch, key, *run_args) -> (state, info)      one optimisation step
    learner.loss_key                                        the info entry recorded as the loss curve

`CFGLearner` trains a conditional flow policy with classifier-free (null-condition) dropout: per example, the
condition (label o or goal g) is replaced by the learned null embedding with probability p_uncond, so one network
learns v_cond and v_uncond together (paper section 4; p_uncond = 0.1 in the authors' code). AWR's actors
(`cfgrl_core.agents.awr`) are learners too, with the temperature 1/beta as a per-run argument.

The loop (`run_training`): R independent runs (seeds, temperatures) `vmap`ped into one XLA program; many steps
inside one jitted `lax.scan` per call (`train_chunk`), minibatches drawn on device; calls of at most
`steps_per_call` steps, cut at requested `stops` where a callback sees the state (checkpoints, evaluation); a
progress bar over steps. The key of step k is fold_in(key, k), so however the steps are split into calls, and
whether a run is resumed from a checkpoint at step k, the result is the same.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from cfgrl_core.checks import check_dataset, check_positive_int, check_probability
from cfgrl_core.flow import flow_matching_loss
from cfgrl_core.networks import ModelConfig, VectorField, init_params
from cfgrl_core.progress import progress_bar


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 256  # examples per optimisation step
    learning_rate: float = 3e-4  # Adam step size (the authors' default)
    p_uncond: float = 0.1  # probability that an example's condition is replaced by the null embedding

    def __post_init__(self):
        check_positive_int("batch_size", self.batch_size)
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


@dataclass(frozen=True)
class CFGLearner:
    """The CFG flow policy: `VectorField(model_config)` trained on the flow-matching loss with null dropout."""

    model_config: ModelConfig
    train_config: TrainConfig
    loss_key: str = "flow_loss"

    def create(self, key: jax.Array) -> TrainState:
        return create_train_state(key, self.model_config, self.train_config)

    def update(self, state: TrainState, batch: dict, key: jax.Array) -> tuple[TrainState, dict]:
        return update(state, batch, key, model_config=self.model_config, train_config=self.train_config)


def scan_updates(
    step_fn, state, dataset: dict, key: jax.Array, *, num_steps: int, batch_size: int, sample_fn=sample_batch
):
    """`num_steps` calls of `step_fn(state, batch, key) -> (state, info)` in one lax.scan.

    The key for step k is fold_in(key, state.step + k), split into the minibatch key and the loss key, so
    splitting a run into several calls gives the same result as one long call. `sample_fn(dataset, key,
    batch_size) -> batch` draws each minibatch on device. Every learner goes through here (`train_chunk`), so all
    use the same key schedule.
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


train_steps_jit = jax.jit(train_steps, static_argnames=("num_steps", "model_config", "train_config", "sample_fn"))


@functools.partial(jax.jit, static_argnames=("learner", "num_steps", "batch_size", "sample_fn"))
def train_chunk(
    states: TrainState,
    dataset: dict,
    keys: jax.Array,
    run_args: tuple = (),
    *,
    learner,
    num_steps: int,
    batch_size: int,
    sample_fn=sample_batch,
) -> tuple[TrainState, dict]:
    """`num_steps` updates of R runs in one program: `scan_updates` of `learner.update` vmapped over the leading
    run axis of `states`, `keys` [R] and every array in `run_args` (e.g. 1/beta [R]); the data are shared.
    Returns the states and info with leading axes [R, num_steps]."""

    def one_run(state, key, args):
        def step_fn(state, batch, key_loss):
            return learner.update(state, batch, key_loss, *args)

        return scan_updates(
            step_fn, state, dataset, key, num_steps=num_steps, batch_size=batch_size, sample_fn=sample_fn
        )

    return jax.vmap(one_run, in_axes=(0, 0, 0))(states, keys, tuple(run_args))


def create_runs(learner, keys: jax.Array) -> TrainState:
    """One state per key [R], stacked along a leading run axis."""
    return jax.vmap(learner.create)(keys)


def train_steps_seeds(states, dataset, keys, *, num_steps, model_config, train_config, sample_fn=sample_batch):
    """`num_steps` CFG updates of S seeds (leading axis of `states` and `keys`) in one program (`train_chunk`)."""
    return train_chunk(
        states, dataset, keys, learner=CFGLearner(model_config, train_config), num_steps=num_steps,
        batch_size=train_config.batch_size, sample_fn=sample_fn,
    )  # fmt: skip


def create_train_states(keys: jax.Array, model_config: ModelConfig, train_config: TrainConfig) -> TrainState:
    """One TrainState per key, stacked along a leading seed axis."""
    return create_runs(CFGLearner(model_config, train_config), keys)


def chunk_bounds(start: int, num_steps: int, steps_per_call: int, stops=()) -> list[int]:
    """The steps after which `run_training` returns to Python: every multiple of steps_per_call, every stop, and
    num_steps, strictly after `start`. E.g. (0, 2500, 1000, [1250]) -> [1000, 1250, 2000, 2500]."""
    bounds = set(range(steps_per_call, num_steps, steps_per_call)) | {s for s in stops if 0 < s < num_steps}
    return sorted(b for b in bounds | {num_steps} if b > start)


def run_training(
    learner,
    states: TrainState,
    dataset: dict,
    keys: jax.Array,
    *,
    num_steps: int,
    batch_size: int,
    sample_fn=sample_batch,
    run_args: tuple = (),
    steps_per_call: int = 1000,
    stops=(),
    on_stop=None,
    progress: bool = True,
    desc: str = "training",
) -> tuple[TrainState, np.ndarray]:
    """THE training loop: train R runs (leading axis of `states`, `keys`, `run_args`) up to step `num_steps`.

    Starts at the runs' current step (a state restored from a checkpoint at step k resumes at k and gives the same
    result as an uninterrupted run). Calls of at most `steps_per_call` scanned steps are cut at every step in
    `stops`, after which `on_stop(step, states, losses)` is called (losses: [R, steps run in this call so far]).
    Returns (states at num_steps, loss curve [R, num_steps - start] of `learner.loss_key`).
    """
    num_steps = check_positive_int("num_steps", num_steps)
    steps_per_call = check_positive_int("steps_per_call", steps_per_call)
    start = int(np.asarray(states.step).reshape(-1)[0])
    if start > num_steps:
        raise ValueError(f"the runs are already at step {start}, past num_steps={num_steps}")
    bar = progress_bar(total=num_steps, initial=start, desc=desc, unit="step", unit_scale=True, disable=not progress)
    losses, done = [], start
    stops = set(stops)
    for bound in chunk_bounds(start, num_steps, steps_per_call, stops):
        states, info = train_chunk(
            states, dataset, keys, tuple(run_args), learner=learner, num_steps=bound - done, batch_size=batch_size,
            sample_fn=sample_fn,
        )  # fmt: skip
        losses.append(np.asarray(info[learner.loss_key]))
        bar.update(bound - done)
        bar.set_postfix(loss=f"{float(losses[-1][:, -1].mean()):.4f}", refresh=False)
        done = bound
        if done in stops and on_stop is not None:
            on_stop(done, states, np.concatenate(losses, axis=-1))
    bar.close()
    r = jax.tree_util.tree_leaves(states)[0].shape[0]
    return states, np.concatenate(losses, axis=-1) if losses else np.zeros((r, 0), np.float32)


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
    """Train from scratch on a host dataset with `run_training`.

    num_seeds=None trains one run; an int trains that many seeds in one vmapped program (leading axis on
    the returned state). Returns (state, loss curve [num_steps] or [num_seeds, num_steps]).
    sample_fn=None draws uniform rows of `dataset` (validated and moved to the device here); otherwise
    `dataset` is already prepared for `sample_fn` (e.g. `gc_dataset.make_gc_sampler(raw)` returns both).
    Seeds: (key_init, key_train) = split(key); seed j starts from split(key_init, S)[j] and trains with
    split(key_train, S)[j].
    """
    num_steps = check_positive_int("num_steps", num_steps)
    steps_per_call = check_positive_int("steps_per_call", steps_per_call)
    if sample_fn is None:
        data, sample_fn = to_device_dataset(dataset, model_config), sample_batch
    else:
        data = dataset
    key_init, key_train = jax.random.split(key)
    learner = CFGLearner(model_config, train_config)
    s = 1 if num_seeds is None else check_positive_int("num_seeds", num_seeds)
    if num_seeds is None:
        init_keys, train_keys = key_init[None], key_train[None]
    else:
        init_keys, train_keys = jax.random.split(key_init, s), jax.random.split(key_train, s)
    desc = f"training {s} seed{'s' if s > 1 else ''}"
    state, losses = run_training(
        learner, create_runs(learner, init_keys), data, train_keys, num_steps=num_steps,
        batch_size=train_config.batch_size, sample_fn=sample_fn, steps_per_call=steps_per_call, progress=progress,
        desc=desc,
    )  # fmt: skip
    if num_seeds is None:
        return jax.tree_util.tree_map(lambda x: x[0], state), losses[0]
    return state, losses
