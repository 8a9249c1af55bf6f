"""Our generated OGBench datasets are the same data on every machine, though not always the same bytes.

The committed runs name their training files by sha256, and medium, teleport and giant each have two such hashes
among the committed results (files written on different machines from the same recipe). The committed samples of
notebook 05's runs hold rows of those very files (observations and actions at recorded indices; both medium files
have one), so regenerating a few of their episodes here and comparing the rows bit for bit checks that this
machine's generator makes the data those runs trained on, whatever its file's bytes. Giant has no committed sample
and is not checked. `npz_arrays_sha256`, recorded beside each result's file hash since, names the data rather than
the bytes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cfgrl_core.experiments import offline_rl
from cfgrl_core.io.provenance import REPO_ROOT, file_sha256, npz_arrays_sha256
from cfgrl_core.ogbench import datasets

# (task, preset) of each committed notebook-05 run with a sample: large, teleport (file bc3a4c9d), and medium from
# both of its files (cf197621: the mechanism run; 6ff1fff2: cpu-earlier, the file of the bfloat16 check's arms)
COMMITTED = [(offline_rl.LARGE, "cpu"), (offline_rl.TELEPORT, "cpu"), (offline_rl.MEDIUM, "mechanism"),
             (offline_rl.MEDIUM3, "cpu-earlier")]  # fmt: skip


def _committed(task: str, preset: str) -> tuple[dict, dict]:
    path = REPO_ROOT / "results" / "offline_rl" / preset / f"{task}.json"
    with np.load(path.with_suffix("") / "sample.npz") as sample:
        return json.loads(path.read_text()), {k: sample[k] for k in sample.files}


def _episodes_to_check(episode_of_row: np.ndarray) -> list[int]:
    """The first and last episodes with sampled rows and the one with the most (ties to the earliest)."""
    episodes, counts = np.unique(episode_of_row, return_counts=True)
    return sorted({int(episodes[0]), int(episodes[-1]), int(episodes[np.argmax(counts)])})


@pytest.mark.parametrize("task, preset", COMMITTED)
def test_the_committed_runs_data_regenerates_bit_for_bit(task, preset):
    result, sample = _committed(task, preset)
    env_name, _ = offline_rl.parse_task(task)
    recipe = result["dataset_recipe"]
    official = datasets.OFFICIAL_RECIPES[env_name]
    # the recipe the run recorded is the official one, so episode e is rows e*L .. e*L + L-1 of the file and its
    # L-1 transitions are rows e*(L-1) .. of the single-task data the sample indexes
    assert (recipe["num_episodes"], recipe["episode_length"], recipe["noise"], recipe["first_episode"]) == (
        official.num_episodes, official.episode_length, official.noise, 0)  # fmt: skip
    transitions = official.episode_length - 1
    episode_of_row = sample["index"] // transitions
    checked = _episodes_to_check(episode_of_row)
    assert len(checked) >= 2 and checked[-1] >= official.num_episodes // 2  # early and late episodes alike
    sample_episode, close = datasets.make_sampler(env_name, official.episode_length, official.noise)
    try:
        for e in checked:
            episode = sample_episode(datasets.episode_seed(recipe["seed"], e))
            rows = episode_of_row == e
            steps = sample["index"][rows] % transitions
            for key in ("observations", "actions"):
                regenerated = np.asarray(episode[key][steps], np.float32)
                assert np.array_equal(regenerated, sample[key][rows]), (
                    f"{env_name} episode {e}: {key} differ from the committed run's data (file "
                    f"{result['dataset_sha256'][:12]}) by up to {np.max(np.abs(regenerated - sample[key][rows])):.3g}"
                )
    finally:
        close()


def test_the_arrays_hash_names_the_data_not_the_bytes(tmp_path: Path):
    rng = np.random.default_rng(0)
    arrays = dict(observations=rng.normal(size=(50, 2)).astype(np.float32), terminals=rng.random(50) < 0.1,
                  recipe=np.array(json.dumps({"seed": 0})))  # fmt: skip
    np.savez(tmp_path / "plain.npz", **arrays)
    np.savez_compressed(tmp_path / "compressed.npz", **dict(reversed(list(arrays.items()))))  # other order too
    assert file_sha256(tmp_path / "plain.npz") != file_sha256(tmp_path / "compressed.npz")
    assert npz_arrays_sha256(tmp_path / "plain.npz") == npz_arrays_sha256(tmp_path / "compressed.npz")
    same = npz_arrays_sha256(tmp_path / "plain.npz")
    for name, changed in [
        ("one value", dict(arrays, observations=np.where(np.arange(50)[:, None] == 7, 1.0, arrays["observations"]))),
        ("a dtype", dict(arrays, observations=arrays["observations"].astype(np.float64))),
        ("a shape", dict(arrays, observations=arrays["observations"].reshape(100))),
        ("a name", {("obs" if k == "observations" else k): v for k, v in arrays.items()}),
        ("0-d against one element", dict(arrays, recipe=arrays["recipe"].reshape(1))),
        ("a structured dtype", dict(arrays, terminals=np.zeros(2, [("a", "<f4"), ("b", "<f8")]))),
    ]:
        np.savez(tmp_path / "changed.npz", **changed)
        assert npz_arrays_sha256(tmp_path / "changed.npz") != same, name
    fields = dict(arrays, terminals=np.zeros(2, [("a", "<f4"), ("b", "<f8")]))
    np.savez(tmp_path / "a.npz", **fields)
    np.savez(tmp_path / "c.npz", **dict(fields, terminals=np.zeros(2, [("c", "<f4"), ("b", "<f8")])))
    assert npz_arrays_sha256(tmp_path / "a.npz") != npz_arrays_sha256(tmp_path / "c.npz")  # same bytes, other fields


def test_pickled_members_are_refused(tmp_path: Path):
    np.savez(tmp_path / "objects.npz", objects=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="pickle"):
        npz_arrays_sha256(tmp_path / "objects.npz")
