"""Evaluation throughput against the simulator's limit, measured in the same run (issue 30's targets).

    python benchmarks/bench_physics.py [--quick] [--out FILE] [--weights DIR] [--seeds 4]

On pointmaze-large-navigate-v0:
  limit       one raw `mj_step` x frame_skip (5) on one thread, the fastest of 9 windows of the same moves (the
              least disturbed by other load); the physics limit is cores / that time, in env steps per second
              (what the machine's cores could step with no policy, no Python and no gymnasium)
  physics     env steps/s of the physics alone for 400 rollouts with random actions: OGBench's `env.step` on
              threads over envs (the reference path) and `maze_batch.PointMazeBatch` (one threaded MuJoCo rollout
              call per env step), each as a fraction of the limit
  evaluation  env steps/s of a whole evaluation, policy included: the cpu preset's committed pointmaze-large
              weights (3x256, 16 flow steps), 5 tasks x 4 episodes x 5 w (1, 1.5, 2, 3, 5) = 100 rollouts of
              seed 0 on the reference path (before) and the batched path (after), and all seeds of the run in one
              lockstep (`evaluation.evaluate_many`); with the share of the wall time spent in policy calls, and the
              policy-bound ceiling (the rate if the physics took no time), and the serial ceiling: the rate if the
              policy calls and the batched physics each ran at their measured rates, one after the other, with no
              other cost (1 / (1 / policy-bound + 1 / physics batched)); the loop cannot beat it without running the
              policy and the physics at the same time, or a cheaper policy
  actors      the same for notebook 05's learner (`offline_rl.evaluate_actors`): the committed `cpu` weights of
              pointmaze-large-navigate-singletask (the seed kept), its CFGRL actor at every w of the preset and its
              Gaussian AWR actor at every 1/beta, each a policy of one lockstep, 4 episodes each
Compile and env creation are outside the timing. Run it on an otherwise idle machine; the load average before each
section is recorded.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import jax
import mujoco
import numpy as np

from cfgrl_core.io.atomic import atomic_write_bytes
from cfgrl_core.io.provenance import cpu_model, device_description, git_commit
from cfgrl_core.ogbench import evaluation as ev
from cfgrl_core.ogbench import maze_batch, methods
from cfgrl_core.ogbench.env_rng import IsolatedRNG

ENV = "pointmaze-large-navigate-v0"
ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "results" / "gcbc_cfgrl" / "cpu" / ENV / "weights"
ACTORS_TASK = "pointmaze-large-navigate-singletask-v0"  # notebook 05's cpu task on the same maze
EVAL_WS = (1.0, 1.5, 2.0, 3.0, 5.0)
FLOW_STEPS = 16  # the cpu preset's
TARGET_CPU_FRACTION = 0.60  # of the limit, 2-core CPU, cpu preset's policy (issue 30)


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


def raw_step_seconds(windows: int = 5, steps: int = 2000) -> float:
    """Seconds of one mj_step x frame_skip of pointmaze-large on this thread (from a reset state, with the
    ball moving: the same work as an env step's physics)."""
    env = ev.make_env(ENV)
    ev.reset_env(env, 1, 0)
    u = env.unwrapped
    times = []
    rng = np.random.default_rng(0)
    for _ in range(windows):
        moves = rng.uniform(-1, 1, (steps, 2)) * 0.2
        start = time.perf_counter()
        for k in range(steps):
            u.data.qpos[:] = u.data.qpos + moves[k]
            u.data.qvel[:] = 0.0
            mujoco.mj_step(u.model, u.data, nstep=u.frame_skip)
        times.append((time.perf_counter() - start) / steps)
    env.close()
    return float(np.min(times))


def physics_rates(rows: int, steps: int, threads: int) -> dict:
    """Env steps/s of the physics alone, random actions, `rows` rollouts: reference (env.step on threads) vs
    batched (PointMazeBatch)."""
    rng = np.random.default_rng(1)
    actions = rng.uniform(-1, 1, (steps, rows, 2))
    envs = [ev.make_env(ENV) for _ in range(rows)]
    rngs = [IsolatedRNG(r) for r in range(rows)]
    for r, env in enumerate(envs):
        ev.reset_env(env, 1 + r % 5, r, rngs[r])
    from concurrent.futures import ThreadPoolExecutor

    def advance(part, k):
        for r in part:
            ev.step_env(envs[r], actions[k, r], rngs[r])

    parts = np.array_split(np.arange(rows), threads)
    with ThreadPoolExecutor(threads) as pool:
        start = time.perf_counter()
        for k in range(steps):
            list(pool.map(lambda p, k=k: advance(p, k), parts))
        reference = rows * steps / (time.perf_counter() - start)
    with maze_batch.PointMazeBatch(envs[0], threads) as batch:
        state = np.stack([batch.capture(env) for env in envs])
        goal_xy = np.stack([env.unwrapped.cur_goal_xy for env in envs])
        start = time.perf_counter()
        for k in range(steps):
            _, _, state = batch.step(state, actions[k], goal_xy, rngs)
        batched = rows * steps / (time.perf_counter() - start)
    for env in envs:
        env.close()
    return {"rows": rows, "steps": steps, "threads": threads, "reference": reference, "batched": batched}


def evaluation_rates(weights: Path, seeds: int, episodes: int, max_steps: int | None, physics_rate: float) -> dict:
    """Whole evaluations with the committed cpu policy: seed 0 reference vs batched, then `seeds` seeds together."""
    from cfgrl_core.experiments import gcbc_cfgrl as gx
    from cfgrl_core.experiments import stats

    if not (weights / "config.json").exists():
        raise FileNotFoundError(f"no committed weights at {weights} (the cpu preset's pointmaze-large run)")
    params, _, learner = gx.load_weights(weights, with_learner=True)
    stored = jax.tree_util.tree_leaves(params)[0].shape[0]
    seeds = min(seeds, stored)
    policies = [methods.policy("shared", gx.seed_params(params, s), learner, FLOW_STEPS) for s in range(seeds)]
    args = dict(episodes_per_task=episodes, max_steps=max_steps)
    out = {
        "weights": str(weights.relative_to(weights.parents[4])) if len(weights.parents) > 4 else str(weights),
        "network": stats.mlp_name(learner.model_config.hidden_dims),
        "flow_steps": FLOW_STEPS,
        "ws": list(EVAL_WS),
        "episodes_per_task": episodes,
        "max_steps": max_steps,
    }
    with ev.EnvPool() as pool:
        for name, jobs, physics in (
            ("seed0_reference", policies[:1], "reference"),
            ("seed0_batched", policies[:1], "batched"),
            (f"{seeds}_seeds_batched", policies, "batched"),
        ):
            job_list = [(p, EVAL_WS) for p in jobs]
            ev.evaluate_many(ENV, job_list, pool=pool, physics=physics, episodes_per_task=1, max_steps=3)  # compile
            log(f"evaluation {name}: {len(jobs) * 5 * episodes * len(EVAL_WS)} rollouts ...")
            results = ev.evaluate_many(ENV, job_list, pool=pool, physics=physics, **args)
            out[name] = rates(results, physics_rate)
            log(f"  {out[name]['env_steps_per_s']:,.0f} env steps/s, policy {out[name]['policy_share']:.0%} of it")
    return out


def rates(results, env_steps_physics: float) -> dict:
    """Throughput of one `evaluate_many` call (its results): env steps/s, the policy's share of the wall time, the
    policy-bound and serial ceilings (module docstring)."""
    seconds, policy_s = results[0].seconds, results[0].policy_seconds
    env_steps = int(sum(r.lengths.sum() for r in results))
    policy_bound = env_steps / policy_s
    return {
        "policies": len(results),
        "rollouts": int(sum(r.lengths.size for r in results)),
        "env_steps": env_steps,
        "seconds": seconds,
        "env_steps_per_s": env_steps / seconds,
        "policy_share": policy_s / seconds,
        "policy_bound_env_steps_per_s": policy_bound,
        "serial_ceiling_env_steps_per_s": 1.0 / (1.0 / policy_bound + 1.0 / env_steps_physics),
        "success": float(np.mean([r.success.mean() for r in results])),
    }


def actor_rates(episodes: int, max_steps: int | None, physics_rate: float) -> dict:
    """Notebook 05's actors on pointmaze-large (module docstring): every actor of the committed cpu run in one
    lockstep, the jobs its runner builds (`offline_rl.actor_jobs`)."""
    from cfgrl_core.experiments import offline_rl as orl

    result_file = orl.result_path("cpu", ACTORS_TASK, root=ROOT / "results" / "offline_rl" / "cpu")
    params, cfgs = orl.load_weights(result_file)
    seeds = jax.tree_util.tree_leaves(params["cfgrl"])[0].shape[0]
    preset = dataclasses.replace(orl.get_preset("cpu"), num_seeds=seeds)
    jobs, _ = orl.actor_jobs(preset, {name: params[name] for name in ("cfgrl", "awr_gaussian")}, cfgs)
    _, task_id = orl.parse_task(ACTORS_TASK)
    out = {
        "weights": str(result_file.with_suffix("").relative_to(ROOT) / "weights"),
        "seeds": seeds,
        "ws": list(preset.ws),
        "inv_betas": list(preset.inv_betas),
        "episodes": episodes,
        "max_steps": max_steps,
    }
    with ev.EnvPool() as pool:
        ev.evaluate_many(ACTORS_TASK, jobs, task_ids=(task_id,), pool=pool, episodes_per_task=1, max_steps=3)  # compile
        log(f"actors: {len(jobs)} policies x {episodes} episodes ...")
        results = ev.evaluate_many(ACTORS_TASK, jobs, task_ids=(task_id,), pool=pool, episodes_per_task=episodes,
                                   max_steps=max_steps)  # fmt: skip
    out.update(rates(results, physics_rate))
    log(f"  {out['env_steps_per_s']:,.0f} env steps/s, policy {out['policy_share']:.0%} of it")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short windows and episodes (a smoke run)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here (atomically)")
    parser.add_argument("--weights", type=Path, default=WEIGHTS, help="the cpu preset's pointmaze-large weights")
    parser.add_argument("--seeds", type=int, default=4, help="seeds evaluated together in the last evaluation")
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    result = {
        "device": device_description(),
        "cpu_model": cpu_model(),
        "cpu_count": cores,
        "jax": jax.__version__,
        "mujoco": mujoco.__version__,
        "commit": git_commit(),
        "env": ENV,
        "quick": args.quick,
        "target_fraction_of_limit": TARGET_CPU_FRACTION,
    }
    result["loadavg_before"] = os.getloadavg()
    log("limit: raw mj_step x 5 ...")
    step_s = raw_step_seconds(windows=3 if args.quick else 9, steps=300 if args.quick else 2000)
    limit = cores / step_s
    result["limit"] = {"raw_step_us": step_s * 1e6, "cores": cores, "env_steps_per_s": limit}
    log(f"  {step_s * 1e6:.1f} us per raw step: limit {limit:,.0f} env steps/s on {cores} cores")
    log("physics alone, 400 rollouts ...")
    phys = physics_rates(rows=400, steps=10 if args.quick else 100, threads=cores)
    phys["fraction_of_limit"] = {k: phys[k] / limit for k in ("reference", "batched")}
    result["physics"] = phys
    log(f"  reference {phys['reference']:,.0f}, batched {phys['batched']:,.0f} env steps/s")
    result["loadavg_before_evaluation"] = os.getloadavg()
    evals = evaluation_rates(
        args.weights,
        args.seeds,
        episodes=1 if args.quick else 4,
        max_steps=50 if args.quick else None,
        physics_rate=phys["batched"],
    )
    evals["actors_05"] = actor_rates(episodes=1 if args.quick else 4, max_steps=50 if args.quick else None,
                                     physics_rate=phys["batched"])  # fmt: skip
    for value in evals.values():
        if isinstance(value, dict):
            value["fraction_of_limit"] = value["env_steps_per_s"] / limit
            value["serial_ceiling_fraction_of_limit"] = value["serial_ceiling_env_steps_per_s"] / limit
    result["evaluation"] = evals
    text = json.dumps(result, indent=2, default=float)
    print(text)
    if args.out:
        atomic_write_bytes(args.out, (text + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
