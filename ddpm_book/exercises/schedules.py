"""Checks for the noise schedules chapter: ᾱ_t from the β's, and the
cosine schedule of Nichol & Dhariwal (2021)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

import ddpm_lib as dl
from ddpm_book.exercises.grading import (
    Case,
    Exercise,
    Feedback,
    Mistake,
    generator,
    grade,
)

__all__ = ["check_alpha_bar", "check_cosine_alpha_bar"]


def _alpha_bar(beta: Tensor) -> Tensor:
    """The library's ᾱ for ``beta`` (T + 1 entries, ``beta[0] = 0``)."""
    return dl.schedule_from_betas(beta[1:]).alpha_bar


def _random_beta(T: int) -> Tensor:  # noqa: N803
    """β_0 = 0 and T random β_t in (0, 0.05): a schedule no formula made."""
    beta = 0.05 * torch.rand(T, generator=generator(31), dtype=torch.float64)
    return torch.cat([beta.new_zeros(1), beta])


def _beta_product(beta: Tensor) -> Tensor:
    # The library's ᾱ with the α's passed as β's: ∏_{s=1}^{t} β_s.
    return _alpha_bar(torch.cat([beta[:1], 1 - beta[1:]]))


def _alpha_sum(beta: Tensor) -> Tensor:
    # Σ_{s=0}^{t} α_s through the library's product: with β'_s = 1 − e^{−α_s
    # / T}, ᾱ'_t = e^{−Σ α_s / T} (the 1/T keeps it from underflowing), and
    # α_0 = 1 adds the leading 1.
    T = len(beta) - 1
    new_beta = 1 - torch.exp(-(1 - beta[1:]) / T)
    product = _alpha_bar(torch.cat([beta[:1], new_beta]))
    return 1 - T * torch.log(product)


_ALPHA_BAR = Exercise(
    name="alpha_bar",
    reference=_alpha_bar,
    cases=lambda: (
        [
            Case(
                (dl.linear_schedule(T).beta,),
                f"the linear schedule with T = {T}",
            )
            for T in (10, 1000)
        ]
        + [Case((dl.cosine_schedule(50).beta,), "the cosine schedule, T = 50")]
    ),
    hidden_cases=lambda: [
        Case((dl.sigmoid_schedule(30).beta,), "the sigmoid schedule, T = 30"),
        Case((_random_beta(17),), "17 random β's"),
        Case((dl.linear_schedule(3).beta,), "the linear schedule, T = 3"),
    ],
    answer_functions=("schedule_from_betas",),
    equation="ᾱ_t = ∏_{s=1}^{t} (1 − β_s), with ᾱ_0 = 1 at index 0",
    returns="a tensor of T + 1 values, alpha_bar[0] = 1",
    mistakes=[
        Mistake(
            "multiplies the β's; ᾱ_t is the product of the α_s = 1 − β_s",
            _beta_product,
        ),
        Mistake(  # the product taken from index 0 on takes in β_0 = 0
            "multiplies the β's; ᾱ_t is the product of the α_s = 1 − β_s",
            lambda beta: beta[0] * _beta_product(beta),
        ),
        Mistake(
            "adds the α's; ᾱ_t is their product (torch.cumprod)",
            _alpha_sum,
        ),
        Mistake(
            "is off by one: ᾱ_t includes α_t itself, ∏ over s = 1..t, so "
            "alpha_bar[1] = α_1",
            lambda beta: torch.cat([beta.new_ones(1), _alpha_bar(beta)[:-1]]),
        ),
    ],
)


def check_alpha_bar(
    fn: Callable[[Tensor], Tensor], *, strict: bool = False
) -> Feedback:
    """Check ``fn(beta) -> alpha_bar``: ᾱ_t = ∏_{s≤t} (1 − β_s).

    ``beta`` has T + 1 entries with ``beta[0] == 0`` (index = t); so must
    the result, with ``alpha_bar[0] == 1``.
    """
    return grade(_ALPHA_BAR, fn, strict=strict)


def _cosine(T: int, s: float) -> Tensor:
    """ᾱ_t of Eq. 17 before clipping: the library's cosine schedule, whose
    ᾱ_T = f(T)/f(0) = cos²(π/2) = 0 exactly. The library clips β_T to
    ``max_beta`` < 1, which only changes that last entry; put it back."""
    alpha_bar = dl.cosine_schedule(T, s=s).alpha_bar.clone()
    alpha_bar[-1] = 0
    return alpha_bar


def _cosine_unnormalised(T: int, s: float) -> Tensor:
    # f(0) = cos²(s/(1 + s) · π/2) is not an output of the library (it
    # divides by it inside cosine_schedule), so this one factor is computed
    # here; the shape over t still comes from the library.
    return _cosine(T, s) * math.cos(s / (1 + s) * math.pi / 2) ** 2


def _cosine_shifted(T: int, s: float) -> Tensor:
    # Entry t is f(t + 1)/f(1). cos² is symmetric about t = T (where its
    # argument is π/2), so the entry past the end is f(T + 1) = f(T − 1).
    alpha_bar = _cosine(T, s)
    f = torch.cat([alpha_bar[1:], alpha_bar[-2:-1]])
    return f / f[0]


_COSINE = Exercise(
    name="cosine_alpha_bar",
    reference=_cosine,
    cases=lambda: [
        Case((1000, 0.008), "T = 1000, s = 0.008"),
        Case((20, 0.1), "T = 20, s = 0.1"),
    ],
    hidden_cases=lambda: [
        Case((7, 0.02), "T = 7, s = 0.02"),
        Case((333, 0.5), "T = 333, s = 0.5"),
    ],
    answer_functions=("cosine_schedule",),
    equation=(
        "Nichol & Dhariwal (2021) Eq. 17: ᾱ_t = f(t)/f(0), "
        "f(t) = cos²((t/T + s)/(1 + s) · π/2)"
    ),
    returns="a tensor of T + 1 values, alpha_bar[0] = 1",
    mistakes=[
        Mistake(  # cos ≥ 0 on [0, π/2], so √(f/f(0)) = cos(·)/cos(·)|_0
            "is the cosine schedule without its square: f(t) = "
            "cos²((t/T + s)/(1 + s) · π/2), squared",
            lambda T, s: _cosine(T, s).sqrt(),
        ),
        Mistake(
            "does not divide by f(0): ᾱ_t = f(t)/f(0), so that ᾱ_0 = 1",
            _cosine_unnormalised,
        ),
        Mistake(
            "drops the offset s: it keeps β_t from being tiny near t = 0",
            lambda T, s: _cosine(T, 0.0),
        ),
        Mistake(
            "is off by one: index t of the result is ᾱ_t = f(t)/f(0), "
            "starting from t = 0",
            _cosine_shifted,
        ),
    ],
)


def check_cosine_alpha_bar(
    fn: Callable[[int, float], Tensor], *, strict: bool = False
) -> Feedback:
    """Check ``fn(T, s) -> alpha_bar`` of shape (T+1,), Nichol & Dhariwal
    (2021) Eq. 17 (before clipping β_t)."""
    return grade(_COSINE, fn, strict=strict)
