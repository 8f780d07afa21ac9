"""Notebook helpers: library source beside the math, and result files.

The book never keeps a second copy of a formula's code: it displays the
function that ran. Heavy figures are read from the result files in
``results/`` (each with its provenance). Nothing else in ddpm_lib imports
this module.
"""

from __future__ import annotations

import inspect
import json
import urllib.request
from pathlib import Path

from IPython.display import Code, display

from ddpm_lib import project

__all__ = ["glue", "load_result", "sci", "show_source"]

_SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def show_source(obj) -> Code:
    """The source of a ddpm_lib function or class, highlighted."""
    return Code(inspect.getsource(obj), language="python")


def load_result(name: str) -> dict:
    """A result file of the repository, e.g. ``"fashion_reference.json"``.

    Read from ``results/`` of the checkout the notebook runs in; where there
    is none (Colab), downloaded from the repository at this release's tag.
    """
    for folder in (Path.cwd(), *Path.cwd().parents):
        path = folder / "results" / name
        if path.is_file():
            return json.loads(path.read_text())
    github = project.REPOSITORY_URL.replace(
        "https://github.com/", "https://raw.githubusercontent.com/"
    )
    url = f"{github}/{project.release_tag()}/results/{name}"
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.loads(response.read())
    except OSError as error:
        raise FileNotFoundError(
            f"result file {name!r} is neither in a results/ folder here nor "
            f"reachable at {url}: {error}"
        ) from error


def glue(name: str, value, *, show: bool = True):
    """myst-nb's glue when building the book; elsewhere just display."""
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        if show:
            display(value)
        return
    myst_glue(name, value, display=show)


def sci(x: float, digits: int = 2) -> str:
    """``x`` in scientific notation for running text, e.g. "4.0 × 10⁻⁵".

    ``digits`` significant digits. For glued values (``{glue:text}``):
    math inside a glued value is not rendered, so the power is written
    with Unicode superscripts.
    """
    mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
    return f"{mantissa} × 10{str(int(exponent)).translate(_SUPERSCRIPTS)}"
