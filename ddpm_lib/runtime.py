"""Helpers for notebooks and scripts: the device to use and fast mode.

The library itself never picks a device (it follows its inputs); these
helpers are for the code that creates the first tensors.
"""

from __future__ import annotations

import os
from typing import TypeVar

import torch

__all__ = [
    "FAST_ENV",
    "by_mode",
    "default_device",
    "describe_device",
    "fast_mode",
]

FAST_ENV = "DDPM_FAST"
_T = TypeVar("_T")


def default_device() -> torch.device:
    """The best available device: CUDA, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe_device(device: torch.device) -> str:
    """The device in words, for benchmark headers: the GPU's name, or the
    CPU with its torch thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{device}, {torch.get_num_threads()} threads"


def env_flag(name: str) -> bool:
    """An on/off switch read from the environment variable ``name``.

    Unset, empty, 0, false or no mean off; 1, true or yes mean on; anything
    else is an error that names the variable.
    """
    value = os.environ.get(name, "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise ValueError(f"{name} must be 1 or 0; got {value!r}")


def fast_mode() -> bool:
    """True when ``DDPM_FAST`` is set to 1 (or true/yes): use small sizes.

    Fast mode runs the same code paths on less data and fewer steps, so a
    whole test run fits on a laptop CPU.
    """
    return env_flag(FAST_ENV)


def by_mode(full: _T, fast: _T) -> _T:
    """``fast`` in fast mode, else ``full`` — e.g. ``by_mode(5000, 300)``."""
    return fast if fast_mode() else full
