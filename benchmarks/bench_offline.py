"""Where notebook 05's training step spends its time: the joint learner (one IQL critic and every actor, all seeds
vmapped, `offline_rl.make_learner`) timed whole and piece by piece, printed as JSON (not a test).

    python benchmarks/bench_offline.py [--sizes cpu mechanism paper] [--steps 200] [--out FILE]

For each size (the preset's networks and batch, 4 seeds, obs and action dims 2 as in the point mazes) it times, on
whatever jax.devices()[0] is, the scanned update (`train.run_training`, `--steps` steps per call) of:
  joint        the critic and every actor the preset trains on its first task (what the runner runs)
  critic       the IQL critic alone
  cfgrl        the CFGRL actor alone (with a forward pass of a frozen critic for its advantages, which the joint
               step reads from the critic's loss instead)
  awr_gaussian the Gaussian AWR actors alone, one per 1/beta of the preset, vmapped (the same advantage pass)
as milliseconds per step for all seeds together: the median of 3 timed calls after a compile-and-warm-up call
(`ms_per_step`), and again with each step called on its own (`ms_per_step_direct`: the seeds' update, jitted, on one
fixed batch, no scan); and XLA's count of the floating-point operations of that step (`gflop_per_step`), which
timing noise does not move. Called on its own each part costs its share (less the advantage pass); scanned
alone, the AWR part has compiled to a much slower loop on this CPU than the same update inside the joint scan, so
the scanned parts are not a breakdown of the runner's step.
The target of issue 27 is a few milliseconds per joint step at the mechanism row's sizes on a GPU; on the 2-core
CPU the step is compute-bound (its JSON records the machine). Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from cfgrl_core.agents.offline import CriticWithActors
from cfgrl_core.experiments import offline_rl
from cfgrl_core.io.atomic import atomic_write_bytes
from cfgrl_core.io.provenance import device_description, git_commit
from cfgrl_core.train import create_runs, run_training

SEEDS = 4
ROWS = 100_000  # synthetic transitions the batches are drawn from (the sizes of the point-maze data's columns)


def synthetic_data(rows: int = ROWS) -> dict:
    rng = np.random.default_rng(0)
    data = dict(observations=rng.normal(size=(rows, 2)), actions=rng.uniform(-1, 1, (rows, 2)),
                rewards=-np.ones(rows), masks=np.ones(rows), next_observations=rng.normal(size=(rows, 2)))  # fmt: skip
    return {k: jnp.asarray(v, jnp.float32) for k, v in data.items()}


def pieces(preset) -> dict:
    """{name: learner} of the joint step and of each of its parts (module docstring)."""
    cfgs = offline_rl.configs(preset, 2, 2)
    joint = offline_rl.make_learner(preset, cfgs, extras=preset.tasks[0] in preset.extra_tasks)
    out = {"joint": joint, "critic": joint.critic}
    for actor in joint.actors:
        if actor.name in ("cfgrl", "awr_gaussian"):
            out[actor.name] = _FrozenCritic(CriticWithActors(joint.critic, (actor,)))
    return out


@dataclasses.dataclass(frozen=True)
class _FrozenCritic:
    """One actor's update with the advantages of a critic that is not trained (the actor's share of a joint step)."""

    joint: CriticWithActors
    loss_key: str = "iql_loss"

    def create(self, key):
        return self.joint.create(key)

    def update(self, state, batch, key):
        from cfgrl_core.agents.iql import batch_advantages

        (actor,) = self.joint.actors
        adv = jax.lax.stop_gradient(batch_advantages(state.critic, batch["observations"], batch["actions"],
                                                     config=self.joint.critic.config))  # fmt: skip
        actor_batch = {"observations": batch["observations"], "actions": batch["actions"], "advantages": adv}
        if actor.run_values is None:
            new, info = actor.learner.update(state.actors[actor.name], actor_batch, key)
        else:
            values = jnp.asarray(actor.run_values, jnp.float32)
            new, info = jax.vmap(lambda s, v: actor.learner.update(s, actor_batch, key, v))(state.actors[actor.name],
                                                                                          values)  # fmt: skip
        return state.replace(actors={actor.name: new}), {"iql_loss": info[actor.learner.loss_key]}


def time_learner(learner, batch_size: int, steps: int, data: dict) -> float:
    """Median milliseconds per step (all SEEDS together) of 3 timed calls of `steps` scanned steps."""
    states = create_runs(learner, jax.random.split(jax.random.PRNGKey(0), SEEDS))
    keys = jax.random.split(jax.random.PRNGKey(1), SEEDS)
    done = 0
    times = []
    for k in range(4):  # the first call compiles
        t = time.perf_counter()
        states, _ = run_training(learner, states, data, keys, num_steps=done + steps, batch_size=batch_size,
                                 steps_per_call=steps, progress=False)  # fmt: skip
        jax.block_until_ready(states)
        done += steps
        if k:
            times.append((time.perf_counter() - t) / steps * 1e3)
    return float(np.median(times))


def time_update(learner, batch_size: int, data: dict, calls: int = 20) -> tuple[float, float]:
    """(median milliseconds, GFLOP) of one jitted update of all SEEDS (vmapped) on one fixed batch, called `calls`
    times; the GFLOP are XLA's own count for the compiled step (`cost_analysis`), a figure no timing noise moves."""
    keys = jax.random.split(jax.random.PRNGKey(1), SEEDS)
    states = create_runs(learner, jax.random.split(jax.random.PRNGKey(0), SEEDS))
    index = jax.random.randint(jax.random.PRNGKey(2), (SEEDS, batch_size), 0, len(data["observations"]))
    batch = jax.tree_util.tree_map(lambda x: x[index], data)
    step = jax.jit(jax.vmap(lambda s, b, k: learner.update(s, b, k)[0])).lower(states, batch, keys).compile()
    cost = step.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost  # a list of one dict in older jax
    jax.block_until_ready(step(states, batch, keys))
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        jax.block_until_ready(step(states, batch, keys))
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times)), float(cost.get("flops", float("nan"))) / 1e9


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["cpu", "mechanism", "paper"],
                        choices=sorted(offline_rl.PRESETS), help="presets whose sizes are timed")  # fmt: skip
    parser.add_argument("--steps", type=int, default=200, help="scanned steps per timed call")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    data = synthetic_data()
    record = dict(device=device_description(), jax_device=str(jax.devices()[0]), machine=platform.machine(),
                  commit=git_commit(), seeds=SEEDS, steps_per_call=args.steps, sizes={})  # fmt: skip
    for name in args.sizes:
        preset = offline_rl.get_preset(name)
        row = dict(critic=list(preset.critic_dims), actors=list(preset.actor_dims), batch=preset.batch_size,
                   inv_betas=list(preset.inv_betas), ms_per_step={}, ms_per_step_direct={},
                   gflop_per_step={})  # fmt: skip
        for piece, learner in pieces(preset).items():
            ms = time_learner(learner, preset.batch_size, args.steps, data)
            direct, gflop = time_update(learner, preset.batch_size, data)
            row["ms_per_step"][piece], row["ms_per_step_direct"][piece] = round(ms, 3), round(direct, 3)
            row["gflop_per_step"][piece] = round(gflop, 4)
            print(f"{time.strftime('%H:%M:%S')} {name} {piece}: {ms:.2f} ms per scanned step, {direct:.2f} ms called "
                  f"on its own, {gflop:.3f} GFLOP ({SEEDS} seeds)", file=sys.stderr, flush=True)  # fmt: skip
        record["sizes"][name] = row
    text = json.dumps(record, indent=1)
    print(text)
    if args.out:
        atomic_write_bytes(args.out, (text + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
