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


@pytest.fixture(scope="session", autouse=True)
def jax_compilation_cache(tmp_path_factory):
    """One persistent JAX compilation cache for the session, in its temporary folder (never reused by another
    session): this process and every kernel, server or subprocess a test starts (they inherit os.environ) compile
    a program once. The notebooks run up to four times (Voila, nbclient, in-process, FAST), the GPU job's test runs
    the offline runner in a subprocess and again in this process. A program read from the cache is the program
    compiled, so no number changes; compiling is most of a FAST run (notebook 05: 86 s cold, 33 s warm on the
    2-core AMD EPYC)."""
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    path = tmp_path_factory.getbasetemp() / "jax_compilation_cache"
    path.mkdir(exist_ok=True)
    settings = dict(jax_compilation_cache_dir=str(path), jax_persistent_cache_min_compile_time_secs=0.0,
                    jax_persistent_cache_min_entry_size_bytes=0)  # fmt: skip
    old = {name: getattr(jax.config, name) for name in settings}
    with pytest.MonkeyPatch.context() as mp:
        for name, value in settings.items():
            mp.setenv(name.upper(), str(value))  # JAX_COMPILATION_CACHE_DIR etc., read by every new process
            jax.config.update(name, value)
        compilation_cache.reset_cache()
        try:
            yield path
        finally:
            for name, value in old.items():
                jax.config.update(name, value)
            compilation_cache.reset_cache()


def pytest_sessionstart(session):
    import time

    session.config._cfgrl_started = time.time()  # read by pytest_sessionfinish


def pytest_sessionfinish(session, exitstatus):
    """Record what this run cost in build/test_run.json (wall seconds, outcome counts, commit, cores, the arguments):
    the source of benchmarks/results/make_test.json, from which the README states what `make test` costs."""
    import json
    import time

    from cfgrl_core.io.atomic import atomic_write_json
    from cfgrl_core.io.provenance import REPO_ROOT, git_commit

    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    counts = {key: len(reporter.stats.get(key, [])) for key in ("passed", "failed", "skipped", "error")}
    record = dict(args=session.config.invocation_params.args, commit=git_commit(), cores=os.cpu_count(),
                  date=time.strftime("%Y-%m-%d"), seconds=round(time.time() - session.config._cfgrl_started, 2),
                  exit_status=int(exitstatus), **counts)  # fmt: skip
    atomic_write_json(REPO_ROOT / "build" / "test_run.json", json.loads(json.dumps(record, default=str)))


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SLOW_FILES:
            item.add_marker(pytest.mark.slow)
