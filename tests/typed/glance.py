"""Typed numbers of book/glance.ipynb."""

from prose_numbers import Typed

TYPED = [
    # Two standard deviations of the share of one cluster (probability
    # 1/8) among 2000 true samples: 2·√(p(1 − p)/n).
    Typed(
        r"vary by about $\pm 0.015$",
        0.015,
        lambda: 2 * (1 / 8 * (1 - 1 / 8) / 2000) ** 0.5,
    ),
]
