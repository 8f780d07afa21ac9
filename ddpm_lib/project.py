"""Where the project lives: the one place that names its repository and tags.

Everything that links to the repository (the book's launch buttons, the
Colab set-up cell, student links, packaging metadata, the citation file)
derives from the two constants here; a test checks that the static files
(``_config.yml``, ``pyproject.toml``, ``CITATION.cff``) agree with them.
"""

__version__ = "0.2.0"

# The public repository of the book and the library.
REPOSITORY_URL = "https://github.com/ddpm-book/ddpm-book"

# Releases are tagged v<version>, e.g. v0.2.0.
TAG_PREFIX = "v"


def release_tag(version: str = __version__) -> str:
    """Git tag of a release: ``v<version>``."""
    return f"{TAG_PREFIX}{version}"


def pip_spec(version: str = __version__) -> str:
    """What ``pip install`` takes to get exactly this release from git."""
    return f"git+{REPOSITORY_URL}.git@{release_tag(version)}"


def colab_url(notebook: str, version: str = __version__) -> str:
    """Address that opens ``notebook`` (a path in the repository) in Colab.

    Args:
        notebook: Path of an ``.ipynb`` file relative to the repository root,
            e.g. ``"book/glance.ipynb"``.
        version: The release whose copy of the notebook opens.
    """
    if not notebook.endswith(".ipynb"):
        raise ValueError(
            f"Colab opens notebooks only; got {notebook!r}, expected a "
            "path ending in .ipynb"
        )
    github = REPOSITORY_URL.removeprefix("https://github.com/")
    return (
        f"https://colab.research.google.com/github/{github}/blob/"
        f"{release_tag(version)}/{notebook.lstrip('/')}"
    )
