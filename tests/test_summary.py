"""cfgrl_core.io.summary: a summary's numbers come through placeholders, never typed by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cfgrl_core.io.summary import TypedNumberError, fill, load_summary, save_summary, typed_numbers


@pytest.mark.parametrize(
    "text, typed",
    [
        ("SW2 0.21 at w = 2", ["0.21", "2"]),
        ("about 1/40 of the samples, 3×256 MLPs, 100k steps", ["1", "40", "3", "256", "100"]),
        ("top-10% share, 124 s", ["10", "124"]),
        ("$1/\\beta = 10$", ["10"]),
        ("{x:.2f} ± {y[k]:.1f} at $w = {w:g}$", []),
        ("Theorem 1, Eq. 18, Figures 2 and 3, Table 3, §4.3, `fig04_table.csv`, notebook 04_gcbc_vs_cfgrl_ogbench", []),
        ("flow BC ($w = 0$), GCBC ($w=1$), guidance for $w > 1$, $p(o=1|a)$, the label 1[A ≥ 0]", []),
        ("std over seeds (ddof = 1), a 2-D toy, bfloat16 on x86_64, seconds per 1000 env steps", []),
        ("a literal {{brace}} 7", ["7"]),
    ],
)
def test_typed_numbers(text, typed):
    assert typed_numbers(text) == typed


def test_fill_refuses_a_typed_number_and_names_a_missing_value():
    assert fill("E[A] = {a:.2f} at $w = {w:g}$", {"a": 0.554, "w": 8.0}) == "E[A] = 0.55 at $w = 8$"
    with pytest.raises(TypedNumberError, match=r"types 1 number\(s\) by hand: \['0.55'\]"):
        fill("E[A] = 0.55 at $w = {w:g}$", {"w": 8.0})
    with pytest.raises(KeyError, match="'b', which is not among its values"):
        fill("{a} and {b}", {"a": 1})


def test_save_summary_writes_values_template_and_text(tmp_path, monkeypatch):
    monkeypatch.setenv("CFGRL_FIGURES_DIR", str(tmp_path))
    values = {"best": np.float32(0.25), "ws": np.array([1.0, 2.0]), "n": np.int64(4), "name": "medium"}
    text = save_summary("fig09", "{name}: {best:.2f} over {n} seeds, w in {ws}", values, {"seed": 3}, show=False)
    assert text == "medium: 0.25 over 4 seeds, w in [1. 2.]"
    record = json.loads((tmp_path / "fig09_summary.json").read_text())
    assert record["text"] == text and record["seed"] == 3 and "commit" in record
    assert load_summary(tmp_path / "fig09_summary.json") == {"best": 0.25, "ws": [1.0, 2.0], "n": 4, "name": "medium"}
    assert not list(tmp_path.glob(".*tmp"))  # written atomically
    with pytest.raises(ValueError, match="figNN"):
        save_summary("summary", "x", {}, show=False)
    with pytest.raises(TypedNumberError):
        save_summary("fig09", "best 0.25", {}, show=False)
