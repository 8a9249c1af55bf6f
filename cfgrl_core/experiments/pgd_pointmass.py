"""Notebook 06's point-mass experiment (PGD Figure 2) as one resumable run: data, models, samples, measures.

    run = obtain(get_preset("cpu"), results_dir("cpu"))      # trains, samples and measures, or loads a finished run
                                                              # (results/pgd/<preset>/, `protocol`)
    run.result["metrics"]["pgd"]["1"]["dynamics_error"]       # one value per seed

What a run does, every step seeded:
1. the behaviour dataset (`pointmass.obtain_dataset`, <dir>/pointmass.npz) and its windows (`windows`);
2. the trajectory model, S seeds in one vmapped program (`trajectory_model`), checkpointed every
   `checkpoint_every` steps under <dir>/train/ and saved when done under <dir>/trajectory_model/;
3. the world-model ensemble, E members for each of the S seeds (<dir>/world_model/);
3a. the integrator study (`integrator_study`): divergence and dynamics error of the guided denoiser over lambda x
   Euler steps on validation keys, and the flow steps every later set is sampled with (`choose_flow_steps`: the
   smallest step count at which nothing diverges and the dynamics error is within `step_tolerance` of the
   finest, at every lambda);
4. for each seed: `num_samples` windows from the data, from k-step world-model rollouts (and H-step ones, to show
   compounding), from the unguided model and from PGD at every lambda of the grid (guided denoiser, 'score') and
   every step length of the released code's schedule ('shift') and, with the states differentiated too, at
   every lambda of `window_lams` ('pgd_window'); plus references that need no model: target-
   policy rollouts in the true simulator, rollouts of the product policy pi~ and exact p_PGD windows (pi~
   rollouts resampled by prod Z(s_t), `tilt`);
5. the measures of `measures` on each set, saved in <dir>/results.json, and a few windows of each set for
   drawing in <dir>/samples.npz.

Worlds (`Preset.world`): the open box of `pointmass`, or `pointmass.WallWorld` (contacts), whose `cpu-wall` run
is notebook 06's test of why the world model has the lower dynamics error in the open box (`ordering_values`).
Paper-type runs (results/pgd/paper*/, `paper_runs`) add labelled rows to the table (`all_table_rows`).

Choosing lambda for the headline: on a *validation* draw (other sampling keys), the largest lambda whose dynamics
error, averaged over seeds, stays within `dyn_tolerance` (1.5) times the unguided model's; the reported numbers
come from the separate test draw. Spread: the sample standard deviation (ddof = 1) over seeds, where a seed is one
trajectory-model training, one world-model ensemble and one set of sampling keys (the dataset is shared).
"""

from __future__ import annotations

import dataclasses
import io
import json
import time
from pathlib import Path

import jax
import numpy as np

from cfgrl_core.checks import check_positive_int
from cfgrl_core.experiments import protocol, stats
from cfgrl_core.experiments.resumable import train_resumable
from cfgrl_core.io.atomic import atomic_write_bytes
from cfgrl_core.io.checkpoints import save_json
from cfgrl_core.io.provenance import device_description, file_sha256, git_commit
from cfgrl_core.pgd import measures, pointmass, tilt, trajectory_model, world_model
from cfgrl_core.pgd.policy_guidance import PolicyGuidance
from cfgrl_core.pgd.windows import Normaliser, make_windows
from cfgrl_core.progress import announce
from cfgrl_core.train import create_runs


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    num_episodes: int = 200  # behaviour episodes (about 40 transitions each)
    horizon: int = 16  # H, transitions per window (= generation length)
    stride: int = 4  # window stride within an episode
    hidden: tuple = (256, 256, 256)  # trajectory model MLP
    num_steps: int = 20_000  # trajectory model Adam steps
    batch_size: int = 256
    learning_rate: float = 1e-3
    num_seeds: int = 3
    wm_hidden: tuple = (128, 128)
    wm_members: int = 5
    wm_steps: int = 5_000
    wm_rollout: int = 5  # k, the truncated world model's rollout length
    num_samples: int = 1024  # windows per set, per seed
    num_drawn: int = 40  # windows per set kept for the figures (seed 0)
    flow_steps_grid: tuple = (16, 32, 64, 128, 256, 512)  # Euler step counts of the integrator study
    step_tolerance: float = 0.05  # flow steps: dynamics error within this fraction of the grid's finest, every lambda
    study_samples: int = 512  # windows per seed, lambda and step count in the integrator study
    lams: tuple = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)  # guided-denoiser exponents (0 = unguided)
    shift_steps: tuple = (0.1, 0.3, 1.0, 3.0)  # the released code's step length c
    window_lams: tuple = (0.3, 1.0, 3.0)  # exponents of whole-window guidance (states differentiated too)
    dyn_tolerance: float = 1.5  # lambda* keeps dynamics error within this factor of the unguided model's
    world: str = "open"  # the world (`WORLDS`): the open box, or "wall" (contacts; the ordering study)
    checkpoint_every: int = 5_000
    steps_per_call: int = 1_000

    def __post_init__(self):
        for f in ("num_episodes", "horizon", "stride", "num_steps", "num_seeds", "wm_members", "wm_steps",
                  "wm_rollout", "num_samples", "study_samples"):  # fmt: skip
            check_positive_int(f, getattr(self, f))
        if not self.flow_steps_grid or list(self.flow_steps_grid) != sorted(set(self.flow_steps_grid)):
            raise ValueError(f"flow_steps_grid must be increasing step counts, got {self.flow_steps_grid}")
        for n in self.flow_steps_grid:
            check_positive_int("flow_steps_grid", n)
        if self.world not in WORLDS:
            raise ValueError(f"world must be one of {sorted(WORLDS)}, got {self.world!r}")
        if self.num_seeds < 2:
            raise ValueError("a spread over seeds needs num_seeds >= 2")
        if 0.0 not in self.lams:
            raise ValueError("the lambda grid must hold 0 (the unguided model)")


WORLD = pointmass.PointMassWorld()
WORLDS = {"open": WORLD, "wall": pointmass.WallWorld()}  # Preset.world -> the world
BEHAVIOUR, TARGET = pointmass.BEHAVIOUR, pointmass.TARGET
SCORE, SHIFT = PolicyGuidance(), PolicyGuidance(mode="shift", evaluate_at="noisy")
WINDOW = PolicyGuidance(gradient="window")  # the guided denoiser with the states differentiated too

PRESETS = {
    "fast": Preset("fast", num_episodes=120, hidden=(128, 128), num_steps=1_000, num_seeds=2, wm_hidden=(64, 64),
                   wm_members=3, wm_steps=500, num_samples=256, num_drawn=24, flow_steps_grid=(8, 16, 32),
                   study_samples=128, lams=(0.0, 0.1, 1.0, 30.0), shift_steps=(0.3, 3.0), window_lams=(1.0,),
                   checkpoint_every=1_000, steps_per_call=1_000),
    "cpu": Preset("cpu"),
    # the ordering study: the cpu preset in the world with a wall (contacts), run by scripts/run_pgd.py
    "cpu-wall": Preset("cpu-wall", world="wall"),
    "paper": Preset("paper", num_episodes=1_000, hidden=(512, 512, 512, 512), num_steps=200_000, num_seeds=5,
                    wm_hidden=(200, 200, 200, 200), wm_steps=50_000, num_samples=4096,
                    flow_steps_grid=(32, 64, 128, 256, 512, 1024), study_samples=1024,
                    checkpoint_every=20_000, steps_per_call=5_000),
}  # fmt: skip


EXPERIMENT = protocol.Experiment("pgd", PRESETS, script="scripts/run_pgd.py")
get_preset = EXPERIMENT.preset  # a Preset by name ("fast", "cpu", "paper") or a Preset itself
results_dir = EXPERIMENT.results_dir  # results/pgd/<preset> (or $CFGRL_RESULTS_DIR/pgd/<preset>)


@dataclasses.dataclass
class Run:
    result: dict  # config, provenance, metrics (results.json)
    samples: dict  # name -> array of drawn windows' parts (samples.npz)
    folder: Path


def _key(tag: str, *ints) -> jax.Array:
    key = jax.random.key(0)
    for i in (sum(map(ord, tag)), *ints):
        key = jax.random.fold_in(key, i)
    return key


DIVERGED = 10.0  # a window with any |state| beyond this (the box is [-1.5, 1.5]) has left the world: diverged


def measure(states, actions, rewards=None, dones=None, *, lam=None, world=WORLD) -> dict:
    """The measures of one set of windows (numpy arrays; states [N, H+1, 2]).

    Windows that diverged (any |state| > DIVERGED, or not finite: guidance far too strong) are counted in
    `diverged_fraction` and left out of the other measures (None when every window diverged)."""
    states, actions = np.asarray(states, np.float64), np.asarray(actions, np.float64)
    finite = np.isfinite(states).all((1, 2)) & np.isfinite(actions).all((1, 2))
    ok = finite & (np.abs(np.where(np.isfinite(states), states, np.inf)).max((1, 2)) <= DIVERGED)
    out = {"diverged_fraction": float(1.0 - ok.mean())}
    if not ok.any():
        return out
    states, actions = states[ok].astype(np.float32), actions[ok].astype(np.float32)
    errors = measures.dynamics_errors(world, states, actions)  # [N, H]
    out.update(
        log_lik=measures.target_log_likelihood(TARGET, states, actions),
        dynamics_error=float(np.asarray(errors, np.float64).mean()),
        final_distance=float(np.linalg.norm(states[:, -1] - np.asarray(TARGET.goal), axis=-1).mean()),
        dynamics_by_step=errors.mean(0).tolist(),
    )
    if rewards is not None:
        out["reward_error"] = measures.reward_error(world, states, actions, np.asarray(rewards)[ok])
    if dones is not None:
        out["terminal_fraction"] = float((np.asarray(dones)[ok] > 0.5).mean())
    if lam is not None and lam > 0:
        out["log_z"] = measures.mean_log_z(BEHAVIOUR, TARGET, lam, states)
    return out


def _train_trajectory_model(preset, z, layout, folder: protocol.RunFolder, progress):
    config = trajectory_model.model_config(layout, preset.hidden)
    learner = trajectory_model.trajectory_learner(config, batch_size=preset.batch_size,
                                                  learning_rate=preset.learning_rate)  # fmt: skip
    s = preset.num_seeds
    states = create_runs(learner, jax.random.split(_key("trajectory init"), s))
    states, losses = train_resumable(
        learner, states, trajectory_model.device_data(z), jax.random.split(_key("trajectory train"), s),
        num_steps=preset.num_steps, batch_size=preset.batch_size,
        checkpoints=folder.checkpoints("trajectory"), checkpoint_every=preset.checkpoint_every,
        steps_per_call=preset.steps_per_call, progress=progress, desc=f"trajectory model, {s} seeds",
    )  # fmt: skip
    return states.params, config, losses


def _train_world_model(preset, data, folder: protocol.RunFolder, progress):
    learner = world_model.WorldModelLearner(hidden=tuple(preset.wm_hidden))
    arrays, norms = world_model.transition_data(data)
    r = preset.num_seeds * preset.wm_members  # run r = seed r // E, member r % E
    states = create_runs(learner, jax.random.split(_key("world model init"), r))
    states, losses = train_resumable(
        learner, states, arrays, jax.random.split(_key("world model train"), r), num_steps=preset.wm_steps,
        batch_size=preset.batch_size, checkpoints=folder.checkpoints("world_model"),
        checkpoint_every=preset.checkpoint_every, steps_per_call=preset.steps_per_call, progress=progress,
        desc=f"world model, {r} members",
    )  # fmt: skip
    return states.params, learner, norms, losses


def _draw(x_parts: dict, n: int) -> dict:
    return {k: np.asarray(v)[:n] for k, v in x_parts.items()}


def world_of(preset) -> pointmass.PointMassWorld:
    return WORLDS[get_preset(preset).world]


def evaluate_seed(preset, seed, params, config, layout, normaliser, wm, windows_x, split: str, *,
                  flow_steps: int) -> tuple[dict, dict]:  # fmt: skip
    """Measures (and drawn windows) of every model-based set for one seed. split: 'val' or 'test' keys."""
    n, h, world = preset.num_samples, preset.horizon, world_of(preset)
    metrics, drawn = {}, {}
    p = trajectory_model.seed_params(params, seed)
    for mode, grid, guidance in (("pgd", preset.lams, SCORE), ("pgd_shift", preset.shift_steps, SHIFT),
                                 ("pgd_window", preset.window_lams, WINDOW)):  # fmt: skip
        metrics[mode] = {}
        for lam in grid:
            x = trajectory_model.generate(p, config, layout, normaliser, _key(split, seed), n, lam=lam, target=TARGET,
                                          flow_steps=flow_steps, guidance=guidance)  # fmt: skip
            parts = layout.unflatten(x)
            metrics[mode][f"{lam:g}"] = measure(**parts, lam=lam if mode != "pgd_shift" else None, world=world)
            drawn[f"{mode}_{lam:g}"] = _draw(parts, preset.num_drawn)
    wm_params, wm_learner, wm_norms = wm
    e = preset.wm_members
    members = jax.tree_util.tree_map(lambda a: a[seed * e : (seed + 1) * e], wm_params)
    rng = np.random.default_rng([seed, sum(map(ord, split))])
    layout_states = layout.unflatten(windows_x)["states"]
    starts = layout_states[:, :-1].reshape(-1, 2)[rng.integers(0, len(windows_x) * h, n)]
    for name, steps in (("world_model", preset.wm_rollout), ("world_model_full", h)):
        roll = world_model.rollout(wm_learner, members, wm_norms, TARGET, starts, steps, _key(split + name, seed))
        metrics[name] = measure(roll["states"], roll["actions"], roll["rewards"], world=world)
        drawn[name] = _draw(roll, preset.num_drawn)
    return metrics, drawn


def evaluate_references(preset, windows_x, layout, seed: int) -> tuple[dict, dict]:
    """Sets that need no model: data windows, target rollouts, product-policy rollouts and exact p_PGD windows."""
    rng = np.random.default_rng([seed, 7])
    n, h, world = preset.num_samples, preset.horizon, world_of(preset)
    idx = rng.choice(len(windows_x), n, replace=True)
    data = layout.unflatten(windows_x[idx])
    metrics, drawn = {"data": measure(**data, world=world)}, {"data": _draw(data, preset.num_drawn)}
    s0 = data["states"][:, 0]
    st, act, _ = pointmass.rollout(world, TARGET, s0, h, rng)
    metrics["target"] = measure(st, act, world=world)
    drawn["target"] = _draw({"states": st, "actions": act}, preset.num_drawn)
    metrics["product"], metrics["exact_pgd"] = {}, {}
    for lam in preset.lams:
        if lam == 0:
            continue
        pool = 8 * n  # pi~ rollouts to resample from
        st, act, log_w = tilt.product_policy_windows(world, BEHAVIOUR, TARGET, lam, s0[rng.integers(0, n, pool)], h,
                                                     rng)  # fmt: skip
        metrics["product"][f"{lam:g}"] = measure(st[:n], act[:n], lam=lam, world=world)
        pick, ess = tilt.resample(log_w, n, rng)
        metrics["exact_pgd"][f"{lam:g}"] = {**measure(st[pick], act[pick], lam=lam, world=world), "ess": ess}
        drawn[f"exact_pgd_{lam:g}"] = _draw({"states": st[pick], "actions": act[pick]}, preset.num_drawn)
    return metrics, drawn


def integrator_study(preset, params, config, layout, normaliser) -> dict:
    """Divergence and dynamics error of the guided denoiser over lambda x Euler steps, on validation keys (the same
    noise for every lambda and step count of a seed): {"flow_steps": grid, "lams": lams, "metrics": {"<N>": {"<lam>":
    {measure: [per seed]}}}}. Explicit Euler on v + lambda kappa(t) grad log q is stiff in proportion to lambda over
    the target's variance, so a coarse grid can diverge where the ODE itself does not."""
    world, per_seed = world_of(preset), []
    for seed in range(preset.num_seeds):
        p, out = trajectory_model.seed_params(params, seed), {}
        for steps in preset.flow_steps_grid:
            out[str(steps)] = {}
            for lam in preset.lams:
                x = trajectory_model.generate(p, config, layout, normaliser, _key("integrator", seed),
                                              preset.study_samples, lam=lam, target=TARGET,
                                              flow_steps=steps)  # fmt: skip
                m = measure(**layout.unflatten(x), world=world)
                out[str(steps)][f"{lam:g}"] = {k: v for k, v in m.items() if k != "dynamics_by_step"}
        per_seed.append(out)
    return {"flow_steps": list(preset.flow_steps_grid), "lams": list(preset.lams), "metrics": _stack_seeds(per_seed)}


def study_table(study: dict) -> list[dict]:
    """One row per (flow steps, lambda) of an integrator study: diverged fraction and dynamics error, mean and std
    over seeds (a seed whose windows all diverged has no dynamics error)."""
    rows = []
    for steps in study["flow_steps"]:
        for lam in study["lams"]:
            d = study["metrics"][str(steps)][f"{lam:g}"]
            div = np.asarray(d["diverged_fraction"], float)
            dyn = np.array([np.nan if v is None else v for v in d.get("dynamics_error", [None] * len(div))], float)
            mu, sd = stats.mean_std_present(dyn) if np.isfinite(dyn).any() else (np.nan, np.nan)
            rows.append({"flow_steps": steps, "lambda": lam, "diverged": float(div.mean()), "diverged max":
                         float(div.max()), "dynamics_error": mu, "dynamics_error sd": sd})  # fmt: skip
    return rows


def choose_flow_steps(study: dict, tolerance: float) -> int:
    """THE rule for the Euler steps (it reads the integrator study's validation draws, never the test sets): the
    smallest step count of the grid at which no window of any seed diverges at any lambda and the dynamics error
    (mean over seeds) is within `tolerance` (relative) of the grid's finest step count, at every lambda. The finest
    when none is."""
    rows = study_table(study)
    finest = {r["lambda"]: r["dynamics_error"] for r in rows if r["flow_steps"] == study["flow_steps"][-1]}
    for steps in study["flow_steps"]:
        here = [r for r in rows if r["flow_steps"] == steps]
        if all(r["diverged max"] == 0 and abs(r["dynamics_error"] - finest[r["lambda"]]) <= tolerance
               * finest[r["lambda"]] for r in here):  # fmt: skip
            return int(steps)
    return int(study["flow_steps"][-1])


def choose_lambda(val: list[dict], preset: Preset) -> float:
    """The largest lambda whose validation windows never diverged and whose dynamics error (mean over seeds) is
    within dyn_tolerance times the unguided model's."""
    base = np.mean([m["pgd"]["0"]["dynamics_error"] for m in val])

    def acceptable(lam):
        ms = [m["pgd"][f"{lam:g}"] for m in val]
        if any(x["diverged_fraction"] > 0 for x in ms):
            return False
        return np.mean([x["dynamics_error"] for x in ms]) <= preset.dyn_tolerance * base

    return float(max(lam for lam in preset.lams if lam == 0 or acceptable(lam)))


def _stack_seeds(per_seed: list):
    """[{name: {..: value}}] per seed -> {name: {..: [value per seed]}} (recursively; None where a seed has no
    value, e.g. a measure of a set whose windows all diverged)."""
    dicts = [d for d in per_seed if isinstance(d, dict)]
    if dicts:
        keys = list(dict.fromkeys(k for d in dicts for k in d))
        return {k: _stack_seeds([d.get(k) if isinstance(d, dict) else None for d in per_seed]) for k in keys}
    return list(per_seed)


def run_config(preset: Preset) -> dict:
    """What determines a run: the preset, the world and the two policies (as it reads back from config.json)."""
    config = {"preset": dataclasses.asdict(preset), "world": dataclasses.asdict(world_of(preset)),
              "behaviour": dataclasses.asdict(BEHAVIOUR), "target": dataclasses.asdict(TARGET)}  # fmt: skip
    return json.loads(json.dumps(config))


def run_and_save(preset, folder, *, progress=True, log=announce) -> Run:
    preset = get_preset(preset)
    config = run_config(preset)
    run_folder = protocol.RunFolder(folder, config)
    folder = run_folder.path
    t_start = time.time()
    data_path = folder / "pointmass.npz"
    data = pointmass.obtain_dataset(data_path, pointmass.Recipe(num_episodes=preset.num_episodes,
                                                                world=world_of(preset)))  # fmt: skip
    windows = make_windows(data, preset.horizon, preset.stride)
    normaliser = Normaliser.fit(windows.x)
    layout = windows.layout
    log(f"point-mass data: {len(data['rewards'])} transitions, {len(windows.x)} windows of {layout.horizon} "
        f"({windows.dropped_episodes} episodes shorter than a window)")  # fmt: skip
    t0 = time.time()
    params, model_config, traj_losses = _train_trajectory_model(preset, normaliser.normalise(windows.x), layout,
                                                                run_folder, progress)  # fmt: skip
    t_traj = time.time() - t0
    t0 = time.time()
    wm_params, wm_learner, wm_norms, wm_losses = _train_world_model(preset, data, run_folder, progress)
    t_wm = time.time() - t0
    t0 = time.time()
    study = integrator_study(preset, params, model_config, layout, normaliser)
    flow_steps = choose_flow_steps(study, preset.step_tolerance)
    t_study = time.time() - t0
    log(f"flow steps: {flow_steps} (the smallest of {list(preset.flow_steps_grid)} at which no lambda diverges and "
        f"the dynamics error is within {preset.step_tolerance:.0%} of the finest, on validation keys)")  # fmt: skip
    t0 = time.time()
    per_seed = {"val": [], "test": []}
    drawn = {}
    for seed in range(preset.num_seeds):
        for split in ("val", "test"):
            m, d = evaluate_seed(preset, seed, params, model_config, layout, normaliser,
                                 (wm_params, wm_learner, wm_norms), windows.x, split,
                                 flow_steps=flow_steps)  # fmt: skip
            if split == "test":
                ref, ref_drawn = evaluate_references(preset, windows.x, layout, seed)
                m.update(ref)
                if seed == 0:
                    drawn = {**d, **ref_drawn}
            per_seed[split].append(m)
    t_eval = time.time() - t0
    lam_star = choose_lambda(per_seed["val"], preset)
    result = {
        "config": config,
        "commit": git_commit(),
        "device": device_description(),
        "dataset_sha256": file_sha256(data_path),
        "num_transitions": int(len(data["rewards"])),
        "num_windows": int(len(windows.x)),
        "dropped_episodes": int(windows.dropped_episodes),
        "terminal_windows": int(layout.unflatten(windows.x)["dones"][:, -1].sum()),
        "lambda_star": lam_star,
        "flow_steps": flow_steps,
        "integrator": study,
        "metrics": _stack_seeds(per_seed["test"]),
        "validation": _stack_seeds(per_seed["val"]),
        "final_loss": {
            "trajectory": traj_losses[:, -200:].mean(1).tolist(),
            "world_model": wm_losses[:, -200:].mean(1).tolist(),
        },
        "seconds": {
            "trajectory_model": t_traj,
            "world_model": t_wm,
            "integrator_study": t_study,
            "evaluation": t_eval,
            "total": time.time() - t_start,
        },
    }
    meta = {"preset": preset.name, "steps": preset.num_steps, "dataset_sha256": result["dataset_sha256"]}
    trajectory_model.save_model(folder / "trajectory_model", params, model_config, layout, normaliser, meta)
    world_model.save_ensemble(folder / "world_model", wm_params, wm_learner, wm_norms,
                              {**meta, "members": preset.wm_members, "steps": preset.wm_steps})  # fmt: skip
    save_samples(folder / "samples.npz", drawn)
    save_json(folder / "results.json", result)
    run_folder.clear_work()
    return Run(result, drawn, folder)


def save_samples(path, drawn: dict) -> Path:
    flat = {f"{name}/{part}": arr for name, parts in drawn.items() for part, arr in parts.items()}
    buf = io.BytesIO()
    np.savez_compressed(buf, **flat)
    return atomic_write_bytes(path, buf.getvalue())


def load_samples(path) -> dict:
    out: dict = {}
    with np.load(path, allow_pickle=False) as f:
        for key in f.files:
            name, part = key.split("/")
            out.setdefault(name, {})[part] = f[key]
    return out


def load_run(folder) -> Run:
    """A finished run from its folder: results.json and the drawn windows of samples.npz."""
    folder = Path(folder)
    return Run(EXPERIMENT.load_result(folder / "results.json"), load_samples(folder / "samples.npz"), folder)


def obtain(preset, folder, *, reuse: bool = False, progress=True, log=announce) -> Run:
    """A finished run is loaded when reuse=True or when this clean commit made it (`protocol.obtain`); otherwise the
    run is done (resuming the checkpoints of an interrupted one)."""
    preset = get_preset(preset)
    folder = Path(folder)

    def discard():  # the finished run's record; the dataset (it checks its recipe) stays, the models are retrained
        for name in ("results.json", "samples.npz", "config.json"):
            (folder / name).unlink(missing_ok=True)

    return protocol.obtain(
        f"the run in {folder}", folder / "results.json", also=[folder / "samples.npz"], reuse=reuse,
        load=lambda: load_run(folder), discard=discard, run=lambda: run_and_save(preset, folder, progress=progress,
                                                                                log=log),
        log=log,
    )  # fmt: skip


# ---- notebook 06's report: the measures by set, and the Summary values of a run (scripts/render_readme.py too) -----


def seed_values(measures_of_set: dict, key: str, num_seeds: int) -> np.ndarray:
    """Per-seed values [S] of one measure of one set (NaN where a seed's windows all diverged or the set lacks it)."""
    values = measures_of_set.get(key, [None] * num_seeds)
    return np.array([np.nan if v is None else v for v in values], float)


def mean_sd(measures_of_set: dict, key: str, num_seeds: int) -> tuple[float, float]:
    """(mean, std with ddof = 1) over the seeds that have a value (`stats.mean_std_present`); NaN, NaN when no seed
    has one (every window diverged)."""
    values = seed_values(measures_of_set, key, num_seeds)
    return stats.mean_std_present(values) if np.isfinite(values).any() else (float("nan"), float("nan"))


TABLE_MEASURES = ("log_lik", "dynamics_error", "reward_error", "final_distance", "terminal_fraction")


def run_flow_steps(result: dict) -> int:
    """The Euler steps a run's sets were sampled with (chosen by `choose_flow_steps`; older runs: the preset's)."""
    return int(result.get("flow_steps", result["config"]["preset"].get("flow_steps", 0)))


def run_label(result: dict) -> str:
    """What made a run, as a table row says it, read from the result: 'gpu: NVIDIA H100, 200,000 steps, 5 seeds,
    4096 windows per set, 128 flow steps'."""
    p = result["config"]["preset"]
    return (f"{result.get('device', '?')}, {p['num_steps']:,} steps, {p['num_seeds']} seeds, {p['num_samples']} "
            f"windows per set, {run_flow_steps(result)} flow steps")  # fmt: skip


def paper_runs(root=None) -> dict[str, dict]:
    """{"<folder>": result} of every paper-type run that exists (`EXPERIMENT.paper_dirs(root)`: results/pgd/paper*/
    holding a results.json), in order; empty when none has been run."""
    return {folder.name: EXPERIMENT.load_result(folder / "results.json") for folder in EXPERIMENT.paper_dirs(root)
            if (folder / "results.json").is_file()}  # fmt: skip


def table_sets(result: dict, preset=None) -> list[tuple[str, dict]]:
    """(label, measures) of the sets in the table: target rollouts, data, the world model at k and H steps, the
    unguided model and PGD at lambda* (sizes read from the result's own preset; `preset` is not needed)."""
    del preset
    m, lam, p = result["metrics"], result["lambda_star"], result["config"]["preset"]
    return [("target rollouts (true env)", m["target"]), ("offline data", m["data"]),
            (f"world model, k = {p['wm_rollout']}", m["world_model"]),
            (f"world model, k = {p['horizon']}", m["world_model_full"]), ("unguided model", m["pgd"]["0"]),
            (f"PGD, λ* = {lam:g}", m["pgd"][f"{lam:g}"])]  # fmt: skip


def table_rows(result: dict, run: str) -> list[dict]:
    """The table's rows of one run: {"run", "set", measure, "<measure> sd"} per set, mean and std over its seeds."""
    s, rows = result["config"]["preset"]["num_seeds"], []
    for name, d in table_sets(result):
        row = {"run": run, "set": name}
        for key in TABLE_MEASURES:
            row[key], row[f"{key} sd"] = mean_sd(d, key, s) if key in d else (np.nan, np.nan)
        rows.append(row)
    return rows


def all_table_rows(result: dict, preset, paper: dict | None = None) -> list[dict]:
    """This run's rows, then those of every paper-type run (`paper_runs()` by default; a run of this very preset is
    not repeated), each run's first row labelled with its device, steps, seeds, windows and flow steps."""
    preset = get_preset(preset)
    paper = paper_runs() if paper is None else paper
    rows = table_rows(result, f"{preset.name}: {run_label(result)}")
    for name, r in paper.items():
        if name != preset.name:
            rows += table_rows(r, f"{name}: {run_label(r)}")
    return rows


def markdown_table(rows: list[dict]) -> str:
    """The Summary's table: a run's label on its first row only."""
    out = ["| run | set | target log-lik | dynamics error | reward error | terminal fraction |",
           "|---|---|---|---|---|---|"]  # fmt: skip
    previous = None
    for row in rows:
        cells = [stats.pm(row[k], row[f"{k} sd"], f".{2 if k == 'log_lik' else 3}f") if row[k] == row[k] else "–"
                 for k in ("log_lik", "dynamics_error", "reward_error", "terminal_fraction")]  # fmt: skip
        out.append(f"| {row['run'] if row['run'] != previous else ''} | {row['set']} | " + " | ".join(cells) + " |")
        previous = row["run"]
    return "\n".join(out)


def paper_status(paper: dict) -> str:
    """The README's sentence on paper-type runs, from whether they exist (never typed)."""
    if not paper:
        return "The `paper` preset (`python scripts/run_pgd.py --preset paper`, a GPU job) has not been run yet."
    runs = "; ".join(f"`results/pgd/{name}/results.json` ({run_label(r)})" for name, r in paper.items())
    return f"Paper-type results on record: {runs}; notebook 06's table shows them beside the cpu run."


def show_lambda(preset) -> float:
    """The lambda the Z-tilt panels and the Summary look at: 1 when the grid holds it, else its first guided one."""
    return 1.0 if 1.0 in preset.lams else preset.lams[1]


def window_lambda(preset) -> float:
    """The lambda at which action-only and whole-window guidance are compared: `show_lambda` when whole-window
    guidance was run there, else its first lambda."""
    lam = show_lambda(preset)
    return lam if lam in preset.window_lams else preset.window_lams[0]


def integrator_values(result: dict) -> dict:
    """The integrator study's Summary values: the chosen steps, per step count the largest lambda with no diverged
    window, the dynamics error at the grid's second-largest lambda per step count, and where it saturates."""
    study, p = result["integrator"], result["config"]["preset"]
    rows, lams, grid = study_table(study), study["lams"], study["flow_steps"]
    chosen = run_flow_steps(result)

    def at(steps, lam, key):
        return next(r[key] for r in rows if r["flow_steps"] == steps and r["lambda"] == lam)

    stable = [max(lam for lam in lams if at(n, lam, "diverged max") == 0) for n in grid]
    lam_mid = lams[-2]
    dyn_mid = ["diverged" if at(n, lam_mid, "diverged max") > 0 else f"{at(n, lam_mid, 'dynamics_error'):.3f}"
               for n in grid]  # fmt: skip
    unguided = at(chosen, 0.0, "dynamics_error")
    coarse = [n for n in grid if n < chosen]
    return {
        "steps_chosen": chosen, "step_tol": p["step_tolerance"], "steps_finest": grid[-1], "steps_grid": grid,
        "study_samples": p["study_samples"], "lam_top": lams[-1], "lam_mid": lam_mid,
        "stable_by_steps": "; ".join(f"{n}: λ ≤ {lam:g}" for n, lam in zip(grid, stable, strict=True)),
        "dyn_mid_by_steps": "; ".join(f"{n}: {d}" for n, d in zip(grid, dyn_mid, strict=True)),
        "steps_coarse": coarse[-1] if coarse else chosen,
        "div_top_coarse": at(coarse[-1], lams[-1], "diverged") if coarse else 0.0,
        "div_top_chosen": at(chosen, lams[-1], "diverged"),
        "dyn_top_chosen": at(chosen, lams[-1], "dynamics_error"), "dyn_top_finest": at(grid[-1], lams[-1],
                                                                                       "dynamics_error"),
        "sat_ratio": at(chosen, lams[-1], "dynamics_error") / unguided,
    }  # fmt: skip


def window_values(result: dict, preset) -> dict:
    """Action-only against whole-window guidance at `window_lambda`: target log-likelihood, distance of the last
    state to the target goal, E log Z(s_t) and dynamics error, beside exact p_PGD."""
    preset, m = get_preset(preset), result["metrics"]
    lam = window_lambda(preset)
    key, s = f"{lam:g}", preset.num_seeds
    out = {"lam_win": lam}
    for name, d in (("act", m["pgd"][key]), ("win", m["pgd_window"][key]), ("exact", m["exact_pgd"][key])):
        for k in ("log_lik", "final_distance", "log_z", "dynamics_error"):
            out[f"{name}_{k}"] = mean_sd(d, k, s)[0]
    closer = abs(out["win_final_distance"] - out["exact_final_distance"]) < abs(
        out["act_final_distance"] - out["exact_final_distance"])  # fmt: skip
    out["win_closer"] = "closer to" if closer else "no closer to"
    out["win_part"] = ("the stopped state gradient accounts for part of the lag" if closer else
                       "the stopped state gradient does not account for the lag")  # fmt: skip
    return out


def contact_fraction(data: dict, world) -> float:
    """The share of a dataset's transitions whose next state a contact changed (0 in the open box)."""
    s, u = data["observations"], data["actions"]
    bound = np.float32(world.bound)
    free = np.clip(s + np.float32(world.step_size) * np.clip(u, -1, 1).astype(np.float32), -bound, bound)
    return float((np.abs(free - data["next_observations"]).max(-1) > 1e-6).mean())


def ordering_values(open_result: dict, wall_result: dict, wall_data: dict | None = None) -> dict:
    """The ordering study: per world, the full-window world model's dynamics error against the unguided trajectory
    model's, paired over seeds (a seed trains both) with the verdict rule (`stats.verdict`), and their ratio."""
    out = {}
    for name, r in (("open", open_result), ("wall", wall_result)):
        m, s = r["metrics"], r["config"]["preset"]["num_seeds"]
        wm = seed_values(m["world_model_full"], "dynamics_error", s)
        wm_k = seed_values(m["world_model"], "dynamics_error", s)
        traj = seed_values(m["pgd"]["0"], "dynamics_error", s)
        star = seed_values(m["pgd"][f"{r['lambda_star']:g}"], "dynamics_error", s)
        gap = stats.gap(wm - traj)
        out |= {f"{name}_wm_full": float(wm.mean()), f"{name}_wm_k": float(wm_k.mean()),
                f"{name}_unguided": float(traj.mean()), f"{name}_star": float(star.mean()),
                f"{name}_lam_star": r["lambda_star"], f"{name}_ratio": float(wm.mean() / traj.mean()),
                f"{name}_gap": gap[0], f"{name}_verdict": stats.verdict(*gap),
                f"{name}_beyond": bool(stats.beyond_noise(*gap)),
                f"{name}_wm_lower": bool(stats.beyond_noise(*gap) and gap[0] < 0)}  # fmt: skip
    out["wall_contacts"] = contact_fraction(wall_data, WORLDS["wall"]) if wall_data is not None else float("nan")
    wall_beyond = out["wall_beyond"]
    if out["wall_wm_lower"]:
        out["wall_word"] = "does not reverse the ordering (the world model stays below the trajectory model)"
    elif wall_beyond and out["wall_gap"] > 0:
        out["wall_word"] = "reverses the ordering (the world model's error is now above the trajectory model's)"
    else:
        out["wall_word"] = "leaves no difference either way that the paired t-test separates"
    out["cause_word"] = (
        "contacts alone, at these sizes, do not bring back the paper's ordering; what else differs from MuJoCo "
        "(dimension, horizon, model sizes) is untested" if out["wall_wm_lower"] else
        "non-smooth dynamics may be what favours the trajectory model" if wall_beyond and out["wall_gap"] > 0 else
        "at these seeds the test cannot say whether contacts matter"
    )  # fmt: skip
    open_beyond = out["open_beyond"]
    out["ordering_sentence"] = (
        "The paper's ordering does not reproduce:" if out["open_wm_lower"] else
        "The paper's ordering reproduces:" if open_beyond and out["open_gap"] > 0 else
        "The paired t-test does not order the two models here:"
    )  # fmt: skip
    return out


def summary_values(result: dict, preset, paper: dict | None = None) -> dict:
    """The values of notebook 06's Summary that the run holds (the analytic Figure 3's come from the notebook; the
    ordering study's from `ordering_values`): the table of sets (with paper-type rows, `paper`: {"<folder>": result},
    default `paper_runs()`), the likelihood and dynamics error unguided, at lambda* and at the grid's end, the world
    model, the Z(s) tilt at `show_lambda`, the integrator study, whole-window guidance, and `paper_status`."""
    preset = get_preset(preset)
    m, lam_star, s = result["metrics"], result["lambda_star"], preset.num_seeds
    paper = paper_runs() if paper is None else paper

    def at(d, key):
        return mean_sd(d, key, s)[0]

    lam_last, lam_show, star = preset.lams[-1], show_lambda(preset), m["pgd"][f"{lam_star:g}"]
    exact_z, prod_z, pgd_z = (at(m[k][f"{lam_show:g}"], "log_z") for k in ("exact_pgd", "product", "pgd"))
    unguided_dyn = at(m["pgd"]["0"], "dynamics_error")
    out = {
        "preset": preset.name, "seeds": s, "steps": preset.num_steps, "horizon": preset.horizon,
        "n_windows": result["num_windows"], "n_transitions": result["num_transitions"],
        "terminal_windows": result["terminal_windows"], "table": markdown_table(all_table_rows(result, preset, paper)),
        "lam_star": lam_star, "flow_steps": run_flow_steps(result),
        "tol": preset.dyn_tolerance, "wm_k": preset.wm_rollout, "lam_last": lam_last,
        "div_last": at(m["pgd"][f"{lam_last:g}"], "diverged_fraction"),
        "dyn_last": at(m["pgd"][f"{lam_last:g}"], "dynamics_error"),
        "last_ratio": at(m["pgd"][f"{lam_last:g}"], "dynamics_error") / unguided_dyn,
        "ll_unguided": at(m["pgd"][f"{preset.lams[0]:g}"], "log_lik"), "ll_star": at(star, "log_lik"),
        "ll_target": at(m["target"], "log_lik"), "dyn_unguided": unguided_dyn,
        "dyn_star": at(star, "dynamics_error"), "dyn_wm": at(m["world_model"], "dynamics_error"),
        "dyn_wm_full": at(m["world_model_full"], "dynamics_error"),
        "wm_final": at(m["world_model"], "final_distance"), "star_final": at(star, "final_distance"),
        "lam_show": lam_show, "exact_z": exact_z, "prod_z": prod_z, "pgd_z": pgd_z,
        "wm_vs": "lower" if at(m["world_model"], "dynamics_error") < unguided_dyn else "higher",
        "wm_full_vs": "lower" if at(m["world_model_full"], "dynamics_error") < unguided_dyn else "higher",
        "target_final": at(m["target"], "final_distance"), "data_final": at(m["data"], "final_distance"),
        "pgd_vs_exact": "below" if pgd_z < exact_z else "above", "z_order": "more" if exact_z > prod_z else "less",
        "ll_show_pgd": at(m["pgd"][f"{lam_show:g}"], "log_lik"),
        "ll_show_exact": at(m["exact_pgd"][f"{lam_show:g}"], "log_lik"),
        "fd_show_pgd": at(m["pgd"][f"{lam_show:g}"], "final_distance"),
        "fd_show_exact": at(m["exact_pgd"][f"{lam_show:g}"], "final_distance"),
        "dyn_show": at(m["pgd"][f"{lam_show:g}"], "dynamics_error"),
        "lam_before": preset.lams[-2], "dyn_before": at(m["pgd"][f"{preset.lams[-2]:g}"], "dynamics_error"),
        "paper_status": paper_status(paper),
    }  # fmt: skip
    if "integrator" in result:
        out |= integrator_values(result)
    if "pgd_window" in m:
        out |= window_values(result, preset)
    return out
