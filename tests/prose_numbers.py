"""Numbers typed in the chapters' prose, each with the computation behind it.

The book's rule: a computed quantity quoted in a markdown cell comes from a
cell (``glue``) or a result file. What remains typed — the arithmetic of a
worked solution, a rounded constant — is listed per chapter in
``tests/typed/<chapter>.py``, with a function that recomputes it from
``ddpm_lib`` or from the paper's constants. ``tests/test_book_text.py``
fails on a quantity phrase that is
neither glued nor covered by an entry, on an entry whose text left the
chapter, and on an entry whose number the computation does not confirm.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import ddpm_lib as dl


@dataclass(frozen=True)
class Typed:
    """``text`` (as it stands in a markdown cell) says ``value``.

    ``actual()`` recomputes it; they must agree within ``rel`` (relative)
    or, where ``rel`` is None, within ``abs`` (absolute).
    """

    text: str
    value: float
    actual: Callable[[], float]
    rel: float | None = 0.05
    abs: float = 0.0

    def check(self) -> None:
        got = float(self.actual())
        if self.rel is None:
            ok = abs(got - self.value) <= self.abs
        else:
            ok = math.isclose(got, self.value, rel_tol=self.rel)
        assert ok, f"{self.text!r} says {self.value}, computed {got:.6g}"


@cache
def linear(T: int = 1000) -> dl.Schedule:
    """The paper's schedule, β from 1e-4 to 0.02 over T steps, in float64."""
    return dl.linear_schedule(T)


def alpha_bar_T(T: int = 1000) -> float:
    return linear(T).alpha_bar[T].item()


def _collect() -> dict[str, list[Typed]]:
    """chapter (notebook stem) -> its entries, from tests/typed/<stem>.py."""
    entries = {}
    for path in sorted((Path(__file__).parent / "typed").glob("*.py")):
        name = f"typed_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        entries[path.stem] = module.TYPED
    return entries


TYPED = _collect()
