"""A learned noise predictor judged against the exact one, on toy data.

For a :class:`~ddpm_lib.diffusion.toy.GaussianMixture` the best possible noise
prediction under L_simple, ε*(x_t, t) = E[ε | x_t], is known in closed form
(:meth:`~ddpm_lib.diffusion.toy.GaussianMixture.optimal_eps`). The loss of any
predictor ε_θ at step t then splits into a floor that no network can go
below and the predictor's own excess,

    E‖ε − ε_θ(x_t, t)‖² = E‖ε − ε*(x_t, t)‖² + E‖ε*(x_t, t) − ε_θ(x_t, t)‖²,

because the cross term has mean zero (ε* is the conditional mean of ε
given x_t). :func:`eps_errors` estimates the three terms by Monte Carlo.
The book trains its toy networks with :func:`ddpm_book.objective.train_toy`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from ddpm_lib.diffusion.forward import q_sample
from ddpm_lib.diffusion.schedules import Schedule, timesteps
from ddpm_lib.diffusion.toy import GaussianMixture

__all__ = ["EpsErrors", "eps_errors"]


class EpsErrors(NamedTuple):
    """Mean squared errors at one step t, per coordinate (divided by D).

    Attributes:
        loss: E‖ε − ε_θ(x_t, t)‖² / D, the L_simple term of step t.
        floor: E‖ε − ε*(x_t, t)‖² / D, the least loss any predictor has.
        excess: E‖ε*(x_t, t) − ε_θ(x_t, t)‖² / D, the predictor's own
            error; loss ≈ floor + excess up to Monte Carlo error.
    """

    loss: float
    floor: float
    excess: float


@torch.no_grad()
def eps_errors(
    model: Callable[[Tensor, Tensor], Tensor],
    mixture: GaussianMixture,
    sched: Schedule,
    t: int,
    *,
    n: int,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> EpsErrors:
    """Loss, floor and excess of a noise predictor at step t, on the CPU.

    Draws n points x_0 from ``mixture`` and noises ε, forms
    x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε (Ho et al. 2020, Eq. 4) and compares the
    model's ε_θ(x_t, t) with ε and with the exact ε*(x_t, t).

    Args:
        model: The predictor, ``model(x_t, t)`` with x_t (n, D) and t (n,)
            int64, returning ε_θ of shape (n, D).
        mixture: The data distribution.
        sched: The noise schedule.
        t: The step, 1 ≤ t ≤ T.
        n: Number of test points.
        generator: Random source of x_0 and ε.
        dtype: The dtype x_t is given to the model in.

    Returns:
        :class:`EpsErrors` (Python floats).
    """
    if isinstance(t, Tensor):
        raise ValueError("eps_errors takes one int step t, not a tensor")
    timesteps(sched, t, torch.zeros(1))  # checks 1 <= t <= T
    x0 = mixture.sample(n, generator=generator).double()  # (n, D)
    eps = torch.randn(x0.shape, generator=generator, dtype=torch.float64)
    x_t = q_sample(sched, x0, t, eps)  # (n, D), float64
    t_batch = torch.full((n,), t, dtype=torch.long)
    eps_pred = model(x_t.to(dtype), t_batch)
    if eps_pred.shape != x_t.shape:
        raise ValueError(
            f"the model returned shape {tuple(eps_pred.shape)} for input "
            f"{tuple(x_t.shape)}"
        )
    eps_pred = eps_pred.double()
    eps_star = mixture.optimal_eps(sched, x_t, t)  # (n, D), float64
    return EpsErrors(
        loss=(eps - eps_pred).square().mean().item(),
        floor=(eps - eps_star).square().mean().item(),
        excess=(eps_star - eps_pred).square().mean().item(),
    )
