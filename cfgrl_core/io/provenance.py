"""What produced a result and on what: the commit of the tree, the device, the data files' hashes.

git_commit()        'abc1234' for a clean tree, 'abc1234+dirty' otherwise; fixed for the whole process
                    (and for every notebook of one `make figures` run, through $CFGRL_COMMIT)
device_description  'cpu (AMD EPYC, 2 cores)' or 'gpu: NVIDIA H200' (results before 2026-12-07: 'cpu (2 cores)')
cpu_model()         'AMD EPYC' (the host CPU's model name: timings on two CPUs of one description can differ 2x)
file_sha256(path)   hex digest of a file's bytes (datasets a result was trained on)
npz_arrays_sha256   hex digest of an .npz file's arrays, not its bytes (the same data, other bytes on another machine)
provenance(**kw)    the standard record of a figure (FAST, device, versions, commit, time, + kw)
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import os
import platform
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
COMMIT_ENV = "CFGRL_COMMIT"  # set by run_notebooks so every kernel of one run stamps the same commit


def fast_mode() -> bool:
    """FAST=1 in the environment selects the small settings every notebook defines."""
    return os.environ.get("FAST", "0").strip().lower() not in ("", "0", "false", "no")


def _git(*args) -> str:
    out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
    return out.stdout.strip()


@functools.cache
def git_commit() -> str:
    """The short commit of HEAD, with '+dirty' when tracked files differ from it; 'unknown' outside git.

    Read once per process (a run that lasts an hour stamps the commit it started from, however the tree changes
    while it runs), or taken from $CFGRL_COMMIT when a parent process (`make figures`) already read it.
    """
    if os.environ.get(COMMIT_ENV):
        return os.environ[COMMIT_ENV]
    try:
        commit = _git("rev-parse", "--short", "HEAD") or "unknown"
        dirty = _git("status", "--porcelain", "--untracked-files=no")
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def made_by_this_commit(made_with: str) -> bool:
    """True when this checkout is a clean commit and `made_with` (a result's recorded commit) is that commit: the
    result is what running this code again would give, so a runner may load it instead of training."""
    commit = git_commit()
    return "+" not in commit and commit != "unknown" and made_with == commit


def device_description() -> str:
    """e.g. 'cpu (AMD EPYC, 2 cores)' or 'gpu: NVIDIA H200' (the first JAX device). The CPU's model is named because
    two CPUs give other floating-point results: notebook 05's mechanism row trained on an Intel Xeon and on an AMD
    EPYC, both with AVX-512, parted into different critics (results/offline_rl/mechanism-3betas/machine.json)."""
    import jax

    d = jax.devices()[0]
    return f"cpu ({cpu_model()}, {os.cpu_count()} cores)" if d.platform == "cpu" else f"{d.platform}: {d.device_kind}"


def cpu_model() -> str:
    """The host CPU's model name from /proc/cpuinfo (Linux), else platform.processor(), else 'unknown'."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def file_sha256(path) -> str:
    """sha256 hex digest of the file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def npz_arrays_sha256(path) -> str:
    """sha256 over the arrays of an .npz file rather than its bytes: each member's name, full dtype (byte order and
    structured fields included), shape and C-order bytes, in name order. Two files that hold the same arrays have
    the same digest however they were compressed or ordered: medium, teleport and giant each have two file hashes
    among the committed results, and for medium and teleport the committed samples' rows equal this machine's
    (tests/test_dataset_identity.py; no committed sample covers giant). Pickled members are refused."""
    import numpy as np

    digest = hashlib.sha256()
    with np.load(path, allow_pickle=False) as archive:
        for name in sorted(archive.files):
            array = archive[name]
            header = repr((name, np.lib.format.dtype_to_descr(array.dtype), array.shape))
            digest.update(f"{len(header)}:{header}".encode())
            digest.update(np.asarray(array, order="C").tobytes())
    return digest.hexdigest()


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
