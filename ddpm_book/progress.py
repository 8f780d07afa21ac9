"""The book's progress bar: tqdm in a notebook, plain lines in the build."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable

from ddpm_book.modes import book_build

__all__ = ["progress"]


class _PlainLines(io.TextIOBase):
    """A text stream for tqdm that turns its ``\\r`` redraws into lines."""

    def __init__(self, stream=None):
        self._stream = stream

    def write(self, text: str) -> int:
        line = text.replace("\r", "").rstrip()
        if line:
            stream = self._stream or sys.stdout
            stream.write(line + "\n")
            stream.flush()
        return len(text)

    def flush(self) -> None:
        (self._stream or sys.stdout).flush()


def progress(iterable: Iterable | None = None, **kw):
    """A tqdm progress bar; plain text lines while the book is built.

    In a notebook this is ``tqdm.auto.tqdm`` (a widget in Jupyter and
    Colab). During the book build it is ``tqdm.std.tqdm`` writing ASCII
    lines to stdout at most every 30 seconds, so the page shows a few lines
    of text rather than widget state. Arguments are tqdm's, e.g.
    ``progress(range(n), desc="training")`` or ``progress(total=n)``.
    """
    if book_build():
        from tqdm.std import tqdm

        kw.setdefault("mininterval", 30.0)
        kw.setdefault("ascii", True)
        kw.setdefault("ncols", 79)
        kw.setdefault("file", _PlainLines())
        return tqdm(iterable, **kw)
    from tqdm.auto import tqdm

    return tqdm(iterable, **kw)
