"""Prose whose every number is filled in from the data: notebook summaries and the README's generated blocks.

    text = fill(TEMPLATE, values)               # str.format_map, after refusing any typed number
    text = save_summary("fig03", TEMPLATE, values, meta)   # + shows it as Markdown; figures/fig03_summary.json

A template is Markdown with `str.format` placeholders (`{best_w:g}`, `{s03[awr_flow]:.2f}`; a literal brace is
`{{`). `typed_numbers(template)` lists every number written into it by hand; `fill` refuses a template with
any, so a summary cannot state a number that the data did not produce. Not counted as typed numbers: names of
things (Theorem 1, Eq. 18, Table 3, §4.3, Figures 2 and 3, `fig04_table`, notebook file names, 2-D), the
definitions w = 0 / w = 1 / w > 1, o = 1 and 1[A >= 0], the knob's name 1/beta, the unit "per 1000" and the
convention ddof = 1. Everything
else with a digit in it is data and must come through a placeholder.

The saved JSON holds the values (full precision), the template and the filled text, with the standard
provenance; the README's Results blocks read those values (scripts/render_readme.py), so the README and the
notebook's summary state the same numbers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from cfgrl_core.io.atomic import atomic_write_bytes
from cfgrl_core.io.figures import figures_dir
from cfgrl_core.io.provenance import provenance

__all__ = ["TypedNumberError", "fill", "load_summary", "save_summary", "typed_numbers"]

_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_NAMES = [  # digits that name something rather than measure it
    r"(?:Theorems?|Lemmas?|Remarks?|Eqs?\.|Equations?|Tables?|Figures?|Fig\.|Experiments?|Exercises?|Sections?"
    r"|Cell|[Nn]otebooks?|§)\s*\d+(?:\.\d+)*(?:\s*(?:[–,-]|and|/)\s*\d+(?:\.\d+)*)*",
    r"\bfig\d\d\w*",
    r"\b\d\d_[a-z]\w*",  # notebook files: 04_gcbc_vs_cfgrl_ogbench
    r"\*\*\d\d\s·",  # README headings: **01 · product policies
    r"\b\d-D\b",
    r"(?<![\w.])[wo]\s*(?:\{=\}|=|>|<|≥|\\ge|\\geq)\s*[01](?![\d.])",  # w = 0 (BC), w = 1 (GCBC), w > 1, o = 1
    r"(?<![\w.])1\s*/\s*(?:\\beta|β|beta)",  # the temperature knob's name
    r"ddof\s*=?\s*[01]\b",
    r"1\[A\s*(?:≥|>=|\\ge)\s*0\]",  # the indicator label 1[A >= 0]
    r"\bper\s+1000\b",  # a unit: seconds per 1000 steps
    r"\bp\s*<\s*0\.05\b|\bn\s*[−-]\s*1\$?\s+degrees",  # the verdict rule's convention (stats.LEVEL, its t-test)
    r"\bcuda\d+|\bbfloat16|\bfloat32|\bfloat16|\bx86_64|\bAVX-512|\bSW2|\bSW_2|\bL2",
]
_NAME = re.compile("|".join(f"(?:{p})" for p in _NAMES))
_NUMBER = re.compile(r"(?<![A-Za-z_\\])\d+(?:[.,]\d+)*")


class TypedNumberError(ValueError):
    """A template states a number by hand instead of taking it from the data."""


def typed_numbers(template: str) -> list[str]:
    """The numbers written by hand into `template` (outside placeholders and names of things), in order."""
    text = _PLACEHOLDER.sub(" ", template.replace("{{", "(").replace("}}", ")"))
    text = _NAME.sub(" ", text)
    return _NUMBER.findall(text)


def _check(template: str, where: str) -> None:
    typed = typed_numbers(template)
    if typed:
        raise TypedNumberError(
            f"{where} types {len(typed)} number(s) by hand: {typed[:8]}; fill them from the data with "
            "placeholders ({name:.2f}), see cfgrl_core.io.summary"
        )


def fill(template: str, values: Mapping, where: str = "template") -> str:
    """`template.format_map(values)`, refusing a template with typed numbers and naming a missing value."""
    _check(template, where)
    try:
        return template.format_map(values)
    except KeyError as e:
        raise KeyError(f"{where} refers to {e.args[0]!r}, which is not among its values {sorted(values)}") from None


def _jsonable(v):
    """numpy / jax scalars and arrays -> Python numbers and lists (full precision)."""
    if hasattr(v, "tolist"):
        return v.tolist()
    raise TypeError(f"a summary value must be a number, a string or an array, got {type(v).__name__}")


def save_summary(prefix: str, template: str, values: Mapping, meta: Mapping | None = None, *, show: bool = True):
    """Fill `template`, show it (Markdown in a notebook, text elsewhere) and save PREFIX_summary.json.

    prefix: 'fig03' -> figures_dir()/fig03_summary.json with {"values", "template", "text", provenance...}.
    Returns the filled text.
    """
    if not re.fullmatch(r"fig\d\d", prefix):
        raise ValueError(f"a summary's prefix is 'figNN' (the notebook's number), got {prefix!r}")
    text = fill(template, values, where=f"{prefix}'s summary")
    record = provenance(**(meta or {}))
    record.update(values=dict(values), template=template, text=text)
    path = figures_dir() / f"{prefix}_summary.json"
    atomic_write_bytes(path, (json.dumps(record, indent=1, default=_jsonable) + "\n").encode())
    if show:
        try:
            from IPython import get_ipython
            from IPython.display import Markdown, display

            if get_ipython() is not None:
                display(Markdown(text))
                return text
        except ImportError:
            pass
        print(text)
    return text


def load_summary(path) -> dict:
    """A saved summary's values (the README's generated blocks read them)."""
    with open(path) as f:
        return json.load(f)["values"]
