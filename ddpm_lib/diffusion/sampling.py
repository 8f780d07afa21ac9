"""Samplers: DDPM ancestral sampling (Algorithm 2) and DDIM.

Both are generators that yield a :class:`SampleStep` per network call —
the step t, the current sample x_t and the prediction x̂_0 made from it —
and finally the step t = 0 with the sample x_0. Plots and sliders over a
trajectory therefore cost nothing extra; :func:`final_sample` drains a
sampler when only the result matters.

The network is any callable ``model(x_t, t) -> output`` with x_t of shape
(B, *S) and t a (B,) int64 tensor of 1-based steps; its output is ε, x_0 or
v according to ``prediction``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from ddpm_lib.diffusion.forward import (
    Prediction,
    eps_from_prediction,
    x0_from_eps,
)
from ddpm_lib.diffusion.posterior import Variance, ddim_step, ddpm_step
from ddpm_lib.diffusion.schedules import Schedule

__all__ = [
    "SampleStep",
    "ddim_sample",
    "ddim_timesteps",
    "ddpm_sample",
    "final_sample",
]

Model = Callable[[Tensor, Tensor], Tensor]


class SampleStep(NamedTuple):
    """One record of a sampling trajectory.

    Attributes:
        t: The step (T … 1, then 0 for the finished sample).
        x_t: The sample at step t, shape (B, *S).
        x0_hat: The prediction of x_0 made from x_t, shape (B, *S); at
            t = 0 it is the sample itself.
    """

    t: int
    x_t: Tensor
    x0_hat: Tensor


def _predict(
    model: Model,
    sched: Schedule,
    x_t: Tensor,
    t: int,
    prediction: Prediction | str,
    clip_x0: bool,
) -> tuple[Tensor, Tensor]:
    """The network's ε_θ(x_t, t) and x̂_0 (clipped if asked) at one step."""
    t_batch = torch.full(
        (x_t.shape[0],), t, dtype=torch.long, device=x_t.device
    )
    output = model(x_t, t_batch)
    if output.shape != x_t.shape:
        raise ValueError(
            f"the model returned shape {tuple(output.shape)} for input "
            f"{tuple(x_t.shape)}; it must return one value per input value"
        )
    eps_pred = eps_from_prediction(sched, x_t, t_batch, output, prediction)
    x0_hat = x0_from_eps(sched, x_t, t_batch, eps_pred)
    return eps_pred, x0_hat.clamp(-1, 1) if clip_x0 else x0_hat


@torch.no_grad()
def ddpm_sample(
    model: Model,
    sched: Schedule,
    x_T: Tensor,
    *,
    variance: Variance | str = Variance.BETA,
    clip_x0: bool = False,
    prediction: Prediction | str = Prediction.EPS,
    generator: torch.Generator | None = None,
) -> Iterator[SampleStep]:
    """Ancestral sampling, Ho et al. (2020) Algorithm 2.

    Args:
        model: The network, ``model(x_t, t)``.
        sched: The noise schedule it was trained with.
        x_T: Starting noise x_T ~ N(0, I), shape (B, *S) (line 1).
        variance: σ_t² = β_t (``"beta"``, the paper's CIFAR-10 choice) or
            β̃_t (``"beta_tilde"``).
        clip_x0: Clip x̂_0 to [-1, 1] in every step.
        prediction: What the model outputs: ``"eps"``, ``"x0"`` or ``"v"``.
        generator: Random source of the per-step noise z.

    Yields:
        :class:`SampleStep` for t = T, …, 1 and finally t = 0.
    """
    x_t = x_T
    for t in range(sched.T, 0, -1):  # Algorithm 2, line 2
        eps_pred, x0_hat = _predict(model, sched, x_t, t, prediction, clip_x0)
        yield SampleStep(t, x_t, x0_hat)
        # Lines 3-4: z ~ N(0, I) if t > 1 else 0; x_{t-1} = μ_θ + σ_t z.
        x_t = ddpm_step(
            sched,
            x_t,
            t,
            eps_pred,
            variance=variance,
            clip_x0=clip_x0,
            generator=generator,
        )
    yield SampleStep(0, x_t, x_t)  # Algorithm 2, line 6: return x_0


def ddim_timesteps(
    T: int,
    num_steps: int,
    *,
    spacing: str = "trailing",
) -> list[int]:
    """A decreasing sub-sequence τ of 1..T for DDIM with ``num_steps`` steps.

    Args:
        T: Steps of the schedule.
        num_steps: Length S of the sub-sequence, 1 ≤ S ≤ T.
        spacing: ``"trailing"`` starts at T: T, T − T/S, …, T/S (rounded);
            ``"leading"`` is the DDIM paper's uniform grid 1, 1 + T/S, …
            (floored stride), listed from the top.

    Returns:
        S distinct steps, strictly decreasing.
    """
    if not 1 <= num_steps <= T:
        raise ValueError(f"need 1 <= num_steps <= T = {T}; got {num_steps}")
    if spacing == "trailing":
        stride = T / num_steps
        steps = [round(T - i * stride) for i in range(num_steps)]
    elif spacing == "leading":
        stride = T // num_steps
        steps = [1 + i * stride for i in range(num_steps)][::-1]
    else:
        raise ValueError(
            f"spacing must be 'trailing' or 'leading'; got {spacing!r}"
        )
    return steps


@torch.no_grad()
def ddim_sample(
    model: Model,
    sched: Schedule,
    x_T: Tensor,
    steps: Sequence[int],
    *,
    eta: float = 0.0,
    clip_x0: bool = False,
    prediction: Prediction | str = Prediction.EPS,
    generator: torch.Generator | None = None,
) -> Iterator[SampleStep]:
    """DDIM sampling over a decreasing sub-sequence τ, Song et al. (2021).

    Args:
        model: The network, ``model(x_t, t)``.
        sched: The noise schedule it was trained with.
        x_T: Starting noise, shape (B, *S), taken as x at step ``steps[0]``.
        steps: Strictly decreasing steps in 1..T, e.g. from
            :func:`ddim_timesteps`; the last step goes to t = 0.
        eta: η in [0, 1]; 0 is deterministic.
        clip_x0: Clip x̂_0 to [-1, 1] in every step.
        prediction: What the model outputs: ``"eps"``, ``"x0"`` or ``"v"``.
        generator: Random source of the per-step noise (η > 0).

    Yields:
        :class:`SampleStep` for each t in ``steps`` and finally t = 0.
    """
    steps = [int(t) for t in steps]
    if not steps or any(
        a <= b for a, b in zip(steps, steps[1:], strict=False)
    ):
        raise ValueError(
            f"steps must be a non-empty, strictly decreasing sequence; got "
            f"{steps}"
        )
    if steps[0] > sched.T or steps[-1] < 1:
        raise ValueError(
            f"steps must lie in 1..T = {sched.T}; got {steps[0]}..{steps[-1]}"
        )
    x_t = x_T
    for t, t_prev in zip(steps, steps[1:] + [0], strict=True):
        eps_pred, x0_hat = _predict(model, sched, x_t, t, prediction, clip_x0)
        yield SampleStep(t, x_t, x0_hat)
        x_t = ddim_step(
            sched,
            x_t,
            t,
            t_prev,
            eps_pred,
            eta=eta,
            clip_x0=clip_x0,
            generator=generator,
        )
    yield SampleStep(0, x_t, x_t)


def final_sample(trajectory: Iterator[SampleStep]) -> Tensor:
    """Run a sampler to the end and return its x_0, shape (B, *S)."""
    last = deque(trajectory, maxlen=1)  # runs it, keeping the last step
    if not last:
        raise ValueError("the sampler yielded nothing")
    return last[0].x_t
