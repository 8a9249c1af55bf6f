"""One place decides where figures go, and every figure leaves its numbers and provenance beside it.

    save_figure(fig, "fig01_tilts", table, provenance)
      -> $CFGRL_FIGURES_DIR/fig01_tilts.png   the picture
      -> $CFGRL_FIGURES_DIR/fig01_tilts.csv   the plotted numbers (one row per plotted value)
      -> $CFGRL_FIGURES_DIR/fig01_tilts.json  provenance: seeds, steps, FAST, device, jax version, commit

CFGRL_FIGURES_DIR defaults to the repository's figures/ folder; the test suite points it at a temporary
folder so tests never touch committed figures. All writes are atomic (temporary file + rename), so an
interrupted run leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def figures_dir() -> Path:
    path = Path(os.environ.get("CFGRL_FIGURES_DIR", REPO_ROOT / "figures"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def fast_mode() -> bool:
    """FAST=1 in the environment selects the small settings every notebook defines."""
    return os.environ.get("FAST", "0").strip().lower() not in ("", "0", "false", "no")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file in the same folder and os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file ordinary permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        )
        commit = out.stdout.strip() or "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(**fields) -> dict:
    """Standard provenance record: what produced a figure and on what."""
    import jax

    devices = jax.devices()
    return {
        "fast": fast_mode(),
        "device": f"{devices[0].platform}:{devices[0].device_kind}",
        "num_devices": len(devices),
        "jax": jax.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "commit": git_commit(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        **fields,
    }


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
