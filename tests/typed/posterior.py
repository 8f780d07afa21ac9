"""Typed numbers of book/posterior.ipynb.

The chapter's computed quantities are glued; what stays typed are two
orders of magnitude, "a few thousandths", read here as 0.001 to 0.009.
"""

import math

import torch
from prose_numbers import Typed, linear

import ddpm_lib as dl


def posterior_std_at_2() -> float:
    """√β̃_2: the width of q(x_1 | x_2, x_0) on the paper's schedule."""
    beta_tilde = dl.reverse_variance(linear(), torch.tensor([2]), "beta_tilde")
    return beta_tilde.sqrt().item()


TYPED = [
    # The brute-force Bayes check starts at t = 2.
    Typed(
        "where the posterior is a few thousandths wide",
        0.005,
        posterior_std_at_2,
        rel=None,
        abs=0.004,
    ),
    # The simulation of the two extremes: the relative standard error of a
    # variance estimated from n = 400,000 Gaussian pairs is about √(2/n).
    Typed(
        "Monte Carlo error of a few thousandths",
        0.005,
        lambda: math.sqrt(2 / 400_000),
        rel=None,
        abs=0.004,
    ),
]
