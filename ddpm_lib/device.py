"""The device to use, for the code that creates the first tensors.

The library itself never picks a device (it follows its inputs); scripts,
commands and notebooks ask :func:`default_device` once, and
:func:`check_device` turns a device named by a person into a
``torch.device`` this machine has, or an error that says why not.
"""

from __future__ import annotations

import torch

__all__ = ["check_device", "default_device", "describe_device"]


def default_device() -> torch.device:
    """The best available device: CUDA, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device``, if this machine has it.

    Raises:
        ValueError: for a name torch does not know ("banana"), or a device
            this machine lacks (``cuda`` without a GPU, ``cuda:3`` with
            two); the message names the devices there are.
    """
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"unknown device {device!r}; use cpu, cuda, cuda:1 or mps"
        ) from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(
                f"device {str(device)!r}: this machine has no CUDA GPU that "
                "torch can use; use cpu (or mps on a Mac)"
            )
        if device.index is not None and device.index >= count:
            raise ValueError(
                f"device {str(device)!r}: this machine has {count} CUDA "
                f"GPU(s), cuda:0 to cuda:{count - 1}"
            )
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(
                "device 'mps': Apple's Metal GPU is not available here; "
                "use cpu"
            )
    elif device.type != "cpu":
        try:
            torch.empty(0, device=device)
        except RuntimeError as error:
            raise ValueError(
                f"device {str(device)!r} is not available on this machine "
                f"({error}); use cpu"
            ) from None
    return device


def describe_device(device: torch.device) -> str:
    """The device in words, for benchmark headers: the GPU's name, or the
    CPU with its torch thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{device}, {torch.get_num_threads()} threads"
