"""Procedural 2-D toy data, and a Gaussian mixture known exactly at every t.

If x_0 follows a mixture of isotropic Gaussians Σ_k w_k N(μ_k, s_k² I),
then by Eq. (4) of Ho et al. (2020) the noised marginal q(x_t) is again
such a mixture, Σ_k w_k N(√ᾱ_t μ_k, (ᾱ_t s_k² + 1 − ᾱ_t) I). Its density,
its score ∇ log q(x_t) and the ideal noise prediction
ε*(x_t, t) = −√(1 − ᾱ_t) ∇ log q(x_t) are all in closed form, so a learned
ε_θ can be judged against the truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ddpm_lib.diffusion.schedules import Schedule, pick, timesteps

__all__ = [
    "GaussianMixture",
    "eight_gaussians",
    "swiss_roll",
    "two_moons",
]


@dataclass(frozen=True, eq=False)
class GaussianMixture:
    """A mixture of isotropic Gaussians in D dimensions (float64).

    Attributes:
        means: Component means μ_k, shape (K, D).
        stds: Component standard deviations s_k, shape (K,).
        weights: Mixing weights w_k, shape (K,), summing to 1.
    """

    means: Tensor
    stds: Tensor
    weights: Tensor

    def __post_init__(self) -> None:
        k = self.means.shape[0]
        if (
            self.means.ndim != 2
            or self.stds.shape != (k,)
            or (self.weights.shape != (k,))
        ):
            raise ValueError(
                "expected means (K, D), stds (K,), weights (K,); got "
                f"{tuple(self.means.shape)}, {tuple(self.stds.shape)}, "
                f"{tuple(self.weights.shape)}"
            )
        if (self.stds <= 0).any() or (self.weights < 0).any():
            raise ValueError("stds must be positive and weights >= 0")
        if abs(self.weights.sum().item() - 1) > 1e-9:
            raise ValueError("weights must sum to 1")

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def noised(self, sched: Schedule, t: int) -> GaussianMixture:
        """The marginal q(x_t) of this mixture under Eq. (4), 0 ≤ t ≤ T."""
        step = timesteps(sched, t, self.means[:1], lowest=0)
        alpha_bar_t = pick(sched.alpha_bar, step).to(self.means)[0]
        return GaussianMixture(
            means=alpha_bar_t.sqrt() * self.means,
            stds=(alpha_bar_t * self.stds**2 + 1 - alpha_bar_t).sqrt(),
            weights=self.weights,
        )

    def sample(
        self, n: int, *, generator: torch.Generator | None = None
    ) -> Tensor:
        """n samples, shape (n, D), float32 on the CPU."""
        k = torch.multinomial(
            self.weights, n, replacement=True, generator=generator
        )
        z = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        x = self.means[k] + self.stds[k, None] * z
        return x.float()

    def _component_log_probs(self, x: Tensor) -> Tensor:
        """log(w_k N(x; μ_k, s_k² I)), shape (B, K)."""
        x = x.to(self.means.dtype)
        sq_dist = (x[:, None, :] - self.means[None]).square().sum(-1)  # (B, K)
        var = self.stds.square()  # (K,)
        log_norm = -0.5 * self.dim * torch.log(2 * math.pi * var)
        return self.weights.log() + log_norm - 0.5 * sq_dist / var

    def log_prob(self, x: Tensor) -> Tensor:
        """log density at x, shape (B, D) → (B,), float64."""
        return torch.logsumexp(self._component_log_probs(x), dim=1)

    def score(self, x: Tensor) -> Tensor:
        """∇_x log density in closed form, shape (B, D), float64.

        ∇ log p(x) = Σ_k r_k(x) · (μ_k − x) / s_k², with r_k the posterior
        responsibility of component k.
        """
        resp = torch.softmax(self._component_log_probs(x), dim=1)  # (B, K)
        x = x.to(self.means.dtype)
        pull = (self.means[None] - x[:, None, :]) / self.stds[
            None, :, None
        ] ** 2
        return (resp[:, :, None] * pull).sum(dim=1)  # (B, D)

    def optimal_eps(self, sched: Schedule, x_t: Tensor, t: int) -> Tensor:
        """ε*(x_t, t) = E[ε | x_t] = −√(1 − ᾱ_t) ∇ log q(x_t), (B, D).

        The best possible noise prediction under L_simple at step t.
        """
        step = timesteps(sched, t, x_t)
        alpha_bar_t = pick(sched.alpha_bar, step)[0].to(self.means)
        score = self.noised(sched, t).score(x_t)
        return (-(1 - alpha_bar_t).sqrt() * score).to(x_t.dtype)


def eight_gaussians(
    *, radius: float = 2.0, std: float = 0.1
) -> GaussianMixture:
    """Eight equal Gaussians on a circle: the classic 2-D test mixture."""
    angle = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    means = radius * torch.stack([angle.cos(), angle.sin()], dim=1)  # (8, 2)
    return GaussianMixture(
        means=means,
        stds=torch.full((8,), std, dtype=torch.float64),
        weights=torch.full((8,), 1 / 8, dtype=torch.float64),
    )


def two_moons(
    n: int, *, noise: float = 0.05, generator: torch.Generator | None = None
) -> Tensor:
    """n points on two interleaved half circles, shape (n, 2), centred."""
    half = torch.rand(n, generator=generator) < 0.5
    angle = torch.rand(n, generator=generator) * math.pi
    upper = torch.stack([angle.cos(), angle.sin()], dim=1)
    lower = torch.stack([1 - angle.cos(), 0.5 - angle.sin()], dim=1)
    x = torch.where(half[:, None], upper, lower) - torch.tensor([0.5, 0.25])
    return x + noise * torch.randn(n, 2, generator=generator)


def swiss_roll(
    n: int, *, noise: float = 0.05, generator: torch.Generator | None = None
) -> Tensor:
    """n points on a 2-D spiral, scaled to about [-1.5, 1.5]², (n, 2)."""
    turn = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=generator))
    x = torch.stack([turn * turn.cos(), turn * turn.sin()], dim=1) / 10
    return x + noise * torch.randn(n, 2, generator=generator)
