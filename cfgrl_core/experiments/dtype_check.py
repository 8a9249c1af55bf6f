"""Does bfloat16 change what the policy achieves? Notebook 04's run trained and evaluated twice on one machine, with
float32 and with bfloat16 matmuls, paired by seed (issue 30: bfloat16 is how a GPU reaches the paper's step rate;
it may be used only if it changes success by no more than the noise).

    fp32, bf16 = dtype_check.load_pair()                  # results/gcbc_cfgrl/cpu-float32/ and cpu-bfloat16/
    table = dtype_check.compare(fp32, bf16)               # per w and at the validated w
    scale = dtype_check.compare_machines(dtype_check.load_committed(), fp32)   # the same float32 run, other machine
    print(dtype_check.summary_line(table, scale))

The arms have the same preset sizes, seed, dataset (the same file, or files with the same arrays: sha256 of the
file or of its arrays) and evaluation episodes; the same seed index means
the same initialisation key, minibatch keys and evaluation starts, so each seed is a pair (common random numbers)
and the arms differ only in the dtype of the hidden layers' matmuls (`ModelConfig.compute_dtype`: bfloat16 inputs
and weights, float32 accumulation; parameters and optimiser stay float32). Success is in % over a seed's final
evaluation (tasks x episodes per task); for each w and for each arm's own validated w (chosen per seed on the
validation goals, never on the final evaluation) the table gives both arms' mean ± std over seeds and the paired
difference second - first, mean ± SE, the paired t-test's p and its 95 % interval (mean ± t SE): a change outside
that interval is one the test could have detected.

For scale, `compare_machines` pairs the committed `cpu` result (notebook 04's, made on another machine) with the
float32 arm: the same sizes and seed, the dataset regenerated on each machine from the same recipe. The two
dataset files differ in their bytes but not in their rows wherever compared (tests/test_dataset_identity.py checks
the committed samples of both files against this machine's generator). The runs differ in machine and in commit
(the committed one is older), and their training is not bit-identical (their loss curves part after the first
hundreds of steps), so their difference is what changes that should not matter do to these numbers.

Both arms: `scripts/run_gcbc_cfgrl.py --preset cpu --env <env> --compute-dtype bfloat16` (then `float32`), the
result JSON only (their weights are not kept).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cfgrl_core.experiments import gcbc_cfgrl as gx
from cfgrl_core.experiments import stats
from cfgrl_core.io.summary import fill

# What must agree between two runs that are compared (everything that sets a run except its name and the dtype).
SAME = ("hidden_dims", "batch_size", "num_steps", "num_seeds", "episodes_per_task", "num_val_tasks", "ws",
        "flow_steps", "max_steps", "learning_rate", "p_uncond", "num_episodes", "checkpoint_fractions",
        "checkpoint_episodes_per_task")  # fmt: skip
ENV = "pointmaze-medium-navigate-v0"  # the env the committed check ran on
PRESET = "cpu"


def _load(name: str, env_name: str, results=None) -> dict:
    folder = gx.EXPERIMENT.committed_dir(name) if results is None else Path(results) / gx.EXPERIMENT.name / name
    return gx.load_result(gx.result_path(name, env_name, folder))


def load_pair(env_name: str = ENV, preset: str = PRESET, results=None) -> tuple[dict, dict]:
    """(float32, bfloat16) arms of `env_name`: <results>/gcbc_cfgrl/<preset>-float32/ and <preset>-bfloat16/, where
    `results` is a results/ folder (default the repository's, whatever $CFGRL_RESULTS_DIR says)."""
    return _load(f"{preset}-float32", env_name, results), _load(f"{preset}-bfloat16", env_name, results)


def load_committed(env_name: str = ENV, preset: str = PRESET, results=None) -> dict:
    """Notebook 04's committed result of `env_name` (<results>/gcbc_cfgrl/<preset>/)."""
    return _load(preset, env_name, results)


def _differences(a: dict, b: dict, keys=("env_name", "seed", "checkpoint_steps")) -> list[str]:
    return [k for k in SAME if a["preset"].get(k) != b["preset"].get(k)] + [k for k in keys if a.get(k) != b.get(k)]


def per_seed_success(result: dict) -> np.ndarray:
    """[S, W] success in % of each seed at each w, over its final evaluation (tasks x episodes)."""
    final = np.asarray(result["success"][str(result["checkpoint_steps"][-1])], float)  # [S, T, E, W]
    return 100.0 * final.reshape(final.shape[0], -1, final.shape[-1]).mean(axis=1)


def validated(result: dict) -> np.ndarray:
    """[S] success in % of each seed at its own validated w (`chosen_w`)."""
    ws = np.asarray(result["ws"], float)
    index = [int(np.argmin(np.abs(ws - w))) for w in result["chosen_w"]]
    return per_seed_success(result)[np.arange(len(index)), index]


def _row(label: str, a: np.ndarray, b: np.ndarray) -> dict:
    mean, se, n = stats.gap(b - a)
    half = stats.t_quantile(n) * se
    return dict(label=label, first=stats.mean_std(a), second=stats.mean_std(b), diff=mean, se=se, n=n,
                p=stats.p_value(mean, se, n), low=mean - half, high=mean + half,
                beyond=stats.beyond_noise(mean, se, n))  # fmt: skip


def _table(first: dict, second: dict) -> dict:
    a, b = per_seed_success(first), per_seed_success(second)
    rows = [_row(f"w = {w:g}", a[:, j], b[:, j]) for j, w in enumerate(first["ws"])]
    shape = np.asarray(first["success"][str(first["checkpoint_steps"][-1])]).shape
    return dict(
        env=first["env_name"], seeds=a.shape[0], episodes=int(shape[1] * shape[2]), steps=first["checkpoint_steps"][-1],
        rows=rows, validated=_row("validated w", validated(first), validated(second)),
        chosen=(first["chosen_w"], second["chosen_w"]), any_beyond=any(r["beyond"] for r in rows),
        widest=max(max(abs(r["low"]), abs(r["high"])) for r in rows),
        train_s=(first["timings"].get("train_s"), second["timings"].get("train_s")),
        devices=(first.get("device"), second.get("device")), commits=(first.get("commit"), second.get("commit")),
    )  # fmt: skip


def same_dataset(a: dict, b: dict) -> bool:
    """Whether two results trained on the same data: the same file (sha256), or, where both recorded it, files with
    the same arrays (`dataset_arrays_sha256`: other bytes, e.g. written on another machine)."""
    if a.get("dataset_sha256") == b.get("dataset_sha256"):
        return True
    arrays = a.get("dataset_arrays_sha256"), b.get("dataset_arrays_sha256")
    return None not in arrays and arrays[0] == arrays[1]


def compare(fp32: dict, bf16: dict) -> dict:
    """Per w and at the validated w: both arms and the paired difference bfloat16 - float32 (module docstring).
    Two runs that differ in more than the dtype (sizes, seed, the dataset file) are refused: they are not a pair."""
    dtypes = (fp32["preset"].get("compute_dtype"), bf16["preset"].get("compute_dtype"))
    if dtypes != ("float32", "bfloat16"):
        raise ValueError(f"expected a float32 and a bfloat16 result, got compute_dtype {dtypes}")
    differ = _differences(fp32, bf16, ("env_name", "seed", "checkpoint_steps"))
    if not same_dataset(fp32, bf16):
        differ.append("dataset_sha256")
    if differ:
        raise ValueError(f"the two results differ in more than the dtype: {differ}; they are not a pair")
    return _table(fp32, bf16)


def compare_machines(committed: dict, rerun: dict) -> dict:
    """The same float32 run on two machines, paired by seed (rerun - committed): the same sizes, seed and dataset
    recipe (each machine generated its own file; the goals its episodes reached must agree, and so must the files'
    arrays where both runs recorded their hash)."""
    dtypes = {committed["preset"].get("compute_dtype"), rerun["preset"].get("compute_dtype")}
    differ = _differences(committed, rerun) + (["compute_dtype"] if dtypes != {"float32"} else [])
    if committed.get("dataset_recipe") != rerun.get("dataset_recipe"):
        differ.append("dataset_recipe")
    arrays = committed.get("dataset_arrays_sha256"), rerun.get("dataset_arrays_sha256")
    if None not in arrays and arrays[0] != arrays[1]:
        differ.append("dataset_arrays_sha256")
    if differ:
        raise ValueError(f"the two runs differ in {differ}: not the same run on two machines")
    return _table(committed, rerun)


TEMPLATE = """\
bfloat16 against float32 matmuls, both run on {device} ({env}, the `cpu` preset: {steps:,} steps, {seeds} seeds
paired by seed, {episodes} final episodes per seed and w; bfloat16 − float32 in points of success, mean ± SE, with
the paired t-test's {conf:.0%} interval): at the validated w {val_first} → {val_second} %, {val_gap}
[{val_low:+.1f}, {val_high:+.1f}]; over the w-curve {beyond_text}, the widest interval reaching {widest:.1f} points.
Per w: {per_w}. Training took {train_first:.0f} s in float32 and {train_second:.0f} s in bfloat16 on this CPU.
For scale, the same float32 run on another machine (the committed `cpu` result, its dataset generated there from the
same recipe: other file bytes, the same rows) against this one: at the validated w {scale_gap}; {scale_beyond}."""


def _beyond_text(table: dict) -> str:
    """How many w of the curve pass the test, against how many would by chance alone: each w is its own test at
    LEVEL, so a curve of W values shows about W x LEVEL of them with no difference at all."""
    beyond = [r["label"] for r in table["rows"] if r["beyond"]]
    n = len(table["rows"])
    chance = f"{n * stats.LEVEL:.2g} expected by chance alone over {n} tests at p < {stats.LEVEL:g}"
    if not beyond:
        return f"no w differs beyond the noise ({chance})"
    return f"{len(beyond)} of {n} w pass the test ({', '.join(beyond)}; {chance})"


def summary_values(table: dict, scale: dict) -> dict:
    v, s = table["validated"], scale["validated"]
    return dict(
        device=table["devices"][1], conf=1 - stats.LEVEL, env=table["env"], steps=table["steps"],
        seeds=table["seeds"], episodes=table["episodes"], val_first=stats.pm(*v["first"], ".0f"),
        val_second=stats.pm(*v["second"], ".0f"), val_gap=stats.gap_text((v["diff"], v["se"], v["n"])),
        val_low=v["low"], val_high=v["high"], beyond_text=_beyond_text(table), widest=table["widest"],
        per_w="; ".join(f"{r['label']} {r['diff']:+.1f} ± {r['se']:.1f} (p = {r['p']:.2g})" for r in table["rows"]),
        train_first=table["train_s"][0], train_second=table["train_s"][1],
        scale_gap=stats.gap_text((s["diff"], s["se"], s["n"])), scale_beyond=f"over the w-curve {_beyond_text(scale)}",
    )  # fmt: skip


def summary_line(table: dict, scale: dict) -> str:
    return fill(TEMPLATE, summary_values(table, scale), "dtype check")
