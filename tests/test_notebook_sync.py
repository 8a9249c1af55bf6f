"""Each notebooks/NN_slug.ipynb and its percent-format twin NN_slug.py hold the same cells, and the
committed .ipynb carries no outputs (the visible results live in figures/)."""

import jupytext
import nbformat
import pytest

from cfgrl_core.io.run_notebooks import all_notebooks

NOTEBOOKS = all_notebooks()


def _cells(nb):
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_ipynb_and_py_twin_agree(path):
    twin = path.with_suffix(".py")
    assert twin.exists(), f"{path.name} has no text twin {twin.name} (run `make sync` or jupytext --set-formats)"
    nb = nbformat.read(path, as_version=4)
    py = jupytext.read(twin)
    a, b = _cells(nb), _cells(py)
    assert len(a) == len(b), f"{path.name} has {len(a)} cells, {twin.name} has {len(b)}; run `make sync`"
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        assert x == y, f"cell {i} of {path.name} differs from {twin.name}; run `make sync`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_ipynb_has_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not cell.outputs, f"{path.name} cell {i} has committed outputs"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"
