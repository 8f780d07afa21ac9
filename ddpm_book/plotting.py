"""Figures for the book: image grids and 2-D scatter plots (matplotlib).

Nothing else in ddpm_lib imports this module, so ``import ddpm_lib`` stays
free of matplotlib.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from torch import Tensor

from ddpm_lib.io.images import image_grid

__all__ = ["image_grid", "show_images", "show_points"]


def show_images(
    x: Tensor,
    *,
    titles: list[str] | None = None,
    ncols: int | None = None,
    row_labels: list[str] | None = None,
    size: float = 1.2,
):
    """Show images (B, C, H, W) in [-1, 1] side by side; returns the figure.

    ``ncols`` images per row (default: all in one row); ``row_labels``
    names each row at its left.
    """
    b = x.shape[0]
    ncols = ncols or b
    nrows = -(-b // ncols)
    if row_labels is not None and len(row_labels) != nrows:
        raise ValueError(
            f"row_labels names {len(row_labels)} rows; the {b} images "
            f"make {nrows} rows of {ncols}"
        )
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(size * ncols, size * nrows + 0.3 * bool(titles)),
        squeeze=False,
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= b:
            continue
        img = image_grid(x[i : i + 1])
        ax.imshow(img.squeeze(-1).numpy(), cmap="gray", vmin=0, vmax=255)
        if titles:
            ax.set_title(titles[i], fontsize=9)
        if row_labels and i % ncols == 0:
            ax.text(-0.1, 0.5, row_labels[i // ncols], transform=ax.transAxes,
                    ha="right", va="center", fontsize=9)  # fmt: skip
    fig.tight_layout()
    return fig


def show_points(
    *clouds: Tensor,
    labels: list[str] | None = None,
    lim: float = 3.0,
    size: float = 3.0,
):
    """Scatter 2-D point clouds (N, 2), a panel each; returns the figure."""
    fig, axes = plt.subplots(
        1, len(clouds), figsize=(size * len(clouds), size), squeeze=False
    )
    for i, (ax, pts) in enumerate(zip(axes[0], clouds, strict=True)):
        pts = pts.detach().cpu().float()
        ax.scatter(pts[:, 0].numpy(), pts[:, 1].numpy(), s=1, alpha=0.4)
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
        ax.set_xticks([])
        ax.set_yticks([])
        if labels:
            ax.set_title(labels[i], fontsize=10)
    fig.tight_layout()
    return fig
