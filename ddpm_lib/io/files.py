"""Files written whole or not at all, and errors that say where and why.

:func:`atomic_write` writes to a temporary file in the target's folder,
flushes it to disk and renames it over the target: a process killed at any
moment leaves the old file or the new one, never half a file. A killed
write leaves its temporary file behind (``.<name>.<pid>.tmp``);
:func:`remove_temp_files` clears them where no other writer can be at work
(a locked run folder).
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["OutputError", "atomic_write", "remove_temp_files", "temp_path"]

# .<name>.<pid>.tmp, as temp_path names them
_TEMP = re.compile(r"^\..+\.\d+\.tmp$")


class OutputError(OSError):
    """A file could not be written: a full disk, no permission, …; the
    message names the file and what to do."""


def temp_path(path: Path) -> Path:
    """The temporary file this process writes before replacing ``path``."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def output_error(error: OSError, path: Path) -> OutputError:
    """``error``, raised while writing ``path``, as one clear message."""
    kept = "; the previous file is kept" if path.exists() else ""
    if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        why = (
            f"no space left on the device holding {path.parent} while "
            f"writing {path.name}{kept}. Free some space (or choose another "
            "folder) and run again"
        )
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = (
            f"cannot write {path}: {error.strerror}{kept}. Choose a folder "
            "you can write to"
        )
    else:
        why = f"cannot write {path}: {error.strerror or error}{kept}"
    out = OutputError(why)  # str() is the message alone, no "[Errno 28]"
    out.errno = error.errno
    return out


def _os_error(error: BaseException) -> OSError | None:
    """The OSError behind ``error`` (torch wraps some in RuntimeError)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, OSError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def atomic_write(
    path: str | os.PathLike, write: Callable[[BinaryIO], object]
) -> Path:
    """Call ``write(f)`` on a temporary file, then rename it to ``path``.

    Raises:
        OutputError: when the file cannot be written (full disk, no
            permission); ``path`` is left as it was.
    """
    path = Path(path)
    tmp = temp_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic on POSIX and Windows
    except (OSError, RuntimeError) as error:
        cause = _os_error(error)
        if cause is None or isinstance(error, OutputError):
            raise
        raise output_error(cause, path) from error
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
    return path


def remove_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that killed writes left in ``folder``.

    Call it only where no other process can be writing (a locked run
    folder): it removes every ``.<name>.<pid>.tmp``, whoever left it.
    """
    removed = []
    for path in sorted(Path(folder).iterdir()):
        if _TEMP.match(path.name) and path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
