"""OGBench single-task offline RL: relabelled transitions, and the single-task actors as rollout policies.

Data. `<maze>-navigate-singletask-v0` is the navigate dataset relabelled by OGBench itself for one fixed task
(`ogbench.make_env_and_datasets(name, dataset_path=...)`, which calls `ogbench.relabel_dataset`): the reward of a
transition is success(s_t) - 1 and its mask is 1 - success(s_t), with success read from the stored qpos (the
state *before* the action) and the env's goal tolerance. No `taskN` in the name means the default task (task 1
for mazes, task 2 for cube-single). We load our generated files through exactly that loader.

Success timing. ogbench 1.2 registers the single-task envs with success_timing='pre' (the step's success, reward
and termination are those of the state before the action); 1.1.0, which the CFGRL authors bundled, used 'post'.
The relabelling above reads the pre-action state in both versions, so the training data are the same. For
evaluation we use the installed 1.2 envs ('pre'): an episode succeeds when a state within the goal tolerance is
reached, observed one step later than under 'post'. The two differ only for an episode that first reaches the goal
on its very last step (counted under 'post', not under 'pre') -- at most a fraction of a percent at 1000 steps.

Starts along the path (our variant, not OGBench's). A single-task env always starts at its task's start. To see
how far back from the goal the learned values already guide a policy, `path_start_env` builds the same maze with
the single-task settings (no goal noise, success_timing='pre') but honouring a `task_info` start, and
`path_starts` lists the cells of the task's shortest path as such starts, each with its distance to the goal in
cells; the last one is the task's own start.

Policies (`cfgrl_core.ogbench.evaluation.RowPolicy`, evaluated in lockstep by `evaluate_policy`; the env's goal is
ignored): the CFGRL actor sampled with guidance weight w towards o = 1, the AWR Gaussian at its mean (as the
authors evaluate it; w ignored), and the AWR flow actor (its conditional flow; w ignored).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from cfgrl_core.agents.awr import AWRConfig, GaussianActor
from cfgrl_core.agents.cfgrl_actor import POSITIVE, CFGRLActorConfig
from cfgrl_core.checks import check_flow_steps
from cfgrl_core.guidance import sample_rows
from cfgrl_core.ogbench import scratch
from cfgrl_core.ogbench.evaluation import RowPolicy, make_env, map_row_chunks, sample_actions
from cfgrl_core.ogbench.maze import bfs_distances

DEFAULT_TASKS = {"pointmaze": 1, "cube": 2}  # OGBench's default single task of each family
NUM_TASKS = 5  # OGBench's evaluation tasks per env: task1 .. task5 (its envs' task_infos)


def singletask_name(env_name: str, task_id: int | None = None) -> str:
    """'pointmaze-large-navigate-v0' -> 'pointmaze-large-navigate-singletask-v0' (the relabelled dataset name of
    the default task), or '...-singletask-task3-v0' for task_id = 3."""
    if not isinstance(env_name, str) or not env_name.endswith("-v0") or "singletask" in env_name:
        raise ValueError(
            f"expected a goal-conditioned dataset name such as 'pointmaze-large-navigate-v0', got {env_name!r}"
        )
    suffix = "" if task_id is None else f"-task{int(task_id)}"
    return env_name[: -len("-v0")] + f"-singletask{suffix}-v0"


def default_task_id(env_name: str) -> int:
    """The task a single-task name without `taskN` uses (OGBench: 1 for mazes, 2 for cube)."""
    family = env_name.split("-")[0]
    if family not in DEFAULT_TASKS:
        raise ValueError(f"no default single task known for {env_name!r} (families: {sorted(DEFAULT_TASKS)})")
    return DEFAULT_TASKS[family]


def transitions(dataset: dict) -> dict:
    """The IQL/actor training arrays of a relabelled OGBench dataset, float32: observations, actions, rewards,
    masks, next_observations ([N, ...]). A dataset without rewards (not a single-task one) is an error."""
    missing = [k for k in ("observations", "actions", "next_observations", "rewards", "masks") if k not in dataset]
    if missing:
        raise ValueError(f"not a single-task dataset (missing {missing}); load a '-singletask-v0' name")
    return {
        k: np.asarray(dataset[k], np.float32)
        for k in ("observations", "actions", "rewards", "masks", "next_observations")
    }


@functools.partial(jax.jit, static_argnames=("config", "flow_steps"))
def _cfgrl_act(params, keys, goals, ws, observations, *, config: CFGRLActorConfig, flow_steps: int):
    del goals
    labels = jnp.full(observations.shape[0], POSITIVE, jnp.int32)
    return sample_actions(params, keys, labels, ws, observations, config=config.model_config, flow_steps=flow_steps)


def cfgrl_policy(params, config: CFGRLActorConfig, flow_steps: int = 16) -> RowPolicy:
    """The CFGRL actor, guided towards o = 1 with each row's own w (w = 0: BC, 1: filtered BC)."""
    act = functools.partial(_cfgrl_act, params, config=config, flow_steps=check_flow_steps(flow_steps))
    return RowPolicy(act=act, obs_dim=config.obs_dim, goal_dim=None)


@functools.partial(jax.jit, static_argnames=("config",))
def _gaussian_act(params, keys, goals, ws, observations, *, config: AWRConfig):
    del keys, goals, ws
    mean = map_row_chunks(lambda o: GaussianActor(config).apply(params, o)[0], (observations,))
    return jnp.clip(mean, -1.0, 1.0)


@functools.partial(jax.jit, static_argnames=("config", "flow_steps"))
def _flow_awr_act(params, keys, goals, ws, observations, *, config: AWRConfig, flow_steps: int):
    del goals, ws
    x_0 = jax.vmap(lambda k: jax.random.normal(k, (config.action_dim,)))(keys)

    def one_chunk(x, o):
        labels = jnp.zeros(x.shape[0], jnp.int32)  # the flow actor's one constant label
        return sample_rows(params, config.flow_config, x, labels, o, flow_steps=flow_steps)

    return jnp.clip(map_row_chunks(one_chunk, (x_0, observations)), -1.0, 1.0)


def awr_policy(params, config: AWRConfig, flow_steps: int = 16) -> RowPolicy:
    """An AWR actor: the Gaussian's mean action (deterministic, as the authors evaluate it) or the flow actor's
    sample. The per-row w is ignored."""
    if config.policy == "gaussian":
        act = functools.partial(_gaussian_act, params, config=config)
    else:
        act = functools.partial(_flow_awr_act, params, config=config, flow_steps=check_flow_steps(flow_steps))
    return RowPolicy(act=act, obs_dim=config.obs_dim, goal_dim=None)


def path_start_env(env_name: str, task_id: int):
    """The maze of `env_name` ('pointmaze-medium-navigate-v0') as its single-task env for task `task_id` has it (no
    goal noise, success_timing='pre', the same episode length), except that reset honours options={'task_info': ...}
    so an episode can start anywhere. Rewards are the goal-conditioned ones (0 / 1); only success is used."""
    import ogbench

    if not env_name.startswith("pointmaze-"):
        raise ValueError(f"starts along the path exist for point mazes only, got {env_name!r}")
    env = make_env(env_name)
    env.close()  # only its registered id was needed
    with scratch.env_files():
        return ogbench.make_env_and_datasets(env_name, env_only=True, add_noise_to_goal=False, success_timing="pre")


def path_starts(env_name: str, task_id: int) -> list[dict]:
    """The cells of task `task_id`'s shortest path from its start to its goal, goal excluded, nearest first: task_info
    dicts {init_ij, goal_ij, distance} (distance in cells; the last entry is the task's own start). Ties between
    shortest paths go to the first neighbour in (down, up, right, left) order."""
    env = make_env(singletask_name(env_name, task_id))
    try:
        maze = env.unwrapped
        info = maze.task_infos[task_id - 1]
        maze_map = np.asarray(maze.maze_map)
    finally:
        env.close()
    goal, cell = tuple(int(v) for v in info["goal_ij"]), tuple(int(v) for v in info["init_ij"])
    dist = bfs_distances(maze_map, goal)
    path = [cell]
    while dist[cell] > 1:
        cell = next(n for n in ((cell[0] + 1, cell[1]), (cell[0] - 1, cell[1]), (cell[0], cell[1] + 1),
                                (cell[0], cell[1] - 1)) if dist.get(n) == dist[cell] - 1)  # fmt: skip
        path.append(cell)
    return [dict(init_ij=list(c), goal_ij=list(goal), distance=int(dist[c])) for c in reversed(path)]
