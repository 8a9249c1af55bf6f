"""Servers (Voila, JupyterLab) and page helpers for tests/test_browser.py.

Recipe and pitfalls: ../shared/reference/notebook_testing.md, sections 3 and 5. Servers bind 127.0.0.1 on
a free port, serve a copy of the notebooks (autosave never touches the repo), run kernels in FAST mode
with figures going to a temporary folder, and are stopped by PID, kernels included.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import widget_support as ws

# Debian's chromium, headless; the flags keep it off the network and quiet (reference, section 0).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# ipywidgets 8 selectors, the same in JupyterLab and Voila.
SLIDER = ".widget-slider"  # one per slider widget; holds the label, the noUiSlider and the readout
HANDLE, TRACK, READOUT, LABEL = ".noUi-handle", ".noUi-target", ".widget-readout", ".widget-label"
# The nearest enclosing widget box that also holds an Output widget: where the slider's plot is drawn.
PLOT_BOX = (
    "xpath=ancestor::div[contains(concat(' ', normalize-space(@class), ' '), ' widget-box ')]"
    "[.//div[contains(concat(' ', normalize-space(@class), ' '), ' widget-output ')]][1]"
)
PLOT_IMG = ".widget-output img"


# ---------------------------------------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_environment(work: Path) -> dict:
    """FAST mode, figures into work/figures, and every Jupyter/IPython folder inside `work`."""
    env = ws.kernel_environment(work / "figures")
    for var, sub in (
        ("JUPYTER_CONFIG_DIR", "jupyter_config"),
        ("JUPYTER_DATA_DIR", "jupyter_data"),
        ("JUPYTER_RUNTIME_DIR", "jupyter_runtime"),
        ("JUPYTERLAB_SETTINGS_DIR", "lab_settings"),
        ("JUPYTERLAB_WORKSPACES_DIR", "lab_workspaces"),
        ("IPYTHONDIR", "ipython"),
    ):
        env[var] = str(work / sub)
    # No "get notified about Jupyter news?" toast over the plots (reference, pitfall 6).
    settings = work / "lab_settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    return env


def _children(pid: int) -> list[int]:
    """All descendants of `pid` (kernels run in their own session, so a process-group kill misses them)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Server:
    """A Jupyter server process (Voila or JupyterLab) in its own process group, logging to a file."""

    def __init__(self, name: str, args: list[str], cwd: Path, env: dict, log: Path, ready_path: str):
        self.name, self.log, self.port = name, log, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", *[a.format(port=self.port) for a in args]]
        self.proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
        )
        self._wait_ready(ready_path, timeout=90)

    def _wait_ready(self, path: str, timeout: float):
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                urllib.request.urlopen(self.base + path, timeout=2)
                return
            except OSError:
                time.sleep(0.25)
        self.stop()
        raise TimeoutError(f"{self.name} did not answer on {self.base}{path} in {timeout} s:\n{self.log_tail()}")

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self):
        """SIGTERM to the server's process group (it shuts its kernels down), then SIGKILL to anything left,
        kernels included, by PID."""
        if self.proc.poll() is not None:
            return
        pids = _children(self.proc.pid)
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def start_voila(work: Path, env: dict) -> Server:
    return Server(
        "voila",
        [
            "voila",
            "--no-browser",
            "--Voila.ip=127.0.0.1",
            "--port={port}",
            "--Voila.port_retries=0",
            "--show_tracebacks=True",
            # Lab extensions that fail to load in Voila's page (reference, pitfall 9).
            "--VoilaConfiguration.extension_denylist=jupyterlab-jupytext",
            "--VoilaConfiguration.extension_denylist=@jupyter-notebook/lab-extension",
            # Voila leaks a kernel per page load (pitfall 8): cull idle ones, but only well after the stall
            # watchdog (voila_stalled) has had its say: a culled kernel turns a stall into "Kernel died".
            "--MappingKernelManager.cull_idle_timeout=120",
            "--MappingKernelManager.cull_interval=10",
        ],
        cwd=work / "notebooks",
        env=env,
        log=work / "voila.log",
        ready_path="/",
    )


def start_lab(work: Path, env: dict) -> Server:
    args = [
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        "--port={port}",
        "--ServerApp.port_retries=0",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        "--ServerApp.disable_check_xsrf=True",  # loopback only; lets the test DELETE sessions
        f"--ServerApp.root_dir={work / 'notebooks'}",
        f"--LabApp.workspaces_dir={work / 'lab_workspaces'}",
    ]
    if os.geteuid() == 0:
        args.append("--allow-root")  # CI runs as root; Lab refuses to start otherwise
    return Server("jupyterlab", args, cwd=work / "notebooks", env=env, log=work / "lab.log", ready_path="/api/status")


VOILA_KERNEL_ID_JS = """() => {
  const el = document.getElementById('jupyter-config-data');
  return el ? JSON.parse(el.textContent).kernelId || null : null;
}"""


def voila_stalled(page, base: str, idle_s: float = 20) -> str | None:
    """Why Voila's rendering of the page looks stuck, or None. Voila sometimes never gets the execute reply
    of a cell the kernel has finished (voila-dashboards/voila#1446; seen here once in about 15 runs, on a
    busy machine): the kernel is then idle and silent while the page waits. A long cell keeps it busy.
    The page's kernel id is in its page config, which Voila sends before it runs the cells."""
    try:
        kernel_id = page.evaluate(VOILA_KERNEL_ID_JS)
    except Exception:  # the page is still loading
        return None
    if not kernel_id:
        return None
    try:
        kernel = json.load(urllib.request.urlopen(f"{base}/api/kernels/{kernel_id}", timeout=10))
    except urllib.error.HTTPError as e:
        return f"Voila's kernel {kernel_id} is gone (HTTP {e.code})"
    last = datetime.fromisoformat(kernel["last_activity"].replace("Z", "+00:00"))
    quiet = (datetime.now(UTC) - last).total_seconds()
    if kernel["execution_state"] == "idle" and quiet > idle_s:
        return f"Voila's kernel has been idle and silent for {quiet:.0f} s but the page shows no slider"
    return None


def lab_sessions(base: str) -> list[dict]:
    return json.load(urllib.request.urlopen(f"{base}/api/sessions", timeout=10))


def wait_lab_kernel_idle(base: str, path: str, timeout: float):
    """Until this notebook's kernel is idle with a page connected (the toolbar indicator lies: pitfall 1)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if any(
            s["path"] == path and s["kernel"]["execution_state"] == "idle" and s["kernel"]["connections"] >= 1
            for s in lab_sessions(base)
        ):
            return
        time.sleep(0.25)
    raise TimeoutError(f"the kernel of {path} was not idle within {timeout} s: {lab_sessions(base)}")


def delete_lab_sessions(base: str):
    """Kernels outlive the page (pitfall 2)."""
    for s in lab_sessions(base):
        req = urllib.request.Request(f"{base}/api/sessions/{s['id']}", method="DELETE")
        urllib.request.urlopen(req, timeout=30)


# ---------------------------------------------------------------------------------------------------------
# Moving a slider and watching its plot
# ---------------------------------------------------------------------------------------------------------
# Installed before the drag: records (in the page's own clock) the pointer release and the first moment any
# plot image in the slider's box has a new src, so the response time excludes the test's polling latency.
WATCH_JS = """([box, before]) => {
  const w = window.__cfgrl_watch = {up: null, changed: null};
  const release = () => { if (w.up === null) w.up = performance.now(); };
  document.addEventListener('pointerup', release, {capture: true, once: true});
  document.addEventListener('mouseup', release, {capture: true, once: true});
  const srcs = () => Array.from(box.querySelectorAll('.widget-output img')).map(i => i.src);
  const check = () => {
    if (w.changed !== null || w.up === null) return;
    const now = srcs();
    if (now.length && now.some((s, k) => s !== before[k] || now.length !== before.length)) {
      w.changed = performance.now();
      observer.disconnect();
    }
  };
  const observer = new MutationObserver(check);
  observer.observe(box, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
  w.check = check;
}"""


def drag(page, slider, frac: float):
    """Press the handle, move to `frac` of the track in 10 steps, release (works in Lab and Voila)."""
    handle, track = slider.locator(HANDLE).first.bounding_box(), slider.locator(TRACK).first.bounding_box()
    y = handle["y"] + handle["height"] / 2
    page.mouse.move(handle["x"] + handle["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(track["x"] + frac * track["width"], y, steps=10)
    page.mouse.up()


def target_fraction(slider) -> float:
    """Where to drag: well away from where the handle is now."""
    handle, track = slider.locator(HANDLE).first.bounding_box(), slider.locator(TRACK).first.bounding_box()
    at = (handle["x"] + handle["width"] / 2 - track["x"]) / track["width"]
    return 0.8 if at < 0.5 else 0.2
