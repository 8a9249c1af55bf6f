"""The experiments wing's shared pieces: where results live, the run folder, "load if finished, else run", which
checkpoints are kept, the statistics and the verdict rule, the command-line base, the slider plot."""

from __future__ import annotations

import dataclasses
import json

import jax
import numpy as np
import pytest

from cfgrl_core.experiments import cli, protocol, stats
from cfgrl_core.experiments.resumable import Checkpoints
from cfgrl_core.io.checkpoints import CheckpointDir


@dataclasses.dataclass(frozen=True)
class Sizes:
    name: str
    num_steps: int = 10
    num_seeds: int = 2


EXPERIMENT = protocol.Experiment("toy", {"small": Sizes("small"), "big": Sizes("big", 100, 4)}, script="scripts/x.py")


def test_one_results_location_rule_for_every_experiment(monkeypatch, tmp_path):
    monkeypatch.delenv(protocol.RESULTS_ENV, raising=False)
    assert EXPERIMENT.results_dir("small") == protocol.COMMITTED_RESULTS / "toy" / "small"
    monkeypatch.setenv(protocol.RESULTS_ENV, str(tmp_path))
    assert EXPERIMENT.results_dir("small") == tmp_path / "toy" / "small"  # the variable replaces results/
    assert EXPERIMENT.committed_dir("small") == protocol.COMMITTED_RESULTS / "toy" / "small"  # never moved
    from cfgrl_core.experiments import gc_studies, gcbc_cfgrl, offline_rl, pgd_agents, pgd_pointmass

    for module in (gcbc_cfgrl, offline_rl, pgd_pointmass, pgd_agents, gc_studies):  # every experiment obeys it
        assert module.results_dir("cpu") == tmp_path / module.EXPERIMENT.name / "cpu"
    assert len({m.EXPERIMENT.name for m in (gcbc_cfgrl, offline_rl, pgd_pointmass, pgd_agents, gc_studies)}) == 5


def test_the_preset_registry():
    assert EXPERIMENT.preset("big") == Sizes("big", 100, 4)
    custom = Sizes("mine", 3)
    assert EXPERIMENT.preset(custom) is custom
    with pytest.raises(ValueError, match=r"unknown preset 'huge'; choose one of \['big', 'small'\]"):
        EXPERIMENT.preset("huge")
    with pytest.raises(FileNotFoundError, match=r"no result at .*\(run scripts/x.py to make one\)"):
        EXPERIMENT.load_result("/nonexistent/r.json")


def test_a_run_folder_refuses_another_configuration_and_caches_evaluations(tmp_path):
    folder = protocol.RunFolder(tmp_path / "run", {"preset": {"steps": 10}, "seed": 0})
    assert json.loads((tmp_path / "run" / "config.json").read_text()) == {"preset": {"steps": 10}, "seed": 0}
    protocol.RunFolder(tmp_path / "run", {"preset": {"steps": 10}, "seed": 0})  # the same run: resumed
    with pytest.raises(ValueError, match=r"another configuration \(differs in \['seed'\]\)"):
        protocol.RunFolder(tmp_path / "run", {"preset": {"steps": 10}, "seed": 1})
    calls = []
    first = folder.cached("step_10", lambda: calls.append(1) or {"success": [1, 0]})
    again = folder.cached("step_10", lambda: calls.append(1) or {"success": [9, 9]})
    assert first == again == {"success": [1, 0]} and calls == [1]  # computed once, then read back
    assert protocol.cached_or_run(None, "x", lambda: 5) == 5
    folder.checkpoints("world_model").save(3, {"a": np.zeros(2)})
    folder.clear_work()
    assert not (tmp_path / "run" / "train").exists() and not (tmp_path / "run" / "evals").exists()
    assert (tmp_path / "run" / "config.json").is_file()


def test_obtain_loads_a_finished_result_only_when_reused_or_made_by_this_commit(tmp_path, monkeypatch):
    result = tmp_path / "r.json"
    events = []

    def run():  # a run writes its result and weights; it returns them in its own form (a tuple), never seen
        events.append("run")
        result.write_text(json.dumps({"commit": "new0000", "w": (1, 2)}))
        (tmp_path / "weights").mkdir(exist_ok=True)
        return {"commit": "new0000", "w": (1, 2)}

    def call(reuse):
        events.clear()
        return protocol.obtain("toy", result, also=[tmp_path / "weights"], reuse=reuse,
                               load=lambda: events.append("load") or json.loads(result.read_text()),
                               discard=lambda: events.append("discard"), run=run, log=lambda line: None)  # fmt: skip

    fresh = {"commit": "new0000", "w": [1, 2]}  # as saved: a fresh run is read back, the same form as a reused one
    assert call(reuse=True) == fresh and events == ["run", "load"]  # nothing finished: run
    result.write_text(json.dumps({"commit": "abc1234"}))
    (tmp_path / "weights").rmdir()
    assert call(reuse=True) == fresh and events == ["discard", "run", "load"]  # the weights are missing: made again
    result.write_text(json.dumps({"commit": "abc1234"}))
    assert call(reuse=True) == {"commit": "abc1234"} and events == ["load"]
    monkeypatch.setattr(protocol, "made_by_this_commit", lambda made_with: made_with == "abc1234")
    assert call(reuse=False) == {"commit": "abc1234"} and events == ["load"]  # made by this clean commit
    monkeypatch.setattr(protocol, "made_by_this_commit", lambda made_with: False)
    assert call(reuse=False) == fresh and events == ["discard", "run", "load"]  # made by another: done again
    result.unlink()
    (tmp_path / "weights").rmdir()
    with pytest.raises(RuntimeError, match=r"toy: the run finished without writing \['.*weights'\]"):
        protocol.obtain("toy", result, also=[tmp_path / "weights"], reuse=True, load=dict, discard=dict,
                        run=lambda: result.write_text("{}"), log=lambda line: None)  # fmt: skip


def test_a_runner_never_takes_or_overwrites_another_presets_result(tmp_path):
    result, folder = tmp_path / "task.json", tmp_path / "task"
    folder.mkdir()
    assert protocol.prepare_result_file(result, folder, preset_name="cpu", log=lambda line: None)  # nothing yet
    result.write_text(json.dumps({"preset": {"name": "cpu"}}))
    assert not protocol.prepare_result_file(result, folder, preset_name="cpu", log=lambda line: None)  # kept
    assert protocol.prepare_result_file(result, folder, preset_name="cpu", overwrite=True, log=lambda line: None)
    assert not folder.exists()  # an overwrite starts from scratch
    with pytest.raises(ValueError, match=r"holds a result of preset 'cpu', not 'cpu-modified': choose another --out"):
        protocol.prepare_result_file(result, folder, preset_name="cpu-modified", overwrite=True)
    assert json.loads(result.read_text()) == {"preset": {"name": "cpu"}}  # untouched


def test_checkpoints_keep_the_latest_and_the_chosen_steps(tmp_path):
    saver = Checkpoints(CheckpointDir(tmp_path / "train"), keep=(2, 4))
    for step in (1, 2, 3, 4, 5, 6):
        saver.save(step, {"x": np.full(3, step, np.float32)})
    assert saver.dir.steps() == [2, 4, 6] and saver.latest() == 6
    assert np.array_equal(saver.restore(4, {"x": np.zeros(3, np.float32)})["x"], np.full(3, 4))
    nothing = Checkpoints(None)
    nothing.save(1, {"x": jax.numpy.zeros(1)})  # no folder: nothing saved, nothing to resume
    assert nothing.latest() is None


def test_the_statistics_and_the_verdict_rule():
    assert stats.mean_std([1.0, 3.0]) == (2.0, pytest.approx(np.sqrt(2)))
    mean, std = stats.mean_std([5.0])
    assert mean == 5.0 and np.isnan(std)
    d = np.array([1.0, 2.0, 3.0, 6.0])
    assert stats.mean_se(d) == (3.0, pytest.approx(np.std(d, ddof=1) / 2))
    m, se = stats.mean_se(np.array([[1.0, 10.0], [3.0, 10.0]]), axis=0)  # per column, over seeds
    np.testing.assert_allclose(m, [2.0, 10.0])
    np.testing.assert_allclose(se, [1.0, 0.0])
    assert np.isnan(stats.mean_se([4.0])[1])
    # the paired t-test: t = 2.72 over 4 seeds (04's teleport w = 3) is p = 0.07, not a difference; over 30 it is
    assert stats.p_value(2.72, 1.0, 4) == pytest.approx(0.0725, abs=5e-4)
    assert not stats.beyond_noise(2.72, 1.0, 4) and stats.beyond_noise(2.72, 1.0, 30)
    assert stats.beyond_noise(3.2, 1.0, 4) and stats.beyond_noise(-3.2, 1.0, 4) and not stats.beyond_noise(3.1, 1.0, 4)
    assert stats.beyond_noise(2.4, 1.0, 8) and not stats.beyond_noise(2.3, 1.0, 8)  # t(0.975, 7) = 2.36
    assert not stats.beyond_noise(5.0, np.nan, 4) and not stats.beyond_noise(5.0, 1.0, 1)  # no SE or one seed: none
    assert stats.beyond_noise(1.0, 0.0, 3) and not stats.beyond_noise(0.0, 0.0, 3)  # identical pairs
    d4 = np.array([2.0, 3.0, 4.0, 6.0])  # p from the differences equals scipy's one-sample t-test on them
    from scipy.stats import ttest_1samp

    assert stats.p_value(*stats.gap(d4)) == pytest.approx(ttest_1samp(d4, 0.0).pvalue)
    assert stats.verdict(*stats.gap(d4)) == "a difference: paired t-test over 4 seeds, p = 0.022"
    assert stats.verdict(1.0, 1.0, 4).startswith("within the noise: paired t-test over 4 seeds, p = 0.39")
    assert stats.verdict(5.0, np.nan, 1) == "no test: 1 seeds"  # neither verdict without a test
    same = stats.gap([30.0, 30.0, 30.0, 30.0])  # every seed the same difference: p = 0, and the text says why
    assert stats.verdict(*same) == "a difference: paired t-test over 4 seeds, p = 0, all 4 differences equal (SE 0)"
    assert stats.verdict(0.0, 0.0, 4) == "within the noise: paired t-test over 4 seeds, p = 1"
    assert stats.verdict(3.2, 1.0, 4, test="unpaired t-test").startswith("a difference: unpaired t-test over 4")
    assert stats.gap([1.0, np.nan, 3.0]) == (2.0, pytest.approx(1.0), 2)  # a seed without a value is left out
    a, b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 2.5, 3.0])
    paired, unpaired = stats.mean_difference(a, b, paired=True), stats.mean_difference(a, b, paired=False)
    assert paired[0] == unpaired[0] == pytest.approx(1.1666666)
    assert paired[1] == pytest.approx(np.std(b - a, ddof=1) / np.sqrt(3))
    assert unpaired[1] == pytest.approx(np.hypot(np.std(a, ddof=1), np.std(b, ddof=1)) / np.sqrt(3))
    assert stats.pm(12.345, 3.21) == "12.3 ± 3.2" and stats.pm(1.0, np.nan, ".0f") == "1 ± –"
    val = np.array([[[0, 1, 1], [0, 0, 1]], [[1, 1, 0], [0, 1, 1]]])  # [S=2, K=2, V=3]: ties go to the smallest
    np.testing.assert_array_equal(stats.choose_by_validation(val, (0.0, 1.0, 3.0)), [3.0, 1.0])
    assert stats.mlp_name((256, 256, 256)) == "3×256" and stats.mlp_name((64, 32)) == "64×32"


def test_the_command_line_base(tmp_path):
    parser = cli.runner_parser("doc", EXPERIMENT)
    cli.add_data_arguments(parser)
    cli.add_size_overrides(parser)
    args = parser.parse_args(["--preset", "big"])
    preset = cli.sized_preset(EXPERIMENT.preset(args.preset), args)
    assert preset == Sizes("big", 100, 4) and cli.results_folder(args, EXPERIMENT, preset.name).parts[-2:] == (
        "toy", "big")  # fmt: skip
    args = parser.parse_args(["--preset", "big", "--num-steps", "7", "--out", str(tmp_path), "--seed", "3"])
    preset = cli.sized_preset(EXPERIMENT.preset(args.preset), args)
    assert preset == Sizes("big-modified", 7, 4)  # a changed size is recorded under its own name
    assert cli.results_folder(args, EXPERIMENT, preset.name) == tmp_path and args.seed == 3
    with pytest.raises(SystemExit):
        parser.parse_args(["--preset", "huge"])
    with pytest.raises(SystemExit):
        parser.parse_args(["--num-steps", "0"])


def test_a_slider_plot_redraws_its_figure_when_the_slider_moves():
    import ipywidgets as widgets
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cfgrl_core.widgets import SliderPlot

    drawn = []

    def draw(value):
        drawn.append(value)
        fig, ax = plt.subplots()
        ax.set_title(f"w = {value:.2f}")
        return fig

    out = SliderPlot(draw)
    assert isinstance(out, widgets.Output)  # the tests and the browser find it as any Output
    w_slider = widgets.FloatSlider(value=1.0, min=0.0, max=5.0, step=0.25)
    w_slider.observe(out.on_change, names="value")
    box = out.view(w_slider)
    assert drawn == [1.0] and list(box.children) == [w_slider, out]
    w_slider.value = 3.0
    assert drawn == [1.0, 3.0]
    plt.close("all")
