"""What a GC run will cost, measured on this machine before it starts (`scripts/run_gcbc_cfgrl.py` prints it).

Training: a few compiled chunks of the preset's learner (sizes, batch, seeds, sharded over the devices it will use)
on a synthetic dataset of the env's dimensions, timed and scaled to `num_steps`. Evaluation: one timed policy call
on the rows of one evaluation (5 tasks x episodes x ws), scaled by the episode step limit, the seeds and the number
of evaluations (checkpoints + validation, each counted as one such evaluation): the network time if every episode
ran to its limit (episodes that end early cost less), without the simulator's time, which is not measured here.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np

from cfgrl_core import train
from cfgrl_core.ogbench import evaluation, methods
from cfgrl_core.ogbench.validation import oraclerep_name


def env_dims(env_name: str) -> dict:
    """obs_dim, goal_dim, action_dim and the episode step limit of an env (built once, no dataset)."""
    env = evaluation.make_env(oraclerep_name(env_name))
    try:
        obs, info = env.reset(seed=0)
        return dict(obs_dim=int(np.shape(obs)[0]), goal_dim=int(np.shape(info["goal"])[0]),
                    action_dim=int(env.action_space.shape[0]), max_steps=int(env.spec.max_episode_steps))  # fmt: skip
    finally:
        env.close()


def synthetic_dataset(dims: dict, num_rows: int = 4096, episode_length: int = 512) -> dict:
    """Random rows with the env's dimensions, in the raw layout (a terminal every `episode_length` rows)."""
    rng = np.random.default_rng(0)
    terminals = (np.arange(num_rows) % episode_length) == episode_length - 1
    terminals[-1] = True
    return dict(
        observations=rng.normal(size=(num_rows, dims["obs_dim"])).astype(np.float32),
        actions=rng.uniform(-1, 1, size=(num_rows, dims["action_dim"])).astype(np.float32),
        oracle_reps=rng.normal(size=(num_rows, dims["goal_dim"])).astype(np.float32),
        terminals=terminals,
    )


@dataclasses.dataclass
class CostEstimate:
    env_name: str
    method: str
    num_devices: int
    ms_per_step: float  # all seeds, on all devices
    train_s: float
    eval_policy_s: float  # network time if every episode ran to its step limit

    def line(self) -> str:
        total = self.train_s + self.eval_policy_s
        return (
            f"{self.env_name} ({self.method}): about {duration(self.train_s)} of training "
            f"({self.ms_per_step:.1f} ms per step for all seeds on {self.num_devices} device(s)) + at most "
            f"{duration(self.eval_policy_s)} of policy calls in evaluation = at most {duration(total)}"
        )


def duration(seconds: float) -> str:
    """'45 s', '12 min', '3.4 h'."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def time_training(learner, data: dict, keys, *, batch_size: int, probe_steps: int = 20, **kwargs) -> tuple:
    """(seconds per scanned training step of all runs together, the states after the probe): fresh runs of
    `learner` (one per key) trained one compiling call of `probe_steps` steps, then timed over 2 x probe_steps more.
    kwargs go to `train.run_training` (sample_fn, devices)."""
    kwargs = dict(batch_size=batch_size, steps_per_call=probe_steps, progress=False, **kwargs)
    states = train.create_runs(learner, keys)
    states, _ = train.run_training(learner, states, data, keys, num_steps=probe_steps, **kwargs)  # compile
    jax.block_until_ready(states)
    t0 = time.perf_counter()
    states, _ = train.run_training(learner, states, data, keys, num_steps=3 * probe_steps, **kwargs)
    jax.block_until_ready(states)
    return (time.perf_counter() - t0) / (2 * probe_steps), states


def estimate(env_name: str, preset, method: str = "shared", devices=None, probe_steps: int = 20) -> CostEstimate:
    """Measure and scale (module docstring). devices: as `train.run_training` will use them (None: one)."""
    dims = env_dims(env_name)
    raw = synthetic_dataset(dims)
    learner = methods.make_learner(method, raw, preset)
    data, sample_fn = methods.make_sampler(method, raw, preset)
    keys = jax.random.split(jax.random.PRNGKey(0), preset.num_seeds)
    per_step, states = time_training(learner, data, keys, batch_size=preset.batch_size, probe_steps=probe_steps,
                                     sample_fn=sample_fn, devices=devices)  # fmt: skip
    n = 5 * preset.episodes_per_task * len(preset.ws)
    policy = methods.policy(method, jax.tree_util.tree_map(lambda x: x[0], states.params), learner, preset.flow_steps)
    call = dict(keys=jax.random.split(jax.random.PRNGKey(1), n), goals=jax.numpy.zeros((n, dims["goal_dim"])),
                ws=jax.numpy.ones(n), observations=jax.numpy.zeros((n, dims["obs_dim"])))  # fmt: skip
    jax.block_until_ready(policy.act(*call.values()))
    t0 = time.perf_counter()
    jax.block_until_ready(policy.act(*call.values()))
    per_call = time.perf_counter() - t0
    limit = preset.max_steps or dims["max_steps"]
    evaluations = len(preset.checkpoint_fractions) + 1  # the checkpoints' w-curves and the validation goals
    return CostEstimate(
        env_name=env_name, method=method, num_devices=len(train.run_devices(preset.num_seeds, devices or [None])),
        ms_per_step=per_step * 1000, train_s=per_step * preset.num_steps,
        eval_policy_s=per_call * limit * preset.num_seeds * evaluations,
    )  # fmt: skip
