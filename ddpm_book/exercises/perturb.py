"""Pieces the classic mistakes are built from: library calls, perturbed.

A mistake is never a second copy of a formula with a twist. It is the
library's function called on altered inputs — a schedule re-indexed one
step early, a schedule whose ᾱ is replaced by another of its arrays, the
noise or the data scaled by a library output — or the library's output
altered afterwards.
"""

from __future__ import annotations

import torch
from torch import Tensor

import ddpm_lib as dl

__all__ = [
    "noise_part",
    "shifted",
    "signal_part",
    "step_scale",
    "with_alpha_bar",
]


def signal_part(sched: dl.Schedule, x: Tensor, t: Tensor) -> Tensor:
    """√ᾱ_t · x: the library's q_sample with ε = 0."""
    return dl.q_sample(sched, x, t, torch.zeros_like(x))


def noise_part(sched: dl.Schedule, t: Tensor, eps: Tensor) -> Tensor:
    """√(1 − ᾱ_t) · ε: the library's q_sample with x_0 = 0."""
    return dl.q_sample(sched, torch.zeros_like(eps), t, eps)


def step_scale(sched: dl.Schedule, x: Tensor, t: Tensor) -> Tensor:
    """√α_t · x: the library's one forward step q_step with ε = 0."""
    return dl.q_step(sched, x, t, torch.zeros_like(x))


def shifted(sched: dl.Schedule, k: int) -> dl.Schedule:
    """The schedule re-indexed so that entry t holds entry t + k.

    Indices are clamped to 0..T, and entry 0 stays the clean data (the
    library's Schedule requires it). Feeding this to a library function
    reproduces code that reads ``alpha_bar[t + k]`` for ``alpha_bar[t]``.
    """
    index = (torch.arange(sched.T + 1) + k).clamp(0, sched.T)
    index[0] = 0
    return dl.Schedule(
        beta=sched.beta[index],
        alpha=sched.alpha[index],
        alpha_bar=sched.alpha_bar[index],
    )


def with_alpha_bar(sched: dl.Schedule, alpha_bar: Tensor) -> dl.Schedule:
    """The schedule with ``alpha_bar`` in place of ᾱ (β and α kept)."""
    return dl.Schedule(beta=sched.beta, alpha=sched.alpha, alpha_bar=alpha_bar)
