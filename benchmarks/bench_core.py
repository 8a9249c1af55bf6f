"""Speed of cfgrl_core's training step and guided sampler, printed as JSON (not a test).

    python benchmarks/bench_core.py [--quick] [--out FILE] [--anchor benchmarks/results/authors_anchor.jsonl]
                                    [--sections matmul train seeds sample eval cube] [--eval-max-steps 200]

Measures, on whatever jax.devices()[0] is:
  matmul     1024x1024 float32 (and bfloat16) matmul FLOP/s: the machine's ceiling, measured in the same run
  train      steps/s of the scanned update for 4x256 and 4x512 MLPs at batch 256 and 1024 (obs/goal/action
             2/2/2, as the anchor), with achieved FLOP/s ~ 6 * params * batch * steps/s
  seeds      steps/s per seed when 1, 4 and 8 seeds are vmapped into one program
  sample     guided actions/s for 1000 states x 7 values of w, 16 flow steps, float32 and bfloat16 matmuls
  eval       pointmaze-medium-navigate-v0 rollouts of an untrained goal-conditioned policy (4x512 float32 and
             bfloat16, 3x256 float32; 16 flow steps): evaluation.evaluate_lockstep (5 tasks x 2 episodes x 7 ws
             = 70 rollouts, and 5 x 15 x 7 = 525 as in the authors' 15 episodes per task, in one batch; envs
             stepped by min(cpu count, 8) threads) vs evaluation.evaluate_one_at_a_time (1 task x 1 episode
             x 2 ws), both capped at --eval-max-steps env steps, as seconds per 1000 env steps (= per 1000-step
             episode) counted from the rollouts' actual lengths; compile and env creation excluded. Also printed
             (stderr) next to the authors' 2.67 s per 1000-step episode from shared/reference/perf_anchor.md.
  cube       cube-single-play rollouts of 2 untrained goal-conditioned policies (3x256, 16 flow steps; the
             seeds of notebook 08's FAST cube study) x 5 tasks x 1 episode x 7 ws, 40 env steps: evaluate_many
             (the w grid in waves on one env per task, episode and policy) vs one lockstep of every row (an env
             each), wall seconds with env creation included (what building a cube env costs is the point), the
             envs each built, and whether the rollouts are identical.
If an anchor file (JSON lines from timing the authors' agent on the same machine) is given, ratios to it
are printed for the matching configurations. Each measurement is the median of 3 timed windows after a
compile-and-warm-up call; run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from cfgrl_core.guidance import sample_guided
from cfgrl_core.io.atomic import atomic_write_bytes
from cfgrl_core.io.provenance import git_commit
from cfgrl_core.networks import ModelConfig, count_params, init_params
from cfgrl_core.ogbench.evaluation import evaluate_lockstep, evaluate_one_at_a_time
from cfgrl_core.train import CFGLearner, TrainConfig, create_runs, to_device_dataset, train_chunk

DEFAULT_ANCHOR = Path(__file__).parent / "results" / "authors_anchor.jsonl"
W_VALUES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0)
SECTIONS = ("matmul", "train", "seeds", "sample", "eval", "cube")
CUBE_ENV = "cube-single-play-oraclerep-v0"
EVAL_ENV = "pointmaze-medium-navigate-v0"
# The authors' evaluate(), one untrained default-config (4x512) agent, 1000-step pointmaze-medium episodes:
# median of 3 (2.63 / 2.67 / 2.83 s). shared/reference/perf_anchor.md section 3.4, measured on ANOTHER machine
# (2-core AMD EPYC, ~145 GFLOP/s float32 matmul), so a ratio to it is cross-machine.
AUTHORS_EVAL_S_PER_1000_STEPS = 2.67


def timed(fn, windows: int = 3) -> list[float]:
    """Call fn() once to compile/warm up, then `windows` times; return the wall times."""
    jax.block_until_ready(fn())
    times = []
    for _ in range(windows):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return times


def matmul_flops(dtype, n: int = 1024, calls: int = 20) -> float:
    a, b = jnp.ones((n, n), dtype), jnp.ones((n, n), dtype)
    f = jax.jit(lambda a, b: jnp.dot(a, b, preferred_element_type=jnp.float32))
    t = np.median(timed(lambda: [f(a, b) for _ in range(calls)][-1], 3)) / calls
    return 2 * n**3 / t


def goal_model(hidden: int, depth: int = 4, dtype: str = "float32") -> ModelConfig:
    return ModelConfig(action_dim=2, hidden_dims=(hidden,) * depth, obs_dim=2, cond_dim=2, compute_dtype=dtype)


def random_dataset(n: int = 100_000, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=(n, 2)).astype(np.float32) for k in ("actions", "conditions", "observations")}


def train_runs(learner, states, data, keys, steps: int):
    """`steps` updates of every run in `states` through the core loop's jitted chunk (`train.train_chunk`)."""
    return train_chunk(states, data, keys, learner=learner, num_steps=steps, batch_size=learner.train_config.batch_size)


def bench_train(hidden: int, batch: int, steps: int, depth: int = 4) -> dict:
    mc, tc = goal_model(hidden, depth), TrainConfig(batch_size=batch)
    learner, data = CFGLearner(mc, tc), to_device_dataset(random_dataset(), mc)
    states = create_runs(learner, jax.random.split(jax.random.key(0), 1))  # one run
    keys = jax.random.split(jax.random.key(1), 1)
    times = timed(lambda: train_runs(learner, states, data, keys, steps))
    sps = steps / float(np.median(times))
    params = count_params(jax.tree_util.tree_map(lambda x: x[0], states.params))
    return {
        "hidden": [hidden] * depth,
        "batch": batch,
        "params": params,
        "steps_per_s": sps,
        "ms_per_step": 1e3 / sps,
        "gflops": 6 * params * batch * sps / 1e9,
        "steps_per_s_windows": [steps / t for t in times],
    }


def bench_seeds(hidden: int, depth: int, batch: int, steps: int, seeds=(1, 4, 8)) -> dict:
    mc, tc = goal_model(hidden, depth), TrainConfig(batch_size=batch)
    learner, data = CFGLearner(mc, tc), to_device_dataset(random_dataset(), mc)
    out = {"hidden": [hidden] * depth, "batch": batch, "per_seeds": {}}
    for s in seeds:
        states = create_runs(learner, jax.random.split(jax.random.key(0), s))
        keys = jax.random.split(jax.random.key(1), s)
        times = timed(lambda states=states, keys=keys: train_runs(learner, states, data, keys, steps))
        t = float(np.median(times))
        out["per_seeds"][s] = {"program_steps_per_s": steps / t, "seconds_per_step_all_seeds": t / steps}
    base = out["per_seeds"][seeds[0]]["seconds_per_step_all_seeds"]
    for s in seeds:
        out["per_seeds"][s]["time_ratio_vs_1_seed"] = out["per_seeds"][s]["seconds_per_step_all_seeds"] / base
    return out


def bench_sample(hidden: int, dtype: str, num_states: int = 1000, flow_steps: int = 16) -> dict:
    mc = goal_model(hidden, dtype=dtype)
    params = init_params(mc, jax.random.key(0))
    obs = jax.random.normal(jax.random.key(1), (num_states, 2))
    goals = jax.random.normal(jax.random.key(2), (num_states, 2))
    ws = jnp.asarray(W_VALUES)
    key = jax.random.key(3)
    times = timed(lambda: sample_guided(params, mc, key, goals, ws, obs, flow_steps=flow_steps))
    t = float(np.median(times))
    n_actions = num_states * len(W_VALUES)
    params_count = count_params(params)
    return {
        "hidden": [hidden] * 4,
        "compute_dtype": dtype,
        "states": num_states,
        "num_w": len(W_VALUES),
        "flow_steps": flow_steps,
        "seconds_per_call": t,
        "actions_per_s": n_actions / t,
        "ms_per_action": 1e3 * t / n_actions,
        "gflops": 2 * params_count * 2 * flow_steps * n_actions / t / 1e9,
    }


def bench_single_action_latency(hidden: int = 512, calls: int = 200) -> dict:
    """One observation, one w per call (how a naive evaluation loop calls a sampler)."""
    mc = goal_model(hidden)
    params = init_params(mc, jax.random.key(0))
    obs, goal = jnp.zeros((1, 2)), jnp.zeros((1, 2))
    keys = jax.random.split(jax.random.key(0), calls)
    fn = lambda k: np.asarray(sample_guided(params, mc, k, goal, [3.0], obs))  # noqa: E731
    fn(keys[0])
    start = time.perf_counter()
    for k in keys:
        fn(k)
    return {"hidden": [hidden] * 4, "ms_per_action": 1e3 * (time.perf_counter() - start) / calls}


def _eval_speed(run, repeats: int) -> dict:
    """Call run() -> EvalResult `repeats` times; seconds per 1000 env steps from each call's actual lengths.

    Throughput over all rollouts of a call: wall seconds / (sum of lengths / 1000), i.e. the amortised cost of one
    1000-step episode (not the latency of one lockstep episode); episodes/s is its inverse. Median of the calls.
    """
    windows = []
    for _ in range(repeats):
        res = run()
        env_steps = int(res.lengths.sum())
        windows.append(
            {
                "seconds": res.seconds,
                "env_steps": env_steps,
                "rollouts": int(res.lengths.size),
                "successes": int(res.success.sum()),
                "s_per_1000_steps": 1e3 * res.seconds / env_steps,
            }
        )
    med = float(np.median([w["s_per_1000_steps"] for w in windows]))
    return {
        "rollouts": windows[0]["rollouts"],
        "s_per_1000_step_episode": med,
        "episodes_1000_steps_per_s": 1.0 / med,
        "windows": windows,
    }


def bench_eval(
    hidden_dims: tuple,
    dtype: str,
    max_steps: int,
    flow_steps: int = 16,
    lockstep_shape: tuple = (5, 2),
    one_shape: tuple = (1, 1, 2),
    repeats: int = 3,
) -> dict:
    """Lockstep vs one-at-a-time evaluation of an untrained policy on EVAL_ENV, same max_steps for both.

    lockstep_shape (tasks, episodes) x all 7 W_VALUES; one_shape (tasks, episodes, ws). A 2-step rollout of each
    loop first compiles `sample_actions` for both batch sizes (and imports/creates the env), outside the timing;
    EvalResult.seconds itself excludes env creation (resets and env steps are included).
    """
    mc = ModelConfig(action_dim=2, hidden_dims=hidden_dims, obs_dim=2, cond_dim=2, compute_dtype=dtype)
    params = init_params(mc, jax.random.key(0))
    lock_tasks, lock_eps = tuple(range(1, lockstep_shape[0] + 1)), lockstep_shape[1]
    one_tasks, one_eps, one_ws = tuple(range(1, one_shape[0] + 1)), one_shape[1], W_VALUES[-one_shape[2] :]

    def lockstep(steps):
        return evaluate_lockstep(
            EVAL_ENV,
            params,
            mc,
            W_VALUES,
            task_ids=lock_tasks,
            episodes_per_task=lock_eps,
            max_steps=steps,
            flow_steps=flow_steps,
        )

    def one_at_a_time(steps):
        return evaluate_one_at_a_time(
            EVAL_ENV,
            params,
            mc,
            one_ws,
            task_ids=one_tasks,
            episodes_per_task=one_eps,
            max_steps=steps,
            flow_steps=flow_steps,
        )

    lockstep(2)  # compile + warm-up, untimed
    one_at_a_time(2)
    lock = _eval_speed(lambda: lockstep(max_steps), repeats)
    one = _eval_speed(lambda: one_at_a_time(max_steps), repeats)
    return {
        "env": EVAL_ENV,
        "hidden": list(hidden_dims),
        "compute_dtype": dtype,
        "params": count_params(params),
        "flow_steps": flow_steps,
        "max_steps": max_steps,
        "lockstep": {"tasks": len(lock_tasks), "episodes_per_task": lock_eps, "ws": list(W_VALUES), **lock},
        "one_at_a_time": {"tasks": len(one_tasks), "episodes_per_task": one_eps, "ws": list(one_ws), **one},
        "speedup_lockstep_vs_one_at_a_time": one["s_per_1000_step_episode"] / lock["s_per_1000_step_episode"],
    }


def bench_cube(max_steps: int = 40, seeds: int = 2) -> dict:
    """evaluate_many's w waves vs one lockstep of every row (`_evaluate_lockstep`, the loop before the waves) on
    CUBE_ENV, each with envs of its own (a fresh pool), env creation included; a 2-step call compiles first."""
    from cfgrl_core.ogbench import evaluation

    mc = ModelConfig(action_dim=5, hidden_dims=(256,) * 3, obs_dim=28, cond_dim=3)
    jobs = [
        (evaluation.goal_conditioned_policy(init_params(mc, jax.random.key(k)), mc, 16), W_VALUES) for k in range(seeds)
    ]
    args = dict(task_ids=(1, 2, 3, 4, 5), episodes_per_task=1, seed=0, record_trajectories=False)
    ways = {
        "waves": lambda steps, pool: evaluation.evaluate_many(CUBE_ENV, jobs, max_steps=steps, pool=pool, **args),
        "one_lockstep": lambda steps, pool: evaluation._evaluate_lockstep(
            CUBE_ENV,
            jobs,
            max_steps=steps,
            pool=pool,
            task_infos=None,
            env_threads=None,
            physics="auto",
            progress=False,
            **args,
        ),  # fmt: skip
    }
    out, results = {}, {}
    for name, run in ways.items():
        with evaluation.EnvPool() as pool:
            run(2, pool)  # compile, untimed (its envs are closed with this pool)
        with evaluation.EnvPool() as pool:
            start = time.perf_counter()
            results[name] = run(max_steps, pool)
            out[name] = {"wall_s": time.perf_counter() - start, "envs_built": pool.size(CUBE_ENV),
                         "rollout_s": results[name][0].seconds}  # fmt: skip
    same = all(
        np.array_equal(a.final_observations, b.final_observations) and np.array_equal(a.lengths, b.lengths)
        for a, b in zip(results["waves"], results["one_lockstep"], strict=True)
    )
    rows = seeds * len(args["task_ids"]) * len(W_VALUES)
    return {"env": CUBE_ENV, "rows": rows, "max_steps": max_steps, "identical_rollouts": same, **out,
            "speedup_waves": out["one_lockstep"]["wall_s"] / out["waves"]["wall_s"]}  # fmt: skip


def load_anchor(path: Path) -> dict:
    """Medians of the authors' agent timed on this machine (see benchmarks/results/README.md)."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    out = {}
    for r in rows:
        if r.get("mode") == "update":
            out.setdefault(("update", r["hidden"], r["batch"]), []).append(r["steps_per_s"])
        elif r.get("mode") == "matmul":
            out.setdefault(("matmul",), []).append(r["gflops"])
        elif r.get("mode") == "sample_vmap1000":
            out.setdefault(("sample_vmap1000",), []).append(r["per_obs_ms"])
    return {k: float(np.median(v)) for k, v in out.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer steps (a smoke run, noisy numbers)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here (atomically)")
    parser.add_argument("--anchor", type=Path, default=DEFAULT_ANCHOR)
    parser.add_argument(
        "--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="run only these (default: all)"
    )
    parser.add_argument(
        "--eval-max-steps",
        type=int,
        default=None,
        help="env-step cap of each eval rollout (default 200, 20 if --quick)",
    )
    args = parser.parse_args(argv)
    scale = 0.1 if args.quick else 1.0
    n = lambda k: max(2, int(k * scale))  # noqa: E731

    result = {
        "device": f"{jax.devices()[0].platform}:{jax.devices()[0].device_kind}",
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "jax": jax.__version__,
        "commit": git_commit(),
        "loadavg_before": os.getloadavg(),
        "quick": args.quick,
        "sections": [s for s in SECTIONS if s in args.sections],
    }
    if "matmul" in args.sections:
        print("matmul ...", file=sys.stderr)
        result["matmul_gflops"] = {
            "float32": matmul_flops(jnp.float32) / 1e9,
            "bfloat16_f32acc": matmul_flops(jnp.bfloat16) / 1e9,
        }
    if "train" in args.sections:
        print("train ...", file=sys.stderr)
        result["train"] = [
            bench_train(h, b, n(s))
            for h, b, s in ((256, 256, 1000), (256, 1024, 300), (512, 256, 300), (512, 1024, 100))
        ]
        if "matmul_gflops" in result:
            for r in result["train"]:
                r["fraction_of_matmul"] = r["gflops"] / result["matmul_gflops"]["float32"]
    if "seeds" in args.sections:
        print("seeds ...", file=sys.stderr)
        result["seeds"] = [
            bench_seeds(128, 2, 256, n(1000)),
            bench_seeds(256, 3, 256, n(300)),
            bench_seeds(256, 4, 256, n(200)),
        ]
    if "sample" in args.sections:
        print("sample ...", file=sys.stderr)
        result["sample"] = [bench_sample(h, d) for h in (512, 256) for d in ("float32", "bfloat16")]
        result["sample_one_at_a_time"] = bench_single_action_latency(calls=n(200))
    if "eval" in args.sections:
        max_steps = args.eval_max_steps if args.eval_max_steps is not None else (20 if args.quick else 200)
        print(f"eval ({EVAL_ENV}, max_steps={max_steps}) ...", file=sys.stderr)
        loadavg = os.getloadavg()
        # (5 tasks x 2 episodes) and the authors' evaluation size (5 tasks x 15 episodes), each x 7 w
        runs = [
            bench_eval(h, d, max_steps, lockstep_shape=shape)
            for shape in ((5, 2), (5, 15))
            for h, d in (((512,) * 4, "float32"), ((512,) * 4, "bfloat16"), ((256,) * 3, "float32"))
        ]
        for r in runs:
            lock, one = r["lockstep"], r["one_at_a_time"]
            r["cross_machine_vs_authors"] = {
                "authors_s_per_1000_step_episode": AUTHORS_EVAL_S_PER_1000_STEPS,
                "source": "shared/reference/perf_anchor.md section 3.4 (2-core AMD EPYC; another machine)",
                "ratio_authors_over_lockstep": AUTHORS_EVAL_S_PER_1000_STEPS / lock["s_per_1000_step_episode"],
                "ratio_authors_over_one_at_a_time": AUTHORS_EVAL_S_PER_1000_STEPS / one["s_per_1000_step_episode"],
            }
            name = f"{len(r['hidden'])}x{r['hidden'][0]} {r['compute_dtype']}"
            ratio = r["cross_machine_vs_authors"]
            print(
                f"  eval {name:14s} lockstep ({lock['rollouts']} rollouts): {lock['s_per_1000_step_episode']:.3f} s "
                f"per 1000-step episode, {lock['episodes_1000_steps_per_s']:.2f} episodes/s | one-at-a-time "
                f"({one['rollouts']} rollouts): {one['s_per_1000_step_episode']:.3f} s, "
                f"{one['episodes_1000_steps_per_s']:.2f} episodes/s | "
                f"speed-up x{r['speedup_lockstep_vs_one_at_a_time']:.1f}",
                file=sys.stderr,
            )
            print(
                f"  eval {name:14s} authors' evaluate() {AUTHORS_EVAL_S_PER_1000_STEPS} s per 1000-step episode "
                f"(perf_anchor.md, CROSS-MACHINE: AMD EPYC): authors/ours x{ratio['ratio_authors_over_lockstep']:.1f}"
                f" lockstep, x{ratio['ratio_authors_over_one_at_a_time']:.1f} one-at-a-time",
                file=sys.stderr,
            )
        result["eval"] = {"loadavg_before": loadavg, "max_steps": max_steps, "runs": runs}

    if "cube" in args.sections:
        print(f"cube ({CUBE_ENV}) ...", file=sys.stderr)
        result["cube"] = r = bench_cube()
        print(
            f"  cube {r['rows']} rollouts x {r['max_steps']} steps: waves {r['waves']['wall_s']:.1f} s "
            f"({r['waves']['envs_built']} envs) | one lockstep {r['one_lockstep']['wall_s']:.1f} s "
            f"({r['one_lockstep']['envs_built']} envs) | x{r['speedup_waves']:.1f}, "
            f"identical: {r['identical_rollouts']}",
            file=sys.stderr,
        )

    if args.anchor and args.anchor.exists():
        anchor = load_anchor(args.anchor)
        ratios = {}
        for r in result.get("train", []):
            ref = anchor.get(("update", r["hidden"][0], r["batch"]))
            if ref:
                ratios[f"train {r['hidden'][0]}x4 b{r['batch']}"] = {
                    "ours_steps_per_s": r["steps_per_s"],
                    "authors_steps_per_s": ref,
                    "speedup": r["steps_per_s"] / ref,
                }
        ref = anchor.get(("sample_vmap1000",))
        if ref:
            for r in result.get("sample", []):
                if r["hidden"][0] == 512:
                    ratios[f"sample 512x4 {r['compute_dtype']} per action"] = {
                        "ours_ms": r["ms_per_action"],
                        "authors_vmapped_ms": ref,
                        "speedup": ref / r["ms_per_action"],
                    }
        result["vs_authors_same_machine"] = {
            "anchor_file": str(args.anchor),
            "anchor_matmul_gflops": anchor.get(("matmul",)),
            **ratios,
        }
    text = json.dumps(result, indent=2, default=float)
    print(text)
    if args.out:
        atomic_write_bytes(args.out, (text + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
