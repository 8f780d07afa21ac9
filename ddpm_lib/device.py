"""The device to use, for the code that creates the first tensors.

The library itself never picks a device (it follows its inputs); scripts,
commands and notebooks ask :func:`default_device` once.
"""

from __future__ import annotations

import torch

__all__ = ["default_device", "describe_device"]


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
