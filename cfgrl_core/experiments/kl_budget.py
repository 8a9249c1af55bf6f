"""Notebook 09: how far guidance moves the policy, KL(pi_w(.|s, g) || pi_hat(.|s)), measured exactly on notebook 04's
trained flow policies, and w chosen by a KL budget instead of by rollouts.

Nothing is trained here: every number comes from notebook 04's finished runs (their weights, and the success and
validation success they recorded at every w) and from `cfgrl_core.likelihood`, the exact density of the Euler
sampler. Per maze and seed:

    dataset states   `num_states` observations drawn from the maze's dataset, each paired with one of the 5
                     evaluation goals in turn; KL at every w of notebook 04's grid (`policy_kl`, `num_samples`
                     actions per state and w, `flow_steps` Euler steps)
    rollout states   the policy's own episodes (one per task and w, notebook 04's evaluation seed: its episode 0),
                     `rollout_states` states along each at evenly spaced fractions of its length; KL at the w that
                     drove the episode, with that task's goal

and once (seed 0): the density of pi_w on a grid of actions at one state (it must integrate to 1), the KL at the
sampler's own 16 steps and at a finer grid (`check_flow_steps`; how far the reported KL is from the ODE's), the
KL at every free cell of `map_env` for one goal (the notebook's slider), and the separate-network ablation of
notebook 08 (`gc_studies`) on the same dataset states.

The KL is that of the flow's Euler map with `flow_steps` steps (64 in the `cpu` preset), finer than the 16 steps
the policy samples with: at 16 steps the map of a strongly guided policy folds (a step determinant below 0 for
some samples at w >= 2: the last steps contract by more than they can), so its exact density is not one branch of
the change of variables; at 64 steps every determinant met stays positive and the KL is within a few percent of
the 128-step value (both recorded, `check`).

The budget rule (`choose_by_budget`), fixed before any KL was computed: the budget is the median over seeds of the
KL that the calibration maze's (medium's) validation-chosen w spends there (its validation goals, never its
evaluation tasks); on every other maze each seed takes the largest w of the grid whose mean KL over the dataset
states stays within it. It is compared, per seed, with that maze's own validation-chosen w (notebook 04's
`chosen_w`, 20 validation goals rolled out at every w) and with the calibration maze's median validated w used as
it is (a fixed w, what one would do without any measurement).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import jax
import numpy as np

from cfgrl_core import likelihood
from cfgrl_core.experiments import gc_studies, protocol, stats
from cfgrl_core.experiments import gcbc_cfgrl as gx
from cfgrl_core.guidance import cfg_velocity_fn
from cfgrl_core.io.provenance import device_description, file_sha256, provenance
from cfgrl_core.ogbench import evaluation, maze
from cfgrl_core.progress import announce

MEDIUM = "pointmaze-medium-navigate-v0"
LARGE = "pointmaze-large-navigate-v0"


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    source_preset: str  # notebook 04's preset whose runs (weights and success) are measured
    source_committed: bool  # read notebook 04's committed results (the fast preset), else its results folder
    env_names: tuple  # mazes; the first is the calibration maze of the budget rule
    dataset_episodes: int | None  # the dataset the states are drawn from (None: notebook 04's own)
    num_seeds: int | None  # seeds measured (None: all the run has)
    num_states: int  # dataset states per maze
    num_samples: int  # Monte Carlo actions per state and w
    flow_steps: int  # Euler steps of the map whose KL is reported
    check_flow_steps: int  # the finer map of the convergence check
    check_states: int  # states of that check (seed 0 of every maze)
    rollout_states: int  # states taken along each rollout
    rollout_max_steps: int | None  # episode cap of those rollouts (None: the env's own, as notebook 04)
    grid_points: int  # per side of the action grid the density is integrated on
    map_env: str  # the maze of the per-state budget map (seed 0, one goal)
    map_task: int  # its evaluation task (1-based) whose goal the map uses
    separate: bool  # measure notebook 08's separate networks on large as well
    seed: int = 0  # states, Monte Carlo keys


PRESETS = {
    # Seconds in the tests: notebook 04's committed cpu weights, a tiny dataset, few samples; numbers mean nothing.
    "fast": Preset(
        name="fast", source_preset="cpu", source_committed=True, env_names=(MEDIUM, LARGE), dataset_episodes=20,
        num_seeds=2, num_states=5, num_samples=8, flow_steps=8, check_flow_steps=16, check_states=2,
        rollout_states=2, rollout_max_steps=30, grid_points=24, map_env=LARGE, map_task=1, separate=False,
    ),
    # `make figures`: every maze and seed of notebook 04's cpu runs; about a quarter of an hour on 2 cores.
    "cpu": Preset(
        name="cpu", source_preset="cpu", source_committed=False, env_names=(MEDIUM, LARGE, gx.MAZES[2], gx.TELEPORT),
        dataset_episodes=None, num_seeds=None, num_states=20, num_samples=32, flow_steps=64, check_flow_steps=128,
        check_states=5, rollout_states=3, rollout_max_steps=None, grid_points=72, map_env=LARGE, map_task=1,
        separate=True,
    ),
}  # fmt: skip

EXPERIMENT = protocol.Experiment("kl_budget", PRESETS, script="notebooks/09_kl_budget.ipynb (make figures)")
get_preset = EXPERIMENT.preset
results_dir = EXPERIMENT.results_dir
SAMPLER_STEPS = 16  # the flow steps notebook 04's policies sample with
GRID_WS = (0.0, 1.0, 3.0)  # the ws whose density is integrated on a grid
GRID_QUANTILE, GRID_MARGIN = 0.002, 0.25  # the grid: the samples' 0.2-99.8 % box, widened by a quarter on each side
MASS_CHECK_W = 1.0  # the densities integrated on a grid must hold mass one up to this w (see `density_grid`)


def result_path(preset_name: str, root=None) -> Path:
    return (results_dir(preset_name) if root is None else Path(root)) / "result.json"


def source_file(preset: Preset, env_name: str) -> Path:
    folder = gx.EXPERIMENT.committed_dir(preset.source_preset) if preset.source_committed else None
    return gx.result_path(preset.source_preset, env_name, folder)


def dataset_states(env_name: str, preset: Preset, goals: np.ndarray, *, trained_on=None, data_dir=None,
                   progress=True) -> dict:  # fmt: skip
    """`num_states` dataset observations (seeded, without replacement) and the evaluation goals in turn; with
    `trained_on` (the sha256 notebook 04 recorded), whether this file is byte for byte the one the policy was
    trained on (generated by the same recipe on another machine, its bytes can differ: for medium and teleport the
    rows were found equal, tests/test_dataset_identity.py; giant has no committed sample to compare)."""
    source = gx.get_preset(preset.source_preset)
    size = dataclasses.replace(source, num_episodes=preset.dataset_episodes) if preset.dataset_episodes else source
    data, _, path = gx.load_training_data(env_name, size, data_dir=data_dir, progress=progress)
    sha = file_sha256(path)
    rng = np.random.default_rng([preset.seed, preset.env_names.index(env_name)])
    rows = np.sort(rng.choice(len(data["observations"]), preset.num_states, replace=False))
    task = np.arange(preset.num_states) % len(goals)
    return dict(observations=np.asarray(data["observations"][rows], np.float32), goals=goals[task].astype(np.float32),
                task=task + 1, rows=rows, dataset=str(path.name), sha256=sha,
                same_file_as_training=None if trained_on is None else sha == trained_on)  # fmt: skip


def _kl(params, config, key, goals, ws, observations, preset: Preset, *, flow_steps=None, num_samples=None,
        uncond_params=None) -> dict:  # fmt: skip
    out = likelihood.policy_kl(
        params, config, key, goals, ws, observations, num_samples=num_samples or preset.num_samples,
        flow_steps=flow_steps or preset.flow_steps, uncond_params=uncond_params, newton_steps=3,
    )  # fmt: skip
    return {k: out[k] for k in ("kl", "se", "det_min", "residual")}


def rollout_kl(env_name, params, config, ws, goals, preset: Preset, key, pool) -> dict:
    """One episode per task and w (notebook 04's evaluation seed and episode 0), and the KL at `rollout_states` states
    along each at the w that drove it: kl [W, T * n] (task-major), success [T, W], lengths [T, W]."""
    ev = evaluation.evaluate_lockstep(
        env_name, params, config, ws, episodes_per_task=1, seed=0, flow_steps=SAMPLER_STEPS,
        max_steps=preset.rollout_max_steps, record_trajectories=True, pool=pool,
    )  # fmt: skip
    n = preset.rollout_states
    lengths = ev.lengths[:, 0, :]  # [T, W]
    kl, det_min = [], []
    for j, w in enumerate(ws):
        steps = (np.arange(n)[None, :] * lengths[:, j : j + 1]) // n  # [T, n] at fractions 0, 1/n, ... of each
        obs = np.stack([ev.trajectories[i, 0, j, steps[i]] for i in range(len(goals))]).reshape(-1, config.obs_dim)
        out = _kl(params, config, jax.random.fold_in(key, j), np.repeat(goals, n, 0), [w], obs, preset)
        kl.append(out["kl"][0])
        det_min.append(out["det_min"][0])
    return dict(kl=np.array(kl), det_min=np.array(det_min), success=ev.success[:, 0, :].astype(int), lengths=lengths)


def density_grid(params, config, goal, observation, preset: Preset) -> dict:
    """log pi_w(a | s, g) on a grid of actions for every w of GRID_WS, through the inverse map, and its integral by
    the midpoint rule on `grid_points` x `grid_points` cells. Each w has its own box (guidance sharpens the
    distribution): all but the outer GRID_QUANTILE of 2000 of its samples on each side, widened by GRID_MARGIN of
    its size. Returns ws, lo and hi [W, 2], log_p [W, G, G] at the cell centres, the mass [W] and the largest
    inversion residual [W].

    The dataset's actions are clipped to the unit box, so a strongly guided policy piles its mass onto narrow
    ridges along the box's edges; a uniform grid does not resolve them at large w (at w = 3 on one large-maze state
    the sum moved from 0.70 to 1.25 with the box and grid, and to 0.81-0.88 with the densest cells refined). The
    notebook's check binds for the w up to GCBC's (MASS_CHECK_W)."""
    g = preset.grid_points
    rows = lambda z, k: np.repeat(np.asarray(z, np.float32)[None], k, 0)  # noqa: E731
    out = dict(ws=list(GRID_WS), lo=[], hi=[], log_p=[], mass=[], residual=[])
    for w in GRID_WS:
        v = cfg_velocity_fn(params, config, rows(goal, 2000), rows(observation, 2000), np.full(2000, w, np.float32))
        a, _, _ = likelihood.sample_log_prob(v, jax.random.normal(jax.random.key(1), (2000, 2)), preset.flow_steps)
        lo, hi = np.quantile(np.asarray(a), [GRID_QUANTILE, 1 - GRID_QUANTILE], axis=0)
        lo, hi = lo - GRID_MARGIN * (hi - lo), hi + GRID_MARGIN * (hi - lo)
        size = (hi - lo) / g
        centres = [lo[d] + (np.arange(g) + 0.5) * size[d] for d in range(2)]
        grid = np.stack(np.meshgrid(*centres, indexing="ij"), -1).reshape(-1, 2).astype(np.float32)
        v = cfg_velocity_fn(params, config, rows(goal, len(grid)), rows(observation, len(grid)),
                            np.full(len(grid), w, np.float32))  # fmt: skip
        lp, _, res = jax.jit(lambda x, v=v: likelihood.log_prob(v, x, preset.flow_steps, newton_steps=3))(grid)
        lp = np.asarray(lp, np.float64)
        out["lo"].append(lo.tolist())
        out["hi"].append(hi.tolist())
        out["log_p"].append(lp.reshape(g, g))
        out["mass"].append(float(np.exp(lp).sum() * np.prod(size)))
        out["residual"].append(float(np.asarray(res).max()))
    return out


def load_source_run(result_file, whose: str, remake: str) -> gx.ExperimentRun:
    """`gcbc_cfgrl.load_run` of a run measured here, whose weights (every seed) must be beside its result: the
    committed results keep notebook 08's ablation without them, so a missing weights folder is a FileNotFoundError
    that names it and the command that makes it."""
    weights = gx.run_dir_for(result_file) / "weights"
    if not (weights / "config.json").is_file():
        raise FileNotFoundError(
            f"notebook 09 measures {whose} trained policies, and there are no weights at {weights} (the result "
            f"{result_file} is there, its weights were not kept): make them with `python {remake}`, or run notebook "
            "09 with CFGRL_REUSE_RESULTS=1 to read its committed measurement"
        )  # fmt: skip
    return gx.load_run(result_file)


def measure_env(env_name: str, preset: Preset, *, data_dir=None, progress=True, log=print) -> dict:
    """Everything notebook 09 reads of one maze (see the module docstring)."""
    run = load_source_run(source_file(preset, env_name), "notebook 04's", "scripts/run_gcbc_cfgrl.py --overwrite")
    ws = np.asarray(run.result["ws"], np.float32)
    geometry = maze.env_geometry(env_name)
    goals = geometry["task_goals"].astype(np.float32)
    trained_on = None if preset.dataset_episodes else run.result["dataset_sha256"]
    states = dataset_states(env_name, preset, goals, trained_on=trained_on, data_dir=data_dir, progress=progress)
    num_seeds = len(run.result["chosen_w"])
    seeds = range(num_seeds if preset.num_seeds is None else min(preset.num_seeds, num_seeds))
    key = jax.random.fold_in(jax.random.key(preset.seed), preset.env_names.index(env_name))
    out = dict(env_name=env_name, ws=ws.tolist(), states=states, seeds=list(seeds), dataset=[], rollouts=[])
    pool = evaluation.EnvPool()
    try:
        for s in seeds:
            start = time.perf_counter()
            params = gx.seed_params(run.params, s)
            k_data, k_roll = jax.random.split(jax.random.fold_in(key, s))
            out["dataset"].append(_kl(params, run.model_config, k_data, states["goals"], ws, states["observations"],
                                      preset))  # fmt: skip
            out["rollouts"].append(rollout_kl(env_name, params, run.model_config, ws, goals, preset, k_roll, pool))
            log(f"09: {gx.short_name(env_name)} seed {s}: KL at {preset.num_states} dataset states and along "
                f"{len(goals) * len(ws)} rollouts ({time.perf_counter() - start:.0f} s)")  # fmt: skip
    finally:
        pool.close()
    params = gx.seed_params(run.params, 0)
    c = slice(0, preset.check_states)
    check_args = (params, run.model_config, jax.random.fold_in(key, 99), states["goals"][c], ws,
                  states["observations"][c], preset)  # fmt: skip
    out["check"] = dict(
        sampler=_kl(*check_args, flow_steps=SAMPLER_STEPS), reported=_kl(*check_args),
        fine=_kl(*check_args, flow_steps=preset.check_flow_steps),
    )  # fmt: skip
    if env_name == preset.map_env:
        out["density"] = density_grid(params, run.model_config, states["goals"][0], states["observations"][0], preset)
        goal = goals[preset.map_task - 1]
        cells = geometry["free"].astype(np.float32)
        kl = _kl(params, run.model_config, jax.random.fold_in(key, 98), np.repeat(goal[None], len(cells), 0), ws,
                 cells, preset)  # fmt: skip
        out["map"] = dict(task=preset.map_task, goal=goal.tolist(), cells=cells.tolist(), **kl)
    if preset.separate and env_name == LARGE:
        out["ablation"] = ablation_kl(states, preset, key, log)
    return out


def ablation_kl(states: dict, preset: Preset, key, log=print) -> dict:
    """Notebook 08's shared and separate networks on large (30k steps each, the same seeds), at the same dataset
    states: kl [method][S] of {kl [W, B], ...}; the separate policy's pi_hat is its unconditional BC network."""
    study = gc_studies.get_study("ablation", preset.source_preset)
    out = {}
    for method in study.methods:
        committed = gc_studies.EXPERIMENT.committed_dir(preset.source_preset) if preset.source_committed else None
        run = load_source_run(gc_studies.result_file("ablation", preset.source_preset, method, committed),
                              "notebook 08's", f"scripts/run_gc_studies.py --tier {preset.source_preset} --study "
                              "ablation --overwrite")  # fmt: skip
        ws = np.asarray(run.result["ws"], np.float32)
        rows = []
        for s in range(len(run.result["chosen_w"])):
            params = gx.seed_params(run.params, s)
            k = jax.random.fold_in(jax.random.fold_in(key, 97), s)
            if method == "shared":
                rows.append(_kl(params, run.model_config, k, states["goals"], ws, states["observations"], preset))
            else:
                config = run.learner.configs()["gc"]
                rows.append(_kl(params["gc"], config, k, states["goals"], ws, states["observations"], preset,
                                uncond_params=params["bc"]))  # fmt: skip
        out[method] = dict(ws=ws.tolist(), seeds=rows, success=gx.success_by_w(run.result)[1].tolist())
        log(f"09: ablation ({method}): KL at {preset.num_states} dataset states, {len(rows)} seeds")
    return out


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray | np.generic):
        return x.tolist()
    return x


def run(preset, *, data_dir=None, progress=True, log=print) -> dict:
    """Measure every maze of the preset: the result JSON (without provenance)."""
    preset = get_preset(preset)
    start = time.perf_counter()
    envs = {}
    for env_name in preset.env_names:
        announce(f"09: {env_name}")
        envs[env_name] = measure_env(env_name, preset, data_dir=data_dir, progress=progress, log=log)
    sources = {env: gx.load_result(source_file(preset, env)) for env in preset.env_names}
    return _jsonable(dict(
        preset=dataclasses.asdict(preset), envs=envs,
        source_commits={env: r.get("commit") for env, r in sources.items()},
        seconds=time.perf_counter() - start, **provenance(device_description=device_description()),
    ))  # fmt: skip


def obtain(preset, *, reuse: bool = False, root=None, data_dir=None, progress=True, log=print) -> dict:
    """The preset's result: loaded when reused or made by this clean commit, else measured and saved."""
    preset = get_preset(preset)
    path = result_path(preset.name, root)

    def measure():
        result = run(preset, data_dir=data_dir, progress=progress, log=log)
        protocol.save_result(result, path)
        return result

    return protocol.obtain(f"09 ({preset.name})", path, reuse=reuse, load=lambda: EXPERIMENT.load_result(path),
                           run=measure, discard=lambda: None, log=log)  # fmt: skip


# ---- notebook 09's report: KL per seed and w, the budget rule and its comparison, the Summary values (README's too) --


def sources(result: dict, results_root=None) -> dict:
    """{env: notebook 04's result} that `result` measured: from the preset's own place, or under `results_root` (a
    results/ folder: <root>/gcbc_cfgrl/<source preset>/)."""
    preset = Preset(**{**result["preset"], "env_names": tuple(result["preset"]["env_names"])})
    if results_root is None:
        return {env: gx.load_result(source_file(preset, env)) for env in preset.env_names}
    folder = Path(results_root) / gx.EXPERIMENT.name / preset.source_preset
    return {env: gx.load_result(gx.result_path(preset.source_preset, env, folder)) for env in preset.env_names}


def dataset_kl(env: dict) -> np.ndarray:
    """[S, W]: each seed's KL averaged over the dataset states."""
    return np.array([np.mean(d["kl"], axis=1) for d in env["dataset"]])


def rollout_kl_mean(env: dict) -> np.ndarray:
    """[S, W]: each seed's KL averaged over the states along its own rollouts at that w."""
    return np.array([np.mean(r["kl"], axis=1) for r in env["rollouts"]])


def first_w_within(ws, kl, budget: float) -> float:
    """The largest w of the grid up to which every w's KL stays within `budget` (w = 0, KL 0, always qualifies):
    the first crossing, so a noisy dip of the estimate past it does not count."""
    ws, kl = np.asarray(ws, float), np.asarray(kl, float)
    over = np.flatnonzero((kl > budget) & (ws > 0))
    return float(ws[over[0] - 1] if over.size else ws[-1])


def calibration(result: dict, srcs: dict) -> dict:
    """The budget rule on the calibration maze (the preset's first): per seed, the validation-chosen w and the KL it
    spends over the dataset states; budget = their median; the fixed-w alternative = the lower median of the w."""
    env_name = result["preset"]["env_names"][0]
    env = result["envs"][env_name]
    ws = np.asarray(env["ws"], float)
    chosen = np.asarray(srcs[env_name]["chosen_w"], float)[env["seeds"]]
    kl = dataset_kl(env)
    spent = np.array([kl[i, gx._w_index(ws, w)] for i, w in enumerate(chosen)])
    return dict(env=env_name, chosen_w=chosen, kl=spent, budget=float(np.median(spent)),
                fixed_w=float(np.sort(chosen)[(len(chosen) - 1) // 2]))  # fmt: skip


def choices(result: dict, srcs: dict) -> list[dict]:
    """Per target maze and seed: the w each rule picks and the success (%) notebook 04 measured at it."""
    cal = calibration(result, srcs)
    rows = []
    for env_name in result["preset"]["env_names"][1:]:
        env = result["envs"][env_name]
        ws = np.asarray(env["ws"], float)
        _, success = gx.success_by_w(srcs[env_name])  # [S, W]
        kl = dataset_kl(env)
        for i, s in enumerate(env["seeds"]):
            picks = dict(validated=float(srcs[env_name]["chosen_w"][s]), fixed=cal["fixed_w"], gcbc=1.0,
                         budget=first_w_within(ws, kl[i], cal["budget"]))  # fmt: skip
            row = dict(env=gx.short_name(env_name), seed=s)
            for rule, w in picks.items():
                row[f"w {rule}"] = w
                row[f"success {rule}"] = 100 * float(success[s, gx._w_index(ws, w)])
            row["KL at validated w"] = float(kl[i, gx._w_index(ws, picks["validated"])])
            rows.append(row)
    return rows


def rule_differences(rows: list[dict]) -> dict:
    """The budget rule's success minus each other rule's, paired over (maze, seed): {other: (mean, SE, n)}."""
    out = {}
    for other in ("validated", "fixed", "gcbc"):
        d = np.array([r["success budget"] - r[f"success {other}"] for r in rows])
        out[other] = stats.gap(d)
    return out


def curves(result: dict, srcs: dict) -> list[dict]:
    """Per maze and w: success (%), dataset-state and rollout-state KL, each mean ± std over seeds."""
    rows = []
    for env_name, env in result["envs"].items():
        ws = np.asarray(env["ws"], float)
        success = 100 * gx.success_by_w(srcs[env_name])[1][env["seeds"]]
        kl, rkl = dataset_kl(env), rollout_kl_mean(env)
        for j, w in enumerate(ws):
            rows.append(dict(env=gx.short_name(env_name), w=w, **{
                f"{name} {part}": v for name, x in (("success", success), ("KL dataset", kl), ("KL rollouts", rkl))
                for part, v in zip(("mean", "std"), stats.mean_std(x[:, j]), strict=True)
            }))  # fmt: skip
    return rows


def peaks(curve_rows: list[dict]) -> list[dict]:
    """Per maze, the w whose seed-mean success is highest (ties: the smallest w; oracle, for the 'do they line up'
    question only) and the KL it spends."""
    out = []
    for env in dict.fromkeys(r["env"] for r in curve_rows):
        rows = [r for r in curve_rows if r["env"] == env]
        best = max(rows, key=lambda r: (r["success mean"], -r["w"]))
        out.append(dict(env=env, w=best["w"], success=best["success mean"], kl=best["KL dataset mean"]))
    return out


def checks(result: dict) -> dict:
    """What the estimator's own checks found, over every maze: the largest |mass - 1| of the gridded densities (w up
    to MASS_CHECK_W), the
    largest relative gap between the reported KL and the finer map's (w > 0), the smallest step determinant of the
    reported maps at dataset states, the share of states whose 16-step map folds (a determinant <= 0) at the
    largest w, the largest inversion residual."""
    mass, gap, det, fold, residual = [], [], [], [], []
    for env in result["envs"].values():
        if "density" in env:
            d = env["density"]
            mass.append(np.abs(np.asarray(d["mass"]) - 1)[np.asarray(d["ws"]) <= MASS_CHECK_W].max())
        reported, fine = np.asarray(env["check"]["reported"]["kl"]), np.asarray(env["check"]["fine"]["kl"])
        ws = np.asarray(env["ws"])
        gap.append(np.abs(reported - fine)[ws > 0].mean() / np.abs(fine)[ws > 0].mean())
        det.append(min(np.min(d["det_min"]) for d in env["dataset"]))
        fold.append(np.mean(np.asarray(env["check"]["sampler"]["det_min"])[-1] <= 0))
        residual.append(max(np.max(d["residual"]) for d in env["dataset"]))
    return dict(mass_error=float(max(mass)), fine_gap=float(max(gap)), det_min=float(min(det)),
                fold_share=float(np.mean(fold)), residual=float(max(residual)))  # fmt: skip


def ablation_curves(result: dict) -> dict | None:
    """Large's shared vs separate networks: ws, kl[method] [S, W] (mean over states), success[method] [S, W] (%),
    and the paired KL difference separate - shared at each w (mean, SE)."""
    env = result["envs"].get(LARGE, {})
    if "ablation" not in env:
        return None
    ab = env["ablation"]
    kl = {m: np.array([np.mean(d["kl"], axis=1) for d in v["seeds"]]) for m, v in ab.items()}
    diff = stats.mean_se(kl["separate"] - kl["shared"], axis=0)
    return dict(ws=np.asarray(ab["shared"]["ws"]), kl=kl, diff=diff,
                success={m: 100 * np.asarray(v["success"]) for m, v in ab.items()})  # fmt: skip


SUMMARY_W = 3.0  # the w whose KL the Summary quotes along the policy's own episodes (on the grid of notebook 04)


def _lines(parts) -> str:
    return "; ".join(parts)


def summary_values(result: dict, srcs: dict) -> dict:
    """The values of notebook 09's Summary (and the README's results09 block), all from the measurement and notebook
    04's results."""
    preset = result["preset"]
    envs = result["envs"]
    first = envs[preset["env_names"][0]]
    ws = np.asarray(first["ws"], float)
    w_idx = {w: gx._w_index(ws, w) for w in (1.0, SUMMARY_W)}
    ck = checks(result)
    kl_lines, rollout_lines = [], []
    for env_name, env in envs.items():
        kl = dataset_kl(env)
        cells = ", ".join(f"$w = {w:g}$ {stats.pm(*stats.mean_std(kl[:, j]), '.2f')}" for w, j in w_idx.items())
        kl_lines.append(f"{gx.short_name(env_name)} {cells}")
        j = w_idx[SUMMARY_W]
        rollout_lines.append(f"{gx.short_name(env_name)} {stats.pm(*stats.mean_std(rollout_kl_mean(env)[:, j]), '.2f')}"
                             f" (dataset states {stats.pm(*stats.mean_std(kl[:, j]), '.2f')})")  # fmt: skip
    pk = peaks(curves(result, srcs))
    solved = [p for p in pk if p["success"] > 0 and p["w"] > 0]
    peak_lines = _lines(f"{p['env']} $w = {p['w']:g}$ ({p['success']:.1f} %, KL {p['kl']:.2f} nats)"
                        if p["success"] > 0 else f"{p['env']} no success at any $w$" for p in pk)  # fmt: skip
    if len(solved) >= 2:
        w_ratio = max(p["w"] for p in solved) / min(p["w"] for p in solved)
        kl_ratio = max(p["kl"] for p in solved) / min(p["kl"] for p in solved)
        line_up = (f"Over the mazes with some success, the best $w$ varies by a factor {w_ratio:.1f} and the KL it "
                   f"spends by a factor {kl_ratio:.1f}: "
                   + ("in nats the peaks sit closer together than in $w$." if kl_ratio < w_ratio
                      else "in nats the peaks do not sit closer together than in $w$."))  # fmt: skip
    else:
        line_up = "Fewer than two mazes have any success, so there is nothing to line up."
    cal = calibration(result, srcs)
    rows = choices(result, srcs)
    diffs = rule_differences(rows)
    per_env = {}
    for r in rows:
        per_env.setdefault(r["env"], []).append(f"{r['w budget']:g}")
    values = dict(
        preset=preset["name"], source=preset["source_preset"], seeds=len(first["seeds"]), samples=preset["num_samples"],
        states=preset["num_states"], steps=preset["flow_steps"], minutes=result["seconds"] / 60,
        device=result["device_description"], mass_error=ck["mass_error"], fine_gap_pct=100 * ck["fine_gap"],
        fine_steps=preset["check_flow_steps"], det_min=ck["det_min"], mass_w=MASS_CHECK_W,
        grid_w_top=GRID_WS[-1], grid_mass_top=envs[preset["map_env"]]["density"]["mass"][-1],
        sampler_steps=SAMPLER_STEPS,
        fold_pct=100 * ck["fold_share"], w_top=float(ws[-1]), kl_lines=_lines(kl_lines), w_mid=SUMMARY_W,
        rollout_lines=_lines(rollout_lines), peak_lines=peak_lines, line_up=line_up, budget=cal["budget"],
        cal_env=gx.short_name(cal["env"]), cal_ws=" ".join(f"{w:g}" for w in cal["chosen_w"]),
        budget_ws=_lines(f"{e} {' '.join(v)}" for e, v in per_env.items()), fixed_w=cal["fixed_w"],
        pairs=diffs["validated"][2],
    )  # fmt: skip
    for other, (mean, se, n) in diffs.items():
        values[f"vs_{other}"] = f"{round(mean, 9) + 0.0:+.1f} ± {se:.1f}"
        values[f"vs_{other}_verdict"] = stats.verdict(mean, se, n, unit="pairs")
    mean, se, n = diffs["validated"]
    values["budget_verdict"] = (
        "Where the budget rule and validation differ beyond the noise, the rollouts on validation goals are worth "
        "their cost." if stats.beyond_noise(mean, se, n) and mean < 0 else
        "The budget rule does better than validation beyond the noise." if stats.beyond_noise(mean, se, n) else
        "At this number of seeds the budget rule, which needs no rollout on the maze, cannot be told apart from "
        "validation, which rolls out 20 goals at every $w$."
    )  # fmt: skip
    ab = ablation_curves(result)
    if ab is None:
        values["ablation"] = "not measured by this preset."
    else:
        parts = []
        for w in (1.0, SUMMARY_W):
            j = gx._w_index(ab["ws"], w)
            mean, se = ab["diff"][0][j], ab["diff"][1][j]
            parts.append(
                f"at $w = {w:g}$ shared {stats.pm(*stats.mean_std(ab['kl']['shared'][:, j]), '.2f')} nats, separate "
                f"{stats.pm(*stats.mean_std(ab['kl']['separate'][:, j]), '.2f')} (separate − shared "
                f"{mean:+.2f} ± {se:.2f}, {stats.verdict(mean, se, len(ab['kl']['shared']))})"
            )  # fmt: skip
        values["ablation"] = _lines(parts) + "."
    return values
