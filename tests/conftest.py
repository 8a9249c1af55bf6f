import os

# Tests run on the CPU, deterministically, and never write into the committed figures/ folder.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest

# Tests that start a browser, a kernel or a whole notebook, or run an experiment in a subprocess: `make test` runs
# them all (CI); `make test-quick` (pytest -m "not slow") skips them for a quick loop.
SLOW_FILES = {"test_browser.py", "test_widgets.py", "test_notebooks.py"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SLOW_FILES:
            item.add_marker(pytest.mark.slow)
