"""The book's two switches, read from the environment.

``DDPM_FAST=1`` (set by ``scripts/test.sh``) makes chapters and scripts
use small sizes through the same code paths, so a whole test run fits on a
laptop CPU. ``DDPM_BOOK_BUILD=1`` (set by ``scripts/book.sh``) tells the
explorers and progress bars that they are being rendered into a static
page. The library never reads either: its functions and commands take
explicit sizes.
"""

from __future__ import annotations

import os
from typing import TypeVar

__all__ = ["BOOK_ENV", "FAST_ENV", "book_build", "by_mode", "fast_mode"]

FAST_ENV = "DDPM_FAST"
BOOK_ENV = "DDPM_BOOK_BUILD"
_T = TypeVar("_T")


def env_flag(name: str) -> bool:
    """An on/off switch read from the environment variable ``name``.

    Unset, empty, 0, false or no mean off; 1, true or yes mean on; anything
    else is an error that names the variable.
    """
    value = os.environ.get(name, "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise ValueError(f"{name} must be 1 or 0; got {value!r}")


def fast_mode() -> bool:
    """True when ``DDPM_FAST`` is set to 1 (or true/yes): use small sizes."""
    return env_flag(FAST_ENV)


def by_mode(full: _T, fast: _T) -> _T:
    """``fast`` in fast mode, else ``full`` — e.g. ``by_mode(5000, 300)``."""
    return fast if fast_mode() else full


def book_build() -> bool:
    """True while the book is built (``DDPM_BOOK_BUILD`` is 1 or true)."""
    return env_flag(BOOK_ENV)
