"""Figures for the chapters on noise schedules and the forward process.

Each function returns a new matplotlib figure and is a pure function of
its arguments, so the book's explorers can call it once per slider
position. Nothing else in ddpm_lib imports this module.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from ddpm_book.moments import chain_moments
from ddpm_lib.diffusion.forward import q_sample
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
    "SCHEDULES",
    "beta_endpoints",
    "log_snr",
    "named_schedule",
    "noising_figure",
    "sample_photo",
    "schedule_figure",
    "schedule_frames",
    "schedules_figure",
    "variance_figure",
]

SCHEDULES = ("linear", "cosine", "quadratic", "sigmoid")

# Label -> (β_1, β_T, rescale): with rescale, both ends are multiplied by
# 1000 / T, which keeps Σ β_t (and so, roughly, ᾱ_T) as at T = 1000.
BETA_RANGES = {
    "1e-4 → 0.02": (1e-4, 0.02, False),
    "1e-4 → 0.02, × 1000/T": (1e-4, 0.02, True),
    "1e-4 → 0.01": (1e-4, 0.01, False),
}


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


def log_snr(sched: Schedule) -> Tensor:
    """log SNR(t) = log(ᾱ_t / (1 − ᾱ_t)) for t = 1..T, shape (T,)."""
    alpha_bar = sched.alpha_bar[1:]
    return torch.log(alpha_bar) - torch.log1p(-alpha_bar)


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
    sched = named_schedule(schedule, T, beta_1=beta_1, beta_T=beta_T)
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
    T = 100 and 4000, with the β range as it is and rescaled by 1000/T;
    and the linear schedule with β_T = 0.01. Rendering every combination
    instead would multiply the page's weight by three for nothing new.
    """
    default, rescaled, small = BETA_RANGES
    combos = [(name, 1000, default) for name in SCHEDULES]
    combos += [
        ("linear", T, beta_range)
        for T in (100, 4000)
        for beta_range in (default, rescaled)
    ]
    combos.append(("linear", 1000, small))
    return [
        {"schedule": name, "T": T, "beta_range": r, "t_over_T": frac}
        for name, T, r in combos
        for frac in t_over_T
    ]


def sample_photo(size: int = 96) -> Tensor:
    """Matplotlib's sample photo of Grace Hopper, greyscale, (1, 1, H, W).

    Centre-cropped to a square, resized to ``size`` × ``size`` and scaled
    to [-1, 1] like the training data.
    """
    from matplotlib import cbook
    from PIL import Image

    with cbook.get_sample_data("grace_hopper.jpg") as file:
        image = Image.open(file).convert("L")
        width, height = image.size
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        image = image.crop((left, top, left + side, top + side))
        image = image.resize((size, size), Image.Resampling.LANCZOS)
        pixels = torch.tensor(np.asarray(image), dtype=torch.float64)
    return (pixels / 127.5 - 1).reshape(1, 1, size, size)


def noising_figure(
    *,
    t: int,
    sched: Schedule,
    images: dict[str, Tensor],
    eps: dict[str, Tensor],
) -> Figure:
    """Images noised to step t by Eq. (4), and the histogram of x_t.

    Args:
        t: The step, 0 ≤ t ≤ T (0 shows the clean images).
        sched: The schedule.
        images: Name -> one image (1, C, H, W) in [-1, 1].
        eps: Name -> its noise, same shape, the same for every t.
    """
    n = len(images)
    fig, axes = plt.subplots(
        1, n + 1, figsize=(3.3 * (n + 1), 3.4), squeeze=False
    )
    axes = axes[0]
    noised = {}
    for ax, (name, x0) in zip(axes, images.items(), strict=False):
        x0 = x0.double()
        x_t = x0 if t == 0 else q_sample(sched, x0, t, eps[name].double())
        noised[name] = x_t
        _image(ax, x_t, f"{name}, t = {t}")
    hist = axes[n]
    grid = np.linspace(-4, 4, 201)
    hist.plot(
        grid,
        np.exp(-(grid**2) / 2) / math.sqrt(2 * math.pi),
        color="k",
        label=r"$\mathcal{N}(0, 1)$",
    )
    for name, x_t in noised.items():
        hist.hist(
            x_t.flatten().numpy(),
            bins=np.linspace(-4, 4, 81),
            density=True,
            alpha=0.5,
            label=name,
        )
    hist.set(
        xlim=(-4, 4),
        ylim=(0, 2),
        xlabel=r"pixel value of $x_t$",
        ylabel="density",
        title=r"histogram of $x_t$",
    )
    hist.legend(fontsize=7)
    alpha_bar_t = sched.alpha_bar[t].item()
    fig.suptitle(
        rf"t = {t}: $x_t$ = {math.sqrt(alpha_bar_t):.3f} $x_0$ + "
        rf"{math.sqrt(1 - alpha_bar_t):.3f} $\varepsilon$"
    )
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.16, top=0.8)
    fig.subplots_adjust(wspace=0.25)
    return fig


def variance_figure(
    sched: Schedule, scales: dict[str, Tensor], *, var0: float = 1.0
) -> Figure:
    """Var(x_t) and the mean coefficient for several step scales c_t.

    Each entry of ``scales`` is c_t, shape (T+1,), in
    x_t = c_t · x_{t−1} + √β_t · ε with the schedule's β_t; x_0 has
    variance ``var0``.
    """
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    t = np.arange(sched.T + 1)
    for label, scale in scales.items():
        moments = chain_moments(sched.beta, scale, var0=var0)
        axes[0].plot(t, moments.var.numpy(), label=label)
        axes[1].plot(t, moments.mean_coef.numpy(), label=label)
    axes[0].set(
        xlabel="t",
        ylabel=r"Var$(x_t)$",
        title=rf"Var$(x_t)$, with Var$(x_0)$ = {var0}",
    )
    axes[1].set(
        xlabel="t",
        ylabel=r"$m_t$",
        title=r"mean coefficient: E$[x_t \mid x_0] = m_t x_0$",
    )
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        r"What the scale $c_t$ of $x_{t-1}$ does to the forward process"
    )
    fig.tight_layout()
    return fig
