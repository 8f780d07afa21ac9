"""Helpers for notebooks and scripts: the device to use and fast mode.

The library itself never picks a device (it follows its inputs); these
helpers are for the code that creates the first tensors.
"""

from __future__ import annotations

import os
from typing import TypeVar

import torch

__all__ = ["FAST_ENV", "by_mode", "default_device", "fast_mode"]

FAST_ENV = "DDPM_FAST"
_T = TypeVar("_T")


def default_device() -> torch.device:
    """The best available device: CUDA, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def fast_mode() -> bool:
    """True when ``DDPM_FAST`` is set to 1 (or true/yes): use small sizes.

    Fast mode runs the same code paths on less data and fewer steps, so a
    whole test run fits on a laptop CPU.
    """
    value = os.environ.get(FAST_ENV, "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise ValueError(f"{FAST_ENV} must be 1 or 0; got {value!r}")


def by_mode(full: _T, fast: _T) -> _T:
    """``fast`` in fast mode, else ``full`` — e.g. ``by_mode(5000, 300)``."""
    return fast if fast_mode() else full
