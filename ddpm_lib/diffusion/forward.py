"""The forward (noising) process q, Ho et al. (2020), arXiv:2006.11239v2.

One step:    q(x_t | x_{t−1}) = N(√α_t · x_{t−1}, β_t I)        Eq. (2)
Closed form: q(x_t | x_0)     = N(√ᾱ_t · x_0, (1 − ᾱ_t) I)      Eq. (4)

Both are sampled by reparameterisation, x = mean + std · ε, with the noise
ε passed in so that results are reproducible and testable. The standard
deviation is √(1 − ᾱ_t), never the variance 1 − ᾱ_t.

The same module holds the algebra that inverts Eq. (4): from x_t and one of
ε, x_0 or v = √ᾱ_t ε − √(1 − ᾱ_t) x_0 (Salimans & Ho, 2022) to the others.
"""

from __future__ import annotations

from enum import Enum

import torch
from torch import Tensor

from ddpm_lib.diffusion.schedules import Schedule, coef_at, timesteps

__all__ = [
    "Prediction",
    "eps_from_prediction",
    "eps_from_v",
    "eps_from_x0",
    "q_chain",
    "q_sample",
    "q_step",
    "v_from_eps",
    "x0_from_eps",
    "x0_from_v",
]


class Prediction(str, Enum):
    """What a network predicts from (x_t, t): ε, x_0 or v."""

    EPS = "eps"
    X0 = "x0"
    V = "v"


def as_prediction(prediction: Prediction | str) -> Prediction:
    """Parse a :class:`Prediction`, with a clear error for anything else."""
    try:
        return Prediction(prediction)
    except ValueError:
        raise ValueError(
            f"prediction must be 'eps', 'x0' or 'v'; got {prediction!r}"
        ) from None


def check_same_shape(**tensors: Tensor) -> None:
    """Raise ValueError unless all tensors have one shape (B, *S)."""
    shapes = {name: tuple(x.shape) for name, x in tensors.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{n} {s}" for n, s in shapes.items())
        raise ValueError(
            f"expected tensors of one shape (B, *S); got {listed}"
        )
    for name, x in tensors.items():
        if not x.is_floating_point():
            raise ValueError(
                f"{name} must be a floating-point tensor; got {x.dtype}. "
                "Scale images to [-1, 1] with ddpm_lib.pixels_to_model."
            )


def q_sample(
    sched: Schedule, x0: Tensor, t: Tensor | int, eps: Tensor
) -> Tensor:
    """Sample x_t ~ q(x_t | x_0), Ho et al. (2020) Eq. (4) reparameterised.

    x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε

    Args:
        sched: The noise schedule.
        x0: Clean data x_0, shape (B, *S).
        t: Steps, (B,) int64 with 1 ≤ t ≤ T, or an int.
        eps: Standard normal noise ε, shape (B, *S).

    Returns:
        x_t, shape (B, *S), in the dtype and device of ``x0``.
    """
    check_same_shape(x0=x0, eps=eps)
    t = timesteps(sched, t, x0)
    mean_coef = coef_at(sched.alpha_bar.sqrt(), t, x0)  # √ᾱ_t
    std = coef_at((1 - sched.alpha_bar).sqrt(), t, x0)  # √(1 − ᾱ_t)
    return mean_coef * x0 + std * eps


def q_step(
    sched: Schedule, x_prev: Tensor, t: Tensor | int, eps: Tensor
) -> Tensor:
    """Sample x_t ~ q(x_t | x_{t−1}), one forward step, Eq. (2).

    x_t = √α_t · x_{t−1} + √β_t · ε

    Args:
        sched: The noise schedule.
        x_prev: x_{t−1}, shape (B, *S).
        t: Steps, (B,) int64 with 1 ≤ t ≤ T, or an int.
        eps: Standard normal noise ε, shape (B, *S).
    """
    check_same_shape(x_prev=x_prev, eps=eps)
    t = timesteps(sched, t, x_prev)
    return (
        coef_at(sched.alpha.sqrt(), t, x_prev) * x_prev
        + coef_at(sched.beta.sqrt(), t, x_prev) * eps
    )


def x0_from_eps(
    sched: Schedule, x_t: Tensor, t: Tensor | int, eps: Tensor
) -> Tensor:
    """Predicted clean data x̂_0 from x_t and ε, Ho et al. (2020) Eq. (15).

    x̂_0 = (x_t − √(1 − ᾱ_t) · ε) / √ᾱ_t — Eq. (4) solved for x_0.
    """
    check_same_shape(x_t=x_t, eps=eps)
    t = timesteps(sched, t, x_t)
    std = coef_at((1 - sched.alpha_bar).sqrt(), t, x_t)  # √(1 − ᾱ_t)
    return (x_t - std * eps) * coef_at(sched.alpha_bar.rsqrt(), t, x_t)


def eps_from_x0(
    sched: Schedule, x_t: Tensor, t: Tensor | int, x0: Tensor
) -> Tensor:
    """The noise ε that takes x_0 to x_t: Eq. (4) solved for ε."""
    check_same_shape(x_t=x_t, x0=x0)
    t = timesteps(sched, t, x_t)
    mean_coef = coef_at(sched.alpha_bar.sqrt(), t, x_t)  # √ᾱ_t
    return (x_t - mean_coef * x0) * coef_at(
        (1 - sched.alpha_bar).rsqrt(), t, x_t
    )


def v_from_eps(
    sched: Schedule, x0: Tensor, t: Tensor | int, eps: Tensor
) -> Tensor:
    """Velocity v = √ᾱ_t · ε − √(1 − ᾱ_t) · x_0, Salimans & Ho (2022) §4."""
    check_same_shape(x0=x0, eps=eps)
    t = timesteps(sched, t, x0)
    return (
        coef_at(sched.alpha_bar.sqrt(), t, x0) * eps
        - coef_at((1 - sched.alpha_bar).sqrt(), t, x0) * x0
    )


def x0_from_v(
    sched: Schedule, x_t: Tensor, t: Tensor | int, v: Tensor
) -> Tensor:
    """x_0 = √ᾱ_t · x_t − √(1 − ᾱ_t) · v (inverts the v-parameterisation)."""
    check_same_shape(x_t=x_t, v=v)
    t = timesteps(sched, t, x_t)
    return (
        coef_at(sched.alpha_bar.sqrt(), t, x_t) * x_t
        - coef_at((1 - sched.alpha_bar).sqrt(), t, x_t) * v
    )


def eps_from_v(
    sched: Schedule, x_t: Tensor, t: Tensor | int, v: Tensor
) -> Tensor:
    """ε = √(1 − ᾱ_t) · x_t + √ᾱ_t · v (inverts the v-parameterisation)."""
    check_same_shape(x_t=x_t, v=v)
    t = timesteps(sched, t, x_t)
    return (
        coef_at((1 - sched.alpha_bar).sqrt(), t, x_t) * x_t
        + coef_at(sched.alpha_bar.sqrt(), t, x_t) * v
    )


def q_chain(
    sched: Schedule,
    x0: Tensor,
    t: int,
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Run the one-step chain Eq. (2) from x_0 up to x_t with fresh noise.

    The slow way to reach q(x_t | x_0); the book and the tests compare it
    with the closed form :func:`q_sample`.
    """
    if isinstance(t, Tensor):
        raise ValueError("q_chain takes one int t for the whole batch")
    timesteps(sched, t, x0)  # checks 1 <= t <= T
    x = x0
    for s in range(1, t + 1):
        eps = torch.randn(
            x0.shape, generator=generator, device=x0.device, dtype=x0.dtype
        )
        x = q_step(sched, x, s, eps)
    return x


def eps_from_prediction(
    sched: Schedule,
    x_t: Tensor,
    t: Tensor | int,
    output: Tensor,
    prediction: Prediction | str,
) -> Tensor:
    """The ε implied by a network ``output`` that predicts ε, x_0 or v."""
    prediction = as_prediction(prediction)
    if prediction is Prediction.EPS:
        check_same_shape(x_t=x_t, output=output)
        return output
    if prediction is Prediction.X0:
        return eps_from_x0(sched, x_t, t, output)
    return eps_from_v(sched, x_t, t, output)
