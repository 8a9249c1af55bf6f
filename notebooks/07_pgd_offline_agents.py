# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: -all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version,-widgets,-varInspector
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · Does policy-guided data help an offline agent? TD3+BC and IQL on real, unguided and PGD data
#
# **Paper claim** (Jackson et al. 2024, "Policy-Guided Diffusion", abstract and Figure 1): synthetic experience
# from a trajectory diffusion model, guided towards the agent's *current* policy and regenerated as the policy
# improves, is a drop-in substitute for the real data that improves standard offline agents (TD3+BC and IQL)
# over training on the real data or on unguided synthetic data.
#
# **You will learn**
# - how PGD's outer loop works: an unguided trajectory model trained once, an unguided first synthetic dataset,
#   then regeneration every $K$ agent steps with guidance $\lambda\nabla_a\log\pi_\text{current}$;
# - how TD3+BC and IQL are held to the data (a behaviour-cloning term; in-sample advantages) and why on-policy
#   synthetic data could loosen that hold;
# - what the regenerated data are worth while the policy changes (likelihood under the current policy,
#   dynamics error against the true simulator), and what happens when $\lambda$ is too large.
#
# The paper's tables could not be read for this collection (`shared/reference/pgd.md` §0, §4.2), so nothing
# here is compared with its numbers. **The task is our design** (reference §7.3, tier 2a).

# %% [markdown]
# ## Setup
# `cfgrl_core.agents` holds TD3+BC (`td3_bc`) and IQL as one agent (`iql_agent`: the IQL critic of notebook 05
# with a Gaussian advantage-weighted actor). `cfgrl_core.pgd` holds the reward task (`reward_task`), the mixed
# replay and the guidance density (`synthetic_replay`); the run itself is `cfgrl_core.experiments.pgd_agents`
# (presets, the resumable outer loop, results on disk, the pre-registered criteria and the Summary's values), which
# reuses notebook 06's trajectory model and guided sampler.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from cfgrl_core.experiments import pgd_agents as oa
from cfgrl_core.io.figures import figures_dir, save_figure
from cfgrl_core.io.summary import save_summary
from cfgrl_core.pgd import pointmass, reward_task

# %% [markdown]
# ## Parameters
# `FAST=1` (the test suite) runs the `fast` preset; `make figures` runs `cpu` (two tasks, about 25 minutes on 2
# cores); `CFGRL_PGD_AGENTS_PRESET=paper` selects the larger sizes (`scripts/run_pgd_agents.py --preset paper`).
# `CFGRL_REUSE_RESULTS=1` loads the committed run instead of training. Only plain assignments here.

# %% tags=["parameters"]
FAST = int(os.environ.get("FAST", "0"))

# %%
PRESET = oa.get_preset("fast" if FAST else os.environ.get("CFGRL_PGD_AGENTS_PRESET", "cpu"))
RESULTS_DIR = figures_dir() / "pgd_agents_fast" if FAST else oa.results_dir(PRESET.name)
REUSE = os.environ.get("CFGRL_REUSE_RESULTS", "0") == "1"
LAM = PRESET.lam
HEADLINE = oa.headline_arms(PRESET)  # real, unguided, pgd_<lam>
TASKS = [oa.task_name(g) for g in PRESET.good_fractions]
AGENT_NAMES = oa.AGENT_NAMES

# %% [markdown]
# ## Acceptance criteria, fixed before any agent was trained
# Written down before the results (reference §7.3), and evaluated by the code below, not by eye. A seed is one
# trajectory model and one run of each arm; all arms of a seed share initial parameters, minibatch keys and the
# first synthetic dataset, so differences between arms are paired. "Above" means the mean paired difference over
# seeds is positive and a paired t-test over seeds ($n - 1$ degrees of freedom, two-sided) gives $p < 0.05$.
#
# 1. **On-policy data.** At every regeneration the PGD arm's synthetic actions have a higher mean log-likelihood
#    under the current policy than the unguided arm's (mean over seeds).
# 2. **Physical data.** The PGD data's dynamics error, averaged over the regenerations, stays within 1.5 times the
#    unguided data's.
# 3. **Better agents.** For each agent, PGD's final normalised score is above both real-only and unguided.
#
# The headline $\lambda = 2.5$ is pre-registered: notebook 06's validated $\lambda^* = 0.1$ for a target policy
# with noise 0.2 adds a precision of $0.1/0.2^2 = 2.5$ to the per-step action factor
# $\pi_\text{off}\,\pi^\lambda$; with our unit-variance guidance density the same added precision is
# $\lambda = 2.5$. The $\lambda$ sweep (TD3+BC only) is shown as a sweep and never used to pick the headline.
# If criterion 3 fails, that is the result.

# %% [markdown]
# ## Theory
# **The agents.** TD3+BC trains twin critics by TD with a smoothed target action and a deterministic actor on
# $-\lambda_Q\,Q_1(s,\mu(s)) + \|\mu(s) - a\|^2$ with $\lambda_Q = \alpha/\overline{|Q_1|}$, $\alpha = 2.5$: the
# BC term holds $\mu$ to the batch's actions. IQL fits $V$ by an upper expectile ($\tau = 0.7$) of $Q$ over the
# batch's actions and extracts a policy by advantage-weighted regression ($e^{3A}$, clipped at 100): it never
# evaluates an action outside the batch. Both are held to *whatever actions the batch holds*.
#
# **Why PGD data could help.** Unguided synthetic data have the behaviour's action distribution. Regenerated PGD
# data have, per step, actions from $\pi_\text{off}\,\pi_\text{current}^\lambda$ (notebook 06): inside the
# behaviour's support, but moved towards what the agent now does. With 240 of every 256 rows synthetic, TD3+BC's
# BC term then pulls towards the supported actions nearest its own policy, and IQL's in-sample maximum ranges over
# actions near its policy: the constraint is relaxed where the data support it. Nothing is free: the first
# dataset is unguided, a wrong policy guides the data towards its own mistakes, and a large $\lambda$ leaves the
# model's support (dynamics error).
#
# **The task** (`reward_task`): notebook 06's point-mass world, reward $r(s') = e^{-\|s' - g_r\|^2 / (2\cdot
# 0.3^2)}$ at $g_r = (0.7, 0.7)$, the pit a terminal, 40 steps. Each behaviour episode draws a noisy (std 0.5)
# proportional controller, to a wrong goal $(1, 0)$ or, with probability $p_\text{good}$, to $g_r$. Scores are
# D4RL-style: 0 for uniform random actions, 100 for the noise-free expert controller.
#
# The `cpu` preset holds two tasks. $p_\text{good} = 0.2$ was designed first. A **real-data-only** probe (no
# synthetic data and no PGD result seen; TD3+BC and IQL, 3 seeds, 20,000 steps) then found the real-data agents
# near the expert at $p_\text{good} = 0.2$ and 0.1, which leaves PGD little to improve, so $p_\text{good} =
# 0.05$ was added as the harder task. Both are reported. By the same near-the-expert mark (`NEAR_EXPERT` in the
# checks below) the committed real-data agents of the harder task are still near the expert too (the table's
# `real` column), so adding it did not open the room for PGD that the probe's reasoning expected.
#
# **What is missing about that probe.** Its numbers were not saved, and its exact sizes were not written down. What
# is committed instead is a *reconstruction* run after the PGD results were known (`pgd_agents.real_data_probe`,
# `results/pgd_agents/probe-real-cpu/results.json` with its commit and device): the `real` arm of the `cpu` preset
# alone at $p_\text{good} = 0.1$, with the same seeds, keys and evaluation starts. At 0.2 and 0.05 the same
# computation is the committed run's `real` arm (a test checks that this path gives the real arm's numbers bit for
# bit). It shows what the probe could have seen; it cannot show what the original probe saw. The Summary prints it.

# %% [markdown]
# ## The data

# %%
runs = oa.obtain(PRESET, RESULTS_DIR, reuse=REUSE)
datasets = {t: reward_task.load_dataset(RESULTS_DIR / t / "mixed.npz")[0] for t in TASKS}
refs = runs[TASKS[0]]["agents"][PRESET.agents[0]]["references"]

fig, axes = plt.subplots(1, len(TASKS), figsize=(5 * len(TASKS), 4.6), squeeze=False)
grid = np.linspace(-0.5, 1.5, 121)
gx, gy = np.meshgrid(grid, grid)
for ax, t in zip(axes[0], TASKS, strict=True):
    data = datasets[t]
    ax.contourf(gx, gy, reward_task.reward(oa.TASK, np.stack([gx, gy], -1)), levels=12, cmap="Greens", alpha=0.5)
    starts = np.r_[0, np.flatnonzero(np.diff(data["episode_ids"])) + 1]
    for e, start in enumerate(starts[:80]):
        stop = starts[e + 1] if e + 1 < len(starts) else len(data["rewards"])
        k = data["behaviour_ids"][start]
        path = np.concatenate([data["observations"][start:stop], data["next_observations"][stop - 1 : stop]])
        ax.plot(*path.T, color=("tab:gray", "tab:blue")[k], lw=0.8, alpha=0.6 if k else 0.35)
    ax.add_patch(plt.Circle(oa.TASK.world.pit_centre, oa.TASK.world.pit_radius, color="k", alpha=0.7))
    ax.plot(*oa.TASK.goal, "g*", ms=14)
    ax.plot(*reward_task.WRONG.goal, "rx", ms=10, mew=2)
    good = data["behaviour_ids"][starts] == 1
    ax.set(title=f"{t}: {good.sum()} of {len(starts)} episodes to $g_r$", xlim=(-0.5, 1.5), ylim=(-0.5, 1.5),
           aspect="equal")  # fmt: skip
fig.suptitle("Behaviour episodes (blue: to the rewarded goal, grey: to the wrong goal); pit in black")
task_table = pd.DataFrame(oa.task_rows(datasets, refs))  # episodes, good ones, transitions, their scores
save_figure(fig, "fig07_task", task_table.to_dict("list"), meta={"preset": PRESET.name})
display(task_table.round(1))

# %% [markdown]
# The real data have zero dynamics error by construction (so the synthetic data's error is the model's alone), and
# the normalised score puts uniform random actions at 0 and the expert at 100.

# %%
for data in datasets.values():
    assert np.abs(pointmass.step(oa.TASK.world, data["observations"], data["actions"])
                  - data["next_observations"]).max() == 0  # fmt: skip
assert np.allclose(reward_task.normalised_score([refs["random"], refs["expert"]], refs), [0, 100])

# %% [markdown]
# ## Return over training
# Each arm's normalised score at every regeneration point (mean over seeds, band: std over seeds), on 50 seeded
# evaluation episodes per run (`eval_episodes`), its deterministic policy in the true simulator.


# %%
def arm_curves(t, agent, arm, key="curve_score"):
    return oa.arm_curves(runs[t], agent, arm, key)


COLORS = {"real": "k", "unguided": "tab:orange", f"pgd_{LAM:g}": "tab:blue"}
curves = pd.DataFrame(oa.return_curve_rows(runs, PRESET))  # mean and std over seeds per task, agent, arm, step
fig, axes = plt.subplots(len(TASKS), len(PRESET.agents), figsize=(5.5 * len(PRESET.agents), 3.6 * len(TASKS)),
                         squeeze=False, sharey=True)  # fmt: skip
for i, t in enumerate(TASKS):
    for j, agent in enumerate(PRESET.agents):
        ax = axes[i, j]
        for arm in HEADLINE:
            c = curves[(curves["task"] == t) & (curves["agent"] == agent) & (curves["arm"] == arm)]
            steps, mu, sd = (c[k].to_numpy() for k in ("step", "score_mean", "score_std"))
            ax.plot(steps, mu, color=COLORS[arm], label=arm)
            ax.fill_between(steps, mu - sd, mu + sd, color=COLORS[arm], alpha=0.15)
        ax.set(title=f"{AGENT_NAMES[agent]}, {t}", xlabel="agent step", ylabel="normalised score" if j == 0 else "")
        ax.axhline(100, color="g", lw=0.5, ls=":")
axes[0, 0].legend()
# the CSV's numbers are the per-seed curves' mean and std
c = arm_curves(TASKS[0], PRESET.agents[0], "real")
np.testing.assert_allclose(curves["score_mean"][: c.shape[1]], c.mean(0), rtol=1e-12)
fig.tight_layout()
save_figure(fig, "fig07_return_curves", curves.to_dict("list"), meta={"preset": PRESET.name})

# %% [markdown]
# ## Final scores and the criteria
# Final normalised score per arm (mean ± std over seeds) and the paired differences that criterion 3 reads.


# %%
final = pd.DataFrame(oa.criteria_table(runs, PRESET))  # criterion 3's "above": `stats.beyond_noise`, positive
display(final.round(2))
for t in TASKS:  # every arm has one finite final score per seed
    for agent in PRESET.agents:
        for arm, a in runs[t]["agents"][agent]["arms"].items():
            assert len(a["final_score"]) == PRESET.num_seeds and np.isfinite(a["final_score"]).all(), (t, agent, arm)

# %%
fig, axes = plt.subplots(1, len(TASKS), figsize=(5.5 * len(TASKS), 3.8), squeeze=False, sharey=True)
for ax, t in zip(axes[0], TASKS, strict=True):
    for j, agent in enumerate(PRESET.agents):
        for k, arm in enumerate(HEADLINE):
            s = np.asarray(runs[t]["agents"][agent]["arms"][arm]["final_score"])
            x = j * (len(HEADLINE) + 1) + k
            ax.bar(x, s.mean(), yerr=s.std(ddof=1), color=COLORS[arm], alpha=0.6, capsize=3,
                   label=arm if j == 0 else None)  # fmt: skip
            ax.plot(np.full(len(s), x), s, "k.", ms=4)
    ax.set_xticks([j * (len(HEADLINE) + 1) + 1 for j in range(len(PRESET.agents))],
                  [AGENT_NAMES[a] for a in PRESET.agents])  # fmt: skip
    ax.set(title=f"final score, {t} (bars: mean ± std; dots: seeds)", ylabel="normalised score")
axes[0, 0].legend(fontsize=8)
fig.tight_layout()
save_figure(fig, "fig07_table", final.to_dict("list"), meta={"preset": PRESET.name, "lam": LAM})

# %% [markdown]
# ## What the regenerated data are worth as the policy changes
# For the synthetic arms at each regeneration point: the mean log-likelihood of the synthetic actions under the
# agent's *current* policy (the unit-variance guidance density, whose maximum is $-\log 2\pi \approx -1.84$), and
# the dynamics error $\|s_{t+1} - f(s_t, u_t)\|$ of the synthetic transitions against the true simulator.
# The unguided arm's data never change; its likelihood moves only because its policy does.

# %%
regen = pd.DataFrame(oa.regenerated_data_rows(runs, PRESET))  # means over seeds per agent, task, arm, measure
fig, axes = plt.subplots(len(PRESET.agents), 2, figsize=(11, 3.4 * len(PRESET.agents)), squeeze=False)
for i, agent in enumerate(PRESET.agents):
    for t, ls in zip(TASKS, ("--", "-", ":"), strict=False):
        steps = np.asarray(runs[t]["agents"][agent]["steps"])
        for arm in HEADLINE[1:]:
            for j, measure in enumerate(("log_lik", "dynamics_error")):
                c = regen[(regen["agent"] == agent) & (regen["task"] == t) & (regen["arm"] == arm)
                          & (regen["measure"] == measure)]  # fmt: skip
                axes[i, j].plot(c["step"], c["mean"], ls=ls, color=COLORS[arm], label=f"{arm}, {t}")
        real_ll = arm_curves(t, agent, "real", "curve_real_log_lik").mean(0)
        axes[i, 0].plot(steps, real_ll, ls=ls, color="k", lw=0.8, label=f"real data under the real arm's policy, {t}")
    axes[i, 0].set(title=f"{AGENT_NAMES[agent]}: log-likelihood under the current policy", xlabel="agent step")
    axes[i, 1].set(title=f"{AGENT_NAMES[agent]}: dynamics error of the synthetic data", xlabel="agent step")
axes[0, 0].legend(fontsize=7)
fig.tight_layout()
save_figure(fig, "fig07_regenerated_data", regen.to_dict("list"), meta={"preset": PRESET.name})

# %% [markdown]
# ## The $\lambda$ sweep (TD3+BC)
# Final score and the data's mean dynamics error against $\lambda$ ($\lambda = 0$: the unguided arm, never
# regenerated). A sweep, read on the same evaluation episodes as everything else: not a selection.

# %%
sweep_agent = PRESET.sweep_agent
lams = [0.0, *PRESET.lam_sweep]
sweep = pd.DataFrame(oa.sweep_table(runs, PRESET))
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for t, marker in zip(TASKS, ("s", "o", "^"), strict=False):
    rows = sweep[sweep["task"] == t]
    for ax, key in zip(axes, ("score", "dynamics_error"), strict=True):
        ax.errorbar(np.arange(len(lams)), rows[f"{key}_mean"], yerr=rows[f"{key}_std"], marker=marker, capsize=3,
                    label=t)  # fmt: skip
for ax, label in zip(axes, ("final normalised score", "dynamics error (mean over regenerations)"), strict=True):
    ax.set_xticks(np.arange(len(lams)), [f"{lam:g}" for lam in lams])
    ax.set(xlabel="$\\lambda$ (0: unguided)", ylabel=label, title=f"{AGENT_NAMES[sweep_agent]}: {label}")
axes[0].legend()
fig.tight_layout()
save_figure(fig, "fig07_lambda_sweep", sweep.to_dict("list"), meta={"preset": PRESET.name})
display(sweep.round(3))

# %% [markdown]
# ## Summary
# Printed from this run's numbers. Scores are normalised (random and expert at the ends of the scale), mean ±
# std over seeds (ddof = 1); paired differences are mean ± SE. The values come from `pgd_agents.summary_values`
# (the README's Results block is rendered with the same function from the committed run); the prose is here.

# %%
S07 = oa.summary_values(runs, PRESET)
save_summary("fig07", r"""
Preset `{preset}`: {seeds} seeds, {steps:,} agent steps, batches of {batch} rows ({synth} synthetic in the
synthetic arms), {windows} generated windows of {horizon} transitions regenerated every {regen:,} steps,
pre-registered $\lambda = {lam:g}$.

{table}

- **Better agents** (PGD above both real-only and unguided, paired t-test $p < 0.05$) holds in {met3} of
  {cells} task × agent cells: {verdict}.
- **Separated comparisons at the pre-registered $\lambda$.** Of the {n_head} task × agent × comparison cells
  (PGD − real, PGD − unguided), {n_sep_head} pass the paired t-test: {separated}. The smallest $p$: {closest}.
- **Separated comparisons in the sweep** (every other $\lambda$ of {sweep_agent}, against real and unguided):
  {sweep_separated}.
- **On-policy data** (the PGD data more likely under the current policy than the unguided data at every
  regeneration) holds in {crit1} of {cells} cells; **physical data** (dynamics error within {tol:g} × the
  unguided data's) in {crit2}.
- **Too much guidance.** The sweep's lowest TD3+BC score is {worst_score:.1f} at $\lambda = {worst_lam:g}$
  ({worst_task}); there the synthetic data's dynamics error is {worst_dyn:.3f}, {dyn_word} the unguided data's
  {dyn_unguided:.3f}.
- **The probe behind the harder task.** {probe}
- **Paper-type runs.** {paper_status}
""", dict(S07, sweep_agent=AGENT_NAMES[PRESET.sweep_agent]), meta={"preset": PRESET.name})  # fmt: skip

# %% [markdown]
# What the text above and the Theory say, asserted on the full results (the `fast` preset's numbers mean
# nothing): no headline comparison is separated, so the better-agents criterion fails everywhere, while the
# on-policy and physical-data criteria hold in every cell; the largest $\lambda$ of the sweep gives the lowest
# score, with data further from the simulator than the unguided data; and the real-data agents of the task designed
# first (the committed run's `real` arm) and of the probe's other task (its reconstruction) score at least
# `NEAR_EXPERT`: the "near the expert" that made us add the harder task.

# %%
if not FAST:
    assert S07["n_sep_head"] == 0 and S07["met3"] == 0 and S07["verdict"] == "not met: a null result"
    assert S07["crit1"] == S07["crit2"] == S07["cells"]
    assert S07["worst_lam"] == max(PRESET.lam_sweep) and S07["worst_dyn"] > S07["dyn_unguided"]
    probe = oa.load_probe(PRESET.name)
    assert probe is not None, "the reconstructed probe is committed with the cpu results"
    real = {"good20": {a: r["arms"]["real"] for a, r in runs["good20"]["agents"].items()},
            "good10": probe["tasks"]["good10"]["agents"]}  # fmt: skip
    NEAR_EXPERT = 75  # normalised score; fixed before the probe's good10 numbers were seen
    real["good05"] = {a: r["arms"]["real"] for a, r in runs["good05"]["agents"].items()}  # the harder task too
    for t, by_agent in real.items():
        assert all(np.mean(a["final_score"]) >= NEAR_EXPERT for a in by_agent.values()), t

# %% [markdown]
# ## Exercises
# 1. Change `Preset.synth_batch` to the batch size minus one (almost purely synthetic, the abstract's "drop-in
#    substitute") and to half the batch: which arm moves most?
# 2. Guide IQL with its own learned $\sigma$ (the released code's choice) instead of the unit-variance density:
#    what does the same $\lambda$ now mean?
# 3. Make the task harder for the real-data agents (narrower behaviour noise, fewer good episodes) and rerun the
#    criteria: when does the in-sample constraint start to bind?
