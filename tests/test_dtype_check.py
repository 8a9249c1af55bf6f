"""Issue 30's bfloat16 check (cfgrl_core.experiments.dtype_check): the two arms must be a pair, the paired table is
computed from the raw episodes, and the committed runs hold what the README says."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from cfgrl_core.experiments import dtype_check as dc
from cfgrl_core.experiments import stats


@pytest.fixture(scope="module")
def fp32():
    return dc.load_committed()  # a real float32 result stands in for both arms of the synthetic cases


def _arm(result, dtype="bfloat16", flip_seed=None):
    other = copy.deepcopy(result)
    other["preset"].update(name=f"cpu-{dtype}", compute_dtype=dtype)
    if flip_seed is not None:  # one seed's first task and episode changes its outcome, at every w
        step = str(other["checkpoint_steps"][-1])
        s = np.asarray(other["success"][step])
        s[flip_seed, 0, 0, :] = 1 - s[flip_seed, 0, 0, :]
        other["success"][step] = s.tolist()
    return other


def test_identical_arms_differ_by_nothing(fp32):
    table = dc.compare(fp32, _arm(fp32))
    assert all(r["diff"] == 0 and r["se"] == 0 and r["p"] == 1 for r in table["rows"])
    assert not table["any_beyond"] and table["validated"]["diff"] == 0


def test_the_paired_difference_is_read_from_the_episodes(fp32):
    other = _arm(fp32, flip_seed=1)
    table = dc.compare(fp32, other)
    step = str(fp32["checkpoint_steps"][-1])
    a, b = np.asarray(fp32["success"][step], float), np.asarray(other["success"][step], float)
    for j, row in enumerate(table["rows"]):
        mean, se, n = stats.gap(100 * b.mean(axis=(1, 2))[:, j] - 100 * a.mean(axis=(1, 2))[:, j])
        assert (row["diff"], row["se"], row["n"]) == pytest.approx((mean, se, n))
        assert row["low"] < row["diff"] < row["high"]
    one_episode = 100 / (a.shape[1] * a.shape[2]) / a.shape[0]  # one episode of one seed, averaged over the seeds
    assert abs(table["rows"][0]["diff"]) == pytest.approx(one_episode)


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda r: r.update(dataset_sha256="0" * 64), "dataset_sha256"),
        (lambda r: r.update(seed=1), "seed"),
        (lambda r: r["preset"].update(hidden_dims=[128, 128]), "hidden_dims"),
        (lambda r: r["preset"].update(compute_dtype="float32"), "compute_dtype"),
    ],
)
def test_runs_that_are_not_a_pair_are_refused(fp32, change, match):
    other = _arm(fp32)
    change(other)
    with pytest.raises(ValueError, match=match):
        dc.compare(fp32, other)


def test_arms_on_two_files_with_the_same_arrays_are_a_pair_and_other_arrays_are_not(fp32):
    first = dict(fp32, dataset_arrays_sha256="a" * 64)
    other = _arm(first)
    other["dataset_sha256"] = "0" * 64  # other bytes (written on another machine), the same arrays
    assert dc.compare(first, other)["validated"]["diff"] == 0
    other["dataset_arrays_sha256"] = "b" * 64
    with pytest.raises(ValueError, match="dataset_sha256"):
        dc.compare(first, other)
    del other["dataset_arrays_sha256"]  # an arm that did not record it: only the same file makes a pair
    with pytest.raises(ValueError, match="dataset_sha256"):
        dc.compare(first, other)
    rerun = _arm(first, dtype="float32")
    rerun.update(dataset_sha256="0" * 64, dataset_arrays_sha256="b" * 64)
    with pytest.raises(ValueError, match="dataset_arrays_sha256"):
        dc.compare_machines(first, rerun)


def test_two_machines_need_the_same_recipe_not_the_same_file(fp32):
    rerun = _arm(fp32, dtype="float32")
    rerun["dataset_sha256"] = "0" * 64  # generated on another machine: other bytes, same recipe
    assert dc.compare_machines(fp32, rerun)["validated"]["diff"] == 0
    rerun["dataset_recipe"] = dict(rerun["dataset_recipe"], goals_reached=-1)
    with pytest.raises(ValueError, match="dataset_recipe"):
        dc.compare_machines(fp32, rerun)
    with pytest.raises(ValueError, match="compute_dtype"):
        dc.compare_machines(fp32, _arm(fp32))


def test_the_committed_runs():
    fp32, bf16 = dc.load_pair()
    table = dc.compare(fp32, bf16)  # raises if they are not a pair
    scale = dc.compare_machines(dc.load_committed(), fp32)
    assert table["devices"][0] == table["devices"][1] and table["seeds"] == fp32["preset"]["num_seeds"]
    assert all("+dirty" not in str(c) for c in table["commits"][:1])  # the float32 arm ran at a clean commit
    line = dc.summary_line(table, scale)
    assert "bfloat16" in line and f"{table['validated']['diff']:+.1f}" in line
