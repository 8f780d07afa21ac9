"""The training objective L_simple, Ho et al. (2020) Eq. (14), Algorithm 1.

L_simple = E_{t, x_0, ε} ‖ε − ε_θ(√ᾱ_t x_0 + √(1 − ᾱ_t) ε, t)‖²

with t ~ Uniform{1, …, T}. The same mean-squared error serves networks
that predict x_0 or v = √ᾱ_t ε − √(1 − ᾱ_t) x_0 instead of ε; only the
target changes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ddpm_lib.forward import (
    Prediction,
    as_prediction,
    check_same_shape,
    q_sample,
    v_from_eps,
)
from ddpm_lib.schedules import Schedule, timesteps

__all__ = ["loss_simple", "sample_timesteps", "training_target"]


def sample_timesteps(
    sched: Schedule,
    batch_size: int,
    *,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """t ~ Uniform{1, …, T}, Algorithm 1 line 3; shape (B,), int64."""
    return torch.randint(
        1, sched.T + 1, (batch_size,), generator=generator, device=device
    )


def training_target(
    sched: Schedule,
    x0: Tensor,
    t: Tensor | int,
    eps: Tensor,
    prediction: Prediction | str,
) -> Tensor:
    """What the network should output for x_t = q_sample(x0, t, eps).

    ε for ε-prediction, x_0 for x0-prediction, v for v-prediction.
    """
    prediction = as_prediction(prediction)
    check_same_shape(x0=x0, eps=eps)
    if prediction is Prediction.EPS:
        return eps
    if prediction is Prediction.X0:
        return x0
    return v_from_eps(sched, x0, t, eps)


def loss_simple(
    sched: Schedule,
    model: Callable[[Tensor, Tensor], Tensor],
    x0: Tensor,
    *,
    prediction: Prediction | str = Prediction.EPS,
    t: Tensor | None = None,
    eps: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """L_simple on a batch, Algorithm 1 (one training step's loss).

    Args:
        sched: The noise schedule.
        model: The network, ``model(x_t, t)``.
        x0: A batch of clean data, shape (B, *S), in [-1, 1].
        prediction: What the network outputs: ``"eps"``, ``"x0"`` or ``"v"``.
        t: Steps (B,); drawn uniformly from 1..T if None.
        eps: Noise (B, *S); drawn from N(0, I) if None.
        generator: Random source for t and eps when they are drawn.

    Returns:
        The mean squared error over the batch and all dimensions, a scalar.
    """
    if t is None:  # Algorithm 1, line 3
        t = sample_timesteps(
            sched, x0.shape[0], device=x0.device, generator=generator
        )
    t = timesteps(sched, t, x0)
    if eps is None:  # Algorithm 1, line 4
        eps = torch.randn(
            x0.shape, generator=generator, device=x0.device, dtype=x0.dtype
        )
    x_t = q_sample(sched, x0, t, eps)
    output = model(x_t, t)
    target = training_target(sched, x0, t, eps, prediction)
    if output.shape != target.shape:
        raise ValueError(
            f"the model returned shape {tuple(output.shape)} for input "
            f"{tuple(x_t.shape)}; it must return one value per input value"
        )
    # Algorithm 1, line 5: the gradient step takes this loss. Half-precision
    # errors are squared and averaged in float32; float64 stays float64.
    err = target - output
    err = err.to(torch.promote_types(err.dtype, torch.float32))
    return err.square().mean()
