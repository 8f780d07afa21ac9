"""Checkpoints: written atomically, read without running any code.

A run folder holds ``checkpoint.pt``, the whole training state;
:func:`export_model` writes the EMA weights alone, and :func:`load_model`
reads either kind back as a network, its schedule and its run config.

A checkpoint is a dict of tensors and plain Python values saved with
``torch.save`` to a temporary file in the same folder, flushed to disk and
then renamed over the old file: a run killed at any moment leaves either
the previous checkpoint or the new one, never half a file. Reading uses
``torch.load(weights_only=True)``, which refuses anything but tensors and
plain containers, so a checkpoint can never execute code.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch

from ddpm_lib.diffusion.schedules import Schedule, schedule_from_betas
from ddpm_lib.networks.unet import UNet
from ddpm_lib.training.config import TrainConfig

__all__ = [
    "CHECKPOINT",
    "EXPORT",
    "FORMAT",
    "CheckpointError",
    "export_model",
    "load_checkpoint",
    "load_model",
    "save_checkpoint",
]

FORMAT = "ddpm_lib-checkpoint-v1"
CHECKPOINT = "checkpoint.pt"  # the training state's name in a run folder
EXPORT = "ema-weights"  # the "kind" of a file written by export_model


class CheckpointError(ValueError):
    """A file that is not a usable ddpm_lib checkpoint."""


def save_checkpoint(state: dict, path: str | os.PathLike) -> Path:
    """Write ``state`` to ``path`` atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save({"format": FORMAT, **state}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic on POSIX and Windows
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_checkpoint(
    path: str | os.PathLike, *, map_location: str | torch.device = "cpu"
) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises:
        CheckpointError: if the file is missing, damaged, holds anything
            but tensors and plain values, or was not written by ddpm_lib.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"no checkpoint at {path}; train one with "
            "`python -m ddpm_lib.train --out <folder>`"
        )
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"{path} holds objects other than tensors and plain values, "
            f"so it is not loaded (it could run code): {error}"
        ) from error
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as error:
        raise CheckpointError(
            f"{path} is damaged or not a checkpoint ({error}); use an "
            "earlier checkpoint or train again"
        ) from error
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} was not written by ddpm_lib (format "
            f"{state.get('format') if isinstance(state, dict) else None!r}, "
            f"expected {FORMAT!r})"
        )
    return state


def load_model(
    path: str | os.PathLike,
    *,
    ema: bool = True,
    device: str | torch.device = "cpu",
) -> tuple[UNet, Schedule, TrainConfig]:
    """The trained network (EMA weights by default), its schedule and run.

    Raises:
        CheckpointError: for a missing, damaged or foreign file, or one
            whose weights do not fit its own config.
    """
    state = load_checkpoint(path, map_location=device)
    if not ema and state.get("kind") == EXPORT:
        raise CheckpointError(
            f"{path} holds the EMA weights only (an export); load it with "
            "ema=True (drop --no-ema)"
        )
    try:
        config = TrainConfig.from_dict(state["config"])
        model = UNet(config.model).to(device)
        weights = state["ema"]["module"] if ema else state["model"]
        model.load_state_dict(weights)
        sched = schedule_from_betas(state["schedule_betas"])
    except (KeyError, TypeError, RuntimeError, ValueError) as error:
        raise CheckpointError(
            f"{path} does not hold a complete ddpm_lib training state "
            f"({type(error).__name__}: {error})"
        ) from error
    return model.eval(), sched, config


def export_model(
    checkpoint: str | os.PathLike, out: str | os.PathLike
) -> Path:
    """Write the EMA weights of a training checkpoint, and nothing else.

    The file keeps what sampling and evaluation need (the run's config,
    its schedule, the step, the loss history) and drops the raw weights,
    the optimizer state and the random states: about a third of the size.
    :func:`load_model` reads it like a checkpoint.
    """
    state = load_checkpoint(checkpoint)
    if state.get("kind") == EXPORT:
        raise CheckpointError(f"{checkpoint} is already an export")
    model = state["ema"]["module"]
    return save_checkpoint(
        {
            "kind": EXPORT,
            "config": state["config"],
            "step": state["step"],
            "ema": {"module": {k: v.float() for k, v in model.items()}},
            "schedule_betas": state["schedule_betas"],
            "history": state["history"],
        },
        out,
    )
