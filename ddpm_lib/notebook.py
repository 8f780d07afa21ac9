"""Notebook helpers: show the library's own source next to the math.

The book never keeps a second copy of a formula's code: it displays the
function that ran. Nothing else in ddpm_lib imports this module.
"""

from __future__ import annotations

import inspect

from IPython.display import Code

__all__ = ["show_source"]


def show_source(obj) -> Code:
    """The source of a ddpm_lib function or class, highlighted."""
    return Code(inspect.getsource(obj), language="python")
