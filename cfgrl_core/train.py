"""The one training loop of the collection, the learner contract it trains, and the CFG flow learner.

A learner (`Learner`) is a small frozen (hashable) dataclass with a config, the loss it minimises, and two pure
functions the loop calls:

    learner.create(key) -> state                                parameters, optimizer state, step
    learner.update(state, batch, key, *run_args) -> (state, info)         one optimisation step
    learner.loss_key                                            the info entry recorded as the loss curve

A learner keeps only its losses: the optimiser step itself is `gradient_step` (value_and_grad of the loss -> the
optimizer's update -> the new parameters, one more step) on a `TrainState`, or `optimizer_step` on bare
parameters for a learner with a state of its own (target networks, averaged by `polyak`). `make_optimizer` is the
one Adam every learner uses.

`CFGLearner` trains a conditional flow policy with classifier-free (null-condition) dropout: per example, the
condition (label o or goal g) is replaced by the learned null embedding with probability p_uncond, so one network
learns v_cond and v_uncond together (paper section 4; p_uncond = 0.1 in the authors' code). AWR's actors, the IQL
critic, TD3+BC and the PGD world model (`cfgrl_core.agents`, `cfgrl_core.pgd`) are learners too.

The loop (`run_training`): R independent runs (seeds, temperatures) `vmap`ped into one XLA program; many steps
inside one jitted `lax.scan` per call (`train_chunk`), minibatches drawn on device; calls of at most
`steps_per_call` steps, cut at requested `stops` where a callback sees the state (checkpoints, evaluation); a
progress bar over steps. The key of step k is fold_in(key, k), so however the steps are split into calls, and
whether a run is resumed from a checkpoint at step k, the result is the same. `fit` trains from scratch on a host
dataset; training that checkpoints and resumes is `cfgrl_core.experiments.resumable`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

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


@runtime_checkable
class Learner(Protocol):
    """What `run_training` trains: a hashable object (a static argument of the jitted chunk) with

    create(key) -> state        one run's initial state: a pytree with a scalar int32 `step`
    update(state, batch, key, *run_args) -> (state, info)
                                one optimisation step on one minibatch; run_args are this run's own arguments
                                (e.g. AWR's 1/beta), vmapped with the runs; info a dict of scalars
    loss_key                    the info entry recorded as the loss curve
    """

    loss_key: str

    def create(self, key: jax.Array) -> Any: ...

    def update(self, state, batch: dict, key: jax.Array, *run_args) -> tuple[Any, dict]: ...


def make_optimizer(learning_rate: float) -> optax.GradientTransformation:
    """The optimiser of every learner: Adam (the authors' step size is 3e-4)."""
    return optax.adam(learning_rate)


def init_train_state(params, optimizer: optax.GradientTransformation) -> TrainState:
    """A TrainState at step 0 for `params`."""
    return TrainState(params=params, opt_state=optimizer.init(params), step=jnp.zeros((), jnp.int32))


def optimizer_step(optimizer: optax.GradientTransformation, loss_fn: Callable, params, opt_state, *args):
    """One step of `optimizer` on `loss_fn(params, *args) -> (loss, info)`. Returns (params, opt_state, info)."""
    (_, info), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, *args)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, info


def gradient_step(state: TrainState, optimizer: optax.GradientTransformation, loss_fn: Callable, *args):
    """`optimizer_step` on a TrainState's parameters: (the state one step on, info)."""
    params, opt_state, info = optimizer_step(optimizer, loss_fn, state.params, state.opt_state, *args)
    return TrainState(params=params, opt_state=opt_state, step=state.step + 1), info


def polyak(target, online, step_size: float):
    """Polyak averaging of target networks, leaf by leaf: (1 - step_size) target + step_size online.

    Written in this order, as the authors' code and our earlier learners did: optax's `incremental_update` sums
    the same two terms the other way round, which XLA compiles to results that differ in the last bit, and a
    trained critic then drifts from the one our committed results were made with."""
    return jax.tree_util.tree_map(lambda t, o: (1.0 - step_size) * t + step_size * o, target, online)


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

    @property
    def optimizer(self) -> optax.GradientTransformation:
        return make_optimizer(self.train_config.learning_rate)

    def create(self, key: jax.Array) -> TrainState:
        return init_train_state(init_params(self.model_config, key), self.optimizer)

    def loss(self, params, batch: dict, key: jax.Array):
        return cfg_flow_loss(params, batch, key, model_config=self.model_config, p_uncond=self.train_config.p_uncond)

    def update(self, state: TrainState, batch: dict, key: jax.Array) -> tuple[TrainState, dict]:
        return gradient_step(state, self.optimizer, self.loss, batch, key)


@dataclass(frozen=True)
class FlowMember:
    """One flow network of a `MultiFlowLearner`: its name (the key of its parameters and of its sub-batch), its
    vector field and its probability of dropping the condition to the null embedding."""

    name: str
    model_config: ModelConfig
    p_uncond: float

    def __post_init__(self):
        check_probability(f"p_uncond of {self.name!r}", self.p_uncond)


@dataclass(frozen=True)
class MultiFlowLearner:
    """Several CFG flow networks trained together: params {name: params}, the loss the SUM of each member's flow
    loss on its own sub-batch batch[name], one Adam over all of them (the authors' HCFGRL: one optimizer, losses
    summed). Adam is per-parameter and the members share no weight, so this is training each member alone on the
    same minibatches (in distribution: the members' keys are split from one key); it exists so one run (one key,
    one checkpoint) holds them all.

    Used by the two-network ablation (an unconditional flow, p_uncond = 1, and a goal-conditioned one,
    p_uncond = 0, on the same minibatch) and by the hierarchy (a subgoal flow and an action flow)."""

    members: tuple  # FlowMember, ...
    learning_rate: float = 3e-4
    loss_key: str = "flow_loss"

    def __post_init__(self):
        names = [m.name for m in self.members]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"members must have distinct names, got {names}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")

    def configs(self) -> dict:
        return {m.name: m.model_config for m in self.members}

    @property
    def optimizer(self) -> optax.GradientTransformation:
        return make_optimizer(self.learning_rate)

    def create(self, key: jax.Array) -> TrainState:
        keys = jax.random.split(key, len(self.members))
        params = {m.name: init_params(m.model_config, k) for m, k in zip(self.members, keys, strict=True)}
        return init_train_state(params, self.optimizer)

    def loss(self, params, batch: dict, key: jax.Array):
        keys = jax.random.split(key, len(self.members))
        total, info = 0.0, {}
        for m, k in zip(self.members, keys, strict=True):
            loss, _ = cfg_flow_loss(params[m.name], batch[m.name], k, model_config=m.model_config, p_uncond=m.p_uncond)
            total, info[f"{m.name}_loss"] = total + loss, loss
        return total, {**info, "flow_loss": total}

    def update(self, state: TrainState, batch: dict, key: jax.Array) -> tuple[TrainState, dict]:
        return gradient_step(state, self.optimizer, self.loss, batch, key)


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


@functools.partial(jax.jit, static_argnames=("learner", "num_steps", "batch_size", "sample_fn"))
def train_chunk(
    states: TrainState,
    dataset: dict,
    keys: jax.Array,
    run_args: tuple = (),
    *,
    learner: Learner,
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


def create_runs(learner: Learner, keys: jax.Array):
    """One state per key [R], stacked along a leading run axis (`learner.create` vmapped)."""
    return jax.vmap(learner.create)(keys)


def chunk_bounds(start: int, num_steps: int, steps_per_call: int, stops=()) -> list[int]:
    """The steps after which `run_training` returns to Python: every multiple of steps_per_call, every stop, and
    num_steps, strictly after `start`. E.g. (0, 2500, 1000, [1250]) -> [1000, 1250, 2000, 2500]."""
    bounds = set(range(steps_per_call, num_steps, steps_per_call)) | {s for s in stops if 0 < s < num_steps}
    return sorted(b for b in bounds | {num_steps} if b > start)


def run_devices(num_runs: int, devices=None) -> list:
    """The devices R runs are sharded over: the most of `devices` (default: every local device) that divide R
    evenly, so each device holds R / D whole runs. One device (or R = 1): [that device], nothing is sharded."""
    devices = list(jax.local_devices() if devices is None else devices)
    if not devices:
        raise ValueError("devices is empty")
    d = max(k for k in range(1, len(devices) + 1) if num_runs % k == 0)
    return devices[:d]


class ShardedRuns:
    """R runs split over D devices along the run axis: device i holds runs [i R/D, (i+1) R/D) and runs the same
    single-device `train_chunk` program on them. The calls are dispatched without waiting, so the devices work
    in parallel. `join` gives back one array per leaf, sharded over the mesh with `jax.sharding.NamedSharding`
    (axis "runs"), for checkpoints and callers.

    Exactness: device i computes its runs with the vmapped program of R/D runs, where one device uses the program of
    R runs. Those agree bit for bit only while XLA compiles both alike: on CPU, a reduction over a large enough
    tensor (e.g. the bias gradients of [R, 256, 256] activations at R = 4, not at R = 2) is emitted differently
    as the program grows, and then runs differ from their one-device twins in the last bit after a step
    (2e-6 in the parameters after 40 steps of notebook 04's net), a difference that training then amplifies.
    Small programs match exactly (tested on 2 host CPU devices); at notebook 04's sizes the seeds of a sharded run
    are statistically, not bitwise, those of the one-device run. An XLA SPMD program over the same mesh (`jax.jit`
    of globally sharded arrays, or `jax.shard_map`) differs from the one-device program even at small sizes, so it
    is not used."""

    def __init__(self, devices: list, states, keys, run_args: tuple, dataset: dict):
        self.devices = list(devices)
        self.mesh = jax.sharding.Mesh(np.asarray(self.devices), ("runs",))
        d = len(self.devices)
        self.states = [jax.device_put(self._part(states, i, d), dev) for i, dev in enumerate(self.devices)]
        self.keys = [jax.device_put(self._part(keys, i, d), dev) for i, dev in enumerate(self.devices)]
        self.run_args = [jax.device_put(self._part(tuple(run_args), i, d), dev) for i, dev in enumerate(self.devices)]
        self.datasets = [jax.device_put(dataset, dev) for dev in self.devices]

    @staticmethod
    def _part(tree, i: int, d: int):
        def take(x):
            n = x.shape[0] // d
            return x[i * n : (i + 1) * n]

        return jax.tree_util.tree_map(take, tree)

    def step(self, **kwargs) -> dict:
        """Every device's `train_chunk` call (dispatched first, awaited by `join`); returns info, joined."""
        infos = []
        for i in range(len(self.devices)):
            self.states[i], info = train_chunk(
                self.states[i], self.datasets[i], self.keys[i], self.run_args[i], **kwargs
            )
            infos.append(info)
        return self.join(infos)

    def join(self, parts: list):
        """Per-device pytrees with leading axis R/D -> one pytree of [R, ...] arrays sharded over the mesh."""
        sharding = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec("runs"))

        def one(*xs):
            shape = (sum(x.shape[0] for x in xs), *xs[0].shape[1:])
            return jax.make_array_from_single_device_arrays(shape, sharding, list(xs))

        return jax.tree_util.tree_map(one, *parts)


def run_training(
    learner: Learner,
    states,
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
    devices=None,
) -> tuple[TrainState, np.ndarray]:
    """THE training loop: train R runs (leading axis of `states`, `keys`, `run_args`) up to step `num_steps`.

    Starts at the runs' current step (a state restored from a checkpoint at step k resumes at k and gives the same
    result as an uninterrupted run). Calls of at most `steps_per_call` scanned steps are cut at every step in
    `stops`, after which `on_stop(step, states, losses)` is called (losses: [R, steps run in this call so far]).
    devices: a list of devices to shard the runs over (`run_devices` picks how many divide R; `ShardedRuns`, which
    says when the numbers are bitwise those of one device); None or a single device runs everything where the
    inputs already are, as before.
    Returns (states at num_steps, loss curve [R, num_steps - start] of `learner.loss_key`).
    """
    num_steps = check_positive_int("num_steps", num_steps)
    steps_per_call = check_positive_int("steps_per_call", steps_per_call)
    r = jax.tree_util.tree_leaves(states)[0].shape[0]
    sharded = None
    if devices is not None and len(devices := run_devices(r, devices)) > 1:
        sharded = ShardedRuns(devices, states, keys, tuple(run_args), dataset)
    start = int(np.asarray(states.step).reshape(-1)[0])
    if start > num_steps:
        raise ValueError(f"the runs are already at step {start}, past num_steps={num_steps}")
    bar = progress_bar(total=num_steps, initial=start, desc=desc, unit="step", unit_scale=True, disable=not progress)
    losses, done = [], start
    stops = set(stops)
    for bound in chunk_bounds(start, num_steps, steps_per_call, stops):
        kwargs = dict(learner=learner, num_steps=bound - done, batch_size=batch_size, sample_fn=sample_fn)
        if sharded is None:
            states, info = train_chunk(states, dataset, keys, tuple(run_args), **kwargs)
        else:
            info = sharded.step(**kwargs)
            states = sharded.join(sharded.states)
        losses.append(np.asarray(info[learner.loss_key]))
        bar.update(bound - done)
        bar.set_postfix(loss=f"{float(losses[-1][:, -1].mean()):.4f}", refresh=False)
        done = bound
        if done in stops and on_stop is not None:
            on_stop(done, states, np.concatenate(losses, axis=-1))
    bar.close()
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
