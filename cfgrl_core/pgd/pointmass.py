"""The 2-D point-mass world of PGD's Figure 2 (our design: the paper does not give its environment).

    state s in R^2, action u in R^2 (Gaussian, recorded *before* clipping, as the authors record pre-tanh actions),
    s' = f(s, u) = clip(s + step_size * clip(u, -1, 1), -bound, bound)         deterministic, float32
    r(s')  = -||s' - g_target||                                              dense, the target's task
    done   = ||s' - c_pit|| < pit_radius                                     a terminal: falling into a pit
    s_0 ~ N(0, s0_std^2 I); an episode times out after `horizon` steps.

Policies are isotropic Gaussians around a proportional controller, pi(u|s) = N(gain (goal - s), noise^2 I):
the behaviour policy heads for g_b = (1, 0) with broad noise (so the target's actions lie inside its support),
the target policy for g_t = (0.7, 0.7), more decisively (gain 2) and with little noise. The gains differ on
purpose: then pi_b and pi_t agree best at one state (s* = (k_t g_t - k_b g_b) / (k_t - k_b)), and PGD's implicit
tilt by Z(s) (reference section 1.3, `cfgrl_core.pgd.tilt`) depends on the state; with equal gains Z would be a
constant and the tilt invisible.

The pit sits at (1, -0.3), beside the behaviour goal where the behaviour policy hovers, so about a quarter of the
behaviour episodes end in it (after 16 steps or more: windows of 16 keep their terminals) and the target policy
almost never does; a terminal is a failure, as a fall in hopper, so a generator that drops them misleads an agent.

`WallWorld` adds a thin wall across the behaviour's path (contacts: a non-smooth f), notebook 06's test of why the
world model beats the trajectory model on dynamics error in the open box.

The dynamics are deterministic, so "dynamics error" (`cfgrl_core.pgd.measures`) is the distance between a
transition's next state and what this simulator does from its state and action: exactly zero on real data, as
`step` is the one function that made them (float32 numpy, the same arithmetic every time).

Datasets use the on-disk conventions of our OGBench generator (`cfgrl_core.ogbench.datasets`): one npz, written
atomically, every episode seeded by (seed, episode), and the recipe stored in it as a JSON string under
`generator_recipe`.
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from cfgrl_core.checks import InputError, check_finite, check_positive_int
from cfgrl_core.io.atomic import atomic_write_bytes
from cfgrl_core.progress import progress_bar

GENERATOR_VERSION = 1  # bump whenever a change would alter the generated arrays
RECIPE_KEY = "generator_recipe"
DATA_KEYS = ("observations", "actions", "rewards", "terminals", "timeouts", "next_observations", "episode_ids")


@dataclasses.dataclass(frozen=True)
class GaussianPolicy:
    """pi(u|s) = N(gain * (goal - s), noise^2 I), u recorded before the simulator clips it."""

    goal: tuple = (1.0, 0.0)
    gain: float = 1.0
    noise: float = 0.5

    def __post_init__(self):
        if not self.noise > 0:
            raise ValueError(f"a Gaussian policy needs noise > 0, got {self.noise}")
        object.__setattr__(self, "goal", tuple(float(g) for g in self.goal))


BEHAVIOUR = GaussianPolicy(goal=(1.0, 0.0), gain=1.0, noise=0.5)
TARGET = GaussianPolicy(goal=(0.7, 0.7), gain=2.0, noise=0.2)


@dataclasses.dataclass(frozen=True)
class PointMassWorld:
    step_size: float = 0.1  # distance moved per unit of (clipped) action
    bound: float = 1.5  # the box [-bound, bound]^2 the state is clipped to
    s0_std: float = 0.05  # start states ~ N(0, s0_std^2 I)
    horizon: int = 40  # steps before a timeout
    task_goal: tuple = TARGET.goal  # the goal of the reward (the target policy's task)
    pit_centre: tuple = (1.0, -0.3)  # entering the pit ends the episode (a terminal)
    pit_radius: float = 0.12

    def __post_init__(self):
        check_positive_int("horizon", self.horizon)
        for name in ("task_goal", "pit_centre"):
            object.__setattr__(self, name, tuple(float(g) for g in getattr(self, name)))

    def contact(self, s: np.ndarray, s_free: np.ndarray) -> np.ndarray:
        """The state after contacts, given the move s -> s_free of the open box: none here (float32 arrays)."""
        del s
        return s_free


@dataclasses.dataclass(frozen=True)
class WallWorld(PointMassWorld):
    """The point-mass world with a thin vertical wall (notebook 06's test of why the world model wins): a move
    that would cross the segment x = wall_x, wall_y[0] <= y <= wall_y[1] stops `gap` short of it in x and keeps its
    y (the point slides along the wall). A contact makes f(s, u) non-smooth, as contacts do in MuJoCo; the wall
    stands across the behaviour policy's path to its goal, so a large share of the data touches it."""

    wall_x: float = 0.5  # the wall's x position
    wall_y: tuple = (-0.15, 0.15)  # its extent in y
    gap: float = 0.01  # how far short of the wall a blocked move stops

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "wall_y", tuple(float(g) for g in self.wall_y))

    def contact(self, s, s_free):
        wx, (y_lo, y_hi), gap = np.float32(self.wall_x), self.wall_y, np.float32(self.gap)
        dx = s_free[..., 0] - s[..., 0]
        safe_dx = np.where(dx == 0, np.float32(1), dx)
        y_cross = s[..., 1] + (wx - s[..., 0]) / safe_dx * (s_free[..., 1] - s[..., 1])
        hit_y = (y_cross >= np.float32(y_lo)) & (y_cross <= np.float32(y_hi))
        from_left = (s[..., 0] < wx) & (s_free[..., 0] >= wx) & hit_y
        from_right = (s[..., 0] > wx) & (s_free[..., 0] <= wx) & hit_y
        x = np.where(from_left, np.minimum(s_free[..., 0], wx - gap), s_free[..., 0])
        x = np.where(from_right, np.maximum(x, wx + gap), x)
        return np.stack([x, s_free[..., 1]], -1).astype(np.float32)


def world_from_dict(d: dict) -> PointMassWorld:
    """The world a `dataclasses.asdict` came from: a `WallWorld` when it has a wall, else the open box."""
    return WallWorld(**d) if "wall_x" in d else PointMassWorld(**d)


def policy_mean(policy: GaussianPolicy, s):
    """gain * (goal - s) for states [..., 2] (numpy or jax)."""
    return policy.gain * (jnp.asarray(policy.goal, jnp.float32) - s)


def log_prob(policy: GaussianPolicy, s, u):
    """log pi(u|s) for [..., 2] states and actions -> [...]; jax, differentiable in both."""
    d = (u - policy_mean(policy, s)) / policy.noise
    return -0.5 * jnp.sum(d**2, -1) - u.shape[-1] * (jnp.log(policy.noise) + 0.5 * jnp.log(2 * jnp.pi))


def sample_action(policy: GaussianPolicy, s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    mean = policy.gain * (np.asarray(policy.goal, np.float32) - s)
    return (mean + policy.noise * rng.standard_normal(s.shape)).astype(np.float32)


def step(world: PointMassWorld, s, u) -> np.ndarray:
    """f(s, u): the true, deterministic dynamics, in float32 numpy. s, u: [..., 2] -> s' [..., 2] (then the
    world's contacts, `WallWorld`)."""
    s = np.asarray(s, np.float32)
    u = np.clip(np.asarray(u, np.float32), np.float32(-1), np.float32(1))
    bound = np.float32(world.bound)
    return world.contact(s, np.clip(s + np.float32(world.step_size) * u, -bound, bound))


def reward(world: PointMassWorld, s_next) -> np.ndarray:
    """r = -||s' - g_task||, float32. [..., 2] -> [...]."""
    d = np.asarray(s_next, np.float32) - np.asarray(world.task_goal, np.float32)
    return -np.sqrt(np.sum(d * d, -1, dtype=np.float32)).astype(np.float32)


def terminal(world: PointMassWorld, s_next) -> np.ndarray:
    """True where s' lies in the pit. [..., 2] -> [...] bool."""
    d = np.asarray(s_next, np.float32) - np.asarray(world.pit_centre, np.float32)
    return np.sqrt(np.sum(d * d, -1, dtype=np.float32)) < np.float32(world.pit_radius)


def rollout(world: PointMassWorld, policy: GaussianPolicy, s0: np.ndarray, steps: int, rng, *, stop_at_terminal=False):
    """Roll `policy` from states s0 [N, 2] for `steps` steps in the true simulator (no timeouts).

    Returns states [N, steps + 1, 2], actions [N, steps, 2], and `alive` [N, steps + 1] (False after a terminal
    when stop_at_terminal; rows after it repeat the terminal state with zero actions, for drawing only).
    """
    s = np.asarray(s0, np.float32)
    states, actions = [s], []
    alive = [np.ones(len(s), bool)]
    for _ in range(steps):
        u = sample_action(policy, s, rng)
        s_next = step(world, s, u)
        if stop_at_terminal:
            a = alive[-1]
            u = np.where(a[:, None], u, 0.0).astype(np.float32)
            s_next = np.where(a[:, None], s_next, s)
            alive.append(a & ~terminal(world, s_next))
        else:
            alive.append(alive[-1])
        states.append(s_next)
        actions.append(u)
        s = s_next
    return np.stack(states, 1), np.stack(actions, 1), np.stack(alive, 1)


def episode(world: PointMassWorld, policy: GaussianPolicy, rng: np.random.Generator) -> dict:
    """One episode until a terminal or the timeout: transitions as arrays [T, ...]."""
    s = (world.s0_std * rng.standard_normal(2)).astype(np.float32)
    rows = {k: [] for k in ("observations", "actions", "rewards", "terminals", "next_observations")}
    for _ in range(world.horizon):
        u = sample_action(policy, s, rng)
        s_next = step(world, s, u)
        done = bool(terminal(world, s_next))
        for k, v in zip(rows, (s, u, reward(world, s_next), done, s_next), strict=True):
            rows[k].append(v)
        s = s_next
        if done:
            break
    out = {k: np.asarray(v) for k, v in rows.items()}
    out["terminals"] = out["terminals"].astype(bool)
    out["timeouts"] = np.zeros(len(out["terminals"]), bool)
    out["timeouts"][-1] = not out["terminals"][-1]
    return out


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Everything that determines a generated dataset."""

    num_episodes: int = 200
    seed: int = 0
    world: PointMassWorld = PointMassWorld()
    behaviour: GaussianPolicy = BEHAVIOUR

    def to_json(self) -> str:
        return json.dumps({"generator_version": GENERATOR_VERSION, **dataclasses.asdict(self)}, sort_keys=True)

    @staticmethod
    def from_json(text: str) -> Recipe:
        d = json.loads(text)
        d.pop("generator_version", None)
        return Recipe(
            num_episodes=d["num_episodes"], seed=d["seed"], world=world_from_dict(d["world"]),
            behaviour=GaussianPolicy(**d["behaviour"]),
        )  # fmt: skip


def generate_dataset(recipe: Recipe, *, progress: bool = False) -> dict:
    """The behaviour policy's episodes, concatenated: transitions [N, ...] with `episode_ids` [N].

    Episode e draws every random number from np.random.default_rng([seed, e]), so the data depend on the recipe
    alone (not on how many episodes are generated at once)."""
    check_positive_int("num_episodes", recipe.num_episodes)
    parts = []
    bar = progress_bar(total=recipe.num_episodes, desc="point-mass episodes", unit="episode", disable=not progress)
    for e in range(recipe.num_episodes):
        ep = episode(recipe.world, recipe.behaviour, np.random.default_rng([recipe.seed, e]))
        ep["episode_ids"] = np.full(len(ep["rewards"]), e, np.int32)
        parts.append(ep)
        bar.update(1)
    bar.close()
    return {k: np.concatenate([p[k] for p in parts]) for k in DATA_KEYS}


def save_dataset(path, data: dict, recipe, *, keys=DATA_KEYS) -> Path:
    """Write the dataset (arrays `keys`) and its recipe (anything with `to_json`) as one npz, atomically."""
    missing = [k for k in keys if k not in data]
    if missing:
        raise ValueError(f"a point-mass dataset needs {list(keys)}; missing {missing}")
    buf = io.BytesIO()
    np.savez(buf, **{k: data[k] for k in keys}, **{RECIPE_KEY: np.array(recipe.to_json())})
    return atomic_write_bytes(path, buf.getvalue())


def load_dataset(path, *, recipe_type=Recipe, keys=DATA_KEYS) -> tuple[dict, Recipe]:
    """(arrays, recipe) of a file written by `save_dataset`; anything else (unreadable, corrupt, keys missing, NaN or
    inf) is an InputError that names the file; the file is left as it is."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no point-mass dataset at {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            found = set(f.files)
            missing = [k for k in (*keys, RECIPE_KEY) if k not in found]
            data = {k: f[k] for k in keys if k in found}
            recipe_text = str(f[RECIPE_KEY]) if RECIPE_KEY in found else None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise InputError(f"{path} is not a readable npz file ({e}); delete it to regenerate") from e
    if missing:
        raise InputError(f"{path} is not a point-mass dataset: keys {missing} are missing; delete it to regenerate")
    try:
        recipe = recipe_type.from_json(recipe_text)
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(
            f"{path} holds a recipe that is not a {recipe_type.__name__} ({e!r}); delete it to regenerate"
        ) from e
    n = len(data["rewards"])
    for k, v in data.items():
        if len(v) != n:
            raise InputError(f"{path}: '{k}' has {len(v)} rows, 'rewards' has {n}; delete it to regenerate")
    for k in ("observations", "actions", "rewards", "next_observations"):
        try:
            check_finite(f"{path}: '{k}'", data[k])
        except ValueError as e:
            raise InputError(f"{e}; delete it to regenerate") from e
    return data, recipe


def obtain_dataset(path, recipe, *, progress: bool = False, generate=None, keys=DATA_KEYS) -> dict:
    """The dataset at `path` if it was made by `recipe`, else generate and save it. A file with another recipe is an
    error (nothing is overwritten). generate(recipe, progress=) defaults to this module's `generate_dataset`."""
    path = Path(path)
    if path.is_file():
        data, found = load_dataset(path, recipe_type=type(recipe), keys=keys)
        if found != recipe:
            raise InputError(f"{path} was generated by another recipe ({found}); delete it or use another path")
        return data
    data = (generate or generate_dataset)(recipe, progress=progress)
    save_dataset(path, data, recipe, keys=keys)
    return data
