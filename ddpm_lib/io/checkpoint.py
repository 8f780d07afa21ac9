"""Checkpoints: written atomically, read without running any code.

A run folder holds ``checkpoint.pt``, the whole training state;
:func:`export_model` writes the EMA weights alone, and :func:`load_model`
reads either kind back as a network, its schedule and its run config.

A checkpoint is a dict of tensors and plain Python values saved with
``torch.save`` to a temporary file in the same folder, flushed to disk and
then renamed over the old file: a run killed at any moment leaves either
the previous checkpoint or the new one, never half a file. It carries a
SHA-256 checksum of its contents, verified when it is read, so flipped
bits never load silently (files written before checksums, like the shipped
weights, still load). Reading uses ``torch.load(weights_only=True)``,
which refuses anything but tensors and plain containers, so a checkpoint
can never execute code; every way reading can fail becomes one
:class:`CheckpointError` that names the file.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import torch
from torch import Tensor

from ddpm_lib.device import check_device
from ddpm_lib.diffusion.schedules import Schedule, schedule_from_betas
from ddpm_lib.io.files import atomic_write
from ddpm_lib.networks.unet import UNet, UNetConfig
from ddpm_lib.training.config import TrainConfig

__all__ = [
    "CHECKPOINT",
    "EXPORT",
    "FORMAT",
    "LIMITS",
    "CheckpointError",
    "check_network_size",
    "checkpoint_kind",
    "checksum",
    "export_model",
    "load_checkpoint",
    "load_model",
    "non_finite_tensors",
    "run_config",
    "save_checkpoint",
]

FORMAT = "ddpm_lib-checkpoint-v1"
CHECKPOINT = "checkpoint.pt"  # the training state's name in a run folder
EXPORT = "ema-weights"  # the "kind" of a file written by export_model

# Sizes beyond these come from a damaged or hostile file (or a typo), not
# from a network anyone trained here; they are refused before anything is
# allocated. The largest preset, cifar10_ddpm, has 35.7M parameters.
LIMITS = {
    "parameters": 2_000_000_000,  # 8 GB of float32 weights
    "image_size": 1024,  # H = W
    "image_channels": 64,  # C
    "attn_resolution": 128,  # attention is (H·W)² per image and head
    "levels": 10,  # len(channel_mults)
    "num_res_blocks": 64,
    "T": 1_000_000,  # diffusion steps
}


class CheckpointError(ValueError):
    """A file that is not a usable ddpm_lib checkpoint."""


def _feed(digest, value) -> None:
    """Feed ``value`` (tensors and plain containers) into ``digest``."""
    if isinstance(value, Tensor):
        t = value.detach().cpu().contiguous().reshape(-1)
        digest.update(f"T{t.dtype}{tuple(value.shape)}".encode())
        digest.update(t.view(torch.uint8).numpy())
    elif isinstance(value, dict):
        digest.update(b"{%d" % len(value))
        for key, item in value.items():
            _feed(digest, key)
            _feed(digest, item)
    elif isinstance(value, list | tuple):
        digest.update(b"%s%d" % (type(value).__name__.encode(), len(value)))
        for item in value:
            _feed(digest, item)
    else:
        digest.update(f"{type(value).__name__}:{value!r};".encode())


def checksum(state: dict) -> str:
    """SHA-256 of a checkpoint's contents: every tensor's dtype, shape and
    bytes, and every plain value, in order."""
    digest = hashlib.sha256()
    _feed(digest, state)
    return digest.hexdigest()


def _to_cpu(value):
    if isinstance(value, Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        out = type(value)((k, _to_cpu(v)) for k, v in value.items())
        if hasattr(value, "_metadata"):  # a state_dict's module versions
            out._metadata = value._metadata
        return out
    if isinstance(value, list | tuple):
        return type(value)(_to_cpu(v) for v in value)
    return value


def save_checkpoint(state: dict, path: str | os.PathLike) -> Path:
    """Write ``state`` (with a checksum) to ``path`` atomically.

    Returns:
        The path.

    Raises:
        OutputError: when the file cannot be written (a full disk); the
            previous file at ``path`` is kept.
    """
    full = _to_cpu({"format": FORMAT, **state})
    full["checksum"] = checksum(full)
    return atomic_write(path, lambda f: torch.save(full, f))


def _unpickling_message(path: Path, error: Exception) -> str:
    if "global" in str(error).lower():  # weights_only refused a class
        return (
            f"{path} holds objects other than tensors and plain values, "
            f"so it is not loaded (it could run code): {error}"
        )
    return _damaged(path, error)


def _damaged(path: Path, error: Exception) -> str:
    text = str(error)
    if "WeightsUnpickler error:" in text:  # torch's advice is no use here
        text = text.split("WeightsUnpickler error:", 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    reason = lines[0] if lines else ""
    return (
        f"{path} is damaged or not a checkpoint ({type(error).__name__}"
        f"{': ' + reason[:200] if reason else ''}); use an earlier "
        "checkpoint or train again"
    )


def load_checkpoint(
    path: str | os.PathLike, *, map_location: str | torch.device = "cpu"
) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises:
        CheckpointError: if the file is missing, damaged (its checksum
            does not match), holds anything but tensors and plain values,
            or was not written by ddpm_lib.
        ValueError: if ``map_location`` is a device this machine lacks.
    """
    path = Path(path)
    if isinstance(map_location, str | torch.device):
        map_location = check_device(map_location)
    if not path.is_file():
        raise CheckpointError(
            f"no checkpoint at {path}; train one with "
            "`python -m ddpm_lib.train --out <folder>`"
        )
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(_unpickling_message(path, error)) from error
    except Exception as error:  # any damage, one error
        raise CheckpointError(_damaged(path, error)) from error
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} was not written by ddpm_lib (format "
            f"{state.get('format') if isinstance(state, dict) else None!r}, "
            f"expected {FORMAT!r})"
        )
    stored = state.pop("checksum", None)
    if stored is not None and stored != checksum(state):
        raise CheckpointError(
            f"{path} is damaged: its contents do not match the checksum "
            "written with them (flipped bits, or edited since). Use an "
            "earlier checkpoint or train again; a file edited on purpose "
            "loads once its 'checksum' entry is deleted"
        )
    return state


def checkpoint_kind(path: str | os.PathLike) -> str | None:
    """``"training"`` or ``"export"`` for a ddpm_lib checkpoint, else None.

    Cheap: it reads the file's index, not its tensors.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        state = torch.load(
            path, map_location="cpu", weights_only=True, mmap=True
        )
    except Exception:  # not a (readable) checkpoint
        return None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        return None
    return "export" if state.get("kind") == EXPORT else "training"


def non_finite_tensors(state) -> list[str]:
    """Names of the floating-point tensors in ``state`` (nested dicts and
    lists) that hold NaN or ±inf; one device sync per device."""
    named = []

    def walk(value, name):
        if isinstance(value, Tensor):
            if value.is_floating_point() or value.is_complex():
                named.append((name, value.detach()))
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{name}.{key}" if name else str(key))
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                walk(item, f"{name}[{i}]")

    walk(state, "")
    by_device: dict[torch.device, list[Tensor]] = {}
    for _, t in named:
        by_device.setdefault(t.device, []).append(torch.isfinite(t).all())
    if all(torch.stack(flags).all().item() for flags in by_device.values()):
        return []
    return [name for name, t in named if not torch.isfinite(t).all()]


def check_network_size(config: UNetConfig) -> int:
    """The parameter count of ``config``'s UNet, counted without
    allocating it; ValueError, with the numbers, beyond :data:`LIMITS`."""
    checks = [
        ("image_size", config.image_size),
        ("image_channels", config.image_channels),
        ("levels", len(config.channel_mults)),
        ("num_res_blocks", config.num_res_blocks),
        ("attn_resolution", max(config.attn_resolutions, default=0)),
    ]
    for name, value in checks:
        if value > LIMITS[name]:
            raise ValueError(
                f"the network's {name} is {value}, beyond the limit of "
                f"{LIMITS[name]}: refused before allocating it"
            )
    with torch.device("meta"):  # shapes only, no memory
        count = UNet(config).num_parameters()
    if count > LIMITS["parameters"]:
        raise ValueError(
            f"the network would have {count:,} parameters "
            f"({4 * count / 1e9:,.0f} GB in float32), beyond the limit of "
            f"{LIMITS['parameters']:,}: refused before allocating it"
        )
    return count


def run_config(state: dict, path: str | os.PathLike) -> TrainConfig:
    """The run config of a loaded checkpoint, its sizes checked.

    Raises:
        CheckpointError: for a config that is incomplete, invalid or asks
            for an absurd network (beyond :data:`LIMITS`).
    """
    try:
        config = TrainConfig.from_dict(state["config"])
        check_network_size(config.model)
        if config.T > LIMITS["T"]:
            raise ValueError(f"T = {config.T} is beyond {LIMITS['T']}")
    except Exception as error:  # any bad config, one error
        raise CheckpointError(
            f"{path} holds an unusable run config "
            f"({type(error).__name__}: {error})"
        ) from error
    return config


def load_model(
    path: str | os.PathLike,
    *,
    ema: bool = True,
    device: str | torch.device = "cpu",
) -> tuple[UNet, Schedule, TrainConfig]:
    """The trained network (EMA weights by default), its schedule and run.

    Raises:
        CheckpointError: for a missing, damaged or foreign file, one whose
            config asks for an absurd network, or whose weights do not fit
            its own config or are not finite.
        ValueError: if ``device`` is a device this machine lacks.
    """
    device = check_device(device)
    state = load_checkpoint(path, map_location=device)
    if not ema and state.get("kind") == EXPORT:
        raise CheckpointError(
            f"{path} holds the EMA weights only (an export); load it with "
            "ema=True (drop --no-ema)"
        )
    config = run_config(state, path)
    try:
        weights = state["ema"]["module"] if ema else state["model"]
        bad = non_finite_tensors(weights)
        model = UNet(config.model).to(device)
        model.load_state_dict(weights)
        sched = schedule_from_betas(state["schedule_betas"])
    except Exception as error:  # any mismatch, one error
        raise CheckpointError(
            f"{path} does not hold a complete ddpm_lib training state "
            f"({type(error).__name__}: {error})"
        ) from error
    if bad:
        raise CheckpointError(non_finite_message(path, bad))
    return model.eval(), sched, config


def non_finite_message(path, bad: list[str]) -> str:
    return (
        f"{path} holds NaN or infinite weights ({len(bad)} tensors, e.g. "
        f"{bad[0]}): its run diverged before it was saved. Use an earlier "
        "checkpoint, or train again with a lower --lr"
    )


def export_model(
    checkpoint: str | os.PathLike, out: str | os.PathLike
) -> Path:
    """Write the EMA weights of a training checkpoint, and nothing else.

    The file keeps what sampling and evaluation need (the run's config,
    its schedule, the step, the loss history) and drops the raw weights,
    the optimizer state and the random states: about a third of the size.
    :func:`load_model` reads it like a checkpoint.

    Raises:
        CheckpointError: if ``checkpoint`` cannot be read, is an export
            already, or holds non-finite weights.
    """
    state = load_checkpoint(checkpoint)
    if state.get("kind") == EXPORT:
        raise CheckpointError(f"{checkpoint} is already an export")
    run_config(state, checkpoint)
    try:
        model = {k: v.float() for k, v in state["ema"]["module"].items()}
        kept = {
            "kind": EXPORT,
            "config": state["config"],
            "step": state["step"],
            "ema": {"module": model},
            "schedule_betas": state["schedule_betas"],
            "history": state["history"],
        }
    except Exception as error:  # any gap, one error
        raise CheckpointError(
            f"{checkpoint} does not hold a complete ddpm_lib training "
            f"state ({type(error).__name__}: {error})"
        ) from error
    bad = non_finite_tensors(model)
    if bad:
        raise CheckpointError(non_finite_message(checkpoint, bad))
    return save_checkpoint(kept, out)
