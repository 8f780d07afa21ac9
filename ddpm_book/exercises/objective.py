"""Checks for the objective chapter: L_simple (Eq. 14) and the KL between
two Gaussians that the variational bound is made of."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

import ddpm_lib as dl
from ddpm_book.exercises.forward import q_sample_with_variance
from ddpm_book.exercises.grading import (
    Case,
    Exercise,
    Feedback,
    Mistake,
    generator,
    grade,
    schedule_cases,
)

__all__ = ["check_loss_simple", "check_normal_kl"]


def _probe_model(x_t: Tensor, t: Tensor) -> Tensor:
    """A fixed stand-in network: depends on both x_t and t."""
    return 0.5 * x_t + dl.append_dims(t.to(x_t.dtype) / 1000, x_t.ndim)


def _loss_args(s, t, x0, eps):
    return s, _probe_model, x0, t, eps


def _loss(sched, model, x0, t, eps, **kwargs):
    return dl.loss_simple(sched, model, x0, t=t, eps=eps, **kwargs)


_LOSS = Exercise(
    name="loss_simple",
    reference=_loss,
    cases=schedule_cases(2, _loss_args),
    hidden_cases=schedule_cases(2, _loss_args, hidden=True),
    answer_functions=("loss_simple",),
    equation="Eq. 14: mean of ‖ε − ε_θ(√ᾱ_t x_0 + √(1 − ᾱ_t) ε, t)‖²",
    mistakes=[
        Mistake(  # a model that is shown x_0 whatever the library passes
            "feeds x_0 to the model; it must see the noisy x_t = "
            "√ᾱ_t x_0 + √(1 − ᾱ_t) ε",
            lambda s, m, x0, t, e: _loss(
                s, lambda x_t, t_in: m(x0, t_in), x0, t, e
            ),
        ),
        Mistake(  # the library's target for x_0-prediction
            "compares the output with x_0; for ε-prediction the target is "
            "the noise ε",
            lambda s, m, x0, t, e: _loss(s, m, x0, t, e, prediction="x0"),
        ),
        Mistake(  # the mean times the number of terms
            "sums the squared errors; L_simple is their mean (a sum ties "
            "the loss scale to the batch and image size)",
            lambda s, m, x0, t, e: _loss(s, m, x0, t, e) * x0.numel(),
        ),
        Mistake(
            "passes t − 1 to the model; ddpm_lib's networks take the "
            "paper's 1-based t",
            lambda s, m, x0, t, e: _loss(
                s, lambda x_t, t_in: m(x_t, t_in - 1), x0, t, e
            ),
        ),
        Mistake(  # a model shown q_sample's classic mistake instead of x_t
            "noises x_0 with the variance (1 − ᾱ_t); q_sample scales ε by "
            "the standard deviation √(1 − ᾱ_t)",
            lambda s, m, x0, t, e: _loss(
                s,
                lambda x_t, t_in: m(q_sample_with_variance(s, x0, t, e), t_in),
                x0,
                t,
                e,
            ),
        ),
    ],
    returns="a single number (a 0-dim tensor)",
)


def check_loss_simple(fn: Callable, *, strict: bool = False) -> Feedback:
    """Check ``fn(sched, model, x0, t, eps) -> loss`` (a scalar tensor),
    L_simple of Ho et al. (2020) Eq. 14 / Algorithm 1."""
    return grade(_LOSS, fn, strict=strict)


def _kl_cases(hidden: bool = False) -> list[Case]:
    g = generator(12 if hidden else 11)
    layouts = (
        (
            (torch.float32, (4, 2, 3)),
            (torch.float64, (1,)),
            (torch.float64, ()),
        )
        if hidden
        else ((torch.float64, (5,)), (torch.float32, (2, 3)))
    )
    cases = []
    for dtype, shape in layouts:
        m1, m2 = (torch.randn(shape, generator=g, dtype=dtype) for _ in "12")
        v1, v2 = (
            torch.rand(shape, generator=g, dtype=dtype) + 0.1 for _ in "12"
        )
        cases.append(Case((m1, v1, m2, v2), f"shape {shape}"))
    return cases


_NORMAL_KL = Exercise(
    name="normal_kl",
    reference=dl.normal_kl,
    cases=_kl_cases,
    hidden_cases=lambda: _kl_cases(hidden=True),
    answer_functions=("normal_kl",),
    equation="KL = ½ (log(v₂/v₁) + (v₁ + (m₁ − m₂)²)/v₂ − 1)",
    mistakes=[
        Mistake(
            "treats the variances as standard deviations; the arguments "
            "are variances v = σ²",
            lambda m1, v1, m2, v2: dl.normal_kl(m1, v1**2, m2, v2**2),
        ),
        Mistake(
            "computes KL(q ‖ p) instead of KL(p ‖ q); the KL divergence is "
            "not symmetric",
            lambda m1, v1, m2, v2: dl.normal_kl(m2, v2, m1, v1),
        ),
        Mistake(
            "forgets the factor ½",
            lambda m1, v1, m2, v2: 2 * dl.normal_kl(m1, v1, m2, v2),
        ),
    ],
)


def check_normal_kl(fn: Callable, *, strict: bool = False) -> Feedback:
    """Check ``fn(mean1, var1, mean2, var2) -> KL`` per element, in nats."""
    return grade(_NORMAL_KL, fn, strict=strict)
