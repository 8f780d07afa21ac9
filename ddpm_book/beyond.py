"""Helpers of the chapter "Where the ideas lead": checks and figures.

Each section of the chapter ties a later idea to this book's code, and
each idea is checked here on the 2-D Gaussian mixture of
:mod:`ddpm_lib.diffusion.toy`, where every density, score and posterior
is known exactly:

- the score view, ε* = −√(1 − ᾱ_t) ∇ log q(x_t), three ways (closed
  form, autograd, brute-force Bayes on a grid), and the implicit
  classifier behind classifier-free guidance;
- the learned variance of Nichol & Dhariwal (2021);
- DDIM as an Euler step of the probability-flow ODE, and its inversion;
- the continuous VP-SDE behind the linear schedule;
- flow matching: the straight path, its velocity target, a toy network
  trained with it, and its Euler sampler;
- the numbers quoted from papers (:data:`PAPER_FIGURES`), each with its
  citation.

The library stays the source of truth: DDIM steps, guidance and the
schedules are ``ddpm_lib``'s, and the checks compare against them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import matplotlib.pyplot as plt
import torch
from torch import Tensor, nn

import ddpm_lib as dl
from ddpm_book.objective import (
    ToyEpsMLP,
    ToyTraining,
    component_posterior,
    train_toy,
)
from ddpm_lib.diffusion.schedules import Schedule, append_dims

__all__ = [
    "PAPER_FIGURES",
    "SamplerPair",
    "PaperFigure",
    "ScoreCheck",
    "component",
    "ddim_invert",
    "euler_step",
    "exact_velocity_model",
    "flow_and_ddim",
    "flow_loss",
    "flow_path",
    "flow_sample",
    "flow_target",
    "flow_velocity_model",
    "flow_velocity_exact",
    "guidance_identity",
    "implicit_classifier_score",
    "autograd_score",
    "inversion_errors",
    "inversion_figure",
    "latent_compression",
    "learned_variance",
    "mixture_posterior_mean",
    "posterior_mean_eps_grid",
    "samplers_figure",
    "score_check",
    "score_field_figure",
    "sigma_bar",
    "train_flow",
    "variance_range",
    "variance_range_figure",
    "vp_alpha_bar",
    "vp_figure",
]

Model = Callable[[Tensor, Tensor], Tensor]


# -- numbers quoted from papers -------------------------------------------


class PaperFigure(NamedTuple):
    """A number the chapter quotes, with what it is and where it stands.

    Attributes:
        value: The number as the source states it.
        what: What it measures, in words.
        cite: The BibTeX key of the source in book/references.bib.
    """

    value: float
    what: str
    cite: str


PAPER_FIGURES: dict[str, PaperFigure] = {
    "ddpm_steps_per_s": PaperFigure(
        21, "CIFAR-10 training steps per second, batch 128, TPU v3-8",
        "ho2020ddpm",
    ),
    "ddpm_batch": PaperFigure(
        128, "batch size of the CIFAR-10 model", "ho2020ddpm"
    ),
    "ddpm_train_steps": PaperFigure(
        800_000, "training steps of the CIFAR-10 model", "ho2020ddpm"
    ),
    "ddpm_train_hours": PaperFigure(
        10.6, "hours to train the CIFAR-10 model to 800k steps",
        "ho2020ddpm",
    ),
    "iddpm_lambda": PaperFigure(
        0.001, "weight λ of L_vlb in the hybrid loss", "nichol2021improved"
    ),
    "dpm_solver_nfe_few": PaperFigure(
        10, "network evaluations of DPM-Solver's fewer-step result",
        "lu2022dpmsolver",
    ),
    "dpm_solver_nfe_more": PaperFigure(
        20, "network evaluations of DPM-Solver's more-step result",
        "lu2022dpmsolver",
    ),
    "dpm_solver_fid_10": PaperFigure(
        4.70, "CIFAR-10 FID of DPM-Solver with 10 network evaluations",
        "lu2022dpmsolver",
    ),
    "dpm_solver_fid_20": PaperFigure(
        2.87, "CIFAR-10 FID of DPM-Solver with 20 network evaluations",
        "lu2022dpmsolver",
    ),
    "edm_fid": PaperFigure(
        1.79, "class-conditional CIFAR-10 FID of EDM", "karras2022edm"
    ),
    "edm_nfe": PaperFigure(
        35, "network evaluations per CIFAR-10 image of EDM's sampler",
        "karras2022edm",
    ),
    "sd_factor": PaperFigure(
        8, "downsampling factor f of Stable Diffusion v1's autoencoder",
        "sdv1card",
    ),
    "sd_latent_channels": PaperFigure(
        4, "channels of Stable Diffusion v1's latents", "sdv1card"
    ),
    "sd_resolution": PaperFigure(
        512, "image side of Stable Diffusion v1's later training stages",
        "sdv1card",
    ),
    "sd_nodes": PaperFigure(
        32, "training nodes of Stable Diffusion v1 (8 A100 GPUs each)",
        "sdv1card",
    ),
    "sd_gpus_per_node": PaperFigure(
        8, "A100 GPUs per training node of Stable Diffusion v1", "sdv1card"
    ),
}  # fmt: skip


# -- 1. the score view ------------------------------------------------------


def component(mixture: dl.GaussianMixture, k: int) -> dl.GaussianMixture:
    """Component k of ``mixture`` alone: the class-conditional q(x_0 | c=k)."""
    return dl.GaussianMixture(
        means=mixture.means[k : k + 1],
        stds=mixture.stds[k : k + 1],
        weights=mixture.weights.new_ones(1),
    )


def autograd_score(log_prob: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """∇_x log p(x) by automatic differentiation, shape (B, D), float64.

    ``log_prob`` maps points (B, D) to log-densities (B,); each point's
    log-density depends on that point only, so the gradient of their sum
    is every point's own gradient.
    """
    x = x.detach().double().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(log_prob(x).sum(), x)
    return grad


def posterior_mean_eps_grid(
    mixture: dl.GaussianMixture,
    x: Tensor,
    *,
    signal: float,
    noise: float,
    half_width: float = 3.0,
    n: int = 601,
) -> Tensor:
    """E[ε | x] by brute-force Bayes on a grid of x_0, shape (B, D).

    For x = signal · x_0 + noise · ε with x_0 ~ ``mixture`` (2-D) and
    ε ~ N(0, I): the posterior of x_0 is prior × likelihood, normalised
    over an n × n grid on [−half_width, half_width]²; its mean gives
    E[x_0 | x], and E[ε | x] = (x − signal · E[x_0 | x]) / noise. Nothing
    here uses the mixture's score: only its density at clean points.
    """
    if mixture.dim != 2:
        raise ValueError(f"the grid is 2-D; got D = {mixture.dim}")
    if noise <= 0:
        raise ValueError(f"noise must be positive; got {noise}")
    axis = torch.linspace(-half_width, half_width, n, dtype=torch.float64)
    grid = torch.cartesian_prod(axis, axis)  # (n², 2) points x_0
    log_prior = mixture.log_prob(grid)  # (n²,)
    x = x.double()
    sq_dist = torch.cdist(x, signal * grid).square()  # (B, n²)
    log_post = log_prior[None] - 0.5 * sq_dist / noise**2  # (B, n²)
    weights = torch.softmax(log_post, dim=1)  # (B, n²), rows sum to 1
    x0_mean = weights @ grid  # (B, 2): E[x_0 | x]
    return (x - signal * x0_mean) / noise


class ScoreCheck(NamedTuple):
    """ε*(x_t, t) computed three independent ways, each (B, D), float64.

    Attributes:
        closed_form: ``GaussianMixture.optimal_eps``.
        autograd: −√(1 − ᾱ_t) times the autograd gradient of
            ``mixture.noised(sched, t).log_prob``.
        grid: E[ε | x_t] by Bayes' rule on a grid of x_0.
    """

    closed_form: Tensor
    autograd: Tensor
    grid: Tensor


def score_check(
    mixture: dl.GaussianMixture, sched: Schedule, t: int, x_t: Tensor
) -> ScoreCheck:
    """ε* = −√(1 − ᾱ_t) ∇ log q(x_t) = E[ε | x_t], three ways."""
    alpha_bar_t = sched.alpha_bar[t].item()
    scale = math.sqrt(1 - alpha_bar_t)
    x_t = x_t.double()
    score = autograd_score(mixture.noised(sched, t).log_prob, x_t)
    return ScoreCheck(
        closed_form=mixture.optimal_eps(sched, x_t, t),
        autograd=-scale * score,
        grid=posterior_mean_eps_grid(
            mixture, x_t, signal=math.sqrt(alpha_bar_t), noise=scale
        ),
    )


def implicit_classifier_score(
    mixture: dl.GaussianMixture, sched: Schedule, t: int, x_t: Tensor, c: int
) -> Tensor:
    """∇_{x_t} log q(c | x_t) by autograd, shape (B, D), float64.

    The component posterior q(c | x_t) of the noised mixture is the
    exact classifier of noisy points (``component_posterior``).
    """
    noised = mixture.noised(sched, t)
    return autograd_score(
        lambda x: component_posterior(noised, x)[:, c].log(), x_t
    )


def guidance_identity(
    mixture: dl.GaussianMixture,
    sched: Schedule,
    t: int,
    x_t: Tensor,
    c: int,
    w: float,
) -> tuple[Tensor, Tensor]:
    """Both sides of the implicit-classifier identity of guidance.

    Left: ``dl.guided_eps`` of the exact conditional ε*(x_t, c) (the
    optimal noise prediction of component c alone) and the exact
    unconditional ε*(x_t). Right: −√(1 − ᾱ_t) [∇ log q(x_t | c) +
    w ∇ log q(c | x_t)], both gradients by autograd.

    Returns:
        ``(guided, from_scores)``, each (B, D), float64.
    """
    x_t = x_t.double()
    alone = component(mixture, c)
    guided = dl.guided_eps(
        alone.optimal_eps(sched, x_t, t),
        mixture.optimal_eps(sched, x_t, t),
        w=w,
    )
    cond_score = autograd_score(alone.noised(sched, t).log_prob, x_t)
    classifier = implicit_classifier_score(mixture, sched, t, x_t, c)
    scale = math.sqrt(1 - sched.alpha_bar[t].item())
    return guided, -scale * (cond_score + w * classifier)


@torch.no_grad()
def score_field_figure(
    model: Model,
    mixture: dl.GaussianMixture,
    sched: Schedule,
    steps: Sequence[int],
    *,
    lim: float = 3.0,
    n: int = 15,
):
    """Exact score ∇ log q(x_t) beside the trained −ε_θ / √(1 − ᾱ_t).

    One column per step t: arrows on an n × n grid of x_t, over the
    density of q(x_t) in grey; exact field on top, learned below.
    """
    axis = torch.linspace(-lim, lim, n, dtype=torch.float64)
    grid = torch.cartesian_prod(axis, axis)  # (n², 2)
    fine = torch.linspace(-lim, lim, 120, dtype=torch.float64)
    fine_grid = torch.cartesian_prod(fine, fine)
    fig, axes = plt.subplots(
        2, len(steps), figsize=(2.6 * len(steps), 5.4), layout="constrained"
    )
    axes = axes.reshape(2, len(steps))
    for col, t in enumerate(steps):
        scale = math.sqrt(1 - sched.alpha_bar[t].item())
        exact = mixture.noised(sched, t).score(grid)
        t_batch = torch.full((len(grid),), t, dtype=torch.long)
        learned = -model(grid.float(), t_batch).double() / scale
        density = mixture.noised(sched, t).log_prob(fine_grid).exp()
        for row, field in enumerate((exact, learned)):
            ax = axes[row, col]
            ax.imshow(
                density.reshape(len(fine), len(fine)).T,
                extent=(-lim, lim, -lim, lim),
                origin="lower",
                cmap="Greys",
            )
            # Arrows scaled to a common length: the direction is the news.
            unit = field / field.norm(dim=1, keepdim=True).clamp(min=1e-12)
            ax.quiver(
                grid[:, 0], grid[:, 1], unit[:, 0], unit[:, 1],
                color="C0" if row == 0 else "C3", scale=n * 1.4,
                width=0.006,
            )  # fmt: skip
            ax.set(xticks=[], yticks=[], aspect="equal")
            if row == 0:
                ax.set_title(f"t = {t}", fontsize=9)
        axes[0, 0].set_ylabel("exact ∇ log q(x_t)", fontsize=9)
        axes[1, 0].set_ylabel("learned −ε_θ / √(1 − ᾱ_t)", fontsize=9)
    fig.suptitle("Score fields: exact (top) and learned (bottom)", fontsize=10)
    return fig


# -- 2. Improved DDPM: the learned variance -------------------------------


def learned_variance(sched: Schedule, t: Tensor, v: Tensor) -> Tensor:
    """Σ_θ = exp(v log β_t + (1 − v) log β̃_t), Nichol & Dhariwal (2021).

    Their equation 15: the network outputs v (one per dimension) and the
    variance interpolates, in log space, between the library's two fixed
    choices ``dl.reverse_variance(sched, t, "beta")`` (v = 1) and
    ``"beta_tilde"`` (v = 0). β̃_1 = 0 has no logarithm; as in their code,
    β̃_2 stands in for it at t = 1.

    Args:
        sched: The noise schedule.
        t: Steps, (B,) int64 with 1 ≤ t ≤ T.
        v: The interpolation weights, shape (B, *S); not constrained.

    Returns:
        Σ_θ, shape (B, *S), in v's dtype.
    """
    t = dl.timesteps(sched, t, v)
    log_beta = dl.reverse_variance(sched, t, "beta").log()
    # β̃_t, with t = 1 replaced by t = 2 (β̃_1 = 0).
    beta_tilde = dl.reverse_variance(sched, t.clamp(min=2), "beta_tilde")
    log_beta_tilde = beta_tilde.log()
    log_beta, log_beta_tilde = (
        append_dims(c.to(v.dtype), v.ndim) for c in (log_beta, log_beta_tilde)
    )
    return torch.exp(v * log_beta + (1 - v) * log_beta_tilde)


def variance_range(sched: Schedule) -> Tensor:
    """log β_t − log β̃_t for t = 2, …, T, shape (T − 1,), float64.

    The width, in log space, of the interval the learned variance moves
    in; infinite at t = 1 (β̃_1 = 0), so that step is left out.
    """
    t = torch.arange(2, sched.T + 1)
    beta = dl.reverse_variance(sched, t, "beta")
    beta_tilde = dl.reverse_variance(sched, t, "beta_tilde")
    return beta.log() - beta_tilde.log()


def variance_range_figure(schedules: dict[str, Schedule]):
    """log β_t − log β̃_t against t/T for several schedules (log scale)."""
    fig, ax = plt.subplots(figsize=(6, 3.2), layout="constrained")
    for name, sched in schedules.items():
        t = torch.arange(2, sched.T + 1)
        ax.semilogy(t / sched.T, variance_range(sched), label=name)
    ax.set(
        xlabel="t / T",
        ylabel=r"$\log\beta_t - \log\tilde\beta_t$",
        title="Room for a learned variance",
    )
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return fig


# -- 3. DDIM as an ODE -----------------------------------------------------


def sigma_bar(sched: Schedule) -> Tensor:
    """σ̄_t = √(1 − ᾱ_t) / √ᾱ_t for t = 0, …, T, shape (T + 1,), float64.

    The "time" of the probability-flow ODE in DDIM's variables
    (Song et al. 2021, their equation 14); σ̄_0 = 0 and it grows with t.
    """
    return ((1 - sched.alpha_bar) / sched.alpha_bar).sqrt()


def euler_step(
    sched: Schedule, x_t: Tensor, t: int, t_next: int, eps_pred: Tensor
) -> Tensor:
    """One Euler step of dx̄/dσ̄ = ε from step t to step t_next.

    In the variables x̄ = x / √ᾱ and σ̄ = √(1 − ᾱ) / √ᾱ the
    probability-flow ODE reads dx̄/dσ̄ = ε(x, t). One Euler step with the
    slope ε_θ(x_t, t) is

        x̄_next = x̄_t + (σ̄_next − σ̄_t) · ε_θ(x_t, t),

    and x_next = √ᾱ_next · x̄_next. With t_next < t this is DDIM with
    η = 0; with t_next > t it runs the ODE forward (inversion).

    Args:
        sched: The noise schedule.
        x_t: Samples at step t, shape (B, *S).
        t: Current step, 0 ≤ t ≤ T.
        t_next: Step to go to, 0 ≤ t_next ≤ T.
        eps_pred: The slope ε_θ(x_t, t), shape (B, *S).
    """
    for name, s in (("t", t), ("t_next", t_next)):
        if not 0 <= s <= sched.T:
            raise ValueError(f"{name} must lie in 0..T = {sched.T}; got {s}")
    s_bar = sigma_bar(sched)
    x_bar = x_t / math.sqrt(sched.alpha_bar[t].item())
    x_bar_next = x_bar + (s_bar[t_next] - s_bar[t]).item() * eps_pred
    return math.sqrt(sched.alpha_bar[t_next].item()) * x_bar_next


@torch.no_grad()
def ddim_invert(
    model: Model, sched: Schedule, x0: Tensor, steps: Sequence[int]
) -> Tensor:
    """Run the ODE forward, x_0 → x_{steps[0]}: DDIM inversion.

    ``steps`` is the decreasing sequence the sampler will use; inversion
    visits it in reverse, 0 → steps[−1] → … → steps[0], with an Euler
    step whose slope is ε_θ at the step's start. The network knows no
    t = 0, so the first slope is asked at t = 1, where ᾱ_1 = 1 − β_1.

    Returns:
        x at step ``steps[0]``, shape (B, *S): the noise DDIM maps back
        to (approximately) x0.
    """
    path = [0, *reversed(list(steps))]  # increasing
    x = x0
    for t, t_next in zip(path, path[1:], strict=False):
        ask = max(t, 1)
        eps = model(x, torch.full((len(x),), ask, dtype=torch.long))
        x = euler_step(sched, x, t, t_next, eps)
    return x


@torch.no_grad()
def inversion_errors(
    model: Model,
    sched: Schedule,
    x0: Tensor,
    step_counts: Sequence[int],
) -> dict[int, tuple[Tensor, Tensor, float]]:
    """Invert x0 with S DDIM steps and sample back, for each S.

    Returns:
        S -> (x_T, reconstruction, RMS error per pixel) with x_T the
        inverted noise; the reconstruction comes from the library's
        ``dl.ddim_sample`` (η = 0, no clipping) over the same steps.
    """
    out = {}
    for count in step_counts:
        steps = dl.ddim_timesteps(sched.T, count)
        x_T = ddim_invert(model, sched, x0, steps)
        back = dl.final_sample(dl.ddim_sample(model, sched, x_T, steps))
        rms = (back - x0).square().mean().sqrt().item()
        out[count] = (x_T, back, rms)
    return out


def inversion_figure(
    x0: Tensor, results: dict[int, tuple[Tensor, Tensor, float]]
):
    """Originals, their inverted noise and reconstructions, per S."""
    counts = list(results)
    rows = 2 + len(counts)
    n = len(x0)
    fig, axes = plt.subplots(
        rows, n, figsize=(1.3 * n, 1.35 * rows), layout="constrained"
    )
    axes = axes.reshape(rows, n)
    most = counts[-1]
    pictures = [("x_0", x0), (f"x_T ({most} steps)", results[most][0])]
    pictures += [
        (f"back, {c} steps", results[c][1]) for c in counts
    ]  # fmt: skip
    for row, (label, images) in enumerate(pictures):
        for col in range(n):
            ax = axes[row, col]
            ax.imshow(images[col, 0].clamp(-3, 3), cmap="gray")
            ax.set(xticks=[], yticks=[])
        axes[row, 0].set_ylabel(label, fontsize=8)
    fig.suptitle("DDIM inversion and reconstruction", fontsize=10)
    return fig


# -- 4. latent diffusion ---------------------------------------------------


def latent_compression(
    side: int, channels: int, factor: int, latent_channels: int
) -> dict[str, float]:
    """Sizes of an image and of its autoencoder latent.

    An autoencoder with downsampling factor f maps H × W × C to
    H/f × W/f × c. Returns the numbers of values, their ratio, the
    spatial positions of each, and the ratio of self-attention's cost
    (quadratic in the positions) at full resolution to that in the latent.
    """
    if side % factor:
        raise ValueError(f"side {side} is not a multiple of f = {factor}")
    pixels = side * side * channels
    latent_side = side // factor
    latents = latent_side * latent_side * latent_channels
    return {
        "pixels": pixels,
        "latent_side": latent_side,
        "latents": latents,
        "ratio": pixels / latents,
        "positions": side * side,
        "latent_positions": latent_side * latent_side,
        "attention_ratio": (side * side) ** 2 / (latent_side**2) ** 2,
    }


# -- 5. the VP-SDE ----------------------------------------------------------


def vp_alpha_bar(sched: Schedule, beta_1: float, beta_T: float) -> Tensor:
    """ᾱ(t) = exp(−∫₀^{t/T} β(s) ds) of the VP-SDE, t = 0, …, T, (T + 1,).

    The continuous counterpart of the linear schedule (Song et al. 2021):
    β(s) = T β_1 + s · T (β_T − β_1) on s ∈ [0, 1], whose integral to
    s = t/T is β_1 t + (β_T − β_1) t² / (2T).
    """
    t = torch.arange(sched.T + 1, dtype=torch.float64)
    integral = beta_1 * t + (beta_T - beta_1) * t**2 / (2 * sched.T)
    return torch.exp(-integral)


def vp_figure(sched: Schedule, beta_1: float, beta_T: float):
    """ᾱ_t three ways, and their ratios, against t."""
    t = torch.arange(sched.T + 1)
    product = sched.alpha_bar
    sum_exp = torch.exp(-torch.cumsum(sched.beta, 0))
    sde = vp_alpha_bar(sched, beta_1, beta_T)
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(8, 3.2), layout="constrained"
    )
    left.semilogy(t, product, label=r"$\prod (1 - \beta_s)$")
    left.semilogy(t, sum_exp, "--", label=r"$\exp(-\sum \beta_s)$")
    left.semilogy(t, sde, ":", label=r"$\exp(-\int \beta)$ (VP-SDE)")
    left.set(xlabel="step t", ylabel=r"$\bar\alpha_t$")
    left.legend(frameon=False, fontsize=8)
    right.plot(t, product / sum_exp, label=r"$\prod / \exp(-\sum)$")
    right.plot(t, product / sde, "--", label=r"$\prod / \exp(-\int)$")
    right.set(xlabel="step t", ylabel="ratio")
    right.legend(frameon=False, fontsize=8)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.suptitle("The discrete chain against its SDE", fontsize=10)
    return fig


# -- 6. flow matching -------------------------------------------------------


def flow_path(x0: Tensor, eps: Tensor, t: Tensor) -> Tensor:
    """x_t = (1 − t) x_0 + t ε, the straight path of rectified flow.

    Args:
        x0: Data, shape (B, *S).
        eps: Noise, shape (B, *S).
        t: Times in [0, 1], shape (B,).
    """
    t = append_dims(t.to(x0.dtype), x0.ndim)
    return (1 - t) * x0 + t * eps


def flow_target(x0: Tensor, eps: Tensor) -> Tensor:
    """The velocity d x_t / dt = ε − x_0 of :func:`flow_path`."""
    return eps - x0


def mixture_posterior_mean(
    mixture: dl.GaussianMixture, x: Tensor, signal: float, noise: float
) -> Tensor:
    """E[x_0 | x] for x = signal · x_0 + noise · ε, in closed form, (B, D).

    Given component k, x_0 and x are jointly Gaussian and
    E[x_0 | x, k] = μ_k + signal s_k² / (signal² s_k² + noise²) ·
    (x − signal μ_k); averaged with the weights q(k | x).
    """
    x = x.double()
    var = signal**2 * mixture.stds**2 + noise**2  # (K,)
    noised = dl.GaussianMixture(
        means=signal * mixture.means, stds=var.sqrt(), weights=mixture.weights
    )
    resp = component_posterior(noised, x)  # (B, K)
    gain = signal * mixture.stds**2 / var  # (K,)
    means = mixture.means[None] + gain[None, :, None] * (
        x[:, None, :] - signal * mixture.means[None]
    )  # (B, K, D): E[x_0 | x, k]
    return (resp[:, :, None] * means).sum(dim=1)


def flow_velocity_exact(
    mixture: dl.GaussianMixture, x: Tensor, t: float
) -> Tensor:
    """The exact velocity E[ε − x_0 | x_t = x] of the straight path, (B, D).

    0 < t ≤ 1. With x_0 ~ ``mixture``, x_t = (1 − t) x_0 + t ε gives
    ε = (x_t − (1 − t) x_0) / t, so the velocity is (x − E[x_0 | x]) / t.
    """
    if not 0 < t <= 1:
        raise ValueError(f"t must lie in (0, 1]; got {t}")
    x0_mean = mixture_posterior_mean(mixture, x, 1 - t, t)
    return (x.double() - x0_mean) / t


# The toy network hears the flow's time t in [0, 1] as 1000 t, the range
# of the DDPM steps its sinusoidal embedding was written for.
FLOW_TIME_SCALE = 1000.0


def flow_loss(
    sched: Schedule | None,
    model: nn.Module,
    x0: Tensor,
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """The flow-matching loss of one batch, ‖(ε − x_0) − v_θ(x_t, t)‖².

    t ~ Uniform(0, 1) and ε ~ N(0, I) come from ``generator``, in that
    order; x_t = (1 − t) x_0 + t ε is the straight path. ``sched`` is
    unused (the path has no noise schedule): the argument makes this a
    loss that :func:`~ddpm_book.objective.train_toy` can train with.
    """
    t = torch.rand(len(x0), generator=generator, device=x0.device)
    t = t.to(x0.dtype)
    eps = torch.randn(
        x0.shape, generator=generator, device=x0.device, dtype=x0.dtype
    )
    pred = model(flow_path(x0, eps, t), FLOW_TIME_SCALE * t)
    return (flow_target(x0, eps) - pred).square().mean()


def train_flow(
    data: Tensor,
    *,
    steps: int = 3000,
    batch_size: int = 256,
    lr: float = 5e-3,
    hidden: int = 128,
    depth: int = 3,
    seed: int = 0,
) -> ToyTraining:
    """Train a :class:`ToyEpsMLP` as a velocity field v_θ(x_t, t).

    Conditional flow matching with the straight path (:func:`flow_loss`);
    everything else is :func:`~ddpm_book.objective.train_toy`'s: the same
    network, Adam with a cosine-decayed learning rate, the same seeding.
    """
    return train_toy(
        data,
        None,  # the straight path has no noise schedule
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        hidden=hidden,
        depth=depth,
        seed=seed,
        objective=flow_loss,
    )


@torch.no_grad()
def flow_sample(
    velocity: Callable[[Tensor, Tensor], Tensor], x1: Tensor, steps: int
) -> Tensor:
    """Euler from t = 1 (noise) to t = 0 in ``steps`` equal steps.

    ``velocity(x, t)`` takes points (B, D) and times (B,) in [0, 1]; a
    network trained by :func:`train_flow` is called as
    ``lambda x, t: model(x, FLOW_TIME_SCALE * t)``.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1; got {steps}")
    x = x1
    dt = 1.0 / steps
    for i in range(steps, 0, -1):
        t = torch.full((len(x),), i * dt, dtype=x.dtype, device=x.device)
        x = x - dt * velocity(x, t)
    return x


def flow_velocity_model(
    model: ToyEpsMLP,
) -> Callable[[Tensor, Tensor], Tensor]:
    """A network from :func:`train_flow` as ``velocity(x, t)``, t in [0, 1]."""
    return lambda x, t: model(x, FLOW_TIME_SCALE * t)


def exact_velocity_model(
    mixture: dl.GaussianMixture,
) -> Callable[[Tensor, Tensor], Tensor]:
    """:func:`flow_velocity_exact` as ``velocity(x, t)``, one t a batch."""

    def velocity(x: Tensor, t: Tensor) -> Tensor:
        return flow_velocity_exact(mixture, x, t[0].item()).to(x.dtype)

    return velocity


class SamplerPair(NamedTuple):
    """Samples of the two samplers from the same starting noise.

    Attributes:
        flow: Euler on a velocity field (flow matching), (N, D).
        ddim: DDIM (η = 0) on a noise predictor, (N, D).
    """

    flow: Tensor
    ddim: Tensor


@torch.no_grad()
def flow_and_ddim(
    velocity: Callable[[Tensor, Tensor], Tensor],
    eps_model: Model,
    sched: Schedule,
    noise: Tensor,
    steps: int,
) -> SamplerPair:
    """Both samplers, ``steps`` network calls each, from one noise (N, D)."""
    flow = flow_sample(velocity, noise, steps)
    ddim = dl.final_sample(
        dl.ddim_sample(
            eps_model, sched, noise, dl.ddim_timesteps(sched.T, steps)
        )
    )
    return SamplerPair(flow=flow, ddim=ddim)


def samplers_figure(samples: dict[int, SamplerPair], *, lim: float = 3.0):
    """Scatter plots: flow (top) and DDIM (bottom), one column per S."""
    counts = list(samples)
    fig, axes = plt.subplots(
        2, len(counts), figsize=(2.3 * len(counts), 4.8),
        layout="constrained", squeeze=False,
    )  # fmt: skip
    for col, count in enumerate(counts):
        for row, points in enumerate(samples[count]):
            ax = axes[row, col]
            ax.scatter(points[:, 0], points[:, 1], s=1, alpha=0.3)
            ax.set(
                xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal",
                xticks=[], yticks=[],
            )  # fmt: skip
            if row == 0:
                ax.set_title(f"{count} steps", fontsize=9)
    axes[0, 0].set_ylabel("flow matching, Euler", fontsize=9)
    axes[1, 0].set_ylabel("ε-model, DDIM", fontsize=9)
    fig.suptitle("Few-step samples of the two toy models", fontsize=10)
    return fig
