"""Notebook 07's reward task: the point-mass world of notebook 06 with a rewarded goal and mixed-quality data.

Our design after reference §7.3 tier 2a (the paper's own environments are MuJoCo and Maze2d):

    r(s') = exp(-||s' - g_r||^2 / (2 width^2)),  g_r = (0.7, 0.7), width 0.3      positive, in (0, 1]
    a terminal (the pit of `pointmass`) ends the episode: with positive rewards, falling in loses what is left

Rewards are positive on purpose: with notebook 06's -||s' - g||, ending an episode early in the pit would *raise*
the return. The behaviour data are mixed-quality: each episode draws its policy once, the proportional controller
to the wrong goal (1, 0) with probability 0.8, to the rewarded goal with 0.2, both with broad noise 0.5 (so the
rewarded controller's actions lie inside the data's support everywhere). Behaviour cloning then heads between
the two goals; an agent held to the data's actions (TD3+BC's BC term, IQL's in-sample advantages) must find the
minority's actions to do well.

Scores: the return of an episode of `horizon` steps from s_0 ~ N(0, s0_std^2 I), and the normalised score
100 (R - R_random) / (R_expert - R_random), D4RL's convention, with `random` = uniform actions in the box and
`expert` = the noise-free controller to g_r with gain 2 (notebook 06's target policy without its noise).
Evaluation episodes are seeded by (seed, episode), so every policy meets the same start states.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from cfgrl_core.checks import check_positive_int
from cfgrl_core.pgd import pointmass
from cfgrl_core.progress import progress_bar

GENERATOR_VERSION = 1  # bump whenever a change would alter the generated arrays


@dataclasses.dataclass(frozen=True)
class RewardTask:
    world: pointmass.PointMassWorld = pointmass.PointMassWorld()
    goal: tuple = (0.7, 0.7)  # g_r
    width: float = 0.3

    def __post_init__(self):
        object.__setattr__(self, "goal", tuple(float(g) for g in self.goal))
        if not self.width > 0:
            raise ValueError(f"the reward width must be positive, got {self.width}")


def reward(task: RewardTask, s_next) -> np.ndarray:
    """r(s') float32, [..., 2] -> [...]."""
    d = np.asarray(s_next, np.float32) - np.asarray(task.goal, np.float32)
    return np.exp(-np.sum(d * d, -1, dtype=np.float32) / np.float32(2 * task.width**2)).astype(np.float32)


WRONG = pointmass.GaussianPolicy(goal=(1.0, 0.0), gain=1.0, noise=0.5)
RIGHT = pointmass.GaussianPolicy(goal=(0.7, 0.7), gain=1.0, noise=0.5)
EXPERT_GAIN = 2.0
DATA_KEYS = (*pointmass.DATA_KEYS, "behaviour_ids")


@dataclasses.dataclass(frozen=True)
class MixedRecipe:
    """Everything that determines a mixed-quality dataset."""

    num_episodes: int = 200
    seed: int = 0
    task: RewardTask = RewardTask()
    policies: tuple = (WRONG, RIGHT)
    weights: tuple = (0.8, 0.2)

    def __post_init__(self):
        check_positive_int("num_episodes", self.num_episodes)
        object.__setattr__(self, "weights", tuple(float(w) for w in self.weights))
        if len(self.policies) != len(self.weights) or abs(sum(self.weights) - 1) > 1e-9 or min(self.weights) < 0:
            raise ValueError(f"one weight per policy, non-negative and summing to 1: got {self.weights} for "
                             f"{len(self.policies)} policies")  # fmt: skip

    def to_json(self) -> str:
        return json.dumps({"generator_version": GENERATOR_VERSION, **dataclasses.asdict(self)}, sort_keys=True)

    @staticmethod
    def from_json(text: str) -> MixedRecipe:
        d = json.loads(text)
        d.pop("generator_version", None)
        task = RewardTask(world=pointmass.PointMassWorld(**d["task"]["world"]), goal=d["task"]["goal"],
                          width=d["task"]["width"])  # fmt: skip
        policies = tuple(pointmass.GaussianPolicy(**p) for p in d["policies"])
        return MixedRecipe(d["num_episodes"], d["seed"], task, policies, tuple(d["weights"]))


def generate_dataset(recipe: MixedRecipe, *, progress: bool = False) -> dict:
    """Episodes of the behaviour mixture, concatenated (`pointmass.DATA_KEYS` plus `behaviour_ids` [N], the index
    of the policy that made each transition). Episode e draws everything from default_rng([seed, e])."""
    parts = []
    bar = progress_bar(total=recipe.num_episodes, desc="mixed-quality episodes", unit="episode",
                       disable=not progress)  # fmt: skip
    for e in range(recipe.num_episodes):
        rng = np.random.default_rng([recipe.seed, e])
        k = int(rng.choice(len(recipe.policies), p=np.asarray(recipe.weights)))
        ep = pointmass.episode(recipe.task.world, recipe.policies[k], rng)
        ep["rewards"] = reward(recipe.task, ep["next_observations"])
        ep["episode_ids"] = np.full(len(ep["rewards"]), e, np.int32)
        ep["behaviour_ids"] = np.full(len(ep["rewards"]), k, np.int32)
        parts.append(ep)
        bar.update(1)
    bar.close()
    return {k: np.concatenate([p[k] for p in parts]) for k in DATA_KEYS}


def obtain_dataset(path, recipe: MixedRecipe, *, progress: bool = False) -> dict:
    """The dataset at `path` if `recipe` made it, else generate and save it (atomically); a file of another recipe
    is an error and is left alone."""
    return pointmass.obtain_dataset(path, recipe, progress=progress, generate=generate_dataset, keys=DATA_KEYS)


def load_dataset(path) -> tuple[dict, MixedRecipe]:
    """(arrays, recipe) of a mixed-quality dataset file."""
    return pointmass.load_dataset(path, recipe_type=MixedRecipe, keys=DATA_KEYS)


# ---------------------------------------------------------------------------------------------------- evaluation
def start_states(task: RewardTask, num_episodes: int, seed: int) -> np.ndarray:
    """s_0 of evaluation episode e ~ N(0, s0_std^2 I) from default_rng([seed, e]) [E, 2]."""
    return np.stack([(task.world.s0_std * np.random.default_rng([seed, e]).standard_normal(2)).astype(np.float32)
                     for e in range(num_episodes)])  # fmt: skip


def rollout_returns(task: RewardTask, act, s0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Returns [..., E] and terminal flags [..., E] of a deterministic policy act(states [..., E, 2]) -> actions from
    the starts s0 [..., E, 2] (leading axes: e.g. runs), `horizon` steps or until the pit."""
    s = np.asarray(s0, np.float32)
    alive = np.ones(s.shape[:-1], bool)
    total = np.zeros(s.shape[:-1], np.float64)
    for _ in range(task.world.horizon):
        s_next = pointmass.step(task.world, s, np.asarray(act(s), np.float32))
        total += np.where(alive, reward(task, s_next), 0.0)
        alive &= ~pointmass.terminal(task.world, s_next)
        s = np.where(alive[..., None], s_next, s)
    return total, ~alive


def expert_action(task: RewardTask, s):
    return np.clip(EXPERT_GAIN * (np.asarray(task.goal, np.float32) - s), -1, 1)


def reference_returns(task: RewardTask, num_episodes: int, seed: int) -> dict:
    """Mean returns of the policies the score is normalised by (random, expert) and of each behaviour policy's
    noise-free controller, on the evaluation starts."""
    s0 = start_states(task, num_episodes, seed)
    rng = np.random.default_rng([seed, 99])
    out = {
        "random": float(rollout_returns(task, lambda s: rng.uniform(-1, 1, s.shape), s0)[0].mean()),
        "expert": float(rollout_returns(task, lambda s: expert_action(task, s), s0)[0].mean()),
    }
    for name, policy in (("wrong_controller", WRONG), ("right_controller", RIGHT)):
        mean = lambda s, p=policy: p.gain * (np.asarray(p.goal, np.float32) - s)
        out[name] = float(rollout_returns(task, mean, s0)[0].mean())
    return out


def normalised_score(returns, references: dict):
    """100 (R - R_random) / (R_expert - R_random)."""
    lo, hi = references["random"], references["expert"]
    return 100.0 * (np.asarray(returns, np.float64) - lo) / (hi - lo)


def data_returns(data: dict) -> np.ndarray:
    """Each behaviour episode's return [episodes]."""
    ids = np.asarray(data["episode_ids"])
    return np.bincount(ids, weights=np.asarray(data["rewards"], np.float64))
