"""Local OGBench datasets (pointmaze navigate, cube-single play): the official loader reads them, they are seeded,
reused and written atomically.

Tiny sizes only (pointmaze: 2 train episodes x 60 rows, cube: 2 x 51, 1 val episode each): the whole file runs in
well under a minute on 2 cores.
"""

import json
import os
from pathlib import Path

import numpy as np
import ogbench
import pytest

from cfgrl_core.ogbench import datasets as od
from cfgrl_core.ogbench import maze

NAME = "pointmaze-medium-navigate-v0"
EPISODES, LENGTH = 2, 60
TINY = dict(num_episodes=EPISODES, episode_length=LENGTH, num_val_episodes=1, progress=False)


def _arrays(path) -> dict:
    with np.load(path) as f:
        return {k: f[k] for k in od.DATA_KEYS}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("ogbench")
    train_path, val_path = od.generate_dataset(NAME, seed=0, data_dir=data_dir, **TINY)
    return data_dir, train_path, val_path


def test_files_named_and_laid_out_like_ogbench(tiny):
    data_dir, train_path, val_path = tiny
    assert (train_path, val_path) == (data_dir / f"{NAME}.npz", data_dir / f"{NAME}-val.npz")
    for path, episodes in [(train_path, EPISODES), (val_path, 1)]:
        with np.load(path) as f:
            assert set(f.files) == {*od.DATA_KEYS, od.RECIPE_KEY}
            n = episodes * LENGTH
            for k in ["observations", "actions", "qpos", "qvel"]:
                assert f[k].dtype == np.float32 and f[k].shape == (n, 2), k
            terminals = f["terminals"]
            assert terminals.dtype == np.bool_ and terminals.shape == (n,)
            # Terminal exactly on the last row of each fixed-length episode (time truncation).
            np.testing.assert_array_equal(np.flatnonzero(terminals), np.arange(1, episodes + 1) * LENGTH - 1)
            # Pointmaze observations are the x-y position, i.e. qpos before the step.
            np.testing.assert_array_equal(f["observations"], f["qpos"])
            assert np.all(np.abs(f["actions"]) <= 1.0)
            # Within an episode the point moves by at most 0.2 * |a|_inf per axis and step (point.py).
            obs = f["observations"].reshape(episodes, LENGTH, 2)
            assert np.abs(np.diff(obs, axis=1)).max() <= 0.2 + 1e-4


def test_recipe_recorded(tiny):
    _, train_path, val_path = tiny
    train, val = od.read_recipe(train_path), od.read_recipe(val_path)
    assert train["env_name"] == NAME and train["split"] == "train" and val["split"] == "val"
    assert (train["num_episodes"], val["num_episodes"], val["first_episode"]) == (EPISODES, 1, EPISODES)
    assert train["episode_length"] == LENGTH and train["noise"] == 0.5 and train["seed"] == 0
    assert train["ogbench_version"] == "1.2.2" and train["generator_version"] == od.GENERATOR_VERSION


@pytest.mark.parametrize("compact", [False, True])
def test_official_loader_reads_it(tiny, compact):
    _, train_path, _ = tiny
    env, train, val = ogbench.make_env_and_datasets(NAME, dataset_path=str(train_path), compact_dataset=compact)
    raw = _arrays(train_path)
    n_rows, n_trans = EPISODES * LENGTH, EPISODES * (LENGTH - 1)
    if compact:
        assert set(train) == {"observations", "actions", "terminals", "valids"}
        assert train["observations"].shape == (n_rows, 2)
        assert train["valids"].sum() == n_trans
    else:
        assert set(train) == {"observations", "actions", "terminals", "next_observations"}
        assert train["observations"].shape == train["next_observations"].shape == (n_trans, 2)
        assert train["terminals"].sum() == EPISODES  # the loader moves the flag to each episode's last transition
        first = raw["observations"][:LENGTH]
        np.testing.assert_array_equal(train["observations"][: LENGTH - 1], first[:-1])
        np.testing.assert_array_equal(train["next_observations"][: LENGTH - 1], first[1:])
    assert all(v.dtype == np.float32 for v in train.values())
    assert val["observations"].shape[0] == (LENGTH if compact else LENGTH - 1)
    assert env.observation_space.shape == (2,)
    env.close()


def test_oraclerep_and_singletask_variants_load(tiny):
    _, train_path, _ = tiny
    env, train, _ = ogbench.make_env_and_datasets(NAME.replace("-v0", "-oraclerep-v0"), dataset_path=str(train_path))
    np.testing.assert_array_equal(train["oracle_reps"], train["observations"])
    env.close()
    env, train, _ = ogbench.make_env_and_datasets(
        NAME.replace("navigate-v0", "navigate-singletask-v0"), dataset_path=str(train_path)
    )
    assert {"rewards", "masks"} <= set(train)
    env.close()


def test_seeded_and_deterministic(tiny, tmp_path):
    _, train_path, _ = tiny
    first = _arrays(train_path)
    same, _ = od.generate_dataset(NAME, seed=0, data_dir=tmp_path / "same", **TINY)
    other, _ = od.generate_dataset(NAME, seed=1, data_dir=tmp_path / "other", **TINY)
    for k in od.DATA_KEYS:
        np.testing.assert_array_equal(_arrays(same)[k], first[k], err_msg=k)
    assert not np.array_equal(_arrays(other)["actions"], first["actions"])
    assert not np.array_equal(_arrays(other)["observations"], first["observations"])
    # Numpy's global RNG (which ogbench's maze uses internally) is left as it was.
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    od.generate_dataset(NAME, seed=0, data_dir=tmp_path / "rng", **TINY)
    assert np.random.rand() == expected


def test_workers_give_the_same_arrays(tiny, tmp_path):
    _, train_path, val_path = tiny
    tr, va = od.generate_dataset(NAME, seed=0, data_dir=tmp_path, num_workers=2, **TINY)
    for mine, ref in [(tr, train_path), (va, val_path)]:
        for k in od.DATA_KEYS:
            np.testing.assert_array_equal(_arrays(mine)[k], _arrays(ref)[k], err_msg=k)


def test_existing_files_are_reused_unless_overwrite(tmp_path):
    tr, va = od.generate_dataset(NAME, seed=0, data_dir=tmp_path, **TINY)
    before = (tr.read_bytes(), va.read_bytes())
    # A different recipe does not regenerate files that are already there...
    assert od.generate_dataset(NAME, seed=5, data_dir=tmp_path, **TINY) == (tr, va)
    assert (tr.read_bytes(), va.read_bytes()) == before
    # ...unless asked to.
    od.generate_dataset(NAME, seed=5, data_dir=tmp_path, overwrite=True, **TINY)
    assert od.read_recipe(tr)["seed"] == 5 and tr.read_bytes() != before[0]


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("disk full (simulated)")

    real_replace = os.replace
    calls = []

    def fail_second(src, dst):  # val is written first; fail while writing the train file
        calls.append(dst)
        if len(calls) == 2:
            fail()
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", fail_second)
    with pytest.raises(OSError, match="simulated"):
        od.generate_dataset(NAME, data_dir=tmp_path, **TINY)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{NAME}-val.npz"]  # no NAME.npz, no temp file
    monkeypatch.setattr(os, "replace", real_replace)
    # The next call sees no NAME.npz and regenerates both.
    tr, va = od.generate_dataset(NAME, data_dir=tmp_path, **TINY)
    assert tr.exists() and va.exists() and sorted(p.name for p in tmp_path.iterdir()) == sorted([tr.name, va.name])


def test_nan_in_generated_data_is_an_error_naming_the_key(tmp_path, monkeypatch):
    real = maze.rollout_episode

    def nan_actions(*args, **kwargs):
        ep = real(*args, **kwargs)
        ep["actions"][3] = np.nan
        return ep

    monkeypatch.setattr(maze, "rollout_episode", nan_actions)
    with pytest.raises(ValueError, match="'actions'"):
        od.generate_dataset(NAME, data_dir=tmp_path, **TINY)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(env_name="pointmaze-huge-navigate-v0"), ValueError, "unknown dataset name"),
        (dict(env_name="antmaze-medium-navigate-v0"), ValueError, "supported"),
        (dict(env_name="pointmaze-medium-navigate-oraclerep-v0"), ValueError, "loads the dataset file of"),
        (dict(env_name="cube-single-play-singletask-task2-v0"), ValueError, "'cube-single-play-v0': generate"),
        (dict(env_name="cube-double-play-v0"), ValueError, "unknown dataset name"),
        (dict(num_episodes=0), ValueError, "num_episodes must be positive"),
        (dict(num_episodes=2.5), TypeError, "num_episodes must be a positive int"),
        (dict(episode_length=-3), ValueError, "episode_length must be positive"),
        (dict(episode_length=1), ValueError, "episode_length must be >= 2"),
        (dict(num_val_episodes=0), ValueError, "num_val_episodes must be positive"),
        (dict(noise=-0.1), ValueError, "noise must be"),
        (dict(noise=float("nan")), ValueError, "noise must be"),
        (dict(num_workers=0), ValueError, "num_workers must be positive"),
        (dict(seed=-1), ValueError, "seed must be"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path, kwargs, error, match):
    args = dict(env_name=NAME, data_dir=tmp_path, progress=False, num_episodes=1, episode_length=10) | kwargs
    with pytest.raises(error, match=match):
        od.generate_dataset(args.pop("env_name"), **args)
    assert list(tmp_path.iterdir()) == []


def test_oracle_reaches_goals():
    env = maze.make_data_env(NAME, 300)
    cells = maze.maze_cells(env.unwrapped.maze_map)
    noiseless = maze.rollout_episode(env, cells, ep_seed=0, episode_length=300, noise=0.0)
    noisy = maze.rollout_episode(env, cells, ep_seed=1, episode_length=300, noise=0.5)
    env.close()
    assert noiseless["goals_reached"] >= 1 and noisy["goals_reached"] >= 1
    # The official datasets sample goals from vertex cells, and only free cells are ever start cells.
    all_cells, vertex_cells = cells
    assert set(vertex_cells) < set(all_cells)
    assert all(env.unwrapped.maze_map[i, j] == 0 for i, j in all_cells)


def test_official_defaults_and_default_folder(monkeypatch):
    assert od.OFFICIAL_RECIPES[NAME] == od.Recipe(num_episodes=1000, episode_length=1001, noise=0.5)
    assert od.OFFICIAL_RECIPES["pointmaze-giant-navigate-v0"] == od.Recipe(500, 2001, 0.5)
    monkeypatch.delenv(od.DATA_DIR_ENV, raising=False)  # the tests set it (conftest.py); users' default:
    assert od.default_data_dir() == od.ogbench_data_dir() == Path("~/.ogbench/data").expanduser()
    monkeypatch.setenv(od.DATA_DIR_ENV, "")  # empty = unset
    assert od.default_data_dir() == Path("~/.ogbench/data").expanduser()
    assert od.dataset_paths(NAME)[1].name == f"{NAME}-val.npz"


def test_the_tests_keep_datasets_in_a_session_folder(ogbench_data_dir, tmp_path_factory):
    """conftest.py points $CFGRL_OGBENCH_DATA at this session's temporary folder, for every test."""
    assert od.DATA_DIR_ENV == "CFGRL_OGBENCH_DATA"
    assert Path(os.environ[od.DATA_DIR_ENV]) == ogbench_data_dir == od.default_data_dir()
    assert ogbench_data_dir.is_relative_to(tmp_path_factory.getbasetemp())


def test_with_the_variable_set_nothing_is_written_to_the_default_folder(tmp_path, monkeypatch):
    from cfgrl_core.experiments import gcbc_cfgrl as gx

    home, data = tmp_path / "home", tmp_path / "data"
    monkeypatch.setenv("HOME", str(home))  # ~/.ogbench/data would be home/.ogbench/data
    monkeypatch.setenv(od.DATA_DIR_ENV, str(data))
    assert od.default_data_dir() == data and od.dataset_paths(NAME)[0] == data / f"{NAME}.npz"
    assert gx.dataset_folder(gx.PRESETS["fast"]) == data / "cfgrl-20-episodes"
    assert gx.dataset_folder(gx.PRESETS["cpu"]) == data
    tr, va = od.generate_dataset(NAME, seed=0, **TINY)
    assert (tr, va) == (data / f"{NAME}.npz", data / f"{NAME}-val.npz") and tr.is_file() and va.is_file()
    assert load_script().main([NAME, "--no-progress"]) == 0  # the script's default folder is the same one
    assert not home.exists()
    # Without the variable, the default is OGBench's folder under HOME again.
    monkeypatch.delenv(od.DATA_DIR_ENV)
    assert od.default_data_dir() == home / ".ogbench" / "data"


# --- files at a dataset path that are not datasets --------------------------------------------------------------


def _corrupt(kind: str, good: Path, target: Path) -> None:
    """Write a bad file of `kind` at `target`, made from the good dataset file `good` where it needs one."""
    data = good.read_bytes()
    if kind == "truncated":
        target.write_bytes(data[: len(data) // 2])
    elif kind == "empty":
        target.write_bytes(b"")
    elif kind == "text":
        target.write_text("not a dataset\n")
    elif kind == "pickle":
        import pickle

        target.write_bytes(pickle.dumps({"observations": [1, 2]}))
    elif kind == "npy":
        np.save(target.with_suffix(".tmp.npy"), np.zeros((3, 2)))
        target.with_suffix(".tmp.npy").rename(target)
    elif kind == "missing_keys":
        with np.load(good) as f:
            keep = {k: f[k] for k in f.files if k not in ("qpos", "terminals")}
        with target.open("wb") as out:
            np.savez(out, **keep)
    elif kind == "object_array":
        with np.load(good) as f:
            arrays = {k: f[k] for k in f.files}
        arrays["actions"] = np.array([None] * len(arrays["terminals"]), dtype=object)
        with target.open("wb") as out:
            np.savez(out, **arrays)
    elif kind == "ragged":
        with np.load(good) as f:
            arrays = {k: f[k] for k in f.files}
        arrays["actions"] = arrays["actions"][:-1]
        with target.open("wb") as out:
            np.savez(out, **arrays)
    elif kind == "bad_byte":  # the zip and every header intact, one byte of observations' compressed data flipped
        import zipfile

        with zipfile.ZipFile(good) as z:
            info = z.getinfo("observations.npy")
        local = data[info.header_offset : info.header_offset + 30]  # the member's local header: name, extra lengths
        name_len, extra_len = int.from_bytes(local[26:28], "little"), int.from_bytes(local[28:30], "little")
        start = info.header_offset + 30 + name_len + extra_len
        flipped = bytearray(data)
        flipped[start + info.compress_size - 8] ^= 0xFF
        target.write_bytes(bytes(flipped))
    else:
        raise AssertionError(kind)


BAD_KINDS = ["truncated", "empty", "text", "pickle", "npy", "missing_keys", "object_array", "ragged"]


@pytest.fixture
def copied(tiny, tmp_path):
    """A copy of the tiny pointmaze pair in tmp_path (train, val): tests may corrupt it."""
    _, train_path, val_path = tiny
    paths = od.dataset_paths(NAME, tmp_path)
    for src, dst in zip((train_path, val_path), paths, strict=True):
        dst.write_bytes(src.read_bytes())
    return paths


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_a_bad_file_is_a_clear_error_naming_it_and_left_alone(copied, kind):
    train_path, _ = copied
    _corrupt(kind, copied[1], train_path)
    before = train_path.read_bytes()
    for read in (od.check_dataset_file, od.read_recipe):
        with pytest.raises(od.DatasetFileError) as info:
            read(train_path)
        message = str(info.value)
        assert message.startswith(f"{train_path} is not a valid dataset file ("), message
        assert f"python scripts/generate_ogbench.py {NAME} --data-dir {train_path.parent} --overwrite" in message
        assert "or delete it" in message
        assert isinstance(info.value, ValueError)
    with pytest.raises(od.DatasetFileError, match=str(train_path)):
        od.load_with_ogbench(NAME, train_path)
    assert train_path.read_bytes() == before  # never deleted or overwritten


def test_bad_file_messages_say_what_is_wrong(copied):
    train_path, val_path = copied
    _corrupt("missing_keys", val_path, train_path)
    with pytest.raises(od.DatasetFileError, match=r"no \['terminals', 'qpos'\] array"):
        od.check_dataset_file(train_path)
    _corrupt("truncated", val_path, train_path)
    with pytest.raises(od.DatasetFileError, match="BadZipFile"):
        od.check_dataset_file(train_path)
    with pytest.raises(FileNotFoundError, match="no dataset file"):
        od.check_dataset_file(train_path.with_name("nope.npz"))


def test_good_files_pass_the_check_and_load(copied):
    train_path, val_path = copied
    assert od.check_dataset_file(train_path) == EPISODES * LENGTH and od.check_dataset_file(val_path) == LENGTH
    train, val = od.load_with_ogbench(NAME.replace("-v0", "-oraclerep-v0"), train_path)
    assert train["oracle_reps"].shape == (EPISODES * (LENGTH - 1), 2) and val["observations"].shape == (LENGTH - 1, 2)


@pytest.mark.parametrize("which", ["train", "val"])
def test_a_corrupt_byte_inside_an_array_is_traced_to_its_file(copied, monkeypatch, which):
    train_path, val_path = copied
    bad = train_path if which == "train" else val_path
    _corrupt("bad_byte", bad, bad)
    before = bad.read_bytes()
    with pytest.raises(od.DatasetFileError, match=f"{bad} is not a valid dataset file"):
        od.load_with_ogbench(NAME, train_path)
    # In a large file the header check does not reach the bad byte (it reads headers only; these tiny arrays fit in
    # one compressed chunk, so it does here): the full read of `verify_dataset_file` finds it.
    monkeypatch.setattr(od, "check_dataset_file", lambda path, regenerate=None: None)
    with pytest.raises(od.DatasetFileError, match=f"{bad} is not a valid dataset file .*Bad CRC-32") as info:
        od.load_with_ogbench(NAME, train_path, regenerate="CMD")
    assert "Regenerate it with `CMD`" in str(info.value)
    assert bad.read_bytes() == before


def test_a_bad_val_file_is_named(copied):
    train_path, val_path = copied
    _corrupt("text", train_path, val_path)
    with pytest.raises(od.DatasetFileError, match=f"{val_path} is not a valid dataset file"):
        od.load_with_ogbench(NAME, train_path)


def test_regenerate_command(monkeypatch, tmp_path):
    monkeypatch.delenv(od.DATA_DIR_ENV)
    assert od.regenerate_command(NAME) == f"python scripts/generate_ogbench.py {NAME} --overwrite"
    assert od.regenerate_command(NAME, tmp_path / "a b", num_episodes=20, seed=3) == (
        f"python scripts/generate_ogbench.py {NAME} --num-episodes 20 --seed 3 --data-dir '{tmp_path}/a b' --overwrite"
    )
    monkeypatch.setenv(od.DATA_DIR_ENV, str(tmp_path))  # a folder from the variable is spelled out
    assert od.regenerate_command(NAME).endswith(f"--data-dir {tmp_path} --overwrite")


# --- the script ---------------------------------------------------------------------------------------------------


def load_script():
    import importlib.util

    script = Path(__file__).resolve().parent.parent / "scripts" / "generate_ogbench.py"
    spec = importlib.util.spec_from_file_location("generate_ogbench", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPT_TINY = ["--num-episodes", "1", "--episode-length", "10", "--no-progress"]


@pytest.mark.parametrize(
    "args, match",
    [
        (["pointmaze-huge-navigate-v0"], "argument NAME: unknown dataset name 'pointmaze-huge-navigate-v0'"),
        ([NAME, "antmaze-medium-navigate-v0"], "argument NAME: unknown dataset name 'antmaze-medium-navigate-v0'"),
        (["pointmaze-medium-navigate-oraclerep-v0"], "argument NAME: .*loads the dataset file of"),
        ([NAME, "--num-episodes", "0"], "argument --num-episodes: expected a positive integer, got 0"),
        ([NAME, "--num-episodes", "-3"], "argument --num-episodes: expected a positive integer, got -3"),
        ([NAME, "--num-episodes", "2.5"], "argument --num-episodes: expected a positive integer, got '2.5'"),
        ([NAME, "--num-val-episodes", "0"], "argument --num-val-episodes: expected a positive integer, got 0"),
        ([NAME, "--episode-length", "1"], "argument --episode-length: expected an integer >= 2"),
        ([NAME, "--episode-length", "-5"], "argument --episode-length: expected an integer >= 2"),
        ([NAME, "--noise", "-0.1"], "argument --noise: expected a finite number >= 0, got -0.1"),
        ([NAME, "--noise", "nan"], "argument --noise: expected a finite number >= 0, got nan"),
        ([NAME, "--noise", "inf"], "argument --noise: expected a finite number >= 0, got inf"),
        ([NAME, "--noise", "lots"], "argument --noise: expected a finite number >= 0, got 'lots'"),
        ([NAME, "--seed", "-1"], "argument --seed: expected an integer >= 0, got -1"),
        ([NAME, "--workers", "0"], "argument --workers: expected a positive integer, got 0"),
        ([NAME, "--workers", "-2"], "argument --workers: expected a positive integer, got -2"),
        ([NAME, "--data-dir", "{file}"], "argument --data-dir: .* is a file, not a folder"),
    ],
)
def test_script_rejects_bad_arguments_before_any_work(tmp_path, monkeypatch, capsys, args, match):
    import re

    def no_work(*args, **kwargs):
        raise AssertionError("generate_dataset was called")

    monkeypatch.setattr(od, "generate_dataset", no_work)
    (tmp_path / "file").write_text("x")
    args = [a.replace("{file}", str(tmp_path / "file")) for a in args]
    if "--data-dir" not in args:
        args += ["--data-dir", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as info:
        load_script().main(args)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage:") and re.search(match, err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing written


def test_script_keeps_existing_files_unless_overwrite(tmp_path, capsys):
    script = load_script()
    assert script.main([NAME, *SCRIPT_TINY, "--data-dir", str(tmp_path)]) == 0
    tr, va = od.dataset_paths(NAME, tmp_path)
    before = (tr.read_bytes(), va.read_bytes())
    capsys.readouterr()
    assert script.main([NAME, *SCRIPT_TINY, "--seed", "4", "--data-dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "exist: kept as they are" in err and "--overwrite" in err
    assert out.splitlines()[:2] == [str(tr), str(va)] and json.loads(out.splitlines()[2])["seed"] == 0
    assert (tr.read_bytes(), va.read_bytes()) == before
    assert script.main([NAME, *SCRIPT_TINY, "--seed", "4", "--data-dir", str(tmp_path), "--overwrite"]) == 0
    assert od.read_recipe(tr)["seed"] == 4 and od.read_recipe(va)["seed"] == 4


@pytest.mark.parametrize("alone", ["train", "val"])
def test_script_refuses_one_file_of_the_pair_alone(tmp_path, capsys, alone):
    script = load_script()
    assert script.main([NAME, *SCRIPT_TINY, "--data-dir", str(tmp_path)]) == 0
    tr, va = od.dataset_paths(NAME, tmp_path)
    (va if alone == "train" else tr).unlink()
    kept = tr if alone == "train" else va
    before = kept.read_bytes()
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        script.main([NAME, *SCRIPT_TINY, "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert info.value.code == 2 and f"{kept} exists but" in err and "--overwrite" in err, err
    assert kept.read_bytes() == before and sorted(tmp_path.iterdir()) == [kept]
    assert script.main([NAME, *SCRIPT_TINY, "--data-dir", str(tmp_path), "--overwrite"]) == 0
    assert tr.is_file() and va.is_file()


def test_script_refuses_a_corrupt_existing_file_unless_overwrite(tmp_path, capsys):
    script = load_script()
    assert script.main([NAME, *SCRIPT_TINY, "--data-dir", str(tmp_path)]) == 0
    tr, va = od.dataset_paths(NAME, tmp_path)
    _corrupt("truncated", va, tr)
    before = tr.read_bytes()
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        script.main([NAME, *SCRIPT_TINY, "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    command = f"python scripts/generate_ogbench.py {NAME} --num-episodes 1 --episode-length 10 --data-dir {tmp_path}"
    assert info.value.code == 2 and f"{tr} is not a valid dataset file" in err and f"{command} --overwrite" in err
    assert tr.read_bytes() == before
    assert script.main([NAME, *SCRIPT_TINY, "--data-dir", str(tmp_path), "--overwrite"]) == 0
    assert od.check_dataset_file(tr) == 10


def test_script_runs_as_a_subprocess(tmp_path):
    import json
    import subprocess
    import sys

    script = Path(__file__).resolve().parent.parent / "scripts" / "generate_ogbench.py"
    cmd = [sys.executable, str(script), NAME, "--num-episodes", "1", "--episode-length", "20", "--no-progress"]
    out = subprocess.run([*cmd, "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=120, check=True)
    lines = out.stdout.strip().splitlines()
    assert lines[:2] == [str(tmp_path / f"{NAME}.npz"), str(tmp_path / f"{NAME}-val.npz")]
    assert json.loads(lines[2])["episode_length"] == 20


# --- cube-single play -------------------------------------------------------------------------------------------

CUBE = "cube-single-play-v0"
CUBE_LENGTH = 51
CUBE_TINY = dict(num_episodes=EPISODES, episode_length=CUBE_LENGTH, num_val_episodes=1, progress=False)
XYZ_CENTER, XYZ_SCALE = np.array([0.425, 0.0, 0.0]), 10.0  # cube_env's observation/oracle-rep normalisation


@pytest.fixture(scope="module")
def cube_tiny(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("ogbench_cube")
    return od.generate_dataset(CUBE, seed=0, data_dir=data_dir, **CUBE_TINY)


def test_cube_files_laid_out_like_ogbench(cube_tiny):
    train_path, val_path = cube_tiny
    for path, episodes in [(train_path, EPISODES), (val_path, 1)]:
        with np.load(path) as f:
            assert set(f.files) == {*od.DATA_KEYS, od.RECIPE_KEY}
            n = episodes * CUBE_LENGTH
            for k, dim in [("observations", 28), ("actions", 5), ("qpos", 21), ("qvel", 20)]:
                assert f[k].dtype == np.float32 and f[k].shape == (n, dim), k
            assert f["terminals"].dtype == np.bool_
            np.testing.assert_array_equal(np.flatnonzero(f["terminals"]), np.arange(1, episodes + 1) * CUBE_LENGTH - 1)
            assert np.all(np.abs(f["actions"]) <= 1.0) and np.abs(f["actions"]).max() > 0.1
            # Rows are aligned: the observation's cube position (entries 19:22) is qpos's cube x-y-z before the step.
            cube_xyz = f["qpos"][:, 14:17]
            np.testing.assert_allclose(f["observations"][:, 19:22], (cube_xyz - XYZ_CENTER) * XYZ_SCALE, atol=1e-4)
            # Each episode starts with the cube resting on the table inside OGBench's object sampling bounds.
            first = cube_xyz[::CUBE_LENGTH]
            assert np.all(np.abs(first[:, 2] - 0.02) < 0.005), first
            assert np.all((first[:, :2] >= [0.3, -0.3]) & (first[:, :2] <= [0.55, 0.3])), first
    train, val = od.read_recipe(train_path), od.read_recipe(val_path)
    assert train["env_name"] == CUBE and train["dataset_type"] == "play" and val["split"] == "val"
    assert (train["noise"], train["noise_smoothing"], train["episode_length"]) == (0.1, 0.5, CUBE_LENGTH)
    assert (train["num_episodes"], val["first_episode"]) == (EPISODES, EPISODES)
    assert {"tasks_completed", "goals_reached"} <= set(train)


def test_cube_official_loader_and_variants(cube_tiny):
    train_path, _ = cube_tiny
    with np.load(train_path) as f:
        raw = {k: f[k] for k in od.DATA_KEYS}
    keep = np.ones(EPISODES * CUBE_LENGTH, bool)
    keep[CUBE_LENGTH - 1 :: CUBE_LENGTH] = False  # the loader drops each episode's last row
    n_trans = EPISODES * (CUBE_LENGTH - 1)

    env, train, val = ogbench.make_env_and_datasets(CUBE, dataset_path=str(train_path))
    assert set(train) == {"observations", "actions", "terminals", "next_observations"}
    assert train["observations"].shape == train["next_observations"].shape == (n_trans, 28)
    assert train["actions"].shape == (n_trans, 5) and all(v.dtype == np.float32 for v in train.values())
    np.testing.assert_array_equal(train["observations"], raw["observations"][keep])
    assert val["observations"].shape == (CUBE_LENGTH - 1, 28)
    assert env.observation_space.shape == (28,) and env.action_space.shape == (5,)
    env.close()

    env, train, _ = ogbench.make_env_and_datasets(CUBE.replace("-v0", "-oraclerep-v0"), dataset_path=str(train_path))
    assert train["oracle_reps"].shape == (n_trans, 3)
    np.testing.assert_allclose(train["oracle_reps"], (raw["qpos"][keep, 14:17] - XYZ_CENTER) * XYZ_SCALE, atol=1e-5)
    env.close()

    env, train, _ = ogbench.make_env_and_datasets(CUBE.replace("-v0", "-singletask-v0"), dataset_path=str(train_path))
    assert train["rewards"].shape == train["masks"].shape == (n_trans,)
    env.close()


def test_cube_seeded_same_with_two_workers_and_global_rng_restored(cube_tiny, tmp_path):
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    tr, va = od.generate_dataset(CUBE, seed=0, data_dir=tmp_path / "w2", num_workers=2, **CUBE_TINY)
    assert np.random.rand() == expected  # the oracle draws from numpy's global RNG; its state is put back
    for mine, ref in zip([tr, va], cube_tiny, strict=True):
        for k in od.DATA_KEYS:
            np.testing.assert_array_equal(_arrays(mine)[k], _arrays(ref)[k], err_msg=k)
    other, _ = od.generate_dataset(CUBE, seed=1, data_dir=tmp_path / "s1", **CUBE_TINY)
    assert not np.array_equal(_arrays(other)["qpos"], _arrays(cube_tiny[0])["qpos"])


def test_cube_oracle_picks_and_places_the_cube():
    from cfgrl_core.ogbench import cube as ogbench_manip

    length = 250  # one pick-and-place plan takes ~90 steps
    env = ogbench_manip.make_play_env(CUBE, length)
    ep = ogbench_manip.rollout_play_episode(env, ep_seed=0, episode_length=length, noise=0.1, noise_smoothing=0.5)
    env.close()
    assert ep["tasks_completed"] >= 2 and ep["goals_reached"] >= 1
    cube_xyz = ep["qpos"][:, 14:17]
    assert np.linalg.norm(cube_xyz[:, :2] - cube_xyz[0, :2], axis=1).max() > 0.05  # carried across the table
    assert cube_xyz[:, 2].max() > 0.06  # lifted (a cube resting on the table has z = 0.02)
    assert np.all(np.isfinite(ep["actions"])) and np.abs(ep["actions"]).max() <= 1.0


def test_cube_official_recipe_and_script(tmp_path, capsys):
    import importlib.util
    import json

    assert od.OFFICIAL_RECIPES[CUBE] == od.Recipe(1000, 1001, 0.1, dataset_type="play", noise_smoothing=0.5)
    assert od.OFFICIAL_RECIPES[NAME].noise_smoothing is None and od.OFFICIAL_RECIPES[NAME].dataset_type == "navigate"
    script = Path(__file__).resolve().parent.parent / "scripts" / "generate_ogbench.py"
    spec = importlib.util.spec_from_file_location("generate_ogbench", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    args = [CUBE, "--num-episodes", "1", "--episode-length", "5", "--no-progress", "--data-dir", str(tmp_path)]
    assert module.main(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[:2] == [str(tmp_path / f"{CUBE}.npz"), str(tmp_path / f"{CUBE}-val.npz")]
    assert json.loads(lines[2])["dataset_type"] == "play"


def test_the_full_check_names_a_non_finite_value_and_its_row(copied):
    train_path, val_path = copied
    with np.load(train_path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["actions"][5, 1] = np.inf
    np.savez_compressed(train_path, **arrays)
    before = train_path.read_bytes()
    assert od.check_dataset_file(train_path) == EPISODES * LENGTH  # the header check cannot see it
    with pytest.raises(od.DatasetFileError, match=rf"{train_path} is not a valid dataset file \('actions' holds 1 NaN "
                       r"or inf value\(s\), the first in row 5\)"):  # fmt: skip
        od.verify_dataset_file(train_path)
    with pytest.raises(od.DatasetFileError, match=str(train_path)):
        od.load_with_ogbench(NAME, train_path)
    assert train_path.read_bytes() == before and od.verify_dataset_file(val_path) == LENGTH


def test_one_file_of_a_pair_alone(tiny, tmp_path):
    """A lone train file is refused and left as it is; the lone val file a generation killed between its two writes
    leaves is kept and only the train file made (the same bytes as an uninterrupted run); a lone val file of another
    recipe is refused."""
    _, train_path, val_path = tiny
    train, val = od.dataset_paths(NAME, tmp_path)
    train.write_bytes(train_path.read_bytes())
    with pytest.raises(od.DatasetFileError, match=f"{train} exists but its val twin {val} does not"):
        od.generate_dataset(NAME, seed=0, data_dir=tmp_path, **TINY)
    assert train.read_bytes() == train_path.read_bytes() and not val.exists()
    train.unlink()
    val.write_bytes(val_path.read_bytes())
    val_time = val.stat().st_mtime_ns
    assert od.generate_dataset(NAME, seed=0, data_dir=tmp_path, **TINY) == (train, val)
    assert val.stat().st_mtime_ns == val_time  # kept, not made again
    assert (train.read_bytes(), val.read_bytes()) == (train_path.read_bytes(), val_path.read_bytes())
    train.unlink()
    with pytest.raises(od.DatasetFileError, match=f"{val} exists without its train file .* another recipe"):
        od.generate_dataset(NAME, seed=1, data_dir=tmp_path, **TINY)
    assert val.read_bytes() == val_path.read_bytes() and not train.exists()
    od.generate_dataset(NAME, seed=1, data_dir=tmp_path, overwrite=True, **TINY)  # --overwrite makes both
    assert od.read_recipe(val)["seed"] == 1 and od.read_recipe(train)["seed"] == 1


def test_building_an_env_leaves_no_file_behind(tmp_path, monkeypatch):
    """OGBench's maze builder writes an XML file per env into the temporary folder: it goes with the env's scratch
    folder. MuJoCo's warnings become RuntimeWarnings instead of a MUJOCO_LOG.TXT in the current folder."""
    import tempfile

    import mujoco

    from cfgrl_core.ogbench import evaluation, scratch

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.chdir(tmp_path)
    env = evaluation.make_env("pointmaze-medium-navigate-v0")
    env.reset(seed=0)
    env.step(np.zeros(2, np.float32))
    assert list((tmp_path / "tmp").iterdir()) == []
    with scratch.env_files():  # the XML exists while the env is built; the folder goes after
        maze.make_data_env(NAME, 10).close()
    assert list((tmp_path / "tmp").iterdir()) == []
    model = env.unwrapped.model
    data = mujoco.MjData(model)
    data.qvel[:] = np.nan
    with pytest.warns(RuntimeWarning, match="MuJoCo: Nan, Inf or huge value in QVEL"):
        mujoco.mj_step(model, data)
    env.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]  # no MUJOCO_LOG.TXT
