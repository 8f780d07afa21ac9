"""Helpers and figures for the chapter on noise schedules.

The figures are pure functions of their arguments that return a new
matplotlib figure, so the chapter's explorer can call them once per slider
position. The numbers the chapter quotes about T (how much of the image
x_T keeps, the prior term L_T, how many steps only shuffle noise) are
computed here from ``ddpm_lib``. Nothing in ddpm_lib imports this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from ddpm_lib.diffusion.forward import q_sample
from ddpm_lib.diffusion.objective import prior_bpd
from ddpm_lib.diffusion.schedules import (
    Schedule,
    cosine_schedule,
    linear_schedule,
    quadratic_schedule,
    sigmoid_schedule,
)
from ddpm_lib.io.images import image_grid

__all__ = [
    "BETA_RANGES",
    "DDPM_RANGE",
    "EXPLORER_T",
    "RESCALED_RANGE",
    "SCHEDULES",
    "EndOfChain",
    "beta_endpoints",
    "end_of_chain",
    "first_step_below",
    "log_snr",
    "named_schedule",
    "ranged_schedule",
    "schedule_figure",
    "schedule_frames",
    "schedules_figure",
]

SCHEDULES = ("linear", "cosine", "quadratic", "sigmoid")

# Label -> (β_1, β_T, rescale): with rescale, both ends are multiplied by
# 1000 / T, which keeps Σ β_t (and so, roughly, ᾱ_T) as at T = 1000.
BETA_RANGES = {
    "1e-4 → 0.02": (1e-4, 0.02, False),
    "1e-4 → 0.02, × 1000/T": (1e-4, 0.02, True),
    "1e-4 → 0.01": (1e-4, 0.01, False),
}
DDPM_RANGE, RESCALED_RANGE, _SMALL_RANGE = BETA_RANGES

# The explorer's values of T: the seed post's example T = 200, the
# Annotated Diffusion code's T = 300, DDPM's 1000, and a long chain.
EXPLORER_T = (200, 300, 1000, 4000)


def beta_endpoints(label: str, T: int) -> tuple[float, float]:
    """(β_1, β_T) for one of the :data:`BETA_RANGES` labels and a T."""
    if label not in BETA_RANGES:
        raise ValueError(
            f"unknown beta range {label!r}; choose from {list(BETA_RANGES)}"
        )
    beta_1, beta_T, rescale = BETA_RANGES[label]
    factor = 1000 / T if rescale else 1.0
    return beta_1 * factor, beta_T * factor


def named_schedule(
    name: str, T: int, *, beta_1: float = 1e-4, beta_T: float = 0.02
) -> Schedule:
    """The schedule called ``name`` (one of :data:`SCHEDULES`).

    The cosine schedule is defined through ᾱ_t and ignores the β range.
    """
    if name == "cosine":
        return cosine_schedule(T)
    makers = {
        "linear": linear_schedule,
        "quadratic": quadratic_schedule,
        "sigmoid": sigmoid_schedule,
    }
    if name not in makers:
        raise ValueError(f"unknown schedule {name!r}; choose from {SCHEDULES}")
    return makers[name](T, beta_1=beta_1, beta_T=beta_T)


def ranged_schedule(name: str, T: int, beta_range: str) -> Schedule:
    """The schedule ``name`` over T steps with a :data:`BETA_RANGES` label.

    ``ranged_schedule("linear", T, RESCALED_RANGE)`` is DDPM's linear
    schedule with both ends multiplied by 1000 / T.
    """
    beta_1, beta_T = beta_endpoints(beta_range, T)
    return named_schedule(name, T, beta_1=beta_1, beta_T=beta_T)


def log_snr(sched: Schedule) -> Tensor:
    """log SNR(t) = log(ᾱ_t / (1 − ᾱ_t)) for t = 1..T, shape (T,)."""
    alpha_bar = sched.alpha_bar[1:]
    return torch.log(alpha_bar) - torch.log1p(-alpha_bar)


@dataclass(frozen=True)
class EndOfChain:
    """How far x_T of a schedule is from pure noise N(0, I).

    Attributes:
        T: Number of steps.
        alpha_bar_T: ᾱ_T, the share of x_T's variance that is signal.
        signal: √ᾱ_T, the amplitude of x_0 that x_T keeps.
        prior_bpd: The prior term L_T = KL(q(x_T | x_0) ‖ N(0, I)) in
            bits/dim for an image whose pixels are all ±1: the largest
            L_T of any image in [-1, 1], since the KL grows with x_0².
    """

    T: int
    alpha_bar_T: float  # noqa: N815 (the paper's ᾱ_T)
    signal: float
    prior_bpd: float


def end_of_chain(sched: Schedule) -> EndOfChain:
    """ᾱ_T, √ᾱ_T and the largest prior term L_T of a schedule."""
    alpha_bar_T = sched.alpha_bar[sched.T].item()
    extreme = torch.ones(1, 1, dtype=torch.float64)  # one pixel at +1
    return EndOfChain(
        T=sched.T,
        alpha_bar_T=alpha_bar_T,
        signal=math.sqrt(alpha_bar_T),
        prior_bpd=prior_bpd(sched, extreme).item(),
    )


def first_step_below(sched: Schedule, level: float) -> int:
    """The first step t ≥ 1 with ᾱ_t ≤ ``level``.

    From there on x_t holds no more of x_0 than a schedule ending at
    ᾱ_T = ``level`` leaves in its x_T.

    Raises:
        ValueError: if ᾱ_T is still above ``level``.
    """
    below = (sched.alpha_bar[1:] <= level).nonzero()
    if len(below) == 0:
        raise ValueError(
            f"ᾱ_t never falls to {level:.3g}: ᾱ_T = "
            f"{sched.alpha_bar[-1].item():.3g}"
        )
    return int(below[0]) + 1


def _image(ax, x: Tensor, title: str) -> None:
    """Show one image (1, C, H, W) in [-1, 1] (values outside are clipped)."""
    grid = image_grid(x.detach().cpu().float().clamp(-1, 1))
    ax.imshow(
        grid.squeeze(-1).numpy(),
        cmap="gray",
        vmin=0,
        vmax=255,
        interpolation="nearest",
    )
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def _curves(axes, sched: Schedule, label: str, **style) -> None:
    """β_t, ᾱ_t and log-SNR against t/T on three axes."""
    T = sched.T
    frac = np.arange(1, T + 1) / T
    axes[0].plot(frac, sched.beta[1:].numpy(), label=label, **style)
    axes[1].plot(frac, sched.alpha_bar[1:].numpy(), label=label, **style)
    axes[2].plot(frac, log_snr(sched).numpy(), label=label, **style)


def _label_curves(axes) -> None:
    axes[0].set(
        yscale="log", ylabel=r"$\beta_t$", title=r"$\beta_t$ (log scale)"
    )
    axes[1].set(
        ylabel=r"$\bar\alpha_t$",
        title=r"$\bar\alpha_t$",
        ylim=(-0.02, 1.02),
    )
    axes[2].set(
        ylabel="log-SNR",
        title=r"$\log\,\bar\alpha_t / (1 - \bar\alpha_t)$",
        ylim=(-22, 12),
    )
    for ax in axes:
        ax.set_xlabel("t / T")
        ax.grid(alpha=0.3)


def schedules_figure(schedules: dict[str, Schedule]) -> Figure:
    """β_t, ᾱ_t and log-SNR of several schedules against t/T."""
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for label, sched in schedules.items():
        _curves(axes, sched, label)
    _label_curves(axes)
    axes[1].legend(fontsize=8)
    fig.suptitle(
        r"Noise schedules: $\beta_t$, $\bar\alpha_t$ and log-SNR against $t/T$"
    )
    fig.tight_layout()
    return fig


def schedule_figure(
    *,
    schedule: str,
    T: int,
    beta_range: str,
    t_over_T: float,
    x0: Tensor,
    eps: Tensor,
) -> Figure:
    """One explorer frame: a schedule's curves and an image noised at t.

    Args:
        schedule: One of :data:`SCHEDULES`.
        T: Number of steps.
        beta_range: One of :data:`BETA_RANGES` (unused by cosine).
        t_over_T: Where to noise the image, t = round(t_over_T · T).
        x0: One image, shape (1, C, H, W) in [-1, 1].
        eps: Its noise, shape (1, C, H, W), the same for every frame.
    """
    beta_1, beta_T = beta_endpoints(beta_range, T)
    sched = ranged_schedule(schedule, T, beta_range)
    t = round(t_over_T * T)
    fig, axes = plt.subplots(
        1, 4, figsize=(10, 2.9), gridspec_kw={"width_ratios": [1, 1, 1, 0.8]}
    )
    _curves(
        axes[:3],
        linear_schedule(1000),
        "DDPM: linear, T = 1000",
        color="0.6",
        linestyle="--",
    )
    _curves(axes[:3], sched, f"{schedule}, T = {T}", color="C0")
    _label_curves(axes[:3])
    axes[1].legend(fontsize=7, loc="lower left")
    for ax in axes[:3]:
        ax.axvline(t / T, color="C3", linewidth=1)
    alpha_bar_t = sched.alpha_bar[t].item()
    if t == 0:
        x_t, title = x0, "$x_0$ (clean)"
    else:
        x_t = q_sample(sched, x0.double(), t, eps.double())
        title = (
            f"$x_t$ at t = {t}\n"
            rf"$\sqrt{{\bar\alpha_t}}$ = {math.sqrt(alpha_bar_t):.3f}"
        )
    _image(axes[3], x_t, title)
    fig.suptitle(
        f"{schedule} schedule, T = {T}"
        + (
            ""
            if schedule == "cosine"
            else rf", $\beta$ from {beta_1:.3g} to {beta_T:.3g}"
        )
        + rf": $\bar\alpha_T$ = {sched.alpha_bar[-1].item():.2e}"
    )
    # Fixed margins: tight_layout would measure every label once per frame.
    fig.subplots_adjust(left=0.07, right=0.99, bottom=0.17, top=0.78)
    fig.subplots_adjust(wspace=0.4)
    return fig


def schedule_frames(t_over_T: list[float]) -> list[dict]:
    """The combinations the schedule explorer renders, for each t/T.

    Every schedule at T = 1000 with DDPM's β range; the linear schedule at
    each of :data:`EXPLORER_T` but 1000, with the β range as it is and
    rescaled by 1000/T; and the linear schedule with β_T = 0.01. Rendering
    every combination instead would multiply the page's weight for nothing
    new.
    """
    combos = [(name, 1000, DDPM_RANGE) for name in SCHEDULES]
    combos += [
        ("linear", T, beta_range)
        for T in EXPLORER_T
        if T != 1000
        for beta_range in (DDPM_RANGE, RESCALED_RANGE)
    ]
    combos.append(("linear", 1000, _SMALL_RANGE))
    return [
        {"schedule": name, "T": T, "beta_range": r, "t_over_T": frac}
        for name, T, r in combos
        for frac in t_over_T
    ]
