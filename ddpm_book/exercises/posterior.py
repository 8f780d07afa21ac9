"""Checks for the reverse process chapter: the posterior q(x_{t−1} | x_t,
x_0) (Eqs. 6–7), the mean μ_θ (Eq. 11) and one ancestral step
(Algorithm 2)."""

from __future__ import annotations

from collections.abc import Callable

import torch

import ddpm_lib as dl
from ddpm_book.exercises.grading import (
    Exercise,
    Feedback,
    Mistake,
    grade,
    pair,
    schedule_cases,
)
from ddpm_book.exercises.perturb import (
    noise_part,
    shifted,
    step_scale,
)
from ddpm_lib.diffusion.schedules import coef_at

__all__ = ["check_ddpm_step", "check_mu_theta", "check_q_posterior"]


def _posterior_with_prev(s, x0, x_t, t, prev):
    """The library's q_posterior with alpha_bar[prev] in place of ᾱ_{t−1}.

    ``prev`` differs per example, so no single re-indexing of the schedule
    will do. Instead each example gets two entries of its own in a new
    schedule, [..., ᾱ_prev, ᾱ_t, ...] with α_t and β_t at the second, and
    the library reads them at that example's new step t' = 2i + 2.
    """
    n = len(t)

    def entries(values, first):
        both = torch.stack([values[prev], values[t]], dim=1).flatten()
        return torch.cat([values.new_full((1,), first), both])

    own = dl.Schedule(
        beta=entries(s.beta, 0.0),
        alpha=entries(s.alpha, 1.0),
        alpha_bar=entries(s.alpha_bar, 1.0),
    )
    return dl.q_posterior(own, x0, x_t, 2 * torch.arange(n) + 2)


def _posterior_without_roots(s, x0, x_t, t):
    # μ̃'s two terms, each times the square root the learner left out:
    # √ᾱ_{t−1} (from the schedule one step early) and √α_t (q_step).
    mean_x0, var = dl.q_posterior(s, x0, torch.zeros_like(x_t), t)
    mean_xt, _ = dl.q_posterior(s, torch.zeros_like(x0), x_t, t)
    early = shifted(s, -1)
    mean = dl.q_sample(early, mean_x0, t, torch.zeros_like(x0))
    return mean + step_scale(s, mean_xt, t), var


def _posterior_args(s, t, x0, x_t):
    return s, x0, x_t, t


_Q_POSTERIOR = Exercise(
    name="q_posterior",
    reference=dl.q_posterior,
    cases=schedule_cases(2, _posterior_args),
    hidden_cases=schedule_cases(2, _posterior_args, hidden=True),
    answer_functions=("q_posterior",),
    reveals=("reverse_variance",),  # holds β̃_t
    returns="a pair (mu_tilde, beta_tilde)",
    outputs=pair,
    equation=(
        "Eq. 7: μ̃_t = √ᾱ_{t−1} β_t/(1 − ᾱ_t) · x_0 + √α_t (1 − ᾱ_{t−1})/"
        "(1 − ᾱ_t) · x_t and β̃_t = (1 − ᾱ_{t−1})/(1 − ᾱ_t) · β_t"
    ),
    mistakes=[
        Mistake(
            "returns β_t as the variance; the posterior's variance is "
            "β̃_t = (1 − ᾱ_{t−1})/(1 − ᾱ_t) · β_t",
            lambda s, x0, x_t, t: (
                dl.q_posterior(s, x0, x_t, t)[0],
                coef_at(s.beta, t, x0),
            ),
        ),
        Mistake(
            "returns the standard deviation √β̃_t; q_posterior returns the "
            "variance β̃_t",
            lambda s, x0, x_t, t: (
                dl.q_posterior(s, x0, x_t, t)[0],
                dl.q_posterior(s, x0, x_t, t)[1].sqrt(),
            ),
        ),
        Mistake(
            "uses ᾱ_t where ᾱ_{t−1} belongs: alpha_bar[t - 1] is ᾱ_{t−1}",
            lambda s, x0, x_t, t: _posterior_with_prev(s, x0, x_t, t, t),
        ),
        Mistake(
            "uses ᾱ_{t−2} where ᾱ_{t−1} belongs: with index = t, "
            "alpha_bar[t - 1] is ᾱ_{t−1}",
            lambda s, x0, x_t, t: _posterior_with_prev(
                s, x0, x_t, t, (t - 2).clamp(min=0)
            ),
        ),
        Mistake(
            "uses ᾱ_{t−1} and α_t without square roots in the mean; "
            "the coefficients have √ᾱ_{t−1} and √α_t",
            _posterior_without_roots,
        ),
        Mistake(  # x_0 and x_t trade places, and so do their coefficients
            "swaps the two coefficients: x_0's carries β_t, x_t's carries "
            "(1 − ᾱ_{t−1})",
            lambda s, x0, x_t, t: dl.q_posterior(s, x_t, x0, t),
        ),
    ],
)


def check_q_posterior(fn: Callable, *, strict: bool = False) -> Feedback:
    """Check ``fn(sched, x0, x_t, t) -> (mu_tilde, beta_tilde)``, Eqs. 6–7."""
    return grade(_Q_POSTERIOR, fn, strict=strict)


def _mu(s, x, t, e):
    return dl.mu_theta(s, x, t, e)


_MU_MISTAKES = [
    Mistake(  # √α_t · μ_θ
        "forgets the factor 1/√α_t in front",
        lambda s, x, t, e: step_scale(s, _mu(s, x, t, e), t),
    ),
    Mistake(  # √α_t · μ_θ / √ᾱ_t
        "divides by √ᾱ_t; the factor is 1/√α_t (one step, not the product)",
        lambda s, x, t, e: dl.x0_from_eps(
            s, step_scale(s, _mu(s, x, t, e), t), t, torch.zeros_like(x)
        ),
    ),
    Mistake(  # the library's μ_θ fed ε / √(1 − ᾱ_t)
        "divides β_t by (1 − ᾱ_t); the coefficient of ε is β_t/√(1 − ᾱ_t)",
        lambda s, x, t, e: _mu(
            s, x, t, e / noise_part(s, t, torch.ones_like(e))
        ),
    ),
    Mistake(
        "has a missing √α_t or a wrong sign: μ_θ = 1/√α_t · (x_t − "
        "β_t/√(1 − ᾱ_t) · ε_θ)",
        lambda s, x, t, e: _mu(s, x, t, -e),
    ),
    Mistake(  # α_t · μ_θ
        "multiplies by √α_t; the factor is 1/√α_t",
        lambda s, x, t, e: step_scale(s, step_scale(s, _mu(s, x, t, e), t), t),
    ),
    Mistake(
        "uses the schedule one step early (t − 1): alpha[t], beta[t] and "
        "alpha_bar[t] already are α_t, β_t, ᾱ_t",
        lambda s, x, t, e: _mu(shifted(s, -1), x, t, e),
    ),
]

_MU_THETA = Exercise(
    name="mu_theta",
    reference=dl.mu_theta,
    cases=schedule_cases(2),
    hidden_cases=schedule_cases(2, hidden=True),
    answer_functions=("mu_theta",),
    equation="Eq. 11: μ_θ = 1/√α_t · (x_t − β_t/√(1 − ᾱ_t) · ε_θ)",
    mistakes=_MU_MISTAKES,
)


def check_mu_theta(fn: Callable, *, strict: bool = False) -> Feedback:
    """Check ``fn(sched, x_t, t, eps_pred) -> mean``, Ho et al. Eq. 11."""
    return grade(_MU_THETA, fn, strict=strict)


def _step(s, x, t, e, z, variance="beta"):
    return dl.ddpm_step(s, x, t, e, variance=variance, noise=z)


def _step_noise_at_1(s, x, t, e, z):
    # The library's step plus the σ_1 z it leaves out at t = 1.
    sigma = dl.reverse_variance(s, t, "beta").sqrt()
    at_1 = (t == 1).to(sigma)
    return (
        _step(s, x, t, e, z)
        + dl.append_dims((at_1 * sigma).to(x.dtype), x.ndim) * z
    )


_DDPM_STEP = Exercise(
    name="ddpm_step",
    reference=_step,
    cases=schedule_cases(3),
    hidden_cases=schedule_cases(3, hidden=True),
    answer_functions=("ddpm_step",),
    equation=(
        "Algorithm 2: x_{t−1} = μ_θ(x_t, t) + σ_t z with σ_t = √β_t, and "
        "z = 0 when t = 1"
    ),
    mistakes=[
        Mistake(
            "adds noise at t = 1; Algorithm 2 uses z = 0 in the last step, "
            "so the sample ends on the mean",
            _step_noise_at_1,
        ),
        Mistake(  # σ_t · (σ_t z) = β_t z
            "multiplies z by β_t, the variance; σ_t = √β_t is the standard "
            "deviation",
            lambda s, x, t, e, z: _step(
                s, x, t, e, coef_at(s.beta.sqrt(), t, x) * z
            ),
        ),
        Mistake(
            "uses σ_t² = β̃_t; this exercise asks for σ_t² = β_t (both are "
            "valid choices, Ho et al. §3.2)",
            lambda s, x, t, e, z: _step(s, x, t, e, z, "beta_tilde"),
        ),
    ]
    + [
        Mistake(  # the library's step with its mean μ_θ swapped for m's
            f"computes the mean wrongly: it {m.hint}",
            lambda s, x, t, e, z, m=m: (
                _step(s, x, t, e, z) - _mu(s, x, t, e) + m.fn(s, x, t, e)
            ),
        )
        for m in _MU_MISTAKES
    ],
)


def check_ddpm_step(fn: Callable, *, strict: bool = False) -> Feedback:
    """Check ``fn(sched, x_t, t, eps_pred, z) -> x_prev`` with σ_t² = β_t,
    Ho et al. (2020) Algorithm 2, lines 3–4."""
    return grade(_DDPM_STEP, fn, strict=strict)
