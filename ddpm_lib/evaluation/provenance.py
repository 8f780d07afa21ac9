"""Provenance of result files: which command, commit, hardware and inputs.

Every figure the book quotes comes from a JSON result file stamped here;
:func:`verify_result` fails when the file no longer matches the
classifier or checkpoint it describes.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import subprocess
from pathlib import Path

import torch

from ddpm_lib.device import default_device
from ddpm_lib.evaluation.classifier import weights_path
from ddpm_lib.io.files import atomic_write

__all__ = ["provenance", "sha256", "verify_result", "write_result"]


def sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _commit() -> str | None:
    """The git commit of this code (or $DDPM_COMMIT in a copy without git)."""
    if os.environ.get("DDPM_COMMIT"):
        return os.environ["DDPM_COMMIT"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def provenance(
    command: str, *, checkpoint: str | os.PathLike | None = None
) -> dict:
    """Where a result comes from: command, commit, hardware, hashes."""
    device = default_device()
    hardware = {
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
    }
    if device.type == "cuda":
        hardware["gpu"] = torch.cuda.get_device_name(device)
    return {
        "command": command,
        "commit": _commit(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(
            timespec="seconds"
        ),
        "hardware": hardware,
        "torch": torch.__version__,
        "classifier_sha256": sha256(weights_path()),
        "checkpoint": None if checkpoint is None else str(checkpoint),
        "checkpoint_sha256": None
        if checkpoint is None
        else sha256(checkpoint),
    }


def write_result(
    path: str | os.PathLike | None,
    result: dict,
    command: str,
    *,
    checkpoint: str | os.PathLike | None = None,
) -> str:
    """Stamp ``result`` with its provenance; write it as JSON to ``path``.

    Returns the JSON text (also when ``path`` is None: nothing is written).
    """
    result["provenance"] = provenance(command, checkpoint=checkpoint)
    text = json.dumps(result, indent=1)
    if path is not None:
        data = (text + "\n").encode()
        atomic_write(path, lambda f: f.write(data))
    return text


def verify_result(path: str | os.PathLike, root: str | os.PathLike) -> None:
    """Raise ValueError if a result file no longer matches its inputs.

    The shipped classifier must be the one it was computed with, and a
    checkpoint it names (relative to ``root``) must have the recorded hash.
    """
    result = json.loads(Path(path).read_text())
    prov = result["provenance"]
    if prov["classifier_sha256"] != sha256(weights_path()):
        raise ValueError(
            f"{path} was computed with another evaluation classifier; "
            f"rerun: {prov['command']}"
        )
    if prov.get("checkpoint"):
        checkpoint = Path(root) / prov["checkpoint"]
        if not checkpoint.is_file() or (
            sha256(checkpoint) != prov["checkpoint_sha256"]
        ):
            raise ValueError(
                f"{path} describes {prov['checkpoint']}, which is missing or "
                f"has changed; rerun: {prov['command']}"
            )
