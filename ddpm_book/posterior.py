"""The true backward variance Var(x_{t−1} | x_t), for data known exactly.

Helpers of the chapter "The reverse process and Bayes". For images the
backward step q(x_{t−1} | x_t) is out of reach; for one-dimensional data on
finitely many points c_1, …, c_N (probabilities w_j) it is a finite
mixture of the posteriors of Ho et al. (2020) Eqs. (6)–(7):

    q(x_{t−1} | x_t) = Σ_j p(x_0 = c_j | x_t) · q(x_{t−1} | x_t, x_0 = c_j),

with weights from Bayes' rule and q(x_t | x_0) of Eq. (4), and components
N(μ̃_t(x_t, c_j), β̃_t) from ``ddpm_lib``'s :func:`q_posterior`. The
chapter compares its variance with the two fixed choices σ_t² = β_t and
σ_t² = β̃_t of §3.2, pointwise and averaged over x_t ~ q(x_t).
Nothing in ddpm_lib imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torch import Tensor

from ddpm_lib.diffusion.posterior import q_posterior, reverse_variance
from ddpm_lib.diffusion.schedules import Schedule

__all__ = [
    "PointData",
    "VarianceRatios",
    "average_reverse_variance",
    "data_posterior",
    "gaussian_points",
    "reverse_moments",
    "two_points",
    "variance_ratio_figure",
    "variance_ratios",
]


@dataclass(frozen=True, eq=False)
class PointData:
    """One-dimensional data x_0 = ``points[j]`` with prob. ``weights[j]``.

    Attributes:
        points: The values c_j, shape (N,), float64.
        weights: Their probabilities w_j, shape (N,), summing to 1.
    """

    points: Tensor
    weights: Tensor

    def __post_init__(self) -> None:
        n = self.points.shape[0] if self.points.ndim == 1 else -1
        if n < 1 or self.weights.shape != (n,):
            raise ValueError(
                "expected points (N,) and weights (N,) with N >= 1; got "
                f"{tuple(self.points.shape)}, {tuple(self.weights.shape)}"
            )
        if (self.weights < 0).any():
            raise ValueError("weights must be >= 0")
        if abs(self.weights.sum().item() - 1) > 1e-9:
            raise ValueError("weights must sum to 1")

    @property
    def mean(self) -> float:
        return (self.weights * self.points).sum().item()

    @property
    def variance(self) -> float:
        """Var(x_0) = Σ_j w_j (c_j − mean)²."""
        return (self.weights * (self.points - self.mean) ** 2).sum().item()


def two_points() -> PointData:
    """x_0 = −1 or +1, each with probability 1/2: mean 0, variance 1."""
    return PointData(
        points=torch.tensor([-1.0, 1.0], dtype=torch.float64),
        weights=torch.tensor([0.5, 0.5], dtype=torch.float64),
    )


def gaussian_points(
    std: float = 1.0, *, n: int = 2001, width: float = 8.0
) -> PointData:
    """N(0, std²) on an evenly spaced grid of ``n`` points, ±width·std.

    Each point weighs in proportion to the density there. On an even grid
    this discretisation keeps the Gaussian's moments, and those of the
    posteriors it meets, to many digits as long as the spacing is below
    their widths (the trapezoid rule converges exponentially fast for
    Gaussians): a stand-in for Gaussian data in the mixture formulas.
    """
    if std <= 0 or n < 2 or width <= 0:
        raise ValueError(
            f"need std > 0, n >= 2, width > 0; got {std}, {n}, {width}"
        )
    points = torch.linspace(-width, width, n, dtype=torch.float64) * std
    weights = torch.softmax(-0.5 * (points / std) ** 2, dim=0)
    return PointData(points=points, weights=weights)


def _as_grid(x_t: Tensor | float) -> Tensor:
    x_t = torch.as_tensor(x_t, dtype=torch.float64)
    if x_t.ndim > 1:
        raise ValueError(
            f"x_t must be a number or shape (M,); got {tuple(x_t.shape)}"
        )
    return x_t.reshape(-1)  # (M,)


def data_posterior(
    sched: Schedule, data: PointData, x_t: Tensor | float, t: int
) -> Tensor:
    """p(x_0 = c_j | x_t) by Bayes' rule, shape (M, N).

    p(c_j | x_t) ∝ w_j · N(x_t; √ᾱ_t c_j, 1 − ᾱ_t), the likelihood being
    q(x_t | x_0) of Ho et al. (2020) Eq. (4).

    Args:
        sched: The noise schedule.
        data: The data distribution.
        x_t: Values of x_t, a number or shape (M,).
        t: The step, 1 ≤ t ≤ T.
    """
    if not 1 <= t <= sched.T:
        raise ValueError(f"t must satisfy 1 <= t <= T = {sched.T}; got {t}")
    x_t = _as_grid(x_t)
    alpha_bar_t = sched.alpha_bar[t].to(torch.float64)
    mean = alpha_bar_t.sqrt() * data.points  # (N,)
    log_lik = -0.5 * (x_t[:, None] - mean) ** 2 / (1 - alpha_bar_t)  # (M, N)
    return torch.softmax(data.weights.log() + log_lik, dim=1)


def reverse_moments(
    sched: Schedule, data: PointData, x_t: Tensor | float, t: int
) -> tuple[Tensor, Tensor]:
    """Mean and variance of the true backward step q(x_{t−1} | x_t).

    The mixture Σ_j p(c_j | x_t) N(μ̃_t(x_t, c_j), β̃_t) has

        E[x_{t−1} | x_t]   = Σ_j p_j μ̃_j                =: m
        Var(x_{t−1} | x_t) = β̃_t + Σ_j p_j (μ̃_j − m)²,

    the law of total variance given x_t: the spread of each component plus
    the spread of their means.

    Args:
        sched: The noise schedule.
        data: The data distribution.
        x_t: Values of x_t, a number or shape (M,).
        t: The step, 1 ≤ t ≤ T.

    Returns:
        ``(mean, var)``, each shape (M,), float64.
    """
    x_t = _as_grid(x_t)
    weights = data_posterior(sched, data, x_t, t)  # (M, N)
    x0 = data.points.expand_as(weights)  # (M, N): one column per c_j
    mu_tilde, beta_tilde = q_posterior(
        sched, x0, x_t[:, None].expand_as(weights), t
    )  # (M, N) and (M, 1)
    mean = (weights * mu_tilde).sum(dim=1)  # (M,)
    spread = (weights * (mu_tilde - mean[:, None]) ** 2).sum(dim=1)
    return mean, beta_tilde[:, 0] + spread


def average_reverse_variance(
    sched: Schedule,
    data: PointData,
    t: int,
    *,
    n_grid: int = 4001,
    width: float = 10.0,
) -> float:
    """E over x_t ~ q(x_t) of Var(x_{t−1} | x_t), by quadrature.

    q(x_t) = Σ_j w_j N(x_t; √ᾱ_t c_j, 1 − ᾱ_t) is evaluated on an even grid
    reaching ``width`` standard deviations √(1 − ᾱ_t) beyond the outermost
    √ᾱ_t c_j, normalised to sum to one there, and weighs the pointwise
    variance of :func:`reverse_moments`.

    Args:
        sched: The noise schedule.
        data: The data distribution.
        t: The step, 1 ≤ t ≤ T.
        n_grid: Number of grid points in x_t.
        width: Reach of the grid, in standard deviations of q(x_t | x_0).
    """
    if not 1 <= t <= sched.T:
        raise ValueError(f"t must satisfy 1 <= t <= T = {sched.T}; got {t}")
    alpha_bar_t = sched.alpha_bar[t].to(torch.float64)
    centres = alpha_bar_t.sqrt() * data.points  # (N,)
    std = (1 - alpha_bar_t).sqrt()
    grid = torch.linspace(
        (centres.min() - width * std).item(),
        (centres.max() + width * std).item(),
        n_grid,
        dtype=torch.float64,
    )  # (M,)
    log_density = torch.logsumexp(
        data.weights.log() - 0.5 * ((grid[:, None] - centres) / std) ** 2,
        dim=1,
    )  # (M,), up to a constant that the normalisation removes
    density = torch.softmax(log_density, dim=0)
    _, var = reverse_moments(sched, data, grid, t)
    return (density * var).sum().item()


class VarianceRatios(NamedTuple):
    """Backward variances divided by β_t, one entry per step, each (K,).

    Attributes:
        t: The steps.
        beta_tilde: β̃_t / β_t, the single-point extreme.
        pointwise: Var(x_{t−1} | x_t = x) / β_t at one value x of x_t.
        average: E_{x_t}[Var(x_{t−1} | x_t)] / β_t.
    """

    t: Tensor
    beta_tilde: Tensor
    pointwise: Tensor
    average: Tensor


def variance_ratios(
    sched: Schedule,
    data: PointData,
    t: Tensor | list[int],
    *,
    x_t: float = 0.0,
    n_grid: int = 4001,
) -> VarianceRatios:
    """The backward variance of ``data`` against the two fixed choices.

    Args:
        sched: The noise schedule.
        data: The data distribution.
        t: Steps, (K,) integers with 1 ≤ t ≤ T.
        x_t: Where the pointwise variance is taken.
        n_grid: Grid points of :func:`average_reverse_variance`.
    """
    t = torch.as_tensor(t, dtype=torch.long).reshape(-1)  # (K,)
    beta_t = sched.beta[t]
    beta_tilde = reverse_variance(sched, t, "beta_tilde")
    pointwise = torch.cat(
        [reverse_moments(sched, data, x_t, int(s))[1] for s in t]
    )
    average = torch.tensor(
        [
            average_reverse_variance(sched, data, int(s), n_grid=n_grid)
            for s in t
        ],
        dtype=torch.float64,
    )
    return VarianceRatios(
        t=t,
        beta_tilde=beta_tilde / beta_t,
        pointwise=pointwise / beta_t,
        average=average / beta_t,
    )


def variance_ratio_figure(
    ratios: VarianceRatios, *, x_t: float = 0.0
) -> Figure:
    """Var(x_{t−1} | x_t) against t, pointwise and on average.

    Left: divided by β_t, log-log, where the variance at x_t = x climbs far
    above 1. Right: placed between the two fixed choices, (Var − β̃_t) /
    (β_t − β̃_t), so that 0 is σ_t² = β̃_t (a single point) and 1 is
    σ_t² = β_t (Gaussian data): the average stays between 0 and 1.
    """
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(9, 3.4), layout="constrained"
    )
    t = ratios.t.numpy()
    point_label = rf"$\operatorname{{Var}}(x_{{t-1}} \mid x_t = {x_t:g})$"
    positive = (ratios.beta_tilde > 0).numpy()  # β̃_1 = 0: not on a log axis
    left.plot(t, ratios.pointwise, color="C3", label=point_label)
    left.plot(
        t[positive],
        ratios.average[positive],
        color="C0",
        lw=2,
        label=r"average over $x_t$",
    )
    left.plot(
        t[positive],
        ratios.beta_tilde[positive],
        "--",
        color="k",
        label=r"$\tilde\beta_t$ (a single point)",
    )
    left.axhline(1, ls=":", color="k", label=r"$\beta_t$ (Gaussian data)")
    left.set(yscale="log", ylabel=r"variance $/\ \beta_t$")
    left.set_title("divided by $\\beta_t$", fontsize=10)
    left.legend(loc="upper right", fontsize=8)

    gap = 1 - ratios.beta_tilde  # (β_t − β̃_t) / β_t, positive for t ≥ 1
    right.plot(
        t,
        (ratios.pointwise - ratios.beta_tilde) / gap,
        color="C3",
        label=point_label,
    )
    right.plot(
        t,
        (ratios.average - ratios.beta_tilde) / gap,
        color="C0",
        lw=2,
        label=r"average over $x_t$",
    )
    right.axhline(0, ls="--", color="k")
    right.axhline(1, ls=":", color="k")
    right.set(
        ylim=(-0.1, 1.6),
        ylabel=r"$(\mathrm{variance} - \tilde\beta_t)"
        r" / (\beta_t - \tilde\beta_t)$",
    )
    right.set_title(
        r"between the choices: 0 is $\tilde\beta_t$, 1 is $\beta_t$",
        fontsize=10,
    )
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel("step $t$ (log scale)")
        ax.grid(alpha=0.3)
    fig.suptitle(
        "Data ±1: the true backward variance Var$(x_{t-1} \\mid x_t)$",
        fontsize=10,
    )
    return fig
