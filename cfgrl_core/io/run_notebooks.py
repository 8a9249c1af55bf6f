"""Execute notebooks headless: `python -m cfgrl_core.io.run_notebooks [--fast] [NOTEBOOK ...]`.

Full mode (the default) regenerates every figure into figures/; --fast runs the small settings.
Each notebook runs in a fresh kernel started from this Python, with FAST and CFGRL_FIGURES_DIR in
its environment. The committed notebooks are never modified: executed copies (with outputs) go to
build/executed/ for inspection.

What the terminal shows: one line per notebook with its expected cost and the time left for the whole run
(from figures/notebook_times.json, the durations of the last runs on record, rewritten after each notebook),
and, from inside the kernels, every stage line and progress bar (training, evaluation, dataset generation;
`cfgrl_core.progress`), prefixed with the notebook's number. Every kernel of one run stamps the same commit.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from cfgrl_core.io.atomic import atomic_write_bytes, atomic_write_json
from cfgrl_core.io.provenance import COMMIT_ENV, REPO_ROOT, cpu_model, git_commit
from cfgrl_core.progress import TERMINAL_ENV

NOTEBOOK_DIR = REPO_ROOT / "notebooks"


def all_notebooks() -> list[Path]:
    return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def execute_notebook(
    path: Path,
    *,
    fast: bool,
    figures_dir: Path | None = None,
    executed_dir: Path | None = None,
    timeout: int | None = None,
    progress_to_terminal: bool = False,
) -> float:
    """Run every cell of `path` in a new kernel; raise nbclient's CellExecutionError on failure.

    Returns the wall time in seconds. FAST and CFGRL_FIGURES_DIR are passed through the environment,
    which the kernel inherits (no parameter injection, so the parameters cell stays the single source).
    progress_to_terminal: the kernel's progress bars and stage lines go to this process's terminal.
    timeout: seconds one cell may run (None: no limit; notebook 04's experiment cell runs for an hour or more on
    a slow 2-core machine, and its progress is on the terminal).
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    names = ("FAST", "CFGRL_FIGURES_DIR", "MPLBACKEND", TERMINAL_ENV, "CFGRL_PROGRESS_PREFIX", COMMIT_ENV)
    env_backup = {k: os.environ.get(k) for k in names}
    os.environ["FAST"] = "1" if fast else "0"
    os.environ["MPLBACKEND"] = "Agg"
    os.environ[COMMIT_ENV] = git_commit()
    if progress_to_terminal:
        os.environ[TERMINAL_ENV] = "1"
        os.environ["CFGRL_PROGRESS_PREFIX"] = f"[{path.name[:2]}] "
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


# {notebook: {"full": s, "full_machine": "<CPU model>, <n> cores", "full_commit": "<commit>", "fast": s, ...}}: the
# last run on record of each mode, with the machine and commit it ran on (timings on two CPUs can differ 2x)
TIMES_FILE = REPO_ROOT / "figures" / "notebook_times.json"


def recorded_times() -> dict:
    try:
        return json.loads(TIMES_FILE.read_text())
    except (OSError, ValueError):
        return {}


def machine() -> str:
    """The machine a notebook's time was taken on: the CPU's model name and its core count."""
    return f"{cpu_model()}, {os.cpu_count()} cores"


def record_time(name: str, mode: str, seconds: float, commit: str) -> None:
    times = recorded_times()
    times.setdefault(name, {}).update({mode: round(seconds, 1), f"{mode}_machine": machine(), f"{mode}_commit": commit})
    atomic_write_json(TIMES_FILE, dict(sorted(times.items())))


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: all)")
    parser.add_argument("--fast", action="store_true", help="small settings (what the tests run)")
    parser.add_argument("--figures-dir", type=Path, default=None, help="default: figures/ (or $CFGRL_FIGURES_DIR)")
    parser.add_argument("--executed-dir", type=Path, default=REPO_ROOT / "build" / "executed")
    parser.add_argument("--quiet", action="store_true", help="no progress bars from inside the notebooks")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or all_notebooks()
    if not notebooks:
        print(f"no notebooks found in {NOTEBOOK_DIR}", file=sys.stderr)
        return 1
    for nb in notebooks:
        if not nb.exists():
            print(f"notebook not found: {nb}", file=sys.stderr)
            return 1
    mode = "fast" if args.fast else "full"
    times = recorded_times()
    expected = [times.get(nb.name, {}).get(mode) for nb in notebooks]
    print(f"[run_notebooks] commit {git_commit()}; {len(notebooks)} notebook(s), {mode} settings", flush=True)
    start = time.perf_counter()
    for k, nb in enumerate(notebooks):
        left = [e for e in expected[k:] if e is not None]
        cost = "no recorded cost" if expected[k] is None else f"last run {_minutes(expected[k])}"
        eta = f"; about {_minutes(sum(left))} left in all" if left else ""
        print(f"[run_notebooks] {k + 1}/{len(notebooks)} {nb.name} ({mode}; {cost}{eta}) ...", flush=True)
        commit = git_commit()  # what the kernel stamps (the run rewrites committed results: after it, +dirty)
        seconds = execute_notebook(
            nb, fast=args.fast, figures_dir=None if args.figures_dir is None else args.figures_dir.resolve(),
            executed_dir=args.executed_dir.resolve(),  # the kernels run in notebooks/: paths from here
            progress_to_terminal=not args.quiet,
        )  # fmt: skip
        # the cost of a full run is what the ETA needs: a run that reuses committed results is not one
        reused = os.environ.get("CFGRL_REUSE_RESULTS", "0") == "1"
        if args.figures_dir is None and "CFGRL_FIGURES_DIR" not in os.environ and not reused:
            record_time(nb.name, mode, seconds, commit)
        print(f"[run_notebooks] {nb.name} done in {_minutes(seconds)} ({seconds:.1f} s)", flush=True)
    print(f"[run_notebooks] all done in {_minutes(time.perf_counter() - start)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
