"""Notebook helpers: library source beside the math, and result files.

The book never keeps a second copy of a formula's code: it displays the
function that ran. Heavy figures are read from the result files in
``results/`` (each with its provenance). Nothing else in ddpm_lib imports
this module.
"""

from __future__ import annotations

import html
import importlib
import inspect
import json
import urllib.request
from pathlib import Path

from IPython.display import Code, display

from ddpm_book.modes import book_build
from ddpm_lib import project

__all__ = [
    "api_anchor",
    "glue",
    "load_result",
    "repository_bytes",
    "result_bytes",
    "sci",
    "show_source",
]

_SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


# The API reference page (book/api.md) documents every name of
# ``ddpm_lib.__all__`` and of these modules' ``__all__``, each once, at
# the module that defines it.
API_PAGE = "api.html"  # beside the chapters in the built site
API_MODULES = (
    "ddpm_lib",
    "ddpm_lib.evaluation.classifier",
    "ddpm_lib.evaluation.metrics",
    "ddpm_lib.evaluation.provenance",
)


def api_anchor(obj) -> str | None:
    """The anchor of ``obj`` on the API reference page, or None.

    Autodoc's anchors are full dotted names where the object is defined,
    e.g. ``"ddpm_lib.diffusion.forward.q_sample"`` for ``dl.q_sample``, and
    ``"module-<name>"`` for a module. Objects the page does not document
    (helpers of the book, private functions) have none.
    """
    for module_name in API_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            if getattr(module, name, None) is not obj:
                continue
            if inspect.ismodule(obj):
                return f"module-{obj.__name__}"
            if inspect.isfunction(obj) or inspect.isclass(obj):
                return f"{obj.__module__}.{obj.__qualname__}"
    return None


class LibrarySource(Code):
    """Highlighted source, followed by a link to its API reference entry."""

    def __init__(self, obj):
        super().__init__(inspect.getsource(obj), language="python")
        self.anchor = api_anchor(obj)

    def _repr_html_(self) -> str:
        code = super()._repr_html_()
        if self.anchor is None:
            return code
        name = self.anchor.removeprefix("module-")
        link = html.escape(f"{API_PAGE}#{self.anchor}", quote=True)
        return (
            f'{code}<p class="api-link">API reference: '
            f'<a href="{link}"><code>{html.escape(name)}</code></a></p>'
        )


def show_source(obj) -> Code:
    """The source of a ddpm_lib function or class, highlighted.

    In HTML (the site, Jupyter) a line under the code links to the
    object's entry in the API reference when it has one.
    """
    return LibrarySource(obj)


def repository_bytes(path: str) -> bytes:
    """The bytes of a file of the repository, e.g. ``"book/forward.ipynb"``.

    Read from the checkout the notebook runs in (the current folder or
    one above it); where there is none (Colab), downloaded from the
    repository at this release's tag.
    """
    for folder in (Path.cwd(), *Path.cwd().parents):
        if (folder / path).is_file():
            return (folder / path).read_bytes()
    github = project.REPOSITORY_URL.replace(
        "https://github.com/", "https://raw.githubusercontent.com/"
    )
    url = f"{github}/{project.release_tag()}/{path}"
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.read()
    except OSError as error:
        raise FileNotFoundError(
            f"{path!r} is neither in a checkout here nor reachable at "
            f"{url}: {error}"
        ) from error


def result_bytes(name: str) -> bytes:
    """The bytes of a result file of the repository, e.g. ``"x.npz"``,
    from ``results/``, found as :func:`repository_bytes` finds it."""
    return repository_bytes(f"results/{name}")


def load_result(name: str) -> dict:
    """A JSON result file of the repository, e.g.
    ``"fashion_reference.json"``, found as :func:`result_bytes` finds it."""
    return json.loads(result_bytes(name))


def glue(name: str, value, *, show: bool = True):
    """myst-nb's glue while the book is built; elsewhere show the value.

    The site puts a glued value into the text where ``{glue:text}`name```
    stands. In Jupyter and Colab the text of the Colab and student copies
    names the value instead (``name``), so a value glued with
    ``show=False`` is printed as ``name = value`` under its cell; a
    figure or other display is shown whatever ``show`` says.
    """
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # Colab, a grader: no book tools installed
        myst_glue = None
    if book_build() and myst_glue is not None:
        myst_glue(name, value, display=show)
    elif show or not isinstance(value, str | int | float):
        display(value)
    else:
        shown = f"{value:.4g}" if isinstance(value, float) else value
        print(f"{name} = {shown}")


def sci(x: float, digits: int = 2) -> str:
    """``x`` in scientific notation for running text, e.g. "4.0 × 10⁻⁵".

    ``digits`` significant digits. For glued values (``{glue:text}``):
    math inside a glued value is not rendered, so the power is written
    with Unicode superscripts.
    """
    mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
    return f"{mantissa} × 10{str(int(exponent)).translate(_SUPERSCRIPTS)}"
