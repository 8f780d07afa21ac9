"""The one adapter between the paper's 1-based steps and 0-based code.

ddpm_lib indexes schedules by the paper's t (1 ≤ t ≤ T, index 0 = clean
data). Most public code — the Annotated Diffusion notebook the book grew
from, Hugging Face diffusers, openai/improved-diffusion — stores β_1..β_T
in an array of length T, so its step index is t − 1. Every conversion goes
through these functions, never through a scattered ``+ 1``.
"""

from __future__ import annotations

from torch import Tensor

from ddpm_lib.diffusion.schedules import Schedule

__all__ = ["betas_zero_based", "from_zero_based", "to_zero_based"]


def to_zero_based(t: Tensor | int) -> Tensor | int:
    """The paper's step t (1..T) as a 0-based index (0..T−1)."""
    return t - 1


def from_zero_based(index: Tensor | int) -> Tensor | int:
    """A 0-based step index (0..T−1) as the paper's t (1..T)."""
    return index + 1


def betas_zero_based(sched: Schedule) -> Tensor:
    """β_1..β_T as a length-T array, the layout of 0-based code."""
    return sched.beta[1:]
