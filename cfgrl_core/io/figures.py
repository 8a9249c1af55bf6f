"""One place decides where figures go, and every figure leaves its numbers and provenance beside it.

    save_figure(fig, "fig01_tilts", table, provenance)
      -> $CFGRL_FIGURES_DIR/fig01_tilts.png   the picture
      -> $CFGRL_FIGURES_DIR/fig01_tilts.csv   the plotted numbers (one row per plotted value)
      -> $CFGRL_FIGURES_DIR/fig01_tilts.json  provenance: seeds, steps, FAST, device, jax version, commit

CFGRL_FIGURES_DIR defaults to the repository's figures/ folder; the test suite points it at a temporary
folder so tests never touch committed figures. All writes are atomic (`cfgrl_core.io.atomic`), so an
interrupted run leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from cfgrl_core.io.atomic import atomic_write_bytes
from cfgrl_core.io.provenance import REPO_ROOT, fast_mode, provenance

__all__ = ["figures_dir", "fast_mode", "save_figure", "table_to_csv"]


def figures_dir() -> Path:
    path = Path(os.environ.get("CFGRL_FIGURES_DIR", REPO_ROOT / "figures"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def table_to_csv(table: Mapping[str, Sequence] | Sequence[Mapping]) -> str:
    """Columns (dict of equal-length sequences) or rows (list of dicts) -> CSV text."""
    if isinstance(table, Mapping):
        columns = list(table)
        lengths = {len(table[c]) for c in columns}
        if len(lengths) > 1:
            raise ValueError(f"table columns have different lengths: { {c: len(table[c]) for c in columns} }")
        rows = [dict(zip(columns, values, strict=True)) for values in zip(*(table[c] for c in columns), strict=True)]
    else:
        rows = list(table)
        columns = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _plain(v) for k, v in row.items()})
    return buf.getvalue()


def _plain(v):
    """numpy/jax scalars -> Python numbers, floats to 6 significant digits (stable, diff-friendly CSVs)."""
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float):
        return float(f"{v:.6g}")
    return v


def save_figure(fig, name: str, table=None, meta: Mapping | None = None, *, dpi: int = 130) -> Path:
    """Save `fig` as NAME.png (+ NAME.csv from `table`, + NAME.json provenance) in figures_dir()."""
    if not name.startswith("fig") or "/" in name or name.endswith(".png"):
        raise ValueError(f"figure names look like 'figNN_slug' (no extension, no folder), got {name!r}")
    out = figures_dir()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    atomic_write_bytes(out / f"{name}.png", buf.getvalue())
    if table is not None:
        atomic_write_bytes(out / f"{name}.csv", table_to_csv(table).encode())
    record = provenance(**(meta or {}))
    atomic_write_bytes(out / f"{name}.json", (json.dumps(record, indent=2, default=_plain) + "\n").encode())
    return out / f"{name}.png"
