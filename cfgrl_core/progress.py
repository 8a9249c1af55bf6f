"""Progress a person can follow: one factory for every bar (training, evaluation, dataset generation).

    bar = progress_bar(total=100_000, desc="large: training 4 seeds", unit="step", disable=not progress)
    announce("04: evaluating large")          # one line saying which stage is running

In a terminal the bars are tqdm's text bars; in JupyterLab they are widgets (tqdm.auto). When a notebook runs
headless under `make figures` (`cfgrl_core.io.run_notebooks` sets $CFGRL_PROGRESS_TO_TERMINAL=1 for its kernels),
bars and stage lines go to the terminal that ran the command (the kernel's original stderr), not into the executed
notebook, so that terminal shows which notebook and stage is running and the time left of each bar.
"""

from __future__ import annotations

import os
import sys

TERMINAL_ENV = "CFGRL_PROGRESS_TO_TERMINAL"


def _to_terminal() -> bool:
    return os.environ.get(TERMINAL_ENV, "") == "1" and sys.__stderr__ is not None


def progress_bar(total=None, desc: str = "", unit: str = "it", disable: bool = False, **kwargs):
    """A tqdm bar: text in a terminal, a widget in Jupyter, the launching terminal under `make figures`."""
    if _to_terminal():
        from tqdm import tqdm

        prefix = os.environ.get("CFGRL_PROGRESS_PREFIX", "")
        return tqdm(total=total, desc=f"{prefix}{desc}", unit=unit, disable=disable, file=sys.__stderr__,
                    dynamic_ncols=True, mininterval=1.0, **kwargs)  # fmt: skip
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=disable, **kwargs)


def announce(message: str) -> None:
    """Say which stage is running: printed, and under `make figures` also written to its terminal."""
    print(message, flush=True)
    if _to_terminal():
        prefix = os.environ.get("CFGRL_PROGRESS_PREFIX", "")
        sys.__stderr__.write(f"{prefix}{message}\n")
        sys.__stderr__.flush()
