"""Figures for the chapter on the forward process.

Each function returns a new matplotlib figure and is a pure function of
its arguments, so the book's explorers can call it once per slider
position. Nothing else in ddpm_lib imports this module. The schedules
chapter's helpers live in :mod:`ddpm_book.schedules`; ``SCHEDULES`` and
``named_schedule`` are imported from there for this chapter's comparison
of schedules.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from ddpm_book.moments import chain_moments
from ddpm_book.schedules import SCHEDULES, _image, named_schedule
from ddpm_lib.diffusion.forward import q_sample
from ddpm_lib.diffusion.schedules import Schedule

__all__ = [
    "SCHEDULES",
    "named_schedule",
    "noising_figure",
    "sample_photo",
    "variance_figure",
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
