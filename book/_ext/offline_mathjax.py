"""Serve MathJax from the built site itself, so its math renders offline.

A classroom without internet, a downloaded copy of the site and the CI
browser checks all lack the CDN that Sphinx loads MathJax from by default.
MathJax 3 comes from the PyPI package ``django-static-mathjax`` (static
files only; it installs no Django); this extension copies the one script
the pages load and its web fonts into ``_static/mathjax``, and
``_config.yml`` points ``mathjax_path`` there.
"""

import shutil
from importlib.util import find_spec
from pathlib import Path

from sphinx.errors import ExtensionError

# What tex-mml-chtml.js loads, relative to MathJax's es5 folder.
NEEDED = ["tex-mml-chtml.js", "output/chtml/fonts/woff-v2"]


def _es5_folder() -> Path:
    spec = find_spec("mathjax")
    es5 = (
        Path(spec.origin).parent / "static" / "mathjax" / "es5"
        if spec and spec.origin
        else None
    )
    if es5 is None or not (es5 / NEEDED[0]).is_file():
        raise ExtensionError(
            "MathJax 3 is missing: pip install django-static-mathjax "
            "(it is in requirements.txt)"
        )
    return es5


def _copy_mathjax(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    es5, target = _es5_folder(), Path(app.outdir) / "_static" / "mathjax"
    for item in NEEDED:
        source, dest = es5 / item, target / item
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, dest, dirs_exist_ok=True)
        else:
            shutil.copy2(source, dest)


def setup(app):
    _es5_folder()  # fail early, with the fix in the message
    app.connect("build-finished", _copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
