"""cfgrl_core.theory: fast versions (hundreds of MDPs) of every check of notebook 02, and closed forms."""

import numpy as np
import pytest

from cfgrl_core.tabular import TabularMDP, evaluate, gridworld, optimal_policy, random_mdps, state_occupancy
from cfgrl_core.theory import (
    chebyshev_gaps,
    custom_tilt,
    exp_frontier,
    exp_tilt,
    fit_logistic_classifier,
    gcbc_policy,
    goal_occupancy_from,
    goal_reward,
    guided_goal_policy,
    indicator_tilt,
    kl_objective,
    kl_optimum,
    kl_perturbation_gaps,
    kl_scipy_optimum,
    label_noise_tilt,
    logistic_tilt,
    max_drawdown,
    noisy_advantage_tilt,
    nonmonotone_example,
    performance_difference,
    product_policy,
    reach_probability,
    sigmoid_tilt,
    tilt_policy,
    two_room_counterexample,
    w_for_kl_budget,
    w_sweep,
)

N = 300
W = np.array([0.0, 0.5, 1.0, 2.0, 4.0, 8.0])
FS = [
    exp_tilt(1.0),
    sigmoid_tilt(3.0),
    indicator_tilt(1e-3),
    indicator_tilt(0.0),
    custom_tilt(lambda A: 1 + np.tanh(A)),
]


@pytest.fixture(scope="module")
def batch():
    mdp, pi_hat = random_mdps(0, N)
    _, _, A, J = evaluate(mdp, pi_hat)
    return mdp, pi_hat, A, J


@pytest.fixture(scope="module")
def sweeps(batch):
    mdp, pi_hat, A, _ = batch
    return {f.name: w_sweep(mdp, pi_hat, f, W, A_hat=A) for f in FS}


# ---- product policies


def test_w0_returns_pi_hat_exactly(batch):
    mdp, pi_hat, A, _ = batch
    for f in FS:
        assert np.array_equal(product_policy(pi_hat, A, f, 0.0), pi_hat)
        assert np.array_equal(product_policy(pi_hat, A, f, W)[0], pi_hat)


def test_bandit_product_policy_closed_form():
    # one state, rewards r: A = r - E_pi_hat r; pi_w propto pi_hat exp(w A / beta); J = E_pi_w r / (1 - gamma)
    r, pi_hat, beta, w, gamma = np.array([0.0, 1.0, 2.0]), np.array([0.5, 0.3, 0.2]), 0.5, 2.0, 0.9
    mdp = TabularMDP(np.ones((1, 1, 3, 1)), r[None, None], np.ones((1, 1)), gamma)
    _, _, A, _ = evaluate(mdp, pi_hat[None, None])
    np.testing.assert_allclose(A[0, 0], r - pi_hat @ r, atol=1e-12)
    pi_w = product_policy(pi_hat[None, None], A, exp_tilt(beta), w)[0, 0]
    expect = pi_hat * np.exp(w * r / beta)
    expect /= expect.sum()
    np.testing.assert_allclose(pi_w, expect, rtol=1e-12)
    _, _, _, J = evaluate(mdp, pi_w[None, None])
    np.testing.assert_allclose(J, [expect @ r / (1 - gamma)], rtol=1e-12)


def test_sigmoid_and_indicator_values():
    A = np.array([[[-1.0, 0.0, 2.0]]])
    pi_hat = np.full((1, 1, 3), 1 / 3)
    np.testing.assert_allclose(sigmoid_tilt(2.0)(A), 1 / (1 + np.exp(-2 * A)))
    np.testing.assert_allclose(indicator_tilt(0.1)(A), [[[0.1, 1.1, 1.1]]])
    np.testing.assert_allclose(product_policy(pi_hat, A, indicator_tilt(), 3.0), [[[0.0, 0.5, 0.5]]])
    np.testing.assert_allclose(noisy_advantage_tilt(1.0)(np.array([0.0])), [0.5])
    np.testing.assert_allclose(label_noise_tilt(0.2)(A), [[[0.2, 0.8, 0.8]]])


def test_decreasing_or_negative_f_is_refused(batch):
    _, pi_hat, A, _ = batch
    with pytest.raises(ValueError, match="decreasing"):
        product_policy(pi_hat, A, custom_tilt(lambda a: np.exp(-a), "exp(-A)"), 1.0)
    with pytest.raises(ValueError, match="negative"):
        product_policy(pi_hat, A, custom_tilt(lambda a: a, "A"), 1.0)
    with pytest.raises(ValueError, match="not a finite"):
        product_policy(pi_hat, A, custom_tilt(lambda a: np.full_like(a, np.nan), "nan"), 1.0)
    with pytest.raises(ValueError, match=">= 0"):
        product_policy(pi_hat, A, exp_tilt(), -0.5)
    with pytest.raises(ValueError, match="slope"):
        sigmoid_tilt(-1.0)
    with pytest.raises(ValueError, match="Z\\(s\\) = 0"):  # f = 0 on every action pi_hat takes
        tilt_policy(np.array([[1.0, 0.0]]), np.array([[-np.inf, 0.0]]), 1.0)


def test_f_may_be_flat_but_not_decreasing():
    A = np.array([[[-1.0, 0.5, 1.0]]])
    pi_hat = np.full((1, 1, 3), 1 / 3)
    step = custom_tilt(lambda a: np.where(a > 0.7, 2.0, 1.0), "step")
    np.testing.assert_allclose(product_policy(pi_hat, A, step, 1.0), [[[0.25, 0.25, 0.5]]])


# ---- Lemma 1


def test_lemma1_chebyshev():
    gaps = chebyshev_gaps(0, 2000)
    assert gaps["same"].min() >= -1e-12
    assert gaps["opposite"].max() <= 1e-12
    assert not np.allclose(gaps["opposite"], -gaps["same"])  # a check of its own, not the first one negated
    assert 0.2 < (gaps["unordered"] < 0).mean() < 0.8  # without a common order the gap takes both signs
    np.testing.assert_allclose(gaps["same"], gaps["pairs"], atol=1e-12)


# ---- Theorem 1 / Remark 1


def test_theorem1_no_violations(sweeps):
    for name, s in sweeps.items():
        assert s.improvement.min() >= -1e-9, name
        assert s.min_value_gap.min() >= -1e-9, name  # statewise: V_pi_w >= V_pi_hat
        assert (s.improvement[0] == 0).all(), name  # w = 0 is pi_hat


def test_indicator_without_floor_is_flat_in_w(sweeps):
    J = sweeps["1[A>=0]"].J
    assert np.abs(J[1:] - J[1]).max() <= 1e-12  # p(o|s,a)^w = p(o|s,a) for w > 0


# ---- Theorem 2 / Remark 2


def test_theorem2_surrogate_monotone(sweeps):
    for name, s in sweeps.items():
        assert s.surrogate_min_step().min() >= -1e-12, name
        assert np.diff(s.surrogate_J, axis=0).min() >= -1e-12, name


def test_true_return_can_decrease_in_w():
    mdp, pi_hat = two_room_counterexample()
    for f in (exp_tilt(1.0), sigmoid_tilt(3.0), indicator_tilt(1e-3)):
        s = w_sweep(mdp, pi_hat, f, W)
        assert s.nonmonotone()[0], f.name
        assert s.return_drawdown()[0] > 0.05, f.name
        assert s.improvement[1:].min() > 0, f.name  # Theorem 1 still holds
        assert s.surrogate_min_step()[0] >= -1e-12  # and so does the surrogate
    s = w_sweep(mdp, pi_hat, exp_tilt(1.0), W)
    np.testing.assert_allclose(s.J_hat, [3.625], rtol=1e-12)  # closed form: V = (3.875, 3.625)
    assert s.J[:, 0].argmax() == 4  # peaks at w = 4 on this grid, then falls


def test_random_search_finds_nonmonotone_mdps():
    mdp, pi_hat = random_mdps(3, 2000, 2, 2, concentration=0.1)
    s = w_sweep(mdp, pi_hat, indicator_tilt(1e-3), W)
    frac = s.nonmonotone().mean()
    assert 0.01 < frac < 0.2
    i = nonmonotone_example(s.J, mdp)
    assert i >= 0 and s.return_drawdown()[i] > 1e-9
    # the drawdown is the largest fall: here by hand on a small curve
    np.testing.assert_allclose(max_drawdown(np.array([1.0, 3.0, 2.0, 2.5, 0.5, 4.0]))[-1], 2.5)
    assert (max_drawdown(np.sort(np.random.default_rng(0).random((7, 5)), 0))[-1] == 0).all()


def test_performance_difference_identity(batch):
    mdp, pi_hat, A, _ = batch
    pi_w = product_policy(pi_hat, A, exp_tilt(1.0), W)
    lhs, rhs = performance_difference(mdp, pi_w, pi_hat)
    np.testing.assert_allclose(lhs, rhs, atol=1e-10)


# ---- KL trade-off


def test_kl_monotone_in_w_and_budget(sweeps):
    for name, s in sweeps.items():
        assert np.diff(s.kl, axis=0).min() >= -1e-12, name
    s = sweeps["exp(A/1)"]
    kl = s.kl_avg.mean(1)
    budget = 0.5 * (kl[2] + kl[3])
    assert w_for_kl_budget(s.w, kl, budget) == s.w[2]  # the largest grid w within the budget
    assert w_for_kl_budget(s.w, kl, 1e9) == s.w[-1]
    assert w_for_kl_budget(s.w, kl, 0.0) == 0.0


def test_exp_tilt_is_the_kl_frontier(batch, sweeps):
    _, pi_hat, A, _ = batch
    for name in ("sigmoid(3A)", "1[A>=0]+0.001"):
        s = sweeps[name]
        _, frontier, _ = exp_frontier(pi_hat, A, s.kl)
        assert (s.surrogate - frontier).max() <= 1e-9, name


# ---- Remark 3


def test_remark3_closed_form_is_the_maximiser(batch):
    mdp, pi_hat, A, _ = batch
    mask = mdp.action_mask.all(-1)  # states where every action is real (pi_hat > 0 everywhere)
    ph, a = pi_hat[mask], A[mask]
    for beta in (0.1, 1.0):
        pi_star, value = kl_optimum(ph, a, beta)
        np.testing.assert_allclose(kl_objective(pi_star, ph, a, beta), value, atol=1e-12)
        assert kl_perturbation_gaps(0, ph, a, beta, n_perturb=16).max() <= 1e-12
        # objective(pi*) - objective(pi) = beta KL(pi || pi*) for any pi
        other = product_policy(ph[None], a[None], sigmoid_tilt(2.0), 1.0)[0]
        gap = value - kl_objective(other, ph, a, beta)
        kl = (other * np.log(other / pi_star)).sum(-1)
        np.testing.assert_allclose(gap, beta * kl, atol=1e-12)
        for i in range(5):
            pi_opt, v_opt = kl_scipy_optimum(ph[i], a[i], beta)
            assert abs(v_opt - value[i]) <= 1e-9
            np.testing.assert_allclose(pi_opt, pi_star[i], atol=1e-6)


# ---- GCBC (Eq. 17-19)


def test_gcbc_factorisation_two_routes_and_guidance():
    mdp = gridworld(4, slip=0.2, gamma=0.9)
    S = 16
    pi_hat = np.full((1, S, 5), 0.2)
    goal = S - 1
    pi_g, p_sag = gcbc_policy(mdp, pi_hat, goal)
    _, Q_g, _, _ = evaluate(mdp, pi_hat, r=goal_reward(mdp, goal))
    np.testing.assert_allclose(p_sag, (1 - mdp.gamma) * Q_g, atol=1e-14)  # Q of the goal reward
    alt = pi_hat * Q_g
    np.testing.assert_allclose(pi_g, alt / alt.sum(-1, keepdims=True), atol=1e-14)
    pw = guided_goal_policy(pi_hat, pi_g, np.array([0.0, 1.0, 3.0]))
    assert np.array_equal(pw[0], pi_hat)
    np.testing.assert_allclose(pw[1], pi_g, atol=1e-14)
    direct = pi_hat * p_sag**3
    np.testing.assert_allclose(pw[2], direct / direct.sum(-1, keepdims=True), atol=1e-12)
    reach = reach_probability(mdp, pw, goal, 15)[:, 0]
    occ = goal_occupancy_from(mdp, pw, goal)[:, 0]
    assert reach[0] < reach[1] < reach[2]
    assert occ[0] < occ[1] < occ[2]


def test_gcbc_random_mdps_theorem1_for_goals():
    mdp, pi_hat = random_mdps(2, 200, 5, 3, gamma=0.9)
    goals = np.random.default_rng(0).integers(0, 5, mdp.batch)
    pi_g, _ = gcbc_policy(mdp, pi_hat, goals)
    pw = guided_goal_policy(pi_hat, pi_g, W)
    occ = goal_occupancy_from(mdp, pw, goals)
    assert (occ - occ[0]).min() >= -1e-12  # f = p^gamma(g|s,a) is non-decreasing in A_g at each state


def test_reach_probability_closed_form():
    # two states, "move" from s0 to s1 with probability q per step: Pr(reach within H) = 1 - (1 - q)^H
    q, H = 0.3, 4
    P = np.zeros((1, 2, 1, 2))
    P[0, 0, 0] = [1 - q, q]
    P[0, 1, 0] = [0.0, 1.0]
    mdp = TabularMDP(P, np.zeros((1, 2, 1)), np.array([[1.0, 0.0]]), 0.9)
    np.testing.assert_allclose(reach_probability(mdp, np.ones((1, 2, 1)), 1, H), [1 - (1 - q) ** H])


# ---- binary-label degeneracy and smoothing


def test_binary_labels_degenerate_and_smoothing(batch):
    mdp, pi_hat, A, J_hat = batch
    ws = np.array([0.0, 1.0, 2.0, 8.0, 32.0])
    det = product_policy(pi_hat, A, indicator_tilt(), ws)
    assert all(np.array_equal(det[1], det[k]) for k in range(2, len(ws)))  # p^w = p exactly
    flip = w_sweep(mdp, pi_hat, label_noise_tilt(0.2), ws, A_hat=A)
    J_det = w_sweep(mdp, pi_hat, indicator_tilt(), ws, A_hat=A).J[1]
    np.testing.assert_allclose(flip.J[-1], J_det, atol=1e-9)  # large w only undoes the label noise
    d = state_occupancy(mdp, pi_hat)
    k, b = fit_logistic_classifier(A, d[..., None] * pi_hat, lam=1e-2)
    assert (k > 0).all() and np.isfinite(k).all()
    smooth = w_sweep(mdp, pi_hat, logistic_tilt(k, b), ws, A_hat=A)
    _, J_star = optimal_policy(mdp)
    gain = lambda J: ((J - J_hat) / (J_star - J_hat)).mean()
    assert gain(flip.J[1]) < gain(flip.J[2]) < gain(J_det)  # on average, label noise stays below filtered BC
    assert gain(smooth.J[-1]) > gain(J_det) + 0.02  # a graded p(o=1|s,a) lets w > 1 go beyond filtered BC
    assert gain(smooth.J[1]) < gain(smooth.J[2]) < gain(smooth.J[3])
    with pytest.raises(ValueError, match="lam"):
        fit_logistic_classifier(A, d[..., None] * pi_hat, lam=0.0)
