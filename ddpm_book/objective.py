"""A small ε-prediction network for 2-D toy data, trained in seconds.

The book's first chapter trains a diffusion model live on a CPU. The
network is a time-conditioned MLP ε_θ(x_t, t) (the same interface as the
UNet: ``model(x_t, t) -> eps_pred``), and :func:`train_toy` minimises
L_simple, Ho et al. (2020) Eq. 14, with Algorithm 1: draw x_0 from the
data, t ~ Uniform{1, …, T} and ε ~ N(0, I), and take a gradient step on
‖ε − ε_θ(√ᾱ_t x_0 + √(1 − ᾱ_t) ε, t)‖².

The chapter on the training objective compares L_simple with the bound
through :func:`bound_weight`, the weight λ_t that the bound puts on the
noise-prediction error at step t (Ho et al. Eq. 12).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ddpm_lib.diffusion.forward import q_sample
from ddpm_lib.diffusion.objective import loss_simple, sample_timesteps
from ddpm_lib.diffusion.posterior import Variance, reverse_variance
from ddpm_lib.diffusion.schedules import Schedule, pick, timesteps
from ddpm_lib.diffusion.toy import GaussianMixture
from ddpm_lib.networks.embedding import timestep_embedding

__all__ = [
    "SampleSummary",
    "ToyEpsMLP",
    "ToyTraining",
    "bound_weight",
    "component_posterior",
    "optimal_loss",
    "sample_summary",
    "train_toy",
]


def bound_weight(
    sched: Schedule, t: Tensor | int, variance: Variance | str
) -> Tensor:
    """λ_t, the bound's weight on the noise error, Ho et al. (2020) Eq. 12.

    With p_θ(x_{t−1} | x_t) = N(μ_θ, σ_t² I) and μ_θ built from ε_θ, the
    term L_{t−1} of the bound is, up to a constant C_t,

        L_{t−1} − C_t = λ_t E‖ε − ε_θ(x_t, t)‖²,
        λ_t = β_t² / (2 σ_t² α_t (1 − ᾱ_t)).

    L_simple gives every step weight 1 instead. Where σ_t² = 0 (β̃_1: at
    t = 1 the term is the decoder L_0, not a KL) the weight is undefined
    and comes back as NaN.

    Args:
        sched: The noise schedule.
        t: Steps, a (B,) int64 tensor with 1 ≤ t ≤ T, or an int.
        variance: σ_t² = β_t (``"beta"``) or β̃_t (``"beta_tilde"``).

    Returns:
        λ_t, shape (B,) ((1,) for an int t), in the schedule's precision.
    """
    if isinstance(t, int):
        t = torch.tensor([t])
    t = timesteps(sched, t, t)
    sigma_sq = reverse_variance(sched, t, variance)  # (B,)
    beta_t, alpha_t = pick(sched.beta, t), pick(sched.alpha, t)
    alpha_bar_t = pick(sched.alpha_bar, t)
    weight = beta_t**2 / (2 * sigma_sq * alpha_t * (1 - alpha_bar_t))
    return torch.where(sigma_sq > 0, weight, torch.nan)


class ToyEpsMLP(nn.Module):
    """ε_θ(x_t, t) for D-dimensional points: an MLP told the step t.

    The step enters as in the DDPM UNet: its sinusoidal embedding is mapped
    by a linear layer and *added* to the hidden features of every layer, so
    each layer can behave differently at different noise levels.

    Args:
        dim: Data dimension D (2 for the toy sets).
        hidden: Width of the hidden layers.
        depth: Number of hidden layers.
        time_dim: Width of the sinusoidal embedding of t.
    """

    def __init__(
        self,
        dim: int = 2,
        *,
        hidden: int = 128,
        depth: int = 3,
        time_dim: int = 32,
    ) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be at least 1; got {depth}")
        self.dim = dim
        self.time_dim = time_dim
        widths = [dim] + [hidden] * depth
        self.layers = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(widths, widths[1:], strict=False)
        )
        self.time_proj = nn.ModuleList(
            nn.Linear(time_dim, hidden) for _ in range(depth)
        )
        self.out = nn.Linear(hidden, dim)

    def forward(self, x_t: Tensor, t: Tensor) -> Tensor:
        """ε_θ(x_t, t): x_t (B, D) and t (B,) int64 → (B, D)."""
        if x_t.ndim != 2 or x_t.shape[1] != self.dim:
            raise ValueError(
                f"expected points of shape (B, {self.dim}); got "
                f"{tuple(x_t.shape)}"
            )
        emb = timestep_embedding(t, self.time_dim).to(x_t.dtype)  # (B, E)
        h = x_t
        for layer, proj in zip(self.layers, self.time_proj, strict=True):
            h = nn.functional.silu(layer(h) + proj(emb))  # (B, hidden)
        return self.out(h)  # (B, D)


@dataclass
class ToyTraining:
    """What :func:`train_toy` returns.

    Attributes:
        model: The trained ε_θ, in evaluation mode.
        losses: The loss of each training batch, shape (steps,).
    """

    model: ToyEpsMLP
    losses: Tensor


def train_toy(
    data: Tensor,
    sched: Schedule | None,
    *,
    steps: int = 3000,
    batch_size: int = 256,
    lr: float = 5e-3,
    hidden: int = 128,
    depth: int = 3,
    seed: int = 0,
    objective: Callable[..., Tensor] = loss_simple,
) -> ToyTraining:
    """Train a :class:`ToyEpsMLP` with L_simple (Algorithm 1) on ``data``.

    Adam with a learning rate that decays along a half cosine from ``lr``
    to 0, so the last steps average out the noise of the small batches.
    Reproducible: the initial weights, the batches, t and ε all come from
    ``seed`` (the global random state is left as it was).

    Args:
        data: Training points x_0, shape (N, D), float32, on the device to
            train on.
        sched: The noise schedule (None for an objective without one).
        steps: Number of gradient steps.
        batch_size: Points per step, drawn with replacement.
        lr: Peak learning rate.
        hidden: Width of the MLP.
        depth: Hidden layers of the MLP.
        seed: Seed of everything random.
        objective: The loss of a batch,
            ``objective(sched, model, x0, generator=...)``; L_simple by
            default. Any other estimator draws its own t and ε from the
            generator, e.g. an importance-sampled bound.

    Returns:
        The model (eval mode) and the loss of every step.
    """
    if data.ndim != 2 or len(data) == 0 or not data.is_floating_point():
        raise ValueError(
            f"data must be floating-point points of shape (N, D); got "
            f"{tuple(data.shape)} {data.dtype}"
        )
    if steps < 1 or batch_size < 1:
        raise ValueError(
            f"steps and batch_size must be positive; got {steps}, {batch_size}"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ToyEpsMLP(data.shape[1], hidden=hidden, depth=depth)
    model = model.to(device=data.device, dtype=data.dtype)
    generator = torch.Generator(data.device).manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    losses = torch.empty(steps, device=data.device)
    model.train()
    for step in range(steps):
        # Algorithm 1, line 2: x_0 ~ q(x_0), here a draw from the data.
        index = torch.randint(
            len(data), (batch_size,), generator=generator, device=data.device
        )
        # Lines 3-5: t, ε and the gradient step on L_simple.
        loss = objective(sched, model, data[index], generator=generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        decay.step()
        losses[step] = loss.detach()
    return ToyTraining(model=model.eval(), losses=losses.cpu())


def component_posterior(mixture: GaussianMixture, x: Tensor) -> Tensor:
    """q(k | x): which component of ``mixture`` a point x came from.

    Bayes' rule, w_k N(x; μ_k, s_k² I) / Σ_j w_j N(x; μ_j, s_j² I). Applied
    to the noised mixture ``mixture.noised(sched, t)`` it says how much x_t
    still tells about the component x_0 was drawn from.

    Args:
        mixture: A Gaussian mixture with K components.
        x: Points, shape (B, D).

    Returns:
        Probabilities, shape (B, K), float64; each row sums to 1.
    """
    log_joint = torch.stack(
        [
            GaussianMixture(
                means=mixture.means[k : k + 1],
                stds=mixture.stds[k : k + 1],
                weights=mixture.weights.new_ones(1),
            ).log_prob(x)
            + mixture.weights[k].log()
            for k in range(len(mixture.weights))
        ],
        dim=1,
    )  # (B, K): log w_k N(x; μ_k, s_k² I)
    return torch.softmax(log_joint, dim=1)


def optimal_loss(
    mixture: GaussianMixture,
    sched: Schedule,
    n: int,
    *,
    generator: torch.Generator | None = None,
) -> float:
    """L_simple of the exact ε*(x_t, t): the floor no network can beat.

    A Monte Carlo estimate over n draws of x_0 ~ ``mixture``,
    t ~ Uniform{1, …, T} and ε ~ N(0, I), in float64, with the closed-form
    ε* = E[ε | x_t] of :meth:`GaussianMixture.optimal_eps`. Because ε* is
    that conditional mean, any predictor's L_simple is this floor plus its
    mean squared distance from ε*.
    """
    x0 = mixture.sample(n, generator=generator).double()  # (n, D)
    t = sample_timesteps(sched, n, generator=generator)  # (n,)
    eps = torch.randn(x0.shape, generator=generator, dtype=torch.float64)
    x_t = q_sample(sched, x0, t, eps)
    best = torch.empty_like(x_t)
    for step in t.unique().tolist():  # ε* one step t at a time
        at = t == step
        best[at] = mixture.optimal_eps(sched, x_t[at], step)
    return (eps - best).square().mean().item()


class SampleSummary(NamedTuple):
    """How a set of 2-D samples compares with a Gaussian mixture.

    Attributes:
        shares: Fraction of the samples nearest to each component mean,
            shape (K,); the truth is the weights.
        spread: Root-mean-square distance to the nearest mean, per
            coordinate; the truth is the component standard deviation
            (when the components are far apart).
        log_density: Mean log-density of the samples under the mixture
            (nats); the truth is minus the mixture's entropy.
    """

    shares: Tensor
    spread: float
    log_density: float


def sample_summary(samples: Tensor, mixture: GaussianMixture) -> SampleSummary:
    """Shares, spread and mean log-density of ``samples`` (B, D)."""
    x = samples.double()
    nearest = torch.cdist(x, mixture.means).argmin(dim=1)  # (B,)
    counts = torch.bincount(nearest, minlength=len(mixture.means))
    spread = (x - mixture.means[nearest]).square().mean().sqrt()
    return SampleSummary(
        shares=counts.double() / len(x),
        spread=spread.item(),
        log_density=mixture.log_prob(x).mean().item(),
    )
