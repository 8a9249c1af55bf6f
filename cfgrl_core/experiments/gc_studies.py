"""Notebook 08's three studies, each one or two runs of notebook 04's runner (`gcbc_cfgrl.run_experiment`):

    cube       cube-single-play: the shared network's w-curve on manipulation (flow BC, GCBC, CFGRL rows)
    ablation   pointmaze-large: the shared network vs two separate networks (`methods`: "shared", "separate"), the
               same data, steps, batch and seeds, evaluated on the same w grid (the paper's Figure 7)
    hierarchy  pointmaze-giant: HCFGRL ("hierarchical") w-curve; flat CFGRL on giant is notebook 04's committed
               `cpu` run, shown next to it: the `cpu` tier trains each of the hierarchy's two networks for as
               many steps as that flat network (100k, batch 256, 3x256)

Tiers: "fast" (tests, seconds: tiny datasets, tiny nets), "cpu" (what `make figures` runs: 3x256 nets, batch 256,
4 seeds, 30k steps (the hierarchy 100k); each run's measured time is in its result's `timings`, datasets
excluded), "paper" (4x512, batch 1024, 1M steps, 8 seeds:
a GPU job, not run here). Results: results/gc_studies/<tier>/<env>[--<method>].json and the weights beside them
($CFGRL_RESULTS_DIR/gc_studies/<tier>/ when set, `protocol`). Only the hierarchy's weights are committed
(`WEIGHTS_READ`: notebook 08 rolls out its seed 0); the other runs' weights stay where a run writes them, out of git
(.gitignore), and a reused run without them is a `ResultOnlyRun`.

    runs = obtain_study("ablation", "cpu")          # {method: ExperimentRun}, trained or loaded (resumable)
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np

from cfgrl_core.experiments import gcbc_cfgrl as gx
from cfgrl_core.experiments import protocol, stats

CUBE = "cube-single-play-v0"
LARGE = "pointmaze-large-navigate-v0"
GIANT = "pointmaze-giant-navigate-v0"

ABLATION_WS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0)  # one w past the notebook-04 grid: "extrapolates further"


@dataclasses.dataclass(frozen=True)
class Study:
    name: str
    env_name: str
    methods: tuple
    preset: gx.Preset


def _tier(tier: str, hierarchy_steps=None, **sizes) -> dict:
    base = dict(num_episodes=None, checkpoint_fractions=(1.0,), checkpoint_episodes_per_task=1, **sizes)
    cube = gx.Preset(name=f"{tier}-cube", env_names=(CUBE,), methods=("shared",), **base)
    ablation = gx.Preset(name=f"{tier}-ablation", env_names=(LARGE,), methods=("shared", "separate"),
                         **dict(base, ws=ABLATION_WS))  # fmt: skip
    steps = dict(num_steps=hierarchy_steps) if hierarchy_steps else {}
    hierarchy = gx.Preset(
        name=f"{tier}-hierarchy", env_names=(GIANT,), methods=("hierarchical",), **dict(base, **steps)
    )
    return {
        "cube": Study("cube", CUBE, cube.methods, cube),
        "ablation": Study("ablation", LARGE, ablation.methods, ablation),
        "hierarchy": Study("hierarchy", GIANT, hierarchy.methods, hierarchy),
    }


TIERS = {
    "fast": {
        name: dataclasses.replace(
            study, preset=dataclasses.replace(study.preset, num_episodes=20 if study.env_name != CUBE else 4)
        )
        for name, study in _tier(
            "fast",
            hidden_dims=(64, 64),
            batch_size=64,
            num_steps=300,
            num_seeds=2,
            episodes_per_task=1,
            num_val_tasks=2,
            flow_steps=4,
            max_steps=40,
            steps_per_call=100,
            checkpoint_every=100,
        ).items()
    },  # fmt: skip
    "cpu": _tier(
        "cpu",
        hidden_dims=(256, 256, 256),
        batch_size=256,
        num_steps=30_000,
        num_seeds=4,
        episodes_per_task=2,
        num_val_tasks=10,
        checkpoint_every=10_000,
        hierarchy_steps=100_000,
    ),  # fmt: skip
    "paper": _tier(
        "paper",
        hidden_dims=(512, 512, 512, 512),
        batch_size=1024,
        num_steps=1_000_000,
        num_seeds=8,
        episodes_per_task=15,
        num_val_tasks=20,
        steps_per_call=5000,
        checkpoint_every=50_000,
    ),  # fmt: skip
}


EXPERIMENT = protocol.Experiment("gc_studies", TIERS, script="scripts/run_gc_studies.py")
results_dir = EXPERIMENT.results_dir  # results/gc_studies/<tier> (or $CFGRL_RESULTS_DIR/gc_studies/<tier>)
load_result = EXPERIMENT.load_result  # a study's result JSON; a missing one names scripts/run_gc_studies.py


def get_study(name: str, tier: str) -> Study:
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; choose one of {sorted(TIERS)}")
    if name not in TIERS[tier]:
        raise ValueError(f"unknown study {name!r}; choose one of {sorted(TIERS[tier])}")
    return TIERS[tier][name]


def result_file(name: str, tier: str, method: str, root=None) -> Path:
    """<results_dir(tier) or root>/<env>[--<method>].json."""
    study = get_study(name, tier)
    return gx.result_path(study.preset.name, study.env_name, results_dir(tier) if root is None else root, method)


# The (study, method) runs whose weights notebook 08 reads (seed 0's rollouts and subgoals on giant): a finished run
# is complete only with them. The others are read from their result JSON alone (their weights, where a run wrote them,
# are loaded as before, but not committed: .gitignore).
WEIGHTS_READ = frozenset({("hierarchy", "hierarchical")})


class ResultOnlyRun:
    """A finished study run whose weights were not kept: its `result` (and `method`); asking for its policy or
    parameters is a FileNotFoundError naming the missing weights folder."""

    def __init__(self, result: dict, weights: Path, method: str = "shared"):
        self.result, self.weights, self.method = result, Path(weights), method

    def _no_weights(self):
        raise FileNotFoundError(
            f"no weights at {self.weights}: the committed results keep the weights of {sorted(WEIGHTS_READ)} only "
            "(what notebook 08 reads); run this study again to make them (scripts/run_gc_studies.py --overwrite, or "
            "notebook 08 without CFGRL_REUSE_RESULTS)"
        )  # fmt: skip

    params = model_config = learner = property(lambda self: self._no_weights())

    def policy(self, s: int, flow_steps: int | None = None):
        self._no_weights()


def obtain_run(name: str, tier: str, method: str, *, reuse: bool = False, seed: int = 0, data_dir=None, root=None,
               progress=True, log=print, devices=None):  # fmt: skip
    """One run of a study: `gcbc_cfgrl.obtain_run` for the runs of `WEIGHTS_READ` (finished only with their weights);
    for the others a finished result is enough, loaded with its weights where they exist (`gcbc_cfgrl.load_run`) and
    as a `ResultOnlyRun` otherwise. Not finished (or not reused and made elsewhere): trained as `obtain_run` does."""
    study = get_study(name, tier)
    result = result_file(name, tier, method, root)
    if (name, method) in WEIGHTS_READ:
        return gx.obtain_run(study.env_name, study.preset, result, reuse=reuse, seed=seed, data_dir=data_dir,
                             progress=progress, log=log, method=method, devices=devices)  # fmt: skip
    folder = gx.run_dir_for(result)

    def load():
        if (folder / "weights").is_dir():
            return gx.load_run(result)
        return ResultOnlyRun(gx.load_result(result), folder / "weights", method)

    return protocol.obtain(
        study.env_name, result, reuse=reuse, load=load, discard=lambda: shutil.rmtree(folder, ignore_errors=True),
        run=lambda: gx.run_and_save(study.env_name, study.preset, result, seed=seed, data_dir=data_dir,
                                    progress=progress, log=log, method=method, devices=devices),
        log=log,
    )  # fmt: skip


def obtain_study(name: str, tier: str, *, reuse: bool = False, seed: int = 0, data_dir=None, root=None,
                 progress=True, log=print, devices=None):  # fmt: skip
    """{method: ExperimentRun (or `ResultOnlyRun`)} of one study: each run loaded when finished (reuse, or made by
    this clean commit), otherwise trained and evaluated (resuming an unfinished one; seeds sharded over `devices`);
    `obtain_run`."""
    return {
        method: obtain_run(name, tier, method, reuse=reuse, seed=seed, data_dir=data_dir, root=root,
                           progress=progress, log=log, devices=devices)
        for method in get_study(name, tier).methods
    }  # fmt: skip


def notebook04_result(env_name: str, preset: str = "cpu") -> dict:
    """Notebook 04's committed result of an env (the repository's results/gcbc_cfgrl/<preset>/<env>.json, the JSON
    only; never $CFGRL_RESULTS_DIR's)."""
    return gx.load_result(gx.result_path(preset, env_name, gx.EXPERIMENT.committed_dir(preset)))


# ---- notebook 08's report: the ablation's paired differences, the table, the Summary values (the README's too) -----


def curve_rows(result: dict, label: str) -> list[dict]:
    """One run's w-curve as the figures' CSVs hold it: {label, seed, w, percent} per seed and w (success in %)."""
    ws, per_seed = gx.success_by_w(result)
    return [dict(label=label, seed=s, w=w, percent=100 * c) for s, curve in enumerate(per_seed)
            for w, c in zip(ws, curve, strict=True)]  # fmt: skip


def hierarchy_labels(hier: dict, flat: dict) -> tuple[str, str]:
    """The hierarchy figure's two labels, each with its training steps."""
    return (f"HCFGRL ({hier['preset']['num_steps']:,} steps per network)",
            f"flat CFGRL (notebook 04, {flat['preset']['num_steps']:,} steps)")  # fmt: skip


def paper_runs(root=None) -> dict[str, dict]:
    """{"<folder>/<file stem>": result} of every paper-type study run on record (`EXPERIMENT.paper_dirs(root)`:
    results/gc_studies/paper*/<env>[--<method>].json, e.g. the `paper` tier run on a GPU); empty when none exists."""
    return {f"{folder.name}/{path.stem}": load_result(path)
            for folder in EXPERIMENT.paper_dirs(root) for path in sorted(folder.glob("*.json"))}  # fmt: skip


def paper_status(paper: dict | None = None) -> str:
    """The README's and the Summary's sentence on paper-type study runs, from whether they exist (never typed)."""
    paper = paper_runs() if paper is None else paper
    if not paper:
        return "The `paper` tier (`python scripts/run_gc_studies.py --tier paper`, a GPU job) has not been run."
    runs = "; ".join(f"`results/gc_studies/{key}.json` ({gx.run_label(r)})" for key, r in paper.items())
    return f"Paper-type runs on record, the table's rows marked `paper-type`: {runs}."


PAPER_MARKS_SOURCE = "third-party transcription of the paper's Table 3"


def _paper_budget() -> str:
    paper = gx.get_preset("paper")
    return f"{paper.num_steps:,} steps × {paper.batch_size}, {paper.num_seeds} seeds"


def ablation_difference(shared: dict, separate: dict) -> dict:
    """Shared minus separate networks at each w, paired over seeds (the same seed index, training keys and evaluation
    starts in both arms): {w [W], shared [W], separate [W] (success %, seed means), diff, se [W] (points)}."""
    ws, shared_ps = gx.success_by_w(shared)
    _, sep_ps = gx.success_by_w(separate)
    diff_mean, diff_se = stats.mean_se(100 * (shared_ps - sep_ps), axis=0)
    return dict(w=ws, shared=100 * shared_ps.mean(0), separate=100 * sep_ps.mean(0), diff=diff_mean, se=diff_se,
                n=np.full(len(ws), len(shared_ps)))  # fmt: skip


def _row(result: dict, method: str) -> dict:
    """`gcbc_cfgrl.summary_row` with its method, its training steps, and where its paper marks come from: the marks
    (flow GCBC, CFGRL w=3) are a third-party transcription of Table 3 at the paper's budget, never this row's."""
    row = dict(gx.summary_row(result), method=method, steps=int(result["checkpoint_steps"][-1]))
    marked = row["paper flow GCBC"] is not None
    row["paper marks"] = f"{PAPER_MARKS_SOURCE} ({_paper_budget()}); this row {row['steps']:,} steps" if marked else ""
    return row


def table_rows(results: dict, notebook04: dict, paper: dict | None = None) -> list[dict]:
    """The table: every study run ({(study, method): result}) with its method, then every paper-type run on record
    (`paper`, default `paper_runs()`; method "<method> (paper-type)", its `run` column naming device, steps, seeds
    and episodes), then notebook 04's flat runs to compare with ({env: result}). Each row: `_row`."""
    paper = paper_runs() if paper is None else paper
    rows = [_row(r, m) for (_, m), r in results.items()]
    rows += [_row(r, f"{r.get('method', 'shared')} (paper-type)") for r in paper.values()]
    return rows + [_row(r, "shared (notebook 04)") for r in notebook04.values()]


def shown_table(rows: list[dict]):
    """The table as a reader sees it: `gcbc_cfgrl.shown_table` (its `run` column: device, steps × batch, network,
    seeds, episodes), with the paper marks labelled as what they are: a transcription at the paper's budget."""
    table = gx.shown_table(rows)
    marks = [f"{m} ({PAPER_MARKS_SOURCE}, {_paper_budget()}; this row {r['steps']:,} steps)" if m != "–" else m
             for m, r in zip(table.pop("paper GCBC → CFGRL"), rows, strict=True)]  # fmt: skip
    table["paper GCBC → CFGRL (not this row's budget)"] = marks
    return table


def _row_text(result: dict, label: str) -> str:
    row = gx.summary_row(result)
    pm = {c: stats.pm(row[f"{c} mean"], row[f"{c} std"]) for c in (*gx.SUMMARY_WS, "CFGRL (validated w)")}
    return (f"{label}: BC {pm['flow BC (w=0)']}, GCBC {pm['flow GCBC (w=1)']}, CFGRL w=3 {pm['CFGRL (w=3)']}, "
            f"validated w {pm['CFGRL (validated w)']} (w per seed: {row['validated w per seed']})")  # fmt: skip


def summary_values(results: dict, tier: str, notebook04: dict, paper: dict | None = None) -> dict:
    """Every value of notebook 08's Summary (and the README's results08 block) from the runs of a tier
    ({(study, method): result}), notebook 04's flat runs on giant and teleport ({env: result}) and the paper-type
    runs on record (`paper`, default `paper_runs()`): the table's rows, `paper_status`, the ablation's closest
    comparison to a separation."""
    paper = paper_runs() if paper is None else paper
    cube, shared, sep = results[("cube", "shared")], results[("ablation", "shared")], results[("ablation", "separate")]
    hier, flat = results[("hierarchy", "hierarchical")], notebook04[GIANT]
    preset = get_study("ablation", tier).preset
    ab = ablation_difference(shared, sep)
    beyond = [stats.beyond_noise(m, s, n) for m, s, n in zip(ab["diff"], ab["se"], ab["n"], strict=True)]
    better = {sign: [f"{w:g}" for w, m, b in zip(ab["w"], ab["diff"], beyond, strict=True) if b and m * sign > 0]
              for sign in (1, -1)}  # fmt: skip
    p_values = [stats.p_value(m, s, n) for m, s, n in zip(ab["diff"], ab["se"], ab["n"], strict=True)]
    closest = int(np.nanargmin(p_values))
    w_top = max(ab["w"])
    drop = {label: gx.paired_gap(r, float(ab["w"][np.argmax(gx.success_by_w(r)[1].mean(0))]), w_top)
            for label, r in (("shared", shared), ("separate", sep))}  # fmt: skip
    hier_vs_flat = {
        w: (
            100 * gx.success_by_w(hier)[1][:, list(hier["ws"]).index(w)].mean(),
            100 * gx.success_by_w(flat)[1][:, list(flat["ws"]).index(w)].mean(),
        )
        for w in (1.0, 3.0)
    }
    minutes = {f"{n} / {m}": sum(r["timings"].values()) / 60 for (n, m), r in results.items()}

    def w_set(ws):
        return "no w" if not ws else f"w ∈ {{{', '.join(ws)}}}"

    return {
        "tier": tier, "w3": 3.0, "n_tasks": np.asarray(shared["success"][str(preset.num_steps)]).shape[1],
        "seeds": preset.num_seeds, "steps": preset.num_steps, "batch": preset.batch_size,
        "hidden": "×".join(map(str, preset.hidden_dims)), "episodes": preset.episodes_per_task,
        "cube_row": _row_text(cube, "cube-single"),
        "cube_w1_w0": stats.gap_text(gx.paired_gap(cube, 0.0, 1.0)),
        "cube_w3_w1": stats.gap_text(gx.paired_gap(cube, 1.0, 3.0)),
        "abl_shared_row": _row_text(shared, "shared"), "abl_sep_row": _row_text(sep, "separate"),
        "abl_table": "\n".join(f"  | {w:g} | {s:.1f} | {p:.1f} | {m:+.1f} ± {e:.1f} |"
                               for w, s, p, m, e in zip(*(ab[k] for k in ("w", "shared", "separate", "diff", "se")),
                                                        strict=True)),
        "n_ws": len(ab["w"]), "n_sep": int(sum(beyond)), "shared_better": w_set(better[1]),
        "sep_better": w_set(better[-1]), "w_top": w_top,
        "drop_shared": f"{drop['shared'][0]:+.1f} ± {drop['shared'][1]:.1f} ({stats.verdict(*drop['shared'])})",
        "drop_sep": f"{drop['separate'][0]:+.1f} ± {drop['separate'][1]:.1f} ({stats.verdict(*drop['separate'])})",
        "hier_row": _row_text(hier, "HCFGRL"), "flat_row": _row_text(flat, "flat (notebook 04)"),
        "flat_steps": flat["preset"]["num_steps"], "hier_steps": hier["preset"]["num_steps"],
        "flat_eps": flat["preset"]["episodes_per_task"], "hier_eps": hier["preset"]["episodes_per_task"],
        "hier_w1": hier_vs_flat[1.0][0], "flat_w1": hier_vs_flat[1.0][1], "hier_w3": hier_vs_flat[3.0][0],
        "flat_w3": hier_vs_flat[3.0][1], "hier_w3_w1": stats.gap_text(gx.paired_gap(hier, 1.0, 3.0)),
        "device": hier["device"],
        "minutes": "; ".join(f"{k} {v:.0f} min" for k, v in minutes.items()), "total_minutes": sum(minutes.values()),
        "abl_line": "; ".join(f"`w = {w:g}` {m:+.1f} ± {e:.1f}" for w, m, e in zip(ab["w"], ab["diff"], ab["se"],
                                                                                  strict=True)),
        "abl_closest": f"w = {ab['w'][closest]:g}: " + stats.gap_text((ab["diff"][closest], ab["se"][closest],
                                                                   ab["n"][closest])),
        "abl_closest_w": float(ab["w"][closest]), "abl_closest_diff": float(ab["diff"][closest]),
        "ablation": {k: np.asarray(v).tolist() for k, v in ab.items()},
        "table": table_rows(results, notebook04, paper), "paper_status": paper_status(paper),
    }  # fmt: skip
