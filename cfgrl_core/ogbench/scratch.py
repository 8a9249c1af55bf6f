"""What OGBench and MuJoCo would leave on disk while envs are built and stepped, kept off it.

OGBench's maze builder writes each maze env's MJCF to a new file in the temporary folder (`tempfile.mkstemp`) and
never deletes it: every run that builds maze envs would leave dozens to hundreds of XML files in /tmp.
`env_files()` points `tempfile` at a folder of its own while an env is built and removes that folder after
(MuJoCo has read the file by then).

MuJoCo writes its warnings (an unstable simulation: NaN or huge values in qpos, qvel, qacc) to MUJOCO_LOG.TXT in
the current folder, wherever a runner was started. `env_files()` also routes them, once per process, to Python's
`warnings` as RuntimeWarnings (shown once per message, written to no file).

  with scratch.env_files():
      env = ogbench.make_env_and_datasets(name, env_only=True)
"""

from __future__ import annotations

import contextlib
import tempfile
import warnings


def mujoco_warning(message: str) -> None:
    """MuJoCo's warning handler: a RuntimeWarning instead of a line in MUJOCO_LOG.TXT."""
    warnings.warn(f"MuJoCo: {message}", RuntimeWarning, stacklevel=1)


def route_mujoco_warnings() -> None:
    """Install `mujoco_warning` as MuJoCo's warning handler (again at each env build: dm_control, which OGBench's
    manipulation envs import, installs its own handler when it is first imported)."""
    import mujoco

    mujoco.set_mju_user_warning(mujoco_warning)


@contextlib.contextmanager
def env_files():
    """Build envs inside: their temporary files go to a folder removed on exit, MuJoCo's warnings to `warnings`."""
    route_mujoco_warnings()
    previous = tempfile.tempdir
    with tempfile.TemporaryDirectory(prefix="cfgrl-env-") as folder:
        tempfile.tempdir = folder
        try:
            yield
        finally:
            tempfile.tempdir = previous
