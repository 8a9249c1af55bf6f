"""Where a maze critic's values sit: each state's maze cell, the cell's shortest-path (BFS) distance to the task's
goal, and values gathered by that distance or along the task's shortest path (notebook 05's view of the critic).

    layout = maze_layout("pointmaze-medium-navigate-v0", task_id=3)
    dist = goal_distances(layout, observations[:, :2])        # [N] cells to the goal by walking, -1 if none
    table = by_distance(values, dist)                         # values [S, N] -> per distance, per seed
    on_path = along_path(values, layout, observations[:, :2]) # [S, P] along the task's path, nearest the goal first
    g, reaches = returns_to_go(rewards, masks, terminals, discount=0.99)

A cell is OGBench's (`maze.xy_to_ij`: i from y, j from x, cells `maze_unit` wide, centred on `ij_to_xy`); distances
are 4-neighbour moves between free cells, as `singletask.path_starts` counts them. In the teleport maze some cells
are joined to the goal only through a teleporter: BFS by walking does not reach them (distance -1).

`returns_to_go` is the data's own reference: the discounted return an episode of the dataset actually collected
from each state (r = success - 1, stopping at the goal), flagged where the episode reaches the goal later. The
optimal value of a state is at least the best such return from its cell (one way to the goal the data shows), and
IQL's upper-expectile V (tau = 0.9) should sit between the data's typical and its best returns; a critic value above
the best return observed from a cell is an overestimate there unless the cell holds few episodes.
"""

from __future__ import annotations

import numpy as np

from cfgrl_core.ogbench.maze import bfs_distances


def maze_layout(env_name: str, task_id: int) -> dict:
    """The geometry of one single task of a point maze: maze_map [H, W] (1 = wall), unit, origin (the x-y of cell
    (0, 0)), goal_ij, start_ij, distance [H, W] (BFS cells to the goal by walking, -1 at walls and cells not joined
    to it) and path: the task's shortest path (`singletask.path_starts`), nearest the goal first, [P, 2] ij."""
    from cfgrl_core.ogbench import singletask

    env = singletask.make_env(singletask.singletask_name(env_name, task_id))
    try:
        maze = env.unwrapped
        info = maze.task_infos[task_id - 1]
        maze_map = np.asarray(maze.maze_map)
        unit, origin = float(maze._maze_unit), np.asarray(maze.ij_to_xy((0, 0)), float)
    finally:
        env.close()
    goal = tuple(int(v) for v in info["goal_ij"])
    distance = np.full(maze_map.shape, -1, int)
    for cell, d in bfs_distances(maze_map, goal).items():
        distance[cell] = d
    path = np.array([s["init_ij"] for s in singletask.path_starts(env_name, task_id)], int)
    return dict(maze_map=maze_map, unit=unit, origin=origin, goal_ij=np.array(goal),
                start_ij=np.array([int(v) for v in info["init_ij"]]), distance=distance, path=path)  # fmt: skip


def cells_of(layout: dict, xy) -> np.ndarray:
    """The maze cell (i, j) of every x-y position, as OGBench's `xy_to_ij` computes it: [N, 2] -> [N, 2] int."""
    xy = np.asarray(xy, float).reshape(-1, 2)
    ij = np.floor((xy[:, ::-1] - layout["origin"][::-1]) / layout["unit"] + 0.5).astype(int)
    return np.clip(ij, 0, np.asarray(layout["maze_map"].shape) - 1)


def goal_distances(layout: dict, xy) -> np.ndarray:
    """BFS distance in cells from each position's cell to the goal's, -1 where walking does not join them. [N]."""
    ij = cells_of(layout, xy)
    return layout["distance"][ij[:, 0], ij[:, 1]]


def by_distance(values, distances) -> dict:
    """Values [S, N] (one row per critic seed) gathered by BFS distance [N]: distance [D] (those present, >= 0),
    count [D] states, mean [S, D]; states at distance -1 are left out (`unjoined` says how many)."""
    values = np.atleast_2d(np.asarray(values, float))
    distances = np.asarray(distances, int)
    if values.shape[1] != len(distances):
        raise ValueError(f"values hold {values.shape[1]} states but distances {len(distances)}")
    present = np.unique(distances[distances >= 0])
    mean = np.stack([values[:, distances == d].mean(axis=1) for d in present], axis=1) if present.size else None
    count = np.array([(distances == d).sum() for d in present], int)
    return dict(distance=present, count=count, mean=mean, unjoined=int((distances < 0).sum()))


def path_cells(layout: dict, xy) -> np.ndarray:
    """Which positions lie in each cell of the task's shortest path, nearest the goal first: [P, N] bool."""
    ij = cells_of(layout, xy)
    return np.stack([(ij[:, 0] == i) & (ij[:, 1] == j) for i, j in layout["path"]])


def along_path(values, layout: dict, xy) -> tuple[np.ndarray, np.ndarray]:
    """Values [S, N] averaged over the states in each cell of the task's shortest path (nearest the goal first):
    ([S, P] means, NaN for a cell with no state; [P] states per cell)."""
    values = np.atleast_2d(np.asarray(values, float))
    hits = path_cells(layout, xy)
    means = [values[:, hit].mean(axis=1) if hit.any() else np.full(len(values), np.nan) for hit in hits]
    return np.stack(means, axis=1), hits.sum(axis=1)


def returns_to_go(rewards, masks, terminals, *, discount: float) -> tuple[np.ndarray, np.ndarray]:
    """The discounted return each dataset state's own episode collected, G_t = r_t + discount m_t G_{t+1} within its
    episode (episodes end where terminals = 1; the last state of an episode counts only its own reward), and whether
    that episode reaches the goal (m = 0) at or after t. ([N] float, [N] bool)."""
    rewards, masks, terminals = (np.asarray(a, float).ravel() for a in (rewards, masks, terminals))
    if not (len(rewards) == len(masks) == len(terminals)):
        raise ValueError(f"rewards, masks and terminals differ in length: {len(rewards)}, {len(masks)}, "
                         f"{len(terminals)}")  # fmt: skip
    if not 0 <= discount < 1:
        raise ValueError(f"discount must lie in [0, 1), got {discount}")
    g, reaches = np.empty(len(rewards)), np.zeros(len(rewards), bool)
    nxt, nxt_reaches = 0.0, False
    for t in range(len(rewards) - 1, -1, -1):
        if terminals[t] or t == len(rewards) - 1:
            nxt, nxt_reaches = 0.0, False
        g[t] = rewards[t] + discount * masks[t] * nxt
        reaches[t] = masks[t] == 0 or nxt_reaches
        nxt, nxt_reaches = g[t], reaches[t]
    return g, reaches


def path_returns(layout: dict, xy, g, reaches, reduce=np.max) -> np.ndarray:
    """`reduce` (default: the best) of the returns-to-go (`returns_to_go`) observed from each cell of the task's
    path, among states whose episode reaches the goal: [P], nearest the goal first (NaN where none does)."""
    g, reaches = np.asarray(g, float), np.asarray(reaches, bool)
    return np.asarray([float(reduce(g[hit & reaches])) if (hit & reaches).any() else np.nan
                       for hit in path_cells(layout, xy)])  # fmt: skip


def rank_correlation(x, y) -> float:
    """Spearman's rank correlation of two equal-length sequences (average ranks for ties); NaN when either is
    constant. -1: y strictly decreases with x."""
    from scipy.stats import spearmanr

    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"need two equal-length sequences of at least 2 values, got {len(x)} and {len(y)}")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y).statistic)
