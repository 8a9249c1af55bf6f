"""OGBench pointmaze 'navigate' episodes, driven by the maze's own BFS oracle (OGBench's generate_locomaze.py).

    subgoal_xy = env.get_oracle_subgoal(xy, goal_xy)           BFS over maze cells, one cell ahead
    a_t = clip(d / (|d| + 1e-6) + eps,  -1, 1),  d = subgoal_xy - xy,  eps ~ N(0, noise^2 I_2)

Each episode starts in a uniformly drawn free cell with a goal drawn uniformly from the "vertex" cells (free cells
that are not straight corridor cells); whenever the goal is reached a new vertex goal is drawn ('navigate').
Also the maze geometry a plot or a validation task needs (`maze_cells`, `bfs_distances`, `maze_geometry`), and
the notebooks' drawing of it (`draw_maze`).
"""

from __future__ import annotations

import collections

import numpy as np

from cfgrl_core.ogbench import scratch
from cfgrl_core.ogbench.env_rng import IsolatedRNG
from cfgrl_core.ogbench.episodes import empty_episode, record_step


def make_data_env(env_name: str, episode_length: int):
    """The env OGBench collects data in: no termination at the goal, truncation after `episode_length` rows."""
    import gymnasium
    import ogbench.locomaze  # noqa: F401  (registers the pointmaze-*-v0 env ids)

    maze_env_id = env_name.replace("-navigate", "")  # pointmaze-medium-navigate-v0 -> pointmaze-medium-v0
    with scratch.env_files():
        return gymnasium.make(maze_env_id, terminate_at_goal=False, max_episode_steps=episode_length)


def maze_cells(maze_map: np.ndarray) -> tuple[list, list]:
    """(all free cells, vertex cells): free cells (i, j), and those that are not straight corridor cells."""
    all_cells, vertex_cells = [], []
    for i in range(maze_map.shape[0]):
        for j in range(maze_map.shape[1]):
            if maze_map[i, j] != 0:
                continue
            all_cells.append((i, j))
            up, down, left, right = maze_map[i - 1, j], maze_map[i + 1, j], maze_map[i, j - 1], maze_map[i, j + 1]
            vertical_corridor = up == 0 and down == 0 and left == 1 and right == 1
            horizontal_corridor = left == 0 and right == 0 and up == 1 and down == 1
            if not (vertical_corridor or horizontal_corridor):
                vertex_cells.append((i, j))
    return all_cells, vertex_cells


def rollout_episode(env, cells: tuple[list, list], ep_seed: int, episode_length: int, noise: float) -> dict:
    """One 'navigate' episode of the noisy BFS oracle; returns the rows and how many goals were reached.

    Returns arrays observations [T, 2], actions [T, 2], terminals [T] (bool), qpos [T, 2], qvel [T, 2] with
    T = episode_length, and `goals_reached` (int). Randomness: `rng` (start, goals, action noise), plus the env's
    own RNGs (gymnasium np_random, the action space, and numpy's global RNG, which ogbench's maze uses for start
    noise and teleports, here an `IsolatedRNG`) all seeded from `ep_seed`; the caller's global RNG is untouched.
    """
    all_cells, vertex_cells = cells
    maze = env.unwrapped
    rng = np.random.default_rng(ep_seed)
    with IsolatedRNG(ep_seed).active():
        maze.action_space.seed(ep_seed)
        init_ij = all_cells[rng.integers(len(all_cells))]
        goal_ij = vertex_cells[rng.integers(len(vertex_cells))]
        ob, _ = env.reset(seed=ep_seed, options=dict(task_info=dict(init_ij=init_ij, goal_ij=goal_ij)))
        out = empty_episode(episode_length, ob.shape[-1], 2, maze.model)
        goals_reached = 0
        for t in range(episode_length):
            xy = maze.get_xy()
            subgoal_xy, _ = maze.get_oracle_subgoal(xy, maze.cur_goal_xy)
            direction = subgoal_xy - xy
            direction = direction / (np.linalg.norm(direction) + 1e-6)
            action = np.clip(direction + rng.normal(0.0, noise, size=2), -1.0, 1.0)
            next_ob, _, terminated, truncated, info = env.step(action)
            record_step(out, t, ob, action, terminated or truncated, info)
            if info["success"]:
                goals_reached += 1
                goal_ij = vertex_cells[rng.integers(len(vertex_cells))]
                maze.set_goal(goal_ij)
            ob = next_ob
    out["goals_reached"] = goals_reached
    return out


def make_navigate_sampler(env_name: str, episode_length: int, noise: float, noise_smoothing: float | None):
    """(sample, close): sample(ep_seed) -> one 'navigate' episode of `env_name`; one env serves every episode."""
    env = make_data_env(env_name, episode_length)
    cells = maze_cells(env.unwrapped.maze_map)

    def sample(ep_seed: int) -> dict:
        return rollout_episode(env, cells, ep_seed, episode_length, noise)

    return sample, env.close


def bfs_distances(maze_map: np.ndarray, start: tuple) -> dict:
    """Shortest path length in cells from `start` to every free cell (4-neighbour moves)."""
    dist = {tuple(start): 0}
    queue = collections.deque([tuple(start)])
    while queue:
        i, j = queue.popleft()
        for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            nxt = (i + di, j + dj)
            if maze_map[nxt] == 0 and nxt not in dist:
                dist[nxt] = dist[(i, j)] + 1
                queue.append(nxt)
    return dist


def maze_geometry(env) -> dict:
    """What a plot of the maze needs, from an OGBench maze env: wall cell centres [K, 2] (x-y), free cell centres
    [F, 2] (x-y, row-major over the maze map), the cell size, and the evaluation tasks' start / goal x-y [5, 2]
    each."""
    maze = env.unwrapped
    maze_map = np.asarray(maze.maze_map)
    walls = np.array([maze.ij_to_xy(ij) for ij in zip(*np.nonzero(maze_map == 1), strict=True)])
    return dict(
        walls=walls,
        free=np.array([maze.ij_to_xy(ij) for ij in maze_cells(maze_map)[0]], float),
        cell=float(maze._maze_unit),
        task_starts=np.array([t["init_xy"] for t in maze.task_infos], float),
        task_goals=np.array([t["goal_xy"] for t in maze.task_infos], float),
    )


def env_geometry(env_name: str) -> dict:
    """`maze_geometry` of a named maze env, e.g. 'pointmaze-large-navigate-v0' (built once, no dataset)."""
    import ogbench

    with scratch.env_files():
        env = ogbench.make_env_and_datasets(env_name, env_only=True)
    try:
        return maze_geometry(env)
    finally:
        env.close()


def draw_maze(ax, geometry: dict, *, task_markers: bool = False, wall_color: str = "0.75") -> None:
    """Draw a `maze_geometry` on a matplotlib axis: walls as squares, limits at the outer walls, no ticks; with
    task_markers, each evaluation task's start (circle) and goal (star) in colour C0, C1, ... of its index."""
    from matplotlib.patches import Rectangle

    cell = geometry["cell"]
    half = cell / 2
    for x, y in geometry["walls"]:
        ax.add_patch(Rectangle((x - half, y - half), cell, cell, color=wall_color, lw=0))
    if task_markers:
        for k, (s, g) in enumerate(zip(geometry["task_starts"], geometry["task_goals"], strict=True)):
            ax.plot(*s, "o", color=f"C{k}", ms=6, mec="k", mew=0.5)
            ax.plot(*g, "*", color=f"C{k}", ms=11, mec="k", mew=0.5)
    lo, hi = geometry["walls"].min(0) - half, geometry["walls"].max(0) + half
    ax.set(xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]), aspect="equal", xticks=[], yticks=[])
