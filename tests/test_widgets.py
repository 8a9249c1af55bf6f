"""Every slider, driven from Python: set `slider.value` and check what its callback drew.

Two ways, each executing every notebook with a slider once (FAST mode, figures into a temporary folder):

* in the pytest process: the notebook's .py twin runs with `runpy` (matplotlib Agg); setting
  `slider.value` fires the observer synchronously, and the figure it drew is read back;
* in a real kernel through nbclient, which plays the front end's part for Output widgets: the value is
  set in one added cell and the Output widget is read in the next (the kernel applies the front end's
  update to `out.outputs` only once it is idle).

What "drew the right thing" means per slider is in tests/widget_support.py (`CASES`); a slider without an
entry there is still checked to redraw. The notebooks run from copies in a temporary folder.
"""

from __future__ import annotations

import contextlib
import json
import runpy

import matplotlib.pyplot as plt
import pytest
import widget_support as ws

CASES = ws.all_cases()


def test_sliders_are_discovered():
    ids = {c.id for c in CASES}
    assert "01_product_policies:w_slider" in ids, f"discovery found {sorted(ids)}"
    for case in ws.CASES:
        assert case.id in ids, f"{case.id} is listed in widget_support.CASES but its notebook defines no such slider"


class OneNotebookAtATime:
    """Runs a notebook on first request and keeps it (its globals or its live kernel) until another notebook
    is requested; the tests come grouped by notebook, so each runs once. (A module-scoped parametrized
    fixture would run a notebook once per slider.) A notebook that failed to run fails its other tests
    with the same error instead of running again."""

    def __init__(self, start):
        self._start, self._stem, self._stack, self._value, self._error = start, None, None, None, None

    def get(self, stem: str):
        if stem != self._stem:
            self.close()
            self._stem, self._stack = stem, contextlib.ExitStack()
            try:
                self._value = self._stack.enter_context(self._start(stem))
            except Exception as e:
                self._error = e
        if self._error is not None:
            raise self._error
        return self._value

    def close(self):
        if self._stack is not None:
            self._stack.close()
        self._stem = self._stack = self._value = self._error = None


# ---------------------------------------------------------------------------------------------------------
# In the pytest process
# ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def in_process(tmp_path_factory):
    """`in_process.get(stem)`: the globals of the notebook's .py twin, run in this process."""

    @contextlib.contextmanager
    def run(stem):
        work = ws.copy_notebooks(tmp_path_factory.mktemp(f"in_process_{stem}"), suffix=".py")
        backend = plt.get_backend()
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("FAST", "1")
            mp.setenv("CFGRL_FIGURES_DIR", str(work / "figures"))
            mp.chdir(work)
            plt.switch_backend("Agg")
            try:
                yield runpy.run_path(str(work / f"{stem}.py"), run_name=f"notebook_{stem}")
            finally:
                plt.close("all")
                plt.switch_backend(backend)

    notebooks = OneNotebookAtATime(run)
    yield notebooks
    notebooks.close()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_slider_redraws_in_process(in_process, case):
    slider = in_process.get(case.notebook)[case.slider]
    values = ws.pick_values(slider, case)
    facts = {}
    for key, value in zip(("low", "high"), values, strict=True):
        with ws.FigureRecorder() as recorder:
            slider.value = value
        facts[key] = ws.probe_figures(recorder, case.probe)
    plt.close("all")
    print(case.id, json.dumps(facts))
    problems = ws.check_drawn(case, facts, values, "in the pytest process")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------------------------
# In a real kernel (nbclient)
# ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """`kernel.get(stem)`: a function `run(source) -> stdout` that executes `source` as one more cell of the
    notebook, which ran first in a live kernel."""
    import nbformat
    from nbclient import NotebookClient

    @contextlib.contextmanager
    def start(stem):
        work = ws.copy_notebooks(tmp_path_factory.mktemp(f"kernel_{stem}"))
        nb = nbformat.read(work / f"{stem}.ipynb", as_version=4)
        client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(work)}})
        env = ws.kernel_environment(work / "figures")
        with client.setup_kernel(env=env):
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)

            def run(source: str) -> str:
                cell = nbformat.v4.new_code_cell(source)
                nb.cells.append(cell)
                client.execute_cell(cell, len(nb.cells) - 1)
                return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")

            yield run

    notebooks = OneNotebookAtATime(start)
    yield notebooks
    notebooks.close()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_slider_redraws_in_kernel(kernel, case):
    run = kernel.get(case.notebook)
    outs = f"_wc.output_state(*{case.outputs})"
    move = (
        f"with _wc.FigureRecorder() as _rec:\n    {case.slider}.value = _values[{{i}}]\n"
        f"_facts[{{key!r}}] = _wc.probe_figures(_rec, _case.probe)\n"
    )
    run(
        f"import json, sys\nsys.path.insert(0, {str(ws.TESTS_DIR)!r})\nimport widget_support as _wc\n"
        f"_case = next(c for c in _wc.all_cases() if c.id == {case.id!r})\n"
        f"_values = _wc.pick_values({case.slider}, _case)\n"
        f"_facts = {{'values': _values, 'out_before': {outs}}}\n" + move.format(i=0, key="low")
    )
    run(f"_facts['out_low'] = {outs}\n" + move.format(i=1, key="high"))
    facts = json.loads(run(f"_facts['out_high'] = {outs}\nprint(json.dumps(_facts))"))
    print(case.id, json.dumps(facts))
    values = tuple(facts["values"])
    problems = ws.check_drawn(case, facts, values, "in a kernel")
    before, low, high = facts["out_before"], facts["out_low"], facts["out_high"]
    where = f"{case.notebook} (in a kernel), {case.slider}"
    if not (before["png"] and low["png"] and high["png"]):
        problems.append(f"{where}: the Output widget holds no image (before/after the moves: {before}, {low}, {high})")
    else:
        for a, b, v in ((before, low, values[0]), (low, high, values[1])):
            if a["png"] == b["png"]:
                problems.append(f"{where}: the Output widget's image did not change when the value was set to {v:g}")
        if high["n_images"] != before["n_images"]:
            problems.append(
                f"{where}: the Output widget went from {before['n_images']} to {high['n_images']} "
                "images: old figures are not cleared"
            )
    assert not problems, "\n".join(problems)
