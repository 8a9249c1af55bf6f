"""Training that survives being killed: `run_training` with a checkpoint every so many steps, resumed from the latest.

    states, losses = train_resumable(learner, states, data, keys, num_steps=20_000, batch_size=256,
                                     checkpoints=CheckpointDir(run_dir / "train"), checkpoint_every=5_000)

The checkpoint holds the runs' TrainState and the loss curve so far; only the latest is kept. Because the key of
step k is fold_in(key, k) (`cfgrl_core.train.scan_updates`), a run resumed at step k gives exactly the numbers of an
uninterrupted one. (The OGBench experiment, `cfgrl_core.ogbench.experiment.train_resumable`, keeps several
checkpoint steps for its evaluations and has its own version.)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from cfgrl_core.checks import check_positive_int
from cfgrl_core.io.checkpoints import CheckpointDir
from cfgrl_core.train import run_training, sample_batch


def train_resumable(
    learner,
    states,
    data: dict,
    keys: jax.Array,
    *,
    num_steps: int,
    batch_size: int,
    checkpoints: CheckpointDir | None,
    checkpoint_every: int,
    run_args: tuple = (),
    sample_fn=sample_batch,
    steps_per_call: int = 1000,
    stops=(),
    on_stop=None,
    progress: bool = True,
    desc: str = "training",
):
    """Train R runs (leading axis of `states`, `keys`) to `num_steps`, resuming from `checkpoints.latest()`.

    stops, on_stop: `on_stop(step, states)` is called at each of these steps (e.g. an evaluation), before the
    checkpoint of that step is written: a run killed during the callback resumes from an earlier checkpoint and
    calls it again. Steps at or before the step resumed from are not called again.
    Returns (states, loss curve [R, num_steps]). checkpoints=None trains without saving (the same numbers)."""
    check_positive_int("checkpoint_every", checkpoint_every)
    r = jax.tree_util.tree_leaves(states)[0].shape[0]
    losses_before = np.zeros((r, 0), np.float32)
    if checkpoints is not None and checkpoints.latest() is not None:
        start = checkpoints.latest()
        if start > num_steps:
            raise ValueError(f"{checkpoints.root} holds a checkpoint at step {start}, past num_steps={num_steps}")
        like = {"state": jax.device_get(states), "losses": np.zeros((r, start), np.float32)}
        restored = checkpoints.restore(start, like)
        states = jax.tree_util.tree_map(jnp.asarray, restored["state"])
        losses_before = restored["losses"]

    user_stops = {int(s) for s in stops}

    def stop(step, states, losses):
        if step in user_stops and on_stop is not None:
            on_stop(step, states)
        if checkpoints is not None:
            previous = checkpoints.steps()
            checkpoints.save(step, {"state": states, "losses": np.concatenate([losses_before, losses], axis=-1)})
            for k in previous:
                if k != step:
                    checkpoints.delete(k)

    periodic = set(range(checkpoint_every, num_steps, checkpoint_every)) if checkpoints is not None else set()
    states, losses = run_training(
        learner, states, data, keys, num_steps=num_steps, batch_size=batch_size, sample_fn=sample_fn,
        run_args=run_args, steps_per_call=steps_per_call, stops=sorted(periodic | user_stops), on_stop=stop,
        progress=progress, desc=desc,
    )  # fmt: skip
    return states, np.concatenate([losses_before, losses], axis=-1)
