"""The training objective: L_simple and the variational bound it simplifies.

L_simple, Ho et al. (2020) Eq. (14) and Algorithm 1:

L_simple = E_{t, x_0, ε} ‖ε − ε_θ(√ᾱ_t x_0 + √(1 − ᾱ_t) ε, t)‖²

with t ~ Uniform{1, …, T}. The same mean-squared error serves networks
that predict x_0 or v = √ᾱ_t ε − √(1 − ᾱ_t) x_0 instead of ε; only the
target changes.

The variational bound, Eqs. (3), (5) and (13),
L = L_T + Σ_{t=2}^{T} L_{t−1} + L_0, measured in bits per dimension:

- L_T = KL(q(x_T | x_0) ‖ N(0, I))                  (the prior term)
- L_{t−1} = KL(q(x_{t−1} | x_t, x_0) ‖ p_θ(x_{t−1} | x_t))
- L_0 = −log p_θ(x_0 | x_1), a Gaussian discretised to the 256 pixel
  values of data scaled to [-1, 1] (Eq. 13).

Each term is a mean over the dimensions of one example, divided by ln 2,
so the bound is the negative log-likelihood bound in bits/dim.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from ddpm_lib.diffusion.forward import (
    Prediction,
    as_prediction,
    check_same_shape,
    eps_from_prediction,
    q_sample,
    v_from_eps,
)
from ddpm_lib.diffusion.posterior import (
    Variance,
    mu_theta,
    q_posterior,
    reverse_variance,
)
from ddpm_lib.diffusion.schedules import (
    Schedule,
    append_dims,
    coef_at,
    timesteps,
)

__all__ = [
    "BoundTerms",
    "discretized_gaussian_log_likelihood",
    "loss_simple",
    "normal_kl",
    "prior_bpd",
    "sample_timesteps",
    "training_target",
    "vlb_bpd",
    "vlb_term_bpd",
    "vlb_term_from_eps_bpd",
]


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


# -- the variational bound ----------------------------------------------


# Half the width of one pixel bin for data scaled from {0..255} to [-1, 1].
HALF_BIN = 1 / 255


def normal_kl(
    mean1: Tensor, var1: Tensor, mean2: Tensor, var2: Tensor
) -> Tensor:
    """KL(N(mean1, var1) ‖ N(mean2, var2)) per element, in nats.

    KL = ½ (log(var2 / var1) + (var1 + (mean1 − mean2)²) / var2 − 1)

    Arguments are variances (not standard deviations) and broadcast
    against each other; variances must be positive.
    """
    return 0.5 * (
        torch.log(var2)
        - torch.log(var1)
        + (var1 + (mean1 - mean2) ** 2) / var2
        - 1
    )


def discretized_gaussian_log_likelihood(
    x0: Tensor, mean: Tensor, std: Tensor
) -> Tensor:
    """log p(x_0) of a Gaussian discretised to pixel bins, Eq. (13), nats.

    Each value x of ``x0`` is one of the 256 levels −1, −1 + 2/255, …, 1;
    its probability is the Gaussian mass of its bin [x − 1/255, x + 1/255],
    with the outer bins stretched to −∞ and +∞ so the 256 masses sum to 1.

    Args:
        x0: Data on the pixel grid in [-1, 1], shape (B, *S).
        mean: Mean of the Gaussian, broadcastable to ``x0``.
        std: Its standard deviation (positive), broadcastable to ``x0``.

    Returns:
        Log-probabilities, shape (B, *S).
    """
    upper = (x0 + HALF_BIN - mean) / std  # standardised bin edges
    lower = (x0 - HALF_BIN - mean) / std
    log_cdf_upper = torch.special.log_ndtr(upper)  # log Φ(upper)
    log_sf_lower = torch.special.log_ndtr(-lower)  # log (1 − Φ(lower))
    # Interior bins: Φ(upper) − Φ(lower), computed on the side of the
    # Gaussian where it does not cancel to zero in floating point.
    mass = torch.where(
        lower > 0,
        torch.special.ndtr(-lower) - torch.special.ndtr(-upper),
        torch.special.ndtr(upper) - torch.special.ndtr(lower),
    )
    log_mass = torch.log(mass.clamp(min=1e-12))
    return torch.where(
        x0 < -1 + HALF_BIN,
        log_cdf_upper,
        torch.where(x0 > 1 - HALF_BIN, log_sf_lower, log_mass),
    )


def _mean_over_dims_bits(per_element_nats: Tensor) -> Tensor:
    """(B, *S) nats → (B,) bits per dimension."""
    return per_element_nats.flatten(1).mean(dim=1) / math.log(2)


def prior_bpd(sched: Schedule, x0: Tensor) -> Tensor:
    """L_T = KL(q(x_T | x_0) ‖ N(0, I)) per example, in bits/dim.

    No parameters enter: about 1e-5 bits/dim for the linear schedule with
    T = 1000, the paper's reason to drop it from training.

    Args:
        sched: The noise schedule.
        x0: Clean data, shape (B, *S).

    Returns:
        Shape (B,).
    """
    t = timesteps(sched, sched.T, x0)
    mean = coef_at(sched.alpha_bar.sqrt(), t, x0) * x0  # Eq. (4)
    var = coef_at(1 - sched.alpha_bar, t, x0)
    kl = normal_kl(mean, var, torch.zeros_like(x0), torch.ones_like(var))
    return _mean_over_dims_bits(kl)


def vlb_term_bpd(
    sched: Schedule,
    model: Callable[[Tensor, Tensor], Tensor],
    x0: Tensor,
    t: Tensor | int,
    eps: Tensor,
    *,
    variance: Variance | str,
    prediction: Prediction | str = Prediction.EPS,
) -> Tensor:
    """One term of the bound at step t per example, in bits/dim.

    Makes x_t from x_0 and ε (Eq. 4), calls the model once and hands its
    ε_θ to :func:`vlb_term_from_eps_bpd`.

    Args:
        sched: The noise schedule (T ≥ 2).
        model: The network, ``model(x_t, t)``.
        x0: Clean data on the pixel grid in [-1, 1], shape (B, *S).
        t: Steps, (B,) int64 with 1 ≤ t ≤ T, or an int.
        eps: The noise that makes x_t from x_0, shape (B, *S).
        variance: σ_t² = β_t (``"beta"``) or β̃_t (``"beta_tilde"``).
        prediction: What the model outputs: ``"eps"``, ``"x0"`` or ``"v"``.

    Returns:
        Shape (B,).
    """
    if sched.T < 2:
        raise ValueError("the bound needs T >= 2")
    check_same_shape(x0=x0, eps=eps)
    t = timesteps(sched, t, x0)
    x_t = q_sample(sched, x0, t, eps)
    output = model(x_t, t)
    eps_pred = eps_from_prediction(sched, x_t, t, output, prediction)
    return vlb_term_from_eps_bpd(
        sched, x0, x_t, t, eps_pred, variance=variance
    )


def vlb_term_from_eps_bpd(
    sched: Schedule,
    x0: Tensor,
    x_t: Tensor,
    t: Tensor | int,
    eps_pred: Tensor,
    *,
    variance: Variance | str,
) -> Tensor:
    """One term of the bound given the network's ε_θ(x_t, t), bits/dim.

    For t ≥ 2, L_{t−1} = KL(N(μ̃_t, β̃_t) ‖ N(μ_θ, σ_t²)); for t = 1,
    L_0 = −log p_θ(x_0 | x_1) with the discretised decoder of Eq. (13).
    At t = 1 the decoder's variance is β̃_2 for either choice of σ_t²,
    as in the paper's code, since β̃_1 = 0 would make it a point mass.
    One ε_θ serves both choices of σ_t², so a caller can score both with
    one network call.

    Args:
        sched: The noise schedule (T ≥ 2).
        x0: Clean data on the pixel grid in [-1, 1], shape (B, *S).
        x_t: The noised data at step t, shape (B, *S).
        t: Steps, (B,) int64 with 1 ≤ t ≤ T, or an int.
        eps_pred: The network's ε_θ(x_t, t), shape (B, *S).
        variance: σ_t² = β_t (``"beta"``) or β̃_t (``"beta_tilde"``).

    Returns:
        Shape (B,).
    """
    if sched.T < 2:
        raise ValueError("the bound needs T >= 2")
    check_same_shape(x0=x0, x_t=x_t, eps_pred=eps_pred)
    t = timesteps(sched, t, x0)
    mean_pred = mu_theta(sched, x_t, t, eps_pred)  # Eq. (11)
    mu_tilde, beta_tilde = q_posterior(sched, x0, x_t, t)  # Eq. (7)
    sigma_sq = reverse_variance(sched, t, variance)  # (B,)
    # L_{t-1} for t >= 2 (β̃_t > 0 there).
    var_true = beta_tilde.clamp(min=torch.finfo(x0.dtype).tiny)
    kl = normal_kl(
        mu_tilde,
        var_true,
        mean_pred,
        append_dims(sigma_sq.to(x0.dtype), x0.ndim),
    )
    # L_0 at t = 1, with the decoder variance β̃_2.
    beta_tilde_2 = reverse_variance(
        sched, torch.full_like(t, 2), Variance.BETA_TILDE
    )
    decoder_std = append_dims(beta_tilde_2.sqrt().to(x0.dtype), x0.ndim)
    nll = -discretized_gaussian_log_likelihood(x0, mean_pred, decoder_std)
    return torch.where(
        t == 1, _mean_over_dims_bits(nll), _mean_over_dims_bits(kl)
    )


class BoundTerms(NamedTuple):
    """The variational bound of a batch, every term in bits/dim.

    Attributes:
        total: The whole bound L_T + Σ L_{t−1} + L_0, shape (B,).
        prior: L_T, shape (B,).
        terms: Shape (B, T); column t − 1 is the term of step t: L_0 for
            t = 1 and L_{t−1} for t ≥ 2.
    """

    total: Tensor
    prior: Tensor
    terms: Tensor


@torch.no_grad()
def vlb_bpd(
    sched: Schedule,
    model: Callable[[Tensor, Tensor], Tensor],
    x0: Tensor,
    *,
    variance: Variance | str,
    prediction: Prediction | str = Prediction.EPS,
    generator: torch.Generator | None = None,
) -> BoundTerms:
    """The whole variational bound, Eq. (5), in bits/dim: T network calls.

    Each step's term is estimated with one fresh draw of ε (so the total is
    an unbiased estimate of the bound).

    Args:
        sched: The noise schedule (T ≥ 2).
        model: The network, ``model(x_t, t)``.
        x0: Clean data on the pixel grid in [-1, 1], shape (B, *S).
        variance: σ_t² = β_t (``"beta"``) or β̃_t (``"beta_tilde"``).
        prediction: What the model outputs: ``"eps"``, ``"x0"`` or ``"v"``.
        generator: Random source of the noise.
    """
    terms = []
    for t in range(1, sched.T + 1):
        eps = torch.randn(
            x0.shape, generator=generator, device=x0.device, dtype=x0.dtype
        )
        terms.append(
            vlb_term_bpd(
                sched,
                model,
                x0,
                t,
                eps,
                variance=variance,
                prediction=prediction,
            )
        )
    terms = torch.stack(terms, dim=1)  # (B, T)
    prior = prior_bpd(sched, x0)
    return BoundTerms(total=prior + terms.sum(dim=1), prior=prior, terms=terms)
