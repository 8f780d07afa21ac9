"""Sinusoidal timestep embedding, as in the DDPM reference code.

The network learns ε_θ(x_t, t); it sees the step t through this embedding
(the seed's "time becomes a position embedding"), which a small MLP then
maps and adds inside every residual block.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["timestep_embedding"]


def timestep_embedding(
    t: Tensor, dim: int, *, max_period: float = 10_000.0
) -> Tensor:
    """Sinusoidal embedding of steps t, shape (B,) → (B, dim).

    Frequencies ω_i = max_period^(−i / (half − 1)), i = 0 … half − 1, with
    half = dim // 2; the embedding is [sin(t·ω) | cos(t·ω)], the two halves
    *concatenated*, as in the DDPM reference code (Ho et al. 2020,
    ``nn.get_timestep_embedding``). The Transformer paper (Vaswani et al.
    2017, §3.5) interleaves sin and cos instead; the two differ only by a
    fixed permutation of the features. An odd ``dim`` gets one zero column.

    Args:
        t: Steps, shape (B,), any numeric dtype (the paper's 1-based t).
        dim: Embedding width, at least 4.
        max_period: The longest wavelength.

    Returns:
        float32 embedding, shape (B, dim), on ``t``'s device.
    """
    if t.ndim != 1:
        raise ValueError(f"t must have shape (B,); got {tuple(t.shape)}")
    if dim < 4:
        raise ValueError(f"dim must be at least 4; got {dim}")
    half = dim // 2
    i = torch.arange(half, dtype=torch.float32, device=t.device)
    freqs = torch.exp(-math.log(max_period) * i / (half - 1))  # (half,)
    angles = t.float()[:, None] * freqs[None, :]  # (B, half)
    emb = torch.cat([angles.sin(), angles.cos()], dim=1)  # (B, 2 * half)
    if dim % 2:
        emb = torch.nn.functional.pad(emb, (0, 1))  # (B, dim)
    return emb
