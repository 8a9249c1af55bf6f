"""The figure helper writes PNG + CSV + provenance atomically, only where it is told to."""

import json

import matplotlib.pyplot as plt
import pytest

from cfgrl_core.io import figures


def test_save_figure_writes_png_csv_and_provenance(tmp_path, monkeypatch):
    monkeypatch.setenv("CFGRL_FIGURES_DIR", str(tmp_path))
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 2])
    path = figures.save_figure(fig, "fig99_test", {"w": [0, 1], "value": [1.0, 2.0]}, {"seed": 3})
    plt.close(fig)
    assert path == tmp_path / "fig99_test.png" and path.read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "fig99_test.csv").read_text() == "w,value\n0,1.0\n1,2.0\n"
    meta = json.loads((tmp_path / "fig99_test.json").read_text())
    assert meta["seed"] == 3 and "commit" in meta and meta["device"].startswith("cpu")
    assert not list(tmp_path.glob(".*tmp"))  # no temporary files left behind


def test_bad_names_and_ragged_tables_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("CFGRL_FIGURES_DIR", str(tmp_path))
    fig = plt.figure()
    with pytest.raises(ValueError, match="figNN_slug"):
        figures.save_figure(fig, "tilts.png")
    with pytest.raises(ValueError, match="different lengths"):
        figures.table_to_csv({"a": [1, 2], "b": [1]})
    plt.close(fig)


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "x.csv"
    figures.atomic_write_bytes(target, b"old")

    class Boom(bytes):
        pass

    with pytest.raises(TypeError):
        figures.atomic_write_bytes(target, object())  # not bytes: the write fails midway
    assert target.read_bytes() == b"old"
    assert not list(tmp_path.glob(".*tmp"))
