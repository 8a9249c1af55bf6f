"""GCBC vs CFGRL on OGBench (pointmaze, cube-single): one goal-conditioned flow per seed gives the whole w-curve
(paper Fig. 4/6, Table 3).

One experiment on one environment, end to end:

    dataset    NAME.npz generated locally (`ogbench_data`), loaded by OGBench's own loader as NAME-oraclerep
    training   S seeds vmapped, hindsight-relabelled goal batches (`gc_dataset`), goal dropped to the learned null
               embedding with probability p_uncond; parameters kept at several checkpoints (e.g. 25/50/100 %)
    evaluation OGBench's 5 evaluation tasks x E episodes x every w, all rollouts in lockstep (`evaluation`);
               w = 0 is flow BC, w = 1 flow GCBC, w > 1 CFGRL
    selection  w chosen per seed on VALIDATION goals: random start/goal pairs that are not the 5 evaluation tasks
               (mazes: cell pairs with shortest paths as long as the evaluation tasks', `maze_validation_tasks`;
               cube-single: random cube start and target positions, `cube_validation_tasks`)

    run = run_experiment("pointmaze-medium-navigate-v0", "cpu", seed=0)
    save_results(run.result, path);  success_by_w(run.result)  ->  ws, per-seed success [S, W]
    run.params (final, seed-stacked), run.model_config: to sample or roll out the trained policies

A result is a plain JSON-able dict that records the preset, seeds, timings and device, so a figure made from it
says what produced it. Presets: "fast" (tests, seconds), "cpu" (what `make figures` runs on 2 cores), "paper"
(4x512 GELU, batch 1024, 1M steps, 16 flow steps, 8 seeds, 15 episodes per task, the three mazes, teleport and
cube-single: a GPU run).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import time
from pathlib import Path

import jax
import numpy as np

from cfgrl_core import evaluation, gc_dataset, ogbench_data, train
from cfgrl_core.figures import atomic_write_bytes, git_commit
from cfgrl_core.networks import ModelConfig

DEFAULT_WS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0)

# Flow GCBC (w = 1) and CFGRL (w = 3) success in %, paper Table 3 (8 seeds, 1M steps, official datasets), as
# transcribed in shared/reference/cfgrl.md section 4.3 from third-party notes (the PDF table was not available).
PAPER_TABLE3 = {
    "pointmaze-large-navigate-v0": (74.0, 77.0),
    "pointmaze-giant-navigate-v0": (4.0, 30.0),
}


@dataclasses.dataclass(frozen=True)
class Preset:
    """Everything that sets the cost and the statistics of one experiment."""

    name: str
    env_names: tuple  # datasets the preset runs (pointmaze-*-navigate-v0)
    num_episodes: int | None  # dataset episodes; None = the official recipe (1000, giant 500)
    hidden_dims: tuple  # MLP widths (GELU)
    batch_size: int
    num_steps: int  # optimisation steps per seed
    num_seeds: int  # trained together, vmapped
    episodes_per_task: int  # evaluation episodes per OGBench task at the final checkpoint
    checkpoint_fractions: tuple = (0.25, 0.5, 1.0)  # where the w-curve is also evaluated
    checkpoint_episodes_per_task: int = 1  # episodes per task at the earlier checkpoints
    num_val_tasks: int = 10  # validation (start, goal) pairs for choosing w
    ws: tuple = DEFAULT_WS
    flow_steps: int = 16
    max_steps: int | None = None  # evaluation episode cap; None = the env's own (1000 for pointmaze)
    learning_rate: float = 3e-4
    p_uncond: float = 0.1
    compute_dtype: str = "float32"
    steps_per_call: int = 1000  # scanned steps per jitted training call


MAZES = ("pointmaze-medium-navigate-v0", "pointmaze-large-navigate-v0", "pointmaze-giant-navigate-v0")

PRESETS = {
    # Seconds: the notebook and the tests run it; the numbers mean nothing beyond "the pipeline works".
    "fast": Preset(
        name="fast",
        env_names=("pointmaze-medium-navigate-v0",),
        num_episodes=20,
        hidden_dims=(64, 64),
        batch_size=64,
        num_steps=400,
        num_seeds=2,
        episodes_per_task=1,
        num_val_tasks=3,
        flow_steps=4,
        max_steps=60,
        steps_per_call=100,
    ),
    # `make figures` on a 2-core CPU: about 8 min per maze (5.5 of them training 4 seeds x 100k steps); see
    # notebook 04 for the measured cost. 3x256 / batch 256 / 100k steps is ~1/130 of the paper's samples seen.
    "cpu": Preset(
        name="cpu",
        env_names=MAZES,
        num_episodes=None,
        hidden_dims=(256, 256, 256),
        batch_size=256,
        num_steps=100_000,
        num_seeds=4,
        episodes_per_task=4,
        checkpoint_episodes_per_task=2,
        num_val_tasks=20,
    ),
    # The paper's setting (Table 4 of the paper / the authors' GCBC script): a GPU job, 8 seeds vmapped.
    "paper": Preset(
        name="paper",
        env_names=MAZES + ("pointmaze-teleport-navigate-v0", "cube-single-play-v0"),
        num_episodes=None,
        hidden_dims=(512, 512, 512, 512),
        batch_size=1024,
        num_steps=1_000_000,
        num_seeds=8,
        episodes_per_task=15,
        checkpoint_episodes_per_task=5,
        num_val_tasks=20,
        steps_per_call=5000,
    ),
}


def get_preset(name_or_preset) -> Preset:
    """A Preset by name ("fast", "cpu", "paper") or a Preset itself."""
    if isinstance(name_or_preset, Preset):
        return name_or_preset
    if name_or_preset not in PRESETS:
        raise ValueError(f"unknown preset {name_or_preset!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name_or_preset]


def oraclerep_name(env_name: str) -> str:
    """pointmaze-medium-navigate-v0 -> pointmaze-medium-navigate-oraclerep-v0 (goals are the oracle x-y)."""
    base, version = env_name.rsplit("-", 1)
    return f"{base}-oraclerep-{version}"


def data_dir_for(preset: Preset, data_dir=None) -> Path:
    """Where the preset's dataset files live. Official-size data use OGBench's folder (or `data_dir`); a preset with
    fewer episodes uses a subfolder, so its small file is never mistaken for (or reused as) an official one."""
    root = ogbench_data.default_data_dir() if data_dir is None else Path(data_dir).expanduser()
    return root if preset.num_episodes is None else root / f"cfgrl-{preset.num_episodes}-episodes"


def load_training_data(env_name: str, preset: Preset, *, data_dir=None, seed: int = 0, progress: bool = True):
    """Generate the dataset if it is missing, then load it with OGBench's loader (-oraclerep). Returns the train
    dataset dict (observations, actions, terminals, oracle_reps, ...) and the recipe it was generated with."""
    import ogbench

    folder = data_dir_for(preset, data_dir)
    kwargs = {} if preset.num_episodes is None else dict(num_episodes=preset.num_episodes)
    train_path, _ = ogbench_data.generate_dataset(
        env_name, data_dir=folder, seed=seed, num_workers=min(2, os.cpu_count() or 1), progress=progress, **kwargs
    )
    _, train_ds, _ = ogbench.make_env_and_datasets(oraclerep_name(env_name), dataset_path=str(train_path))
    return dict(train_ds), ogbench_data.read_recipe(train_path)


def checkpoint_steps(preset: Preset) -> list[int]:
    """Training steps at which parameters are kept, e.g. [25000, 50000, 100000]. The last one is num_steps."""
    if any(not 0 < f <= 1 for f in preset.checkpoint_fractions):
        raise ValueError(f"checkpoint_fractions must lie in (0, 1], got {preset.checkpoint_fractions}")
    return sorted({max(1, round(f * preset.num_steps)) for f in preset.checkpoint_fractions} | {preset.num_steps})


def train_with_checkpoints(key, data, sample_fn, model_config: ModelConfig, preset: Preset, progress: bool = True):
    """Train preset.num_seeds seeds together; returns ({step: params with a leading seed axis (host)}, losses [S, N]).

    Chunks of at most `steps_per_call` scanned steps, cut at the checkpoints (chunking does not change the result:
    the key of step k is the same however the steps are grouped)."""
    train_config = train.TrainConfig(
        batch_size=preset.batch_size, learning_rate=preset.learning_rate, p_uncond=preset.p_uncond
    )
    key_init, key_train = jax.random.split(key)
    s = preset.num_seeds
    state = train.create_train_states(jax.random.split(key_init, s), model_config, train_config)
    keys = jax.random.split(key_train, s)
    stops = checkpoint_steps(preset)
    bounds = sorted(set(range(0, preset.num_steps, preset.steps_per_call)) | set(stops) | {preset.num_steps})
    chunks = np.diff([0] + [b for b in bounds if b > 0]).tolist()
    iterator = chunks
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(chunks, desc=f"training {s} seeds x {preset.num_steps} steps", unit="chunk")
    checkpoints, losses, done = {}, [], 0
    for n in iterator:
        state, info = train.train_steps_seeds(
            state, data, keys, num_steps=int(n), model_config=model_config, train_config=train_config,
            sample_fn=sample_fn,
        )  # fmt: skip
        losses.append(np.asarray(info["flow_loss"]))
        done += int(n)
        if done in stops:
            checkpoints[done] = jax.device_get(state.params)
    return checkpoints, np.concatenate(losses, axis=-1)


def seed_params(params, s: int):
    """The parameters of seed s from a seed-stacked pytree."""
    return jax.tree_util.tree_map(lambda x: x[s], params)


def _bfs_distances(maze_map: np.ndarray, start: tuple) -> dict:
    """Shortest path length in cells from `start` to every free cell (4-neighbour moves)."""
    dist = {tuple(start): 0}
    queue = collections.deque([tuple(start)])
    while queue:
        i, j = queue.popleft()
        for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            nxt = (i + di, j + dj)
            if maze_map[nxt] == 0 and nxt not in dist:
                dist[nxt] = dist[(i, j)] + 1
                queue.append(nxt)
    return dist


def maze_validation_tasks(env_name: str, num_tasks: int, seed: int) -> list[dict]:
    """`num_tasks` random (start cell, goal cell) pairs for choosing w, as task_info dicts {init_ij, goal_ij}.

    Both cells are drawn uniformly from the maze's vertex cells (where the dataset's goals come from), the pair is
    none of the 5 evaluation tasks (nor one reversed), and its shortest path lies within the range of the evaluation
    tasks' shortest paths, so validation goals are as hard as the evaluation ones without being them. Seeded.
    """
    if isinstance(num_tasks, bool) or not isinstance(num_tasks, int) or num_tasks <= 0:
        raise ValueError(f"num_tasks must be a positive int, got {num_tasks!r}")
    env = evaluation.make_env(oraclerep_name(env_name))
    maze = env.unwrapped
    maze_map = np.asarray(maze.maze_map)
    eval_pairs = {(tuple(t["init_ij"]), tuple(t["goal_ij"])) for t in maze.task_infos}
    eval_pairs |= {(g, i) for i, g in eval_pairs}
    eval_lengths = [_bfs_distances(maze_map, i)[g] for i, g in eval_pairs]
    lo, hi = min(eval_lengths), max(eval_lengths)
    env.close()
    _, vertex_cells = ogbench_data.maze_cells(maze_map)
    candidates = []
    for start in vertex_cells:
        dist = _bfs_distances(maze_map, start)
        candidates += [
            (start, goal) for goal in vertex_cells if lo <= dist.get(goal, -1) <= hi and (start, goal) not in eval_pairs
        ]
    if len(candidates) < num_tasks:
        raise ValueError(f"{env_name}: only {len(candidates)} validation pairs exist, asked for {num_tasks}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7919]))
    chosen = rng.choice(len(candidates), size=num_tasks, replace=False)
    return [dict(init_ij=tuple(map(int, candidates[c][0])), goal_ij=tuple(map(int, candidates[c][1]))) for c in chosen]


# cube-single: where OGBench places cubes and targets (x-y, metres; manipspace_env._object_sampling_bounds), the
# cube's resting height, and the least start-goal distance of a validation task (the evaluation tasks' range from
# 0.15 m to 0.46 m).
CUBE_XY_BOUNDS = np.array([[0.3, -0.3], [0.55, 0.3]])
CUBE_Z = 0.02
CUBE_MIN_DISTANCE = 0.15


def cube_validation_tasks(env_name: str, num_tasks: int, seed: int) -> list[dict]:
    """`num_tasks` random cube-single tasks for choosing w, as task_info dicts {init_xyzs [1, 3], goal_xyzs [1, 3]}.

    Start and goal x-y are uniform over OGBench's cube sampling area, at least CUBE_MIN_DISTANCE apart (the evaluation
    tasks' shortest move) and more than 5 cm from every evaluation task's start and goal pair. Seeded."""
    if isinstance(num_tasks, bool) or not isinstance(num_tasks, int) or num_tasks <= 0:
        raise ValueError(f"num_tasks must be a positive int, got {num_tasks!r}")
    env = evaluation.make_env(oraclerep_name(env_name))
    eval_pairs = [(t["init_xyzs"][0, :2], t["goal_xyzs"][0, :2]) for t in env.unwrapped.task_infos]
    env.close()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7919]))
    tasks = []
    while len(tasks) < num_tasks:
        start, goal = rng.uniform(*CUBE_XY_BOUNDS, size=(2, 2))
        if np.linalg.norm(goal - start) < CUBE_MIN_DISTANCE:
            continue
        if any(np.linalg.norm(start - s) + np.linalg.norm(goal - g) < 0.05 for s, g in eval_pairs):
            continue
        tasks.append(dict(init_xyzs=[[*map(float, start), CUBE_Z]], goal_xyzs=[[*map(float, goal), CUBE_Z]]))
    return tasks


def validation_tasks(env_name: str, num_tasks: int, seed: int) -> list[dict]:
    """Validation tasks (task_info dicts, JSON-able) of a maze or of cube-single; see the two functions above."""
    if env_name.startswith("cube-single"):
        return cube_validation_tasks(env_name, num_tasks, seed)
    return maze_validation_tasks(env_name, num_tasks, seed)


def as_task_info(task: dict) -> dict:
    """A JSON-loaded validation task as the env's reset expects it (cube positions as arrays [1, 3])."""
    return {k: np.asarray(v, float) if k.endswith("xyzs") else tuple(v) for k, v in task.items()}


def maze_geometry(env_name: str) -> dict:
    """What a plot of the maze needs: wall cell centres [K, 2] (x-y), the cell size, and the evaluation tasks'
    start / goal x-y [5, 2] each."""
    env = evaluation.make_env(oraclerep_name(env_name))
    maze = env.unwrapped
    walls = np.array([maze.ij_to_xy(ij) for ij in zip(*np.nonzero(np.asarray(maze.maze_map) == 1), strict=True)])
    geometry = dict(
        walls=walls,
        cell=float(maze._maze_unit),
        task_starts=np.array([t["init_xy"] for t in maze.task_infos], float),
        task_goals=np.array([t["goal_xy"] for t in maze.task_infos], float),
    )
    env.close()
    return geometry


def results_dir(preset_name: str) -> Path:
    """Where results of a preset are kept in the repository: results/gcbc_cfgrl/<preset> (or $CFGRL_RESULTS_DIR)."""
    root = os.environ.get("CFGRL_RESULTS_DIR") or Path(__file__).resolve().parent.parent / "results" / "gcbc_cfgrl"
    return Path(root) / preset_name


def device_description() -> str:
    """e.g. 'cpu (2 cores)' or 'gpu: NVIDIA H100 80GB HBM3'."""
    d = jax.devices()[0]
    return f"cpu ({os.cpu_count()} cores)" if d.platform == "cpu" else f"{d.platform}: {d.device_kind}"


@dataclasses.dataclass
class ExperimentRun:
    """What `run_experiment` returns: the JSON-able result and the trained policies (final checkpoint)."""

    result: dict
    params: dict  # seed-stacked parameters (leading axis = seed), host arrays
    model_config: ModelConfig
    final_evals: list  # [S] evaluation.EvalResult at the last checkpoint, with trajectories (record_trajectories)


def run_experiment(
    env_name: str, preset, *, seed: int = 0, data_dir=None, progress: bool = True, log=print
) -> ExperimentRun:
    """Dataset -> S seeds trained with checkpoints -> w-curves at every checkpoint -> w chosen on validation goals.

    `result` is a JSON-able dict (see the module docstring); its `success` arrays are nested lists indexed
    [seed][task][episode][w] (evaluation tasks) and `val_success` [seed][validation task][w] at the last step.
    Evaluation env seeds are the same for every model seed (common random numbers: the spread over seeds is the
    spread of the trained models, not of start states).
    """
    preset = get_preset(preset)
    timings = {}
    t0 = time.perf_counter()
    raw, recipe = load_training_data(env_name, preset, data_dir=data_dir, seed=seed, progress=progress)
    data, sample_fn = gc_dataset.make_gc_sampler(raw)
    timings["data_s"] = time.perf_counter() - t0
    obs_dim, goal_dim, action_dim = raw["observations"].shape[1], raw["oracle_reps"].shape[1], raw["actions"].shape[1]
    model_config = ModelConfig(
        action_dim=action_dim, hidden_dims=tuple(preset.hidden_dims), obs_dim=obs_dim, cond_dim=goal_dim,
        compute_dtype=preset.compute_dtype,
    )  # fmt: skip

    t0 = time.perf_counter()
    checkpoints, losses = train_with_checkpoints(
        jax.random.PRNGKey(seed), data, sample_fn, model_config, preset, progress
    )
    timings["train_s"] = time.perf_counter() - t0
    log(f"{env_name}: trained {preset.num_seeds} seeds x {preset.num_steps} steps in {timings['train_s']:.0f} s")

    eval_name = oraclerep_name(env_name)
    common = dict(seed=seed, flow_steps=preset.flow_steps, max_steps=preset.max_steps)
    steps = sorted(checkpoints)
    success, lengths = {}, {}
    t0 = time.perf_counter()
    for step in steps:
        final = step == steps[-1]
        episodes = preset.episodes_per_task if final else preset.checkpoint_episodes_per_task
        runs = [
            evaluation.evaluate_lockstep(
                eval_name, seed_params(checkpoints[step], s), model_config, preset.ws, episodes_per_task=episodes,
                record_trajectories=final, **common,
            )
            for s in range(preset.num_seeds)
        ]  # fmt: skip
        success[step] = np.stack([r.success for r in runs]).astype(int).tolist()
        lengths[step] = np.stack([r.lengths for r in runs]).tolist()
        curve = np.mean([r.success.mean(axis=(0, 1)) for r in runs], axis=0)
        log(f"  step {step}: success by w " + " ".join(f"{w:g}:{c:.2f}" for w, c in zip(preset.ws, curve, strict=True)))
    final_evals = runs
    timings["eval_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    val_tasks = validation_tasks(env_name, preset.num_val_tasks, seed)
    val_runs = [
        evaluation.evaluate_lockstep(
            eval_name, seed_params(checkpoints[steps[-1]], s), model_config, preset.ws,
            task_infos=[as_task_info(t) for t in val_tasks],
            episodes_per_task=1, **dict(common, seed=seed + 10_000),
        )
        for s in range(preset.num_seeds)
    ]  # fmt: skip
    timings["val_s"] = time.perf_counter() - t0
    val_success = np.stack([r.success[:, 0, :] for r in val_runs]).astype(int)  # [S, K, W]
    result = dict(
        env_name=env_name,
        preset=dataclasses.asdict(preset),
        seed=seed,
        ws=list(preset.ws),
        checkpoint_steps=steps,
        success={str(k): v for k, v in success.items()},
        lengths={str(k): v for k, v in lengths.items()},
        val_tasks=json.loads(json.dumps(val_tasks)),
        val_success=val_success.tolist(),
        chosen_w=[float(w) for w in choose_w(val_success, preset.ws)],
        loss_every_100=losses[:, ::100].round(5).tolist(),
        dataset_recipe=recipe,
        model_config=dataclasses.asdict(model_config),
        timings={k: round(v, 2) for k, v in timings.items()},
        device=device_description(),
        jax_version=jax.__version__,
        commit=git_commit(),
    )
    log(f"  validation: chosen w per seed {result['chosen_w']}; times {result['timings']}")
    return ExperimentRun(
        result=result, params=checkpoints[steps[-1]], model_config=model_config, final_evals=final_evals
    )


def choose_w(val_success, ws) -> np.ndarray:
    """Per seed, the w with the highest mean validation success; ties go to the smallest such w.

    val_success [S, K, W] (0/1) -> chosen w [S]."""
    rates = np.asarray(val_success, float).mean(axis=1)  # [S, W]
    return np.asarray(ws, float)[np.argmax(rates, axis=1)]  # argmax returns the first (smallest w) maximum


def success_by_w(result: dict, step: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ws [W], per-seed success rate [S, W]) averaged over the 5 tasks and their episodes, at `step` (last)."""
    step = result["checkpoint_steps"][-1] if step is None else step
    success = np.asarray(result["success"][str(step)], float)  # [S, T, E, W]
    return np.asarray(result["ws"], float), success.mean(axis=(1, 2))


def summary_row(result: dict) -> dict:
    """One table row: success (%) mean and std over seeds at w = 0, 1, 3 and at the validation-chosen w."""
    ws, per_seed = success_by_w(result)
    row = dict(env=result["env_name"], preset=result["preset"]["name"], seeds=per_seed.shape[0])
    for label, w in [("flow BC (w=0)", 0.0), ("flow GCBC (w=1)", 1.0), ("CFGRL (w=3)", 3.0)]:
        col = per_seed[:, int(np.flatnonzero(np.isclose(ws, w))[0])] * 100
        row[f"{label} mean"], row[f"{label} std"] = float(col.mean()), float(col.std())
    chosen = np.asarray(result["chosen_w"], float)
    picked = per_seed[np.arange(len(chosen)), [int(np.flatnonzero(np.isclose(ws, w))[0]) for w in chosen]] * 100
    row["CFGRL (validated w) mean"], row["CFGRL (validated w) std"] = float(picked.mean()), float(picked.std())
    row["validated w per seed"] = " ".join(f"{w:g}" for w in chosen)
    paper = PAPER_TABLE3.get(result["env_name"])
    row["paper flow GCBC"], row["paper CFGRL (w=3)"] = paper if paper else (None, None)
    return row


def save_results(result: dict, path) -> Path:
    """Write one experiment's result as JSON, atomically."""
    path = Path(path)
    atomic_write_bytes(path, (json.dumps(result, indent=1) + "\n").encode())
    return path


def load_results(path) -> dict:
    """Read a result written by `save_results`; a missing file is a clear FileNotFoundError."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no experiment result at {path} (run scripts/run_gcbc_cfgrl.py to make one)")
    return json.loads(path.read_text())
