"""Checks for the forward process chapter: q_sample (Eq. 4) and its
inverse x0_from_eps (Eq. 15)."""

from __future__ import annotations

from collections.abc import Callable

import torch

import ddpm_lib as dl
from ddpm_book.exercises.grading import (
    Exercise,
    Feedback,
    Mistake,
    grade,
    schedule_cases,
)
from ddpm_book.exercises.perturb import (
    noise_part,
    shifted,
    signal_part,
    with_alpha_bar,
)

__all__ = ["check_q_sample", "check_x0_from_eps"]


def q_sample_with_variance(s, x0, t, e):
    """x_t with the noise scaled by 1 − ᾱ_t: √(1 − ᾱ_t) applied twice."""
    return signal_part(s, x0, t) + noise_part(s, t, noise_part(s, t, e))


_Q_SAMPLE = Exercise(
    name="q_sample",
    reference=dl.q_sample,
    cases=schedule_cases(2),
    hidden_cases=schedule_cases(2, hidden=True),
    answer_functions=("q_sample",),
    equation="Eq. 4: x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε",
    mistakes=[
        Mistake(
            "scales the noise by (1 − ᾱ_t); the standard deviation is "
            "√(1 − ᾱ_t)",
            q_sample_with_variance,
        ),
        Mistake(
            "scales x_0 by ᾱ_t; the mean of q(x_t | x_0) is √ᾱ_t · x_0",
            lambda s, x0, t, e: (
                signal_part(s, signal_part(s, x0, t), t) + noise_part(s, t, e)
            ),
        ),
        Mistake(
            "uses ᾱ_t and 1 − ᾱ_t without square roots; x_t = √ᾱ_t · x_0 "
            "+ √(1 − ᾱ_t) · ε",
            lambda s, x0, t, e: (
                signal_part(s, signal_part(s, x0, t), t)
                + noise_part(s, t, noise_part(s, t, e))
            ),
        ),
        Mistake(
            "uses ᾱ_{t−1}, one step early: alpha_bar[t] already is ᾱ_t "
            "(index 0 is the clean data)",
            lambda s, x0, t, e: dl.q_sample(shifted(s, -1), x0, t, e),
        ),
        Mistake(
            "uses ᾱ_{t+1}, one step late: alpha_bar[t] already is ᾱ_t "
            "(there is no 0-based shift in ddpm_lib)",
            lambda s, x0, t, e: dl.q_sample(shifted(s, 1), x0, t, e),
        ),
        Mistake(
            "uses α_t = 1 − β_t; jumping from x_0 to x_t needs the product "
            "ᾱ_t = α_1 · … · α_t",
            lambda s, x0, t, e: dl.q_sample(
                with_alpha_bar(s, s.alpha), x0, t, e
            ),
        ),
        Mistake(
            "subtracts the noise; x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε",
            lambda s, x0, t, e: dl.q_sample(s, x0, t, -e),
        ),
    ],
)


def check_q_sample(fn: Callable, *, strict: bool = False) -> Feedback:
    """Check ``fn(sched, x0, t, eps) -> x_t``, Ho et al. (2020) Eq. 4."""
    return grade(_Q_SAMPLE, fn, strict=strict)


def _undo_sqrt_alpha_bar(s, x, t):
    """x / √ᾱ_t: the library's x0_from_eps with ε = 0."""
    return dl.x0_from_eps(s, x, t, torch.zeros_like(x))


_X0_FROM_EPS = Exercise(
    name="x0_from_eps",
    reference=dl.x0_from_eps,
    cases=schedule_cases(2),
    hidden_cases=schedule_cases(2, hidden=True),
    answer_functions=("x0_from_eps",),
    equation="Eq. 15: x̂_0 = (x_t − √(1 − ᾱ_t) · ε) / √ᾱ_t",
    mistakes=[
        Mistake(
            "removes (1 − ᾱ_t) · ε; the noise in x_t has standard "
            "deviation √(1 − ᾱ_t)",
            lambda s, x, t, e: dl.x0_from_eps(s, x, t, noise_part(s, t, e)),
        ),
        Mistake(
            "adds the noise; x̂_0 subtracts √(1 − ᾱ_t) · ε from x_t",
            lambda s, x, t, e: dl.x0_from_eps(s, x, t, -e),
        ),
        Mistake(
            "forgets to divide by √ᾱ_t",
            lambda s, x, t, e: signal_part(s, dl.x0_from_eps(s, x, t, e), t),
        ),
        Mistake(
            "divides by ᾱ_t; x_0 was scaled by √ᾱ_t",
            lambda s, x, t, e: _undo_sqrt_alpha_bar(
                s, dl.x0_from_eps(s, x, t, e), t
            ),
        ),
        Mistake(
            "multiplies by √ᾱ_t; undoing the scaling divides by it",
            lambda s, x, t, e: signal_part(
                s, signal_part(s, dl.x0_from_eps(s, x, t, e), t), t
            ),
        ),
        Mistake(
            "uses ᾱ_{t−1}, one step early: alpha_bar[t] already is ᾱ_t",
            lambda s, x, t, e: dl.x0_from_eps(shifted(s, -1), x, t, e),
        ),
    ],
)


def check_x0_from_eps(fn: Callable, *, strict: bool = False) -> Feedback:
    """Check ``fn(sched, x_t, t, eps) -> x0_hat``, Ho et al. (2020) Eq. 15."""
    return grade(_X0_FROM_EPS, fn, strict=strict)
