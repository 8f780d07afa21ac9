"""A learned noise predictor judged against the exact one, on toy data.

For a :class:`~ddpm_lib.toy.GaussianMixture` the best possible noise
prediction under L_simple, ε*(x_t, t) = E[ε | x_t], is known in closed form
(:meth:`~ddpm_lib.toy.GaussianMixture.optimal_eps`). The loss of any
predictor ε_θ at step t then splits into a floor that no network can go
below and the predictor's own excess,

    E‖ε − ε_θ(x_t, t)‖² = E‖ε − ε*(x_t, t)‖² + E‖ε*(x_t, t) − ε_θ(x_t, t)‖²,

because the cross term has mean zero (ε* is the conditional mean of ε
given x_t). :func:`eps_errors` estimates the three terms by Monte Carlo.

The module also holds the small network the book trains on such data:
:class:`EpsMLP`, a time-conditioned MLP ε_θ(x_t, t), and :func:`train_toy`,
Algorithm 1 of Ho et al. (2020) with L_simple on a set of points.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ddpm_lib.embedding import timestep_embedding
from ddpm_lib.forward import q_sample
from ddpm_lib.losses import loss_simple
from ddpm_lib.schedules import Schedule, timesteps
from ddpm_lib.toy import GaussianMixture

__all__ = ["EpsErrors", "EpsMLP", "ToyRun", "eps_errors", "train_toy"]


class EpsMLP(nn.Module):
    """ε_θ(x_t, t) for points in D dimensions: an MLP that is told t.

    The step t enters through its sinusoidal embedding, which a linear map
    per layer turns into a shift of that layer's features — the way the
    DDPM UNet adds its time embedding inside every residual block.

    Args:
        dim: Data dimension D.
        hidden: Width of each hidden layer.
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
        if dim < 1 or hidden < 1 or depth < 1:
            raise ValueError("dim, hidden and depth must be positive")
        self.dim, self.time_dim = dim, time_dim
        sizes = [dim] + [hidden] * depth
        self.hidden = nn.ModuleList(
            nn.Linear(n_in, n_out)
            for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.time_shift = nn.ModuleList(
            nn.Linear(time_dim, hidden) for _ in range(depth)
        )
        self.head = nn.Linear(hidden, dim)

    def forward(self, x_t: Tensor, t: Tensor) -> Tensor:
        """x_t (B, D) and t (B,) int64 → ε_θ(x_t, t), shape (B, D)."""
        if x_t.ndim != 2 or x_t.shape[1] != self.dim:
            raise ValueError(
                f"expected x_t of shape (B, {self.dim}); got "
                f"{tuple(x_t.shape)}"
            )
        emb = timestep_embedding(t, self.time_dim).to(x_t)  # (B, time_dim)
        h = x_t
        for layer, shift in zip(self.hidden, self.time_shift, strict=True):
            h = nn.functional.silu(layer(h) + shift(emb))  # (B, hidden)
        return self.head(h)  # (B, D)


class ToyRun(NamedTuple):
    """What :func:`train_toy` returns.

    Attributes:
        model: The trained ε_θ, in eval mode.
        losses: The L_simple of every training batch, shape (steps,).
    """

    model: EpsMLP
    losses: Tensor


def train_toy(
    data: Tensor,
    sched: Schedule,
    *,
    steps: int = 3000,
    batch_size: int = 256,
    lr: float = 2e-3,
    hidden: int = 128,
    depth: int = 3,
    seed: int = 0,
) -> ToyRun:
    """Train an :class:`EpsMLP` on points with Algorithm 1 (L_simple).

    Adam, with the learning rate decaying from ``lr`` to 0 along a half
    cosine so that the last steps average out the batch noise. Everything
    random — the initial weights, the batches, t and ε — follows ``seed``;
    the global random state is not touched.

    Args:
        data: Training points x_0, shape (N, D), floating point, on the
            device to train on.
        sched: The noise schedule.
        steps: Gradient steps.
        batch_size: Points per step, drawn with replacement.
        lr: Initial learning rate.
        hidden: Width of the MLP.
        depth: Hidden layers of the MLP.
        seed: The seed of everything random.
    """
    if data.ndim != 2 or not data.is_floating_point() or len(data) == 0:
        raise ValueError(
            "data must be a floating-point tensor of points (N, D); got "
            f"{tuple(data.shape)} {data.dtype}"
        )
    if steps < 1 or batch_size < 1:
        raise ValueError("steps and batch_size must be positive")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the initial weights only
        model = EpsMLP(data.shape[1], hidden=hidden, depth=depth)
    model = model.to(device=data.device, dtype=data.dtype).train()
    generator = torch.Generator(data.device).manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    losses = torch.empty(steps)
    for step in range(steps):
        # Algorithm 1, line 2: x_0 ~ q(x_0), a batch of the data.
        pick = torch.randint(
            len(data), (batch_size,), generator=generator, device=data.device
        )
        # Lines 3-5: loss_simple draws t and ε; then the gradient step.
        loss = loss_simple(sched, model, data[pick], generator=generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses[step] = loss.detach()
    return ToyRun(model=model.eval(), losses=losses)


class EpsErrors(NamedTuple):
    """Mean squared errors at one step t, per coordinate (divided by D).

    Attributes:
        loss: E‖ε − ε_θ(x_t, t)‖² / D, the L_simple term of step t.
        floor: E‖ε − ε*(x_t, t)‖² / D, the least loss any predictor has.
        excess: E‖ε*(x_t, t) − ε_θ(x_t, t)‖² / D, the predictor's own
            error; loss ≈ floor + excess up to Monte Carlo error.
    """

    loss: float
    floor: float
    excess: float


@torch.no_grad()
def eps_errors(
    model: Callable[[Tensor, Tensor], Tensor],
    mixture: GaussianMixture,
    sched: Schedule,
    t: int,
    *,
    n: int,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> EpsErrors:
    """Loss, floor and excess of a noise predictor at step t, on the CPU.

    Draws n points x_0 from ``mixture`` and noises ε, forms
    x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε (Ho et al. 2020, Eq. 4) and compares the
    model's ε_θ(x_t, t) with ε and with the exact ε*(x_t, t).

    Args:
        model: The predictor, ``model(x_t, t)`` with x_t (n, D) and t (n,)
            int64, returning ε_θ of shape (n, D).
        mixture: The data distribution.
        sched: The noise schedule.
        t: The step, 1 ≤ t ≤ T.
        n: Number of test points.
        generator: Random source of x_0 and ε.
        dtype: The dtype x_t is given to the model in.

    Returns:
        :class:`EpsErrors` (Python floats).
    """
    if isinstance(t, Tensor):
        raise ValueError("eps_errors takes one int step t, not a tensor")
    timesteps(sched, t, torch.zeros(1))  # checks 1 <= t <= T
    x0 = mixture.sample(n, generator=generator).double()  # (n, D)
    eps = torch.randn(x0.shape, generator=generator, dtype=torch.float64)
    x_t = q_sample(sched, x0, t, eps)  # (n, D), float64
    t_batch = torch.full((n,), t, dtype=torch.long)
    eps_pred = model(x_t.to(dtype), t_batch)
    if eps_pred.shape != x_t.shape:
        raise ValueError(
            f"the model returned shape {tuple(eps_pred.shape)} for input "
            f"{tuple(x_t.shape)}"
        )
    eps_pred = eps_pred.double()
    eps_star = mixture.optimal_eps(sched, x_t, t)  # (n, D), float64
    return EpsErrors(
        loss=(eps - eps_pred).square().mean().item(),
        floor=(eps - eps_star).square().mean().item(),
        excess=(eps_star - eps_pred).square().mean().item(),
    )
