"""Argument types and output checks shared by every command line.

Each ``python -m ddpm_lib.<command>`` parses its flags with :class:`Parser`
and these ``type=`` callables, so bad input is refused while the command
line is read, before any data is loaded or any model is built: one line
``error: …`` that says what to do, and exit status 2. Output paths are
checked there too: their folder must be writable, and no output may
replace a training checkpoint.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import tempfile
from pathlib import Path

import torch

from ddpm_lib.device import check_device
from ddpm_lib.io.checkpoint import checkpoint_kind

__all__ = [
    "MAX_SEED",
    "Parser",
    "UsageError",
    "check_distinct",
    "device",
    "export_file",
    "finite_float",
    "float_in",
    "image_file",
    "int_in",
    "int_list",
    "non_negative_float",
    "non_negative_int",
    "output_file",
    "positive_float",
    "positive_int",
    "report",
    "run_folder",
    "seed",
]

MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed takes 64 bits
Error = argparse.ArgumentTypeError


class UsageError(Exception):
    """A command line that cannot work; the message says why."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises :class:`UsageError` for bad input
    (the command prints it as one line) instead of printing its usage and
    exiting."""

    def error(self, message: str):
        # "argument --lr: must be …" reads better as "--lr must be …".
        found = re.match(r"argument ([^:]+): (.*)", message, re.DOTALL)
        if found:
            flag, rest = found.groups()
            sep = " " if rest.startswith("must") else ": "
            message = flag + sep + rest
        raise UsageError(f"{message} (see {self.prog} --help)")


def report(error: BaseException | str) -> int:
    """Print ``error`` as one line ``error: …`` on stderr; return 2."""
    text = " ".join(str(error).split("\n"))
    print(f"error: {text}", file=sys.stderr)
    return 2


# -- numbers ---------------------------------------------------------------


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise Error(f"must be an integer; got {text!r}") from None


def int_in(low: int, high: int | None = None):
    """The type of an integer in ``low..high`` (no upper end: None)."""

    def parse(text: str) -> int:
        value = _int(text)
        if value < low or (high is not None and value > high):
            span = f"in {low}..{high}" if high is not None else f">= {low}"
            raise Error(f"must be an integer {span}; got {text!r}")
        return value

    parse.__name__ = f"int_in_{low}_{high}"
    return parse


positive_int = int_in(1)
non_negative_int = int_in(0)
seed = int_in(0, MAX_SEED)


def finite_float(text: str) -> float:
    """A number other than NaN and ±inf."""
    try:
        value = float(text)
    except ValueError:
        raise Error(f"must be a number; got {text!r}") from None
    if not math.isfinite(value):
        raise Error(f"must be a finite number; got {text!r}")
    return value


def float_in(
    low: float, high: float, *, low_open: bool = False, high_open: bool = False
):
    """The type of a finite number in [low, high]; ``low_open`` and
    ``high_open`` leave out an end."""

    def parse(text: str) -> float:
        value = finite_float(text)
        above_low = value > low if low_open else value >= low
        below_high = value < high if high_open else value <= high
        if not (above_low and below_high):
            span = (
                f"{'(' if low_open else '['}{low}, {high}"
                f"{')' if high_open else ']'}"
            )
            raise Error(f"must be a number in {span}; got {text!r}")
        return value

    parse.__name__ = f"float_in_{low}_{high}"
    return parse


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    value = finite_float(text)
    if value < 0:
        raise Error(f"must be a finite number >= 0; got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = finite_float(text)
    if value <= 0:
        raise Error(f"must be a finite number > 0; got {text!r}")
    return value


def int_list(text: str) -> tuple[int, ...]:
    """Comma-separated positive integers, e.g. ``1,2,2``."""
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise Error(
            f"must be comma-separated positive integers, e.g. 1,2,2; got "
            f"{text!r}"
        )
    return values


# -- devices ---------------------------------------------------------------


def device(text: str) -> torch.device:
    """A device this machine has: cpu, cuda, cuda:1, mps."""
    try:
        return check_device(text)
    except ValueError as error:
        raise Error(str(error)) from None


# -- outputs ---------------------------------------------------------------


def _writable_folder(folder: Path, text: str) -> None:
    """Refuse a folder that cannot be created or written into."""
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise Error(f"{existing} is a file, not a folder")
    try:
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as error:
        raise Error(
            f"cannot write into {existing} ({error.strerror}); choose a "
            "folder you can write to"
        ) from None


def _output(text: str, *, may_replace_export: bool) -> Path:
    path = Path(text).expanduser()
    if path.is_dir():
        raise Error(f"{text} is a folder; give a file name")
    _writable_folder(path.parent, text)
    if path.exists() and not os.access(path, os.W_OK):
        raise Error(f"{text} exists and cannot be written")
    kind = checkpoint_kind(path)
    if kind == "training":
        raise Error(
            f"{text} is a training checkpoint (the state its run resumes "
            "from); writing there would destroy it. Choose another file"
        )
    if kind == "export" and not may_replace_export:
        raise Error(
            f"{text} is an exported model; writing there would destroy "
            "it. Choose another file"
        )
    return path


def output_file(text: str) -> Path:
    """A file to write: its folder writable, and not a ddpm_lib
    checkpoint (training state or exported model)."""
    return _output(text, may_replace_export=False)


def export_file(text: str) -> Path:
    """Where to export a model: may replace an earlier export, never a
    training checkpoint."""
    return _output(text, may_replace_export=True)


def image_file(text: str) -> Path:
    """An output file of an image type Pillow writes (.png, …)."""
    path = output_file(text)
    try:
        from PIL import Image  # Pillow, which torchvision depends on
    except ImportError:
        raise Error(
            "writing images needs Pillow: pip install pillow"
        ) from None
    Image.init()
    kind = Image.registered_extensions().get(path.suffix.lower())
    if kind is None or kind not in Image.SAVE:
        raise Error(f"must end in .png (an image type); got {text!r}")
    return path


def run_folder(text: str) -> Path:
    """A run folder to create or continue: not a file, and writable."""
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise Error(f"{text} is a file; give a folder")
    _writable_folder(path, text)
    return path


def check_distinct(
    inputs: dict[str, object], outputs: dict[str, object]
) -> None:
    """Refuse two outputs that are one file, or an output that is an input.

    Args:
        inputs: Flag → path read (None: not given).
        outputs: Flag → path written (None: not given).

    Raises:
        UsageError: naming the flags.
    """
    seen: dict[Path, str] = {}
    for flag, value in inputs.items():
        if value is not None:
            seen[Path(value).expanduser().resolve()] = flag
    for flag, value in outputs.items():
        if value is None:
            continue
        key = Path(value).expanduser().resolve()
        if key in seen:
            raise UsageError(
                f"{flag} and {seen[key]} name the same file ({value}); "
                f"writing {flag} would destroy it. Choose another file"
            )
        seen[key] = flag
