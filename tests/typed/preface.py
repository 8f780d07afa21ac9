"""Typed numbers of book/preface.ipynb."""

from prose_numbers import Typed

TYPED = [
    # The standard error of a sample mean of 10⁶ unit-variance draws.
    Typed("Monte Carlo error of about\n$0.001$", 0.001, lambda: 1e6**-0.5),
]
