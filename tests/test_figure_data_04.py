"""Notebook 04's committed figure data follow from the committed results: fig04_table.csv is `summary_row` of every
cpu result and every paper-type run, and fig04_success_vs_w.csv each seed's success at each w of the same files
(table_to_csv's 6 significant digits). A result edited without re-running the notebook fails here."""

from pathlib import Path

import numpy as np
import pandas as pd

from cfgrl_core.experiments import gcbc_cfgrl as gx
from cfgrl_core.io.figures import table_to_csv

REPO = Path(__file__).resolve().parents[1]


def _results():
    folder = REPO / "results" / "gcbc_cfgrl" / "cpu"
    cpu = {env: gx.load_result(folder / f"{env}.json") for env in gx.get_preset("cpu").env_names}
    return cpu, gx.paper_runs(REPO / "results")


def test_fig04_table_csv_is_the_summary_rows_of_the_committed_results():
    cpu, paper = _results()
    rows = [gx.summary_row(r) for r in cpu.values()] + [gx.summary_row(r) for r in paper.values()]
    assert (REPO / "figures" / "fig04_table.csv").read_text() == table_to_csv(rows)


def test_fig04_success_vs_w_csv_is_each_seeds_success_in_the_committed_results():
    cpu, paper = _results()
    saved = pd.read_csv(REPO / "figures" / "fig04_success_vs_w.csv")
    for result in [*cpu.values(), *paper.values()]:
        ws, per_seed = gx.success_by_w(result)
        part = saved[(saved["env"] == result["env_name"]) & (saved["preset"] == result["preset"]["name"])]
        got = part.pivot(index="seed", columns="w", values="success").to_numpy()
        np.testing.assert_allclose(got, per_seed, rtol=1e-5, err_msg=f"{result['env_name']} {result['preset']['name']}")
    assert len(saved) == sum(np.size(gx.success_by_w(r)[1]) for r in [*cpu.values(), *paper.values()])
