"""cfgrl_core.tabular: exact evaluation against closed forms, occupancies, validation errors."""

import numpy as np
import pytest

from cfgrl_core.tabular import (
    TabularMDP,
    evaluate,
    goal_occupancy,
    gridworld,
    kl_per_state,
    optimal_policy,
    policy_matrices,
    random_mdps,
    state_occupancy,
)


def bandit(r, gamma=0.9):
    """One state, len(r) actions, each returning to the state: V = E_pi[r] / (1 - gamma)."""
    A = len(r)
    return TabularMDP(np.ones((1, 1, A, 1)), np.array(r, dtype=float)[None, None], np.ones((1, 1)), gamma)


def chain(gamma=0.9):
    """s0 --a1--> s1 (absorbing, reward 1 per step); a0 keeps s0 with reward 0."""
    P = np.zeros((1, 2, 2, 2))
    P[0, 0, 0, 0] = P[0, 0, 1, 1] = P[0, 1, :, 1] = 1.0
    r = np.array([[[0.0, 0.0], [1.0, 1.0]]])
    return TabularMDP(P, r, np.array([[1.0, 0.0]]), gamma)


def test_bandit_closed_form():
    mdp, pi = bandit([1.0, 3.0]), np.array([[[0.25, 0.75]]])
    V, Q, A, J = evaluate(mdp, pi)
    v = (0.25 * 1 + 0.75 * 3) / (1 - 0.9)
    np.testing.assert_allclose(V, [[v]], rtol=1e-13)
    np.testing.assert_allclose(A, [[[1 - 2.5, 3 - 2.5]]], atol=1e-12)
    np.testing.assert_allclose(J, [v], rtol=1e-13)


def test_chain_closed_form():
    # pi(a1|s0) = p: V(s1) = 1 / (1 - gamma), V(s0) = gamma p V(s1) / (1 - gamma (1 - p))
    gamma, p = 0.9, 0.3
    mdp = chain(gamma)
    V, Q, A, J = evaluate(mdp, np.array([[[1 - p, p], [0.5, 0.5]]]))
    v1 = 1 / (1 - gamma)
    v0 = gamma * p * v1 / (1 - gamma * (1 - p))
    np.testing.assert_allclose(V[0], [v0, v1], rtol=1e-13)
    np.testing.assert_allclose(Q[0, 0], [gamma * v0, gamma * v1], rtol=1e-13)
    pi_star, J_star = optimal_policy(mdp)
    np.testing.assert_allclose(J_star, [gamma / (1 - gamma)], rtol=1e-13)
    assert pi_star[0, 0, 1] == 1.0


def test_random_batch_identities():
    mdp, pi_hat = random_mdps(0, 300)
    V, Q, A, J = evaluate(mdp, pi_hat)
    np.testing.assert_allclose((pi_hat * A).sum(-1), 0.0, atol=1e-12)  # E_pi[A_pi] = 0 at every state
    d = state_occupancy(mdp, pi_hat)
    np.testing.assert_allclose(d.sum(-1), 1.0, atol=1e-12)
    _, r_pi = policy_matrices(mdp, pi_hat)
    np.testing.assert_allclose((d * r_pi).sum(-1) / (1 - mdp.gamma), J, rtol=1e-12)
    G = goal_occupancy(mdp, pi_hat)
    np.testing.assert_allclose(G.sum(-1), 1.0, atol=1e-12)
    # padded states are unreachable; padded actions are never taken by pi_hat
    pad_s = np.arange(mdp.shape[0]) >= mdp.n_states[:, None]
    assert (d[pad_s] == 0).all()
    assert (pi_hat[~mdp.action_mask & ~pad_s[..., None]] == 0).all()
    assert set(np.unique(mdp.n_states)) == {2, 3, 4} and set(np.unique(mdp.n_actions)) == {2, 3}
    _, J_star = optimal_policy(mdp)
    assert (J_star >= J - 1e-12).all()


def test_batched_leading_axes_match_single():
    mdp, pi_hat = random_mdps(1, 20)
    stacked = np.stack([pi_hat, pi_hat[:, :, ::-1] / 1.0])
    stacked[1] = stacked[1] / stacked[1].sum(-1, keepdims=True)
    _, _, _, J2 = evaluate(mdp, stacked)
    _, _, _, J0 = evaluate(mdp, pi_hat)
    np.testing.assert_allclose(J2[0], J0, rtol=1e-13)


def test_goal_occupancy_closed_form_on_chain():
    # from s0 under "always move", s1 is reached at k = 1 and stays: p^gamma(s1 | s0, a1) = 1
    mdp = chain(0.8)
    G = goal_occupancy(mdp, np.array([[[0.0, 1.0], [0.5, 0.5]]]))
    np.testing.assert_allclose(G[0, 0, 1], [0.0, 1.0], atol=1e-13)
    # "stay" once, then move: p(s0) = (1 - gamma), p(s1) = gamma
    np.testing.assert_allclose(G[0, 0, 0], [0.2, 0.8], atol=1e-13)


def test_gridworld_rows_and_kl():
    mdp = gridworld(4, slip=0.3)
    assert mdp.P.shape == (1, 16, 5, 16)
    np.testing.assert_allclose(mdp.P.sum(-1), 1.0)
    assert kl_per_state(np.array([[0.5, 0.5]]), np.array([[0.5, 0.5]]))[0] == 0.0
    np.testing.assert_allclose(kl_per_state(np.array([[1.0, 0.0]]), np.array([[0.25, 0.75]])), [np.log(4)])
    assert kl_per_state(np.array([[0.5, 0.5]]), np.array([[1.0, 0.0]]))[0] == np.inf


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(gamma=1.0), "gamma"),
        (dict(gamma=-0.1), "gamma"),
        (dict(P=np.full((1, 2, 2, 2), 0.6)), "sum to 1"),
        (dict(P=np.array([[[[1.5, -0.5]] * 2] * 2])), "negative"),
        (dict(r=np.array([[[np.nan, 0.0], [0.0, 0.0]]])), "non-finite"),
        (dict(rho0=np.array([[0.3, 0.3]])), "sum to 1"),
    ],
)
def test_bad_mdps_are_refused(change, message):
    fields = dict(P=np.full((1, 2, 2, 2), 0.5), r=np.zeros((1, 2, 2)), rho0=np.array([[1.0, 0.0]]), gamma=0.9)
    fields.update(change)
    with pytest.raises(ValueError, match=message):
        TabularMDP(**fields)


def test_bad_policy_is_refused():
    mdp = chain()
    with pytest.raises(ValueError, match="sum to 1"):
        evaluate(mdp, np.array([[[0.5, 0.6], [0.5, 0.5]]]))
    with pytest.raises(ValueError, match="shape"):
        evaluate(mdp, np.full((1, 2, 3), 1 / 3))
