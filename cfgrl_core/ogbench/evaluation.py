"""Evaluation on OGBench tasks: all rollouts in lockstep, one batched policy call per env step.

The authors evaluate one episode at a time, one observation per jitted `sample_actions` call (about 2.7 s per
1000-step pointmaze episode, 95 % of it in the per-step call). Here N = tasks x episodes x ws rollouts each own
an env; at every step the observations [N, O], goals [N, G] and per-row guidance weights [N] go through ONE
jitted call that integrates the guided flow (paper Eq. 11, `flow_steps` Euler steps, clip to [-1, 1]):

    v_w(x, t) = v_uncond(x, t) + w_n (v_cond(x, t) - v_uncond(x, t))       (w_n = the row's own w)

The loop takes any `RowPolicy` (`evaluate_policy`): the goal-conditioned flow above (`evaluate_lockstep`), or the
single-task actors of notebook 05 (`cfgrl_core.ogbench.singletask`), which ignore the goal. `evaluate_many` runs
several policies (the seeds of a run, the actors of a learner) in one lockstep: each policy is called on its own
rows, and the envs of all of them are stepped together.

Physics: point mazes are stepped by `maze_batch` (every running rollout's MuJoCo state in one threaded `rollout`
call, OGBench's step logic in numpy; tests hold it to OGBench's env step for step); other envs (cube) through
their own OGBench env on a thread pool. `physics="reference"` forces the latter everywhere. An env of its own per
rollout is costly to build (a cube env compiles its MJCF: about 1 s), so on that path the w grid runs in waves, one
w after another on the same T x E envs of every job: W times fewer envs, the same rollouts (`evaluate_many`).

Finished rollouts are frozen: their env is no longer stepped, and the policy call takes only the rows still
running, gathered on the host (numpy: keys, goals, w and observations; the step's keys of every row come from one
jitted fold_in) and padded to a bucket size (8, 16, 32, ... capped at N; see `bucket_size`), so a trained policy
whose episodes end early costs fewer network evaluations, while the jitted program compiles at most
log2(N) times. A row's action depends only on its own key, goal, w and observation, not on the batch it is in.

Success (as OGBench's `impls/utils/evaluation.py`): an episode runs until `terminated or truncated`, and counts
the `info['success']` of its last step. Evaluation envs terminate at the goal (`terminate_at_goal=True`), so
this equals "success at any step"; we record the latter, which is also right if `max_steps` cuts an episode.

Tasks: by default OGBench's evaluation tasks `task_ids` (reset with `options=dict(task_id=i)`); or any list of
`task_infos` (reset with `options=dict(task_info=...)`, e.g. `init_ij` / `goal_ij` for a maze), used for
validation goals that are not the evaluation tasks; those are numbered 1..K in the result.
`record_trajectories=True` also returns every rollout's observations, frozen at the last one after it ends.

Randomness, identical in both loops (so lockstep == one-at-a-time, a unit test):
  * the env of (task i, episode e) is reset with seed s = episode_seed(seed, task_id, e): `env.reset(seed=s)`,
    `action_space.seed(s)`, and a private numpy stream `IsolatedRNG(s)` that stands in for numpy's global RNG
    during the reset and, for pointmaze-teleport, during every step of that rollout (OGBench's maze draws the
    start noise and the teleport exit from `np.random`); so teleports do not depend on thread scheduling or on the
    other rollouts, and the caller's global RNG is never touched;
  * the policy key of that rollout at step k is fold_in(fold_in(fold_in(PRNGKey(seed), task_id), e), k), so a
    rollout does not depend on how many tasks, episodes or w are evaluated alongside it.
  Rollouts of the same (task, episode) with different w share both: common random numbers across w, so a
  w-curve is not blurred by different start states (the same choice as `sample_guided(shared_noise=True)`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import jax
import jax.numpy as jnp
import numpy as np

from cfgrl_core.checks import check_finite, check_flow_steps, check_nonnegative_int, check_positive_int
from cfgrl_core.guidance import sample_rows
from cfgrl_core.networks import ModelConfig
from cfgrl_core.ogbench import maze_batch, scratch
from cfgrl_core.ogbench.env_rng import IsolatedRNG
from cfgrl_core.progress import progress_bar

DEFAULT_TASK_IDS = (1, 2, 3, 4, 5)


@dataclasses.dataclass
class EvalResult:
    """Evaluation of T tasks x E episodes x W guidance weights."""

    task_ids: tuple  # [T] OGBench task ids (1-based)
    ws: np.ndarray  # [W] guidance weights
    success: np.ndarray  # [T, E, W] bool, info['success'] reached at some step
    lengths: np.ndarray  # [T, E, W] int, env steps taken
    final_observations: np.ndarray  # [T, E, W, O] last observation
    env_seeds: np.ndarray  # [T, E] seed of each (task, episode) reset
    seconds: float  # wall time of the rollouts (env creation excluded)
    task_infos: tuple | None = None  # [T] the reset task_info dicts, when not OGBench's task ids
    trajectories: np.ndarray | None = None  # [T, E, W, L + 1, O] observations (record_trajectories=True)
    policy_seconds: float = 0.0  # of `seconds`, the time spent in policy calls (all jobs of an evaluate_many)

    @property
    def success_rate(self) -> np.ndarray:
        """[T, W] mean success over episodes."""
        return self.success.mean(axis=1)

    def episodes(self) -> list[dict]:
        """One dict per rollout: task_id, episode, w, success, length."""
        return [
            dict(
                task_id=t, episode=e, w=float(w), success=bool(self.success[i, e, j]), length=int(self.lengths[i, e, j])
            )
            for i, t in enumerate(self.task_ids)
            for e in range(self.success.shape[1])
            for j, w in enumerate(self.ws)
        ]


def episode_seed(seed: int, task_id: int, episode: int) -> int:
    """Env seed of (task_id, episode), a 31-bit int drawn from numpy's SeedSequence([seed, task_id, episode])."""
    return int(np.random.SeedSequence([seed, task_id, episode]).generate_state(1)[0] & 0x7FFFFFFF)


def make_env(env_name: str):
    """The OGBench evaluation env of a dataset name (no download). Unknown names raise ValueError."""
    if not isinstance(env_name, str):
        raise TypeError(f"env_name must be a str, got {type(env_name).__name__}")
    import ogbench

    try:
        with scratch.env_files():
            return ogbench.make_env_and_datasets(env_name, env_only=True)
    except Exception as e:  # gymnasium raises NameNotFound / other Error subclasses for bad names
        raise ValueError(f"unknown OGBench env {env_name!r}: {e}") from e


class EnvPool:
    """Envs kept for reuse across evaluations, per env name: `pool.get(name, n)` returns n envs, building only the
    missing ones. Every rollout starts with a seeded `reset_env`, so reuse changes no result; building a cube env
    compiles its MJCF (about 1 s), which would otherwise dominate evaluating hundreds of short rollouts.

        with EnvPool() as pool:
            evaluate_lockstep(..., pool=pool); evaluate_lockstep(..., pool=pool)   # the same envs
    """

    def __init__(self):
        self._envs: dict[str, list] = {}
        self._makers: dict[str, object] = {}

    def register(self, name: str, make) -> None:
        """Build the envs of `name` with `make()` instead of `make_env(name)` (an env variant under its own name)."""
        if self._envs.get(name):
            raise ValueError(f"envs of {name!r} exist already; register a maker before the first get")
        self._makers[name] = make

    def get(self, env_name: str, n: int) -> list:
        envs = self._envs.setdefault(env_name, [])
        make = self._makers.get(env_name, lambda: make_env(env_name))
        while len(envs) < n:
            envs.append(make())
        return envs[:n]

    def size(self, env_name: str) -> int:
        return len(self._envs.get(env_name, ()))

    def close(self) -> None:
        """Close and forget every env."""
        for envs in self._envs.values():
            for env in envs:
                env.close()
        self._envs.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def steps_use_global_rng(env) -> bool:
    """Whether the env's step() draws from numpy's global RNG: OGBench's maze does for teleports."""
    return getattr(env.unwrapped, "_teleport_info", None) is not None


def reset_env(env, task, seed: int, rng: IsolatedRNG | None = None):
    """Reset deterministically to `task` (an OGBench task id, or a task_info dict such as {init_ij, goal_ij}): the env
    and its action space seeded with `seed`, numpy's global RNG replaced by `rng` (default IsolatedRNG(seed)) during
    the reset. Pass the rollout's own `rng` to keep drawing from it in later steps (`step_env`)."""
    options = dict(task_info=task) if isinstance(task, dict) else dict(task_id=int(task))
    rng = IsolatedRNG(seed) if rng is None else rng
    with rng.active():
        env.action_space.seed(seed)
        obs, info = env.reset(seed=seed, options=dict(options, render_goal=False))
    return obs, info


def step_env(env, action, rng: IsolatedRNG):
    """env.step(action), with `rng` as numpy's global RNG when the env draws from it (teleports)."""
    if steps_use_global_rng(env):
        with rng.active():
            return env.step(action)
    return env.step(action)


ROW_CHUNK = 64  # rows per network call of a row policy (bucket sizes are powers of two from 8)


def map_row_chunks(fn, arrays: tuple, chunk: int = ROW_CHUNK) -> jax.Array:
    """fn(*rows) on fixed chunks of `chunk` rows of every array in `arrays` (the last chunk padded with copies of
    the last row), concatenated back to [N, ...]. Traceable. Every row is then computed by ops of the same shape
    whatever N is: XLA's CPU kernels otherwise differ in the last bit between batch sizes (seen on an AMD EPYC),
    and a rollout's trajectory would depend on how many others run beside it."""
    n = arrays[0].shape[0]
    pad = -n % chunk

    def chunks(x):  # [N, ...] -> [N / chunk, chunk, ...]
        x = jnp.concatenate([x, jnp.repeat(x[-1:], pad, axis=0)]) if pad else x
        return x.reshape(-1, chunk, *x.shape[1:])

    out = jax.lax.map(lambda rows: fn(*rows), tuple(chunks(a) for a in arrays))
    return out.reshape(-1, *out.shape[2:])[:n]


@functools.partial(jax.jit, static_argnames=("config", "flow_steps"))
def sample_actions(params, keys, goals, ws, observations, *, config: ModelConfig, flow_steps: int, uncond_params=None):
    """One guided action per row, each row with its own key and w. Returns actions [N, A] clipped to [-1, 1].
    uncond_params: v_uncond from a separate network (`guidance.cfg_velocity_fn`; the two-network ablation).

    keys [N] (typed or raw PRNG keys), goals [N, G] (or labels [N] for a label-conditioned model), ws [N],
    observations [N, O]. x_0 of row n is normal(keys[n], [A]), so a row's action does not depend on which other
    rows share the batch, and the network runs on fixed chunks of rows (`map_row_chunks`).
    """
    x_0 = jax.vmap(lambda k: jax.random.normal(k, (config.action_dim,)))(keys)

    def one_chunk(x, g, w, o):
        return sample_rows(params, config, x, g, o, w, flow_steps=flow_steps, uncond_params=uncond_params)

    return jnp.clip(map_row_chunks(one_chunk, (x_0, goals, ws, observations)), -1.0, 1.0)


@dataclasses.dataclass(frozen=True)
class RowPolicy:
    """What the rollout loops call once per env step: act(keys [N], goals [N, G], ws [N], observations [N, O])
    -> actions [N, A] in [-1, 1], one row per rollout, each row depending only on its own inputs (jit it, and
    run its network on `map_row_chunks`). goal_dim None: a single-task policy that ignores the goal."""

    act: Callable
    obs_dim: int
    goal_dim: int | None


def goal_conditioned_policy(params, config: ModelConfig, flow_steps: int = 16) -> RowPolicy:
    """The guided flow GCBC/CFGRL policy of `sample_actions` as a RowPolicy."""
    if not isinstance(config, ModelConfig) or config.cond_dim <= 0 or config.obs_dim <= 0:
        raise ValueError("config must be a ModelConfig with obs_dim > 0 and cond_dim > 0 (a goal-conditioned policy)")
    flow_steps = check_flow_steps(flow_steps)
    act = functools.partial(sample_actions, params, config=config, flow_steps=flow_steps)
    return RowPolicy(act=act, obs_dim=config.obs_dim, goal_dim=config.cond_dim)


_fold_keys = jax.jit(jax.vmap(jax.random.fold_in, in_axes=(0, None)))  # keys [N], step -> [N]


def bucket_size(active: int, total: int, smallest: int = 8) -> int:
    """Rows the policy call takes when `active` of `total` rollouts are running: the smallest power of two
    (at least `smallest`) that holds them, capped at `total`. Few distinct sizes -> few compilations."""
    size = smallest
    while size < active:
        size *= 2
    return min(size, total)


def _step_rows(envs, rngs, running, actions, obs, lengths, success, active, part) -> None:
    """Step the envs of rows running[part] with actions[part], writing each row's obs, length, success, active."""
    for a in part:
        r = running[a]
        ob, _, terminated, truncated, info = step_env(envs[r], actions[a], rngs[r])
        obs[r] = ob
        lengths[r] += 1
        success[r] |= bool(info["success"])
        if terminated or truncated:
            active[r] = False


def check_env_threads(env_threads, cap: int | None = 8) -> int:
    """The number of env-stepping threads: env_threads if given (a positive int), else the cpu count (at most `cap`)."""
    if env_threads is None:
        cores = os.cpu_count() or 1
        return max(1, cores if cap is None else min(cores, cap))
    return check_positive_int("env_threads", env_threads)


def _check_ws(ws) -> np.ndarray:
    ws = check_finite("ws", np.atleast_1d(np.asarray(ws, np.float32)))
    if ws.ndim != 1 or ws.size == 0:
        raise ValueError(f"ws must be a non-empty 1-D vector of guidance weights, got shape {ws.shape}")
    return ws


def _check_args(env_name, policy: RowPolicy, ws, task_ids, task_infos, episodes_per_task, max_steps, seed, pool):
    if not isinstance(policy, RowPolicy):
        raise TypeError(f"policy must be a RowPolicy, got {type(policy).__name__}")
    ws = _check_ws(ws)
    if task_infos is not None:
        task_infos = tuple(task_infos)
        if not task_infos or not all(isinstance(t, dict) for t in task_infos):
            raise ValueError("task_infos must be a non-empty sequence of task_info dicts")
        task_ids = tuple(range(1, len(task_infos) + 1))
    task_ids = tuple(int(t) for t in task_ids)
    if not task_ids:
        raise ValueError("task_ids is empty")
    check_positive_int("episodes_per_task", episodes_per_task)
    if max_steps is not None:
        check_positive_int("max_steps", max_steps)
    check_nonnegative_int("seed", seed)
    (env,) = pool.get(env_name, 1)
    num_tasks = env.unwrapped.num_tasks
    if task_infos is None and any(not 1 <= t <= num_tasks for t in task_ids):
        raise ValueError(f"task_ids must lie in [1, {num_tasks}] for {env_name}, got {task_ids}")
    tasks = task_ids if task_infos is None else task_infos
    obs, info = reset_env(env, tasks[0], 0)
    goal_shape = np.shape(info["goal"])
    if np.shape(obs) != (policy.obs_dim,) or (policy.goal_dim is not None and goal_shape != (policy.goal_dim,)):
        expects = f"({policy.obs_dim},)" + ("" if policy.goal_dim is None else f" and ({policy.goal_dim},)")
        raise ValueError(
            f"{env_name} has observations {np.shape(obs)} and goals {goal_shape}, but the policy expects {expects}"
        )
    limit = env.spec.max_episode_steps if max_steps is None else int(max_steps)
    return ws, task_ids, tasks, limit, goal_shape


def _rollout_setup(ws, task_ids, episodes_per_task, seed):
    """Rows r = (i E + e) W + j in (task, episode, w) order: env seeds [T, E], policy keys [N], row ws [N]."""
    t, e, w = len(task_ids), episodes_per_task, len(ws)
    env_seeds = np.array([[episode_seed(seed, task, ep) for ep in range(e)] for task in task_ids], np.int64)
    base = jax.random.PRNGKey(seed)
    pairs = jnp.array([(task, ep) for task in task_ids for ep in range(e)], jnp.uint32)  # [T*E]
    pair_keys = jax.vmap(lambda p: jax.random.fold_in(jax.random.fold_in(base, p[0]), p[1]))(pairs)
    keys = jnp.repeat(pair_keys, w, axis=0)  # [N], shared across w
    row_ws = np.tile(ws, t * e)
    return env_seeds, keys, row_ws


def evaluate_lockstep(
    env_name: str,
    params,
    config: ModelConfig,
    ws,
    *,
    task_ids=DEFAULT_TASK_IDS,
    task_infos=None,
    episodes_per_task: int = 1,
    seed: int = 0,
    flow_steps: int = 16,
    max_steps: int | None = None,
    record_trajectories: bool = False,
    env_threads: int | None = None,
    physics: str = "auto",
    pool: EnvPool | None = None,
    progress: bool = False,
) -> EvalResult:
    """All T x E x W rollouts of the guided goal-conditioned flow stepped together, ONE `sample_actions` call per
    env step (`evaluate_policy` with `goal_conditioned_policy`). See the module docstring."""
    return evaluate_policy(
        env_name, goal_conditioned_policy(params, config, flow_steps), ws, task_ids=task_ids, task_infos=task_infos,
        episodes_per_task=episodes_per_task, seed=seed, max_steps=max_steps, record_trajectories=record_trajectories,
        env_threads=env_threads, physics=physics, pool=pool, progress=progress,
    )  # fmt: skip


def evaluate_policy(
    env_name: str,
    policy: RowPolicy,
    ws,
    *,
    task_ids=DEFAULT_TASK_IDS,
    task_infos=None,
    episodes_per_task: int = 1,
    seed: int = 0,
    max_steps: int | None = None,
    record_trajectories: bool = False,
    env_threads: int | None = None,
    physics: str = "auto",
    pool: EnvPool | None = None,
    progress: bool = False,
) -> EvalResult:
    """All T x E x W rollouts of any `RowPolicy` stepped together, one `policy.act` call per env step.

    ws: the per-row parameter the policy receives (a guidance weight for a CFG policy; a policy that has none
    ignores it, and ws = (0.0,) gives one rollout per task and episode).
    env_threads: threads that step the envs; default the cpu count (at most 8 on the reference path). Results do
    not depend on it: each row is stepped on its own, and a rollout's random draws come from its own streams.
    physics: "reference" steps every rollout through its own OGBench env (`env.step`, threads over envs; MuJoCo's
    mj_step releases the GIL); "batched" steps the physics of all rollouts in one threaded MuJoCo call
    (`maze_batch`, point mazes only, resets still by OGBench's env; observations within 1e-12 of the reference);
    "auto" (default) is "batched" where `maze_batch.supports` the env, else "reference".
    pool: an EnvPool whose envs are reused (and kept) across calls; None builds envs for this call and closes them.
    progress: a bar over env steps (`cfgrl_core.progress`; rollouts still running in its postfix)."""
    (result,) = evaluate_many(
        env_name, [(policy, ws)], task_ids=task_ids, task_infos=task_infos, episodes_per_task=episodes_per_task,
        seed=seed, max_steps=max_steps, record_trajectories=record_trajectories, env_threads=env_threads,
        physics=physics, pool=pool, progress=progress,
    )  # fmt: skip
    return result


def evaluate_many(
    env_name: str,
    jobs,
    *,
    task_ids=DEFAULT_TASK_IDS,
    task_infos=None,
    episodes_per_task: int = 1,
    seed: int = 0,
    max_steps: int | None = None,
    record_trajectories: bool = False,
    env_threads: int | None = None,
    physics: str = "auto",
    pool: EnvPool | None = None,
    progress: bool = False,
) -> list[EvalResult]:
    """Several policies evaluated in ONE lockstep: jobs is a sequence of (RowPolicy, ws), e.g. the seeds of a run or
    the actors of a learner. At every env step each job's policy is called once on its own running rows, and the
    envs of all jobs are stepped together (so the physics of S seeds runs as one batch). Returns one EvalResult per
    job, equal to `evaluate_policy(env_name, policy, ws, ...)` of that job alone (same env seeds and policy keys:
    a rollout depends only on its own task, episode, w and seed). On the reference path (an env per rollout: cube)
    the lockstep runs once per w (`_in_w_waves`), on T x E envs per job instead of T x E x W, with the same result.
    The other arguments as `evaluate_policy`."""
    jobs = [(policy, ws) for policy, ws in jobs]
    if not jobs:
        raise ValueError("jobs is empty: give at least one (policy, ws)")
    owned = pool is None
    pool = EnvPool() if owned else pool
    try:
        (env,) = pool.get(env_name, 1)
        run = functools.partial(
            _evaluate_lockstep, env_name, task_ids=task_ids, task_infos=task_infos,
            episodes_per_task=episodes_per_task, seed=seed, max_steps=max_steps,
            record_trajectories=record_trajectories, env_threads=env_threads, physics=physics, pool=pool,
            progress=progress,
        )  # fmt: skip
        if _choose_physics(physics, env) == "batched":
            return run(jobs)
        return _in_w_waves(run, jobs)
    finally:
        if owned:
            pool.close()


def _in_w_waves(run, jobs) -> list[EvalResult]:
    """`run(jobs)` one w at a time: wave k evaluates the k-th w of every job that has one, on the same envs (the
    pool keeps them), and each job's waves are joined along the w axis. A rollout depends only on its own task,
    episode, w and seed (the policy key is shared across w, the env seed too), so this equals one lockstep of all
    rows; only the wall and policy seconds are summed over the waves (every job gets the totals, as in one lockstep).
    Recorded trajectories are padded with their last observation to the longest wave, as one lockstep records a
    finished rollout."""
    jobs = [(policy, _check_ws(ws)) for policy, ws in jobs]
    waves = []
    for k in range(max(ws.size for _, ws in jobs)):
        members = [i for i, (_, ws) in enumerate(jobs) if k < ws.size]
        waves.append(dict(zip(members, run([(jobs[i][0], jobs[i][1][k : k + 1]) for i in members]), strict=True)))
    seconds = sum(next(iter(wave.values())).seconds for wave in waves)
    policy_seconds = sum(next(iter(wave.values())).policy_seconds for wave in waves)
    return [
        _join_w([wave[i] for wave in waves if i in wave], seconds=seconds, policy_seconds=policy_seconds)
        for i in range(len(jobs))
    ]


def _join_w(parts: list[EvalResult], **totals) -> EvalResult:
    """One job's results of successive w waves as one result, W axis (2) in wave order."""
    join = lambda name: np.concatenate([getattr(p, name) for p in parts], axis=2)
    trajectories = None
    if parts[0].trajectories is not None:
        length = max(p.trajectories.shape[3] for p in parts)
        padded = [
            np.concatenate([p.trajectories] + [p.trajectories[:, :, :, -1:]] * (length - p.trajectories.shape[3]), 3)
            for p in parts
        ]
        trajectories = np.concatenate(padded, axis=2)
    return dataclasses.replace(
        parts[0], ws=np.concatenate([p.ws for p in parts]), success=join("success"), lengths=join("lengths"),
        final_observations=join("final_observations"), trajectories=trajectories, **totals,
    )  # fmt: skip


PHYSICS = ("auto", "batched", "reference")


def _choose_physics(physics: str, env) -> str:
    if physics not in PHYSICS:
        raise ValueError(f"physics must be one of {PHYSICS}, got {physics!r}")
    if physics == "auto":
        return "batched" if maze_batch.supports(env) else "reference"
    if physics == "batched" and not maze_batch.supports(env):
        raise ValueError(f"physics='batched' serves point mazes only, not {env.spec.id if env.spec else env!r}")
    return physics


@dataclasses.dataclass
class _Job:
    """The rows of one (policy, ws) in the shared lockstep: rows offset .. offset + n."""

    policy: RowPolicy
    ws: np.ndarray
    offset: int
    n: int
    goals: np.ndarray | None  # [n, G], filled at reset
    row_ws: np.ndarray  # [n]


def _policy_actions(job: _Job, keys: np.ndarray, active: np.ndarray, obs: np.ndarray, actions: np.ndarray) -> None:
    """job.policy on the job's running rows (padded to a bucket), written into actions[rows]. keys [N_all, 2]: every
    row's policy key of this step, on the host. The rows are gathered in numpy, so a job costs one jitted call per
    step (eager device-side gathers cost about 0.5-1 ms each on the 2-core CPU, more than a small policy call)."""
    running = np.flatnonzero(active[job.offset : job.offset + job.n])
    if running.size == 0:
        return
    rows = np.resize(running, bucket_size(running.size, job.n))  # pads by repeating running rows
    out = job.policy.act(keys[job.offset + rows], job.goals[rows], job.row_ws[rows], obs[job.offset + rows])
    actions[job.offset + running] = np.asarray(out, np.float64)[: running.size]


def _evaluate_lockstep(
    env_name, jobs, *, task_ids, task_infos, episodes_per_task, seed, max_steps, record_trajectories,
    env_threads, physics, pool, progress,
) -> list[EvalResult]:  # fmt: skip
    checked = [
        _check_args(env_name, policy, ws, task_ids, task_infos, episodes_per_task, max_steps, seed, pool)
        for policy, ws in jobs
    ]
    _, task_ids, tasks, limit, goal_shape = checked[0]
    (env,) = pool.get(env_name, 1)
    physics = _choose_physics(physics, env)
    t, e = len(task_ids), episodes_per_task
    parts, job_keys, offset = [], [], 0
    for (policy, _), (ws, *_) in zip(jobs, checked, strict=True):
        _, keys, row_ws = _rollout_setup(ws, task_ids, e, seed)
        n_job = t * e * len(ws)
        parts.append(_Job(policy, ws, offset, n_job, None, np.asarray(row_ws, np.float32)))
        job_keys.append(keys)
        offset += n_job
    n = offset
    row_keys = jnp.concatenate(job_keys)  # [n, 2]: every row's key, job after job
    threads = check_env_threads(env_threads, cap=None if physics == "batched" else 8)
    envs = pool.get(env_name, 1 if physics == "batched" else n)
    start = time.perf_counter()  # EvalResult.seconds: resets and steps, not building envs
    obs = np.zeros((n, jobs[0][0].obs_dim), np.float32)
    goals = np.zeros((n, *goal_shape), np.float32)
    rngs = [None] * n
    batch = maze_batch.PointMazeBatch(env, threads) if physics == "batched" else None
    state = np.zeros((n, batch.state_size)) if batch else None
    goal_xy = np.zeros((n, 2)) if batch else None
    env_seeds = _rollout_setup(checked[0][0], task_ids, e, seed)[0]  # [T, E], the same for every job
    for job in parts:
        w = len(job.ws)
        for k in range(job.n):
            r = job.offset + k
            i, ep = divmod(k // w, e)
            env_r = envs[0] if batch else envs[r]
            rngs[r] = IsolatedRNG(int(env_seeds[i, ep]))  # the rollout's own stream, reset and steps
            obs[r], info = reset_env(env_r, tasks[i], int(env_seeds[i, ep]), rngs[r])
            goals[r] = info["goal"]
            if batch:
                state[r], goal_xy[r] = batch.capture(env_r), env_r.unwrapped.cur_goal_xy
        job.goals = goals[job.offset : job.offset + job.n]
    active = np.ones(n, bool)
    success = np.zeros(n, bool)
    lengths = np.zeros(n, np.int64)
    actions = np.zeros((n, env.action_space.shape[0]), np.float64)
    path = [obs.copy()] if record_trajectories else None
    policy_seconds = 0.0
    desc = f"{env_name}: {n} rollouts" + (f" of {len(jobs)} policies" if len(jobs) > 1 else "")
    bar = progress_bar(total=limit, desc=desc, unit="step", disable=not progress, leave=False)
    with ThreadPoolExecutor(threads if batch is None else 1) as executor:  # idle unless the reference path threads
        for step in range(limit):
            running = np.flatnonzero(active)
            if running.size == 0:
                break
            tick = time.perf_counter()
            keys = np.asarray(_fold_keys(row_keys, step))  # one call for every row of every job
            for job in parts:
                _policy_actions(job, keys, active, obs, actions)
            policy_seconds += time.perf_counter() - tick
            if batch is not None:
                ob, done, state[running] = batch.step(
                    state[running], actions[running], goal_xy[running], [rngs[r] for r in running]
                )
                obs[running] = ob
                lengths[running] += 1
                success[running] |= done
                ended = done | (lengths[running] >= (batch.max_episode_steps or limit))
                active[running[ended]] = False
            else:
                chunks = np.array_split(np.arange(running.size), threads if running.size >= 16 else 1)
                advance = functools.partial(
                    _step_rows, envs, rngs, running, actions[running], obs, lengths, success, active
                )
                if len(chunks) == 1:
                    advance(chunks[0])
                else:
                    list(executor.map(advance, chunks))  # list(): wait for every part, re-raise a part's exception
            if record_trajectories:
                path.append(obs.copy())
            bar.update(1)
            bar.set_postfix(running=int(active.sum()), refresh=False)
    bar.close()
    if batch is not None:
        batch.close()
    seconds = time.perf_counter() - start
    trajectories = None if path is None else np.stack(path, axis=1)
    results = []
    for job in parts:
        rows = slice(job.offset, job.offset + job.n)
        shape = (t, e, len(job.ws))
        results.append(
            EvalResult(
                task_ids=task_ids,
                ws=job.ws,
                success=success[rows].reshape(shape),
                lengths=lengths[rows].reshape(shape),
                final_observations=obs[rows].reshape(*shape, -1),
                env_seeds=env_seeds,
                seconds=seconds,
                task_infos=None if task_infos is None else tasks,
                trajectories=None if path is None else trajectories[rows].reshape(*shape, len(path), -1),
                policy_seconds=policy_seconds,
            )
        )
    return results


def evaluate_one_at_a_time(
    env_name: str,
    params,
    config: ModelConfig,
    ws,
    *,
    task_ids=DEFAULT_TASK_IDS,
    task_infos=None,
    episodes_per_task: int = 1,
    seed: int = 0,
    flow_steps: int = 16,
    max_steps: int | None = None,
) -> EvalResult:
    """The authors' loop: one env, one episode after another, one observation per policy call (for comparison).

    Same seeds, keys and success rule as `evaluate_lockstep`, so the two agree rollout by rollout.
    """
    policy = goal_conditioned_policy(params, config, flow_steps)
    with EnvPool() as pool:
        ws, task_ids, tasks, limit, _ = _check_args(
            env_name, policy, ws, task_ids, task_infos, episodes_per_task, max_steps, seed, pool
        )
    t, e, w = len(task_ids), episodes_per_task, len(ws)
    env_seeds, keys, row_ws = _rollout_setup(ws, task_ids, e, seed)
    n = t * e * w
    env = make_env(env_name)
    start = time.perf_counter()
    final_obs = np.zeros((n, config.obs_dim), np.float32)
    success = np.zeros(n, bool)
    lengths = np.zeros(n, np.int64)
    for r in range(n):
        i, ep = divmod(r // w, e)
        rng = IsolatedRNG(int(env_seeds[i, ep]))
        ob, info = reset_env(env, tasks[i], int(env_seeds[i, ep]), rng)
        goal = jnp.asarray(info["goal"], jnp.float32)[None]
        w_r = jnp.asarray(row_ws[r : r + 1])
        for step in range(limit):
            key = jax.random.fold_in(keys[r], step)[None]
            obs_in = jnp.asarray(np.asarray(ob, np.float32)[None])
            action = np.asarray(policy.act(key, goal, w_r, obs_in))
            ob, _, terminated, truncated, info = step_env(env, action[0].astype(np.float64), rng)
            lengths[r] += 1
            success[r] |= bool(info["success"])
            if terminated or truncated:
                break
        final_obs[r] = ob
    seconds = time.perf_counter() - start
    env.close()
    return EvalResult(
        task_ids=task_ids,
        ws=ws,
        success=success.reshape(t, e, w),
        lengths=lengths.reshape(t, e, w),
        final_observations=final_obs.reshape(t, e, w, -1),
        env_seeds=env_seeds,
        seconds=seconds,
        task_infos=None if task_infos is None else tasks,
    )
