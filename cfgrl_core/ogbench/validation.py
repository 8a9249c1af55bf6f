"""Validation tasks for choosing w: random start / goal pairs that are not OGBench's 5 evaluation tasks.

  mazes        vertex-cell pairs whose shortest path is as long as the evaluation tasks' (`maze_validation_tasks`)
  cube-single  random cube start and target positions over OGBench's sampling area (`cube_validation_tasks`)

Tasks are JSON-able task_info dicts (stored in the results); `as_task_info` turns one back into what reset expects.
"""

from __future__ import annotations

import numpy as np

from cfgrl_core.checks import check_positive_int
from cfgrl_core.ogbench import evaluation
from cfgrl_core.ogbench.maze import bfs_distances, maze_cells


def oraclerep_name(env_name: str) -> str:
    """pointmaze-medium-navigate-v0 -> pointmaze-medium-navigate-oraclerep-v0 (goals are the oracle x-y)."""
    base, version = env_name.rsplit("-", 1)
    return f"{base}-oraclerep-{version}"


def maze_validation_tasks(env_name: str, num_tasks: int, seed: int) -> list[dict]:
    """`num_tasks` random (start cell, goal cell) pairs for choosing w, as task_info dicts {init_ij, goal_ij}.

    Both cells are drawn uniformly from the maze's vertex cells (where the dataset's goals come from), the pair is
    none of the 5 evaluation tasks (nor one reversed), and its shortest path lies within the range of the evaluation
    tasks' shortest paths, so validation goals are as hard as the evaluation ones without being them. Seeded.
    """
    check_positive_int("num_tasks", num_tasks)
    env = evaluation.make_env(oraclerep_name(env_name))
    maze = env.unwrapped
    maze_map = np.asarray(maze.maze_map)
    eval_pairs = {(tuple(t["init_ij"]), tuple(t["goal_ij"])) for t in maze.task_infos}
    eval_pairs |= {(g, i) for i, g in eval_pairs}
    eval_lengths = [bfs_distances(maze_map, i)[g] for i, g in eval_pairs]
    lo, hi = min(eval_lengths), max(eval_lengths)
    env.close()
    _, vertex_cells = maze_cells(maze_map)
    candidates = []
    for start in vertex_cells:
        dist = bfs_distances(maze_map, start)
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
    check_positive_int("num_tasks", num_tasks)
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
