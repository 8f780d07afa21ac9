"""Checks for the sampling chapter: the whole loop of Algorithm 2.

The learner writes ``sample(eps_model, sched, x_T, noises)``: DDPM
ancestral sampling with σ_t² = β_t and no clipping, where ``noises[t]`` is
the fresh noise z of step t (index = t, like the schedule). The reference
is the library's one step :func:`ddpm_lib.ddpm_step` in Algorithm 2's loop,
fed the same z; with the z drawn as :func:`ddpm_lib.ddpm_sample` draws them
(:func:`ddpm_book.sampling.noises_like_ddpm_sample`) it is that sampler,
to the last bit (a test checks this). The known noise predictor is the
exact ε* of a 2-D Gaussian mixture (:mod:`ddpm_lib.diffusion.toy`), so the
check is fast and needs no network. Each classic mistake is the same loop
with the library's inputs or outputs perturbed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

import torch
from torch import Tensor

import ddpm_lib as dl
from ddpm_book.exercises.grading import (
    Case,
    Exercise,
    Feedback,
    Mistake,
    generator,
    grade,
)
from ddpm_book.sampling import mixture_eps_model, noises_like_ddpm_sample
from ddpm_lib.diffusion.schedules import coef_at

__all__ = ["check_sampling_loop", "reference_loop"]


def _z(noises: Tensor, t: int) -> Tensor:
    return noises[t]


def reference_loop(
    eps_model: Callable,
    sched: dl.Schedule,
    x_T: Tensor,  # noqa: N803
    noises: Tensor,
    *,
    order: Iterable[int] | None = None,
    variance: str = "beta",
    clip_x0: bool = False,
    noise_of: Callable[[Tensor, int], Tensor] = _z,
) -> Tensor:
    """Algorithm 2 with the library's step and the given noises.

    Args:
        eps_model: The noise predictor ``eps_model(x_t, t)``.
        sched: The schedule.
        x_T: The start, shape (B, *S) (line 1).
        noises: Per-step z, shape (T + 1, B, *S); ``noises[t]`` at step t.
        order: The steps to run (default T, T − 1, …, 1: line 2); the
            mistakes change it.
        variance: σ_t² = β_t (``"beta"``) or β̃_t.
        clip_x0: Clip x̂_0 to [-1, 1] in every step.
        noise_of: Which z a step uses (the mistakes change it).

    Returns:
        The sample x_0, shape (B, *S) (line 6).
    """
    x_t = x_T
    order = range(sched.T, 0, -1) if order is None else order
    for t in order:
        t_batch = torch.full((x_t.shape[0],), t, dtype=torch.long)
        eps_pred = eps_model(x_t, t_batch)
        x_t = dl.ddpm_step(  # lines 3–4 (z = 0 at t = 1 inside)
            sched,
            x_t,
            t,
            eps_pred,
            variance=variance,
            clip_x0=clip_x0,
            noise=noise_of(noises, t),
        )
    return x_t


def _noise_at_1(eps_model, sched, x_T, noises):  # noqa: N803
    # The library's sample plus the σ_1 z_1 that Algorithm 2 leaves out.
    sigma_1 = dl.reverse_variance(sched, torch.tensor([1]), "beta").sqrt()
    x0 = reference_loop(eps_model, sched, x_T, noises)
    return x0 + sigma_1.to(x0.dtype) * noises[1]


def _variance_for_std(eps_model, sched, x_T, noises):  # noqa: N803
    # σ_t · (√β_t z) = β_t z: the variance where the std belongs.
    def scaled(noises, t):
        step = torch.full((noises.shape[1],), t, dtype=torch.long)
        return coef_at(sched.beta.sqrt(), step, noises[t]) * noises[t]

    return reference_loop(eps_model, sched, x_T, noises, noise_of=scaled)


_MISTAKES = [
    Mistake(
        "adds noise at t = 1; Algorithm 2 uses z = 0 in the last step "
        "(line 3), so the sample ends on the mean",
        _noise_at_1,
    ),
    Mistake(
        "runs the loop the wrong way, t = 1, 2, …, T; sampling goes "
        "backwards: t = T, T − 1, …, 1 (line 2)",
        lambda m, s, x, n: reference_loop(m, s, x, n, order=range(1, s.T + 1)),
    ),
    Mistake(
        "starts at t = T − 1; x_T is the sample at step T, so the first "
        "step is t = T: range(T, 0, -1)",
        lambda m, s, x, n: reference_loop(
            m, s, x, n, order=range(s.T - 1, 0, -1)
        ),
    ),
    Mistake(
        "stops before t = 1 and returns x_1; the loop must include "
        "t = 1: range(T, 0, -1)",
        lambda m, s, x, n: reference_loop(m, s, x, n, order=range(s.T, 1, -1)),
    ),
    Mistake(
        "multiplies z by β_t, the variance; σ_t = √β_t is the standard "
        "deviation",
        _variance_for_std,
    ),
    Mistake(
        "uses σ_t² = β̃_t; this exercise asks for σ_t² = β_t (both are "
        "valid choices, Ho et al. §3.2)",
        lambda m, s, x, n: reference_loop(m, s, x, n, variance="beta_tilde"),
    ),
    Mistake(
        "clips x̂_0 to [-1, 1]; this exercise does not clip (the toy data "
        "lie outside [-1, 1]), so use μ_θ of Ho et al. Eq. 11 as it is",
        lambda m, s, x, n: reference_loop(m, s, x, n, clip_x0=True),
    ),
    Mistake(
        "takes the noise of step t from noises[t - 1]; noises[t] is the z "
        "of step t (index = t, like the schedule)",
        lambda m, s, x, n: reference_loop(
            m, s, x, n, noise_of=lambda noises, t: noises[t - 1]
        ),
    ),
]


@functools.cache
def _mixtures() -> tuple[dl.GaussianMixture, dl.GaussianMixture]:
    two = dl.GaussianMixture(
        means=torch.tensor([[-1.5, 0.5], [1.0, -1.0]], dtype=torch.float64),
        stds=torch.tensor([0.3, 0.2], dtype=torch.float64),
        weights=torch.tensor([0.4, 0.6], dtype=torch.float64),
    )
    return dl.eight_gaussians(), two


def _cases(hidden: bool = False) -> list[Case]:
    eight, two = _mixtures()
    f32, f64 = torch.float32, torch.float64
    layouts = (
        [(13, two, 1, f64), (40, eight, 5, f32)]
        if hidden
        else [(50, eight, 16, f64), (20, two, 8, f64)]
    )
    cases = []
    for i, (T, mixture, b, dtype) in enumerate(layouts):  # noqa: N806
        sched = dl.linear_schedule(T, beta_T=0.2)  # noise to N(0, I)
        g = generator((20 if hidden else 10) + i)
        x_T = torch.randn((b, 2), generator=g, dtype=dtype)  # noqa: N806
        noises = noises_like_ddpm_sample((b, 2), T, generator=g, dtype=dtype)
        about = (
            f"T = {T}, {b} points in 2-D in {str(dtype)[6:]}, the exact ε "
            f"of a {len(mixture.weights)}-component Gaussian mixture"
        )
        eps_model = mixture_eps_model(mixture, sched)
        cases.append(Case((eps_model, sched, x_T, noises), about))
    return cases


_SAMPLING_LOOP = Exercise(
    name="sample",
    reference=reference_loop,
    cases=_cases,
    hidden_cases=lambda: _cases(hidden=True),
    answer_functions=("ddpm_sample", "final_sample"),
    reveals=("ddim_sample",),  # the same loop over t
    equation=(
        "Algorithm 2: for t = T, …, 1: z = noises[t] if t > 1 else 0; "
        "x_{t−1} = 1/√α_t (x_t − β_t/√(1 − ᾱ_t) ε_θ(x_t, t)) + σ_t z "
        "with σ_t = √β_t; return x_0"
    ),
    mistakes=_MISTAKES,
    returns="the sample x_0, a tensor of x_T's shape",
)


def check_sampling_loop(fn: Callable, *, strict: bool = False) -> Feedback:
    """Check ``fn(eps_model, sched, x_T, noises) -> x_0``, Algorithm 2.

    σ_t² = β_t, no clipping; ``noises[t]`` is the z of step t.
    """
    return grade(_SAMPLING_LOOP, fn, strict=strict)
