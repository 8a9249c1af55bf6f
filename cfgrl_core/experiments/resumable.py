"""Training that survives being killed: checkpoints saved as it goes, the latest resumed, chosen steps kept.

    states, losses = train_resumable(learner, states, data, keys, num_steps=20_000, batch_size=256,
                                     checkpoints=folder.train, checkpoint_every=5_000, keep=(5_000, 10_000))

`train_resumable` is the core loop (`cfgrl_core.train.run_training`) with a checkpoint of the runs' states and loss
curve every `checkpoint_every` steps and at every requested stop; it starts from the latest checkpoint there.
Because the key of step k is fold_in(key, k) (`cfgrl_core.train.scan_updates`), a run resumed at step k gives
exactly the numbers of an uninterrupted one. Only the latest checkpoint is kept, and the steps in `keep` (e.g. the
steps whose parameters are evaluated later, `restore_state`).

`Checkpoints` is the policy underneath (resume from the latest, save, delete what is no longer needed), for a loop
that is more than one training, such as PGD's outer loop (`cfgrl_core.experiments.pgd_agents`: train, regenerate
the data, evaluate, checkpoint everything, repeat).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from cfgrl_core.checks import check_positive_int
from cfgrl_core.io.checkpoints import CheckpointDir
from cfgrl_core.train import Learner, run_training, sample_batch


def checkpoint_steps(preset) -> list[int]:
    """The steps at which a preset's runs are evaluated and their parameters kept (`preset.checkpoint_fractions` of
    `preset.num_steps`), e.g. [25000, 50000, 100000]. The last one is num_steps."""
    if any(not 0 < f <= 1 for f in preset.checkpoint_fractions):
        raise ValueError(f"checkpoint_fractions must lie in (0, 1], got {preset.checkpoint_fractions}")
    return sorted({max(1, round(f * preset.num_steps)) for f in preset.checkpoint_fractions} | {preset.num_steps})


class Checkpoints:
    """A CheckpointDir (or None: nothing is saved) holding the latest checkpoint and the steps in `keep`."""

    def __init__(self, checkpoint_dir: CheckpointDir | None, keep=()):
        self.dir = checkpoint_dir
        self.keep = {int(k) for k in keep}

    def latest(self) -> int | None:
        return None if self.dir is None else self.dir.latest()

    def restore(self, step: int, like):
        """The tree saved at `step`, in the structure, shapes and dtypes of `like` (host arrays)."""
        return self.dir.restore(step, like)

    def save(self, step: int, tree) -> None:
        """Save `tree` as the checkpoint of `step`, then delete every other step except those in `keep`."""
        if self.dir is None:
            return
        self.dir.save(step, tree)
        for k in self.dir.steps():
            if k != step and k not in self.keep:
                self.dir.delete(k)


def restore_state(checkpoint_dir: CheckpointDir, step: int, like_states):
    """The runs' states saved at `step` by `train_resumable` (like_states: any states of the same runs)."""
    r = jax.tree_util.tree_leaves(like_states)[0].shape[0]
    like = {"state": jax.device_get(like_states), "losses": np.zeros((r, step), np.float32)}
    return checkpoint_dir.restore(step, like)["state"]


def train_resumable(
    learner: Learner,
    states,
    data: dict,
    keys: jax.Array,
    *,
    num_steps: int,
    batch_size: int,
    checkpoints: CheckpointDir | None,
    checkpoint_every: int,
    keep=(),
    run_args: tuple = (),
    sample_fn=sample_batch,
    steps_per_call: int = 1000,
    stops=(),
    on_stop=None,
    progress: bool = True,
    desc: str = "training",
    devices=None,
):
    """Train R runs (leading axis of `states`, `keys`) to `num_steps`, resuming from the latest checkpoint.

    Checkpoints (with checkpoints=None nothing is saved, and the numbers are the same) are written every
    `checkpoint_every` steps and at every step of `stops` and `keep`; the latest one and those of `keep` stay.
    stops, on_stop: `on_stop(step, states)` is called at each of these steps (e.g. an evaluation), before the
    checkpoint of that step is written: a run killed during the callback resumes from an earlier checkpoint and
    calls it again. Steps at or before the step resumed from are not called again.
    devices: shard the runs over these devices (`cfgrl_core.train.run_training`).
    Returns (states, loss curve [R, num_steps])."""
    check_positive_int("checkpoint_every", checkpoint_every)
    saver = Checkpoints(checkpoints, keep)
    r = jax.tree_util.tree_leaves(states)[0].shape[0]
    losses_before = np.zeros((r, 0), np.float32)
    start = saver.latest()
    if start is not None:
        if start > num_steps:
            raise ValueError(f"{checkpoints.root} holds a checkpoint at step {start}, past num_steps={num_steps}")
        restored = saver.restore(start, {"state": jax.device_get(states), "losses": np.zeros((r, start), np.float32)})
        states = jax.tree_util.tree_map(jnp.asarray, restored["state"])
        losses_before = restored["losses"]

    user_stops = {int(s) for s in stops}

    def stop(step, states, losses):
        if step in user_stops and on_stop is not None:
            on_stop(step, states)
        saver.save(step, {"state": states, "losses": np.concatenate([losses_before, losses], axis=-1)})

    saved = set(range(checkpoint_every, num_steps, checkpoint_every)) | saver.keep if checkpoints is not None else set()
    states, losses = run_training(
        learner, states, data, keys, num_steps=num_steps, batch_size=batch_size, sample_fn=sample_fn,
        run_args=run_args, steps_per_call=steps_per_call, stops=sorted(saved | user_stops), on_stop=stop,
        progress=progress, desc=desc, devices=devices,
    )  # fmt: skip
    return states, np.concatenate([losses_before, losses], axis=-1)
