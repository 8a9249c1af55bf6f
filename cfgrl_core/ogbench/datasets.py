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
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
from pathlib import Path

import numpy as np

from cfgrl_core.checks import check_finite, check_nonnegative_int, check_positive_int
from cfgrl_core.io.atomic import atomic_write_bytes
from cfgrl_core.ogbench import cube, maze
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


def default_data_dir() -> Path:
    """OGBench's own default dataset folder (ogbench.utils.DEFAULT_DATASET_DIR, i.e. ~/.ogbench/data)."""
    from ogbench.utils import DEFAULT_DATASET_DIR

    return Path(os.path.expanduser(DEFAULT_DATASET_DIR))


def dataset_paths(env_name: str, data_dir=None) -> tuple[Path, Path]:
    """(NAME.npz, NAME-val.npz) in `data_dir`, the pair `make_env_and_datasets(dataset_path=...)` expects."""
    data_dir = default_data_dir() if data_dir is None else Path(data_dir).expanduser()
    return data_dir / f"{env_name}.npz", data_dir / f"{env_name}-val.npz"


def _check_env_name(env_name) -> str:
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


def read_recipe(path) -> dict | None:
    """The recipe stored in a generated file, or None for a file without one (e.g. an official download)."""
    with np.load(path, allow_pickle=False) as f:
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
    num_val_episodes = max(1, num_episodes // 10). Files go to `data_dir` (default ~/.ogbench/data,
    where `ogbench.make_env_and_datasets` looks). If both files already exist they are returned as they are,
    whatever recipe made them, unless `overwrite=True`. Load them with
    `ogbench.make_env_and_datasets(env_name, dataset_path=str(train_path))`.
    """
    env_name = _check_env_name(env_name)
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

    # Train episodes are 0..num_episodes-1 and val episodes follow, as in OGBench's generator.
    splits = [
        ("train", train_path, 0, num_episodes),
        ("val", val_path, num_episodes, num_episodes + num_val_episodes),
    ]
    # Val first: a run killed between the two writes leaves no NAME.npz, so the next call regenerates both.
    for split, path, start, stop in reversed(splits):
        data = _collect(
            env_name, seed, start, stop, episode_length, noise, num_workers, progress, f"{env_name} {split}"
        )
        stats = {k: data.pop(k) for k in list(data) if k not in DATA_KEYS}  # e.g. goals_reached
        for k in DATA_KEYS:
            check_finite(f"generated {split} '{k}' of {env_name}", data[k])
        meta = {
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
            **stats,
        }
        data[RECIPE_KEY] = np.array(json.dumps(meta, sort_keys=True))
        atomic_write_bytes(path, _npz_bytes(data))
    return train_path, val_path
