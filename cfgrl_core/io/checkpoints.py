"""Checkpoints of trained pytrees with orbax-checkpoint; configs as JSON beside them; never pickle.

    ckpts = CheckpointDir(run_dir / "train")
    ckpts.save(25_000, {"state": state, "losses": losses})     # <root>/step_00025000/ (orbax, atomic)
    ckpts.latest()                                             # 25000, or None
    tree = ckpts.restore(25_000, like={"state": fresh_state, "losses": np.zeros((S, 25_000))})

    save_json(run_dir / "config.json", config)                 # atomic; load_json(...) reads it back

Why orbax: it is the JAX ecosystem's checkpoint library (Flax's own docs use it), it writes a checkpoint into a
temporary folder and renames it only when complete (a run killed while saving leaves the previous checkpoint
intact), it restores into the exact pytree structure of a target (flax.struct dataclasses, optax states) and it
stores arrays in a documented tensorstore format (no pickle, nothing executed on load). A step's folder exists
only once it is complete, so `steps()` lists exactly the restorable checkpoints.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import jax
import numpy as np

from cfgrl_core.checks import InputError
from cfgrl_core.io.atomic import atomic_write_json

_STEP_DIR = re.compile(r"^step_(\d{8,})$")


def save_json(path, obj) -> Path:
    """Write a JSON-able object atomically (`cfgrl_core.io.atomic.atomic_write_json`)."""
    return atomic_write_json(path, obj)


def load_json(path):
    """Read a JSON file; a missing or corrupt file is an error that names it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no JSON file at {path}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"{path} is not valid JSON ({e}); delete it to start again") from e


def _checkpointer():
    import orbax.checkpoint as ocp

    return ocp.StandardCheckpointer()


def save_pytree(path, tree) -> Path:
    """Save a pytree of arrays at `path` (a folder that must not exist yet), atomically, and wait for it."""
    path = Path(path).absolute()
    if path.exists():
        raise FileExistsError(f"checkpoint {path} exists already")
    path.parent.mkdir(parents=True, exist_ok=True)
    with _checkpointer() as ckptr:
        ckptr.save(path, jax.device_get(tree))
        ckptr.wait_until_finished()
    return path


def restore_pytree(path, like):
    """Restore the pytree saved at `path` into the structure, shapes and dtypes of `like` (host numpy arrays)."""
    import orbax.checkpoint as ocp

    path = Path(path).absolute()
    if not path.is_dir():
        raise FileNotFoundError(f"no checkpoint at {path}")
    target = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, like)
    with _checkpointer() as ckptr:
        tree = ckptr.restore(path, target)
    return jax.tree_util.tree_map(np.asarray, tree)


def save_weights_folder(folder, params, record: dict, *, record_name: str = "model.json") -> Path:
    """A trained model as one folder: `params` (orbax, at folder/params) and `record` (JSON, at folder/record_name).

    Written into folder.tmp and renamed into place once complete, so the folder appears whole or not at all; an
    existing folder of that name is replaced only then."""
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_pytree(tmp / "params", params)
    save_json(tmp / record_name, record)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


class CheckpointDir:
    """Checkpoints of one run, one folder per step: <root>/step_<step, 8 digits>/."""

    def __init__(self, root):
        self.root = Path(root).absolute()

    def path(self, step: int) -> Path:
        return self.root / f"step_{int(step):08d}"

    def steps(self) -> list[int]:
        """The steps with a complete checkpoint, ascending (orbax's temporary folders do not match)."""
        if not self.root.is_dir():
            return []
        return sorted(int(m.group(1)) for p in self.root.iterdir() if (m := _STEP_DIR.match(p.name)) and p.is_dir())

    def latest(self) -> int | None:
        steps = self.steps()
        return steps[-1] if steps else None

    def save(self, step: int, tree) -> Path:
        """Save `tree` as the checkpoint of `step` (replacing an existing one of the same step)."""
        path = self.path(step)
        if path.exists():
            shutil.rmtree(path)
        return save_pytree(path, tree)

    def restore(self, step: int, like):
        return restore_pytree(self.path(step), like)

    def delete(self, step: int) -> None:
        shutil.rmtree(self.path(step), ignore_errors=True)
