"""Policy guidance: steer a trajectory flow towards p_off(tau) q_target(tau)^lambda while sampling (PGD, section 1.3).

Flow convention as everywhere in the collection (`cfgrl_core.flow`): noise x_0 at t = 0, data x_1 at t = 1,
x_t = (1 - t) x_0 + t x_1. The marginal velocity and score of p_t are tied by

    v(x, t) = (x + (1 - t) grad log p_t(x)) / t,        the denoised estimate  x1_hat(x) = x + (1 - t) v(x, t).

The exact tilt p_off q^lambda at noise level t needs the score of Q_t(x) = E[q(x_1)^lambda | x_t = x], which is
intractable; adding grad log Q_t to the score adds (1 - t) / t * grad log Q_t to the velocity. PGD approximates
log Q_t(x) by lambda log q at one point (`evaluate_at`): the denoised estimate x1_hat (default; the released
code's `--denoised_guidance`) or the noisy point x itself; the gradient is taken with respect to the action
block only and nothing is differentiated through the network (d x1_hat / dx is replaced by a fixed Jacobian J_t,
as the authors' code replaces dD/dx by I).

Actions only or the whole window (`PolicyGuidance.gradient`): the score of p_off q^lambda at zero noise is
grad log p_off + lambda grad_tau sum_t log pi(a_t | s_t), whose state components lambda grad_s log pi(a_t | s_t)
pull the *states* towards where the target policy would take those actions. The authors' code (and our default,
'actions') stops gradients through the states, so only the actions are guided and the states move only as far as
the model ties them to the actions; the state marginal is then p_off's by construction up to that coupling.
'window' differentiates the states too (the last state, which conditions no action, gets no gradient); it is the
gradient the formula asks for, kept as an option to separate the two effects (notebook 06).

Two ways to apply it (`PolicyGuidance.mode`):

'score' (default; the paper's guided denoiser D_g = D + lambda sigma^2 J grad log q(D), reference section 1.4):
    v_lambda = v + lambda kappa(t) g,   g = mask * grad log q(z),  z = x1_hat or x.
  In EDM's coordinates sigma = (1 - t) / t, and the guided denoiser shifts x1_hat by lambda sigma^2 J g, which
  is a velocity change of lambda sigma^2 J g / (1 - t). `jacobian` picks J:
    'gaussian'  J = 1 / (1 + sigma^2), exactly dD/dy for standard-normal data (our data are z-scored):
                kappa(t) = (1 - t) / ((1 - t)^2 + t^2), 1 at t = 0, 0 at t = 1, total weight finite;
    'identity'  J = 1, the authors' dD/dx = I: kappa(t) = (1 - t) / t^2, infinite at t = 0 (its first Euler step
                gets 0) and summing to about flow_steps * pi^2 / 6: stiff, and the tilt depends on the number
                of steps. Kept to show why we do not use it (notebook 06, Figure 3).
'shift' (the released code, reference section 1.5): after each step's update the action block moves by
    lambda_k g / (||g|| + eps),   lambda_k = lambda [(1 - k/N) + c_cos sin(pi (k + 1) / N)],  lambda_{N-1} = 0,
  a fixed-length gradient-ascent step on the sample (the norm is over a window's whole action block; eps is
  inside the denominator, fixing the released code's eps-after-division bug). Written as a velocity,
  v_lambda = v + N lambda_k g / (||g|| + eps). Its lambda is a step length, not the exponent of q^lambda.

Both are velocity functions integrated by the core's Euler loop (`cfgrl_core.guidance.euler_integrate`); with
lambda = 0 the guided velocity is v + 0, so the samples equal the unguided sampler's bit for bit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp

from cfgrl_core.checks import check_flow_steps
from cfgrl_core.guidance import euler_integrate

MODES = ("score", "shift")
EVALUATE_AT = ("denoised", "noisy")
GRADIENTS = ("actions", "window")
JACOBIANS = ("gaussian", "identity")


@dataclasses.dataclass(frozen=True)
class PolicyGuidance:
    mode: str = "score"  # 'score' (guided denoiser, lambda is the exponent of q^lambda) or 'shift' (released code)
    evaluate_at: str = "denoised"  # where log q is evaluated: the denoised estimate x1_hat or the noisy point x
    jacobian: str = "gaussian"  # 'score' mode only: the Jacobian dD/dy taken as 1/(1 + sigma^2) or as 1
    gradient: str = "actions"  # what grad log q moves: the action block (the authors' code) or the whole window
    c_cos: float = 0.3  # 'shift' mode: the weight of the half-sine bump of the schedule (the code's default)
    eps: float = 1e-6  # 'shift' mode: guards the normalisation against a zero gradient

    def __post_init__(self):
        for name, value, allowed in (("mode", self.mode, MODES), ("evaluate_at", self.evaluate_at, EVALUATE_AT),
                                     ("jacobian", self.jacobian, JACOBIANS),
                                     ("gradient", self.gradient, GRADIENTS)):  # fmt: skip
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if not self.eps > 0:
            raise ValueError(f"eps must be positive, got {self.eps}")


DEFAULT = PolicyGuidance()  # the guided denoiser at the denoised estimate
CODE_STYLE = PolicyGuidance(mode="shift", evaluate_at="noisy")  # what the released code does by default


def score_weight(t, jacobian: str = "gaussian"):
    """kappa(t): the velocity change per unit of lambda * grad log q in 'score' mode."""
    if jacobian == "gaussian":
        return (1.0 - t) / ((1.0 - t) ** 2 + t**2)
    return jnp.where(t > 0, (1.0 - t) / jnp.maximum(t, 1e-12) ** 2, 0.0)


def shift_schedule(k, flow_steps: int, c_cos: float = 0.3):
    """The released code's lambda_k / lambda: (1 - k/N) + c_cos sin(pi (k + 1) / N), and 0 on the last step."""
    n = flow_steps
    lam = (1.0 - k / n) + c_cos * jnp.sin(jnp.pi * (k + 1) / n)
    return jnp.where(k >= n - 1, 0.0, lam)


def guided_velocity_fn(velocity_fn: Callable, grad_log_q: Callable, lam, guidance: PolicyGuidance, flow_steps: int):
    """v_lambda(x, t) from the unguided velocity_fn(x [B, D], t) and grad_log_q(z [B, D]) -> [B, D] (zero outside
    the action block). lam: a scalar or [B] (one lambda per sample)."""
    lam = jnp.asarray(lam, jnp.float32)

    def velocity(x, t):
        v = velocity_fn(x, t)
        z = x + (1.0 - t) * v if guidance.evaluate_at == "denoised" else x
        g = jax.lax.stop_gradient(grad_log_q(jax.lax.stop_gradient(z)))
        lam_b = lam.reshape(-1, *([1] * (x.ndim - 1))) if lam.ndim else lam
        if guidance.mode == "score":
            return v + lam_b * score_weight(t, guidance.jacobian) * g
        k = jnp.round(t * flow_steps)
        norm = jnp.sqrt(jnp.sum(g**2, axis=-1, keepdims=True))
        return v + flow_steps * lam_b * shift_schedule(k, flow_steps, guidance.c_cos) * g / (norm + guidance.eps)

    return velocity


def sample(velocity_fn, grad_log_q, x_0, lam, *, flow_steps: int, guidance: PolicyGuidance = DEFAULT):
    """Guided Euler samples x_1 [B, D] from x_0 [B, D] (pure, traceable; jit at the call site)."""
    flow_steps = check_flow_steps(flow_steps)
    return euler_integrate(guided_velocity_fn(velocity_fn, grad_log_q, lam, guidance, flow_steps), x_0, flow_steps)


def window_grad_log_q(log_q_window: Callable, mask):
    """grad_z of sum_b log_q_window(z_b), masked (to the action block, or actions and states for whole-window
    guidance): a `grad_log_q` for `sample`.

    For action-only guidance log_q_window(z [B, D]) -> [B] stops gradients through the states it conditions on, as
    the authors' code does; the mask makes sure nothing else (rewards, dones) moves."""
    mask = jnp.asarray(mask, jnp.float32)

    def grad_log_q(z):
        return jax.grad(lambda z_: jnp.sum(log_q_window(z_)))(z) * mask

    return grad_log_q
