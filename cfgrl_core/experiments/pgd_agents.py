"""Notebook 07's experiment: do TD3+BC and IQL do better on PGD data than on real or unguided synthetic data?

    runs = obtain(get_preset("cpu"), results_dir("cpu"))                 # trains, or loads finished runs
    runs["good20"]["agents"]["td3_bc"]["arms"]["pgd_2.5"]["final_score"]  # one value per seed

A preset holds one task per `good_fractions` entry (the share of behaviour episodes that head to the rewarded
goal), each run separately into <dir>/<task>/. What a task's run does, every step seeded (reference §1.8, at
CPU scale):
1. the mixed-quality dataset of `reward_task` (<dir>/mixed.npz) and its windows of H transitions;
2. the flow trajectory model of notebook 06 (`trajectory_model`), one per seed, trained once on those windows
   (<dir>/trajectory_model/); from it, for each seed, an initial *unguided* synthetic dataset;
3. for each agent (TD3+BC, IQL) and seed, one run per arm, all seeds and arms of an agent in two vmapped programs:
     real       batches of `batch_size` real transitions;
     unguided   `synth_batch` rows from the initial unguided dataset (never regenerated) + the rest real;
     pgd_<lam>  the same mix, but every `regen_every` steps the synthetic dataset is regenerated with guidance
                lambda towards the agent's *current* policy (none at step 0: the first dataset is unguided);
   every arm of a seed starts from the same initial parameters and uses the same minibatch keys and the same
   initial synthetic data (common random numbers), so paired differences between arms are meaningful;
4. at every regeneration point: each run's return on `eval_episodes` seeded episodes (its deterministic policy in
   the true simulator) and, for the synthetic arms, what their current synthetic data are worth: the mean log-
   likelihood of their actions under the current policy (the guidance density), the dynamics error against the
   true simulator, the reward error and the terminal fraction;
5. results.json with every curve, per seed, and the provenance; a checkpoint after every period
   (`resumable.Checkpoints`), so a killed run resumes where it stopped and gives the same numbers.

lambda is pre-registered (`Preset.lam`, fixed before any agent was trained): notebook 06's lambda* = 0.1 for a
target policy of noise 0.2 adds a precision of 0.1 / 0.2^2 = 2.5 to the behaviour's per-step action factor; with
the unit-variance guidance density of `synthetic_replay.AgentLogProb` the same added precision is lambda = 2.5.
The sweep over lambda (one agent) is reported as a sweep, never used to pick the headline.
"""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from cfgrl_core.agents.iql_agent import IQLAgent
from cfgrl_core.agents.td3_bc import TD3BCConfig, TD3BCLearner
from cfgrl_core.checks import check_positive_int
from cfgrl_core.experiments import protocol, stats
from cfgrl_core.experiments.resumable import Checkpoints, train_resumable
from cfgrl_core.io.atomic import atomic_write_bytes
from cfgrl_core.io.checkpoints import save_json
from cfgrl_core.io.provenance import device_description, file_sha256, git_commit
from cfgrl_core.pgd import measures, pointmass, reward_task, trajectory_model
from cfgrl_core.pgd.synthetic_replay import AgentLogProb, MixedReplay, real_transitions, to_device, window_transitions
from cfgrl_core.pgd.windows import Normaliser, make_windows
from cfgrl_core.progress import announce, progress_bar
from cfgrl_core.train import create_runs, run_training

AGENTS = ("td3_bc", "iql")


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    num_episodes: int = 200  # behaviour episodes (about 40 transitions each)
    good_fractions: tuple = (0.2, 0.05)  # tasks: the probability that a behaviour episode heads to the rewarded goal
    horizon: int = 16  # H, transitions per window (= generation length)
    stride: int = 4
    traj_hidden: tuple = (256, 256, 256)
    traj_steps: int = 10_000
    traj_batch: int = 256
    traj_lr: float = 1e-3
    num_seeds: int = 3  # a seed = one trajectory model and one agent run per arm
    agents: tuple = AGENTS
    agent_hidden: tuple = (256, 256)
    agent_steps: int = 20_000
    batch_size: int = 256  # rows per agent step
    synth_batch: int = 240  # of which synthetic, in the synthetic arms (the released code's 240 of 256)
    regen_every: int = 2_000  # steps between regenerations (and evaluations)
    synth_windows: int = 512  # windows per synthetic dataset (x H transitions)
    flow_steps: int = 32
    lam: float = 2.5  # the pre-registered headline lambda
    lam_sweep: tuple = (0.5, 2.5, 10.0)  # the lambdas of the sweep agent (holds lam)
    sweep_agent: str = "td3_bc"
    guide_std: float = 1.0  # std of the guidance density N(act(s), std^2 I)
    eval_episodes: int = 50
    steps_per_call: int = 1_000

    def __post_init__(self):
        for f in ("num_episodes", "horizon", "stride", "traj_steps", "num_seeds", "agent_steps", "batch_size",
                  "regen_every", "synth_windows", "flow_steps", "eval_episodes"):  # fmt: skip
            check_positive_int(f, getattr(self, f))
        if self.num_seeds < 2:
            raise ValueError("a spread over seeds needs num_seeds >= 2")
        if not 0 < self.synth_batch < self.batch_size:
            raise ValueError(f"synth_batch must lie in (0, batch_size={self.batch_size}), got {self.synth_batch}")
        if self.agent_steps % self.regen_every:
            raise ValueError(f"agent_steps ({self.agent_steps}) must be a multiple of regen_every "
                             f"({self.regen_every})")  # fmt: skip
        if self.lam not in self.lam_sweep or self.sweep_agent not in self.agents:
            raise ValueError("the sweep must hold the headline lambda, and the sweep agent must be one of the agents")
        unknown = set(self.agents) - set(AGENTS)
        if unknown:
            raise ValueError(f"unknown agents {sorted(unknown)}; choose from {AGENTS}")

    @property
    def periods(self) -> int:
        return self.agent_steps // self.regen_every

    def arms(self, agent: str) -> tuple:
        """(name, lambda or None for 'unguided') of the synthetic arms of one agent."""
        lams = self.lam_sweep if agent == self.sweep_agent else (self.lam,)
        return (("unguided", None), *((f"pgd_{lam:g}", float(lam)) for lam in lams))


PRESETS = {
    "fast": Preset("fast", num_episodes=120, traj_hidden=(64, 64), traj_steps=300, num_seeds=2, agent_hidden=(32, 32),
                   agent_steps=300, batch_size=64, synth_batch=48, regen_every=100, synth_windows=32, flow_steps=6,
                   lam_sweep=(2.5, 10.0), eval_episodes=6, steps_per_call=100),
    "cpu": Preset("cpu", agent_hidden=(128, 128)),
    "paper": Preset("paper", num_episodes=1_000, traj_hidden=(512, 512, 512, 512), traj_steps=100_000,
                    num_seeds=5, agent_steps=200_000, regen_every=10_000, synth_windows=4_096, flow_steps=64,
                    lam_sweep=(0.5, 1.0, 2.5, 5.0, 10.0), eval_episodes=100, steps_per_call=5_000),
}  # fmt: skip

TASK = reward_task.RewardTask()


EXPERIMENT = protocol.Experiment("pgd_agents", PRESETS, script="scripts/run_pgd_agents.py")
get_preset = EXPERIMENT.preset  # a Preset by name ("fast", "cpu", "paper") or a Preset itself
results_dir = EXPERIMENT.results_dir  # results/pgd_agents/<preset> (or $CFGRL_RESULTS_DIR/pgd_agents/<preset>)


def make_agent(name: str, preset: Preset):
    if name == "td3_bc":
        return TD3BCLearner(TD3BCConfig(2, 2, preset.agent_hidden))
    return IQLAgent(2, 2, preset.agent_hidden)


def _key(tag: str, *ints) -> jax.Array:
    key = jax.random.key(0)
    for i in (sum(map(ord, tag)), *ints):
        key = jax.random.fold_in(key, i)
    return key


def _seed_keys(key, seeds) -> jax.Array:
    """fold_in(key, seed) for each entry of `seeds` [R]: runs of the same seed share their sampling keys."""
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.asarray(seeds))


def _tile(tree, times: int):
    """[S, ...] -> [times * S, ...]: run r = (arm r // S, seed r % S)."""
    return jax.tree_util.tree_map(lambda x: jnp.tile(x, (times,) + (1,) * (x.ndim - 1)), tree)


# ------------------------------------------------------------------------------------------ the trajectory model
def train_trajectory_model(preset: Preset, windows, normaliser: Normaliser, folder: protocol.RunFolder,
                           progress=True):  # fmt: skip
    """The S seed-stacked trajectory models, trained (resumably) or loaded from <folder>/trajectory_model."""
    saved = folder.path / "trajectory_model"
    if (saved / "model.json").is_file():
        params, config, _, _, meta = trajectory_model.load_model(saved)
        return params, config, meta["final_loss"]
    config = trajectory_model.model_config(windows.layout, preset.traj_hidden)
    learner = trajectory_model.trajectory_learner(config, batch_size=preset.traj_batch, learning_rate=preset.traj_lr)
    s = preset.num_seeds
    states = create_runs(learner, jax.random.split(_key("trajectory init"), s))
    states, losses = train_resumable(
        learner, states, trajectory_model.device_data(normaliser.normalise(windows.x)),
        jax.random.split(_key("trajectory train"), s), num_steps=preset.traj_steps, batch_size=preset.traj_batch,
        checkpoints=folder.checkpoints("trajectory"), checkpoint_every=max(preset.traj_steps // 4, 1),
        steps_per_call=preset.steps_per_call, progress=progress, desc=f"trajectory model, {s} seeds",
    )  # fmt: skip
    final_loss = losses[:, -200:].mean(1).tolist()
    meta = {"preset": preset.name, "steps": preset.traj_steps, "final_loss": final_loss}
    trajectory_model.save_model(saved, states.params, config, windows.layout, normaliser, meta)
    return states.params, config, final_loss


# ------------------------------------------------------------------------------------------------ the measures
def synthetic_measures(windows_x, layout, log_prob: AgentLogProb, actor_params) -> dict:
    """What each run's synthetic windows [R, n, dim] are worth under its current policy: {measure: [R]}."""
    parts = layout.unflatten(np.asarray(windows_x, np.float32))
    states, actions = parts["states"], parts["actions"]
    ll = np.asarray(jax.vmap(log_prob)(actor_params, jnp.asarray(states[:, :, :-1]), jnp.asarray(actions)))
    out = {"log_lik": ll.mean((1, 2)), "dynamics_error": [], "reward_error": [],
           "terminal_fraction": (parts["dones"] > 0.5).mean((1, 2))}  # fmt: skip
    for r in range(len(states)):
        out["dynamics_error"].append(float(measures.dynamics_errors(TASK.world, states[r], actions[r]).mean()))
        true_r = reward_task.reward(TASK, pointmass.step(TASK.world, states[r][:, :-1], actions[r]))
        out["reward_error"].append(float(np.abs(parts["rewards"][r] - true_r).mean()))
    return {k: np.asarray(v, np.float64) for k, v in out.items()}


def real_log_lik(data: dict, log_prob: AgentLogProb, actor_params) -> np.ndarray:
    """Mean log-likelihood of the real data's actions under each run's current policy [R]."""
    s, u = jnp.asarray(data["observations"], jnp.float32), jnp.asarray(data["actions"], jnp.float32)
    return np.asarray(jax.vmap(lambda p: jnp.mean(log_prob(p, s, u)))(actor_params), np.float64)


# ------------------------------------------------------------------------------------------------ one agent
@dataclasses.dataclass
class Groups:
    """The runs of one agent: `real` [S] and `synth` [len(arms) * S] (run r = arm r // S, seed r % S)."""

    real: object
    synth: object
    windows: np.ndarray  # [len(arms) * S, synth_windows, dim], the synthetic data of each synth run


def _history_like(preset: Preset, n_arms: int) -> dict:
    p, s = preset.periods + 1, preset.num_seeds
    h = {"return_real": np.zeros((p, s)), "return_synth": np.zeros((p, n_arms * s)),
         "real_log_lik_real": np.zeros((p, s)), "real_log_lik_synth": np.zeros((p, n_arms * s))}  # fmt: skip
    for k in ("log_lik", "dynamics_error", "reward_error", "terminal_fraction"):
        h[f"synth_{k}"] = np.zeros((p, n_arms * s))
    h["final_returns_real"] = np.zeros((s, preset.eval_episodes))
    h["final_returns_synth"] = np.zeros((n_arms * s, preset.eval_episodes))
    return h


def run_agent(name: str, preset: Preset, data: dict, layout, normaliser, traj, initial_windows,
              folder: protocol.RunFolder, *, progress=True, log=announce) -> dict:  # fmt: skip
    """Train every arm and seed of one agent, with regeneration, evaluation and checkpoints. Returns its result."""
    agent = make_agent(name, preset)
    arms = preset.arms(name)
    s, n_arms = preset.num_seeds, len(arms)
    traj_params, traj_config = traj
    log_prob = AgentLogProb(agent, preset.guide_std)
    real = to_device(real_transitions(data))
    real_learner = MixedReplay(agent, 0)
    synth_learner = MixedReplay(agent, preset.synth_batch)
    init_keys = jax.random.split(_key(f"{name} init"), s)
    train_keys = jax.random.split(_key(f"{name} train"), s)
    lams = np.asarray([0.0 if lam is None else lam for _, lam in arms for _ in range(s)], np.float32)
    regenerated = np.asarray([lam is not None for _, lam in arms for _ in range(s)])
    seed_of = np.tile(np.arange(s), n_arms)
    groups = Groups(create_runs(real_learner, init_keys), create_runs(synth_learner, _tile(init_keys, n_arms)),
                    np.concatenate([initial_windows] * n_arms))  # fmt: skip
    history = _history_like(preset, n_arms)
    checkpoints = Checkpoints(folder.checkpoints(name))  # the latest period's, resumed from
    start = 0
    if checkpoints.latest() is not None:
        start = checkpoints.latest()
        like = {"real": jax.device_get(groups.real), "synth": jax.device_get(groups.synth), "windows": groups.windows,
                "history": history}  # fmt: skip
        restored = checkpoints.restore(start, like)
        groups = Groups(
            jax.tree_util.tree_map(jnp.asarray, restored["real"]),
            jax.tree_util.tree_map(jnp.asarray, restored["synth"]),
            np.asarray(restored["windows"]),
        )
        history = {k: np.asarray(v) for k, v in restored["history"].items()}
        log(f"{name}: resumed at step {start}")
    s0 = reward_task.start_states(TASK, preset.eval_episodes, seed=1)
    act_runs = jax.jit(jax.vmap(agent.act))
    actor_params = jax.jit(jax.vmap(agent.actor_params))

    def evaluate(period, final=False):
        for group, state in (("real", groups.real), ("synth", groups.synth)):
            params = actor_params(state)
            r = len(jax.tree_util.tree_leaves(params)[0])
            starts = np.broadcast_to(s0, (r, *s0.shape))
            act = lambda st, p=params: np.asarray(act_runs(p, jnp.asarray(st)))
            returns, _ = reward_task.rollout_returns(TASK, act, starts)
            history[f"return_{group}"][period] = returns.mean(-1)
            history[f"real_log_lik_{group}"][period] = real_log_lik(data, log_prob, params)
            if final:
                history[f"final_returns_{group}"][:] = returns
        m = synthetic_measures(groups.windows, layout, log_prob, actor_params(groups.synth))
        for k, v in m.items():
            history[f"synth_{k}"][period] = v

    if start == 0:
        evaluate(0)
    bar = progress_bar(total=preset.agent_steps, initial=start, desc=f"{name}: {s} real + {n_arms * s} synthetic "
                       f"runs", unit="step", unit_scale=True, disable=not progress)  # fmt: skip
    for period in range(start // preset.regen_every + 1, preset.periods + 1):
        step = period * preset.regen_every
        real_state, _ = run_training(real_learner, groups.real, real, train_keys, num_steps=step,
                                     batch_size=preset.batch_size, steps_per_call=preset.steps_per_call,
                                     progress=False)  # fmt: skip
        synth_data = to_device(window_transitions(layout, groups.windows))
        synth_state, _ = run_training(synth_learner, groups.synth, real, _tile(train_keys, n_arms), num_steps=step,
                                      batch_size=preset.batch_size - preset.synth_batch, run_args=(synth_data,),
                                      steps_per_call=preset.steps_per_call, progress=False)  # fmt: skip
        groups = Groups(real_state, synth_state, groups.windows)
        if period < preset.periods:  # regenerate the PGD arms' data with their current policies
            keys = _seed_keys(_key("regenerate", period), seed_of)
            new = trajectory_model.generate_runs(
                jax.tree_util.tree_map(lambda p: p[seed_of], traj_params), traj_config, layout, normaliser, keys,
                preset.synth_windows, lams=lams, log_prob=log_prob, policy_params=actor_params(synth_state),
                flow_steps=preset.flow_steps,
            )  # fmt: skip
            groups.windows = np.where(regenerated[:, None, None], new, groups.windows)
        evaluate(period, final=period == preset.periods)
        checkpoints.save(step, {"real": groups.real, "synth": groups.synth, "windows": groups.windows,
                                "history": history})  # fmt: skip
        bar.update(step - bar.n)
    bar.close()
    return agent_result(preset, name, arms, history)


def agent_result(preset: Preset, name: str, arms, history: dict) -> dict:
    """Per arm: curves and final values with one entry per seed (lists), from the history arrays."""
    s = preset.num_seeds
    refs = reward_task.reference_returns(TASK, preset.eval_episodes, seed=1)
    score = lambda r: reward_task.normalised_score(r, refs).tolist()
    out = {"real": {"lam": None, "regenerated": False, "curve_return": history["return_real"].T.tolist(),
                    "curve_score": score(history["return_real"].T),
                    "final_return": history["return_real"][-1].tolist(),
                    "final_score": score(history["return_real"][-1]),
                    "final_episode_returns": history["final_returns_real"].tolist(),
                    "curve_real_log_lik": history["real_log_lik_real"].T.tolist()}}  # fmt: skip
    for a, (arm, lam) in enumerate(arms):
        cols = slice(a * s, (a + 1) * s)
        out[arm] = {
            "lam": lam, "regenerated": lam is not None,
            "curve_return": history["return_synth"][:, cols].T.tolist(),
            "curve_score": score(history["return_synth"][:, cols].T),
            "final_return": history["return_synth"][-1, cols].tolist(),
            "final_score": score(history["return_synth"][-1, cols]),
            "final_episode_returns": history["final_returns_synth"][cols].tolist(),
            "curve_real_log_lik": history["real_log_lik_synth"][:, cols].T.tolist(),
            **{f"curve_{k}": history[f"synth_{k}"][:, cols].T.tolist()
               for k in ("log_lik", "dynamics_error", "reward_error", "terminal_fraction")},
        }  # fmt: skip
    return {"arms": out, "steps": [p * preset.regen_every for p in range(preset.periods + 1)], "references": refs}


# ------------------------------------------------------------------------------------------------ the whole run
def task_name(good_fraction: float) -> str:
    """'good20' for a task whose behaviour episodes head to the rewarded goal with probability 0.2."""
    return f"good{round(100 * good_fraction):02d}"


def recipe(preset: Preset, good_fraction: float) -> reward_task.MixedRecipe:
    return reward_task.MixedRecipe(preset.num_episodes, task=TASK, weights=(1.0 - good_fraction, good_fraction))


def run_config(preset: Preset, good_fraction: float) -> dict:
    config = {"preset": dataclasses.asdict(preset), "task": dataclasses.asdict(TASK), "good_fraction": good_fraction,
              "recipe": json.loads(recipe(preset, good_fraction).to_json())}  # fmt: skip
    return json.loads(json.dumps(config))


def run_task(preset, good_fraction: float, folder, *, progress=True, log=announce) -> dict:
    """One task's whole run (dataset, trajectory models, every agent, arm and seed), saved in `folder`."""
    preset = get_preset(preset)
    run_folder = protocol.RunFolder(folder, run_config(preset, good_fraction))
    folder = run_folder.path
    t_start = time.time()
    data_path = folder / "mixed.npz"
    data = reward_task.obtain_dataset(data_path, recipe(preset, good_fraction))
    windows = make_windows(data, preset.horizon, preset.stride)
    normaliser = Normaliser.fit(windows.x)
    log(f"{task_name(good_fraction)}: {len(data['rewards'])} transitions, {len(windows.x)} windows of "
        f"{preset.horizon}")  # fmt: skip
    t0 = time.time()
    traj_params, traj_config, traj_loss = train_trajectory_model(preset, windows, normaliser, run_folder, progress)
    t_traj = time.time() - t0
    s = preset.num_seeds
    initial = trajectory_model.generate_runs(
        traj_params, traj_config, windows.layout, normaliser, _seed_keys(_key("initial synthetic"), np.arange(s)),
        preset.synth_windows, lams=np.zeros(s),
        log_prob=None, policy_params=None, flow_steps=preset.flow_steps,
    )  # fmt: skip
    agents, seconds = {}, {"trajectory_model": t_traj}
    for name in preset.agents:
        t0 = time.time()
        agents[name] = run_agent(name, preset, data, windows.layout, normaliser, (traj_params, traj_config), initial,
                                 run_folder, progress=progress, log=log)  # fmt: skip
        seconds[name] = time.time() - t0
    seconds["total"] = time.time() - t_start
    returns = reward_task.data_returns(data)
    behaviour = np.asarray(data["behaviour_ids"])[np.r_[0, np.flatnonzero(np.diff(data["episode_ids"])) + 1]]
    result = {
        "config": run_folder.config,
        "commit": git_commit(),
        "device": device_description(),
        "dataset_sha256": file_sha256(data_path),
        "num_transitions": int(len(data["rewards"])),
        "num_windows": int(len(windows.x)),
        "behaviour_episode_returns": returns.tolist(),
        "behaviour_episode_policy": behaviour.tolist(),
        "trajectory_final_loss": traj_loss,
        "agents": agents,
        "seconds": seconds,
    }
    save_json(folder / "results.json", result)
    buf = io.BytesIO()
    np.savez_compressed(buf, windows=initial[:, :64])
    atomic_write_bytes(folder / "initial_windows.npz", buf.getvalue())
    run_folder.clear_work()
    return result


def load_result(folder) -> dict:
    """A task's finished result, <folder>/results.json (its folder holds the run's files)."""
    return EXPERIMENT.load_result(Path(folder) / "results.json")


def obtain_task(preset, good_fraction: float, folder, *, reuse: bool = False, progress=True, log=announce) -> dict:
    """A finished task run is loaded when reuse=True or when this clean commit made it (`protocol.obtain`); otherwise
    it is run (resuming an interrupted one's checkpoints)."""
    folder = Path(folder)

    def discard():  # the finished run's record and its trained trajectory models; the dataset checks its recipe
        for name in ("results.json", "config.json"):
            (folder / name).unlink(missing_ok=True)
        shutil.rmtree(folder / "trajectory_model", ignore_errors=True)

    return protocol.obtain(
        f"the run in {folder}", folder / "results.json", reuse=reuse, load=lambda: load_result(folder),
        discard=discard, run=lambda: run_task(preset, good_fraction, folder, progress=progress, log=log), log=log,
    )  # fmt: skip


def obtain(preset, folder, *, reuse: bool = False, progress=True, log=announce) -> dict:
    """{task name: result} for every task of the preset, each in <folder>/<task name>/."""
    preset = get_preset(preset)
    return {task_name(g): obtain_task(preset, g, Path(folder) / task_name(g), reuse=reuse, progress=progress, log=log)
            for g in preset.good_fractions}  # fmt: skip


# ---- the real-data-only probe that led to the good05 task (reconstructed after the fact; see `PROBE_NOTE`) ----

PROBE_FRACTIONS = (0.1,)  # the probe's task that no preset holds (0.2 and 0.05: the `real` arm of the cpu run)
PROBE_NOTE = (
    "The original probe (real data only, TD3+BC and IQL, 3 seeds, 20,000 steps, run before any synthetic data or PGD "
    "result was seen) saved no numbers. This is its reconstruction, run after the PGD results were known: the "
    "`real` arm of the `{preset}` preset alone (the same sizes, seeds, keys, evaluation starts and dataset recipe), "
    "at good fractions {fractions}; at the preset's own tasks the same computation is its run's `real` arm."
)


def train_real_only(name: str, preset, data: dict, *, progress=False) -> dict:
    """The `real` arm of one agent alone: its S seeds trained on real batches exactly as `run_agent` trains them (the
    same initial parameters, minibatch keys and periods), then evaluated once. {"final_return": [S],
    "final_score": [S]} (lists), equal to `run_agent`'s real arm at the last period on the same device."""
    preset = get_preset(preset)
    agent = make_agent(name, preset)
    learner = MixedReplay(agent, 0)
    s = preset.num_seeds
    state = create_runs(learner, jax.random.split(_key(f"{name} init"), s))
    train_keys = jax.random.split(_key(f"{name} train"), s)
    real = to_device(real_transitions(data))
    bar = progress_bar(total=preset.agent_steps, desc=f"{name}: {s} real-only runs", unit="step", unit_scale=True,
                       disable=not progress)  # fmt: skip
    for period in range(1, preset.periods + 1):  # the periods of `run_agent` (training is independent of them)
        state, _ = run_training(learner, state, real, train_keys, num_steps=period * preset.regen_every,
                                batch_size=preset.batch_size, steps_per_call=preset.steps_per_call,
                                progress=False)  # fmt: skip
        bar.update(preset.regen_every)
    bar.close()
    params = jax.jit(jax.vmap(agent.actor_params))(state)
    act_runs = jax.jit(jax.vmap(agent.act))
    s0 = reward_task.start_states(TASK, preset.eval_episodes, seed=1)
    returns, _ = reward_task.rollout_returns(TASK, lambda st: np.asarray(act_runs(params, jnp.asarray(st))),
                                             np.broadcast_to(s0, (s, *s0.shape)))  # fmt: skip
    refs = reward_task.reference_returns(TASK, preset.eval_episodes, seed=1)
    final = returns.mean(-1)
    return {"final_return": final.tolist(), "final_score": reward_task.normalised_score(final, refs).tolist()}


def real_data_probe(preset, folder, fractions=PROBE_FRACTIONS, *, progress=True, log=announce) -> dict:
    """The reconstructed probe: for each good fraction, its dataset (<folder>/<task>/mixed.npz, the preset's
    recipe) and every agent's `train_real_only`; saved as <folder>/results.json with its provenance."""
    preset = get_preset(preset)
    folder = Path(folder)
    tasks, t_start = {}, time.time()
    for g in fractions:
        path = folder / task_name(g) / "mixed.npz"
        data = reward_task.obtain_dataset(path, recipe(preset, g))
        log(f"probe {task_name(g)}: {len(data['rewards'])} transitions")
        tasks[task_name(g)] = {"good_fraction": g, "dataset_sha256": file_sha256(path),
                               "agents": {a: train_real_only(a, preset, data, progress=progress)
                                          for a in preset.agents}}  # fmt: skip
    result = {"note": PROBE_NOTE.format(preset=preset.name, fractions=", ".join(f"{g:g}" for g in fractions)),
              "preset": dataclasses.asdict(preset), "tasks": tasks, "commit": git_commit(),
              "device": device_description(), "seconds": time.time() - t_start}  # fmt: skip
    save_json(folder / "results.json", json.loads(json.dumps(result)))
    return result


def probe_dir(preset_name: str = "cpu") -> Path:
    """results/pgd_agents/probe-real-<preset> (under $CFGRL_RESULTS_DIR when set)."""
    return protocol.results_root() / EXPERIMENT.name / f"probe-real-{preset_name}"


def load_probe(preset_name: str = "cpu") -> dict | None:
    """The committed probe's result, or None when it has not been run."""
    path = probe_dir(preset_name) / "results.json"
    return EXPERIMENT.load_result(path) if path.is_file() else None


# ---- notebook 07's report: the final scores against the pre-registered criteria, the sweep, the Summary values ----

AGENT_NAMES = {"td3_bc": "TD3+BC", "iql": "IQL"}
DYN_TOLERANCE = 1.5  # criterion 2 (pre-registered): the PGD data's dynamics error within this factor of unguided's


def headline_arms(preset) -> tuple:
    """The three arms every table compares: real data, unguided synthetic data, PGD at the pre-registered lambda."""
    return ("real", "unguided", f"pgd_{get_preset(preset).lam:g}")


def arm_curves(result: dict, agent: str, arm: str, key: str = "curve_score") -> np.ndarray:
    """One arm's per-seed curve (or final values) `key` of one agent in one task's result, as float64."""
    return np.asarray(result["agents"][agent]["arms"][arm][key], np.float64)


def criteria_row(result: dict, task: str, agent: str, preset) -> dict:
    """One task x agent: each headline arm's final score (mean, std over seeds, ddof = 1), PGD minus real and minus
    unguided paired over seeds (mean, SE), and the three pre-registered criteria. Criterion 3 ("above") is a paired
    difference beyond the noise (`stats.beyond_noise`, the paired t-test) and positive."""
    arms = result["agents"][agent]["arms"]
    headline = headline_arms(preset)
    row = {"task": task, "agent": AGENT_NAMES[agent]}
    for arm in headline:
        row[f"{arm} mean"], row[f"{arm} std"] = stats.mean_std(arms[arm]["final_score"])
    pgd = headline[2]
    for other in ("real", "unguided"):
        d = np.asarray(arms[pgd]["final_score"]) - np.asarray(arms[other]["final_score"])
        row[f"PGD - {other}"], row[f"PGD - {other} SE"], row["seeds"] = stats.gap(d)
        row[f"PGD - {other} p"] = stats.p_value(row[f"PGD - {other}"], row[f"PGD - {other} SE"], row["seeds"])
    ll_gap = arm_curves(result, agent, pgd, "curve_log_lik")[:, 1:].mean(0) - arm_curves(
        result, agent, "unguided", "curve_log_lik")[:, 1:].mean(0)  # fmt: skip
    dyn_ratio = (arm_curves(result, agent, pgd, "curve_dynamics_error")[:, 1:].mean()
                 / arm_curves(result, agent, "unguided", "curve_dynamics_error")[:, 1:].mean())  # fmt: skip
    row["criterion 1"] = bool((ll_gap > 0).all())
    row["dynamics ratio"] = dyn_ratio
    row["criterion 2"] = bool(dyn_ratio <= DYN_TOLERANCE)
    row["criterion 3"] = all(row[f"PGD - {o}"] > 0
                             and stats.beyond_noise(row[f"PGD - {o}"], row[f"PGD - {o} SE"], row["seeds"])
                             for o in ("real", "unguided"))  # fmt: skip
    return row


def criteria_table(results: dict, preset) -> list[dict]:
    """`criteria_row` of every task ({task: result}) and agent of the preset."""
    return [criteria_row(results[t], t, agent, preset) for t in results for agent in get_preset(preset).agents]


def sweep_table(results: dict, preset) -> list[dict]:
    """The lambda sweep of the sweep agent, per task: final score and the synthetic data's dynamics error (mean over
    the regenerations), mean and std over seeds (lambda = 0: the unguided arm)."""
    preset = get_preset(preset)
    rows = []
    for t, result in results.items():
        arms = ["unguided", *(f"pgd_{lam:g}" for lam in preset.lam_sweep)]
        for lam, arm in zip([0.0, *preset.lam_sweep], arms, strict=True):
            s = arm_curves(result, preset.sweep_agent, arm, "final_score")
            d = arm_curves(result, preset.sweep_agent, arm, "curve_dynamics_error")[:, 1:].mean(1)
            (score_mean, score_std), (dyn_mean, dyn_std) = stats.mean_std(s), stats.mean_std(d)
            rows.append({"task": t, "lam": lam, "score_mean": score_mean, "score_std": score_std,
                         "dynamics_error_mean": dyn_mean, "dynamics_error_std": dyn_std})  # fmt: skip
    return rows


def separated_cells(results: dict, preset) -> list[dict]:
    """Every task x agent x comparison of the headline arms (PGD - real, PGD - unguided) and, for the sweep agent,
    of every swept lambda (pgd_<lam> - real, pgd_<lam> - unguided), with its paired (mean, SE, n) and p; in order.
    {task, agent, arm, other, mean, se, n, p, separated} (separated: `stats.beyond_noise`)."""
    preset = get_preset(preset)
    out = []
    for t, result in results.items():
        for agent in preset.agents:
            for arm, _ in preset.arms(agent)[1:]:
                for other in ("real", "unguided"):
                    d = arm_curves(result, agent, arm, "final_score") - arm_curves(result, agent, other, "final_score")
                    mean, se, n = stats.gap(d)
                    out.append({"task": t, "agent": AGENT_NAMES[agent], "arm": arm, "other": other, "mean": mean,
                                "se": se, "n": n, "p": stats.p_value(mean, se, n),
                                "separated": stats.beyond_noise(mean, se, n)})  # fmt: skip
    return out


def _cell_text(c: dict) -> str:
    return f"{c['task']} {c['agent']}, {c['arm']} − {c['other']} {c['mean']:+.1f} ± {c['se']:.1f} (p = {c['p']:.2g})"


def paper_runs(root=None) -> dict[str, dict]:
    """{"<folder>/<task>": result} of every paper-type run on record (`EXPERIMENT.paper_dirs(root)`: results/
    pgd_agents/paper*/<task>/results.json); empty when none has been run."""
    return {f"{folder.name}/{path.parent.name}": load_result(path.parent)
            for folder in EXPERIMENT.paper_dirs(root) for path in sorted(folder.glob("*/results.json"))}  # fmt: skip


def paper_status(paper: dict | None = None) -> str:
    """The README's sentence on notebook 07's paper-type runs, from whether they exist (never typed)."""
    paper = paper_runs() if paper is None else paper
    if not paper:
        return ("The `paper` preset (`python scripts/run_pgd_agents.py --preset paper`, larger sizes for a GPU) has "
                "not been run.")  # fmt: skip
    runs = "; ".join(
        f"`results/pgd_agents/{k}/results.json` ({r['device']}, "
        f"{r['config']['preset']['agent_steps']:,} agent steps, {r['config']['preset']['num_seeds']} "
        f"seeds, {r['config']['preset']['eval_episodes']} evaluation episodes)"
        for k, r in paper.items()
    )
    return f"Paper-type runs on record: {runs}."


def probe_values(probe: dict | None) -> dict:
    """The reconstructed real-data-only probe in words: {"probe": Markdown (its note and one line per task), or a
    sentence saying it is missing}."""
    if probe is None:
        return {"probe": "The real-data-only probe that led to the `good05` task saved no numbers, and no "
                         "reconstruction of it is on record."}  # fmt: skip
    lines = [f"{probe['note']} Its result (`results/pgd_agents/probe-real-{probe['preset']['name']}/results.json`, "
             f"{probe['device']}, commit {probe['commit']}), final normalised score of the real-data agents, mean ± "
             "std over seeds:"]  # fmt: skip
    for t, v in probe["tasks"].items():
        scores = "; ".join(f"{AGENT_NAMES[a]} {stats.pm(*stats.mean_std(r['final_score']))}"
                           for a, r in v["agents"].items())  # fmt: skip
        lines.append(f"  - {t} ($p_\\text{{good}} = {v['good_fraction']:g}$): {scores}")
    return {"probe": "\n".join(lines)}


def task_rows(datasets: dict, refs: dict) -> list[dict]:
    """fig07_task.csv: per task ({task: dataset}), its behaviour episodes, those heading to the rewarded goal, its
    transitions, and the normalised score of the good, the wrong and all behaviour episodes (`refs`: the score's
    reference returns)."""
    rows = []
    for t, data in datasets.items():
        starts = np.r_[0, np.flatnonzero(np.diff(data["episode_ids"])) + 1]
        returns = reward_task.data_returns(data)
        good = data["behaviour_ids"][starts] == 1
        score = lambda r: reward_task.normalised_score(r.mean(), refs)  # noqa: E731
        rows.append({"task": t, "episodes": len(starts), "good_episodes": int(good.sum()),
                     "transitions": len(data["rewards"]), "score_good": score(returns[good]),
                     "score_wrong": score(returns[~good]), "score_all": score(returns)})  # fmt: skip
    return rows


def return_curve_rows(results: dict, preset) -> list[dict]:
    """fig07_return_curves.csv: each headline arm's normalised score at every evaluation step, mean and std over
    seeds (ddof = 1), per task and agent."""
    preset = get_preset(preset)
    rows = []
    for t, result in results.items():
        for agent in preset.agents:
            steps = result["agents"][agent]["steps"]
            for arm in headline_arms(preset):
                c = arm_curves(result, agent, arm)
                rows += [{"task": t, "agent": agent, "arm": arm, "step": int(s), "score_mean": m, "score_std": d}
                         for s, m, d in zip(steps, c.mean(0), c.std(0, ddof=1), strict=True)]  # fmt: skip
    return rows


def regenerated_data_rows(results: dict, preset) -> list[dict]:
    """fig07_regenerated_data.csv: for the unguided and PGD arms, the synthetic data's mean log-likelihood under
    the current policy and dynamics error at every evaluation step (means over seeds), per agent and task."""
    preset = get_preset(preset)
    rows = []
    for agent in preset.agents:
        for t, result in results.items():
            steps = result["agents"][agent]["steps"]
            for arm in headline_arms(preset)[1:]:
                for key in ("curve_log_lik", "curve_dynamics_error"):
                    c = arm_curves(result, agent, arm, key).mean(0)
                    rows += [{"agent": agent, "task": t, "arm": arm, "measure": key[6:], "step": int(s), "mean": v}
                             for s, v in zip(steps, c, strict=True)]  # fmt: skip
    return rows


def summary_values(results: dict, preset, probe: dict | None = None) -> dict:
    """The values of notebook 07's Summary (and the README's results07 block) from {task: result} of `preset`: the
    criteria table as Markdown, how many task x agent cells meet each criterion, every separated comparison (paired
    t-test, `separated_cells`: the headline arm's, or "none does", and the closest one; the sweep's), the sweep's worst
    point, the paper-type runs on record and the reconstructed real-data probe (`probe`, default `load_probe`)."""
    preset = get_preset(preset)
    final, sweep = criteria_table(results, preset), sweep_table(results, preset)
    headline = headline_arms(preset)
    md = ["| task | agent | real | unguided | PGD | PGD − real | PGD − unguided | criteria 1 / 2 / 3 |",
          "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in final:
        cells = [stats.pm(r[f"{a} mean"], r[f"{a} std"]) for a in headline]
        diffs = [f"{r[f'PGD - {o}']:+.1f} ± {r[f'PGD - {o} SE']:.1f} (p = {r[f'PGD - {o} p']:.2g})"
                 for o in ("real", "unguided")]  # fmt: skip
        crit = " / ".join("met" if r[f"criterion {k}"] else "not met" for k in (1, 2, 3))
        md.append(f"| {r['task']} | {r['agent']} | " + " | ".join(cells + diffs) + f" | {crit} |")
    met3 = sum(r["criterion 3"] for r in final)
    worst = min(sweep, key=lambda r: r["score_mean"])  # the first of equal ones
    unguided = next(r for r in sweep if r["lam"] == 0 and r["task"] == worst["task"])
    verdict = "met" if met3 == len(final) else ("not met: a null result" if met3 == 0 else "met only in part")
    cells = separated_cells(results, preset)
    head = [c for c in cells if c["arm"] == headline[2]]
    sep_head = [c for c in head if c["separated"]]
    closest = min(head, key=lambda c: c["p"])
    sep_sweep = [c for c in cells if c["arm"] != headline[2] and c["separated"]]
    return {
        "preset": preset.name, "seeds": preset.num_seeds, "steps": preset.agent_steps, "lam": preset.lam,
        "regen": preset.regen_every, "synth": preset.synth_batch, "batch": preset.batch_size,
        "windows": preset.synth_windows, "horizon": preset.horizon, "table": "\n".join(md),
        "met3": met3, "cells": len(final), "verdict": verdict,
        "worst_lam": worst["lam"], "worst_score": worst["score_mean"], "worst_task": worst["task"],
        "worst_dyn": worst["dynamics_error_mean"], "dyn_unguided": unguided["dynamics_error_mean"],
        "dyn_word": "above" if worst["dynamics_error_mean"] > unguided["dynamics_error_mean"] else "not above",
        "crit1": sum(r["criterion 1"] for r in final), "crit2": sum(r["criterion 2"] for r in final),
        "tol": DYN_TOLERANCE, "n_head": len(head), "n_sep_head": len(sep_head),
        "separated": "; ".join(map(_cell_text, sep_head)) if sep_head else "none does",
        "closest": _cell_text(closest),
        "sweep_separated": "; ".join(map(_cell_text, sep_sweep)) if sep_sweep else "none",
        "paper_status": paper_status(), **probe_values(load_probe(preset.name) if probe is None else probe),
    }  # fmt: skip
