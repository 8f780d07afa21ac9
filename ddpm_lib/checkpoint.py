"""Checkpoints: written atomically, read without running any code.

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

__all__ = ["FORMAT", "CheckpointError", "load_checkpoint", "save_checkpoint"]

FORMAT = "ddpm_lib-checkpoint-v1"


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
