"""Point the Colab launch button at the chapters' Colab copies.

The launch button of sphinx-book-theme opens the page's own notebook,
``book/<page>.ipynb``, whose markdown is MyST: Colab shows its
directives (exercises, admonitions, numbered equations) as raw text.
``scripts/student_edition.py`` writes a copy of every chapter in plain
Markdown and LaTeX to ``colab/<page>.ipynb``; this extension makes the
button open that copy instead, at the same release tag, and adds a
second entry, *Colab: student copy*, on pages whose chapter has a
student edition (``student/<page>.ipynb``, the exercises without their
solutions). A copy that does not exist is a build error: the button
would open a missing file.
"""

from __future__ import annotations

import re
from pathlib import Path

from sphinx.errors import ExtensionError

# .../blob/<tag>/book/<page>.ipynb, as the theme builds it.
BOOK_NOTEBOOK = re.compile(
    r"^(?P<head>.*/blob/[^/]+/)book/(?P<page>[\w-]+)\.ipynb$"
)


def _colab_button(context) -> tuple[list, dict] | None:
    """The launch group's list of entries and its Colab entry, if any."""
    for group in context.get("header_buttons", []):
        if group.get("label") != "launch-buttons":
            continue
        for button in group.get("buttons", []):
            if button.get("text") == "Colab":
                return group["buttons"], button
    return None


def retarget(app, pagename, templatename, context, doctree):
    found = _colab_button(context)
    if found is None:
        return
    buttons, colab = found
    m = BOOK_NOTEBOOK.match(colab["url"])
    if m is None:
        return
    root = Path(app.srcdir)
    page = m["page"]
    if not (root / "colab" / f"{page}.ipynb").is_file():
        raise ExtensionError(
            f"no colab/{page}.ipynb for the Colab button of {pagename}; "
            "run: python scripts/student_edition.py"
        )
    colab["url"] = f"{m['head']}colab/{page}.ipynb"
    if (root / "student" / f"{page}.ipynb").is_file():
        buttons.insert(
            buttons.index(colab) + 1,
            {
                **colab,
                "text": "Colab: student copy",
                "tooltip": "The exercises without their solutions, on Colab",
                "url": f"{m['head']}student/{page}.ipynb",
            },
        )


def setup(app):
    # After the theme's add_launch_buttons (priority 501).
    app.connect("html-page-context", retarget, priority=502)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
