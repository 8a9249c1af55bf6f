"""Speed of cfgrl_core's training step and guided sampler, printed as JSON (not a test).

    python benchmarks/bench_core.py [--quick] [--out FILE] [--anchor benchmarks/results/authors_anchor.jsonl]

Measures, on whatever jax.devices()[0] is:
  matmul     1024x1024 float32 (and bfloat16) matmul FLOP/s: the machine's ceiling, measured in the same run
  train      steps/s of the scanned update for 4x256 and 4x512 MLPs at batch 256 and 1024 (obs/goal/action
             2/2/2, as the anchor), with achieved FLOP/s ~ 6 * params * batch * steps/s
  seeds      steps/s per seed when 1, 4 and 8 seeds are vmapped into one program
  sample     guided actions/s for 1000 states x 7 values of w, 16 flow steps, float32 and bfloat16 matmuls
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

from cfgrl_core.figures import atomic_write_bytes, git_commit
from cfgrl_core.guidance import sample_guided
from cfgrl_core.networks import ModelConfig, count_params, init_params
from cfgrl_core.train import (
    TrainConfig,
    create_train_state,
    create_train_states,
    to_device_dataset,
    train_steps_jit,
    train_steps_seeds,
)

DEFAULT_ANCHOR = Path(__file__).parent / "results" / "authors_anchor.jsonl"
W_VALUES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0)


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


def bench_train(hidden: int, batch: int, steps: int, depth: int = 4) -> dict:
    mc, tc = goal_model(hidden, depth), TrainConfig(batch_size=batch)
    data = to_device_dataset(random_dataset(), mc)
    state = create_train_state(jax.random.key(0), mc, tc)
    key = jax.random.key(1)
    times = timed(lambda: train_steps_jit(state, data, key, num_steps=steps, model_config=mc, train_config=tc))
    sps = steps / float(np.median(times))
    params = count_params(state.params)
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
    data = to_device_dataset(random_dataset(), mc)
    out = {"hidden": [hidden] * depth, "batch": batch, "per_seeds": {}}
    for s in seeds:
        states = create_train_states(jax.random.split(jax.random.key(0), s), mc, tc)
        keys = jax.random.split(jax.random.key(1), s)
        times = timed(
            lambda states=states, keys=keys: train_steps_seeds(
                states, data, keys, num_steps=steps, model_config=mc, train_config=tc
            )
        )
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
    }
    print("matmul ...", file=sys.stderr)
    result["matmul_gflops"] = {
        "float32": matmul_flops(jnp.float32) / 1e9,
        "bfloat16_f32acc": matmul_flops(jnp.bfloat16) / 1e9,
    }
    print("train ...", file=sys.stderr)
    result["train"] = [
        bench_train(h, b, n(s)) for h, b, s in ((256, 256, 1000), (256, 1024, 300), (512, 256, 300), (512, 1024, 100))
    ]
    for r in result["train"]:
        r["fraction_of_matmul"] = r["gflops"] / result["matmul_gflops"]["float32"]
    print("seeds ...", file=sys.stderr)
    result["seeds"] = [
        bench_seeds(128, 2, 256, n(1000)),
        bench_seeds(256, 3, 256, n(300)),
        bench_seeds(256, 4, 256, n(200)),
    ]
    print("sample ...", file=sys.stderr)
    result["sample"] = [bench_sample(h, d) for h in (512, 256) for d in ("float32", "bfloat16")]
    result["sample_one_at_a_time"] = bench_single_action_latency(calls=n(200))

    if args.anchor and args.anchor.exists():
        anchor = load_anchor(args.anchor)
        ratios = {}
        for r in result["train"]:
            ref = anchor.get(("update", r["hidden"][0], r["batch"]))
            if ref:
                ratios[f"train {r['hidden'][0]}x4 b{r['batch']}"] = {
                    "ours_steps_per_s": r["steps_per_s"],
                    "authors_steps_per_s": ref,
                    "speedup": r["steps_per_s"] / ref,
                }
        ref = anchor.get(("sample_vmap1000",))
        if ref:
            for r in result["sample"]:
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
