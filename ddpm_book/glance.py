"""Figures of the chapter "Diffusion at a glance" (book/glance.ipynb).

Nothing in ddpm_lib imports this module, so ``import ddpm_lib`` stays free
of matplotlib.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from torch import Tensor

__all__ = ["plot_paths"]


def plot_paths(
    paths: Mapping[str, tuple[Sequence[int], Tensor]],
    *,
    centres: Tensor,
    T: int,
    lim: float = 3.0,
    cmap: str = "viridis",
    size: float = 2.6,
):
    """Sampler paths from x_T to x_0, coloured by the step t.

    One row per sampler and one column per point, so that each panel holds
    a single path: its colour follows the step t of each segment, on one
    colour scale from 0 to T shared by all panels (with a colour bar), and
    a reader can follow the point from noise to data, and compare the
    samplers down a column.

    Args:
        paths: Sampler name → ``(steps, points)``: the step t of each
            recorded point, length K, in the order the sampler visited them
            (from T down to 0), and the points, shape (K, N, 2), the paths
            of N starting points. Every sampler needs the same N.
        centres: The data's cluster centres, shape (M, 2), drawn as crosses.
        T: Number of steps of the schedule; the top of the colour scale.
        lim: Half-width of the square shown, in data units.
        cmap: Matplotlib colour map of the step t.
        size: Width and height of one panel, in inches.

    Returns:
        The figure.
    """
    if not paths:
        raise ValueError("paths is empty: give at least one sampler")
    counts = {name: points.shape[1] for name, (_, points) in paths.items()}
    for name, (steps, points) in paths.items():
        if points.ndim != 3 or points.shape[-1] != 2:
            raise ValueError(
                f"{name}: points must have shape (K, N, 2); got "
                f"{tuple(points.shape)}"
            )
        if len(steps) != len(points):
            raise ValueError(
                f"{name}: {len(steps)} steps for {len(points)} recorded "
                "points; give the step t of each"
            )
    if len(set(counts.values())) != 1:
        raise ValueError(f"every sampler needs the same points; got {counts}")
    n_points = next(iter(counts.values()))
    norm = Normalize(vmin=0, vmax=T)
    colours = plt.get_cmap(cmap)
    fig, axes = plt.subplots(
        len(paths),
        n_points,
        figsize=(size * n_points + 1.0, size * len(paths) + 0.4),
        squeeze=False,
        sharex=True,
        sharey=True,
        layout="constrained",
    )
    centres = centres.detach().cpu().double()
    for row, (name, (steps, points)) in zip(axes, paths.items(), strict=True):
        steps = torch.as_tensor(list(steps), dtype=torch.float64)  # (K,)
        points = points.detach().cpu().double()  # (K, N, 2)
        for n, ax in enumerate(row):
            path = points[:, n]  # (K, 2)
            segments = torch.stack([path[:-1], path[1:]], dim=1)  # (K-1, 2, 2)
            line = LineCollection(
                segments.numpy(), cmap=colours, norm=norm, linewidths=1.0
            )
            line.set_array(steps[:-1].numpy())  # a segment's colour: its t
            ax.add_collection(line)
            ax.scatter(*centres.T.numpy(), marker="x", s=40, c="red",
                       zorder=2, label="centres")  # fmt: skip
            for k, label, edge in ((0, "start $x_T$", "black"),
                                   (-1, "end $x_0$", "white")):  # fmt: skip
                ax.scatter(*path[k].numpy(), s=45, zorder=3, label=label,
                           color=colours(norm(steps[k].item())),
                           edgecolors=edge)  # fmt: skip
            ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
            ax.set_title(f"{name}, point {n + 1}", fontsize=9)
        row[0].set_ylabel("$x_2$")
    for ax in axes[-1]:
        ax.set_xlabel("$x_1$")
    axes[0, 0].legend(loc="upper left", fontsize=6)
    mappable = plt.cm.ScalarMappable(norm=norm, cmap=colours)
    fig.colorbar(mappable, ax=axes, label="step t", shrink=0.8)
    return fig
