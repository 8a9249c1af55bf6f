"""Execute notebooks headless: `python -m cfgrl_core.run_notebooks [--fast] [NOTEBOOK ...]`.

Full mode (the default) regenerates every figure into figures/; --fast runs the small settings.
Each notebook runs in a fresh kernel started from this Python, with FAST and CFGRL_FIGURES_DIR in
its environment. The committed notebooks are never modified: executed copies (with outputs) go to
build/executed/ for inspection.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from cfgrl_core.figures import REPO_ROOT, atomic_write_bytes

NOTEBOOK_DIR = REPO_ROOT / "notebooks"


def all_notebooks() -> list[Path]:
    return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def execute_notebook(
    path: Path,
    *,
    fast: bool,
    figures_dir: Path | None = None,
    executed_dir: Path | None = None,
    timeout: int = 3600,
) -> float:
    """Run every cell of `path` in a new kernel; raise nbclient's CellExecutionError on failure.

    Returns the wall time in seconds. FAST and CFGRL_FIGURES_DIR are passed through the environment,
    which the kernel inherits (no parameter injection, so the parameters cell stays the single source).
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    env_backup = {k: os.environ.get(k) for k in ("FAST", "CFGRL_FIGURES_DIR", "MPLBACKEND")}
    os.environ["FAST"] = "1" if fast else "0"
    os.environ["MPLBACKEND"] = "Agg"
    if figures_dir is not None:
        os.environ["CFGRL_FIGURES_DIR"] = str(figures_dir)
    start = time.perf_counter()
    try:
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
        )
        try:
            client.execute()
        finally:
            if executed_dir is not None:
                atomic_write_bytes(Path(executed_dir) / path.name, nbformat.writes(nb).encode())
    finally:
        for k, v in env_backup.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: all)")
    parser.add_argument("--fast", action="store_true", help="small settings (what the tests run)")
    parser.add_argument("--figures-dir", type=Path, default=None, help="default: figures/ (or $CFGRL_FIGURES_DIR)")
    parser.add_argument("--executed-dir", type=Path, default=REPO_ROOT / "build" / "executed")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or all_notebooks()
    if not notebooks:
        print(f"no notebooks found in {NOTEBOOK_DIR}", file=sys.stderr)
        return 1
    for nb in notebooks:
        if not nb.exists():
            print(f"notebook not found: {nb}", file=sys.stderr)
            return 1
        print(f"[run_notebooks] {nb.name} ({'FAST' if args.fast else 'full'}) ...", flush=True)
        seconds = execute_notebook(nb, fast=args.fast, figures_dir=args.figures_dir, executed_dir=args.executed_dir)
        print(f"[run_notebooks] {nb.name} done in {seconds:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
