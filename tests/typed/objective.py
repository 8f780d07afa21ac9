"""Typed numbers of book/objective.ipynb: the solution on the weights."""

from prose_numbers import Typed, linear


def inverse_snr(t: int) -> float:
    """1/SNR_t = (1 − ᾱ_t) / ᾱ_t for the paper's linear schedule."""
    alpha_bar = linear().alpha_bar[t].item()
    return (1 - alpha_bar) / alpha_bar


TYPED = [
    # Solution (a): λ_1 = 1/(2α_1) with σ_1² = β_1.
    Typed(
        "$\\lambda_1 = 1/(2\\alpha_1)\n\\approx 0.5$",
        0.5,
        lambda: 1 / (2 * linear().alpha[1].item()),
    ),
    # Solution (b): 1/SNR_t at both ends of the chain, and their ratio.
    Typed("about $10^{-4}$ at $t = 1$", 1e-4, lambda: inverse_snr(1)),
    Typed(
        "about $1/(4 \\times 10^{-5})\n"
        "\\approx 2.5 \\times 10^{4}$ at $t = T$",
        2.5e4,
        lambda: inverse_snr(1000),
    ),
    Typed(
        r"a ratio of about $2.5 \times 10^{8}$",
        2.5e8,
        lambda: inverse_snr(1000) / inverse_snr(1),
    ),
]
