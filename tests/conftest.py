import os

# Tests run on the CPU, deterministically, and never write into the committed figures/ folder.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest

# Tests that start a browser, a kernel or a whole notebook, or run an experiment in a subprocess: `make test` runs
# them all (CI); `make test-quick` (pytest -m "not slow") skips them for a quick loop.
SLOW_FILES = {"test_browser.py", "test_widgets.py", "test_notebooks.py"}


# Where datasets go when no folder is named (cfgrl_core.ogbench.datasets.DATA_DIR_ENV; default ~/.ogbench/data).
OGBENCH_DATA_ENV = "CFGRL_OGBENCH_DATA"


@pytest.fixture(scope="session", autouse=True)
def ogbench_data_dir(tmp_path_factory):
    """Every test, and every kernel, server or subprocess a test starts (they inherit os.environ), keeps its datasets
    in one folder of this session's temporary directory, never in ~/.ogbench/data: notebook 04's FAST datasets are
    generated once per session and shared by the notebook, widget and browser tests."""
    path = tmp_path_factory.getbasetemp() / "ogbench_data"
    path.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(OGBENCH_DATA_ENV, str(path))
        yield path


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SLOW_FILES:
            item.add_marker(pytest.mark.slow)
