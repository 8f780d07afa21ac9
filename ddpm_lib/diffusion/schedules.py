"""Noise schedules: β_t, α_t = 1 − β_t and ᾱ_t = ∏_{s≤t} α_s.

The timestep convention of the whole library lives here. A schedule over
T steps holds T + 1 entries and **the index is the paper's t**: index 0 is
the clean data (β_0 = 0, α_0 = 1, ᾱ_0 = 1), index t is step t of
Ho et al. (2020), arXiv:2006.11239v2, for 1 ≤ t ≤ T. So ``alpha_bar[t]``
is ᾱ_t and ``alpha_bar[t - 1]`` is ᾱ_{t−1}: no "previous" arrays, and
β̃_1 = 0 falls out of the posterior formula by itself. Training draws
t ~ Uniform{1, …, T}; sampling runs t = T, T − 1, …, 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "Schedule",
    "append_dims",
    "cosine_schedule",
    "linear_schedule",
    "quadratic_schedule",
    "schedule_from_betas",
    "sigmoid_schedule",
    "coef_at",
    "pick",
    "timesteps",
]


@dataclass(frozen=True, eq=False)
class Schedule:
    """A variance schedule, indexed by the paper's timestep t (0 ≤ t ≤ T).

    Build one with :func:`linear_schedule` and friends, or
    :func:`schedule_from_betas`; the constructor checks its arguments.

    Attributes:
        beta: β_t, shape (T+1,); ``beta[0] == 0``.
        alpha: α_t = 1 − β_t, shape (T+1,); ``alpha[0] == 1``.
        alpha_bar: ᾱ_t = ∏_{s=1}^{t} α_s, shape (T+1,); ``alpha_bar[0] == 1``.

    The tensors are float64 on the CPU unless :meth:`to` moved them; the
    math functions cast the entries they use to the data's dtype.
    """

    beta: Tensor
    alpha: Tensor
    alpha_bar: Tensor

    def __post_init__(self) -> None:
        shapes = {self.beta.shape, self.alpha.shape, self.alpha_bar.shape}
        if len(shapes) != 1 or self.beta.ndim != 1 or len(self.beta) < 2:
            raise ValueError(
                "Schedule needs beta, alpha and alpha_bar of one shape "
                f"(T+1,) with T >= 1; got {[tuple(s) for s in shapes]}. "
                "Build schedules with schedule_from_betas(betas)."
            )
        if self.beta[0] != 0 or self.alpha_bar[0] != 1:
            raise ValueError(
                "index 0 of a Schedule is the clean data: beta[0] must be 0 "
                "and alpha_bar[0] must be 1. Pass only β_1..β_T to "
                "schedule_from_betas(betas)."
            )

    @property
    def T(self) -> int:
        """Number of diffusion steps T."""
        return len(self.beta) - 1

    @property
    def device(self) -> torch.device:
        return self.beta.device

    def to(self, device: torch.device | str) -> Schedule:
        """A copy on ``device`` (float32 where the device has no float64)."""
        device = torch.device(device)
        dtype = torch.float32 if device.type == "mps" else self.beta.dtype
        return Schedule(
            beta=self.beta.to(device, dtype),
            alpha=self.alpha.to(device, dtype),
            alpha_bar=self.alpha_bar.to(device, dtype),
        )

    def snr(self) -> Tensor:
        """Signal-to-noise ratio ᾱ_t / (1 − ᾱ_t), shape (T+1,); inf at t=0."""
        return self.alpha_bar / (1 - self.alpha_bar)

    def __repr__(self) -> str:
        return (
            f"Schedule(T={self.T}, beta_1={self.beta[1].item():.3g}, "
            f"beta_T={self.beta[-1].item():.3g}, "
            f"alpha_bar_T={self.alpha_bar[-1].item():.3g})"
        )


def schedule_from_betas(betas: Tensor | list[float]) -> Schedule:
    """The schedule with the given β_1, …, β_T (a 1-D sequence of length T).

    Raises:
        ValueError: if a β is outside the open interval (0, 1), which is
            also what keeps ᾱ_t strictly decreasing.
    """
    betas = torch.as_tensor(betas, dtype=torch.float64).cpu()
    if betas.ndim != 1 or len(betas) == 0:
        raise ValueError(
            f"betas must be a non-empty 1-D sequence β_1..β_T; got shape "
            f"{tuple(betas.shape)}"
        )
    bad = ~((betas > 0) & (betas < 1))  # also catches NaN
    if bad.any():
        i = int(bad.nonzero()[0])
        raise ValueError(
            f"every β_t must lie in (0, 1); β_{i + 1} = {betas[i].item()!r}. "
            "Check the schedule's endpoints (e.g. beta_1=1e-4, beta_T=0.02)."
        )
    beta = torch.cat([betas.new_zeros(1), betas])  # (T+1,), beta[0] = 0
    alpha = 1 - beta
    alpha_bar = torch.cumprod(alpha, dim=0)
    if not (alpha_bar[1:] < alpha_bar[:-1]).all():
        # Only reachable through float64 underflow (ᾱ_t == 0 for large t).
        raise ValueError(
            "ᾱ_t must be strictly decreasing; it underflowed to a constant. "
            "Use a smaller T or smaller betas."
        )
    return Schedule(beta=beta, alpha=alpha, alpha_bar=alpha_bar)


def _check_T(T: int) -> None:
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ValueError(f"T must be a positive int; got {T!r}")


def _check_endpoints(beta_1: float, beta_T: float) -> None:
    if not 0 < beta_1 <= beta_T < 1:
        raise ValueError(
            "expected 0 < beta_1 <= beta_T < 1; got "
            f"beta_1={beta_1!r}, beta_T={beta_T!r}"
        )


def linear_schedule(
    T: int = 1000,
    *,
    beta_1: float = 1e-4,
    beta_T: float = 0.02,
) -> Schedule:
    """Linear β_t from β_1 to β_T, Ho et al. (2020) §4.

    With the defaults ᾱ_T ≈ 4.04e-5, so x_T is almost pure noise.
    """
    _check_T(T)
    _check_endpoints(beta_1, beta_T)
    return schedule_from_betas(
        torch.linspace(beta_1, beta_T, T, dtype=torch.float64)
    )


def quadratic_schedule(
    T: int = 1000,
    *,
    beta_1: float = 1e-4,
    beta_T: float = 0.02,
) -> Schedule:
    """β_t = (linspace(√β_1, √β_T))²: slower at first than linear."""
    _check_T(T)
    _check_endpoints(beta_1, beta_T)
    root = torch.linspace(
        math.sqrt(beta_1), math.sqrt(beta_T), T, dtype=torch.float64
    )
    return schedule_from_betas(root**2)


def sigmoid_schedule(
    T: int = 1000,
    *,
    beta_1: float = 1e-4,
    beta_T: float = 0.02,
) -> Schedule:
    """β_t = β_1 + (β_T − β_1)·σ(linspace(−6, 6)): an S-curve of betas."""
    _check_T(T)
    _check_endpoints(beta_1, beta_T)
    ramp = torch.sigmoid(torch.linspace(-6, 6, T, dtype=torch.float64))
    return schedule_from_betas(beta_1 + (beta_T - beta_1) * ramp)


def cosine_schedule(
    T: int = 1000,
    *,
    s: float = 0.008,
    max_beta: float = 0.999,
) -> Schedule:
    """Cosine schedule, Nichol & Dhariwal (2021) Eq. (17).

    ᾱ_t = f(t) / f(0) with f(t) = cos²((t/T + s) / (1 + s) · π/2) — the
    cosine is *squared*. β_t = 1 − ᾱ_t / ᾱ_{t−1}, clipped to ``max_beta``
    so that β_T stays below 1 (the paper clips at 0.999).
    """
    _check_T(T)
    if not 0 <= s < 1:
        raise ValueError(f"expected 0 <= s < 1; got s={s!r}")
    if not 0 < max_beta < 1:
        raise ValueError(f"expected 0 < max_beta < 1; got {max_beta!r}")
    t = torch.arange(T + 1, dtype=torch.float64)
    f = torch.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    betas = 1 - alpha_bar[1:] / alpha_bar[:-1]
    return schedule_from_betas(betas.clamp(max=max_beta))


def append_dims(v: Tensor, ndim: int) -> Tensor:
    """View a (B,) tensor as (B, 1, …, 1) with ``ndim`` dimensions.

    One helper lets every formula serve 2-D toy data (B, D) and images
    (B, C, H, W) alike.
    """
    if v.ndim > ndim:
        raise ValueError(
            f"cannot append dims to a {v.ndim}-D tensor to make it {ndim}-D"
        )
    return v.reshape(v.shape + (1,) * (ndim - v.ndim))


def timesteps(
    sched: Schedule, t: Tensor | int, x: Tensor, *, lowest: int = 1
) -> Tensor:
    """Check and normalise timesteps for a batch ``x`` of shape (B, *S).

    Args:
        sched: The schedule whose T bounds t.
        t: A Python int or an integer tensor of shape (), (1,) or (B,).
        x: The data the timesteps go with; fixes B and the device.
        lowest: Smallest allowed t (1, or 0 where t = 0 means clean data).

    Returns:
        An int64 tensor of shape (B,) on ``x``'s device.

    Raises:
        ValueError: for a non-integer t, a shape that does not match the
            batch, or a value outside lowest..T.
    """
    if x.ndim == 0:
        raise ValueError("data must have a batch dimension: (B, *S)")
    batch = x.shape[0]
    if isinstance(t, bool) or not isinstance(t, (int, Tensor)):
        raise ValueError(f"t must be an int or an int64 tensor; got {t!r}")
    if isinstance(t, int):
        if not lowest <= t <= sched.T:
            raise ValueError(
                f"t must satisfy {lowest} <= t <= T = {sched.T} (the "
                f"paper's 1-based steps); got t = {t}"
            )
        return torch.full((batch,), t, dtype=torch.long, device=x.device)
    if (
        t.dtype.is_floating_point
        or t.dtype.is_complex
        or t.dtype == torch.bool
    ):
        raise ValueError(
            f"t must hold integers (torch.long); got dtype {t.dtype}"
        )
    if t.ndim > 1 or (t.ndim == 1 and t.shape[0] not in (1, batch)):
        raise ValueError(
            f"t must have shape (B,) = ({batch},) to match the data (or be "
            f"a single step); got {tuple(t.shape)}"
        )
    t = t.to(device=x.device, dtype=torch.long).reshape(-1).expand(batch)
    check_on_device(
        ((t >= lowest) & (t <= sched.T)).all(),
        f"t must satisfy {lowest} <= t <= T = {sched.T} (the paper's "
        "1-based steps); convert 0-based steps with "
        "ddpm_lib.diffusion.interop.from_zero_based",
        lambda: f"got values in [{int(t.min())}, {int(t.max())}]",
    )
    return t


def check_on_device(ok: Tensor, message: str, detail=lambda: "") -> None:
    """Raise ValueError(message) unless the 0-d bool tensor ``ok`` is true.

    On the CPU the check is immediate. On an accelerator, reading ``ok``
    would stall the device, so the check is queued with the computation
    (``torch._assert_async``) and fails the run at its next sync instead:
    still never a silent wrong number, and no host-device sync per step.
    """
    if torch.compiler.is_compiling():
        return
    if ok.device.type == "cpu":
        if not ok:
            extra = detail()
            raise ValueError(f"{message}; {extra}" if extra else message)
    else:
        torch._assert_async(ok, message)


def coef_at(values: Tensor, t: Tensor, x: Tensor) -> Tensor:
    """``values[t]`` as (B, 1, …, 1) in the dtype and on the device of ``x``.

    ``values`` is a (T+1,) tensor computed from a schedule, e.g.
    ``sched.alpha_bar.sqrt()``, so index t is the paper's t; ``t`` is a
    (B,) tensor of steps (checked by :func:`timesteps`). One helper serves
    data of any rank: toy points (B, D) and images (B, C, H, W).
    """
    return append_dims(pick(values, t).to(x.dtype), x.ndim)


def pick(values: Tensor, t: Tensor) -> Tensor:
    """``values[t]``, shape (B,), in the schedule's precision.

    For results that stay per example, such as σ_t² (B,); a coefficient
    that multiplies data comes from :func:`coef_at`. ``values`` moves to
    ``t``'s device (float32 where the device has no float64).
    """
    if values.device != t.device:
        no_f64 = t.device.type == "mps"
        values = values.to(t.device, torch.float32 if no_f64 else None)
    return values[t]
