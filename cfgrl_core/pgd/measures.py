"""What a batch of synthetic transitions is worth: how on-policy it is and how physical it is.

    target_log_likelihood   mean over transitions of log pi_target(u_t | s_t) (PGD, Figure 2: "higher likelihood
                            under the target distribution"); pre-clip actions, no correction for the clip
    dynamics_error          ||s_{t+1} - f(s_t, u_t)|| per transition: reset the true simulator to the generated
                            state, step the generated action, compare with the generated next state. Zero on
                            real data by construction (`pointmass.step` made them)
    reward_error            |r_t - r(f(s_t, u_t))|, the same for the modelled reward
    log_z                   mean log Z(s_t), PGD's implicit tilt towards states where the policies agree

Every function takes windows as arrays states [N, H+1, 2], actions [N, H, 2] (and rewards [N, H]); a transition
set is a window of length 1.
"""

from __future__ import annotations

import numpy as np

from cfgrl_core.pgd import pointmass, tilt


def _mean(values: np.ndarray) -> float:
    return float(np.asarray(values, np.float64).mean())


def log_likelihoods(policy: pointmass.GaussianPolicy, states, actions) -> np.ndarray:
    """log pi(u_t | s_t) per transition [N, H]."""
    s, u = np.asarray(states, np.float32)[:, :-1], np.asarray(actions, np.float32)
    return np.asarray(pointmass.log_prob(policy, s, u))


def target_log_likelihood(policy, states, actions) -> float:
    return _mean(log_likelihoods(policy, states, actions))


def dynamics_errors(world: pointmass.PointMassWorld, states, actions) -> np.ndarray:
    """||s_{t+1} - f(s_t, u_t)|| per transition [N, H]."""
    s = np.asarray(states, np.float32)
    predicted = pointmass.step(world, s[:, :-1], actions)
    return np.sqrt(np.sum((s[:, 1:] - predicted) ** 2, -1, dtype=np.float32))


def dynamics_error(world, states, actions) -> float:
    return _mean(dynamics_errors(world, states, actions))


def reward_error(world, states, actions, rewards) -> float:
    true = pointmass.reward(world, pointmass.step(world, np.asarray(states, np.float32)[:, :-1], actions))
    return _mean(np.abs(np.asarray(rewards, np.float32) - true))


def mean_log_z(behaviour, target, lam, states) -> float:
    return _mean(tilt.log_z_state(behaviour, target, lam, np.asarray(states)[:, :-1]))
