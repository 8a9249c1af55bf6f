"""OGBench datasets generated locally, in OGBench's own file format: pointmaze 'navigate' and cube-single 'play'.

The official datasets cannot be downloaded on our machines, so we regenerate them with the scripted oracles that
OGBench itself used (`data_gen_scripts/generate_locomaze.py` and `generate_manipspace.py`, recipes in
`data_gen_scripts/commands.sh`, sizes in OFFICIAL_RECIPES).

One table of recipes (OFFICIAL_RECIPES) covers both domains; a recipe's `dataset_type` picks the episode sampler
(ROLLOUTS), and this module owns the seeding, the workers and the file writer:

  'navigate'  pointmaze-{medium,large,giant,teleport}-navigate-v0 (`cfgrl_core.ogbench.maze`): the maze's BFS
              oracle subgoal one cell ahead, unit direction plus Gaussian noise; a new vertex goal whenever the goal
              is reached.
  'play'      cube-single-play-v0 (`cfgrl_core.ogbench.cube`): OGBench's CubePlanOracle picks the cube up and
              places it at a random target along a noisy, time-smoothed keyframe plan; when a plan ends a new target
              is drawn.

    generate_dataset("pointmaze-medium-navigate-v0", data_dir=d)
      -> d/pointmaze-medium-navigate-v0.npz       num_episodes train episodes
      -> d/pointmaze-medium-navigate-v0-val.npz   num_episodes // 10 further episodes

File layout (what `ogbench.load_dataset` reads), N = episodes * episode_length rows, episodes concatenated:
    observations  [N, ob]  float32   s_t: x-y position (pointmaze, ob = 2); arm, gripper and cube state (cube, 28)
    actions       [N, act] float32   a_t taken in s_t (pointmaze: 2; cube: 5, relative effector x-y-z, yaw, grip)
    terminals     [N]      bool      1 on the last row of each episode (time truncation, not goal success)
    qpos, qvel    [N, .]   float32   simulator state before the step (info['prev_qpos'], info['prev_qvel']);
                                     pointmaze 2 and 2, cube 21 and 20 (qpos[:, 14:17] is the cube's x-y-z)
plus one extra key the loader ignores: `generator_recipe`, a 0-d string holding the recipe as JSON
(see `read_recipe`). The loader drops each episode's last row to form `next_observations`.

Every episode e draws all its randomness from its own seed, derived from (seed, e), so the arrays depend on
`seed` only, not on `num_workers`. Files are written atomically: a killed run leaves no partial file.

Where the files live: `data_dir` when a caller names one; otherwise $CFGRL_OGBENCH_DATA (DATA_DIR_ENV) when it is
set and not empty, else OGBench's own ~/.ogbench/data (`default_data_dir`, the one place that reads the variable).
The tests point the variable at a temporary folder, so they never write into ~/.ogbench/data.

Getting a dataset for training: `generate_and_load` generates it where it is missing (a smaller recipe in its own
`size_folder`) and loads it with OGBench's loader under the name the experiment needs (-oraclerep for goals,
-singletask for OGBench's single-task relabelling).

Reading a file back: `check_dataset_file` (a cheap check of the layout, without loading the arrays),
`verify_dataset_file` (that, plus every array read in full: each byte's CRC, no NaN or inf) and `load_with_ogbench`
(OGBench's own loader, after that full check) turn a file that is not a dataset (truncated, corrupt, not an npz,
keys missing, non-finite values) into a DatasetFileError that names it and gives the command that regenerates it
(`regenerate_command`). Nothing here deletes or overwrites such a file; only `overwrite=True` (the script's
--overwrite) writes over existing files. One file of a pair alone is refused too, except the val file a generation
killed between its two writes leaves (same recipe): that one is kept and only the train file is made.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import re
import shlex
import zipfile
import zlib
from pathlib import Path

import numpy as np

from cfgrl_core.checks import InputError, check_finite, check_nonnegative_int, check_positive_int
from cfgrl_core.io.atomic import atomic_write_bytes
from cfgrl_core.ogbench import cube, maze, scratch
from cfgrl_core.ogbench.episodes import DATA_KEYS
from cfgrl_core.progress import progress_bar

GENERATOR_VERSION = 1  # bump whenever a change would alter the generated arrays


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Official OGBench sizes and oracle settings for one dataset (commands.sh)."""

    num_episodes: int  # training episodes; the val file holds num_episodes // 10 more
    episode_length: int  # rows per episode (= max_episode_steps); episode_length - 1 transitions
    noise: float  # navigate: std of the Gaussian noise added to the unit direction; play: the plan oracle's noise
    dataset_type: str = "navigate"  # 'navigate' (pointmaze BFS oracle) or 'play' (manipulation plan oracle)
    noise_smoothing: float | None = None  # play only: width (in steps) of the Gaussian filter on the plan noise


# From OGBench's data_gen_scripts/commands.sh (generate_locomaze.py --dataset_type=navigate ... --noise=0.5;
# generate_manipspace.py --dataset_type=play with its default --noise=0.1 --noise_smoothing=0.5).
OFFICIAL_RECIPES = {
    "pointmaze-medium-navigate-v0": Recipe(num_episodes=1000, episode_length=1001, noise=0.5),
    "pointmaze-large-navigate-v0": Recipe(num_episodes=1000, episode_length=1001, noise=0.5),
    "pointmaze-giant-navigate-v0": Recipe(num_episodes=500, episode_length=2001, noise=0.5),
    "pointmaze-teleport-navigate-v0": Recipe(num_episodes=1000, episode_length=1001, noise=0.5),
    "cube-single-play-v0": Recipe(
        num_episodes=1000, episode_length=1001, noise=0.1, dataset_type="play", noise_smoothing=0.5
    ),
}

# dataset_type -> make_sampler(env_name, episode_length, noise, noise_smoothing) -> (sample(ep_seed), close)
ROLLOUTS = {"navigate": maze.make_navigate_sampler, "play": cube.make_play_sampler}
RECIPE_KEY = "generator_recipe"


DATA_DIR_ENV = "CFGRL_OGBENCH_DATA"  # overrides the default dataset folder (tests: a temporary folder)


def ogbench_data_dir() -> Path:
    """OGBench's own default dataset folder (ogbench.utils.DEFAULT_DATASET_DIR, i.e. ~/.ogbench/data)."""
    from ogbench.utils import DEFAULT_DATASET_DIR

    return Path(os.path.expanduser(DEFAULT_DATASET_DIR))


def default_data_dir() -> Path:
    """The dataset folder used when no `data_dir` is given: $CFGRL_OGBENCH_DATA if set (and not empty), else
    OGBench's ~/.ogbench/data (`ogbench_data_dir`). This is the only place that reads the variable."""
    override = os.environ.get(DATA_DIR_ENV)
    return Path(override).expanduser() if override else ogbench_data_dir()


def dataset_paths(env_name: str, data_dir=None) -> tuple[Path, Path]:
    """(NAME.npz, NAME-val.npz) in `data_dir`, the pair `make_env_and_datasets(dataset_path=...)` expects."""
    data_dir = default_data_dir() if data_dir is None else Path(data_dir).expanduser()
    return data_dir / f"{env_name}.npz", data_dir / f"{env_name}-val.npz"


def check_env_name(env_name) -> str:
    """`env_name` if it is a dataset this module generates (OFFICIAL_RECIPES), else a ValueError listing them."""
    if not isinstance(env_name, str) or env_name not in OFFICIAL_RECIPES:
        hint = ""
        if isinstance(env_name, str):
            base = re.sub(r"-(oraclerep|singletask(-task\d+)?)(?=-v\d+$)", "", env_name)
            if base != env_name and base in OFFICIAL_RECIPES:
                hint = f" ({env_name!r} loads the dataset file of {base!r}: generate that one)"
        raise ValueError(f"unknown dataset name {env_name!r}{hint}; supported: {sorted(OFFICIAL_RECIPES)}")
    return env_name


def _check_noise(noise) -> float:
    if isinstance(noise, bool) or not isinstance(noise, int | float | np.integer | np.floating):
        raise TypeError(f"noise must be a non-negative number, got {noise!r}")
    noise = float(noise)
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite number >= 0, got {noise}")
    return noise


def episode_seed(seed: int, episode: int) -> int:
    """The 32-bit seed of episode `episode`, derived from (seed, episode) so episodes are independent."""
    return int(np.random.SeedSequence([seed, episode]).generate_state(1)[0])


def make_sampler(env_name: str, episode_length: int, noise: float):
    """(sample, close) for `env_name`: sample(ep_seed) -> one episode, close() releases its env.

    An episode is a dict of the DATA_KEYS rows plus int statistics (e.g. `goals_reached`) that the writer sums.
    The recipe's dataset_type picks the sampler (ROLLOUTS); one env serves every episode, since each episode
    reseeds it.
    """
    recipe = OFFICIAL_RECIPES[env_name]
    return ROLLOUTS[recipe.dataset_type](env_name, episode_length, noise, recipe.noise_smoothing)


def _concat(episodes: list[dict]) -> dict:
    """Episodes concatenated in order; the int statistics are summed, and `num_episodes` counts them."""
    out = {k: np.concatenate([ep[k] for ep in episodes]) for k in DATA_KEYS}
    for k in episodes[0].keys() - {*DATA_KEYS, "num_episodes"}:
        out[k] = int(sum(ep[k] for ep in episodes))
    out["num_episodes"] = sum(ep.get("num_episodes", 1) for ep in episodes)
    return out


# A worker process's episode sampler, built once per spawned worker by _init_worker (env builds take seconds). It
# exists only inside the pool's worker processes, never in the process that calls generate_dataset.
_worker_sample = None


def _init_worker(env_name: str, episode_length: int, noise: float) -> None:
    global _worker_sample
    _worker_sample, _ = make_sampler(env_name, episode_length, noise)  # the env lives as long as the process


def _rollout_chunk(job: tuple[int, int, int]) -> dict:
    """Worker: episodes [start, stop) of a dataset, concatenated in order."""
    seed, start, stop = job
    return _concat([_worker_sample(episode_seed(seed, e)) for e in range(start, stop)])


def _chunks(start: int, stop: int, size: int) -> list[tuple[int, int]]:
    return [(a, min(a + size, stop)) for a in range(start, stop, size)]


def _collect(env_name, seed, start, stop, episode_length, noise, num_workers, progress, desc) -> dict:
    """Episodes [start, stop) concatenated in episode order (statistics summed), with tqdm progress over episodes."""
    bar = progress_bar(total=stop - start, desc=desc, unit="ep", disable=not progress)
    results = []
    if num_workers == 1:
        sample, close = make_sampler(env_name, episode_length, noise)
        try:
            for e in range(start, stop):
                results.append(sample(episode_seed(seed, e)))
                bar.update(1)
        finally:
            close()
    else:
        import multiprocessing

        chunk_size = max(1, min(10, (stop - start) // (4 * num_workers)))
        jobs = [(seed, a, b) for a, b in _chunks(start, stop, chunk_size)]
        # spawn, not fork: the parent may hold threads (JAX, BLAS) that fork would copy in a broken state.
        context = multiprocessing.get_context("spawn")
        with context.Pool(num_workers, _init_worker, (env_name, episode_length, noise)) as pool:
            for chunk in pool.imap(_rollout_chunk, jobs):  # imap keeps the job order: fixed concatenation order
                results.append(chunk)
                bar.update(chunk["num_episodes"])
    bar.close()
    data = _concat(results)
    del data["num_episodes"]
    return data


def _npz_bytes(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


class DatasetFileError(InputError):
    """A file at a dataset path that is not a dataset (truncated, corrupt, not an npz, keys missing, NaN or inf), or
    one file of a pair alone; it is left as it is."""


def regenerate_command(env_name: str, data_dir=None, *, num_episodes: int | None = None, seed: int = 0) -> str:
    """The shell command that regenerates `env_name`'s two files in `data_dir` (default_data_dir() if None), over
    what is there: `python scripts/generate_ogbench.py NAME [--num-episodes N] [--seed S] [--data-dir D] --overwrite`.
    --data-dir is given whenever the folder is not OGBench's ~/.ogbench/data (so the command does not depend on
    $CFGRL_OGBENCH_DATA being set where it is run)."""
    parts = ["python", "scripts/generate_ogbench.py", env_name]
    if num_episodes is not None:
        parts += ["--num-episodes", str(num_episodes)]
    if seed:
        parts += ["--seed", str(seed)]
    folder = default_data_dir() if data_dir is None else Path(data_dir).expanduser()
    if folder != ogbench_data_dir():
        parts += ["--data-dir", str(folder)]
    return shlex.join([*parts, "--overwrite"])


def _dataset_name_of(path: Path) -> str:
    """NAME of NAME.npz or NAME-val.npz."""
    name = path.name.removesuffix(".npz")
    return name.removesuffix("-val") if name.endswith("-val") else name


def dataset_file_error(path, why: str, regenerate: str | None = None) -> DatasetFileError:
    """The error for a bad file at a dataset path: names it, says why, and how to regenerate it (`regenerate`, by
    default the official recipe's command for the file's folder)."""
    path = Path(path)
    if regenerate is None:
        name = _dataset_name_of(path)
        regenerate = regenerate_command(name if name in OFFICIAL_RECIPES else "NAME", path.parent)
    return DatasetFileError(
        f"{path} is not a valid dataset file ({why}); it was left as it is. Regenerate it with `{regenerate}`, "
        "or delete it and the next run that needs it generates it again."
    )


@contextlib.contextmanager
def _reading(path: Path, regenerate: str | None):
    """Turn what numpy and zipfile raise on a bad npz (truncated: BadZipFile; not a zip: numpy's 'pickled data'
    ValueError; a corrupt member: zlib.error or a bad CRC; a member missing: KeyError) into a DatasetFileError."""
    try:
        yield
    except (DatasetFileError, PermissionError):
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError) as e:
        raise dataset_file_error(path, f"{type(e).__name__}: {e}", regenerate) from e


def _open_npz(path, regenerate: str | None) -> np.lib.npyio.NpzFile:
    """`path` opened as an npz archive without pickles (allow_pickle=False); a missing file is FileNotFoundError."""
    path = Path(path)
    if not path.is_file():
        how = f" (generate it with `{regenerate}`)" if regenerate else ""
        raise FileNotFoundError(f"no dataset file at {path}{how}")
    with _reading(path, regenerate):
        f = np.load(path, allow_pickle=False)
    if not isinstance(f, np.lib.npyio.NpzFile):
        raise dataset_file_error(path, "a single .npy array, not an npz archive of arrays", regenerate)
    return f


def _npy_header(archive: zipfile.ZipFile, member: str) -> tuple[tuple, bool, np.dtype]:
    """(shape, fortran_order, dtype) of an .npy member, reading only its header (nothing is decompressed beyond)."""
    with archive.open(member) as fp:
        version = np.lib.format.read_magic(fp)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        return read(fp)


def check_dataset_file(path, *, regenerate: str | None = None) -> int:
    """Check that `path` holds a dataset OGBench's loader can read, without loading its arrays; return its rows N.

    The file must open as an npz without pickles (allow_pickle=False) and hold every DATA_KEYS array as numbers (no
    object dtype): observations, actions, qpos, qvel [N, .] and terminals [N], with the same N >= 1. Otherwise a
    DatasetFileError names the file and gives `regenerate` (default: `regenerate_command` of the official recipe);
    a missing file is a FileNotFoundError. The file is never deleted or overwritten.
    """
    path = Path(path)
    with _open_npz(path, regenerate) as f, _reading(path, regenerate):
        missing = [k for k in DATA_KEYS if k not in f.files]
        if missing:
            raise dataset_file_error(path, f"no {missing} array(s); it holds {sorted(f.files)}", regenerate)
        members = set(f.zip.namelist())
        shapes = {}
        for k in DATA_KEYS:
            shape, _, dtype = _npy_header(f.zip, f"{k}.npy" if f"{k}.npy" in members else k)
            if dtype.hasobject:
                raise dataset_file_error(path, f"'{k}' holds Python objects, not numbers", regenerate)
            if len(shape) != (1 if k == "terminals" else 2):
                raise dataset_file_error(path, f"'{k}' has shape {shape}", regenerate)
            shapes[k] = shape
    n = shapes["observations"][0]
    if n == 0 or any(shape[0] != n for shape in shapes.values()):
        rows = {k: shape[0] for k, shape in shapes.items()}
        raise dataset_file_error(path, f"its arrays must share one row count N >= 1, got {rows}", regenerate)
    return n


def verify_dataset_file(path, *, regenerate: str | None = None) -> int:
    """`check_dataset_file`, then every array of `path` read in full (each member's CRC is checked, so a corrupt byte
    anywhere is found) and the float arrays checked for NaN and inf; return its rows N. A bad file is a
    DatasetFileError naming it (and the array and first row for a non-finite value); it is never changed."""
    path = Path(path)
    n = check_dataset_file(path, regenerate=regenerate)
    with _open_npz(path, regenerate) as f, _reading(path, regenerate):
        for k in f.files:
            x = f[k]
            if np.issubdtype(x.dtype, np.floating):
                bad = ~np.isfinite(x)
                if bad.any():
                    row = int(np.argwhere(bad)[0][0])
                    why = f"'{k}' holds {int(bad.sum())} NaN or inf value(s), the first in row {row}"
                    raise dataset_file_error(path, why, regenerate)
    return n


def load_with_ogbench(dataset_name: str, train_path, *, regenerate: str | None = None,
                      verified: bool = False) -> tuple[dict, dict]:  # fmt: skip
    """(train, val) dataset dicts of `dataset_name` (e.g. 'pointmaze-medium-navigate-oraclerep-v0'), read by
    OGBench's own loader (`ogbench.make_env_and_datasets`) from `train_path` and its '-val' twin.

    Both files pass `verify_dataset_file` first (read in full: a corrupt byte, a NaN or an inf is a DatasetFileError
    that names the file and gives `regenerate`), unless the caller has just done so (`verified`). Arrays and
    layouts are OGBench's (`cfgrl_core.ogbench.gc_dataset`)."""
    import ogbench

    train_path = Path(train_path)
    val_path = Path(str(train_path).replace(".npz", "-val.npz"))  # how OGBench's loader finds the val file
    for path in () if verified else (train_path, val_path):
        verify_dataset_file(path, regenerate=regenerate)
    with scratch.env_files():
        env = ogbench.make_env_and_datasets(dataset_name, env_only=True)  # oracle reps of cube datasets need the env
    try:
        return ogbench.make_env_and_datasets(dataset_name, dataset_path=str(train_path), dataset_only=True, cur_env=env)
    finally:
        env.close()


def read_recipe(path, *, regenerate: str | None = None) -> dict | None:
    """The recipe stored in a generated file, or None for a file without one (e.g. an official download).
    The file must pass `check_dataset_file` (else a DatasetFileError naming it and giving `regenerate`)."""
    path = Path(path)
    check_dataset_file(path, regenerate=regenerate)
    with _open_npz(path, regenerate) as f, _reading(path, regenerate):
        if RECIPE_KEY not in f.files:
            return None
        return json.loads(str(f[RECIPE_KEY][()]))


def generate_dataset(
    env_name: str,
    *,
    num_episodes: int | None = None,
    episode_length: int | None = None,
    noise: float | None = None,
    num_val_episodes: int | None = None,
    seed: int = 0,
    data_dir=None,
    num_workers: int = 1,
    overwrite: bool = False,
    progress: bool = True,
) -> tuple[Path, Path]:
    """Generate `env_name` (e.g. 'pointmaze-medium-navigate-v0') and its val split; return (train_path, val_path).

    Defaults follow OGBench's official recipe (OFFICIAL_RECIPES): 1000 episodes x 1001 rows (pointmaze-giant:
    500 x 2001), noise 0.5 (cube-single-play: 0.1, plan noise smoothed over 0.5 steps), and
    num_val_episodes = max(1, num_episodes // 10). Files go to `data_dir` (default: `default_data_dir()`, i.e.
    $CFGRL_OGBENCH_DATA or ~/.ogbench/data, where `ogbench.make_env_and_datasets` looks). This is the "get or
    generate" path: if both files already exist they are returned as they are (unread), whatever recipe made them,
    unless `overwrite=True`; one file alone is refused (a DatasetFileError), except a val file of this very recipe
    (a generation killed between its writes), which is kept. Load them with `load_with_ogbench` (or
    `ogbench.make_env_and_datasets(env_name, dataset_path=str(train_path))`).
    """
    env_name = check_env_name(env_name)
    recipe = OFFICIAL_RECIPES[env_name]
    num_episodes = check_positive_int("num_episodes", recipe.num_episodes if num_episodes is None else num_episodes)
    episode_length = check_positive_int(
        "episode_length", recipe.episode_length if episode_length is None else episode_length
    )
    if episode_length < 2:
        raise ValueError(f"episode_length must be >= 2 (rows per episode, one transition fewer), got {episode_length}")
    noise = _check_noise(recipe.noise if noise is None else noise)
    if num_val_episodes is None:
        num_val_episodes = max(1, num_episodes // 10)
    num_val_episodes = check_positive_int("num_val_episodes", num_val_episodes)
    seed = check_nonnegative_int("seed", seed)
    num_workers = check_positive_int("num_workers", num_workers)

    train_path, val_path = dataset_paths(env_name, data_dir)
    if train_path.exists() and val_path.exists() and not overwrite:
        return train_path, val_path

    import ogbench

    try:
        from importlib.metadata import version

        ogbench_version = version("ogbench")
    except Exception:  # noqa: BLE001  (metadata missing: record what we can)
        ogbench_version = getattr(ogbench, "__version__", "unknown")

    def recipe_of(split: str, start: int, stop: int) -> dict:
        return {
            "env_name": env_name,
            "split": split,
            "dataset_type": recipe.dataset_type,
            "num_episodes": stop - start,
            "first_episode": start,
            "episode_length": episode_length,
            "noise": noise,
            **({} if recipe.noise_smoothing is None else {"noise_smoothing": recipe.noise_smoothing}),
            "seed": seed,
            "ogbench_version": ogbench_version,
            "generator": "cfgrl_core.ogbench_data",
            "generator_version": GENERATOR_VERSION,
        }

    # Train episodes are 0..num_episodes-1 and val episodes follow, as in OGBench's generator.
    splits = [
        ("train", train_path, 0, num_episodes),
        ("val", val_path, num_episodes, num_episodes + num_val_episodes),
    ]
    if not overwrite:
        regenerate = regenerate_command(
            env_name, data_dir, num_episodes=None if num_episodes == recipe.num_episodes else num_episodes, seed=seed
        )
        splits = [(name, path, start, stop) for name, path, start, stop in splits
                  if not _kept(name, path, recipe_of(name, start, stop), regenerate)]  # fmt: skip
    # Val first: a run killed between the two writes leaves the val file alone, which the next call keeps (`_kept`).
    for split, path, start, stop in reversed(splits):
        data = _collect(
            env_name, seed, start, stop, episode_length, noise, num_workers, progress, f"{env_name} {split}"
        )
        stats = {k: data.pop(k) for k in list(data) if k not in DATA_KEYS}  # e.g. goals_reached
        for k in DATA_KEYS:
            check_finite(f"generated {split} '{k}' of {env_name}", data[k])
        meta = {**recipe_of(split, start, stop), **stats}
        data[RECIPE_KEY] = np.array(json.dumps(meta, sort_keys=True))
        atomic_write_bytes(path, _npz_bytes(data))
    return train_path, val_path


def _kept(name: str, path: Path, recipe: dict, regenerate: str) -> bool:
    """Whether one file of a pair found alone is kept instead of made: the val file a killed generation left (the
    same `recipe`: True); a lone train file, or a val file of another recipe or unreadable, is a DatasetFileError
    (never overwritten without --overwrite). A missing file: False (make it)."""
    if not path.exists():
        return False
    if name == "train":
        raise DatasetFileError(
            f"{path} exists but its val twin {_twin(path)} does not; not overwriting it: `{regenerate}` regenerates "
            "both (or delete it and the next run generates the pair)"
        )
    found = read_recipe(path, regenerate=regenerate) or {}
    if {k: found.get(k) for k in recipe} != recipe:
        raise DatasetFileError(
            f"{path} exists without its train file {_twin(path)} and was made by another recipe; not overwriting it: "
            f"`{regenerate}` regenerates both (or delete it)"
        )
    return True


def _twin(path: Path) -> Path:
    """NAME-val.npz of NAME.npz and the other way round."""
    name = path.name.removesuffix(".npz")
    return path.with_name(f"{name.removesuffix('-val')}.npz" if name.endswith("-val") else f"{name}-val.npz")


def size_folder(num_episodes: int | None, data_dir=None) -> Path:
    """Where datasets of one size live. The official size (num_episodes None) uses `data_dir` (default:
    `default_data_dir()`); a smaller recipe uses its subfolder cfgrl-<n>-episodes/, so a small file is never
    mistaken for (or reused as) an official one."""
    root = default_data_dir() if data_dir is None else Path(data_dir).expanduser()
    return root if num_episodes is None else root / f"cfgrl-{num_episodes}-episodes"


def ready_dataset(env_name: str, *, num_episodes: int | None = None, data_dir=None, seed: int = 0,
                  progress: bool = True) -> tuple[Path, str]:  # fmt: skip
    """`env_name`'s pair at `num_episodes` in its `size_folder`, generated where missing and both files read in
    full (`verify_dataset_file`); returns (train path, the command that regenerates the pair). What a runner calls
    for every dataset it will need before it trains anything: a bad file is refused before hours of work, not after.
    A bad file (or one file alone) is a DatasetFileError naming it; nothing is deleted or overwritten."""
    folder = size_folder(num_episodes, data_dir)
    regenerate = regenerate_command(env_name, folder, num_episodes=num_episodes, seed=seed)
    kwargs = {} if num_episodes is None else dict(num_episodes=num_episodes)
    train_path, val_path = generate_dataset(
        env_name, data_dir=folder, seed=seed, num_workers=min(2, os.cpu_count() or 1), progress=progress, **kwargs
    )
    for path in (train_path, val_path):
        verify_dataset_file(path, regenerate=regenerate)
    return train_path, regenerate


def generate_and_load(env_name: str, load_name: str, *, num_episodes: int | None = None, data_dir=None, seed: int = 0,
                      progress: bool = True) -> tuple[dict, dict | None, Path]:  # fmt: skip
    """`env_name`'s dataset, generated if missing (`generate_dataset`, at `num_episodes`, in `size_folder`), loaded by
    OGBench's loader as `load_name` (its -oraclerep name, or a -singletask name for its relabelling).

    Returns (train dataset dict, the recipe it was generated with, the train file's path). Files already there are
    used as they are; one that is not a valid dataset (or one file alone) is a `DatasetFileError` naming it, with
    the command that regenerates it; it is never deleted or overwritten here."""
    train_path, regenerate = ready_dataset(env_name, num_episodes=num_episodes, data_dir=data_dir, seed=seed,
                                           progress=progress)  # fmt: skip
    train_ds, _ = load_with_ogbench(load_name, train_path, regenerate=regenerate, verified=True)
    return dict(train_ds), read_recipe(train_path, regenerate=regenerate), train_path
