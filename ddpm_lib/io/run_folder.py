"""The run folder: where ``python -m ddpm_lib.train --out`` keeps a run.

A run folder holds ``checkpoint.pt`` (replaced atomically), ``history.json``,
sample grids, and the lock file ``.lock``. While a run writes the folder
it holds an operating-system lock on that file (``fcntl.flock``; on
Windows ``msvcrt.locking``): a second run into the same folder is refused
at once, and since the lock dies with its process, a killed run never
blocks its own resume. The lock file also marks the folder as a run, so a
fresh run never writes into a folder that holds something else.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from ddpm_lib.io.checkpoint import CHECKPOINT, load_checkpoint
from ddpm_lib.io.files import remove_temp_files

__all__ = ["LOCK", "RunFolderError", "check_run_folder", "locked_run_folder"]

LOCK = ".lock"


class RunFolderError(ValueError):
    """A folder a run cannot use: a file, someone else's files, a folder
    another process is training into."""


def check_run_folder(out: str | os.PathLike, *, resume: bool) -> None:
    """Refuse, before any work, a folder this run must not write.

    A fresh run needs a new or empty folder, or a run folder without a
    checkpoint (a run stopped before its first save); ``resume`` needs a
    checkpoint.

    Raises:
        RunFolderError: with what to do instead.
    """
    out = Path(out)
    checkpoint = out / CHECKPOINT
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"--out {out} is a file; give a folder")
    if resume:
        if not checkpoint.is_file():
            raise RunFolderError(
                f"--resume: no checkpoint in {out}; start a new run there "
                "without --resume"
            )
        return
    if checkpoint.exists():
        step = load_checkpoint(checkpoint)["step"]
        raise RunFolderError(
            f"{out} already holds a run (step {step}); pass --resume to "
            "continue it, or choose another --out"
        )
    if out.is_dir() and not (out / LOCK).exists():
        others = sorted(p.name for p in out.iterdir())
        if others:
            shown = ", ".join(others[:3]) + (", …" if len(others) > 3 else "")
            raise RunFolderError(
                f"{out} is not a run folder and holds other files ({shown}); "
                "choose a new or empty folder for --out"
            )


def _lock(f) -> bool:
    """Take the lock on the open file ``f`` without waiting."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # BlockingIOError: another process holds it
        return False
    return True


@contextlib.contextmanager
def locked_run_folder(out: str | os.PathLike) -> Iterator[list[Path]]:
    """Hold the run folder's lock (creating the folder) while inside.

    Yields the temporary files of killed saves that were removed.

    Raises:
        RunFolderError: if another process holds the lock.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / LOCK, "a+") as f:
        f.seek(0)
        if not _lock(f):
            f.seek(0)
            pid = f.read().strip() or "unknown"
            raise RunFolderError(
                f"another process (pid {pid}) is training into {out}; wait "
                "for it to finish, or choose another --out"
            )
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        yield remove_temp_files(out)  # nobody else can be writing now
