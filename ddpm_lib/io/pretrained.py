"""The pretrained class-conditional Fashion-MNIST model shipped with ddpm_lib.

Its EMA weights travel as package data (``ddpm_lib/weights``), so the book
build and a ``pip install --no-deps git+…`` on Colab both find them without
a download. MODEL_CARD.md beside them says how they were trained and how
good they are.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import torch

from ddpm_lib.diffusion.schedules import Schedule
from ddpm_lib.io.checkpoint import load_model
from ddpm_lib.networks.unet import UNet
from ddpm_lib.training.config import TrainConfig

__all__ = ["PRETRAINED", "load_pretrained", "pretrained_path"]

PRETRAINED = "fashion_small_cond.pt"


def pretrained_path() -> Path:
    """Where the shipped weights live (package data of ddpm_lib)."""
    return Path(str(files("ddpm_lib") / "weights" / PRETRAINED))


def load_pretrained(
    device: str | torch.device = "cpu",
) -> tuple[UNet, Schedule, TrainConfig]:
    """The pretrained network (eval mode), its schedule and its run config.

    Class-conditional: ``model(x_t, t, labels)`` with labels 0–9 (the
    Fashion-MNIST classes) or None for the unconditional (null-label)
    prediction, so it serves classifier-free guidance too.
    """
    path = pretrained_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"the pretrained weights are missing at {path}; reinstall "
            "ddpm_lib from the repository (they are package data), or "
            "train your own with `python -m ddpm_lib.train`"
        )
    return load_model(path, device=device)
