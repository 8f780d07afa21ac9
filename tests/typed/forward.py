"""Typed numbers of book/forward.ipynb: the exercise on the prior term."""

import math

import torch
from prose_numbers import Typed, alpha_bar_T, linear

import ddpm_lib as dl


def prior_bpd_all_ones(T: int) -> float:
    """L_T in bits/dim of an image whose pixels are all ±1."""
    x0 = torch.ones(1, 1, dtype=torch.float64)
    return dl.prior_bpd(linear(T), x0).item()


TYPED = [
    # Exercise (c): DDPM's β range over T = 100 steps keeps ᾱ_T ≈ 0.36.
    Typed(
        r"$\bar\alpha_T \approx 0.36$",
        0.36,
        lambda: linear(100).alpha_bar[100].item(),
    ),
    # Solution (a): the neglected second-order term ᾱ_T²/4, in nats.
    Typed(
        "$\\bar\\alpha_T^2/4 \\approx 4 \\times\n10^{-10}$ nats",
        4e-10,
        lambda: alpha_bar_T() ** 2 / 4,
    ),
    # Solution (b): an all-grey image, the same term in bits.
    Typed(
        r"$\bar\alpha_T^2/4 / \ln 2 \approx 6 \times 10^{-10}$ bits",
        6e-10,
        lambda: alpha_bar_T() ** 2 / 4 / math.log(2),
    ),
    # Solution (b): an all-±1 image, to first order.
    Typed(
        "$\\bar\\alpha_T / (2 \\ln 2) \\approx 2.9 \\times\n10^{-5}$ bits",
        2.9e-5,
        lambda: alpha_bar_T() / (2 * math.log(2)),
    ),
    # Solution (c): the exact L_T of the all-±1 image at T = 100.
    Typed(
        r"$L_T = 0.223$ nats $\approx 0.32$ bits",
        0.32,
        lambda: prior_bpd_all_ones(100),
    ),
    # Solution (c): the first-order formula at T = 100.
    Typed(
        r"$0.36/(2\ln 2) \approx 0.26$",
        0.26,
        lambda: linear(100).alpha_bar[100].item() / (2 * math.log(2)),
    ),
]
