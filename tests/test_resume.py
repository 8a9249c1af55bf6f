"""Saved, resumable training: orbax checkpoints round-trip, a run resumed from any checkpoint equals an uninterrupted
one, and the experiment runner killed part-way (SIGKILL, in a subprocess) and started again writes the same result."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cfgrl_core import train
from cfgrl_core.experiments import gcbc_cfgrl as gx
from cfgrl_core.experiments import protocol
from cfgrl_core.io.checkpoints import CheckpointDir
from cfgrl_core.networks import ModelConfig

REPO = Path(__file__).resolve().parent.parent
MEDIUM = "pointmaze-medium-navigate-v0"
VOLATILE = ("timings", "resumed_from_step")  # what may differ between a resumed and an uninterrupted run


def tiny_state():
    config = ModelConfig(action_dim=2, hidden_dims=(8,), num_labels=2)
    learner = train.CFGLearner(config, train.TrainConfig(batch_size=4))
    data = {"actions": jnp.ones((16, 2)), "conditions": jnp.zeros(16, jnp.int32)}
    states = train.create_runs(learner, jax.random.split(jax.random.PRNGKey(0), 3))
    return learner, states, data, jax.random.split(jax.random.PRNGKey(1), 3)


def test_checkpoint_round_trips_a_train_state_exactly(tmp_path):
    learner, states, data, keys = tiny_state()
    states, _ = train.run_training(learner, states, data, keys, num_steps=5, batch_size=4, progress=False)
    ckpts = CheckpointDir(tmp_path / "train")
    assert ckpts.latest() is None
    ckpts.save(5, {"state": states, "losses": np.arange(6.0).reshape(3, 2)})
    assert ckpts.steps() == [5] and (tmp_path / "train" / "step_00000005").is_dir()
    fresh = jax.device_get(learner.create(jax.random.PRNGKey(9)))
    like = {"state": jax.tree_util.tree_map(lambda x: np.stack([x] * 3), fresh), "losses": np.zeros((3, 2))}
    back = ckpts.restore(5, like)
    assert type(back["state"]) is type(states)  # the TrainState structure, optax state included
    for a, b in zip(jax.tree_util.tree_leaves(back["state"]), jax.tree_util.tree_leaves(states), strict=True):
        np.testing.assert_array_equal(a, np.asarray(b))
    np.testing.assert_array_equal(back["losses"], np.arange(6.0).reshape(3, 2))


def test_training_resumed_from_a_checkpoint_equals_an_uninterrupted_run(tmp_path):
    learner, states, data, keys = tiny_state()
    whole, whole_losses = train.run_training(learner, states, data, keys, num_steps=30, batch_size=4, progress=False)
    saved = {}
    train.run_training(
        learner, states, data, keys, num_steps=30, batch_size=4, stops=[12], progress=False,
        on_stop=lambda step, s, losses: saved.update(step=step, state=s, losses=losses),
    )  # fmt: skip
    assert saved["step"] == 12 and saved["losses"].shape == (3, 12)
    rest, rest_losses = train.run_training(learner, saved["state"], data, keys, num_steps=30, batch_size=4,
                                           steps_per_call=7, progress=False)  # fmt: skip
    np.testing.assert_array_equal(np.concatenate([saved["losses"], rest_losses], axis=1), whole_losses)
    for a, b in zip(jax.tree_util.tree_leaves(rest), jax.tree_util.tree_leaves(whole), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_chunk_bounds():
    assert train.chunk_bounds(0, 2500, 1000, [1250]) == [1000, 1250, 2000, 2500]
    assert train.chunk_bounds(1250, 2500, 1000, [1250]) == [2000, 2500]
    assert train.chunk_bounds(2500, 2500, 1000) == []


TINY = dataclasses.replace(
    gx.PRESETS["fast"], name="tiny", num_episodes=6, num_steps=40, steps_per_call=20, max_steps=8, num_val_tasks=2,
    hidden_dims=(16,), batch_size=16, checkpoint_every=10,
)  # fmt: skip


def comparable(result):
    return {k: v for k, v in result.items() if k not in VOLATILE}


def test_run_folder_resumes_training_and_evaluation_in_process(tmp_path, monkeypatch):
    whole = gx.run_and_save(MEDIUM, TINY, tmp_path / "a" / f"{MEDIUM}.json", seed=1, data_dir=tmp_path / "data",
                            progress=False, log=lambda _: None)  # fmt: skip
    weights = tmp_path / "a" / MEDIUM / "weights"
    assert weights.is_dir() and not (tmp_path / "a" / MEDIUM / "train").exists()  # work files cleaned up
    # Stop a second run after its step-20 checkpoint (as a kill would), then run it again.
    real = CheckpointDir.save

    def save_then_die(self, step, tree):
        real(self, step, tree)
        if step == 20:
            raise KeyboardInterrupt("killed after the step-20 checkpoint")

    monkeypatch.setattr(CheckpointDir, "save", save_then_die)
    out = tmp_path / "b" / f"{MEDIUM}.json"
    with pytest.raises(KeyboardInterrupt):
        gx.run_and_save(MEDIUM, TINY, out, seed=1, data_dir=tmp_path / "data", progress=False, log=lambda _: None)
    monkeypatch.setattr(CheckpointDir, "save", real)
    assert CheckpointDir(tmp_path / "b" / MEDIUM / "train").steps() == [10, 20]  # 10 is a checkpoint step: kept
    resumed = gx.run_and_save(MEDIUM, TINY, out, seed=1, data_dir=tmp_path / "data", progress=False,
                              log=lambda _: None)  # fmt: skip
    assert resumed.result["resumed_from_step"] == 20
    assert comparable(resumed.result) == comparable(whole.result)
    loaded = gx.load_run(out)
    assert loaded.result == json.loads(json.dumps(resumed.result))
    for a, b in zip(jax.tree_util.tree_leaves(loaded.params), jax.tree_util.tree_leaves(whole.params), strict=True):
        np.testing.assert_array_equal(a, b)
    # reuse=True (what `make app` asks for) loads the finished run without training or evaluating.
    monkeypatch.setattr(gx, "run_experiment", lambda *a, **k: pytest.fail("reuse must not train"))
    reused = gx.obtain_run(MEDIUM, TINY, out, reuse=True, seed=1, data_dir=tmp_path / "data", log=lambda _: None)
    assert reused.result == loaded.result
    # A run folder of another configuration is never resumed.
    other = dataclasses.replace(TINY, learning_rate=1e-3)
    protocol.RunFolder(tmp_path / "c", gx.run_config(MEDIUM, TINY, 1, resumed.model_config, "x"))
    with pytest.raises(ValueError, match="another configuration.*preset"):
        protocol.RunFolder(tmp_path / "c", gx.run_config(MEDIUM, other, 1, resumed.model_config, "x"))


def runner(out: Path, data: Path) -> list[str]:
    return [
        sys.executable, str(REPO / "scripts" / "run_gcbc_cfgrl.py"), "--preset", "fast", "--num-steps", "3000",
        "--env", MEDIUM, "--out", str(out), "--data-dir", str(data), "--no-progress",
    ]  # fmt: skip


@pytest.mark.slow
def test_runner_killed_part_way_resumes_to_the_same_result(tmp_path):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    data = tmp_path / "data"
    subprocess.run(runner(tmp_path / "whole", data), check=True, env=env, capture_output=True, timeout=600)
    whole = json.loads((tmp_path / "whole" / f"{MEDIUM}.json").read_text())

    out = tmp_path / "killed"
    train_dir = CheckpointDir(out / MEDIUM / "train")
    proc = subprocess.Popen(runner(out, data), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not train_dir.steps() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    killed_at = train_dir.steps()
    assert killed_at and killed_at[-1] < 3000, f"the run was not killed part-way (checkpoints: {killed_at})"
    assert not (out / f"{MEDIUM}.json").exists()

    done = subprocess.run(runner(out, data), check=True, env=env, capture_output=True, text=True, timeout=600)
    resumed = json.loads((out / f"{MEDIUM}.json").read_text())
    assert resumed["resumed_from_step"] is not None and resumed["resumed_from_step"] >= killed_at[-1]
    assert comparable(resumed) == comparable(whole), done.stdout[-2000:]
    # And a finished result is not overwritten without --overwrite.
    again = subprocess.run(runner(out, data), check=True, env=env, capture_output=True, text=True, timeout=600)
    assert "skipped" in again.stdout and json.loads((out / f"{MEDIUM}.json").read_text()) == resumed
