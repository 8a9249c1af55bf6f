"""Notebook 09's budget rule and report on planted measurements: the rule reads the calibration maze's validation
choice and the target mazes' KL only (never their success), the first crossing of the budget counts, and the
paired differences are those of the planted numbers."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from cfgrl_core.experiments import kl_budget as kb

WS = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0]
ENVS = (kb.MEDIUM, kb.LARGE)


def test_first_w_within_takes_the_first_crossing():
    assert kb.first_w_within(WS, [0, 0.1, 0.4, 0.9, 1.6, 3.0, 8.0], 1.0) == 1.5
    assert kb.first_w_within(WS, [0, 0.1, 0.4, 0.9, 1.6, 3.0, 8.0], 100.0) == 5.0
    assert kb.first_w_within(WS, [0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], 1.0) == 0.0  # w = 0 always qualifies
    # a noisy dip past the crossing does not count
    assert kb.first_w_within(WS, [0, 0.1, 1.2, 0.9, 1.6, 3.0, 8.0], 1.0) == 0.5


def _env(kl_per_seed):
    """A measured maze: per seed a KL curve [W] (the same at every state, 3 states)."""
    return dict(
        ws=WS, seeds=list(range(len(kl_per_seed))),
        dataset=[dict(kl=np.repeat(np.asarray(c, float)[:, None], 3, 1).tolist(), det_min=[[1.0]], residual=[[0.0]])
                 for c in kl_per_seed],
        rollouts=[dict(kl=np.repeat(np.asarray(c, float)[:, None], 2, 1).tolist()) for c in kl_per_seed],
    )  # fmt: skip


def _source(chosen_w, success):
    """Notebook 04's result: success [S, W] (as one task, one episode) and the validation-chosen w."""
    success = np.asarray(success, float)[:, None, None, :]
    return dict(ws=WS, checkpoint_steps=[10], success={"10": success.tolist()}, chosen_w=list(chosen_w))


@pytest.fixture
def planted():
    curve = np.array([0, 0.2, 0.6, 1.2, 2.0, 4.0, 9.0])
    result = dict(preset=dict(env_names=list(ENVS), name="planted", source_preset="cpu"),
                  envs={kb.MEDIUM: _env([curve, curve * 1.1]), kb.LARGE: _env([curve * 0.5, curve * 2.0])})  # fmt: skip
    srcs = {
        kb.MEDIUM: _source([1.5, 2.0], np.zeros((2, 7))),
        kb.LARGE: _source([3.0, 1.0], [[0, 0, 0.2, 0.4, 0.6, 0.8, 0.2], [0, 0, 0.5, 0.5, 0.25, 0, 0]]),
    }
    return result, srcs


def test_budget_is_the_median_kl_of_the_calibration_choice(planted):
    result, srcs = planted
    cal = kb.calibration(result, srcs)
    np.testing.assert_allclose(cal["kl"], [1.2, 2.0 * 1.1])  # seed 0 at w = 1.5, seed 1 at w = 2
    assert cal["budget"] == pytest.approx(np.median([1.2, 2.2]))
    assert cal["fixed_w"] == 1.5  # the lower median of (1.5, 2)


def test_choices_and_their_paired_differences(planted):
    result, srcs = planted
    rows = kb.choices(result, srcs)
    budget = kb.calibration(result, srcs)["budget"]  # 1.7 nats
    assert budget == pytest.approx(1.7)
    # large seed 0's KL is half medium's: within 1.7 up to w = 3 (KL 2.0 > 1.7? no: 0.5 * 4.0 = 2.0 > 1.7) -> w = 2
    assert [r["w budget"] for r in rows] == [2.0, 1.0]  # seed 1's KL is twice: 1.2 at w = 1, 2.4 at 1.5
    assert [r["success budget"] for r in rows] == [60.0, 50.0]
    assert [r["success validated"] for r in rows] == [80.0, 50.0]
    diffs = kb.rule_differences(rows)
    assert diffs["validated"][0] == pytest.approx(-10.0) and diffs["validated"][2] == 2
    assert diffs["gcbc"][0] == pytest.approx(((60 - 20) + (50 - 50)) / 2)


def test_the_budget_rule_never_reads_the_target_mazes_success(planted):
    """Scramble the target maze's success: the w the budget picks stays the same (only the success at it moves)."""
    result, srcs = planted
    scrambled = copy.deepcopy(srcs)
    rng = np.random.default_rng(0)
    scrambled[kb.LARGE]["success"]["10"] = rng.random((2, 1, 1, 7)).tolist()
    scrambled[kb.LARGE]["chosen_w"] = [0.5, 5.0]
    picks = lambda s: [r["w budget"] for r in kb.choices(result, s)]  # noqa: E731
    assert picks(scrambled) == picks(srcs)
    # while the calibration maze's validation choice does move it
    moved = copy.deepcopy(srcs)
    moved[kb.MEDIUM]["chosen_w"] = [5.0, 5.0]
    assert picks(moved) != picks(srcs)


def test_peaks_take_the_smallest_w_among_ties(planted):
    result, srcs = planted
    peaks = {p["env"]: p for p in kb.peaks(kb.curves(result, srcs))}
    assert peaks["large"]["w"] == 1.5 and peaks["large"]["success"] == pytest.approx(45.0)
    assert peaks["medium"]["w"] == 0.0 and peaks["medium"]["success"] == 0.0
