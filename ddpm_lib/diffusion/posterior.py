"""The reverse process: the posterior q(x_{t−1} | x_t, x_0) and one step back.

Equation numbers refer to Ho et al. (2020), arXiv:2006.11239v2, and to
Song, Meng & Ermon (2021), "Denoising Diffusion Implicit Models",
arXiv:2010.02502v4, for DDIM. Every step function takes the network's
output ``eps_pred`` rather than the network, so a test (or a reader) can
feed it a known ε.
"""

from __future__ import annotations

from enum import Enum

import torch
from torch import Tensor

from ddpm_lib.diffusion.forward import (
    check_same_shape,
    eps_from_x0,
    x0_from_eps,
)
from ddpm_lib.diffusion.schedules import (
    Schedule,
    append_dims,
    check_on_device,
    coef_at,
    pick,
    timesteps,
)

__all__ = [
    "Variance",
    "ddim_sigma",
    "ddim_step",
    "ddpm_step",
    "mu_theta",
    "q_posterior",
    "reverse_variance",
]


class Variance(str, Enum):
    """The two choices of the reverse variance σ_t², Ho et al. (2020) §3.2.

    ``BETA`` (σ_t² = β_t) is optimal when x_0 ~ N(0, I); ``BETA_TILDE``
    (σ_t² = β̃_t) when x_0 is a single point. Both gave similar samples in
    the paper.
    """

    BETA = "beta"
    BETA_TILDE = "beta_tilde"


def _variance(variance: Variance | str) -> Variance:
    try:
        return Variance(variance)
    except ValueError:
        raise ValueError(
            f"variance must be 'beta' (σ_t² = β_t) or 'beta_tilde' "
            f"(σ_t² = β̃_t); got {variance!r}"
        ) from None


def _new_noise(x: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.randn(
        x.shape, generator=generator, device=x.device, dtype=x.dtype
    )


def q_posterior(
    sched: Schedule, x0: Tensor, x_t: Tensor, t: Tensor | int
) -> tuple[Tensor, Tensor]:
    """Posterior q(x_{t−1} | x_t, x_0) = N(μ̃_t, β̃_t I), Eqs. (6)–(7).

    μ̃_t = √ᾱ_{t−1} β_t / (1 − ᾱ_t) · x_0 + √α_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · x_t
    β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t        (so β̃_1 = 0)

    Args:
        sched: The noise schedule.
        x0: Clean data x_0 (or a prediction x̂_0), shape (B, *S).
        x_t: Noisy data at step t, shape (B, *S).
        t: Steps, (B,) int64 with 1 ≤ t ≤ T, or an int.

    Returns:
        ``(mu_tilde, beta_tilde)``: shapes (B, *S) and (B, 1, …, 1).
    """
    check_same_shape(x0=x0, x_t=x_t)
    t = timesteps(sched, t, x_t)
    alpha_bar_t = pick(sched.alpha_bar, t)  # ᾱ_t, (B,)
    alpha_bar_prev = pick(sched.alpha_bar, t - 1)  # ᾱ_{t−1}, (B,)
    beta_t = pick(sched.beta, t)
    alpha_t = pick(sched.alpha, t)
    coef_x0 = alpha_bar_prev.sqrt() * beta_t / (1 - alpha_bar_t)
    coef_xt = alpha_t.sqrt() * (1 - alpha_bar_prev) / (1 - alpha_bar_t)
    beta_tilde = (1 - alpha_bar_prev) / (1 - alpha_bar_t) * beta_t
    # (B,) in the schedule's precision, cast to the data's only at the end
    coef_x0, coef_xt, beta_tilde = (
        append_dims(c.to(x_t.dtype), x_t.ndim)
        for c in (coef_x0, coef_xt, beta_tilde)
    )
    return coef_x0 * x0 + coef_xt * x_t, beta_tilde


def mu_theta(
    sched: Schedule, x_t: Tensor, t: Tensor | int, eps_pred: Tensor
) -> Tensor:
    """Reverse-process mean from predicted noise, Eq. (11).

    μ_θ(x_t, t) = 1/√α_t · (x_t − β_t / √(1 − ᾱ_t) · ε_θ(x_t, t))

    Args:
        sched: The noise schedule.
        x_t: Noisy data, shape (B, *S).
        t: Steps, (B,) int64 with 1 ≤ t ≤ T, or an int.
        eps_pred: The network's ε_θ(x_t, t), shape (B, *S).
    """
    check_same_shape(x_t=x_t, eps_pred=eps_pred)
    t = timesteps(sched, t, x_t)
    scale = coef_at(sched.alpha.rsqrt(), t, x_t)  # 1/√α_t
    eps_coef = coef_at(sched.beta / (1 - sched.alpha_bar).sqrt(), t, x_t)
    return scale * (x_t - eps_coef * eps_pred)


def reverse_variance(
    sched: Schedule, t: Tensor, variance: Variance | str
) -> Tensor:
    """σ_t² of p_θ(x_{t−1} | x_t), shape (B,): β_t or β̃_t (§3.2).

    Args:
        sched: The noise schedule.
        t: Steps, (B,) int64 with 1 ≤ t ≤ T.
        variance: ``"beta"`` or ``"beta_tilde"``.
    """
    t = timesteps(sched, t, t)
    beta_t = pick(sched.beta, t)
    if _variance(variance) is Variance.BETA:
        return beta_t
    alpha_bar_t = pick(sched.alpha_bar, t)
    alpha_bar_prev = pick(sched.alpha_bar, t - 1)
    return (1 - alpha_bar_prev) / (1 - alpha_bar_t) * beta_t  # β̃_t


def ddpm_step(
    sched: Schedule,
    x_t: Tensor,
    t: Tensor | int,
    eps_pred: Tensor,
    *,
    variance: Variance | str,
    noise: Tensor | None = None,
    clip_x0: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One ancestral step x_t → x_{t−1}, Algorithm 2 lines 3–4.

    x_{t−1} = μ_θ(x_t, t) + σ_t z,  z ~ N(0, I) for t > 1, z = 0 at t = 1.

    Args:
        sched: The noise schedule.
        x_t: Current sample, shape (B, *S).
        t: Steps, (B,) int64 with 1 ≤ t ≤ T, or an int.
        eps_pred: The network's ε_θ(x_t, t), shape (B, *S).
        variance: σ_t² = β_t (``"beta"``) or β̃_t (``"beta_tilde"``).
        noise: The z to use, shape (B, *S); drawn from ``generator`` if
            None. Ignored where t = 1.
        clip_x0: Clip x̂_0 (Eq. 15) to [-1, 1] and take the posterior mean
            μ̃_t(x̂_0, x_t) of Eq. (7) instead of Eq. (11). Without
            clipping the two are the same number.
        generator: Random source for ``noise``.

    Returns:
        x_{t−1}, shape (B, *S).
    """
    check_same_shape(x_t=x_t, eps_pred=eps_pred)
    t = timesteps(sched, t, x_t)
    if clip_x0:
        x0_hat = x0_from_eps(sched, x_t, t, eps_pred).clamp(-1, 1)
        mean, _ = q_posterior(sched, x0_hat, x_t, t)
    else:
        mean = mu_theta(sched, x_t, t, eps_pred)  # Eq. (11)
    sigma_t = reverse_variance(sched, t, variance).sqrt()
    # Algorithm 2, line 3: z ~ N(0, I) if t > 1, else z = 0.
    z = _new_noise(x_t, generator) if noise is None else noise
    check_same_shape(x_t=x_t, noise=z)
    z = torch.where(append_dims(t > 1, x_t.ndim), z, 0)
    # Algorithm 2, line 4.
    return mean + append_dims(sigma_t.to(x_t.dtype), x_t.ndim) * z


def ddim_sigma(
    sched: Schedule, t: Tensor, t_prev: Tensor, eta: float
) -> Tensor:
    """σ_{τ_i}(η) of DDIM, Song et al. (2021) Eq. (16), shape (B,).

    σ = η · √((1 − ᾱ_{t_prev}) / (1 − ᾱ_t)) · √(1 − ᾱ_t / ᾱ_{t_prev})

    η = 1 on consecutive steps gives σ² = β̃_t (DDPM); η = 0 gives DDIM.
    ``t`` and ``t_prev`` are (B,) int64 tensors with 0 ≤ t_prev < t ≤ T.
    """
    t = timesteps(sched, t, t)
    t_prev = timesteps(sched, t_prev, t, lowest=0)
    alpha_bar_t = pick(sched.alpha_bar, t)
    alpha_bar_prev = pick(sched.alpha_bar, t_prev)
    ratio = (1 - alpha_bar_prev) / (1 - alpha_bar_t)
    return eta * ratio.sqrt() * (1 - alpha_bar_t / alpha_bar_prev).sqrt()


def ddim_step(
    sched: Schedule,
    x_t: Tensor,
    t: Tensor | int,
    t_prev: Tensor | int,
    eps_pred: Tensor,
    *,
    eta: float = 0.0,
    noise: Tensor | None = None,
    clip_x0: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One DDIM step x_t → x_{t_prev}, Song et al. (2021) Eq. (12).

    x_{t_prev} = √ᾱ_{t_prev} · x̂_0                    "predicted x_0"
               + √(1 − ᾱ_{t_prev} − σ²) · ε_θ(x_t, t)  "direction to x_t"
               + σ · z                                   random noise

    Args:
        sched: The noise schedule.
        x_t: Current sample, shape (B, *S).
        t: Current steps, (B,) int64 with 1 ≤ t ≤ T, or an int.
        t_prev: Next (earlier) steps with 0 ≤ t_prev < t; 0 lands on x̂_0.
        eps_pred: The network's ε_θ(x_t, t), shape (B, *S).
        eta: η in [0, 1]: 0 is deterministic DDIM, 1 is DDPM-like.
        noise: The z to use, shape (B, *S); drawn from ``generator`` if
            None and η > 0.
        clip_x0: Clip x̂_0 to [-1, 1] and recompute ε from it, so that the
            two terms of the step stay consistent.
        generator: Random source for ``noise``.

    Returns:
        x_{t_prev}, shape (B, *S).
    """
    check_same_shape(x_t=x_t, eps_pred=eps_pred)
    if not 0 <= eta <= 1:
        raise ValueError(f"eta must lie in [0, 1]; got {eta!r}")
    t = timesteps(sched, t, x_t)
    t_prev = timesteps(sched, t_prev, x_t, lowest=0)
    check_on_device(
        (t_prev < t).all(),
        "DDIM steps go back in time: expected t_prev < t",
        lambda: f"got t = {t.tolist()}, t_prev = {t_prev.tolist()}",
    )
    x0_hat = x0_from_eps(sched, x_t, t, eps_pred)  # Eq. (12), first term
    if clip_x0:
        x0_hat = x0_hat.clamp(-1, 1)
        eps_pred = eps_from_x0(sched, x_t, t, x0_hat)
    alpha_bar_prev = pick(sched.alpha_bar, t_prev)
    sigma_ddim = ddim_sigma(sched, t, t_prev, eta)
    dir_coef = (1 - alpha_bar_prev - sigma_ddim**2).clamp(min=0).sqrt()
    x_prev = (
        append_dims(alpha_bar_prev.sqrt().to(x_t.dtype), x_t.ndim) * x0_hat
        + append_dims(dir_coef.to(x_t.dtype), x_t.ndim) * eps_pred
    )
    if eta > 0:
        z = _new_noise(x_t, generator) if noise is None else noise
        check_same_shape(x_t=x_t, noise=z)
        x_prev = x_prev + append_dims(sigma_ddim.to(x_t.dtype), x_t.ndim) * z
    return x_prev
