"""Render the README's generated blocks from the committed data files, or check that they are up to date.

    python scripts/render_readme.py            # rewrite the blocks in README.md (atomically)
    python scripts/render_readme.py --check    # exit 1 and show the difference if a block is stale

A block sits between `<!-- BEGIN name -->` and `<!-- END name -->`; its text is made only from files under
figures/, results/ and benchmarks/results/. Notebooks 04-08's blocks take their values from the committed results
of the `cpu` preset through the same function the notebook's Summary calls (`summary_values` of the experiment's
module in `cfgrl_core.experiments`), and their tables from the figures' CSVs; notebooks 01-03 (no results files:
they run in minutes) read their saved summaries `figures/figNN_summary.json` and CSVs; the Speed block reads the
benchmark JSONs. Each block's template goes through `cfgrl_core.io.summary.fill`, which refuses a number typed by
hand, and tests/test_readme.py checks that the README equals the rendering and that its Results and Speed sections
hold no number outside the blocks.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import json
import re
import shlex
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cfgrl_core.experiments import dtype_check, gc_studies, kl_budget, offline_rl, pgd_agents, pgd_pointmass, stats  # noqa: E402
from cfgrl_core.experiments import gcbc_cfgrl as gx  # noqa: E402
from cfgrl_core.io.checkpoints import load_json  # noqa: E402
from cfgrl_core.io.summary import fill, load_summary  # noqa: E402

README = REPO / "README.md"
BENCH_TRAIN = "bench_cpu_2026-11-21.json"  # the full `make bench` run (idle 2-core Intel Xeon)
BENCH_EVAL = "bench_eval_cpu_2026-11-27.json"  # `--sections matmul eval` (idle 2-core AMD EPYC)
ANCHOR = "authors_anchor.jsonl"  # the authors' agent timed on the machine of BENCH_TRAIN
BENCH_PHYSICS = "bench_physics_cpu.json"  # `benchmarks/bench_physics.py` (the second half of `make bench`)
PRESET = "cpu"  # the preset (notebook 08: the tier) whose committed results the README reports


def _rows(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def _json(path: Path) -> dict:
    with path.open() as f:
        return json.load(f)


def _pm(mean, std, fmt=".2f") -> str:
    """'0.55 ± 0.04'; a std that is not a number (one seed) shows as '–' (`stats.pm`)."""
    return stats.pm(mean, std, fmt)


_dims = stats.mlp_name  # (256, 256, 256) -> '3×256'


def committed_04(results: Path) -> dict:
    """Notebook 04's committed results of the README's preset: {env: result}."""
    preset = gx.get_preset(PRESET)
    folder = results / gx.EXPERIMENT.name / preset.name
    return {env: gx.load_result(gx.result_path(preset.name, env, folder)) for env in preset.env_names}


def committed_05(results: Path) -> dict:
    preset = offline_rl.get_preset(PRESET)
    folder = results / offline_rl.EXPERIMENT.name / preset.name
    return {task: offline_rl.load_result(offline_rl.result_path(preset.name, task, folder)) for task in preset.tasks}


def committed_07(results: Path) -> dict:
    preset = pgd_agents.get_preset(PRESET)
    folder = results / pgd_agents.EXPERIMENT.name / preset.name
    return {pgd_agents.task_name(g): pgd_agents.load_result(folder / pgd_agents.task_name(g))
            for g in preset.good_fractions}  # fmt: skip


def committed_08(results: Path) -> tuple[dict, dict]:
    """({(study, method): result} of the README's tier, notebook 04's flat runs on giant and teleport)."""
    folder = results / gc_studies.EXPERIMENT.name / PRESET
    runs = {(name, method): gc_studies.load_result(gc_studies.result_file(name, PRESET, method, folder))
            for name, study in gc_studies.TIERS[PRESET].items() for method in study.methods}  # fmt: skip
    flat = committed_04(results)
    return runs, {env: flat[env] for env in (gc_studies.GIANT, gx.TELEPORT)}


# ---------------------------------------------------------------------------------------------------------- 01

T01 = """\
(`fig01_guidance_vs_exact.csv`; {seeds} seeds, {hidden} MLP, {steps:,} steps, {flow_steps} flow steps;
`pi_hat` uniform on an ellipse, `A(a) = a_x`, graded labels `o ~ Bernoulli(sigmoid({k:g} A))`):

{table}

Guidance improves `E[A]` monotonically, matches the exact tilt at `w = 0` and `w = 1`, and **overshoots** it for
`w > 1`; at `w = {w_last:g}` the seeds put from {out_min:.0%} to {out_max:.0%} of their samples outside `pi_hat`'s
support. With exact flow velocities of a Gaussian mixture (no learning), CFG still departs from
`pi_hat p(o|a)^w` for `w > 1`: SW2 {gmm_sw2} at `w = {gmm_ws}` against a noise floor of {floor_lo:.2f}–{floor_hi:.2f},
pushing the favoured component outward (shift {shift_cfg:.2f} vs {shift_exact:.2f} at `w = {w_last:g}`) and
shrinking it (spread {spread_cfg:.2f} vs {spread_exact:.2f}) — `fig01_cfg_vs_product.csv`. With deterministic
labels `1[A ≥ 0]` the exact tilt is the same for every `w > 0` (`E[A] = {hard_exact:.2f}`), yet the guided model's
`E[A]` keeps rising ({hard_seq} at `w = {hard_ws}`): gains past `w = 1` there come from the flow and the network,
not from the product formula."""


def results_01(figures: Path) -> str:
    prov = _json(figures / "fig01_guidance_vs_exact.json")
    s01 = load_summary(figures / "fig01_summary.json")
    rows = _rows(figures / "fig01_guidance_vs_exact.csv")
    graded = [r for r in rows if r["labels"] == "graded"]
    hard = [r for r in rows if r["labels"] == "hard" and float(r["w"]) >= 1]
    table = [
        "| w | SW2 to the exact tilt (noise floor) | E[A] guided | E[A] exact | guided samples outside the support |",
        "|---|---|---|---|---|",
    ]
    for r in graded:
        table.append(
            f"| {float(r['w']):g} | {_pm(r['SW2 mean'], r['SW2 std'], '.3f')} ({float(r['SW2 noise floor']):.3f}) "
            f"| {_pm(r['E[A] guided mean'], r['E[A] guided std'])} | {float(r['E[A] exact (graded)']):.2f} "
            f"| {100 * float(r['outside support mean']):.1f}% ± {100 * float(r['outside support std']):.1f}% |"
        )
    gmm = [r for r in _rows(figures / "fig01_cfg_vs_product.csv") if float(r["w"]) > 1]
    floors = [float(r["SW2 noise floor"]) for r in _rows(figures / "fig01_cfg_vs_product.csv")]
    values = dict(
        seeds=prov["num_seeds"], hidden=_dims(prov["hidden"]), steps=prov["train_steps"],
        flow_steps=prov["flow_steps"], k=prov["k"], table="\n".join(table), w_last=s01["w_last"],
        out_min=s01["out_last_min"], out_max=s01["out_last_max"],
        gmm_sw2=" / ".join(f"{float(r['SW2 CFG vs exact']):.2f}" for r in gmm),
        gmm_ws=" / ".join(f"{float(r['w']):g}" for r in gmm), floor_lo=min(floors), floor_hi=max(floors),
        shift_cfg=s01["gmm_shift_cfg"], shift_exact=s01["gmm_shift_exact"], spread_cfg=s01["gmm_spread_cfg"],
        spread_exact=s01["gmm_spread_exact"], hard_exact=s01["ea_hard_exact"],
        hard_seq=" → ".join(f"{float(r['E[A] guided mean']):.2f}" for r in hard),
        hard_ws=", ".join(f"{float(r['w']):g}" for r in hard),
    )  # fmt: skip
    return fill(T01, values, "README results01")


# ---------------------------------------------------------------------------------------------------------- 02

T02 = """\
({n_mdps:,} random MDPs: {dist}; γ = {gamma:g}): Theorem 1 holds in all {n_cases:,} (MDP, `w > 0`, `f`) cases for
{n_f} weighting functions ({violations} violations beyond {tol:g}, at any state; smallest `J(pi_w) − J(pi_hat)` =
{min_gap:.1e}); the surrogate of Theorem 2 never decreases. The **true return is not always monotone in `w`**:
{nonmono_ref:.2%} of MDPs on the grid `w` ∈ {w_ref} (for at least one of the {n_graded} graded `f`), {nonmono_max:.0%}
when `w` goes up to {w_max:g}, and {other_min:.0%}–{other_max:.0%} under sparser transitions or larger rewards; a
two-state counterexample is kept (`theory.two_room_counterexample`: `J` peaks at {cx_peak:.2f} near
`w = {cx_peak_w:g}` and falls to {cx_end:.2f} at `w = {cx_end_w:g}`). Lemma 1 holds on {n_measures:,} random
measures, reverses for an independently drawn non-increasing function, and takes both signs without a common
order ({unordered:.0%} negative). GCBC is the `w = 1` member of a product family (Eq. 18, checked exactly on a
{grid}×{grid} gridworld, where goal guidance raises the exact probability of reaching the goal within {reach_h}
steps from {reach_gcbc:.2f} at `w = 1` to {reach_w3:.2f} at `w = {w_cmp:g}`); on random MDPs the discounted goal
occupancy never falls below BC's. (`fig02_*.csv`, `fig02_summary.json`)"""


def results_02(figures: Path) -> str:
    prov = _json(figures / "fig02_improvement.json")
    s = load_summary(figures / "fig02_summary.json")
    values = dict(
        n_mdps=s["n_mdps"], dist=prov["mdp_distribution"], gamma=s["gamma"], n_cases=s["n_cases"], n_f=s["n_f"],
        violations=s["violations"], tol=s["tol"], min_gap=s["min_gap"], nonmono_ref=s["nonmono_any_ref"],
        w_ref=s["w_ref"], n_graded=s["n_graded"],
        nonmono_max=s["nonmono_any_max"], w_max=s["w_fine_max"], other_min=s["nonmono_other_min"],
        other_max=s["nonmono_other_max"], cx_peak=s["cx_peak"], cx_peak_w=s["cx_peak_w"], cx_end=s["cx_end"],
        cx_end_w=s["cx_end_w"], n_measures=s["n_measures"], unordered=s["lemma1_unordered_neg"], grid=s["grid"],
        reach_h=s["reach_h"], reach_gcbc=s["reach_gcbc"], reach_w3=s["reach_w3"], w_cmp=s["w_cmp"],
    )  # fmt: skip
    return fill(T02, values, "README results02")


# ---------------------------------------------------------------------------------------------------------- 03

T03 = """\
(exact contextual bandit with two reward bumps, exact advantages, {seeds} seeds): AWR's weights concentrate the
batch (ESS of the gradient norms {ess_flow_peak:.0%} of the batch at `1/beta = {b_peak:g}` vs {ess_cfg:.0%} for
CFGRL's unweighted loss). Who wins here: **{winner}**. Expected reward {flow} (flow actor) at `1/beta = {b_flow:g}` and
{gauss} (Gaussian actor, at its mean) at `1/beta = {b_gauss:g}`, against CFGRL's {cfg} at `w = {w_cfg:g}` ({cfg_val}
with `w` chosen on validation states); AWR-flow minus CFGRL is {diff:+.3f} ± {diff_se:.3f} ({diff_verdict}), from
{awr_runs} AWR trainings per actor vs {cfg_runs} for CFGRL ({flow_compute:.0f} s vs {cfg_compute:.0f} s of compute).
CFGRL keeps improving past `w = 1` ({cfg_w1:.2f} → {cfg_best:.2f}); at `w = {w_last:g}` it scores {cfg_last}, a
change of {decline:+.3f} ± {decline_se:.3f} from its best `w` (paired over seeds; {decline_verdict}; that `w` is
picked on the same test states); the binary
label calls both bumps "good", which AWR's exponential weights do not.
The notebook explains why this differs from the paper. (`fig03_*.csv`, `fig03_summary.json`)"""


def results_03(figures: Path) -> str:
    s = load_summary(figures / "fig03_summary.json")
    ess = {(r["method"], r["1/beta"]): r for r in _rows(figures / "fig03_batch_ess.csv")}
    b_peak = s["b_peak"]
    values = dict(
        seeds=s["seeds"], ess_flow_peak=float(ess[("AWR-flow", f"{b_peak}")]["ESS/B grad norms"]), b_peak=b_peak,
        ess_cfg=s["ess_cfg"], flow=_pm(s["flow_oracle"], s["flow_oracle_sd"]), b_flow=s["flow_oracle_b"],
        gauss=_pm(s["gauss_oracle"], s["gauss_oracle_sd"]), b_gauss=s["gauss_oracle_b"],
        cfg=_pm(s["cfg_oracle"], s["cfg_oracle_sd"]), w_cfg=s["cfg_oracle_w"],
        cfg_val=_pm(s["cfg_val"], s["cfg_val_sd"]),
        diff=s["awr_minus_cfg"], diff_se=s["awr_minus_cfg_se"], diff_verdict=s["awr_minus_cfg_verdict"],
        awr_runs=s["awr_runs"], cfg_runs=s["cfg_runs"], flow_compute=s["flow_compute"], cfg_compute=s["cfg_compute"],
        cfg_w1=s["cfg_w1"], cfg_best=s["cfg_oracle"], w_last=s["w_last"], cfg_last=_pm(s["cfg_last"], s["cfg_last_sd"]),
        decline=s["decline"], decline_se=s["decline_se"], decline_verdict=s["decline_verdict"], winner=s["winner"],
    )  # fmt: skip
    return fill(T03, values, "README results03")


# ---------------------------------------------------------------------------------------------------------- 04

T04 = """\
(`fig04_table.csv`, `results/gcbc_cfgrl/{preset}/*.json`; preset `{preset}`: datasets regenerated with OGBench's
recipe, {seeds} seeds, {hidden} MLP, batch {batch}, {steps:,} steps, {flow_steps} flow steps, {episodes} episodes ×
{tasks} evaluation tasks per seed and `w`; `w` chosen per seed on {val} validation goals). Success in %, mean ± std
over seeds (ddof = 1):

{table}

Of the {n_cmp} paired comparisons of `w` ∈ {{{cmp_ws}}} with GCBC (the same seeds at both `w`, mean ± standard
error printed in notebook 04's summary), {n_up} are higher beyond the noise (paired t-test, p < 0.05), {n_down}
lower and {n_flat} within the noise; GCBC beats flow BC beyond the noise on {gcbc_wins} of {n_envs} mazes. Our
networks see {ratio} of the paper's training samples ({steps:,} × {batch} vs {paper_steps:,} × {paper_batch}, and
{hidden} instead of {paper_hidden}), hence the gap to the paper's numbers; the paper column is a third-party
transcription of Table 3 (`shared/reference/cfgrl.md` §4.3), which has no teleport entry. {paper_status}

{scales}"""


def table_04(figures: Path) -> str:
    """Notebook 04's table: success (%) mean ± std (ddof 1) over seeds, from fig04_table.csv."""
    rows = _rows(figures / "fig04_table.csv")
    cols = ["flow BC (w=0)", "flow GCBC (w=1)", "CFGRL (w=3)", "CFGRL (validated w)"]
    out = [
        "| env | preset | run | flow BC (`w = 0`) | flow GCBC (`w = 1`) | CFGRL (`w = 3`) | CFGRL (validated `w`) "
        "| validated `w` per seed | paper GCBC → CFGRL (`w = 3`), third-party transcription |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        paper = f"{float(r['paper flow GCBC']):g} → {float(r['paper CFGRL (w=3)']):g}" if r["paper flow GCBC"] else "–"
        cells = [_pm(r[c + " mean"], r[c + " std"], ".1f") for c in cols]
        env = r["env"].replace("pointmaze-", "").replace("-navigate-v0", "")
        out.append(f"| {env} | {r['preset']} | {r['run']} | " + " | ".join(cells)
                   + f" | {r['validated w per seed']} | {paper} |")  # fmt: skip
    return "\n".join(out)


def results_04(figures: Path, results: Path) -> str:
    runs = committed_04(results)
    s = gx.summary_values(runs, PRESET, gx.paper_runs(results))
    preset = next(iter(runs.values()))["preset"]
    values = dict(
        preset=s["preset"], seeds=preset["num_seeds"], hidden=s["hidden"], batch=preset["batch_size"],
        steps=preset["num_steps"], flow_steps=preset["flow_steps"], episodes=s["episodes"], tasks=s["n_tasks"],
        val=preset["num_val_tasks"], table=table_04(figures), n_cmp=s["n_cmp"], cmp_ws=s["cmp_ws"], n_up=s["n_up"],
        n_down=s["n_down"], n_flat=s["n_flat"], gcbc_wins=s["gcbc_wins"], n_envs=s["n_envs"], ratio=s["ratio"],
        paper_steps=s["paper_steps"], paper_batch=s["paper_batch"], paper_hidden=s["paper_hidden"],
        paper_status=s["paper_status"], scales=s["scales"],
    )  # fmt: skip
    return fill(T04, values, "README results04")


# ---------------------------------------------------------------------------------------------------------- 05

T05 = """\
(`fig05_table.csv`, `results/offline_rl/{preset}/*.json`; preset `{preset}`: datasets regenerated with OGBench's
recipe and relabelled by OGBench's single-task loader, {seeds} seeds, IQL critic {critic}, actors {actor}, batch
{batch}, {steps:,} joint steps; `w` ∈ {{{ws}}} and 1/β ∈ {{{inv_betas}}} chosen per seed on {val} validation
episodes, {episodes} test episodes per seed and value). Success in %, mean ± std over seeds (ddof = 1):

{table}

{no_success}CFGRL − AWR, paired over seeds (mean ± standard error), where either succeeds: {gaps}. {path_gaps}Our
networks see {ratio} of the paper's training samples. The mechanism row ({mechanism_run}; AWR at 1/β ∈
{{{mechanism_betas}}}) is OGBench's default task of the medium maze at wider networks, where the methods work: CFGRL −
AWR {mechanism_gap}. The same row trained on to {mechanism_long_steps:,} steps (a record that `make figures` does not
train again, in `offline_rl.RECORDED_RUNS`; {mechanism_long_continues}): AWR {mechanism_long_awr}, CFGRL
{mechanism_long_cfgrl}; CFGRL − AWR {mechanism_long_gap}. Notebook 05's
summary gives the label statistics, the budget curve, the critics' values by distance to the goal and the gradient
concentration. {paper_status}"""


def table_05(figures: Path) -> str:
    """Notebook 05's Table 2: success (%) mean ± std (ddof 1) over seeds, from fig05_table.csv."""
    rows = _rows(figures / "fig05_table.csv")
    cols = ["AWR", "CFGRL", "BC (w=0)", "filtered BC (w=1)"]
    out = [
        "| task | run | AWR (validated 1/β) | CFGRL (validated `w`) | BC (`w = 0`) | filtered BC (`w = 1`) "
        "| paper AWR | paper CFGRL |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [_pm(r[c + " mean"], r[c + " std"], ".0f") for c in cols]
        paper = [_pm(r[f"paper {c} mean"], r[f"paper {c} std"], "g") if r[f"paper {c} mean"] not in ("", "nan", "None")
                 else "–" for c in ("AWR", "CFGRL")]  # fmt: skip
        task = r["task"].replace("pointmaze-", "").replace("-navigate-singletask", "").replace("-v0", "")
        out.append(f"| {task} | {r['run']} | " + " | ".join(cells + paper) + " |")
    return "\n".join(out)


def results_05(figures: Path, results: Path) -> str:
    runs = committed_05(results)
    s = offline_rl.summary_values(runs, PRESET)
    gaps = "; ".join(f"{task} {m:+.0f} ± {se:.0f} points ({stats.verdict(m, se, n)})"
                     for task, (m, se, n) in s["informative_gaps"].items()) or "none"  # fmt: skip
    no_success = (f"Neither AWR nor CFGRL succeeds at any value on {', '.join(s['no_success'])}: at this budget the "
                  "comparison is uninformative there. " if s["no_success"] else "")  # fmt: skip
    keys = ("preset", "seeds", "critic", "actor", "batch", "val", "episodes", "ratio")
    path_gaps = "; ".join(f"{task} {stats.gap_text(gap)}" for task, gap in s["path_gaps"].items())
    path_gaps = (f"From the cells of a task's shortest path (our variant; the values chosen on validation episodes "
                 f"from the same starts), pooled over the starts: {path_gaps}. " if path_gaps else "")  # fmt: skip
    row_of = lambda folder: offline_rl.load_result(  # noqa: E731
        offline_rl.result_path(folder, offline_rl.MEDIUM, results / offline_rl.EXPERIMENT.name / folder)
    )
    mechanism = row_of("mechanism")
    mechanism_gap = stats.gap_text(offline_rl.paired_gap(mechanism, "awr_gaussian", "cfgrl"))
    longer = row_of("mechanism-100k")  # the same row trained on, a record (offline_rl.RECORDED_RUNS)
    longer_row = offline_rl.table_row(longer)
    mechanism_long = dict(
        mechanism_long_steps=longer["checkpoint_steps"][-1],
        mechanism_long_gap=stats.gap_text(offline_rl.paired_gap(longer, "awr_gaussian", "cfgrl")),
        mechanism_long_continues=offline_rl.continues_text(longer, mechanism, "the run above"),
        **{f"mechanism_long_{k.lower()}": stats.pm(longer_row[f"{k} mean"], longer_row[f"{k} std"], ".0f")
           for k in ("AWR", "CFGRL")},
    )  # fmt: skip
    first = next(iter(runs.values()))
    listed = lambda values: ", ".join(f"{v:g}" for v in values)  # noqa: E731
    values = {k: s[k] for k in keys} | dict(steps=s["n_steps"], table=table_05(figures), gaps=gaps, path_gaps=path_gaps,
                                            no_success=no_success, paper_status=s["paper_status"],
                                            mechanism_run=offline_rl.run_label(mechanism),
                                            mechanism_gap=mechanism_gap, ws=listed(first["ws"]),
                                            inv_betas=listed(first["inv_betas"]),
                                            mechanism_betas=listed(mechanism["inv_betas"]))  # fmt: skip
    return fill(T05, values | mechanism_long, "README results05")


# ---------------------------------------------------------------------------------------------------------- 06

T06 = """\
(`fig06_summary.json`, `results/pgd/{preset}/results.json`; preset `{preset}`: the 2-D point-mass world of our
design, {n_transitions} behaviour transitions, windows of {horizon} transitions, {seeds} seeds of a flow trajectory
model ({steps:,} steps) and of a {wm_k}-step world-model ensemble; mean ± std over seeds, ddof = 1; PGD's
$\\lambda^* = {lam_star:g}$ chosen on validation samples):

{table}

Guidance raises the target log-likelihood of generated actions ({ll_unguided:.1f} unguided, {ll_star:.1f} at
$\\lambda^*$, {ll_target:.2f} for real target rollouts) at a dynamics error of {dyn_star:.4f} against the unguided
{dyn_unguided:.4f}. {ordering_sentence} the world model's error ({dyn_wm:.4f} at {wm_k} steps,
{dyn_wm_full:.4f} over the whole window) is {wm_full_vs} than the unguided trajectory model's, and adding
contacts (a wall across the behaviour's path: notebook 06's `cpu-wall` run) {wall_word}. Sampled with
{flow_steps} Euler steps (chosen by notebook 06's integrator study; the largest λ without divergence per step
count: {stable_by_steps}), a fraction {div_last:.2f} of the windows diverge at $\\lambda = {lam_last:g}$. The paper's
own environment and numbers could not be read, so nothing here is compared with them. {paper_status}"""


def results_06(figures: Path, results: Path) -> str:
    run = load_json(results / pgd_pointmass.EXPERIMENT.name / PRESET / "results.json")
    wall = load_json(results / pgd_pointmass.EXPERIMENT.name / "cpu-wall" / "results.json")
    s = pgd_pointmass.summary_values(run, PRESET, pgd_pointmass.paper_runs(results))
    s |= pgd_pointmass.ordering_values(run, wall)
    keys = ("preset", "n_transitions", "horizon", "seeds", "steps", "wm_k", "lam_star", "table", "ll_unguided",
            "ll_star", "ll_target", "dyn_star", "dyn_unguided", "dyn_wm", "lam_last", "div_last", "dyn_wm_full",
            "wm_full_vs", "flow_steps", "wall_word", "stable_by_steps", "paper_status",
            "ordering_sentence")  # fmt: skip
    return fill(T06, {k: s[k] for k in keys}, "README results06")


# ---------------------------------------------------------------------------------------------------------- speed

TSPEED = """\
Measured on an idle {cores}-core Intel Xeon (float32 matmul {mm_anchor:.0f}–{mm_bench:.0f} GFLOP/s: the
authors' harness and ours), {layers}-layer MLPs on pointmaze-sized inputs (observation, goal, action all 2-D);
`{bench_file}` and `{anchor_file}`:

{train_table}

Evaluation (`--sections eval`; `{eval_file}`), measured on a later {eval_cores}-core **AMD EPYC** (AVX-512;
float32 matmul {mm_eval:.0f} GFLOP/s): pointmaze-medium, the untrained policy of each size, episodes capped at
{max_steps} steps (of the {rollouts_big} lockstep rollouts, {succ_big_small} reach the goal for the {small}
policy and {succ_big_large} for the {large} ones); times are seconds per 1000 env steps. "One at a time" is our
copy of the authors' loop (one env, one observation per jitted call) on {one_rollouts} rollouts (tasks × `w`) on
the same machine; the authors' own loop was timed at {authors_s:.2f} s per 1000 env steps on the anchor machine of
`perf_anchor.md` (another AMD EPYC), so that ratio is across machines:

{eval_table}

Lockstep = one jitted policy call per env step for every rollout still running (finished ones leave the batch),
and the envs stepped by threads (MuJoCo releases the GIL). The bfloat16 ratio is against the bfloat16
one-at-a-time loop, which is slower here than the float32 one ({one_bf16:.2f} s vs {one_f32:.2f} s): against the
float32 loop it is {bf16_vs_f32_one:.1f}×. At {large} the {flow_steps}-step guided sampler needs
{mflop:.0f} MFLOP per action, {s_per_1000_actions:.3f} s per 1000 actions at the {sample_gflops:.0f} GFLOP/s the
batched sampler reaches on the first machine; a trained policy that reaches its goal early costs less (its rows
leave the batch).

On these CPUs every measurement above is compute-bound. A {small_train} step at batch {small_batch} already runs
its matmuls at {small_gflops:.0f} GFLOP/s ({small_frac:.0%} of the large-matmul rate), so beating the authors'
agent by much more than its {small_speedup:.2f}× would need most of that peak from narrow matmuls; vmapped seeds
multiply the FLOPs, and XLA's CPU batched matmul is no more efficient than separate ones; the guided sampler does
the same two network evaluations per Euler step as theirs (both near the matmul ceiling), so only cheaper
arithmetic helps — bfloat16 matmuls with float32 accumulation give {bf16_speedup:.1f}× in sampling here.
Seed-vmapping pays off where one seed leaves the device idle (a GPU), and it is one compile for all seeds."""


def _anchor_best(lines: list[dict], mode: str, **match) -> dict:
    rows = [r for r in lines if r.get("mode") == mode and all(r.get(k) == v for k, v in match.items())]
    return sorted(rows, key=lambda r: r.get("median_ms", 1 / max(r.get("steps_per_s", 1e-9), 1e-9)))[len(rows) // 2]


def speed(bench_dir: Path) -> str:
    bench, ev = _json(bench_dir / BENCH_TRAIN), _json(bench_dir / BENCH_EVAL)
    anchor = [json.loads(line) for line in (bench_dir / ANCHOR).open() if line.strip()]
    vs = bench["vs_authors_same_machine"]
    # the two training sizes the authors' agent was timed at: the largest network at the largest batch, and the
    # smallest batch of the next width; sampling at the largest width
    train = sorted(bench["train"], key=lambda r: (r["hidden"][0], r["batch"]))
    t_big = train[-1]
    t_small = next(r for r in train if r["hidden"][0] < t_big["hidden"][0] and len(r["hidden"]) == len(t_big["hidden"]))
    s32, s16 = (next(r for r in bench["sample"] if r["hidden"] == t_big["hidden"] and r["compute_dtype"] == d)
                for d in ("float32", "bfloat16"))  # fmt: skip
    n_seeds = max(bench["seeds"][0]["per_seeds"], key=int)
    seeds = "; ".join(
        f"{r['per_seeds'][n_seeds]['time_ratio_vs_1_seed']:.1f}× ({_dims(r['hidden'])})" for r in bench["seeds"]
    )
    single = _anchor_best(anchor, "sample_single", hidden=t_big["hidden"][0])

    def key(r):
        return f"{r['hidden'][0]}x{len(r['hidden'])}"

    a_big, a_small = vs[f"train {key(t_big)} b{t_big['batch']}"], vs[f"train {key(t_small)} b{t_small['batch']}"]
    s_vs32, s_vs16 = (vs[f"sample {key(s32)} {d} per action"] for d in ("float32", "bfloat16"))
    train_table = "\n".join([
        "| measurement | ours | authors' agent, same machine | ours / authors' |",
        "|---|---|---|---|",
        f"| training, {_dims(t_big['hidden'])}, batch {t_big['batch']} | {t_big['steps_per_s']:.1f} steps/s "
        f"({t_big['gflops']:.0f} GFLOP/s, "
        f"{t_big['fraction_of_matmul']:.0%} of matmul) | {a_big['authors_steps_per_s']:.1f} steps/s | "
        f"{a_big['speedup']:.2f}× |",
        f"| training, {_dims(t_small['hidden'])}, batch {t_small['batch']} | {t_small['steps_per_s']:.0f} steps/s "
        f"({t_small['gflops']:.0f} GFLOP/s) | "
        f"{a_small['authors_steps_per_s']:.0f} steps/s | {a_small['speedup']:.2f}× |",
        f"| {n_seeds} vmapped seeds vs 1 (time per step) | {seeds} | — | |",
        f"| guided sampling, {s32['states']} states × {s32['num_w']} w × {s32['flow_steps']} steps, "
        f"{_dims(s32['hidden'])} | "
        f"{s32['ms_per_action']:.3f} ms/action float32; {s16['ms_per_action']:.3f} ms/action with "
        f"`compute_dtype=\"bfloat16\"` | {s_vs32['authors_vmapped_ms']:.3f} ms/action (their sampler fails on a "
        f"batch; vmapped by hand) | {s_vs32['speedup']:.2f}× / {s_vs16['speedup']:.2f}× |",
        f"| one action, one call, {_dims(bench['sample_one_at_a_time']['hidden'])} | "
        f"{bench['sample_one_at_a_time']['ms_per_action']:.2f} ms | "
        f"{single['median_ms']:.2f} ms | |",
    ])  # fmt: skip
    runs = {(tuple(r["hidden"]), r["compute_dtype"], r["lockstep"]["rollouts"]): r for r in ev["eval"]["runs"]}
    sizes = sorted({(h, d) for h, d, _ in runs}, key=lambda k: (-k[0][0], k[1] != "float32"))
    counts = sorted({n for *_, n in runs})
    small, big = counts[0], counts[-1]
    rows = [
        f"| lockstep, {big} rollouts | lockstep, {small} rollouts | one at a time | vs one at a time "
        "| authors' / ours (across machines) |",
    ]
    eval_rows = []
    for h, d in sizes:
        rb, rs = runs[(h, d, big)], runs[(h, d, small)]
        cross = rb["cross_machine_vs_authors"]
        eval_rows.append(
            f"| {_dims(list(h))} {d} | {rb['lockstep']['s_per_1000_step_episode']:.3f} s | "
            f"{rs['lockstep']['s_per_1000_step_episode']:.3f} s | "
            f"{rb['one_at_a_time']['s_per_1000_step_episode']:.2f} s "
            f"| {rb['speedup_lockstep_vs_one_at_a_time']:.1f}× | {cross['ratio_authors_over_lockstep']:.0f}× |"
        )
    eval_table = "\n".join(["| policy " + rows[0], "|---|---|---|---|---|---|", *eval_rows])
    large_h, small_h = sizes[0][0], sizes[-1][0]
    b32, b16 = runs[(large_h, "float32", big)], runs[(large_h, "bfloat16", big)]
    flops_per_action = 2 * s32["flow_steps"] * 2 * b32["params"]  # cond + uncond per Euler step, 2 FLOP per weight
    values = dict(
        cores=bench["cpu_count"], mm_anchor=vs["anchor_matmul_gflops"], mm_bench=bench["matmul_gflops"]["float32"],
        layers=len(t_big["hidden"]), bench_file=f"benchmarks/results/{BENCH_TRAIN}",
        anchor_file=f"benchmarks/results/{ANCHOR}", train_table=train_table,
        eval_file=f"benchmarks/results/{BENCH_EVAL}", eval_cores=ev["cpu_count"],
        mm_eval=ev["matmul_gflops"]["float32"], max_steps=ev["eval"]["max_steps"], rollouts_big=big,
        succ_big_small=sum(w["successes"] for w in runs[(small_h, "float32", big)]["lockstep"]["windows"][:1]),
        succ_big_large=sum(w["successes"] for w in b32["lockstep"]["windows"][:1]),
        small=_dims(list(small_h)), large=_dims(list(large_h)), one_rollouts=b32["one_at_a_time"]["rollouts"],
        authors_s=b32["cross_machine_vs_authors"]["authors_s_per_1000_step_episode"], eval_table=eval_table,
        one_bf16=b16["one_at_a_time"]["s_per_1000_step_episode"],
        one_f32=b32["one_at_a_time"]["s_per_1000_step_episode"],
        bf16_vs_f32_one=b32["one_at_a_time"]["s_per_1000_step_episode"] / b16["lockstep"]["s_per_1000_step_episode"],
        flow_steps=s32["flow_steps"], mflop=flops_per_action / 1e6, small_train=_dims(t_small["hidden"]),
        small_batch=t_small["batch"], small_gflops=t_small["gflops"], small_frac=t_small["fraction_of_matmul"],
        small_speedup=a_small["speedup"], bf16_speedup=s32["ms_per_action"] / s16["ms_per_action"],
        s_per_1000_actions=flops_per_action * 1000 / (s32["gflops"] * 1e9), sample_gflops=s32["gflops"],
    )  # fmt: skip
    return fill(TSPEED, values, "README speed")


TPHYSICS = """\
Evaluation against the simulator's limit (`benchmarks/bench_physics.py`, the second half of `make bench`;
`benchmarks/results/{file}`: {device}, {cpu}, commit `{commit}`, load average {load:.1f} before it).
One raw MuJoCo step of pointmaze-large (`mj_step` × frame skip) takes {raw_us:.1f} µs on one thread, so the
machine's cores could step {limit:,.0f} env steps/s: the limit. The serial ceiling of an evaluation is the rate it
would reach if its policy calls and the batched physics each ran at the rates measured in it, one after the other,
with nothing else (the reciprocal of the summed reciprocals of the policy-bound and physics rates).

| what is stepped | env steps/s | of the limit | policy's share of the wall time | serial ceiling (of the limit) |
|---|---|---|---|---|
{table}

The target is {target:.0%} of the limit, policy included, with the cpu preset's policy; {verdict}. The physics is
no longer what limits it: stepped alone it runs at {batched_frac:.0%} of the limit in one threaded MuJoCo call
(`ogbench.maze_batch`; OGBench's own `env.step` on threads: {reference_frac:.0%}). The policy is: {flow_steps}
Euler steps of a guided flow, each a conditional and an unconditional pass of the {net} network, per env step.
Even with physics that took no time the evaluation could not exceed {ceiling:,.0f} env steps/s
({ceiling_frac:.0%} of the limit) on these cores, and the loop already runs at {of_ceiling:.0%} of its serial
ceiling: what is left is the policy's arithmetic, so the target needs a cheaper policy (fewer flow steps, a
narrower network, or bfloat16 on a CPU that has it) or more cores."""


def _physics_row(name: str, r: dict) -> str:
    if name == "actors_05":
        who = (f"notebook 05's actors ({len(r['ws'])} w, {len(r['inv_betas'])} 1/β, seed kept), "
               f"{r['rollouts']} rollouts")  # fmt: skip
        path = "batched"
    else:
        path = "reference" if name.endswith("reference") else "batched"
        who = (
            "seed 0" if r["policies"] == 1 else f"{r['policies']} seeds in one lockstep"
        ) + f", {r['rollouts']} rollouts"
    return (
        f"| evaluation, {who}, {path} physics | {r['env_steps_per_s']:,.0f} | {r['fraction_of_limit']:.0%} "
        f"| {r['policy_share']:.0%} | {r['serial_ceiling_env_steps_per_s']:,.0f} "
        f"({r['serial_ceiling_fraction_of_limit']:.0%}) |"
    )


def speed_physics(bench_dir: Path) -> str:
    b = _json(bench_dir / BENCH_PHYSICS)
    limit, phys, ev = b["limit"]["env_steps_per_s"], b["physics"], b["evaluation"]
    rows = [
        f"| physics alone, {phys['rows']} rollouts, OGBench's `env.step` on {phys['threads']} threads "
        f"| {phys['reference']:,.0f} | {phys['fraction_of_limit']['reference']:.0%} | — | — |",
        f"| physics alone, {phys['rows']} rollouts, batched (`maze_batch`) "
        f"| {phys['batched']:,.0f} | {phys['fraction_of_limit']['batched']:.0%} | — | — |",
    ]
    names = [k for k, v in ev.items() if isinstance(v, dict)]
    rows += [_physics_row(name, ev[name]) for name in names]
    preset_runs = [k for k in names if k != "actors_05"]  # the target is about the cpu preset's policy
    best = max((ev[k] for k in preset_runs), key=lambda r: r["env_steps_per_s"])
    target = b["target_fraction_of_limit"]
    met = best["fraction_of_limit"] >= target
    verdict = (
        f"{'met' if met else 'not met'}: the best evaluation runs at {best['fraction_of_limit']:.0%} "
        f"({best['env_steps_per_s']:,.0f} env steps/s), against {ev[preset_runs[0]]['fraction_of_limit']:.0%} "
        f"with OGBench's env (seed 0)"
    )
    values = dict(
        file=BENCH_PHYSICS, device=b["device"], cpu=b.get("cpu_model", "CPU model not recorded"),
        cores=b["cpu_count"], commit=b["commit"], load=b["loadavg_before"][0], raw_us=b["limit"]["raw_step_us"],
        limit=limit,
        table="\n".join(rows), target=target, verdict=verdict, batched_frac=phys["fraction_of_limit"]["batched"],
        reference_frac=phys["fraction_of_limit"]["reference"], flow_steps=ev["flow_steps"],
        net=ev["network"], ceiling=best["policy_bound_env_steps_per_s"],
        ceiling_frac=best["policy_bound_env_steps_per_s"] / limit,
        of_ceiling=best["env_steps_per_s"] / best["serial_ceiling_env_steps_per_s"],
    )  # fmt: skip
    return fill(TPHYSICS, values, "README speed (physics)")


# ---------------------------------------------------------------------------------------------------------- 07

T07 = """\
(`fig07_summary.json`, `results/pgd_agents/{preset}/<task>/results.json`; preset `{preset}`: the point-mass reward
task of our design with mixed-quality data, {seeds} seeds, {steps:,} agent steps, {synth} of {batch} rows
synthetic, regenerated every {regen:,} steps, pre-registered $\\lambda = {lam:g}$; normalised scores, mean ± std
over seeds, paired differences mean ± SE):

{table}

PGD beat both real-only and unguided data in {met3} of {cells} task × agent cells ({verdict}). Separated
comparisons at the pre-registered λ (paired t-test, p < 0.05): {separated}; the smallest p: {closest}.
{paper_status}"""


def results_07(figures: Path, results: Path) -> str:
    s = pgd_agents.summary_values(committed_07(results), PRESET)
    keys = ("preset", "seeds", "steps", "synth", "batch", "regen", "lam", "table", "met3", "cells", "verdict",
            "separated", "closest", "paper_status")  # fmt: skip
    return fill(T07, {k: s[k] for k in keys}, "README results07")


# ---------------------------------------------------------------------------------------------------------- 08

T08 = """\
(`fig08_table.csv`, `results/gc_studies/{tier}/*.json`; tier `{tier}`: datasets regenerated with OGBench's recipe,
{seeds} seeds, {hidden} MLPs, batch {batch}, {steps:,} steps per network (the hierarchy's: {hier_steps:,}), {episodes}
episodes × {n_tasks} evaluation
tasks per seed and `w`; the last two rows are notebook 04's `cpu` runs). Success in %, mean ± std over seeds
(ddof = 1):

{table}

Shared minus separate networks on pointmaze-large, paired over seeds (mean ± SE, points): {abl_line}; {n_sep} of
{n_ws} beyond the noise (paired t-test, p < 0.05; closest: {abl_closest}). HCFGRL against the flat network on
giant, seed means:
`w = 1` {hier_w1:.1f} % vs {flat_w1:.1f} %, `w = {w3:g}` {hier_w3:.1f} % vs {flat_w3:.1f} %
(flat: {flat_steps:,} steps; each of the hierarchy's networks: {hier_steps:,}). Our reference has no paper number
for state-based cube-single or for these hierarchy rows. {paper_status}"""


def table_08(figures: Path) -> str:
    """Notebook 08's table: success (%) mean ± std (ddof 1) over seeds, from fig08_table.csv."""
    rows = _rows(figures / "fig08_table.csv")
    cols = ["flow BC (w=0)", "flow GCBC (w=1)", "CFGRL (w=3)", "CFGRL (validated w)"]
    out = [
        "| env | method | preset | run | `w = 0` | `w = 1` | `w = 3` | validated `w` | validated `w` per seed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [_pm(r[c + " mean"], r[c + " std"], ".1f") for c in cols]
        env = r["env"].replace("pointmaze-", "").replace("-navigate-v0", "").replace("-play-v0", "")
        out.append(f"| {env} | {r['method']} | {r['preset']} | {r['run']} | " + " | ".join(cells)
                   + f" | {r['validated w per seed']} |")  # fmt: skip
    return "\n".join(out)


def results_08(figures: Path, results: Path) -> str:
    runs, flat = committed_08(results)
    s = gc_studies.summary_values(runs, PRESET, flat)
    keys = ("tier", "seeds", "hidden", "batch", "steps", "episodes", "n_tasks", "abl_line", "n_sep", "n_ws", "hier_w1",
            "flat_w1", "w3", "hier_w3", "flat_w3", "flat_steps", "hier_steps", "paper_status",
            "abl_closest")  # fmt: skip
    return fill(T08, dict({k: s[k] for k in keys}, table=table_08(figures)), "README results08")


T09 = """\
(`fig09_summary.json`, `results/kl_budget/{preset}/result.json`; preset `{preset}`: notebook 04's `{source}`
policies, {seeds} seeds per maze, KL from {samples} actions at each of {states} dataset states per maze and `w`,
through a {steps}-step Euler map whose gridded densities integrate to one within {mass_error:.3f} up to
`w = {mass_w:g}`; no training.)

- How far guidance moves the policy, mean KL(pi_w || pi_hat) over dataset states in nats (mean ± std over seeds):
  {kl_lines}.
- Best `w` per maze by the evaluation (oracle, only to ask whether the mazes line up): {peak_lines}. {line_up}
- `w` by a KL budget of {budget:.2f} nats, set on {cal_env}'s validation-chosen `w`: success minus each seed's own
  validated `w` {vs_validated} points ({vs_validated_verdict}); minus the fixed `w = {fixed_w:g}` {vs_fixed}
  ({vs_fixed_verdict}); minus GCBC {vs_gcbc} ({vs_gcbc_verdict}); {pairs} maze-seed pairs, paired mean ± SE."""


def committed_09(results: Path) -> tuple[dict, dict]:
    """Notebook 09's committed measurement of the README's preset and notebook 04's results it measured."""
    folder = results / kl_budget.EXPERIMENT.name / PRESET
    result = kl_budget.EXPERIMENT.load_result(kl_budget.result_path(PRESET, folder))
    return result, kl_budget.sources(result, results)


def results_09(figures: Path, results: Path) -> str:
    s = kl_budget.summary_values(*committed_09(results))
    keys = ("preset", "source", "seeds", "samples", "states", "steps", "mass_error", "mass_w", "kl_lines",
            "peak_lines", "line_up", "budget", "cal_env", "vs_validated", "vs_validated_verdict", "fixed_w", "vs_fixed",
            "vs_fixed_verdict", "vs_gcbc", "vs_gcbc_verdict", "pairs")  # fmt: skip
    return fill(T09, {k: s[k] for k in keys}, "README results09")


# ---------------------------------------------------------------------------------------------------------- costs

TCOSTS = """\
`make test` took {test_min:.0f} minutes for {test_passed} tests ({test_skipped} skipped) on {test_machine} at commit
`{test_commit}` ({test_env}; `benchmarks/results/make_test.json`, from the suite's own record
`build/test_run.json`). `make test-quick` (`pytest {quick_args}`: the tests not marked slow) took {quick_min:.0f}
minutes for {quick_passed} tests ({quick_skipped} skipped) on {quick_machine} at commit `{quick_commit}`
(`benchmarks/results/make_test_quick.json`, the same kind of record). `make figures`, full settings, by notebook
from `figures/notebook_times.json` (the last recorded full run of each; a run that reused committed results is not
recorded): {nb_times}; in all {nb_total:.0f} minutes for the {nb_count} notebooks on record, on the machines each
ran on ({nb_machines}; one notebook's timings on two CPUs can differ widely). {nb_missing} The experiments behind
those carry their own cost: notebook 05's runs {cost05} minutes (the `cpu` preset's tasks, then the mechanism row:
`results/offline_rl/{{cpu,mechanism}}/*.json`, `timings`) and its critic check {cost05c:.0f} minutes
(`results/critic_budget/cpu/*.json`, `seconds`), notebook 06's two
runs {cost06} minutes (`results/pgd/cpu*/results.json`, `seconds`), notebook 07's two
tasks {cost07} minutes (`results/pgd_agents/cpu/*/results.json`, `seconds`), notebook 08's studies {cost08:.0f}
minutes (its summary)."""


def costs(figures: Path, results: Path, bench: Path) -> str:
    """What `make test`, `make test-quick` and `make figures` cost, from the records: never a typed figure."""
    test, quick = _json(bench / "make_test.json"), _json(bench / "make_test_quick.json")
    times = _json(figures / "notebook_times.json")
    full = {name.removesuffix(".ipynb"): t["full"] for name, t in sorted(times.items()) if "full" in t}
    every = sorted(p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    missing = [n for n in every if n not in full]
    by_machine = {}  # machine -> the notebooks whose full time was taken there
    for name in full:
        by_machine.setdefault(times[f"{name}.ipynb"].get("full_machine", "machine not recorded"), []).append(name[:2])
    off = [offline_rl.cost_minutes(_json(p)) for preset in ("cpu", "mechanism")
           for p in sorted((results / "offline_rl" / preset).glob("*.json"))]  # fmt: skip
    critic_check = sum(_json(p)["seconds"] for p in (results / "critic_budget" / "cpu").glob("*.json")) / 60
    pgd = [_json(p)["seconds"]["total"] / 60 for p in sorted((results / "pgd_agents" / "cpu").glob("*/results.json"))]
    values = dict(
        test_min=test["seconds"] / 60, test_passed=test["passed"], test_skipped=test["skipped"],
        test_machine=test["machine"], test_commit=test["commit"], test_env=test["environment"],
        quick_args=shlex.join(quick["args"]), quick_min=quick["seconds"] / 60, quick_passed=quick["passed"],
        quick_skipped=quick["skipped"], quick_machine=quick["machine"], quick_commit=quick["commit"],
        nb_times="; ".join(f"{n[:2]} {s / 60:.1f} min" for n, s in full.items()), nb_total=sum(full.values()) / 60,
        nb_count=len(full), nb_machines="; ".join(f"{', '.join(n)}: {m}" for m, n in by_machine.items()),
        nb_missing=f"Not on record: {', '.join(n[:2] for n in missing)}." if missing else "All are on record.",
        cost05=" + ".join(f"{m:.0f}" for m in off), cost05c=critic_check, cost07=" + ".join(f"{m:.0f}" for m in pgd),
        cost06=" + ".join(f"{_json(p)['seconds']['total'] / 60:.0f}"
                          for p in sorted((results / "pgd").glob("cpu*/results.json"))),
        cost08=_json(figures / "fig08_summary.json")["values"]["total_minutes"],
    )  # fmt: skip
    return fill(TCOSTS, values, "README costs")


PAPER_TYPE = {  # notebook -> its experiment and the option of its script that runs the paper's sizes
    "04": (gx.EXPERIMENT, "--preset paper"),
    "05": (offline_rl.EXPERIMENT, "--preset paper"),
    "06": (pgd_pointmass.EXPERIMENT, "--preset paper"),
    "07": (pgd_agents.EXPERIMENT, "--preset paper"),
    "08": (gc_studies.EXPERIMENT, "--tier paper"),
}


def _device(path: Path) -> str:
    record = _json(path)
    return str(record.get("device") or record.get("device_description") or "device not recorded")


def gpu_runs(results: Path) -> str:
    """One row per experiment: its paper-type folders on record, with their result files and devices, or that
    none has run: from the files, never typed."""
    out = ["| notebook | experiment | paper-type runs on record |", "|---|---|---|"]
    for notebook, (experiment, option) in PAPER_TYPE.items():
        folders, found = experiment.paper_dirs(results), []
        for folder in folders:
            files = sorted(p for p in folder.rglob("*.json") if p.name != "config.json" and "train" not in p.parts)
            devices = sorted({_device(p) for p in files})
            found.append(f"`{folder.relative_to(results.parent)}/`: {len(files)} result file(s), {', '.join(devices)}")
        none = f"none yet: `python {experiment.script} {option}` (a GPU job)"
        out.append(f"| {notebook} | `{experiment.name}` | " + ("; ".join(found) or none) + " |")
    return "\n".join(out)


def dtype_check_block(results: Path) -> str:
    fp32, bf16 = dtype_check.load_pair(results=results)
    scale = dtype_check.compare_machines(dtype_check.load_committed(results=results), fp32)
    return dtype_check.summary_line(dtype_check.compare(fp32, bf16), scale)


BLOCKS = {
    "results01": lambda figures, results, bench: results_01(figures),
    "results02": lambda figures, results, bench: results_02(figures),
    "results03": lambda figures, results, bench: results_03(figures),
    "results04": lambda figures, results, bench: results_04(figures, results),
    "results05": lambda figures, results, bench: results_05(figures, results),
    "results06": lambda figures, results, bench: results_06(figures, results),
    "results07": lambda figures, results, bench: results_07(figures, results),
    "results08": lambda figures, results, bench: results_08(figures, results),
    "results09": lambda figures, results, bench: results_09(figures, results),
    "speed": lambda figures, results, bench: speed(bench),
    "speed_physics": lambda figures, results, bench: speed_physics(bench),
    "dtype_check": lambda figures, results, bench: dtype_check_block(results),
    "costs": costs,
    "gpu_runs": lambda figures, results, bench: gpu_runs(results),
}


def render(text: str, figures: Path, bench: Path | None = None, results: Path | None = None) -> str:
    """`text` with every generated block re-rendered from the data under `figures`, `results` (the committed
    results, default results/) and `bench`."""
    bench = bench or REPO / "benchmarks" / "results"
    results = results or REPO / "results"
    for name, make in BLOCKS.items():
        pattern = re.compile(rf"(<!-- BEGIN {name} -->\n)(?:.*?\n)?(<!-- END {name} -->)", re.S)
        if not pattern.search(text):
            raise ValueError(f"README has no block {name!r} (<!-- BEGIN {name} --> ... <!-- END {name} -->)")
        body = make(figures, results, bench)
        text = pattern.sub(lambda m, body=body: m.group(1) + body + "\n" + m.group(2), text)
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if a block is stale")
    parser.add_argument("--figures", type=Path, default=REPO / "figures")
    args = parser.parse_args(argv)
    old = README.read_text()
    new = render(old, args.figures)
    if args.check:
        if new != old:
            sys.stdout.writelines(
                difflib.unified_diff(old.splitlines(True), new.splitlines(True), "README.md", "rendered")
            )
            return 1
        return 0
    if new != old:
        from cfgrl_core.io.atomic import atomic_write_bytes

        atomic_write_bytes(README, new.encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
