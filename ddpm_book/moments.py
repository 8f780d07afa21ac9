"""Moments of linear-Gaussian chains, and Monte-Carlo checks against them.

A forward step of the general form x_t = c_t · x_{t−1} + √β_t · ε_t, with
ε_t ~ N(0, I) independent of x_{t−1}, keeps x_t Gaussian given x_0 for any
scales c_t. Its mean coefficient and variance follow two recursions:

    m_t = c_t · m_{t−1}              (m_0 = 1: the mean is m_t · x_0)
    v_t = c_t² · v_{t−1} + β_t       (v_0 = 0, or Var(x_0) for random x_0)

DDPM's choice c_t = √(1 − β_t) = √α_t gives m_t = √ᾱ_t and v_t = 1 − ᾱ_t,
Ho et al. (2020) Eq. (4). The book compares that choice with others, and
compares sampled chains with their predicted moments, with a tolerance
taken from the standard errors of the sample mean and variance.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "ChainMoments",
    "MomentCheck",
    "chain_moments",
    "check_moments",
    "z_tolerance",
]


class ChainMoments(NamedTuple):
    """Mean coefficient m_t and variance v_t of a chain, each (T+1,)."""

    mean_coef: Tensor
    var: Tensor


def chain_moments(
    beta: Tensor, scale: Tensor, *, var0: float = 0.0
) -> ChainMoments:
    """Moments of x_t = c_t · x_{t−1} + √β_t · ε for t = 0, …, T.

    Args:
        beta: β_t, shape (T+1,), indexed by t (``beta[0]`` is ignored).
        scale: c_t, shape (T+1,), indexed by t (``scale[0]`` is ignored).
        var0: Var(x_0): 0 for a fixed x_0, or the data's variance.

    Returns:
        ``mean_coef[t]`` = ∏_{s≤t} c_s, so E[x_t | x_0] = mean_coef[t]·x_0,
        and ``var[t]`` = Var(x_t), both of shape (T+1,) in float64.
    """
    beta = torch.as_tensor(beta, dtype=torch.float64)
    scale = torch.as_tensor(scale, dtype=torch.float64)
    if beta.shape != scale.shape or beta.ndim != 1:
        raise ValueError(
            "beta and scale must both have shape (T+1,); got "
            f"{tuple(beta.shape)} and {tuple(scale.shape)}"
        )
    mean_coef = torch.ones_like(beta)
    var = torch.full_like(beta, float(var0))
    for t in range(1, len(beta)):
        mean_coef[t] = scale[t] * mean_coef[t - 1]
        var[t] = scale[t] ** 2 * var[t - 1] + beta[t]
    return ChainMoments(mean_coef, var)


def z_tolerance(n_tests: int, *, false_alarm: float = 1e-3) -> float:
    """The |z| bound that all of ``n_tests`` standard normal z-scores
    stay below with probability ≥ 1 − ``false_alarm`` (Bonferroni)."""
    if n_tests < 1 or not 0 < false_alarm < 1:
        raise ValueError("need n_tests >= 1 and 0 < false_alarm < 1")
    tail = false_alarm / (2 * n_tests)  # two-sided, shared among the tests
    return float(-torch.special.ndtri(torch.tensor(tail, dtype=torch.float64)))


class MomentCheck(NamedTuple):
    """Standardised errors of sample moments against predicted ones.

    Attributes:
        mean_z: (sample mean − predicted mean) / its standard error.
        var_z: (sample variance − predicted variance) / its standard error.
        tolerance: The |z| bound for all of them (:func:`z_tolerance`).
    """

    mean_z: Tensor
    var_z: Tensor
    tolerance: float

    @property
    def max_abs_z(self) -> float:
        return max(
            self.mean_z.abs().max().item(), self.var_z.abs().max().item()
        )

    @property
    def passed(self) -> bool:
        return self.max_abs_z < self.tolerance


def check_moments(
    samples: Tensor,
    mean: Tensor,
    var: Tensor,
    *,
    false_alarm: float = 1e-3,
) -> MomentCheck:
    """Do Gaussian ``samples`` (N, *S) have the predicted mean and variance?

    Each coordinate gives two z-scores. The sample mean of N draws has
    standard error √(v / N); for Gaussian draws the sample variance has
    standard error v · √(2 / (N − 1)). With the true moments every z is
    close to standard normal, so all stay below :func:`z_tolerance` for
    all 2·∏S of them, except with probability ``false_alarm``.

    Args:
        samples: N draws, shape (N, *S), N ≥ 2.
        mean: Predicted mean, broadcastable to (*S,).
        var: Predicted variance (positive), broadcastable to (*S,).
    """
    n = samples.shape[0]
    if n < 2:
        raise ValueError("need at least two samples")
    samples = samples.double()
    shape = samples.shape[1:]
    mean = torch.as_tensor(mean, dtype=torch.float64).expand(shape)
    var = torch.as_tensor(var, dtype=torch.float64).expand(shape)
    if not (var > 0).all():
        raise ValueError("predicted variances must be positive")
    mean_z = (samples.mean(0) - mean) / (var / n).sqrt()
    var_z = (samples.var(0) - var) / (var * math.sqrt(2 / (n - 1)))
    tolerance = z_tolerance(2 * mean_z.numel(), false_alarm=false_alarm)
    return MomentCheck(mean_z, var_z, tolerance)
