"""Notebook 05's check of its critic: IQL alone on one task, at the `cpu` preset's size and at a larger one, read at
several budgets along the task's shortest path.

On medium task 3 the `cpu` run's critics (2x128, batch 128, 30k steps) give the cells 4-6 steps from the goal higher
values than the cells 2-3 steps away, on every seed, and higher than the best return the dataset itself collects
from those cells (`value_map.returns_to_go`): they overestimate there. Those far cells lie, in the plane, within about
two cell widths of the goal, across a wall; a critic that is smooth in (x, y) and has not yet learned the walls would
do exactly this. If so, a larger critic or more steps orders the path's values by distance. This experiment trains
the critic alone (no actor; the IQL losses do not see the actors) on the same data for each size in
`Preset.variants`, and at each step of `Preset.stops` records, per seed:

  path_v       V along the path [S, P], nearest the goal first (mean over the states of a fixed sample in each cell)
  path_q_max   max over an action grid of min_k Q along the path [S, P] (`iql.grid_max_q`)
  v_by_distance  V by BFS distance over the whole sample [S, D] (`value_map.by_distance`)
  path_rank    Spearman's rank correlation of V with the path distance, per seed (-1: ordered by distance)

with the data's references (the best and the median return-to-go from each path cell among episodes that reach the
goal) and the loss curve (every 100 steps). The check that can fail: at the last budget the larger critic's path
values are ordered by distance (rank correlation <= -0.9 on every seed); the notebook reports whatever comes out.

Result: results/critic_budget/<preset>/<task>.json (`protocol` places it), with the provenance. Resumable: each
variant's training checkpoints and finished readings live under <task>/<variant>/ until the result is written.
The `cpu` result is a record: notebook 05 reads the committed one (`load_record`) and `make figures` does not train
it again (about 18 min on 2 cores, for the check of a run that is itself a record now); `scripts/run_record.py
critic_budget` runs it.
"""

from __future__ import annotations

import dataclasses
import shutil
import time

import jax
import jax.numpy as jnp
import numpy as np

from cfgrl_core.agents import iql
from cfgrl_core.experiments import offline_rl, protocol
from cfgrl_core.experiments.resumable import train_resumable
from cfgrl_core.io.checkpoints import load_json
from cfgrl_core.io.provenance import device_description, file_sha256, git_commit, npz_arrays_sha256
from cfgrl_core.ogbench import datasets as ogbench_data
from cfgrl_core.ogbench import value_map
from cfgrl_core.train import TrainConfig, create_runs


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    hidden_dims: tuple
    batch_size: int
    num_steps: int  # trained to this step; read at the preset's stops up to it


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    task: str
    variants: tuple  # of Variant
    stops: tuple  # steps at which the critics are read (those a variant reaches)
    num_seeds: int
    num_episodes: int | None = None  # dataset episodes (None: OGBench's size)
    sample_size: int = 8192  # dataset states the values are read on
    learning_rate: float = 3e-4
    discount: float = 0.99
    expectile: float = 0.9
    polyak: float = 0.005
    steps_per_call: int = 1000
    checkpoint_every: int = 10_000


# The cpu preset's critic taken 3x further, and the mechanism row's wider, deeper critic at the cpu preset's batch
# (its batch of 256 would cost about 4x as much on 2 cores: IQL's three 3x256 networks are compute-bound there).
CPU_CRITIC = Variant("2x128, batch 128 (the cpu preset's critic)", (128, 128), 128, 100_000)
WIDE_CRITIC = Variant("3x256, batch 128 (the mechanism row's widths)", (256, 256, 256), 128, 30_000)

PRESETS = {
    "fast": Preset(name="fast", task=offline_rl.MEDIUM3, variants=(Variant("2x16", (16, 16), 32, 200),),
                   stops=(100, 200), num_seeds=2, num_episodes=20, sample_size=512, steps_per_call=100,
                   checkpoint_every=100),
    "cpu": Preset(name="cpu", task=offline_rl.MEDIUM3, variants=(CPU_CRITIC, WIDE_CRITIC),
                  stops=(10_000, 30_000, 100_000), num_seeds=4),
}  # fmt: skip

EXPERIMENT = protocol.Experiment("critic_budget", PRESETS, script="scripts/run_record.py critic_budget")
get_preset = EXPERIMENT.preset


def result_path(preset_name: str, root=None):
    preset = get_preset(preset_name)
    return (EXPERIMENT.results_dir(preset.name) if root is None else root) / f"{preset.task}.json"


def load_record(preset_name: str = "cpu") -> dict:
    """The committed result of `preset_name` (results/critic_budget/<preset>/, whatever $CFGRL_RESULTS_DIR says): the
    record notebook 05 reads, which `make figures` does not train again (`scripts/run_record.py critic_budget`)."""
    return EXPERIMENT.load_result(result_path(preset_name, EXPERIMENT.committed_dir(get_preset(preset_name).name)))


def critic_config(preset: Preset, variant: Variant, obs_dim: int, action_dim: int) -> iql.IQLConfig:
    return iql.IQLConfig(obs_dim=obs_dim, action_dim=action_dim, hidden_dims=variant.hidden_dims,
                         discount=preset.discount, expectile=preset.expectile, polyak=preset.polyak)  # fmt: skip


def read_critics(states, config, layout, sample_xy, sample_obs, grid) -> dict:
    """The readings of every seed's critic (module docstring) on the fixed sample."""
    seeds = jax.tree_util.tree_leaves(states)[0].shape[0]
    members = [jax.tree_util.tree_map(lambda x, s=s: x[s], states) for s in range(seeds)]
    v = np.stack([np.asarray(iql.state_values(m, sample_obs, config=config)) for m in members])
    q_max = np.stack([np.asarray(iql.grid_max_q(m, sample_obs, grid, config=config)[0]) for m in members])
    path_v, _ = value_map.along_path(v, layout, sample_xy)
    path_q, _ = value_map.along_path(q_max, layout, sample_xy)
    table = value_map.by_distance(v, value_map.goal_distances(layout, sample_xy))
    dist = np.arange(1, path_v.shape[1] + 1)
    return dict(
        path_v=path_v.round(3).tolist(), path_q_max=path_q.round(3).tolist(),
        v_by_distance=table["mean"].round(3).tolist(), distances=table["distance"].tolist(),
        path_rank=[value_map.rank_correlation(dist, row) for row in path_v],
    )  # fmt: skip


def run(preset, *, folder=None, seed: int = 0, data_dir=None, progress: bool = True, log=print) -> dict:
    """Train and read every variant of `preset` (module docstring); writes and returns the result."""
    preset = get_preset(preset)
    t0 = time.perf_counter()
    env_name, task_id = offline_rl.parse_task(preset.task)
    raw, recipe, train_path = ogbench_data.generate_and_load(
        env_name, preset.task, num_episodes=preset.num_episodes, data_dir=data_dir, seed=seed, progress=progress
    )
    data = {k: np.asarray(raw[k], np.float32) for k in iql.TRANSITION_KEYS}
    layout = value_map.maze_layout(env_name, task_id)
    xy = data["observations"][:, :2]
    g, reaches = value_map.returns_to_go(raw["rewards"], raw["masks"], raw["terminals"], discount=preset.discount)
    idx = np.sort(np.random.default_rng(seed).choice(len(xy), size=min(preset.sample_size, len(xy)), replace=False))
    sample_obs = jnp.asarray(data["observations"][idx])
    path_counts = value_map.path_cells(layout, xy[idx]).sum(axis=1)
    grid = iql.action_grid(data["actions"].shape[1])
    device_data = {k: jnp.asarray(v) for k, v in data.items()}
    result_file = result_path(preset.name, folder)
    dataset_sha256 = file_sha256(train_path)
    dataset_arrays_sha256 = npz_arrays_sha256(train_path)  # the data, whatever the file's bytes
    variants = {}
    for variant in preset.variants:
        config = critic_config(preset, variant, data["observations"].shape[1], data["actions"].shape[1])
        learner = iql.IQLLearner(config, TrainConfig(batch_size=variant.batch_size, learning_rate=preset.learning_rate))
        slug = "x".join(map(str, variant.hidden_dims)) + f"-b{variant.batch_size}"
        run_folder = protocol.RunFolder(result_file.with_suffix("") / slug, dict(
            preset=dataclasses.asdict(preset), variant=dataclasses.asdict(variant), seed=seed,
            dataset_sha256=dataset_sha256))  # fmt: skip
        key_init, key_train = jax.random.split(jax.random.PRNGKey(seed))
        states = create_runs(learner, jax.random.split(key_init, preset.num_seeds))
        readings = {}

        def on_stop(step, states, config=config, run_folder=run_folder, readings=readings, variant=variant):
            readings[step] = run_folder.cached(f"step_{step:08d}", lambda: read_critics(
                states, config, layout, xy[idx], sample_obs, grid))  # fmt: skip
            ranks = ", ".join(f"{r:+.2f}" for r in readings[step]["path_rank"])
            log(f"  critic {variant.name}, step {step:,}: rank correlation of V with path distance by seed {ranks}")

        stops = [st for st in preset.stops if st <= variant.num_steps]
        t1 = time.perf_counter()
        start = run_folder.train.latest() or 0
        for step in stops:  # readings of steps passed before a resume are read back from their cache
            if step <= start and run_folder.eval_file(f"step_{step:08d}").is_file():
                readings[step] = load_json(run_folder.eval_file(f"step_{step:08d}"))
        states, losses = train_resumable(
            learner, states, device_data, jax.random.split(key_train, preset.num_seeds), num_steps=variant.num_steps,
            batch_size=variant.batch_size, checkpoints=run_folder.train, checkpoint_every=preset.checkpoint_every,
            steps_per_call=preset.steps_per_call, stops=stops, on_stop=on_stop, progress=progress,
            desc=f"critic {variant.name}: {preset.num_seeds} seeds")  # fmt: skip
        if stops[-1] not in readings:  # resumed from the last checkpoint with its reading lost
            on_stop(stops[-1], states)
        variants[variant.name] = dict(
            variant=dataclasses.asdict(variant),
            readings={str(k): readings[k] for k in stops},
            loss_every_100=np.asarray(losses, np.float64)[:, ::100].round(4).tolist(),
            seconds=round(time.perf_counter() - t1, 1),
        )
    result = dict(
        task=preset.task, env_name=env_name, task_id=task_id, preset=dataclasses.asdict(preset), seed=seed,
        path=layout["path"].tolist(), path_distance=list(range(1, len(layout["path"]) + 1)),
        path_sample_counts=path_counts.tolist(), grid_points=int(len(grid)),
        data_best_return=value_map.path_returns(layout, xy, g, reaches).round(3).tolist(),
        data_median_return=value_map.path_returns(layout, xy, g, reaches, np.median).round(3).tolist(),
        variants=variants,
        dataset_recipe=recipe, dataset_sha256=dataset_sha256, dataset_arrays_sha256=dataset_arrays_sha256,
        seconds=round(time.perf_counter() - t0, 1),
        device=device_description(), jax_version=jax.__version__, commit=git_commit(),
    )  # fmt: skip
    protocol.save_result(result, result_file)
    shutil.rmtree(result_file.with_suffix(""), ignore_errors=True)  # the variants' checkpoints and readings
    return result


def obtain(preset, *, reuse: bool = False, folder=None, seed: int = 0, data_dir=None, progress=True, log=print):
    """The result notebook 05 reads (`protocol.obtain`): loaded when reused or made by this clean commit, else run."""
    preset = get_preset(preset)
    result_file = result_path(preset.name, folder)
    return protocol.obtain(
        f"critic budget {preset.task}", result_file, reuse=reuse, load=lambda: EXPERIMENT.load_result(result_file),
        discard=lambda: shutil.rmtree(result_file.with_suffix(""), ignore_errors=True),
        run=lambda: run(preset, folder=folder, seed=seed, data_dir=data_dir, progress=progress, log=log), log=log,
    )  # fmt: skip


def ordered(result: dict, variant: str, step: int | None = None, threshold: float = -0.9) -> bool:
    """Whether `variant`'s path values at `step` (default: its last) are ordered by distance on every seed."""
    readings = result["variants"][variant]["readings"]
    step = max(int(k) for k in readings) if step is None else step
    return all(r <= threshold for r in readings[str(step)]["path_rank"])


def summary_line(result: dict, threshold: float = -0.9) -> str:
    """The Summary's sentence on the check (numbers from the result): the data's best returns along the path, each
    variant's rank correlation by budget (mean over seeds, min..max), and at which budgets its path values are
    ordered on every seed (`ordered`)."""
    best = result["data_best_return"]
    parts = []
    for name, var in result["variants"].items():
        steps = sorted(int(k) for k in var["readings"])
        ranks = [np.asarray(var["readings"][str(st)]["path_rank"], float) for st in steps]
        by_step = ", ".join(f"{st:,} steps {r.mean():+.2f} ({r.min():+.2f} to {r.max():+.2f})"
                            for st, r in zip(steps, ranks, strict=True))  # fmt: skip
        done = [f"{st:,}" for st in steps if ordered(result, name, st, threshold)]
        verdict = f"ordered on every seed from {done[0]} steps" if done else "not ordered on every seed at any budget"
        last = np.asarray(var["readings"][str(steps[-1])]["path_v"], float).mean(axis=0)
        parts.append(f"{name}: rank correlation {by_step}; {verdict} (V along the path at {steps[-1]:,} steps, "
                     f"nearest first: {', '.join(f'{x:.0f}' for x in last)})")  # fmt: skip
    return (
        f"the data's best return from the path's cells falls from {best[0]:.0f} ({result['path_distance'][0]} "
        f"cell) to {best[-1]:.0f} ({result['path_distance'][-1]} cells); critic alone, "
        + "; ".join(parts)
        + f" (ordered: rank correlation <= {threshold:g})"
    )
