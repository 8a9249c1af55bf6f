"""Notebook 04's experiment, GCBC vs CFGRL on OGBench (pointmaze, cube-single): one goal-conditioned flow per seed
gives the whole w-curve (paper Fig. 4/6, Table 3). Notebook 08's studies run through it too (`gc_studies`).

One experiment on one environment, end to end:

    dataset    NAME.npz generated locally (`ogbench.datasets`), loaded by OGBench's own loader as NAME-oraclerep
    training   S seeds vmapped, hindsight-relabelled goal batches (`ogbench.gc_dataset`), goal dropped to the learned
               null embedding with probability p_uncond; parameters kept at several checkpoints (e.g. 25/50/100 %)
    evaluation OGBench's 5 evaluation tasks x E episodes x every w, all rollouts in lockstep (`ogbench.evaluation`);
               w = 0 is flow BC, w = 1 flow GCBC, w > 1 CFGRL
    selection  w chosen per seed on VALIDATION goals: random start/goal pairs that are not the 5 evaluation tasks
               (`ogbench.validation`), `stats.choose_by_validation`
    method     the shared network of the paper, or notebook 08's separate networks and hierarchy (`ogbench.methods`)

    run = obtain_run("pointmaze-medium-navigate-v0", "cpu", result_path("cpu", name))   # trained, or loaded
    success_by_w(run.result)  ->  ws, per-seed success [S, W]
    run.params (final, seed-stacked), run.policy(s): to sample or roll out the trained policies

Files of one run (`protocol.RunFolder`): <results>/<env>.json (the result) and <results>/<env>/ with config.json,
weights/ (final parameters, orbax, + config.json; small enough to commit for the cpu preset) and, while it runs,
train/step_*/ (orbax checkpoints: parameters, Adam state, step, loss curve) and evals/*.json (finished evaluations).
A killed run started again resumes from them and writes the same result; they are deleted when it completes.

A result is a plain JSON-able dict that records the preset, seeds, timings and device, so a figure made from it
says what produced it. Presets: "fast" (tests, seconds), "cpu" (what `make figures` runs on 2 cores), "paper"
(4x512 GELU, batch 1024, 1M steps, 16 flow steps, 8 seeds, 15 episodes per task, the three mazes, teleport and
cube-single: a GPU run).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

import jax
import numpy as np

from cfgrl_core import train
from cfgrl_core.checks import check_nonnegative_int
from cfgrl_core.experiments import protocol, stats
from cfgrl_core.experiments.resumable import checkpoint_steps, restore_state, train_resumable
from cfgrl_core.io.checkpoints import load_json, restore_pytree, save_weights_folder
from cfgrl_core.io.provenance import device_description, file_sha256, git_commit, npz_arrays_sha256
from cfgrl_core.networks import ModelConfig
from cfgrl_core.ogbench import datasets as ogbench_data
from cfgrl_core.ogbench import evaluation, methods
from cfgrl_core.ogbench.validation import as_task_info, oraclerep_name, validation_tasks

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
    checkpoint_every: int = 10_000  # steps between resumable training checkpoints (orbax, in the run folder)
    methods: tuple = ("shared",)  # `methods.METHODS` the preset runs on each env (the script's default)
    subgoal_steps: int = 25  # the hierarchical method's subgoal horizon K


MAZES = ("pointmaze-medium-navigate-v0", "pointmaze-large-navigate-v0", "pointmaze-giant-navigate-v0")
TELEPORT = "pointmaze-teleport-navigate-v0"

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
        checkpoint_every=100,
    ),
    # `make figures` on a 2-core CPU: 8 to 20 min per maze depending on the CPU (each result's `timings` holds
    # the measured cost). 100k steps x batch 256 is 1/40 of the paper's 1M x 1024 samples seen.
    "cpu": Preset(
        name="cpu",
        env_names=MAZES + (TELEPORT,),
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
        env_names=MAZES + (TELEPORT, "cube-single-play-v0"),
        num_episodes=None,
        hidden_dims=(512, 512, 512, 512),
        batch_size=1024,
        num_steps=1_000_000,
        num_seeds=8,
        episodes_per_task=15,
        checkpoint_episodes_per_task=5,
        num_val_tasks=20,
        steps_per_call=5000,
        checkpoint_every=50_000,
    ),
}


EXPERIMENT = protocol.Experiment("gcbc_cfgrl", PRESETS, script="scripts/run_gcbc_cfgrl.py")
get_preset = EXPERIMENT.preset  # a Preset by name ("fast", "cpu", "paper") or a Preset itself
results_dir = EXPERIMENT.results_dir  # results/gcbc_cfgrl/<preset> (or $CFGRL_RESULTS_DIR/gcbc_cfgrl/<preset>)


def result_path(preset_name: str, env_name: str, root=None, method: str = "shared") -> Path:
    """<results_dir(preset) or root>/<env>.json for the shared network; <env>--<method>.json for the other
    methods."""
    suffix = "" if methods.check_method(method) == "shared" else f"--{method}"
    return (results_dir(preset_name) if root is None else Path(root)) / f"{env_name}{suffix}.json"


def run_dir_for(result_file) -> Path:
    """The run folder beside a result file: <env>.json -> <env>/ (checkpoints while it runs, then the weights)."""
    return Path(result_file).with_suffix("")


def load_result(path) -> dict:
    """A result written by `run_and_save`; a missing file is a clear FileNotFoundError."""
    return EXPERIMENT.load_result(path)


def paper_runs(root=None) -> dict[str, dict]:
    """{"<preset>/<env>": result} of every paper-type run that exists (`EXPERIMENT.paper_dirs(root)`: results/
    gcbc_cfgrl/paper*/, e.g. the committed H200 `paper-trial`), in order; empty when none has been run."""
    return {f"{folder.name}/{path.stem}": load_result(path)
            for folder in EXPERIMENT.paper_dirs(root) for path in sorted(folder.glob("*.json"))}  # fmt: skip


def run_label(result: dict) -> str:
    """What made a result, as a table row says it: 'gpu: NVIDIA H200, 330,000 steps × 1024, 4×512, 8 seeds, 25
    episodes per seed and w' (the device, the last checkpoint's steps, the seeds and the final evaluation's episodes
    per seed and w, read from the result itself); what the result does not record (a hand-made result in a test)
    is left out."""
    preset, step = result["preset"], result["checkpoint_steps"][-1]
    seeds, tasks, episodes = np.asarray(result["success"][str(step)]).shape[:3]
    batch = f" × {preset['batch_size']}" if "batch_size" in preset else ""
    network = f"{stats.mlp_name(preset['hidden_dims'])}, " if "hidden_dims" in preset else ""
    return (
        f"{result.get('device', 'device not recorded')}, {step:,} steps{batch}, {network}{seeds} seeds, "
        f"{tasks * episodes} episodes per seed and w"
    )


def dataset_folder(preset: Preset, data_dir=None) -> Path:
    """Where the preset's dataset files live (`ogbench.datasets.size_folder`)."""
    return ogbench_data.size_folder(preset.num_episodes, data_dir)


def load_training_data(env_name: str, preset: Preset, *, data_dir=None, seed: int = 0, progress: bool = True):
    """(train dataset dict, recipe, train path) of an env at the preset's size: generated if missing, loaded with
    OGBench's loader as its -oraclerep dataset (`ogbench.datasets.generate_and_load`)."""
    return ogbench_data.generate_and_load(env_name, oraclerep_name(env_name), num_episodes=preset.num_episodes,
                                          data_dir=data_dir, seed=seed, progress=progress)  # fmt: skip


def seed_params(params, s: int):
    """The parameters of seed s from a seed-stacked pytree."""
    return jax.tree_util.tree_map(lambda x: x[s], params)


@dataclasses.dataclass
class ExperimentRun:
    """What `run_experiment` returns: the JSON-able result and the trained policies (final checkpoint)."""

    result: dict
    params: dict  # seed-stacked parameters (leading axis = seed), host arrays
    model_config: ModelConfig  # the (shared) policy's; for two-network methods, the action network's
    learner: object = None  # the learner that trained params (`methods.make_learner`)
    method: str = "shared"

    def policy(self, s: int, flow_steps: int | None = None) -> evaluation.RowPolicy:
        """Seed s's evaluation policy (`methods.policy`), with the result's flow steps by default."""
        steps = self.result["preset"]["flow_steps"] if flow_steps is None else flow_steps
        learner = self.learner or train.CFGLearner(self.model_config, train.TrainConfig())  # shared: only the config
        return methods.policy(self.method, seed_params(self.params, s), learner, steps)


def run_config(env_name: str, preset: Preset, seed: int, model_config: ModelConfig, dataset_sha256: str,
               method: str = "shared", learner=None) -> dict:  # fmt: skip
    """What identifies a run: a run folder holding another config is never resumed (an error says so)."""
    config = dict(
        env_name=env_name, preset=dataclasses.asdict(preset), seed=seed, model_config=dataclasses.asdict(model_config),
        dataset_sha256=dataset_sha256,
    )  # fmt: skip
    if method != "shared":
        config.update(method=method, model_configs=methods.configs_record(learner))
    return config


def save_weights(folder, params, model_config: ModelConfig, meta: dict, learner=None) -> Path:
    """Final parameters (seed-stacked) as an orbax checkpoint in `folder`, with model config + meta as JSON (and,
    for a two-network learner, its members: name, config, p_uncond, and its learning rate)."""
    record = dict(model_config=dataclasses.asdict(model_config), **meta)
    if isinstance(learner, train.MultiFlowLearner):
        record["members"] = [
            dict(name=m.name, model_config=dataclasses.asdict(m.model_config), p_uncond=m.p_uncond)
            for m in learner.members
        ]
        record["learning_rate"] = learner.learning_rate
    return save_weights_folder(folder, params, record, record_name="config.json")


def learner_of_record(meta: dict):
    """The learner a `save_weights` record describes (CFGLearner for a shared network)."""
    if "members" not in meta:
        return train.CFGLearner(ModelConfig(**meta["model_config"]), train.TrainConfig())
    members = tuple(
        train.FlowMember(m["name"], ModelConfig(**m["model_config"]), m["p_uncond"]) for m in meta["members"]
    )
    return train.MultiFlowLearner(members, learning_rate=meta["learning_rate"])


def load_weights(folder, with_learner: bool = False):
    """(seed-stacked params, model config) saved by `save_weights`; with_learner: (params, config, learner)."""
    folder = Path(folder)
    meta = load_json(folder / "config.json")
    model_config = ModelConfig(**meta["model_config"])
    learner = learner_of_record(meta)
    num_seeds = int(meta["num_seeds"])
    like = train.create_runs(learner, jax.random.split(jax.random.PRNGKey(0), num_seeds)).params
    params = restore_pytree(folder / "params", jax.device_get(like))
    return (params, model_config, learner) if with_learner else (params, model_config)


def train_seeds(key, data, sample_fn, learner, preset, folder: protocol.RunFolder | None, progress, desc,
                devices=None):  # fmt: skip
    """Train preset.num_seeds seeds of `learner` to preset.num_steps (`resumable.train_resumable`: checkpoints every
    `checkpoint_every` steps, the checkpoint steps kept, resumed from the latest). devices: shard the seeds over
    them (`train.run_training`, `train.ShardedRuns`).

    Returns (seed-stacked TrainState at the end, loss curve [S, num_steps], params_at(step) -> host params of a
    checkpoint step). Without a folder nothing is saved (the same numbers: the key schedule does not depend on it).
    """
    key_init, key_train = jax.random.split(key)
    s = preset.num_seeds
    fresh = train.create_runs(learner, jax.random.split(key_init, s))
    keep = checkpoint_steps(preset)
    kept = {}

    def keep_params(step, states):
        kept[step] = jax.device_get(states.params)

    states, losses = train_resumable(
        learner, fresh, data, jax.random.split(key_train, s), num_steps=preset.num_steps,
        batch_size=preset.batch_size, checkpoints=None if folder is None else folder.train,
        checkpoint_every=preset.checkpoint_every, keep=keep, sample_fn=sample_fn,
        steps_per_call=preset.steps_per_call, stops=keep, on_stop=keep_params, progress=progress, desc=desc,
        devices=devices,
    )  # fmt: skip

    def params_at(step):
        if step not in kept:  # passed before a resume: read back from its checkpoint
            kept[step] = restore_state(folder.train, step, fresh).params
        return kept[step]

    return states, losses, params_at


def run_experiment(
    env_name: str,
    preset,
    *,
    seed: int = 0,
    data_dir=None,
    run_dir=None,
    progress: bool = True,
    log=print,
    method: str = "shared",
    devices=None,
) -> ExperimentRun:
    """Dataset -> S seeds trained with checkpoints -> w-curves at every checkpoint -> w chosen on validation goals.

    `result` is a JSON-able dict (see the module docstring); its `success` arrays are nested lists indexed
    [seed][task][episode][w] (evaluation tasks) and `val_success` [seed][validation task][w] at the last step.
    Evaluation env seeds are the same for every model seed (common random numbers: the spread over seeds is the
    spread of the trained models, not of start states).
    run_dir: a folder (`RunFolder`) for resumable checkpoints and finished evaluations; a run killed at any point
    and started again with the same arguments continues where it stopped and returns the same result (timings
    aside). None keeps everything in memory.
    method: "shared" (one network, the paper's), "separate" (two networks) or "hierarchical" (`methods`).
    devices: local devices to shard the seeds' training over (None: one device; `train.ShardedRuns` says when the
    numbers are bitwise the one-device ones).
    """
    preset = get_preset(preset)
    check_nonnegative_int("seed", seed)
    timings = {}
    t0 = time.perf_counter()
    raw, recipe, train_path = load_training_data(env_name, preset, data_dir=data_dir, seed=seed, progress=progress)
    dataset_sha256 = file_sha256(train_path)
    dataset_arrays_sha256 = npz_arrays_sha256(train_path)  # the data, whatever the file's bytes
    method = methods.check_method(method)
    data, sample_fn = methods.make_sampler(method, raw, preset)
    timings["data_s"] = time.perf_counter() - t0
    model_config = methods.model_config_for(raw, preset)
    learner = methods.make_learner(method, raw, preset)
    config = run_config(env_name, preset, seed, model_config, dataset_sha256, method, learner)
    folder = None if run_dir is None else protocol.RunFolder(run_dir, config)
    resumed_from = None if folder is None else folder.train.latest()

    t0 = time.perf_counter()
    label = env_name.removesuffix("-navigate-v0") + ("" if method == "shared" else f" ({method})")
    desc = f"{label}: training {preset.num_seeds} seeds"
    states, losses, params_at = train_seeds(
        jax.random.PRNGKey(seed), data, sample_fn, learner, preset, folder, progress, desc, devices
    )
    timings["train_s"] = time.perf_counter() - t0
    log(f"{env_name}: trained {preset.num_seeds} seeds x {preset.num_steps} steps in {timings['train_s']:.0f} s")

    eval_name = oraclerep_name(env_name)
    common = dict(seed=seed, max_steps=preset.max_steps)

    def policy_of(step, s):
        return methods.policy(method, seed_params(params_at(step), s), learner, preset.flow_steps)

    steps = checkpoint_steps(preset)
    success, lengths = {}, {}
    t0 = time.perf_counter()
    with evaluation.EnvPool() as pool:

        def evaluate_step(step):
            episodes = preset.episodes_per_task if step == steps[-1] else preset.checkpoint_episodes_per_task
            jobs = [(policy_of(step, s), preset.ws) for s in range(preset.num_seeds)]  # all seeds in one lockstep
            runs = evaluation.evaluate_many(
                eval_name, jobs, episodes_per_task=episodes, pool=pool, progress=progress, **common
            )
            return dict(
                success=np.stack([r.success for r in runs]).astype(int).tolist(),
                lengths=np.stack([r.lengths for r in runs]).tolist(),
            )

        for step in steps:
            done = protocol.cached_or_run(folder, f"step_{step:08d}", lambda s=step: evaluate_step(s))
            success[step], lengths[step] = done["success"], done["lengths"]
            curve = np.asarray(done["success"], float).mean(axis=(0, 1, 2))
            log(
                f"  step {step}: success by w "
                + " ".join(f"{w:g}:{c:.2f}" for w, c in zip(preset.ws, curve, strict=True))
            )
        timings["eval_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        val_tasks = validation_tasks(env_name, preset.num_val_tasks, seed)

        def evaluate_validation():
            runs = evaluation.evaluate_many(
                eval_name, [(policy_of(steps[-1], s), preset.ws) for s in range(preset.num_seeds)],
                task_infos=[as_task_info(t) for t in val_tasks], episodes_per_task=1, pool=pool, progress=progress,
                **dict(common, seed=seed + 10_000),
            )  # fmt: skip
            return np.stack([r.success[:, 0, :] for r in runs]).astype(int).tolist()  # [S, K, W]

        val_success = np.asarray(protocol.cached_or_run(folder, "validation", evaluate_validation))
        timings["val_s"] = time.perf_counter() - t0
    result = dict(
        env_name=env_name,
        method=method,
        preset=dataclasses.asdict(preset),
        seed=seed,
        ws=list(preset.ws),
        checkpoint_steps=steps,
        success={str(k): v for k, v in success.items()},
        lengths={str(k): v for k, v in lengths.items()},
        val_tasks=json.loads(json.dumps(val_tasks)),
        val_success=val_success.tolist(),
        chosen_w=[float(w) for w in stats.choose_by_validation(val_success, preset.ws)],
        loss_every_100=losses[:, ::100].round(5).tolist(),
        dataset_recipe=recipe,
        dataset_sha256=dataset_sha256,
        dataset_arrays_sha256=dataset_arrays_sha256,
        model_config=dataclasses.asdict(model_config),
        model_configs=methods.configs_record(learner),
        timings={k: round(v, 2) for k, v in timings.items()},
        resumed_from_step=resumed_from,
        device=device_description(),
        jax_version=jax.__version__,
        commit=git_commit(),
    )
    log(f"  validation: chosen w per seed {result['chosen_w']}; times {result['timings']}")
    return ExperimentRun(result=result, params=jax.device_get(states.params), model_config=model_config,
                         learner=learner, method=method)  # fmt: skip


def run_and_save(env_name: str, preset, result_file, *, seed: int = 0, data_dir=None, progress=True, log=print,
                 method: str = "shared", devices=None):  # fmt: skip
    """`run_experiment` in the run folder beside `result_file` (resumable), then the result JSON, the final weights
    (<run folder>/weights/) and the cleanup of checkpoints and cached evaluations. Returns the ExperimentRun."""
    preset = get_preset(preset)
    folder = run_dir_for(result_file)
    run = run_experiment(env_name, preset, seed=seed, data_dir=data_dir, run_dir=folder, progress=progress, log=log,
                         method=method, devices=devices)  # fmt: skip
    meta = dict(env_name=env_name, method=run.method, preset=preset.name, seed=seed, num_seeds=preset.num_seeds,
                step=preset.num_steps, dataset_sha256=run.result["dataset_sha256"], commit=run.result["commit"],
                device=run.result["device"])  # fmt: skip
    save_weights(folder / "weights", run.params, run.model_config, meta, run.learner)
    protocol.save_result(run.result, result_file)
    protocol.clear_work(folder)
    return run


def obtain_run(env_name: str, preset, result_file, *, reuse: bool = False, seed: int = 0, data_dir=None,
               progress=True, log=print, method: str = "shared", devices=None) -> ExperimentRun:  # fmt: skip
    """The run a notebook needs. A finished run is loaded (`load_run`: no training) when reuse=True, or when it was
    made by this very commit of a clean tree (a `make figures` stopped half-way and started again does not redo
    the envs it finished). Otherwise a finished run is done again from scratch, and an unfinished one (checkpoints
    in its folder) is resumed."""
    folder = run_dir_for(result_file)
    return protocol.obtain(
        env_name, result_file, also=[folder / "weights"], reuse=reuse, load=lambda: load_run(result_file),
        discard=lambda: shutil.rmtree(folder, ignore_errors=True),  # a finished run: start again, keep nothing of it
        run=lambda: run_and_save(env_name, preset, result_file, seed=seed, data_dir=data_dir, progress=progress,
                                 log=log, method=method, devices=devices),
        log=log,
    )  # fmt: skip


def prepare_result_file(result_file, preset_name: str, *, overwrite: bool = False, fresh: bool = False,
                        log=print) -> bool:  # fmt: skip
    """`protocol.prepare_result_file` for a result and the run folder beside it (the command-line runners)."""
    return protocol.prepare_result_file(result_file, run_dir_for(result_file), preset_name=preset_name,
                                        overwrite=overwrite, fresh=fresh, log=log)  # fmt: skip


def load_run(result_file) -> ExperimentRun:
    """A finished run from its result JSON and the weights beside it (no training, no evaluation)."""
    result = load_result(result_file)
    params, model_config, learner = load_weights(run_dir_for(result_file) / "weights", with_learner=True)
    method = result.get("method", "shared")
    return ExperimentRun(result=result, params=params, model_config=model_config, learner=learner, method=method)


def _w_index(ws: np.ndarray, w: float) -> int:
    """Index of w in ws [W] (which must hold it)."""
    return int(np.flatnonzero(np.isclose(ws, w))[0])


def success_by_w(result: dict, step: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ws [W], per-seed success rate [S, W]) averaged over the 5 tasks and their episodes, at `step` (last)."""
    step = result["checkpoint_steps"][-1] if step is None else step
    success = np.asarray(result["success"][str(step)], float)  # [S, T, E, W]
    return np.asarray(result["ws"], float), success.mean(axis=(1, 2))


SUMMARY_WS = {"flow BC (w=0)": 0.0, "flow GCBC (w=1)": 1.0, "CFGRL (w=3)": 3.0}  # summary_row's fixed-w columns


def summary_row(result: dict) -> dict:
    """One table row: success (%) mean ± std over seeds at w = 0, 1, 3 and at the validation-chosen w.

    std is the sample std over seeds (ddof = 1); NaN for a result with a single seed. The result's ws must hold
    0, 1 and 3, and its chosen_w one w of ws per seed: otherwise a ValueError says what is missing."""
    ws, per_seed = success_by_w(result)  # [W], [S, W]
    where = f"{result['env_name']} (preset {result['preset']['name']!r}, ws {[float(w) for w in ws]})"
    missing = [w for w in SUMMARY_WS.values() if not np.isclose(ws, w).any()]
    if missing:
        raise ValueError(
            f"summary_row needs w = 0, 1 and 3 (the flow BC, flow GCBC and CFGRL columns); the result of {where} "
            f"lacks w = {', '.join(f'{w:g}' for w in missing)}: evaluate a preset whose ws include them"
        )
    chosen = np.asarray(result["chosen_w"], float)
    if chosen.shape != (per_seed.shape[0],) or not all(np.isclose(ws, w).any() for w in chosen):
        raise ValueError(f"chosen_w {result['chosen_w']} of {where} is not one evaluated w per seed")
    row = dict(env=result["env_name"], preset=result["preset"]["name"], run=run_label(result), seeds=per_seed.shape[0])
    for label, w in SUMMARY_WS.items():
        row[f"{label} mean"], row[f"{label} std"] = stats.mean_std(per_seed[:, _w_index(ws, w)] * 100)
    picked = per_seed[np.arange(len(chosen)), [_w_index(ws, w) for w in chosen]] * 100
    row["CFGRL (validated w) mean"], row["CFGRL (validated w) std"] = stats.mean_std(picked)
    row["validated w per seed"] = " ".join(f"{w:g}" for w in chosen)
    paper = PAPER_TABLE3.get(result["env_name"]) if result.get("method", "shared") == "shared" else None  # flat
    row["paper flow GCBC"], row["paper CFGRL (w=3)"] = paper if paper else (None, None)
    return row


# ---- notebook 04's report: the values of its table and Summary, which scripts/render_readme.py reads too -------

SUMMARY_CMP_WS = (1.5, 2.0, 3.0)  # the w > 1 the Summary compares with GCBC (those of the preset's grid)


def short_name(env_name: str) -> str:
    """'pointmaze-large-navigate-v0' -> 'large'; 'cube-single-play-v0' -> 'cube-single'."""
    return "-".join(env_name.split("-")[:2]).replace("pointmaze-", "")


TABLE_COLUMNS = (*SUMMARY_WS, "CFGRL (validated w)")  # the table's success columns


def shown_table(rows: list[dict]):
    """The table as a reader sees it (a pandas DataFrame): env, method (when the rows have one), preset, the run
    (device, steps, seeds, episodes: `run_label`), each success column as mean ± std, the validated w per seed and
    the paper's GCBC → CFGRL where it has the env."""
    import pandas as pd

    table = pd.DataFrame(rows)
    method = {"method": table["method"]} if "method" in table else {}
    paper = [f"{a:g} → {b:g}" if a is not None and not pd.isna(a) else "–"
             for a, b in zip(table["paper flow GCBC"], table["paper CFGRL (w=3)"], strict=True)]  # fmt: skip
    return pd.DataFrame({
        "env": table["env"].str.replace("-navigate-v0", "").str.replace("-play-v0", ""), **method,
        "preset": table["preset"], "run": table["run"],
        **{c: [stats.pm(r[f"{c} mean"], r[f"{c} std"]) for _, r in table.iterrows()] for c in TABLE_COLUMNS},
        "validated w per seed": table["validated w per seed"], "paper GCBC → CFGRL": paper,
    })  # fmt: skip


def paired_gap(result: dict, w_a: float, w_b: float, step: int | None = None) -> tuple[float, float, int]:
    """success(w_b) - success(w_a) per seed in points (the same trained seed at both w): (mean, SE, seeds), the
    triple `stats.verdict` reads."""
    ws, per_seed = success_by_w(result, step)
    d = 100 * (per_seed[:, int(np.argmin(np.abs(ws - w_b)))] - per_seed[:, int(np.argmin(np.abs(ws - w_a)))])
    return stats.gap(d)


def tied_for_best(result: dict, step: int) -> tuple[float, list[float]]:
    """The best w of the seed-mean curve at `step`, and every w whose paired difference to it is within the noise
    (`stats.beyond_noise`)."""
    ws, per_seed = success_by_w(result, step)
    best = float(ws[np.argmax(per_seed.mean(0))])
    return best, [float(w) for w in ws if not stats.beyond_noise(*paired_gap(result, best, w, step))]


def table_rows(results: dict) -> list[dict]:
    """`summary_row` of every result, in order; a missing paper number is NaN (as in the table's CSV)."""
    rows = [summary_row(r) for r in results.values()]
    return [{k: float("nan") if v is None else v for k, v in row.items()} for row in rows]


def _scale_line(label: str, result: dict) -> tuple[str, dict]:
    """One scale's part of `scale_comparison`: its text and its numbers (GCBC, each w > 1 vs GCBC paired over seeds,
    how many of those the verdict rule separates, the mean gain and the mean std over seeds of the differences)."""
    ws, per_seed = success_by_w(result)
    row = summary_row(result)
    gaps = {float(w): paired_gap(result, 1.0, float(w)) for w in ws if w > 1}
    cmp = {w: g for w, g in gaps.items() if w in SUMMARY_CMP_WS}  # the Summary's comparisons: w = 1.5, 2, 3
    diff_std = [se * np.sqrt(n) for _, se, n in cmp.values()]  # std over seeds of the paired differences
    best = float(ws[np.argmax(per_seed.mean(0))])
    text = (
        f"  - {label} ({row['run']}): GCBC {stats.pm(row['flow GCBC (w=1) mean'], row['flow GCBC (w=1) std'])}, "
        f"validated w {stats.pm(row['CFGRL (validated w) mean'], row['CFGRL (validated w) std'])}, best w of the "
        f"seed-mean curve {best:g} (oracle, reference only); w vs GCBC: "
        + "; ".join(f"{w:g} {m:+.1f} ± {se:.1f} ({stats.verdict(m, se, n)})" for w, (m, se, n) in gaps.items())
    )
    numbers = dict(gcbc=row["flow GCBC (w=1) mean"], n_up=sum(m > 0 and stats.beyond_noise(m, se, n)
                                                             for m, se, n in cmp.values()),
                   n_cmp=len(cmp), mean_gain=float(np.mean([m for m, _, _ in cmp.values()])),
                   diff_std=float(np.mean(diff_std)), seeds=row["seeds"],
                   cmp_ws=", ".join(f"{w:g}" for w in cmp))  # fmt: skip
    return text, numbers


def scale_comparison(results: dict, paper: dict) -> dict:
    """Notebook 04 at two scales: for every paper-type run (`paper_runs()`, {"<preset>/<env>": result}) whose maze
    `results` (this preset's runs) also has, both runs' GCBC and w > 1 vs GCBC (paired over seeds, the verdict
    rule), beside the paper's Table 3 marks. {"lines": Markdown bullets (or a sentence saying no paper-type run
    exists), "numbers": {key: {"paper_type": ..., "this": ...}}}. Where both gain on average but only the larger
    run's gains are separated, the line says what differs: the noise (std of the paired differences, seeds)."""
    lines, numbers = [], {}
    for key, big in paper.items():
        env = big["env_name"]
        small = results.get(env)
        big_text, big_n = _scale_line(f"`{big['preset']['name']}`", big)
        text = f"- **{short_name(env)} at two scales.**\n{big_text}."
        if small is not None and small is not big:
            small_text, small_n = _scale_line(f"`{small['preset']['name']}`", small)
            text += f"\n{small_text}."
            numbers[key] = dict(paper_type=big_n, this=small_n)
            if big_n["mean_gain"] > 0 and small_n["mean_gain"] > 0 and big_n["n_up"] > small_n["n_up"]:
                text += (f"\n  - What differs: the mean paired difference from GCBC over w ∈ {{{big_n['cmp_ws']}}} is "
                         f"{small_n['mean_gain']:+.1f} points at the smaller scale and {big_n['mean_gain']:+.1f} at "
                         f"the larger, the same sign; the paired differences scatter over seeds with a std of "
                         f"{small_n['diff_std']:.1f} against {big_n['diff_std']:.1f} points, over {small_n['seeds']} "
                         f"against {big_n['seeds']} seeds, which is what lets the test separate "
                         f"{big_n['n_up']} of these {big_n['n_cmp']} comparisons at the larger scale and "
                         f"{small_n['n_up']} of {small_n['n_cmp']} at the smaller.")  # fmt: skip
        else:
            numbers[key] = dict(paper_type=big_n)
        paper_marks = PAPER_TABLE3.get(env)
        if paper_marks:
            text += (
                f"\n  - The paper (third-party transcription of Table 3, {get_preset('paper').num_steps:,} steps): "
                f"GCBC {paper_marks[0]:g} → CFGRL (w = 3) {paper_marks[1]:g}."
            )
        lines.append(text)
    if not lines:
        lines = ["- **At the paper's sizes**: no paper-type run exists (`python scripts/run_gcbc_cfgrl.py --preset "
                 "paper`, a GPU job, writes one)."]  # fmt: skip
    return dict(lines="\n".join(lines), numbers=numbers)


def paper_status(paper: dict) -> str:
    """The README's sentence on paper-type runs, from whether they exist (never typed)."""
    if not paper:
        return "The `paper` preset (`python scripts/run_gcbc_cfgrl.py --preset paper`, a GPU job) has not been run yet."
    runs = "; ".join(f"`results/gcbc_cfgrl/{key}.json` ({run_label(r)})" for key, r in paper.items())
    full = {key.split("/")[0] for key in paper} & {"paper"}
    rest = "" if full else " The full `paper` preset (every maze, the paper's step count) has not been run."
    return (
        f"Paper-type runs on record: {runs}; they are the table's extra rows, and notebook 04's Summary compares "
        f"them with this preset on the same maze.{rest}"
    )


def summary_values(results: dict, preset, paper: dict | None = None) -> dict:
    """Every value notebook 04's Summary states (and the README's results04 block), from the results of `preset`
    ({env: result}): the table, GCBC vs BC and each w of SUMMARY_CMP_WS vs GCBC paired over seeds with the verdict
    rule, the w within the noise of the best at the first and last checkpoint, the budget next to the paper's, and
    the paper-type runs (`paper`: {"<preset>/<env>": result}, default `paper_runs()`) beside this preset's."""
    paper_type = paper_runs() if paper is None else paper
    paper_type = {k: r for k, r in paper_type.items() if r["preset"]["name"] != get_preset(preset).name}
    scales = scale_comparison(results, paper_type)
    preset, paper = get_preset(preset), get_preset("paper")
    envs = list(results)
    cmp_ws = [w for w in SUMMARY_CMP_WS if w in preset.ws]
    table = {short_name(row["env"]): row for row in table_rows(results)}
    blocks, comparisons, gcbc_vs_bc, moves = [], [], {}, {}
    for name in envs:
        row, short = table[short_name(name)], short_name(name)
        cells = {c: stats.pm(row[f"{c} mean"], row[f"{c} std"]) for c in SUMMARY_WS | {"CFGRL (validated w)": None}}
        lines = [f"- **{short}**: BC {cells['flow BC (w=0)']}, GCBC {cells['flow GCBC (w=1)']}, CFGRL w=3 "
                 f"{cells['CFGRL (w=3)']}, validated w {cells['CFGRL (validated w)']} "
                 f"(w per seed: {row['validated w per seed']})."]  # fmt: skip
        gcbc_vs_bc[name] = paired_gap(results[name], 0.0, 1.0)
        lines.append(f"  - GCBC vs BC: {stats.gap_text(gcbc_vs_bc[name])}.")
        for w in cmp_ws:
            mean, se, n = paired_gap(results[name], 1.0, w)
            comparisons.append((name, w, mean, se, n))
            lines.append(f"  - w = {w:g} vs GCBC: {stats.gap_text((mean, se, n))}.")
        steps = results[name]["checkpoint_steps"]
        ties = {st: tied_for_best(results[name], st) for st in steps}
        moves[name] = not set(ties[steps[0]][1]) & set(ties[steps[-1]][1])  # first and last sets do not overlap
        lines.append("  - Best w by checkpoint (oracle, reference only; in brackets the w within the noise of it): "
                     + "; ".join(f"{st:,} steps ({np.asarray(results[name]['success'][str(st)]).shape[2]} ep./task): "
                                 f"{b:g} [{', '.join(f'{w:g}' for w in tied)}]" for st, (b, tied) in ties.items())
                     + ".")  # fmt: skip
        blocks.append("\n".join(lines))
    final = [np.asarray(r["success"][str(r["checkpoint_steps"][-1])]) for r in results.values()]  # [S, T, E, W]
    final_episodes, n_tasks = {a.shape[2] for a in final}, {a.shape[1] for a in final}
    wins = [short_name(name) for name, (m, se, n) in gcbc_vs_bc.items() if m > 0 and stats.beyond_noise(m, se, n)]
    ups = sum(m > 0 and stats.beyond_noise(m, se, n) for *_, m, se, n in comparisons)
    downs = sum(m < 0 and stats.beyond_noise(m, se, n) for *_, m, se, n in comparisons)
    ratio = paper.num_steps * paper.batch_size / (preset.num_steps * preset.batch_size)
    return {
        "preset": preset.name, "n_envs": len(envs), "seeds": preset.num_seeds,
        "n_tasks": ", ".join(map(str, sorted(n_tasks))), "episodes": ", ".join(map(str, sorted(final_episodes))),
        "binom_se": 100 * 0.5 / np.sqrt(min(n_tasks) * min(final_episodes)), "per_env": "\n".join(blocks),
        "gcbc_wins": len(wins), "gcbc_win_names": ", ".join(wins) or "none",
        "gcbc_rest": ", ".join(short_name(n) for n in envs if short_name(n) not in wins) or "none",
        "cmp_ws": ", ".join(f"{w:g}" for w in cmp_ws), "n_cmp": len(comparisons), "n_up": ups, "n_down": downs,
        "n_flat": len(comparisons) - ups - downs,
        "moved": ", ".join(short_name(n) for n, m in moves.items() if m) or "none",
        "not_moved": ", ".join(short_name(n) for n, m in moves.items() if not m) or "none",
        "ckpt_episodes": preset.checkpoint_episodes_per_task, "ratio": f"1/{ratio:.0f}",
        "steps": preset.num_steps, "batch": preset.batch_size, "paper_steps": paper.num_steps,
        "paper_batch": paper.batch_size, "hidden": stats.mlp_name(preset.hidden_dims),
        "paper_hidden": stats.mlp_name(paper.hidden_dims),
        "table_w": 3.0,  # the w of Table 3's CFGRL column (and of ours)
        "paper": "; ".join(f"{short_name(n)} {a:g} → {b:g}" for n, (a, b) in PAPER_TABLE3.items()),
        "table": table,
        "paired": {f"{short_name(name)} w={w:g}": [m, se, n] for name, w, m, se, n in comparisons},
        "gcbc_vs_bc": {short_name(n): list(v) for n, v in gcbc_vs_bc.items()},
        "scales": scales["lines"], "scale_numbers": scales["numbers"], "paper_status": paper_status(paper_type),
    }  # fmt: skip
