"""What each notebook's sliders must do, shared by tests/test_widgets.py and tests/test_browser.py.

This module is also imported *inside a Jupyter kernel* by the in-kernel tests, so it needs nothing beyond
what the notebooks themselves import (no pytest).

Adding a notebook with a slider: the tests discover it on their own (any notebooks/NN_*.ipynb whose source
holds `<name>_slider = widgets.<...>Slider(`), and check that moving each slider redraws the plot. To also
check the *direction* of the change, add one `SliderCase` to `CASES` with a probe that reads numbers off
the drawn figure.

Set CFGRL_BREAK_SLIDER_WIRING=1 to run the same tests on copies of the notebooks whose
`<name>_slider.observe(...)` lines are removed: every widget and browser test must then fail
(`make check-wiring` does this and says so).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
TESTS_DIR = Path(__file__).resolve().parent

SLIDER_DEF = re.compile(r"^(\w+_slider)\s*=\s*widgets\.\w*Slider\(", re.MULTILINE)
OBSERVE_LINE = re.compile(r"^([ \t]*)\w+_slider\.observe\(.*$", re.MULTILINE)
BREAK_WIRING = os.environ.get("CFGRL_BREAK_SLIDER_WIRING") == "1"


def sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()[:12]


# ---------------------------------------------------------------------------------------------------------
# Which notebooks have sliders, and copies of them to run (optionally with the slider wiring cut)
# ---------------------------------------------------------------------------------------------------------
def notebook_source(path: Path) -> str:
    """The code of a notebook: its .py twin if there is one (same cells; tests/test_notebook_sync.py)."""
    twin = path.with_suffix(".py")
    if twin.exists():
        return twin.read_text()
    return "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"])


def slider_names(path: Path) -> list[str]:
    """Names of the slider widgets a notebook defines at top level, in order of definition."""
    return list(dict.fromkeys(SLIDER_DEF.findall(notebook_source(path))))


def slider_notebooks() -> list[Path]:
    """Every notebooks/NN_*.ipynb that defines at least one `*_slider = widgets.*Slider(`."""
    return [p for p in sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb")) if slider_names(p)]


def cut_wiring(source: str) -> str:
    """Remove every `<name>_slider.observe(...)` line (the mutation the tests must catch)."""
    new, n = OBSERVE_LINE.subn(r"\1pass  # slider wiring removed by CFGRL_BREAK_SLIDER_WIRING", source)
    if n == 0:
        raise AssertionError("CFGRL_BREAK_SLIDER_WIRING=1 but no `*_slider.observe(` line was found")
    return new


def copy_notebooks(dest: Path, *, suffix: str = ".ipynb", break_wiring: bool = BREAK_WIRING) -> Path:
    """Copy notebooks/NN_*<suffix> into dest (created) and return dest. The repo's files are never touched:
    servers, kernels and autosave work on the copy."""
    dest.mkdir(parents=True, exist_ok=True)
    for src in sorted(NOTEBOOK_DIR.glob(f"[0-9][0-9]_*{suffix}")):
        target = dest / src.name
        if not break_wiring:
            shutil.copyfile(src, target)
        elif suffix == ".ipynb":
            nb = json.loads(src.read_text())
            for cell in nb["cells"]:
                text = "".join(cell["source"])
                if cell["cell_type"] == "code" and OBSERVE_LINE.search(text):
                    cell["source"] = cut_wiring(text)
            target.write_text(json.dumps(nb, indent=1))
        else:
            text = src.read_text()
            target.write_text(cut_wiring(text) if OBSERVE_LINE.search(text) else text)
    return dest


def kernel_environment(figures_dir: Path) -> dict:
    """Environment for kernels and servers: FAST mode, figures into a temporary folder, and matplotlib's
    inline backend (MPLBACKEND unset: ipykernel then picks matplotlib-inline; Agg would draw nothing). The rest
    is this process's environment, the session's JAX compilation cache included (tests/conftest.py): the same
    notebook runs in several kernels (Voila, JupyterLab, nbclient), and every run after the first skips
    compilation."""
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    env.update(FAST="1", CFGRL_FIGURES_DIR=str(figures_dir), JAX_PLATFORMS=env.get("JAX_PLATFORMS", "cpu"))
    return env


# ---------------------------------------------------------------------------------------------------------
# Reading what a slider's callback drew (runs in the pytest process or in the kernel)
# ---------------------------------------------------------------------------------------------------------
class FigureRecorder:
    """Records every figure created through pyplot while active (`plt.subplots`, `plt.figure`, ...).

    Works whether the callback then shows the figure with `plt.show()` (the inline backend closes it, but
    the Figure object and its artists remain readable) or leaves it open (Agg in the pytest process)."""

    def __enter__(self):
        import matplotlib.pyplot as plt

        self._plt, self._orig, self.figures = plt, plt.figure, []

        def figure(*args, **kwargs):
            fig = self._orig(*args, **kwargs)
            self.figures.append(fig)
            return fig

        plt.figure = figure
        return self

    def __exit__(self, *exc):
        self._plt.figure = self._orig
        return False


def figure_texts(fig) -> list[str]:
    texts = [fig._suptitle.get_text()] if getattr(fig, "_suptitle", None) is not None else []
    return texts + [ax.get_title() for ax in fig.axes if ax.get_title()]


def figure_png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=50)
    return sha(buf.getvalue())


def probe_generic(fig) -> dict:
    """Facts any drawn figure has: its titles and a hash of its pixels."""
    return {"texts": figure_texts(fig), "png": figure_png(fig)}


def probe_title_reward(fig) -> dict:
    """Notebook 03: the expected reward E[r] of the drawn samples, as the panel's title states it."""
    match = re.search(r"E\[r\](?: flow)? (-?\d+\.\d+)", fig.axes[0].get_title())
    return {"reward": float(match.group(1)) if match else None}


def probe_guided_samples(fig) -> dict:
    """Notebook 01: the mean advantage A(a) = <a, u> of the guided samples drawn as dots."""
    import numpy as np

    from cfgrl_core.toys import product_toy as toy

    offsets = np.asarray(fig.axes[0].collections[0].get_offsets())
    return {"mean_adv": float(toy.advantage(toy.EllipseToy(), offsets).mean()), "n_dots": len(offsets)}


def probe_state_policies(fig) -> dict:
    """Notebook 02: pi_w(stay | start state) from the bars, and where the red J(pi_w) marker sits."""
    pi_hat_bars, pi_w_bars = fig.axes[1].containers[:2]
    marker = fig.axes[2].lines[-1]
    return {
        "pi_hat_stay_start": float(pi_hat_bars[0].get_height()),
        "pi_w_stay_start": float(pi_w_bars[0].get_height()),
        "marker_w": float(marker.get_xdata()[0]),
    }


def probe_title_log_q(fig) -> dict:
    """Notebook 06: the mean target log-likelihood E log q of the drawn samples, as the title states it."""
    match = re.search(r"E log q (-?\d+\.\d+)", fig.axes[0].get_title())
    return {"log_q": float(match.group(1)) if match else None}


PROBES: dict[str, Callable] = {
    f.__name__: f
    for f in (probe_generic, probe_guided_samples, probe_state_policies, probe_title_reward, probe_title_log_q)
}


def probe_figures(recorder: FigureRecorder, probe: str) -> dict:
    """What the callback drew: the number of figures and, for the last one, the generic and specific facts."""
    facts = {"n_figures": len(recorder.figures)}
    if recorder.figures:
        fig = recorder.figures[-1]
        facts.update(probe_generic(fig))
        if probe != "probe_generic":
            facts.update(PROBES[probe](fig))
    return facts


def output_state(*outs) -> dict:
    """What Output widgets hold, as the kernel sees it: the number of outputs and a hash of all their PNGs."""
    outputs = [o for out in outs for o in out.outputs]
    pngs = [o["data"]["image/png"] for o in outputs if "image/png" in o.get("data", {})]
    return {"n_outputs": len(outputs), "n_images": len(pngs), "png": sha("".join(pngs)) if pngs else None}


def all_outputs(namespace: dict) -> list:
    import ipywidgets as widgets

    return [v for k, v in namespace.items() if isinstance(v, widgets.Output) and not k.startswith("_")]


# ---------------------------------------------------------------------------------------------------------
# The table: one entry per slider whose direction we check (others get the generic "it redraws" check)
# ---------------------------------------------------------------------------------------------------------
def _check_guided_samples(low: dict, high: dict, case: SliderCase) -> list[str]:
    problems = []
    if not low["mean_adv"] < high["mean_adv"] - 0.1:
        problems.append(
            f"mean advantage of the drawn samples did not rise with w: {low['mean_adv']:.3f} at "
            f"w = {case.low:g}, {high['mean_adv']:.3f} at w = {case.high:g}"
        )
    return problems


def _check_state_policies(low: dict, high: dict, case: SliderCase) -> list[str]:
    problems = []
    if abs(low["pi_w_stay_start"] - low["pi_hat_stay_start"]) > 1e-9:
        problems.append(
            f"at w = 0 the drawn pi_w(stay|start) {low['pi_w_stay_start']:.4f} is not pi_hat's "
            f"{low['pi_hat_stay_start']:.4f}"
        )
    if not high["pi_w_stay_start"] > low["pi_w_stay_start"] + 0.05:
        problems.append(
            f"pi_w(stay|start) did not tip towards stay: {low['pi_w_stay_start']:.3f} -> {high['pi_w_stay_start']:.3f}"
        )
    for facts, w in ((low, case.low), (high, case.high)):
        if abs(facts["marker_w"] - w) > 1e-9:
            problems.append(f"the J(pi_w) marker sits at w = {facts['marker_w']:g}, not {w:g}")
    return problems


def _check_reward_rises(low: dict, high: dict, case: SliderCase) -> list[str]:
    if low["reward"] is None or high["reward"] is None:
        return [f"no 'E[r] <number>' in the title: {low['texts']} / {high['texts']}"]
    if not high["reward"] > low["reward"] + 0.05:
        return [
            f"E[r] of the drawn samples did not rise: {low['reward']:.3f} at {case.low:g}, "
            f"{high['reward']:.3f} at {case.high:g}"
        ]
    return []


def _check_log_q_rises(low: dict, high: dict, case: SliderCase) -> list[str]:
    if low["log_q"] is None or high["log_q"] is None:
        return [f"no 'E log q <number>' in the title: {low['texts']} / {high['texts']}"]
    if not high["log_q"] > low["log_q"] + 1.0:
        return [f"E log q of the drawn samples did not rise: {low['log_q']:.2f} at λ = {case.low:g}, "
                f"{high['log_q']:.2f} at λ = {case.high:g}"]  # fmt: skip
    return []


@dataclass(frozen=True)
class SliderCase:
    notebook: str  # stem, e.g. "01_product_policies"
    slider: str  # the slider's variable name in the notebook
    low: float | None = None  # set first (None: a quarter of the way along the slider's range)
    high: float | None = None  # set second (None: three quarters of the way)
    outputs: str = "[out]"  # Python expression: a list of the Output widget(s) the callback draws into
    probe: str = "probe_generic"  # name of a function in PROBES reading numbers off the drawn figure
    check: Callable[[dict, dict, SliderCase], list[str]] | None = None  # direction check: list of problems
    title_format: str | None = "w = {:.2f}:"  # the new value must appear in a title, formatted like this

    @property
    def id(self) -> str:
        return f"{self.notebook}:{self.slider}"


CASES = [
    SliderCase("01_product_policies", "w_slider", 0.0, 4.0, probe="probe_guided_samples", check=_check_guided_samples),
    SliderCase(
        "02_improvement_theorems",
        "w_slider",
        0.0,
        3.0,
        probe="probe_state_policies",
        check=_check_state_policies,
    ),
    # 1/beta = 0 is behaviour cloning; AWR's flow policy peaks at an intermediate temperature (3 to 30).
    SliderCase(
        "03_awr_vs_guidance",
        "beta_slider",
        0.0,
        10.0,
        outputs="[out_awr]",
        probe="probe_title_reward",
        check=_check_reward_rises,
        title_format="1/β = {:g}:",
    ),
    SliderCase(
        "03_awr_vs_guidance",
        "w_slider",
        0.0,
        3.0,
        outputs="[out_cfgrl]",
        probe="probe_title_reward",
        check=_check_reward_rises,
    ),
    # lambda = 0 samples the behaviour density; guidance moves the samples towards the target's mode.
    SliderCase(
        "06_policy_guided_diffusion",
        "lam_slider",
        0.0,
        3.0,
        probe="probe_title_log_q",
        check=_check_log_q_rises,
        title_format="λ = {:.2f}:",
    ),
]


def all_cases() -> list[SliderCase]:
    """The table's entries plus a generic entry for every discovered slider the table does not list."""
    known = {c.id: c for c in CASES}
    cases = []
    for path in slider_notebooks():
        for name in slider_names(path):
            case = SliderCase(path.stem, name, outputs="_wc.all_outputs(globals())", title_format=None)
            cases.append(known.get(case.id, case))
    return cases


def pick_values(slider, case: SliderCase) -> tuple[float, float]:
    """The two values a test sets: the table's, or about 1/4 and 3/4 along the slider's range (on its step
    grid, and both different from the slider's current value so that each one fires the observer)."""
    if case.low is not None and case.high is not None:
        return case.low, case.high
    options = getattr(slider, "_options_values", None)  # a SelectionSlider: values from its options
    if options is not None:
        n = len(options)
        for a, b in ((0.25, 0.75), (0.0, 1.0)):
            values = (options[round(a * (n - 1))], options[round(b * (n - 1))])
            if slider.value not in values and values[0] != values[1]:
                return values
        raise AssertionError(f"cannot pick two options for {case.id} among {options}")
    lo, hi, step = slider.min, slider.max, getattr(slider, "step", None) or 1
    cast = type(slider.value)
    for a, b in ((0.25, 0.75), (0.2, 0.8), (0.3, 0.7), (0.0, 1.0)):
        values = tuple(cast(lo + round(f * (hi - lo) / step) * step) for f in (a, b))
        if slider.value not in values and values[0] != values[1]:
            return values
    raise AssertionError(f"cannot pick two values for {case.id} in [{lo}, {hi}]")


def check_drawn(case: SliderCase, facts: dict, values: tuple[float, float], where: str) -> list[str]:
    """Problems with what two slider moves drew (facts["low"], facts["high"]); empty when all is well."""
    problems = []
    low, high = facts["low"], facts["high"]
    for name, f, v in (("first", low, values[0]), ("second", high, values[1])):
        if f["n_figures"] == 0:
            problems.append(
                f"setting {case.slider}.value = {v:g} ({name} move) drew no figure: is the slider's observer wired?"
            )
    if problems:
        return [f"{case.notebook} ({where}): {p}" for p in problems]
    if low["png"] == high["png"]:
        problems.append(f"the figure drawn at {values[1]:g} is pixel-identical to the one at {values[0]:g}")
    if case.title_format:
        for f, v in ((low, values[0]), (high, values[1])):
            want = case.title_format.format(v)
            if not any(want in t for t in f["texts"]):
                problems.append(f"no title shows {want!r} after setting {v:g}; titles: {f['texts']}")
    if case.check is not None:
        problems += case.check(low, high, case)
    return [f"{case.notebook} ({where}), {case.slider}: {p}" for p in problems]
