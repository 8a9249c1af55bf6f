"""Input checks that fail early with a message naming the problem.

Everything here runs on host (numpy) before anything is traced, so a bad argument never
reaches a jitted function, where it would surface as an opaque shape or NaN error.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np


class InputError(ValueError):
    """Bad input a user can mend, with a message that names it (a file, a folder, an argument) and says what to do.

    The command-line runners print such an error as one line and exit with status 2 (`cfgrl_core.experiments.cli`);
    it is a ValueError, so library callers that catch ValueError keep working."""


def _check_int(name: str, value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be a {what} int, got {value!r} ({type(value).__name__})")
    return int(value)


def check_positive_int(name: str, value) -> int:
    """`value` must be an int > 0 (not a bool, not a float): TypeError for the wrong type, ValueError if <= 0."""
    value = _check_int(name, value, "positive")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def check_nonnegative_int(name: str, value) -> int:
    """`value` must be an int >= 0 (e.g. a seed): TypeError for the wrong type, ValueError if negative."""
    value = _check_int(name, value, "non-negative")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value}")
    return value


def int_argument(minimum: int, expected: str, why: str = "") -> Callable[[str], int]:
    """An argparse `type=` for the command-line scripts: int(text) >= minimum, else an ArgumentTypeError
    'expected {expected}{why}, got ...' (argparse prefixes the argument's name)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {expected}{why}, got {value}")
        return value

    return parse


positive_int_argument = int_argument(1, "a positive integer")
nonnegative_int_argument = int_argument(0, "an integer >= 0")


def nonnegative_float_argument(text: str) -> float:
    """An argparse `type=`: a finite float >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {value}")
    return value


def check_folder(path, *, writable: bool = True) -> Path:
    """`path` as a folder to read from or write into: an existing folder, or one that can be made (its nearest
    existing ancestor is a folder); with `writable`, also one this process may write into. Otherwise an InputError
    that names the path and says what is wrong (a file; below a file; not writable). Nothing is created."""
    path = Path(path).expanduser()
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        where = "is a file" if existing == path else f"is below {existing}, which is a file"
        raise InputError(f"{path} {where}, not a folder")
    if writable and not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{path}: {'it' if existing == path else existing} is not writable")
    return path


def folder_argument(writable: bool = True) -> Callable[[str], Path]:
    """An argparse `type=` for a folder argument (`check_folder`): argparse names the argument in its error."""

    def parse(text: str) -> Path:
        try:
            return check_folder(text, writable=writable)
        except InputError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return parse


def check_flow_steps(flow_steps) -> int:
    """`flow_steps` must be a positive integer (the number of Euler steps from t=0 to t=1)."""
    return check_positive_int("flow_steps", flow_steps)


def check_probability(name: str, p) -> float:
    """A probability such as `p_uncond` must be a finite number in [0, 1]."""
    p = float(p)
    if not np.isfinite(p) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {p}")
    return p


def check_finite(name: str, x) -> np.ndarray:
    """Raise if an array holds NaN or inf, saying how many and where the first one is."""
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.floating):
        bad = ~np.isfinite(x)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{name} contains {int(bad.sum())} non-finite value(s) (NaN or inf); first at index {first}"
            )
    return x


def check_dataset(
    dataset: Mapping,
    *,
    action_dim: int | None = None,
    obs_dim: int | None = None,
    cond_dim: int | None = None,
    num_labels: int | None = None,
) -> int:
    """Check a training dataset for a conditional flow policy and return its size N.

    Expected keys (shapes):
      actions:       [N, A]  float, the data actions x_1
      conditions:    [N] int optimality labels o in {0, .., num_labels-1}, or [N, C] float goals g
      observations:  [N, O]  float, optional (absent for state-free toys)
    """
    if "actions" not in dataset:
        raise KeyError(f"dataset has no 'actions' key; keys are {sorted(dataset)}")
    if "conditions" not in dataset:
        raise KeyError(f"dataset has no 'conditions' key; keys are {sorted(dataset)}")
    actions = check_finite("actions", dataset["actions"])
    if actions.ndim != 2:
        raise ValueError(f"actions must have shape [N, A], got {actions.shape}")
    n = actions.shape[0]
    if n == 0:
        raise ValueError("dataset is empty (0 actions)")
    if action_dim is not None and actions.shape[1] != action_dim:
        raise ValueError(f"actions have dimension {actions.shape[1]}, the model expects {action_dim}")

    conditions = np.asarray(dataset["conditions"])
    if conditions.shape[0] != n:
        raise ValueError(f"conditions have {conditions.shape[0]} rows but actions have {n}")
    if num_labels is not None:
        if conditions.ndim != 1 or not np.issubdtype(conditions.dtype, np.integer):
            raise ValueError(
                f"discrete conditions must be an int array of shape [N], got {conditions.dtype} {conditions.shape}"
            )
        if conditions.min() < 0 or conditions.max() >= num_labels:
            raise ValueError(
                f"labels must lie in [0, {num_labels - 1}], got range [{conditions.min()}, {conditions.max()}]"
            )
    else:
        check_finite("conditions", conditions)
        if conditions.ndim != 2:
            raise ValueError(f"continuous conditions (goals) must have shape [N, C], got {conditions.shape}")
        if cond_dim is not None and conditions.shape[1] != cond_dim:
            raise ValueError(f"goals have dimension {conditions.shape[1]}, the model expects {cond_dim}")

    if "observations" in dataset:
        obs = check_finite("observations", dataset["observations"])
        if obs.ndim != 2 or obs.shape[0] != n:
            raise ValueError(f"observations must have shape [{n}, O], got {obs.shape}")
        if obs_dim is not None and obs.shape[1] != obs_dim:
            raise ValueError(f"observations have dimension {obs.shape[1]}, the model expects {obs_dim}")
    elif obs_dim:
        raise KeyError(f"the model expects observations of dimension {obs_dim} but the dataset has none")
    return n
