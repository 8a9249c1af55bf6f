"""Notebook 05's experiment: IQL + AWR vs CFGRL on OGBench single-task offline RL (paper Table 2 and Figure 3).

One run per (task, preset): the locally generated navigate dataset, relabelled by OGBench for one task
(`cfgrl_core.ogbench.singletask`), trains S seeds of `CriticWithActors` (`cfgrl_core.agents.offline`), each seed
one IQL critic with every actor extracted from it at the same time:

  cfgrl           the CFGRL flow actor, three-way labels {null, A < 0, A >= 0} (the paper), ONE training, sampled at
                  every w of `preset.ws` (w = 0 is flow BC, w = 1 filtered BC)
  awr_gaussian    the paper's AWR baseline: one Gaussian actor per 1/beta in `preset.inv_betas`, mean action
  awr_flow        AWR's weighted loss on CFGRL's own flow network, one per 1/beta (`preset.extra_tasks` only)
  cfgrl_two_pass  CFGRL with the authors' ExORL two-pass labels (`preset.extra_tasks` only)

The same run is evaluated at `checkpoint_fractions` of its steps (a budget curve), on `episodes` test episodes per
seed and evaluated value; at the last step also on `val_episodes` validation episodes with other env seeds,
on which w (CFGRL) and 1/beta (AWR) are chosen per seed (ties to the smaller value). Test episodes use the same env
seeds and policy keys for every seed, w and 1/beta (common random numbers). Tasks in `path_start_tasks` are also
evaluated, at the last step, from each cell of their shortest path (`singletask.path_starts`, our variant: how
far back from the goal the learned values guide the actors), with validation episodes from the same starts for
choosing w and 1/beta there. Runs checkpoint every
`checkpoint_every` steps and cache each finished evaluation, so a killed run resumes where it stopped.

Result JSON (results/offline_rl/<preset>/<task>.json, where `protocol` puts every result): success arrays indexed
[seed][episode][value] (path starts: [seed][start][episode][value], under "path_starts"); label statistics of the
final critics over the whole dataset; the provenance. Beside it, <task>/weights/ holds the final critics and CFGRL
and Gaussian-AWR actors (seed-stacked; a notebook's run keeps only `NOTEBOOK_SEEDS`, the seeds notebook 05 reads,
and its config.json says which under "saved_seeds"), and <task>/sample.npz a fixed subsample of transitions with
every seed's Q, V and A (the notebook's label and gradient figures).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from cfgrl_core.agents import awr, cfgrl_actor, iql
from cfgrl_core.agents.offline import Actor, CriticWithActors
from cfgrl_core.checks import check_nonnegative_int
from cfgrl_core.experiments import protocol, stats
from cfgrl_core.experiments.resumable import checkpoint_steps, train_resumable
from cfgrl_core.io.atomic import atomic_write_bytes
from cfgrl_core.io.checkpoints import load_json, restore_pytree, save_weights_folder
from cfgrl_core.io.provenance import device_description, file_sha256, git_commit, npz_arrays_sha256
from cfgrl_core.ogbench import datasets as ogbench_data
from cfgrl_core.ogbench import evaluation, singletask
from cfgrl_core.train import TrainConfig, create_runs

INV_BETAS = (0.0, 1.0, 3.0, 10.0, 30.0)  # AWR: one training each (1/beta = 0 is BC)
# The seeds whose weights notebook 05 reads (critic, CFGRL and AWR actors of seed 0: its label check, gradient figure
# and slider); `obtain` keeps only these (about a quarter of the bytes of four seeds), the results keep every seed.
NOTEBOOK_SEEDS = (0,)
WS = (0.0, 0.5, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0)  # CFGRL: one training, all of these at sampling time

# Paper Table 2 (success %, 4 seeds, mean ± std; AWR and CFGRL each at the best value of its sweep), as in
# shared/reference/cfgrl.md §4.2. Keyed by our task names (the default task of each dataset).
PAPER_TABLE2 = {
    "pointmaze-large-navigate-singletask-v0": {"AWR": (70.0, 25.0), "CFGRL": (100.0, 0.0)},
    "pointmaze-teleport-navigate-singletask-v0": {"AWR": (3.0, 7.0), "CFGRL": (57.0, 7.0)},
    "cube-single-play-singletask-v0": {"AWR": (85.0, 8.0), "CFGRL": (82.0, 3.0)},
}


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    tasks: tuple  # single-task dataset names, e.g. "pointmaze-large-navigate-singletask-v0" (or "-task3-v0")
    extra_tasks: tuple  # the tasks that also train awr_flow and cfgrl_two_pass
    num_episodes: int | None  # dataset episodes; None = OGBench's official size (1000 x 1001 for pointmaze)
    critic_dims: tuple  # IQL value MLPs
    actor_dims: tuple  # the flow actors' vector field
    gaussian_dims: tuple  # the Gaussian AWR actor's mean MLP
    batch_size: int
    num_steps: int  # joint critic + actor steps per seed
    num_seeds: int
    episodes: int  # test episodes per seed and value at the last step
    val_episodes: int  # validation episodes per seed and value (last step), for choosing w and 1/beta
    checkpoint_episodes: int  # test episodes at the earlier checkpoints
    checkpoint_fractions: tuple = (0.25, 0.5, 1.0)
    inv_betas: tuple = INV_BETAS
    ws: tuple = WS
    flow_steps: int = 16
    max_steps: int | None = None  # episode cap; None = the env's (1000 for pointmaze)
    learning_rate: float = 3e-4
    discount: float = 0.99
    expectile: float = 0.9
    polyak: float = 0.005
    steps_per_call: int = 1000
    checkpoint_every: int = 10_000
    sample_size: int = 4096  # transitions kept with their Q, V, A for the notebook
    path_start_tasks: tuple = ()  # tasks also evaluated from every cell of their shortest path (our variant)
    path_episodes: int = 3  # episodes per path start, seed and value (test and validation alike), at the last step


MEDIUM = "pointmaze-medium-navigate-singletask-v0"
MEDIUM3 = "pointmaze-medium-navigate-singletask-task3-v0"
LARGE = "pointmaze-large-navigate-singletask-v0"
TELEPORT = "pointmaze-teleport-navigate-singletask-v0"
CUBE = "cube-single-play-singletask-v0"

PRESETS = {
    # Seconds, for the tests: the numbers mean nothing beyond "the pipeline runs".
    "fast": Preset(
        name="fast",
        tasks=(MEDIUM,),
        extra_tasks=(MEDIUM,),
        num_episodes=20,
        critic_dims=(32, 32),
        actor_dims=(32, 32),
        gaussian_dims=(32,),
        batch_size=64,
        num_steps=300,
        num_seeds=2,
        episodes=2,
        val_episodes=2,
        checkpoint_episodes=1,
        inv_betas=(0.0, 3.0),
        ws=(0.0, 1.0, 3.0),
        flow_steps=4,
        max_steps=40,
        steps_per_call=100,
        checkpoint_every=100,
        sample_size=256,
        path_start_tasks=(MEDIUM,),
        path_episodes=1,
    ),
    # The paper's rows at what `make figures` affords on a 2-core CPU (each result's `timings` holds what it cost):
    # 2x128 critic, 3x128 actors, batch 128, 30k joint steps, far below the paper's sizes; read with the budget curve.
    # No extra actors and no path starts (they cost the most rollouts): the `paper` preset trains the extras on large.
    # AWR at 1/beta = 0 (the Gaussian BC, the base case of Figure 3), 10 (OGBench's default, where the paper finds AWR
    # saturating) and 30 (the top of the paper's sweep): each temperature costs about a tenth of a joint step here, and
    # dropping 1 and 3 of the paper's sweep brings notebook 05 near its 40-minute share of `make figures`.
    "cpu": Preset(
        name="cpu",
        tasks=(LARGE, TELEPORT),
        extra_tasks=(),
        num_episodes=None,
        critic_dims=(128, 128),
        actor_dims=(128, 128, 128),
        gaussian_dims=(128, 128),
        batch_size=128,
        num_steps=30_000,
        num_seeds=4,
        episodes=10,
        val_episodes=10,
        checkpoint_episodes=4,
        inv_betas=(0.0, 10.0, 30.0),
    ),
    # The mechanism row (issue 27), trained by `make figures`: OGBench's default task of pointmaze-medium (task 1) at
    # widths where the IQL critic, CFGRL and AWR are known to work on our data (3x256 networks), a check that the
    # methods work at all before the paper's tasks are read. Batch 128 (half the known-good 256, about half the cost
    # of a joint step) and 50k joint steps (nothing succeeded before 25k at batch 256); AWR at two temperatures, 1 and
    # 10 (OGBench's default; BC is CFGRL's w = 0): each Gaussian actor adds to the cost of every step
    # (`benchmarks/bench_offline.py`). 1/beta = 3 was trained too until commit 83b6805
    # (results/offline_rl/mechanism-3betas/): it never won the validation there. No extra actors and no path starts
    # (their cost).
    "mechanism": Preset(
        name="mechanism",
        tasks=(MEDIUM,),
        extra_tasks=(),
        num_episodes=None,
        critic_dims=(256, 256, 256),
        actor_dims=(256, 256, 256),
        gaussian_dims=(256, 256, 256),
        batch_size=128,
        num_steps=50_000,
        num_seeds=4,
        episodes=10,
        val_episodes=10,
        checkpoint_episodes=4,
        inv_betas=(1.0, 10.0),
    ),
    # The paper's sizes (shared/reference/cfgrl.md §2, single-task column): a GPU job, the same runner.
    "paper": Preset(
        name="paper",
        tasks=(LARGE, TELEPORT, CUBE),
        extra_tasks=(LARGE,),
        num_episodes=None,
        critic_dims=(512,) * 4,
        actor_dims=(512,) * 4,
        gaussian_dims=(512,) * 4,
        batch_size=1024,
        num_steps=1_000_000,
        num_seeds=4,
        episodes=20,
        val_episodes=20,
        checkpoint_episodes=10,
        steps_per_call=5000,
        checkpoint_every=50_000,
    ),
    # cube-single at the cpu sizes (its data alone take about 45 min to generate on one core).
    "cube": Preset(
        name="cube",
        tasks=(CUBE,),
        extra_tasks=(),
        num_episodes=None,
        critic_dims=(128, 128),
        actor_dims=(128, 128, 128),
        gaussian_dims=(128, 128),
        batch_size=256,
        num_steps=40_000,
        num_seeds=4,
        episodes=10,
        val_episodes=10,
        checkpoint_episodes=5,
    ),  # fmt: skip
}


EXPERIMENT = protocol.Experiment("offline_rl", PRESETS, script="scripts/run_offline_rl.py")
get_preset = EXPERIMENT.preset  # a Preset by name ("fast", "cpu", "paper", "cube") or a Preset itself
results_dir = EXPERIMENT.results_dir  # results/offline_rl/<preset> (or $CFGRL_RESULTS_DIR/offline_rl/<preset>)


def parse_task(task: str) -> tuple[str, int]:
    """'pointmaze-large-navigate-singletask-v0' -> ('pointmaze-large-navigate-v0', 1) (dataset, task id);
    '...-singletask-task3-v0' -> (..., 3)."""
    parts = task.split("-") if isinstance(task, str) else []
    if "singletask" not in parts or parts[-1] != "v0":
        raise ValueError(f"not a single-task name such as {LARGE!r}: {task!r}")
    i = parts.index("singletask")
    rest = parts[i + 1 : -1]
    if len(rest) > 1 or (rest and not (rest[0].startswith("task") and rest[0][4:].isdigit())):
        raise ValueError(f"not a single-task name such as {LARGE!r}: {task!r}")
    env_name = "-".join(parts[:i] + ["v0"])
    ogbench_data.check_env_name(env_name)
    task_id = int(rest[0][4:]) if rest else singletask.default_task_id(env_name)
    if not 1 <= task_id <= singletask.NUM_TASKS:
        raise ValueError(f"{task!r}: OGBench's tasks are task1 .. task{singletask.NUM_TASKS}, not task{task_id}")
    return env_name, task_id


def result_path(preset_name: str, task: str, root=None) -> Path:
    """<results_dir(preset) or root>/<task>.json; the task's run folder (weights, sample) is <task>/ beside it."""
    return (results_dir(preset_name) if root is None else Path(root)) / f"{task}.json"


def load_task_data(task: str, preset: Preset, *, data_dir=None, seed: int = 0, progress: bool = True):
    """(transitions, recipe, train path) of a task: the dataset generated if missing, relabelled by OGBench."""
    env_name, _ = parse_task(task)
    train_ds, recipe, train_path = ogbench_data.generate_and_load(
        env_name, task, num_episodes=preset.num_episodes, data_dir=data_dir, seed=seed, progress=progress
    )
    return singletask.transitions(train_ds), recipe, train_path


def configs(preset: Preset, obs_dim: int, action_dim: int) -> dict:
    """The critic's and every actor's config for a dataset's sizes."""
    return dict(
        critic=iql.IQLConfig(obs_dim=obs_dim, action_dim=action_dim, hidden_dims=preset.critic_dims,
                             discount=preset.discount, expectile=preset.expectile, polyak=preset.polyak),
        cfgrl=cfgrl_actor.CFGRLActorConfig(obs_dim=obs_dim, action_dim=action_dim, hidden_dims=preset.actor_dims),
        cfgrl_two_pass=cfgrl_actor.CFGRLActorConfig(obs_dim=obs_dim, action_dim=action_dim,
                                                    hidden_dims=preset.actor_dims, label_scheme="two_pass"),
        awr_gaussian=awr.AWRConfig(action_dim=action_dim, obs_dim=obs_dim, policy="gaussian",
                                   hidden_dims=preset.gaussian_dims),
        awr_flow=awr.AWRConfig(action_dim=action_dim, obs_dim=obs_dim, policy="flow", hidden_dims=preset.actor_dims),
    )  # fmt: skip


def make_learner(preset: Preset, cfgs: dict, extras: bool) -> CriticWithActors:
    tc = TrainConfig(batch_size=preset.batch_size, learning_rate=preset.learning_rate)
    actors = [
        Actor("cfgrl", cfgrl_actor.CFGRLActorLearner(cfgs["cfgrl"], tc)),
        Actor("awr_gaussian", awr.AWRLearner(cfgs["awr_gaussian"], tc), run_values=preset.inv_betas),
    ]
    if extras:
        actors += [
            Actor("awr_flow", awr.AWRLearner(cfgs["awr_flow"], tc), run_values=preset.inv_betas),
            Actor("cfgrl_two_pass", cfgrl_actor.CFGRLActorLearner(cfgs["cfgrl_two_pass"], tc)),
        ]
    return CriticWithActors(iql.IQLLearner(cfgs["critic"], tc), tuple(actors))


def _member(tree, *index):
    return jax.tree_util.tree_map(lambda x: x[index], tree)


def path_env_key(task: str) -> str:
    """The EnvPool name of a task's path-start env (`singletask.path_start_env`)."""
    return f"{task}:path-starts"


PATH_ACTORS = ("cfgrl", "awr_gaussian")  # the actors also evaluated from the path starts (rollouts cost the most)


def actor_jobs(preset, params: dict, cfgs) -> tuple[list, list]:
    """The `evaluation.evaluate_many` jobs of the actors in `params` ({name: seed-stacked parameters}): one
    (RowPolicy, values) per seed of a CFGRL actor (its rows: the preset's w) and per seed and 1/beta of an AWR actor;
    and each job's slot (name, seed, beta index or None)."""
    jobs, slots = [], []  # every actor of every seed (and every AWR temperature) in one lockstep
    for name, stacked in params.items():
        for s in range(preset.num_seeds):
            one = _member(stacked, s)
            if name.startswith("cfgrl"):
                jobs.append((singletask.cfgrl_policy(one, cfgs[name], preset.flow_steps), preset.ws))
                slots.append((name, s, None))
            else:
                for b in range(len(preset.inv_betas)):
                    policy = singletask.awr_policy(_member(one, b), cfgs[name], preset.flow_steps)
                    jobs.append((policy, (0.0,)))
                    slots.append((name, s, b))
    return jobs, slots


def evaluate_actors(task, preset, states, cfgs, *, episodes, seed, pool, progress, starts=None) -> dict:
    """Success of every actor of `states` (seed-stacked JointState): [S, episodes, values] on the task, or, with
    `starts` (task_info dicts, `singletask.path_starts`), [S, starts, episodes, values] from those starts."""
    env_name, task_id = parse_task(task)
    where = dict(task_ids=(task_id,)) if starts is None else dict(task_infos=starts)
    if starts is not None and pool.size(path_env_key(task)) == 0:
        pool.register(path_env_key(task), lambda: singletask.path_start_env(env_name, task_id))
    target = task if starts is None else path_env_key(task)
    common = dict(episodes_per_task=episodes, seed=seed, max_steps=preset.max_steps, pool=pool, progress=progress,
                  **where)  # fmt: skip
    pick = (lambda success: success[0]) if starts is None else (lambda success: success)
    names = [name for name in states.actors if starts is None or name in PATH_ACTORS]
    jobs, slots = actor_jobs(preset, {name: states.actors[name].params for name in names}, cfgs)
    results = dict(zip(slots, evaluation.evaluate_many(target, jobs, **common), strict=True))
    out = {}
    for name in names:
        per_seed = []
        for s in range(preset.num_seeds):
            if name.startswith("cfgrl"):
                per_seed.append(pick(results[name, s, None].success))  # [E, W] or [T, E, W]
            else:
                cols = [pick(results[name, s, b].success)[..., 0] for b in range(len(preset.inv_betas))]
                per_seed.append(np.stack(cols, axis=-1))  # [E, B] or [T, E, B]
        out[name] = np.stack(per_seed).astype(int).tolist()
    return out


def choose(val_success, values) -> list[float]:
    """Per seed, the value with the highest validation success, ties to the smallest
    (`stats.choose_by_validation`). [S, E, V] -> [S]."""
    return [float(v) for v in stats.choose_by_validation(val_success, values)]


def label_statistics(states, cfgs, data, num_seeds: int) -> tuple[dict, np.ndarray]:
    """Over the whole dataset, per critic seed: the fraction of A >= 0; for each pair of seeds, how often their
    labels differ; quantiles of A. Returns (JSON-able stats, A [S, N] float32)."""
    adv = np.stack([
        iql.advantages(_member(states.critic, s), data["observations"], data["actions"], config=cfgs["critic"])
        for s in range(num_seeds)
    ])  # fmt: skip
    labels = adv >= 0
    disagree = (labels[:, None, :] != labels[None, :, :]).mean(axis=-1)
    stats = dict(
        positive_fraction=labels.mean(axis=1).round(5).tolist(),
        disagreement=disagree.round(5).tolist(),
        advantage_quantiles={
            str(q): np.quantile(adv, q, axis=1).round(4).tolist() for q in (0.01, 0.1, 0.5, 0.9, 0.99)
        },
    )
    return stats, adv


def save_sample(path, data, states, cfgs, adv, size: int, seed: int) -> Path:
    """A fixed subsample of transitions with every seed's A, Q and V, and max_a Q over an action grid (`q_max`, the
    grid `q_max_grid`: `iql.grid_max_q`) (npz, atomic)."""
    n = len(data["observations"])
    idx = np.sort(np.random.default_rng(seed).choice(n, size=min(size, n), replace=False))
    obs, act = data["observations"][idx], data["actions"][idx]
    q = np.stack([np.asarray(iql.q_values(_member(states.critic, s), obs, act, config=cfgs["critic"]))
                  for s in range(len(adv))])  # fmt: skip
    grid = iql.action_grid(act.shape[1])
    q_max = np.stack([np.asarray(iql.grid_max_q(_member(states.critic, s), obs, grid, config=cfgs["critic"])[0])
                      for s in range(len(adv))])  # fmt: skip
    arrays = dict(index=idx, observations=obs, actions=act, rewards=data["rewards"][idx], masks=data["masks"][idx],
                  advantages=adv[:, idx], q=q, v=q - adv[:, idx], q_max=q_max, q_max_grid=grid)  # fmt: skip
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


def run_config(task: str, preset: Preset, seed: int, dataset_sha256: str) -> dict:
    return dict(task=task, preset=dataclasses.asdict(preset), seed=seed, dataset_sha256=dataset_sha256)


def run_task(task: str, preset, *, seed: int = 0, data_dir=None, run_dir=None, progress=True, log=print,
             checkpoints: bool = True):  # fmt: skip
    """Train, evaluate and summarise one task (module docstring). Returns (result, final JointState, configs, the
    final critics' advantages [S, N], the transitions).
    run_dir: the run folder (resumable: training checkpoints and finished evaluations); checkpoints=False keeps
    only the evaluations there (a machine that is discarded after the run: `scripts/gpu_job.py`)."""
    preset = get_preset(preset)
    check_nonnegative_int("seed", seed)
    timings = {}
    t0 = time.perf_counter()
    data, recipe, train_path = load_task_data(task, preset, data_dir=data_dir, seed=seed, progress=progress)
    dataset_sha256 = file_sha256(train_path)
    dataset_arrays_sha256 = npz_arrays_sha256(train_path)  # the data, whatever the file's bytes
    timings["data_s"] = time.perf_counter() - t0
    obs_dim, action_dim = data["observations"].shape[1], data["actions"].shape[1]
    cfgs = configs(preset, obs_dim, action_dim)
    learner = make_learner(preset, cfgs, extras=task in preset.extra_tasks)
    folder = None if run_dir is None else protocol.RunFolder(run_dir, run_config(task, preset, seed, dataset_sha256))
    resumed_from = None if folder is None else folder.train.latest()
    key_init, key_train = jax.random.split(jax.random.PRNGKey(seed))
    s = preset.num_seeds
    states = create_runs(learner, jax.random.split(key_init, s))
    keys = jax.random.split(key_train, s)
    device_data = {k: jnp.asarray(v) for k, v in data.items()}
    steps = checkpoint_steps(preset)
    evals, val, path_evals, path_val = {}, {}, {}, {}
    env_name, task_id = parse_task(task)
    starts = singletask.path_starts(env_name, task_id) if task in preset.path_start_tasks else None
    eval_seconds = [0.0]
    since = {"time": time.perf_counter(), "step": 0}  # the end of the last stop: what the log's training time counts
    pool = evaluation.EnvPool()

    def cached(name, run):
        return protocol.cached_or_run(folder, name, run)

    def evaluate(step, states):
        t = time.perf_counter()
        trained, steps_done = t - since["time"], step - since["step"]
        episodes = preset.episodes if step == steps[-1] else preset.checkpoint_episodes
        run = lambda: evaluate_actors(task, preset, states, cfgs, episodes=episodes, seed=seed, pool=pool,
                                      progress=progress)  # fmt: skip
        evals[step] = cached(f"step_{step:08d}", run)
        if step == steps[-1]:
            run_val = lambda: evaluate_actors(task, preset, states, cfgs, episodes=preset.val_episodes,
                                              seed=seed + 10_000, pool=pool, progress=progress)  # fmt: skip
            val.update(cached("validation", run_val))
        if starts is not None and step == steps[-1]:  # the last step only: rollouts from many starts cost the most
            path_evals[step] = cached(f"path_step_{step:08d}", lambda: evaluate_actors(
                task, preset, states, cfgs, episodes=preset.path_episodes, seed=seed, pool=pool, progress=progress,
                starts=starts))  # fmt: skip
            path_val.update(cached("path_validation", lambda: evaluate_actors(
                    task, preset, states, cfgs, episodes=preset.path_episodes, seed=seed + 10_000, pool=pool,
                    progress=progress, starts=starts)))  # fmt: skip
        curve = np.asarray(evals[step]["cfgrl"], float).mean(axis=(0, 1))
        awr_curve = np.asarray(evals[step]["awr_gaussian"], float).mean(axis=(0, 1))
        by_w = " ".join(f"{w:g}:{c:.2f}" for w, c in zip(preset.ws, curve, strict=True))
        by_beta = " ".join(f"{b:g}:{c:.2f}" for b, c in zip(preset.inv_betas, awr_curve, strict=True))
        log(f"  {task} step {step}: CFGRL by w {by_w} | AWR by 1/beta {by_beta}")
        log(f"  {task} step {step}: {steps_done:,} steps trained in {trained:.0f} s (compiles and checkpoints "
            f"included; {1e3 * trained / max(steps_done, 1):.2f} ms per step, {s} seeds together), evaluated in "
            f"{time.perf_counter() - t:.0f} s")  # fmt: skip
        if starts is not None and step in path_evals:
            by_d = lambda name: " ".join(f"{c:.2f}" for c in np.asarray(path_evals[step][name], float).mean(
                axis=(0, 2)).max(axis=-1))  # fmt: skip
            log(
                f"  path starts by distance {[s_['distance'] for s_ in starts]}, best value: CFGRL {by_d('cfgrl')}"
                f" | AWR {by_d('awr_gaussian')}"
            )
        eval_seconds[0] += time.perf_counter() - t
        since.update(time=time.perf_counter(), step=step)

    t0 = time.perf_counter()
    try:
        if folder is not None:  # evaluations of checkpoints passed before a resume are read back from their cache
            start = folder.train.latest() or 0
            since["step"] = start
            for step in steps:
                if step <= start and folder.eval_file(f"step_{step:08d}").is_file():
                    evals[step] = load_json(folder.eval_file(f"step_{step:08d}"))
            if steps[-1] <= start and folder.eval_file("validation").is_file():
                val.update(load_json(folder.eval_file("validation")))
            for step in steps if starts is not None else ():
                if step <= start and folder.eval_file(f"path_step_{step:08d}").is_file():
                    path_evals[step] = load_json(folder.eval_file(f"path_step_{step:08d}"))
            if starts is not None and steps[-1] <= start and folder.eval_file("path_validation").is_file():
                path_val.update(load_json(folder.eval_file("path_validation")))
        states, losses = train_resumable(
            learner, states, device_data, keys, num_steps=preset.num_steps, batch_size=preset.batch_size,
            checkpoints=folder.train if folder is not None and checkpoints else None,
            checkpoint_every=preset.checkpoint_every,
            steps_per_call=preset.steps_per_call, stops=steps, on_stop=evaluate, progress=progress,
            desc=f"training {s} seeds, {task.removesuffix('-v0')}",
        )  # fmt: skip
        if steps[-1] not in evals:  # resumed from the last step's checkpoint with its evaluation lost
            evaluate(steps[-1], states)
    finally:
        pool.close()
    timings["train_and_eval_s"] = time.perf_counter() - t0
    timings["eval_s"] = eval_seconds[0]
    t0 = time.perf_counter()
    labels, adv = label_statistics(states, cfgs, data, s)
    timings["labels_s"] = time.perf_counter() - t0
    path = None
    if starts is not None:
        path = dict(starts=starts, episodes=preset.path_episodes, success={str(k): v for k, v in path_evals.items()},
                    val_success=path_val, chosen={name: choose(np.asarray(path_val[name]).reshape(
                        preset.num_seeds, -1, np.asarray(path_val[name]).shape[-1]),
                        preset.ws if name.startswith("cfgrl") else preset.inv_betas) for name in path_val})  # fmt: skip
    result = dict(
        task=task, env_name=env_name, task_id=task_id, preset=dataclasses.asdict(preset), seed=seed,
        ws=list(preset.ws), inv_betas=list(preset.inv_betas), checkpoint_steps=steps,
        actors=sorted(evals[steps[-1]]), trainings_per_seed={
            name: (1 if name.startswith("cfgrl") else len(preset.inv_betas)) for name in evals[steps[-1]]},
        success={str(k): v for k, v in evals.items()}, val_success=val,
        chosen={name: choose(val[name], preset.ws if name.startswith("cfgrl") else preset.inv_betas) for name in val},
        path_starts=path, labels=labels, loss_every_100=np.asarray(losses)[:, ::100].round(4).tolist(),
        num_transitions=int(len(data["observations"])), num_mask_zero=int((data["masks"] == 0).sum()),
        dataset_recipe=recipe, dataset_sha256=dataset_sha256, dataset_arrays_sha256=dataset_arrays_sha256,
        timings={k: round(v, 2) for k, v in timings.items()},
        resumed_from_step=resumed_from, device=device_description(), jax_version=jax.__version__, commit=git_commit(),
    )  # fmt: skip
    return result, states, cfgs, adv, data


def weights_of(states) -> dict:
    """The final weights kept for the notebook: the critics, CFGRL's and the Gaussian AWR actors (not flow AWR's nor
    the two-pass CFGRL's)."""
    return {"critic": jax.device_get(states.critic.params), "cfgrl": jax.device_get(states.actors["cfgrl"].params),
            "awr_gaussian": jax.device_get(states.actors["awr_gaussian"].params)}  # fmt: skip


def run_and_save(task: str, preset, folder=None, *, seed: int = 0, data_dir=None, progress=True, log=print,
                 weight_seeds=None) -> dict:  # fmt: skip
    """`run_task` in its run folder (resumable), then the result JSON, the weights and the sample; the training
    checkpoints and cached evaluations are deleted once those are written. Returns the result.
    folder: the preset's results folder (default `results_dir(preset)`): <folder>/<task>.json and <folder>/<task>/.
    weight_seeds: the seeds whose weights are kept (None: every seed; `obtain` keeps `NOTEBOOK_SEEDS`)."""
    preset = get_preset(preset)
    result_file = result_path(preset.name, task, folder)
    run_folder = result_file.with_suffix("")
    result, states, cfgs, adv, data = run_task(task, preset, seed=seed, data_dir=data_dir, run_dir=run_folder,
                                               progress=progress, log=log)  # fmt: skip
    meta = dict(task=task, preset=preset.name, seed=seed, num_seeds=preset.num_seeds, step=preset.num_steps,
                inv_betas=list(preset.inv_betas),
                dataset_sha256=result["dataset_sha256"], commit=result["commit"], device=result["device"],
                configs={k: dataclasses.asdict(v) for k, v in cfgs.items()})  # fmt: skip
    save_weights(run_folder / "weights", weights_of(states), meta, weight_seeds)
    save_sample(run_folder / "sample.npz", data, states, cfgs, adv, preset.sample_size, seed)
    protocol.save_result(result, result_file)
    protocol.clear_work(run_folder)
    return result


# Presets whose weights are not committed (.gitignore): notebook 05 reads only their result and sample.npz (the
# mechanism row's 3x256 weights would take 3.7 MB of the checkout's 35 MB).
RESULT_ONLY_PRESETS = ("mechanism",)


# Runs kept as a record, read by notebook 05 but not run again by `make figures` (their cost): each is a result and its
# sample.npz under results/offline_rl/<folder>/, with no weights. "cpu-earlier": the cpu tier before issue 27's
# restructure, medium task 3 at the cpu sizes with the extra actors and the path starts (commit 4076af0, 51 min on 2
# cores); "mechanism-b256": the mechanism row at batch 256 (commit 8f09f1f+dirty, about 50 min alone on 2 cores);
# "mechanism-3betas": the mechanism row with AWR at 1/beta = 1, 3 and 10 (commit 83b6805, 31.5 min on a 2-core Intel
# Xeon: its machine.json), before 3 was dropped from the preset for its cost; "mechanism-100k": the mechanism row
# trained on to 100k steps, twice its preset's (`scripts/run_offline_rl.py --preset mechanism --num-steps 100000`,
# commit d390178, 54 min on a 2-core AMD EPYC), whether the row's budget is where its curve has flattened.
RECORDED_RUNS = {"cpu-earlier": MEDIUM3, "mechanism-b256": MEDIUM, "mechanism-3betas": MEDIUM, "mechanism-100k": MEDIUM}


def _recorded_path(folder: str) -> Path:
    if folder not in RECORDED_RUNS:
        raise ValueError(f"no recorded run {folder!r}; the recorded runs are {sorted(RECORDED_RUNS)}")
    return EXPERIMENT.committed_dir(folder) / f"{RECORDED_RUNS[folder]}.json"


def recorded_run(folder: str) -> tuple[dict, dict]:
    """(result, sample) of one of `RECORDED_RUNS`, from the repository's committed results."""
    path = _recorded_path(folder)
    return load_result(path), load_sample(path)


def recorded_machine(folder: str) -> str | None:
    """The CPU a recorded run was made on, where its folder keeps it (machine.json: the device field of a result made
    before `device_description` named the CPU says only 'cpu (2 cores)'); None where it is not kept."""
    result_file = _recorded_path(folder)
    path = result_file.parent / "machine.json"
    if not path.is_file():
        return None
    kept, commit = json.loads(path.read_text()), load_result(result_file)["commit"]
    if kept["commit"] != commit:
        raise ValueError(f"{path} is for commit {kept['commit']}, the recorded result for {commit}")
    return kept["machine"]


def continues(longer: dict, shorter: dict) -> bool:
    """Whether `longer` is `shorter`'s training carried on: the same task, seed, data and preset but for the steps
    (and the name); a loss curve (every 100th step of every run, to the 4 decimals a result keeps) that starts with
    the whole of `shorter`'s; and the same test episodes at every checkpoint step both runs evaluated, as far as the
    one with fewer episodes there goes (a rollout depends only on its task, episode, value and seed, so episode e is
    the same rollout however many follow it). The key of step k does not depend on how many steps follow, so on one
    machine a longer run repeats a shorter one's steps exactly; on two CPUs whose arithmetic differs the runs part
    after some steps (the mechanism-3betas record), and then this is False although the code is the same. A result
    compares as saved: one fresh from `run_task` (the preset's tuples) equals its JSON (lists)."""
    longer, shorter = (json.loads(json.dumps(r)) for r in (longer, shorter))
    free = ("name", "num_steps")
    setup = lambda r: ([r[k] for k in ("task", "seed", "dataset_sha256")],  # noqa: E731
                       {k: v for k, v in r["preset"].items() if k not in free})  # fmt: skip
    a, b = np.asarray(longer["loss_every_100"]), np.asarray(shorter["loss_every_100"])
    if setup(longer) != setup(shorter) or a.shape[0] != b.shape[0] or a.shape[1] <= b.shape[1]:
        return False
    for step in (str(st) for st in shorter["checkpoint_steps"] if st in longer["checkpoint_steps"]):
        for name, episodes in shorter["success"][step].items():
            x, y = np.asarray(longer["success"][step][name]), np.asarray(episodes)  # [S, E, values]
            e = min(x.shape[1], y.shape[1])
            if not np.array_equal(x[:, :e], y[:, :e]):
                return False
    return bool(np.array_equal(a[:, : b.shape[1]], b))


def continues_text(longer: dict, shorter: dict, shorter_name: str) -> str:
    """`continues(longer, shorter)` in words, for the notebook's Summary and the README: `shorter_name` is how the text
    names the shorter run ("this run's", "the run above")."""
    if continues(longer, shorter):
        steps = shorter["checkpoint_steps"][-1]
        return f"its first {steps:,} steps repeat {shorter_name}: the same losses and test episodes"
    return f"made on other arithmetic than {shorter_name}: it does not repeat its steps"


def obtain(task: str, preset, folder=None, *, reuse: bool = False, seed: int = 0, data_dir=None, progress=True,
           log=print) -> dict:  # fmt: skip
    """The result a notebook needs (`protocol.obtain`): loaded when reuse=True or when made by this very commit of a
    clean tree, otherwise run (resuming an unfinished run folder; a finished result is done again from scratch), keeping
    the weights of `NOTEBOOK_SEEDS` only. folder: the preset's results folder (default `results_dir(preset)`). A
    preset of `RESULT_ONLY_PRESETS` counts as finished from its result and sample alone."""
    preset = get_preset(preset)
    result_file = result_path(preset.name, task, folder)
    run_folder = result_file.with_suffix("")
    needs = [run_folder / "sample.npz"] if preset.name in RESULT_ONLY_PRESETS else [run_folder / "weights"]
    return protocol.obtain(
        task, result_file, also=needs, reuse=reuse, load=lambda: load_result(result_file),
        discard=lambda: shutil.rmtree(run_folder, ignore_errors=True),
        run=lambda: run_and_save(task, preset, folder, seed=seed, data_dir=data_dir, progress=progress, log=log,
                                 weight_seeds=NOTEBOOK_SEEDS),
        log=log,
    )  # fmt: skip


def load_result(path) -> dict:
    return EXPERIMENT.load_result(path)


def saved_seeds(meta: dict) -> list[int]:
    """The seeds a weights folder holds, in the order of its leading axis: its record's "saved_seeds", or every seed
    of the run for weights saved whole (those written before seeds were trimmed)."""
    return [int(x) for x in meta.get("saved_seeds", range(int(meta["num_seeds"])))]


def select_seeds(params, positions) -> dict:
    """The entries `positions` of the leading (seed) axis of every array of `params`."""
    index = np.asarray(list(positions), int)
    return jax.tree_util.tree_map(lambda x: np.asarray(x)[index], params)


def save_weights(folder, params, meta: dict, seeds=None) -> Path:
    """The weights folder of a run: `params` (seed-stacked, every seed of meta["num_seeds"]) and meta as config.json;
    with `seeds`, only those seeds, and meta["saved_seeds"] says which."""
    if seeds is not None:
        num_seeds = int(meta["num_seeds"])
        seeds = [int(x) for x in seeds]
        if not seeds or len(set(seeds)) != len(seeds) or not all(0 <= x < num_seeds for x in seeds):
            raise ValueError(f"seeds to keep must be distinct seeds of the run's {num_seeds}, got {seeds}")
        params, meta = select_seeds(params, seeds), dict(meta, saved_seeds=seeds)
    return save_weights_folder(folder, params, meta, record_name="config.json")


def load_weights(result_file) -> tuple[dict, dict]:
    """(seed-stacked params {critic, cfgrl, awr_gaussian}, configs) of the finished run of `result_file`. The leading
    axis holds the seeds saved, position i seed `saved_seeds(meta)[i]` (a notebook's run: `NOTEBOOK_SEEDS`; one saved
    whole: every seed in order). A missing weights folder is a FileNotFoundError naming it."""
    folder = Path(result_file).with_suffix("") / "weights"
    if not (folder / "config.json").is_file() or not (folder / "params").is_dir():
        raise FileNotFoundError(
            f"no weights at {folder} (config.json and params/) for the result {result_file}: its run's weights were "
            "not kept; run it again (scripts/run_offline_rl.py --overwrite, or notebook 05 without "
            "CFGRL_REUSE_RESULTS) to make them"
        )  # fmt: skip
    meta = load_json(folder / "config.json")
    c = meta["configs"]
    cfgs = dict(critic=iql.IQLConfig(**c["critic"]), cfgrl=cfgrl_actor.CFGRLActorConfig(**c["cfgrl"]),
                awr_gaussian=awr.AWRConfig(**c["awr_gaussian"]))  # fmt: skip
    s, nb = len(saved_seeds(meta)), len(meta.get("inv_betas", INV_BETAS))
    like_critic = jax.vmap(lambda k: iql.init_iql_params(cfgs["critic"], k))(jax.random.split(jax.random.PRNGKey(0), s))
    tc = TrainConfig()
    like_cfgrl = jax.vmap(lambda k: cfgrl_actor.CFGRLActorLearner(cfgs["cfgrl"], tc).create(k).params)(
        jax.random.split(jax.random.PRNGKey(0), s))  # fmt: skip
    one_awr = awr.init_policy_params(cfgs["awr_gaussian"], jax.random.PRNGKey(0))
    like_awr = jax.tree_util.tree_map(lambda x: np.zeros((s, nb, *x.shape), x.dtype), one_awr)
    like = jax.device_get({"critic": like_critic, "cfgrl": like_cfgrl, "awr_gaussian": like_awr})
    return restore_pytree(folder / "params", like), cfgs


def trim_weights(result_file, seeds=NOTEBOOK_SEEDS) -> Path:
    """Rewrite the weights folder of a finished run keeping only `seeds` (which it must hold): how the committed
    `cpu` weights were cut down to the seeds notebook 05 reads. Returns the folder."""
    folder = Path(result_file).with_suffix("") / "weights"
    params, _ = load_weights(result_file)
    meta = load_json(folder / "config.json")
    held = saved_seeds(meta)
    missing = [int(x) for x in seeds if int(x) not in held]
    if missing:
        raise ValueError(f"{folder} holds the weights of seeds {held}, not of {missing}")
    kept = select_seeds(params, [held.index(int(x)) for x in seeds])
    return save_weights_folder(folder, kept, dict(meta, saved_seeds=[int(x) for x in seeds]), record_name="config.json")


def load_sample(result_file) -> dict:
    """The transitions with every seed's Q, V and A saved beside a finished result (<task>/sample.npz)."""
    with np.load(Path(result_file).with_suffix("") / "sample.npz") as f:
        return {k: f[k] for k in f.files}


def sample_q_max(sample: dict, weights=None, cfgs=None) -> tuple[np.ndarray, list[int]]:
    """max_a min_k Q(s, a) over the action grid on a sample's states, per critic seed: the sample's own `q_max` (every
    seed, saved by runs since the grid was added), else computed from `weights` (`load_weights`: the seeds kept,
    seed 0 for a notebook's run). Returns ([S', N], the seeds)."""
    if "q_max" in sample:
        return np.asarray(sample["q_max"]), list(range(len(sample["q_max"])))
    if weights is None or cfgs is None:
        raise ValueError("this sample has no q_max (saved before the action grid): pass the run's weights and configs")
    grid = iql.action_grid(sample["actions"].shape[1])
    critics = weights["critic"]
    seeds = len(jax.tree_util.tree_leaves(critics)[0])
    q = [np.asarray(iql.grid_max_q(_member(critics, s)["critic"], sample["observations"], grid,
                                   config=cfgs["critic"])[0]) for s in range(seeds)]  # fmt: skip
    return np.stack(q), list(range(seeds))


def critic_by_distance(task: str, sample: dict, q_max=None) -> dict:
    """A task's critic values by the BFS distance of the sample's states to the goal (`value_map`): distance [D],
    count [D], v [S, D] (every seed), q_max [S', D] (when given), the task's start distance, and `unjoined`: states
    that walking does not join to the goal (teleport's far side)."""
    from cfgrl_core.ogbench import value_map

    env_name, task_id = parse_task(task)
    layout = value_map.maze_layout(env_name, task_id)
    dist = value_map.goal_distances(layout, sample["observations"][:, :2])
    table = value_map.by_distance(sample["v"], dist)
    out = dict(distance=table["distance"], count=table["count"], v=table["mean"], unjoined=table["unjoined"],
               start_distance=int(layout["distance"][tuple(layout["start_ij"])]))  # fmt: skip
    if q_max is not None:
        out["q_max"] = value_map.by_distance(q_max, dist)["mean"]
    return out


# ---- notebook 05's report: its table, labels, costs and Summary values (scripts/render_readme.py reads them too) ---


def paper_runs(root=None) -> dict[str, dict]:
    """{"<preset>/<task>": result} of every paper-type run that exists (`EXPERIMENT.paper_dirs(root)`: results/
    offline_rl/paper*/, the `paper` preset or a shortened GPU trial), in order; empty when none has been run."""
    return {f"{folder.name}/{path.stem}": load_result(path)
            for folder in EXPERIMENT.paper_dirs(root) for path in sorted(folder.glob("*.json"))}  # fmt: skip


def run_label(result: dict) -> str:
    """What made a result, as a table row says it: 'cpu (2 cores), 30,000 steps × 128, critic 2×128, actors 3×128,
    4 seeds, 10 test episodes per seed and value' (read from the result itself: device, the last checkpoint's steps,
    the batch, the networks, the seeds and the final evaluation's episodes)."""
    preset, step = result["preset"], result["checkpoint_steps"][-1]
    seeds, episodes = np.asarray(result["success"][str(step)]["cfgrl"]).shape[:2]
    return (
        f"{result.get('device', '?')}, {step:,} steps × {preset['batch_size']}, critic "
        f"{stats.mlp_name(preset['critic_dims'])}, actors {stats.mlp_name(preset['actor_dims'])}, {seeds} seeds, "
        f"{episodes} test episodes per seed and value"
    )


def paper_status(paper: dict, cube_done: bool = False) -> str:
    """The README's sentence on notebook 05's runs beyond the `cpu` preset, from whether they exist (never typed):
    `paper` the paper-type runs (`paper_runs`), `cube_done` whether the `cube` preset has a result."""
    cube = "the `cube` preset has a result on record" if cube_done else "the `cube` preset has not been run"
    if not paper:
        return (f"The `paper` preset (`python scripts/run_offline_rl.py --preset paper`, a GPU job) has not been run; "
                f"{cube}.")  # fmt: skip
    runs = "; ".join(f"`results/offline_rl/{key}.json` ({run_label(r)})" for key, r in paper.items())
    return f"Paper-type runs on record: {runs}; they are extra rows of notebook 05's table; {cube}."


def curves(result: dict, name: str, step: int | None = None) -> np.ndarray:
    """Per-seed success rate [S, values] of one actor at `step` (default: the last)."""
    step = result["checkpoint_steps"][-1] if step is None else step
    return np.asarray(result["success"][str(step)][name], float).mean(axis=1)


def sweep_values(result: dict, name: str) -> list:
    """The values one actor of a result was evaluated at: w for the CFGRL actors, 1/β for the AWR ones."""
    return result["ws"] if name.startswith("cfgrl") else result["inv_betas"]


def validated(result: dict, name: str) -> np.ndarray:
    """Per-seed test success [S] at the value chosen on that seed's validation episodes."""
    values = sweep_values(result, name)
    per_seed = curves(result, name)
    idx = [int(np.flatnonzero(np.isclose(values, v))[0]) for v in result["chosen"][name]]
    return per_seed[np.arange(len(idx)), idx]


def by_value_line(result: dict, name: str, step: int | None = None) -> str:
    """One actor's test success (%, mean ± std over seeds, ddof = 1) at each of its values (w or 1/β) at `step`
    (default: the last), with how many seeds chose each value on validation (at the last step only)."""
    step = result["checkpoint_steps"][-1] if step is None else step
    values = np.asarray(sweep_values(result, name), float)
    per_seed = curves(result, name, step) * 100
    chosen = np.asarray(result["chosen"][name], float) if step == result["checkpoint_steps"][-1] else None
    cells = []
    for i, v in enumerate(values):
        cell = f"{v:g}: {stats.pm(*stats.mean_std(per_seed[:, i]), '.0f')}"
        if chosen is not None:
            cell += f" ({int(np.isclose(chosen, v).sum())} of {len(chosen)} chose it)"
        cells.append(cell)
    return f"{name} by {'w' if name.startswith('cfgrl') else '1/β'} at step {step:,}: " + "; ".join(cells)


def table_row(result: dict) -> dict:
    """Table 2 row (success %, mean ± std over seeds, ddof = 1): AWR and CFGRL at validated values, BC (w = 0),
    filtered BC (w = 1), and the paper's numbers where it has the task; `preset` and `run` (`run_label`) say what
    made the row."""
    ws = np.asarray(result["ws"], float)
    cfg = curves(result, "cfgrl") * 100
    row = dict(task=result["task"], preset=result["preset"]["name"], run=run_label(result), seeds=cfg.shape[0])
    for label, values in [("AWR", validated(result, "awr_gaussian") * 100),
                          ("CFGRL", validated(result, "cfgrl") * 100)]:  # fmt: skip
        row[f"{label} mean"], row[f"{label} std"] = stats.mean_std(values)
    for label, w in [("BC (w=0)", 0.0), ("filtered BC (w=1)", 1.0)]:
        hit = np.flatnonzero(np.isclose(ws, w))
        row[f"{label} mean"], row[f"{label} std"] = stats.mean_std(cfg[:, hit[0]]) if hit.size else (None, None)
    paper = PAPER_TABLE2.get(result["task"], {})
    for label in ("AWR", "CFGRL"):
        row[f"paper {label} mean"], row[f"paper {label} std"] = paper.get(label, (None, None))
    return row


TABLE_COLUMNS = ("AWR", "CFGRL", "BC (w=0)", "filtered BC (w=1)")  # the success columns of `table_row`


def table_rows(results: dict, paper: dict | None = None) -> list[dict]:
    """The Table 2 rows of a preset's results ({task: result}) followed by those of the paper-type runs (`paper`:
    {"<preset>/<task>": result}, default `paper_runs()`), leaving out a paper-type run of the reported preset
    itself (it is already a row)."""
    paper = paper_runs() if paper is None else paper
    names = {r["preset"]["name"] for r in results.values()}
    return [table_row(r) for r in results.values()] + [
        table_row(r) for r in paper.values() if r["preset"]["name"] not in names
    ]


def shown_table(rows: list[dict]):
    """The table as a reader sees it (a pandas DataFrame): task, preset, the run (device, steps × batch, networks,
    seeds, episodes: `run_label`), each success column as mean ± std ('–' where absent), the paper's AWR and CFGRL
    where it has the task."""
    import pandas as pd

    def cell(row, label):
        return "–" if row[f"{label} mean"] is None else stats.pm(row[f"{label} mean"], row[f"{label} std"], ".0f")

    def paper_cell(row, label):
        m, sd = row[f"paper {label} mean"], row[f"paper {label} std"]
        return "–" if m is None or pd.isna(m) else f"{m:g} ± {sd:g}"

    return pd.DataFrame({
        "task": [short_name(r["task"]) for r in rows], "preset": [r["preset"] for r in rows],
        "run": [r["run"] for r in rows], "seeds": [r["seeds"] for r in rows],
        **{c: [cell(r, c) for r in rows] for c in TABLE_COLUMNS},
        **{f"paper {c}": [paper_cell(r, c) for r in rows] for c in ("AWR", "CFGRL")},
    })  # fmt: skip


def path_curves(result: dict, name: str, step: int | None = None) -> np.ndarray:
    """Per-seed success rate [S, starts, values] of one actor from the path starts at `step` (default: the last)."""
    path = result["path_starts"]
    step = result["checkpoint_steps"][-1] if step is None else step
    return np.asarray(path["success"][str(step)][name], float).mean(axis=2)


def path_validated(result: dict, name: str, step: int | None = None) -> np.ndarray:
    """Per-seed success [S, starts] from the path starts at the value chosen on that seed's path-start validation
    episodes (pooled over the starts)."""
    values = sweep_values(result, name)
    per_seed = path_curves(result, name, step)
    idx = [int(np.flatnonzero(np.isclose(values, v))[0]) for v in result["path_starts"]["chosen"][name]]
    return per_seed[np.arange(len(idx)), :, idx]


def short_name(task: str) -> str:
    """'pointmaze-medium-navigate-singletask-task3-v0' -> 'medium task 3'."""
    env_name, task_id = parse_task(task)
    family = env_name.removesuffix("-v0").replace("pointmaze-", "").replace("-navigate", "").replace("-play", "")
    return f"{family} task {task_id}"


def paired_gap(result: dict, a: str, b: str) -> tuple[float, float, int]:
    """Validated success(b) - success(a) per seed in points (the same seed's critic under both actors): (mean, SE,
    seeds), the triple `stats.verdict` reads."""
    return stats.gap(100 * (validated(result, b) - validated(result, a)))


def paired_gap_between(before: dict, after: dict, name: str) -> tuple[float, float, int]:
    """One actor's validated success in `after` minus in `before`, per seed in points (the same seed in both: a
    run and its training carried on, `continues`): (mean, SE, seeds), the triple `stats.verdict` reads."""
    return stats.gap(100 * (validated(after, name) - validated(before, name)))


def label_row(result: dict) -> dict:
    """The labels of one task's final critics: fraction positive (mean, min, max over seeds) and how often two seeds
    disagree (mean and max over pairs of seeds; NaN with one seed)."""
    lab = result["labels"]
    dis = np.asarray(lab["disagreement"])
    pairs = dis[np.triu_indices(len(dis), 1)]
    return dict(task=result["task"], positive_mean=float(np.mean(lab["positive_fraction"])),
                positive_min=float(np.min(lab["positive_fraction"])),
                positive_max=float(np.max(lab["positive_fraction"])),
                disagreement_mean=float(pairs.mean()) if pairs.size else float("nan"),
                disagreement_max=float(pairs.max()) if pairs.size else float("nan"))  # fmt: skip


def cost_minutes(result: dict) -> float:
    """Wall-clock minutes of the run that made a result (data, training with its evaluations, labels)."""
    t = result["timings"]
    return (t["data_s"] + t["train_and_eval_s"] + t["labels_s"]) / 60  # eval_s is inside train_and_eval_s


def _records(rows: list[dict]) -> list[dict]:
    """Rows as a table's records: a column with a missing value (None) and a number holds NaN there."""
    import pandas as pd

    return pd.DataFrame(rows).to_dict("records")


TABLE_ACTORS = ("awr_gaussian", "cfgrl")  # the paper's Table 2 pair: the Summary's comparison


def successes(result: dict, name: str, split: str = "test") -> tuple[int, int]:
    """(successful episodes, episodes) of one actor at the last step, over every seed, episode and value of its
    sweep: `split` "test" (the final evaluation) or "validation"."""
    success = result["success"][str(result["checkpoint_steps"][-1])] if split == "test" else result["val_success"]
    arr = np.asarray(success[name])
    return int(arr.sum()), int(arr.size)


def no_success(result: dict, names=TABLE_ACTORS) -> bool:
    """True when none of `names` succeeds in any test or validation episode at any value of its sweep (last step):
    then every validated value is the tie-break (the smallest) and no gap, peak or ranking can be read."""
    return all(successes(result, n, split)[0] == 0 for n in names for split in ("test", "validation"))


def tie_broken(result: dict, name: str) -> int:
    """How many seeds of `name` had no validation success at any value, so that their chosen value is the
    tie-break (the smallest of the sweep) rather than a choice."""
    val = np.asarray(result["val_success"][name])  # [S, E, V]
    return int((val.reshape(len(val), -1).sum(axis=1) == 0).sum())


def _extras_line(result: dict) -> str:
    """The extra actors' (awr_flow, cfgrl_two_pass) validated success, or how rarely they succeeded at all."""
    out = ""
    for name in ("awr_flow", "cfgrl_two_pass"):
        if name not in result["actors"]:
            continue
        hits, total = successes(result, name)
        if hits == 0:
            out += f" {name}: no success in its {total} test episodes."
        else:
            mean, std = stats.mean_std(100 * validated(result, name))
            out += f" {name} (validated): {mean:.0f} ± {std:.0f} ({hits} of {total} test episodes over its sweep)."
    return out


def task_line(result: dict, row: dict, label: dict) -> str:
    """One task's line of the Summary: the table's entries, CFGRL - AWR with its verdict, the chosen values; when
    neither AWR nor CFGRL succeeds at any value (`no_success`), that and nothing a tie could make look like a
    finding (no gap, no peak, no validated value)."""
    n_seeds = len(result["chosen"]["cfgrl"])
    labels = (f"Labels: {100 * label['positive_mean']:.1f} % positive, two critic seeds disagree on "
              f"{100 * label['disagreement_mean']:.1f} %.")  # fmt: skip
    if no_success(result):
        (a_hits, a_total), (c_hits, c_total) = (successes(result, n) for n in TABLE_ACTORS)
        everyone = no_success(result, result["actors"])
        return (
            f"- **{short_name(result['task'])}**: "
            + ("no method succeeds at this budget" if everyone else "neither AWR nor CFGRL succeeds at this budget")
            + f": AWR in none of its {a_total} test episodes (all seeds and 1/β values), CFGRL in none of its"
            f" {c_total} (all seeds and w values), and neither in any validation episode, so every seed's value is the"
            f" tie-break and the comparison is uninformative here (no gap, peak or validated value to read). {labels}"
            + _extras_line(result)
        )
    pm = {c: "–" if row[f"{c} mean"] is None else stats.pm(row[f"{c} mean"], row[f"{c} std"], ".0f")
          for c in ("AWR", "CFGRL", "BC (w=0)", "filtered BC (w=1)")}  # fmt: skip
    gap = paired_gap(result, "awr_gaussian", "cfgrl")
    chosen = {n: f"{result['chosen'][n]}" + (f" ({k} of {n_seeds} by tie-break: no validation success)"
                                             if (k := tie_broken(result, n)) else "")
              for n in TABLE_ACTORS}  # fmt: skip
    line = (f"- **{short_name(result['task'])}**: AWR {pm['AWR']}, CFGRL {pm['CFGRL']} (BC {pm['BC (w=0)']}, "
            f"filtered BC {pm['filtered BC (w=1)']}); CFGRL − AWR {stats.gap_text(gap)}. Validated w per seed "
            f"{chosen['cfgrl']}, 1/β per seed "
            f"{chosen['awr_gaussian']}.")  # fmt: skip
    for name, label_ in (("awr_gaussian", "AWR"), ("cfgrl", "CFGRL")):
        hits, total = successes(result, name)
        if hits == 0:
            line += f" {label_} succeeds in none of its {total} test episodes (all seeds and values)."
    if successes(result, "cfgrl")[0]:
        ws_best = np.asarray(result["ws"])[np.argmax(curves(result, "cfgrl").mean(0))]
        line += f" The seed-mean w-curve peaks at w = {ws_best:g} (oracle, reference only)."
    return f"{line} {labels}" + _extras_line(result)


def path_line(result: dict) -> tuple[str, tuple[float, float]]:
    """A path-start task's line of the Summary (success by start: AWR / CFGRL / BC, validated, mean over seeds) and
    CFGRL - AWR pooled over the starts, per seed (mean, SE)."""
    ws = np.asarray(result["ws"])
    dist = [s_["distance"] for s_ in result["path_starts"]["starts"]]
    a, c = 100 * path_validated(result, "awr_gaussian"), 100 * path_validated(result, "cfgrl")  # [S, starts]
    bc = 100 * path_curves(result, "cfgrl")[:, :, int(np.flatnonzero(np.isclose(ws, 0.0))[0])]
    gap = stats.gap((c - a).mean(axis=1))  # per seed, pooled over the starts
    if not (a.any() or c.any()):
        return (
            f"- **{short_name(result['task'])} from its path**: neither AWR nor CFGRL succeeds from any start at "
            "its validated value: nothing to compare."
        ), gap
    cells = "; ".join(f"{k}: {a[:, i].mean():.0f} / {c[:, i].mean():.0f} / {bc[:, i].mean():.0f}"
                      for i, k in enumerate(dist))  # fmt: skip
    chosen = result["path_starts"]["chosen"]
    line = (
        f"- **{short_name(result['task'])} from its path** (distance in cells: AWR / CFGRL / BC, validated, mean "
        f"over seeds): {cells}. Pooled over the starts, CFGRL − AWR {stats.gap_text(gap)}; w per seed "
        f"{chosen['cfgrl']}, 1/β per seed {chosen['awr_gaussian']}."
    )
    return line, gap


def summary_values(results: dict, preset, paper: dict | None = None) -> dict:
    """The values of notebook 05's Summary that its results hold ({task: result} of `preset`): the table, CFGRL - AWR
    paired over seeds on each task and from the path starts, the tasks where neither succeeds (`no_success`), the
    labels, the budget curve, the cost, and the paper-type runs (`paper`: {"<preset>/<task>": result}, default
    `paper_runs()`; a run of `preset` itself is not its own paper row) with the README's `paper_status` sentence.
    The gradient values come from the weights (`gradient_values`)."""
    paper_type = paper_runs() if paper is None else paper
    paper_type = {k: r for k, r in paper_type.items() if r["preset"]["name"] != get_preset(preset).name}
    cube_done = any(results_dir("cube").glob("*.json")) if results_dir("cube").is_dir() else False
    preset, paper = get_preset(preset), get_preset("paper")
    tasks = list(results)
    rows = {t: table_row(results[t]) for t in tasks}
    labels = {t: label_row(results[t]) for t in tasks}
    paths = {t: path_line(results[t]) for t in tasks if results[t].get("path_starts")}
    steps = results[tasks[0]]["checkpoint_steps"]
    budget = "; ".join(
        f"{short_name(t)} " + " → ".join(f"{100 * curves(results[t], 'cfgrl', st).mean(0).max():.0f}" for st in steps)
        for t in tasks
    )
    ratio = paper.num_steps * paper.batch_size / (preset.num_steps * preset.batch_size)
    return {
        "preset": preset.name, "seeds": preset.num_seeds, "episodes": preset.episodes, "val": preset.val_episodes,
        "per_task": "\n".join(task_line(results[t], rows[t], labels[t]) for t in tasks),
        "path": "\n".join(line for line, _ in paths.values()) or "- (no path-start task in this preset)",
        "path_gaps": {short_name(t): list(gap) for t, (_, gap) in paths.items()},
        "steps": ", ".join(f"{st:,}" for st in steps), "budget": budget,
        "ratio": f"1/{ratio:.0f}", "n_steps": preset.num_steps, "batch": preset.batch_size,
        "critic": "×".join(map(str, preset.critic_dims)), "actor": "×".join(map(str, preset.actor_dims)),
        "cost_min": float(sum(cost_minutes(results[t]) for t in tasks)),
        "device": " / ".join(dict.fromkeys(str(results[t].get("device", "?")) for t in tasks)),
        "paper": "; ".join(f"{short_name(t)} {v['AWR'][0]:g} → {v['CFGRL'][0]:g}" for t, v in PAPER_TABLE2.items()),
        "table": _records(list(rows.values())),
        "gaps": {short_name(t): list(paired_gap(results[t], "awr_gaussian", "cfgrl")) for t in tasks},
        "no_success": [short_name(t) for t in tasks if no_success(results[t])],
        "informative_gaps": {short_name(t): list(paired_gap(results[t], "awr_gaussian", "cfgrl")) for t in tasks
                             if not no_success(results[t])},
        "paper_table": _records([table_row(r) for r in paper_type.values()]),
        "paper_status": paper_status(paper_type, cube_done),
        "labels": _records(list(labels.values())),
    }  # fmt: skip


def distance_line(label: str, table: dict) -> str:
    """One run's values by distance (`critic_by_distance`) as the Summary says them: V at the goal's cell and at the
    furthest distance, at the task's start, and the rank correlation of V with distance (mean over seeds)."""
    from cfgrl_core.ogbench import value_map

    d, v = np.asarray(table["distance"]), np.asarray(table["v"], float).mean(axis=0)
    at = lambda k: f"{v[np.flatnonzero(d == k)[0]]:.0f}" if (d == k).any() else "–"  # noqa: E731
    rank = np.mean([value_map.rank_correlation(d, row) for row in np.asarray(table["v"], float)])
    return (f"{label}: {at(d.min())} at {d.min()} cells, {at(table['start_distance'])} at the start "
            f"({table['start_distance']} cells), {at(d.max())} at {d.max()} cells, rank correlation with distance "
            f"{rank:+.2f}")  # fmt: skip


def gradient_values(grads: dict, inv_betas, top: float, task: str) -> dict:
    """The Summary's values of the per-example gradient norms on one real batch: {method: norms [B]} with 'CFGRL' and
    'AWR 1/β=<b>' for each b of inv_betas (`cfgrl_core.toys.per_example`)."""
    from cfgrl_core.toys.per_example import ess_fraction, top_share

    awr_top = [top_share(g, top) for m, g in grads.items() if m != "CFGRL"]
    return {
        "grad_task": short_name(task), "ess_cfgrl": ess_fraction(grads["CFGRL"]),
        "ess_awr": ", ".join(f"{ib:g}: {ess_fraction(grads[f'AWR 1/β={ib:g}']):.2f}" for ib in inv_betas),
        "top1_cfgrl": top_share(grads["CFGRL"], top), "top_pct": f"{100 * top:g}", "top1_awr_max": max(awr_top),
    }  # fmt: skip
