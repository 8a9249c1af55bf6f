"""Notebook 08's three studies, each one or two runs of the one experiment runner (`experiment.run_experiment`):

    cube       cube-single-play: the shared network's w-curve on manipulation (flow BC, GCBC, CFGRL rows)
    ablation   pointmaze-large: the shared network vs two separate networks (`methods`: "shared", "separate"), the
               same data, steps, batch and seeds, evaluated on the same w grid (the paper's Figure 7)
    hierarchy  pointmaze-giant: HCFGRL ("hierarchical") w-curve; flat CFGRL on giant is notebook 04's committed
               `cpu` run, shown next to it: the `cpu` tier trains each of the hierarchy's two networks for as
               many steps as that flat network (100k, batch 256, 3x256)

Tiers: "fast" (tests, seconds: tiny datasets, tiny nets), "cpu" (what `make figures` runs: 3x256 nets, batch 256,
4 seeds, 30k steps (the hierarchy 100k); each run's measured time is in its result's `timings`, datasets
excluded), "paper" (4x512, batch 1024, 1M steps, 8 seeds:
a GPU job, not run here). Results: results/gc_studies/<tier>/<env>[--<method>].json and the weights beside them.

    runs = obtain_study("ablation", "cpu")          # {method: ExperimentRun}, trained or loaded (resumable)
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from cfgrl_core.io.provenance import REPO_ROOT
from cfgrl_core.ogbench import experiment as gx

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


def get_study(name: str, tier: str) -> Study:
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; choose one of {sorted(TIERS)}")
    if name not in TIERS[tier]:
        raise ValueError(f"unknown study {name!r}; choose one of {sorted(TIERS[tier])}")
    return TIERS[tier][name]


def results_dir(tier: str) -> Path:
    """results/gc_studies/<tier> (or $CFGRL_RESULTS_DIR/gc_studies/<tier>: never notebook 04's folder there)."""
    root = os.environ.get("CFGRL_RESULTS_DIR")
    return (Path(root) if root else REPO_ROOT / "results") / "gc_studies" / tier


def result_file(name: str, tier: str, method: str, root=None) -> Path:
    """<results_dir(tier) or root>/<env>[--<method>].json."""
    study = get_study(name, tier)
    return gx.result_path(study.preset.name, study.env_name, results_dir(tier) if root is None else root, method)


def obtain_study(name: str, tier: str, *, reuse: bool = False, seed: int = 0, data_dir=None, root=None,
                 progress=True, log=print, devices=None):  # fmt: skip
    """{method: ExperimentRun} of one study: each run loaded when finished (reuse, or made by this clean commit),
    otherwise trained and evaluated (resuming an unfinished one; seeds sharded over `devices`);
    `experiment.obtain_run`."""
    study = get_study(name, tier)
    return {
        method: gx.obtain_run(
            study.env_name, study.preset, result_file(name, tier, method, root), reuse=reuse, seed=seed,
            data_dir=data_dir, progress=progress, log=log, method=method, devices=devices,
        )
        for method in study.methods
    }  # fmt: skip


def notebook04_result(env_name: str, preset: str = "cpu") -> dict:
    """Notebook 04's committed result of an env (results/gcbc_cfgrl/<preset>/<env>.json, the JSON only)."""
    return gx.load_results(gx.result_path(preset, env_name, REPO_ROOT / "results" / "gcbc_cfgrl" / preset))
