"""Notebook 05's check of its AWR baseline: is AWR's gap to CFGRL in the mechanism row the method, or our actor?

In the mechanism row (`offline_rl` preset "mechanism": medium task 1, 3x256 networks, batch 128, 50k joint steps,
4 seeds) our Gaussian AWR actor trails CFGRL. The paper's OGBench AWR is the authors' `iql.py` actor, which
differs from ours in three ways (shared/reference/cfgrl.md §2; both are GELU MLPs without LayerNorm, clip the weight
exp(A / beta) at 100 and act with the mean):

  width      4x512 (theirs) against 3x256 (ours, the mechanism row's)
  std        a constant sigma = 1 (theirs: the loss is a weighted squared error) against a learned
             state-independent log sigma (ours, after the authors' ExORL actor)
  init       OGBench's initialisation (fan-average uniform, the mean layer scaled by 0.01) against Flax's default

This experiment retrains the mechanism row's IQL critic with no actor but the AWR variants of `Preset.variants`, each
at the one temperature 1/beta = `Preset.inv_beta` (OGBench's default alpha = 10, fixed before any of our
evaluations; the mechanism row also trains 10). Seeds, minibatches and the critic's keys are those of the mechanism
run (`CriticWithActors` draws the critic's key first whatever its actors, and `jax.random.split` gives the same
leading keys for any count), so each seed's critic is the mechanism run's critic: the result keeps the critics'
label statistics, and `compare` checks them against the mechanism result's. The test episodes are the mechanism
run's (same env seeds), so every comparison is paired by seed on the same critic and the same episodes:

  const_std     our actor (3x256, Flax init) with the authors' constant sigma: the std alone
  ogbench_init  that, with OGBench's initialisation as well: std and init
  authors       the authors' OGBench actor (4x512, OGBench init, constant sigma): all three together

Only the last step is evaluated (`episodes` test episodes per seed, no validation: nothing is chosen). The result
is results/awr_check/<preset>/<task>.json with the provenance; no weights are kept. The record also keeps what it is
paired with (`base_run`: the mechanism run's commit, device, label statistics and its actor's test episodes at
1/beta), because the critics are the same only where the mechanism run is: a mechanism run retrained on another
machine or commit can differ in its last bits, and then `compare` pairs the check with the run it was recorded with
and says so, instead of with critics that are not its own. Resumable: the run's training
checkpoints and its evaluation live under <task>/ until the result is written. It is a record: `make figures` does not
run it (about 50 min on 2 cores); `scripts/run_record.py awr_check` does.
"""

from __future__ import annotations

import dataclasses
import shutil
import time

import jax
import jax.numpy as jnp
import numpy as np

from cfgrl_core.agents import awr, iql
from cfgrl_core.agents.offline import Actor, CriticWithActors
from cfgrl_core.experiments import offline_rl, protocol, stats
from cfgrl_core.experiments.resumable import train_resumable
from cfgrl_core.io.provenance import device_description, file_sha256, git_commit, npz_arrays_sha256
from cfgrl_core.ogbench import evaluation
from cfgrl_core.train import TrainConfig, create_runs


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str  # the actor's key in the result
    label: str  # what the notebook prints
    hidden_dims: tuple
    const_std: bool
    init: str  # awr.INITS


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    base: str  # the offline_rl preset whose task, data, critic, batch, steps, seeds and test episodes are repeated
    task: str
    variants: tuple  # of Variant
    inv_beta: float  # the one AWR temperature, one of the base preset's inv_betas


CONST_STD = Variant("const_std", "ours (3x256) with a constant sigma", (256, 256, 256), True, "flax")
OGBENCH_INIT = Variant("ogbench_init", "ours (3x256) with a constant sigma and OGBench's init", (256, 256, 256), True,
                       "ogbench")  # fmt: skip
AUTHORS = Variant("authors", "the authors' OGBench actor (4x512, constant sigma, OGBench init)", (512,) * 4, True,
                  "ogbench")  # fmt: skip

PRESETS = {
    # Seconds, for the tests: the offline_rl "fast" run repeated with two small variants.
    "fast": Preset(name="fast", base="fast", task=offline_rl.MEDIUM, inv_beta=3.0, variants=(
        Variant("const_std", "ours with a constant sigma", (32,), True, "flax"),
        Variant("authors", "a wider actor, constant sigma, OGBench init", (48, 48), True, "ogbench"))),
    "cpu": Preset(name="cpu", base="mechanism", task=offline_rl.MEDIUM, inv_beta=10.0,
                  variants=(CONST_STD, OGBENCH_INIT, AUTHORS)),
}  # fmt: skip

EXPERIMENT = protocol.Experiment("awr_check", PRESETS, script="scripts/run_record.py awr_check")
get_preset = EXPERIMENT.preset
BASE_ACTOR = "awr_gaussian"  # the base run's Gaussian AWR actor, ours


def result_path(preset_name: str, root=None):
    preset = get_preset(preset_name)
    return (EXPERIMENT.results_dir(preset.name) if root is None else root) / f"{preset.task}.json"


def variant_config(variant: Variant, obs_dim: int, action_dim: int) -> awr.AWRConfig:
    return awr.AWRConfig(action_dim=action_dim, obs_dim=obs_dim, policy="gaussian", hidden_dims=variant.hidden_dims,
                         const_std=variant.const_std, init=variant.init)  # fmt: skip


def run(preset, *, folder=None, seed: int = 0, data_dir=None, progress: bool = True, log=print,
        base_result: dict | None = None) -> dict:  # fmt: skip
    """Train and evaluate every variant of `preset` with the base run's critic (module docstring); writes and
    returns the result. base_result: the base run's result; the record keeps it as `base_run` when its critics are
    this run's (`with_base_run`), and a log line says so when they are not."""
    preset = get_preset(preset)
    base = offline_rl.get_preset(preset.base)
    if preset.inv_beta not in base.inv_betas:
        raise ValueError(f"inv_beta {preset.inv_beta} is not one of the base preset's {base.inv_betas}")
    t0 = time.perf_counter()
    data, recipe, train_path = offline_rl.load_task_data(preset.task, base, data_dir=data_dir, seed=seed,
                                                         progress=progress)  # fmt: skip
    dataset_sha256 = file_sha256(train_path)
    dataset_arrays_sha256 = npz_arrays_sha256(train_path)  # the data, whatever the file's bytes
    obs_dim, action_dim = data["observations"].shape[1], data["actions"].shape[1]
    cfgs = {"critic": offline_rl.configs(base, obs_dim, action_dim)["critic"]}
    cfgs |= {v.name: variant_config(v, obs_dim, action_dim) for v in preset.variants}
    tc = TrainConfig(batch_size=base.batch_size, learning_rate=base.learning_rate)
    actors = tuple(Actor(v.name, awr.AWRLearner(cfgs[v.name], tc), run_values=(preset.inv_beta,))
                   for v in preset.variants)  # fmt: skip
    learner = CriticWithActors(iql.IQLLearner(cfgs["critic"], tc), actors)
    result_file = result_path(preset.name, folder)
    run_config = dict(preset=dataclasses.asdict(preset), base=dataclasses.asdict(base), seed=seed,
                      dataset_sha256=dataset_sha256)  # fmt: skip
    run_folder = protocol.RunFolder(result_file.with_suffix(""), run_config)
    # The keys of offline_rl.run_task, so that the critic of each seed is the base run's.
    key_init, key_train = jax.random.split(jax.random.PRNGKey(seed))
    states = create_runs(learner, jax.random.split(key_init, base.num_seeds))
    one_beta = dataclasses.replace(base, inv_betas=(preset.inv_beta,))  # each variant holds one temperature
    pool = evaluation.EnvPool()
    success, eval_seconds = {}, [0.0]

    def on_stop(step, states):
        t = time.perf_counter()
        evaluate = lambda: offline_rl.evaluate_actors(preset.task, one_beta, states, cfgs, episodes=base.episodes,
                                                      seed=seed, pool=pool, progress=progress)  # fmt: skip
        success.update(run_folder.cached(f"step_{step:08d}", evaluate))
        means = " | ".join(f"{name} {np.asarray(s, float).mean():.2f}" for name, s in success.items())
        log(f"  {preset.task} step {step:,}: success at 1/beta {preset.inv_beta:g}: {means}")
        eval_seconds[0] += time.perf_counter() - t

    t1 = time.perf_counter()
    try:
        states, losses = train_resumable(
            learner, states, {k: jnp.asarray(v) for k, v in data.items()}, jax.random.split(key_train, base.num_seeds),
            num_steps=base.num_steps, batch_size=base.batch_size, checkpoints=run_folder.train,
            checkpoint_every=base.checkpoint_every, steps_per_call=base.steps_per_call, stops=(base.num_steps,),
            on_stop=on_stop, progress=progress, desc=f"AWR check, {len(actors)} actors: {base.num_seeds} seeds",
        )  # fmt: skip
        if not success:  # resumed from the last checkpoint with its evaluation lost
            on_stop(base.num_steps, states)
    finally:
        pool.close()
    train_and_eval_s = time.perf_counter() - t1
    labels, _ = offline_rl.label_statistics(states, cfgs, data, base.num_seeds)
    result = dict(
        task=preset.task, preset=dataclasses.asdict(preset), base=dataclasses.asdict(base), seed=seed,
        inv_beta=preset.inv_beta, step=base.num_steps, episodes=base.episodes,
        configs={k: dataclasses.asdict(v) for k, v in cfgs.items()},
        success={name: [[int(x) for x in np.asarray(s)[i, :, 0]] for i in range(base.num_seeds)]
                 for name, s in success.items()},
        labels=labels, loss_every_100=np.asarray(losses)[:, ::100].round(4).tolist(),
        dataset_recipe=recipe, dataset_sha256=dataset_sha256, dataset_arrays_sha256=dataset_arrays_sha256,
        timings=dict(train_and_eval_s=round(train_and_eval_s, 1), eval_s=round(eval_seconds[0], 1),
                     total_s=round(time.perf_counter() - t0, 1)),
        device=device_description(), jax_version=jax.__version__, commit=git_commit(),
    )  # fmt: skip
    if base_result is not None:
        try:
            result = with_base_run(result, base_result)
        except ValueError as err:
            log(f"the record keeps no base run: {err}; retrain the base run on this machine and commit both")
    protocol.save_result(result, result_file)
    shutil.rmtree(result_file.with_suffix(""), ignore_errors=True)  # the checkpoints and the cached evaluation
    return result


def load_record(preset_name: str = "cpu") -> dict:
    """The committed result of `preset_name` (results/awr_check/<preset>/, whatever $CFGRL_RESULTS_DIR says)."""
    return EXPERIMENT.load_result(result_path(preset_name, EXPERIMENT.committed_dir(get_preset(preset_name).name)))


def _labels(result: dict) -> tuple:
    """The critics' fingerprint: their label statistics (each seed's positive fraction, the seeds' disagreement)."""
    return result["labels"]["positive_fraction"], result["labels"]["disagreement"]


def _last_step(base_result: dict) -> str:
    return str(max(int(k) for k in base_result["success"]))


def base_run(base_result: dict, inv_beta: float) -> dict:
    """What the check is paired with, as its record keeps it: the base run's commit, device, last step, critics' label
    statistics, and its Gaussian AWR actor's test episodes at `inv_beta` ([S][episodes], 1 = success)."""
    last = _last_step(base_result)
    column = [float(b) for b in base_result["inv_betas"]].index(float(inv_beta))
    success = np.asarray(base_result["success"][last][BASE_ACTOR])[:, :, column]
    positive, disagreement = _labels(base_result)
    return dict(commit=base_result["commit"], device=base_result["device"], step=int(last),
                labels=dict(positive_fraction=positive, disagreement=disagreement),
                success=[[int(x) for x in row] for row in success])  # fmt: skip


def with_base_run(result: dict, base_result: dict) -> dict:
    """`result` with the `base_run` of `base_result`; refused (ValueError) unless their critics are the same."""
    if _labels(result) != _labels(base_result):
        raise ValueError(f"the base result (commit {base_result['commit']}) has other critics than the check "
                         "(label statistics differ): not its pair")  # fmt: skip
    return dict(result, base_run=base_run(base_result, result["inv_beta"]))


def compare(result: dict, base_result: dict) -> dict:
    """Each variant against the base run's Gaussian AWR actor at the same 1/beta, paired by seed (each seed's success
    rate in % over the same test episodes), with whether the critics are the base run's (label statistics equal).

    The base run is `base_result` when its critics are the check's, or when the record keeps no `base_run`;
    otherwise (`base_result` retrained elsewhere, other bits) the record's `base_run`, the run the check was made
    with. The variants add the authors' differences one at a time (in the preset's order), so each also gets its
    step: the paired gap to the variant before it (to ours for the first), which is what says which difference
    matters.

    Returns {"critic_matches": bool, "paired_with": "given" or "recorded", "base_commit": the paired run's commit,
    "ours": [S] success % of the base actor, "variants": {name: {"success": [S], "gap": (mean, SE, n) of variant -
    ours in points, "after": name of the variant before it ("ours" for the first), "step": (mean, SE, n) of variant -
    that one}}}."""
    if result["task"] != base_result["task"]:
        raise ValueError(f"the check is of {result['task']}, the base result of {base_result['task']}")
    last = _last_step(base_result)
    if int(last) != result["step"]:
        raise ValueError(f"the check evaluates step {result['step']}, the base result's last step is {last}")
    use_given = _labels(result) == _labels(base_result) or "base_run" not in result
    paired = base_run(base_result, result["inv_beta"]) if use_given else result["base_run"]
    ours = 100 * np.asarray(paired["success"], float).mean(axis=1)  # [S]
    out = {"critic_matches": _labels(result) == _labels(paired), "paired_with": "given" if use_given else "recorded",
           "base_commit": paired["commit"], "ours": ours.tolist(), "variants": {}}  # fmt: skip
    before, before_rates = "ours", ours
    for name in [v["name"] for v in result["preset"]["variants"]]:
        rates = 100 * np.asarray(result["success"][name], float).mean(axis=1)
        out["variants"][name] = {"success": rates.tolist(), "gap": stats.gap(rates - ours), "after": before,
                                 "step": stats.gap(rates - before_rates)}  # fmt: skip
        before, before_rates = name, rates
    return out


def summary_line(result: dict, base_result: dict) -> str:
    """The Summary's sentence on the check (numbers from the two results): each actor's success at the check's 1/beta
    (mean ± std over seeds) and its paired gap to ours, and whether the critics are the base run's."""
    found = compare(result, base_result)
    labels = {v["name"]: v["label"] for v in result["preset"]["variants"]}
    parts = [f"ours (the mechanism row's Gaussian AWR actor) {stats.pm(*stats.mean_std(found['ours']), '.0f')} %"]
    for name, v in found["variants"].items():
        step = "" if v["after"] == "ours" else f"; minus the actor before it {stats.gap_text(v['step'])}"
        parts.append(f"{labels[name]} {stats.pm(*stats.mean_std(v['success']), '.0f')} % "
                     f"(minus ours {stats.gap_text(v['gap'])}{step})")  # fmt: skip
    if not found["critic_matches"]:
        same = "critics that are NOT the mechanism run's (label statistics differ): the pairing is broken"
    elif found["paired_with"] == "given":
        same = "the same critics as the mechanism run (label statistics equal)"
    else:
        same = (f"the same critics as the mechanism run recorded with the check (commit {found['base_commit']}, label "
                "statistics equal; the mechanism run given has other critics, retrained on another machine or "
                "commit, so ours is read from the recorded run)")  # fmt: skip
    return (f"at 1/β = {result['inv_beta']:g} after {result['step']:,} steps, {result['episodes']} test episodes per "
            f"seed, {same}: " + "; ".join(parts))  # fmt: skip
