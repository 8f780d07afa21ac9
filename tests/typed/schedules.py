"""Typed numbers of book/schedules.ipynb (its worked exercise solutions)."""

import math

from prose_numbers import Typed, alpha_bar_T, linear

import ddpm_lib as dl


def rescaled(T: int) -> dl.Schedule:
    """DDPM's linear range with both ends multiplied by 1000 / T."""
    return dl.linear_schedule(T, beta_1=0.1 / T, beta_T=20 / T)


def second_term(sched: dl.Schedule) -> float:
    """½ Σ β_t², the second term of −log ᾱ_T = Σ β + ½ Σ β² + …"""
    return 0.5 * sched.beta.square().sum().item()


def two_terms(sched: dl.Schedule) -> float:
    """ᾱ_T to second order, exp(−Σ β_t − ½ Σ β_t²)."""
    return math.exp(-sched.beta.sum().item() - second_term(sched))


TYPED = [
    # The width of one of 256 grey levels of data scaled to [-1, 1].
    Typed("$2/255 \\approx 0.008$", 0.008, lambda: 2 / 255),
    # Exercise "Fewer steps, the same end point" and its solution.
    Typed(
        "about half of the one for",
        0.5,
        lambda: rescaled(100).alpha_bar[100].item() / alpha_bar_T(),
    ),
    Typed(
        "4 \\cdot 10^{-4})/6 \\approx 0.067$",
        0.067,
        lambda: second_term(linear()),
        rel=0.01,
    ),
    Typed(
        "$\\bar\\alpha_T \\approx e^{-10.117} \\approx 4.04 \\times 10^{-5}$",
        4.04e-5,
        lambda: two_terms(linear()),
        rel=0.01,
    ),
    Typed(
        "the second term grows to $0.67$",
        0.67,
        lambda: second_term(rescaled(100)),
        rel=0.01,
    ),
    Typed(
        "$\\bar\\alpha_T \\approx e^{-10.72} \\approx 2.2 \\times 10^{-5}$",
        2.2e-5,
        lambda: two_terms(rescaled(100)),
        rel=0.01,
    ),
    Typed(
        "the exact\n$2.04 \\times 10^{-5}$",
        2.04e-5,
        lambda: rescaled(100).alpha_bar[100].item(),
        rel=0.01,
    ),
    Typed(
        "it shrinks to\n$0.017$",
        0.017,
        lambda: second_term(rescaled(4000)),
    ),
    Typed(
        "$e^{-10.067} \\approx 4.25 \\times 10^{-5}$",
        4.25e-5,
        lambda: two_terms(rescaled(4000)),
        rel=0.01,
    ),
    # Exercise "Why the cosine's β is clipped": its solution.
    Typed(
        "$\\bar\\alpha_{999} \\approx 2.4 \\times 10^{-6}$",
        2.4e-6,
        lambda: dl.cosine_schedule(1000).alpha_bar[999].item(),
    ),
    Typed(
        "$\\bar\\alpha_T \\approx 2.4 \\times 10^{-9}$",
        2.4e-9,
        lambda: dl.cosine_schedule(1000).alpha_bar[1000].item(),
    ),
]
