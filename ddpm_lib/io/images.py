"""Images: pixels ↔ the model's range [-1, 1], grids and PNG files.

Pixels {0, …, 255} map to [-1, 1] as in Ho et al. (2020) §3.3.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor

__all__ = ["image_grid", "model_to_pixels", "pixels_to_model", "save_png"]


def pixels_to_model(pixels: Tensor) -> Tensor:
    """uint8 pixels {0, …, 255} → float32 in [-1, 1] (x / 127.5 − 1)."""
    if pixels.dtype != torch.uint8:
        raise ValueError(
            f"expected uint8 pixels in 0..255; got dtype {pixels.dtype}"
        )
    return pixels.float() / 127.5 - 1


def model_to_pixels(x: Tensor) -> Tensor:
    """Model range [-1, 1] → uint8 pixels, clipped and rounded."""
    return ((x.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def image_grid(x: Tensor, *, ncols: int | None = None) -> Tensor:
    """Tile images (B, C, H, W) in [-1, 1] into one uint8 (H', W', C) array.

    Args:
        x: Images in model range, shape (B, C, H, W).
        ncols: Images per row (default: about √B).
    """
    if x.ndim != 4:
        raise ValueError(f"expected images (B, C, H, W); got {tuple(x.shape)}")
    b, c, h, w = x.shape
    ncols = ncols or max(1, round(b**0.5))
    nrows = -(-b // ncols)
    pixels = model_to_pixels(x.detach().cpu())
    pad = torch.zeros(nrows * ncols - b, c, h, w, dtype=torch.uint8)
    tiles = torch.cat([pixels, pad]).reshape(nrows, ncols, c, h, w)
    grid = tiles.permute(0, 3, 1, 4, 2)  # (rows, H, cols, W, C)
    return grid.reshape(nrows * h, ncols * w, c)


def save_png(x: Tensor, path: str | os.PathLike, *, ncols=None) -> None:
    """Write images (B, C, H, W) in [-1, 1] as one PNG grid."""
    from PIL import Image  # Pillow, which torchvision depends on

    grid = image_grid(x, ncols=ncols)  # (H', W', C) uint8
    array = grid.squeeze(-1) if grid.shape[-1] == 1 else grid
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.numpy()).save(path)
