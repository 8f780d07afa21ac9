"""Where the project lives: the one place that names its repository and tags.

Everything that links to the repository (the book's launch buttons, the
Colab set-up cell, student links, packaging metadata, the citation file)
derives from the two constants here; a test checks that the static files
(``_config.yml``, ``pyproject.toml``, ``CITATION.cff``) agree with them.
"""

from string import Template

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


# The first code cell of every chapter (tagged colab-setup). Plain Python,
# not %pip: a failed install raises here instead of leaving the next cell
# to die with ModuleNotFoundError, and a test can run it with python -c.
_SETUP_CELL = Template(
    r"""
# Set-up: install the release of ddpm_lib this page belongs to, if needed,
# then show the versions and the device this chapter runs on.
import importlib
import subprocess
import sys

RELEASE = "$release"
SPEC = "$spec"
COLAB = "google.colab" in sys.modules

try:
    from ddpm_lib import __version__ as found
except ImportError:  # not installed yet
    found = None
how = "already installed"
if found != RELEASE:
    # Colab has torch, torchvision, matplotlib and ipywidgets: keep them;
    # elsewhere pip adds what is missing and keeps a recent enough torch.
    what = ["--no-deps", SPEC] if COLAB else [f"ddpm_lib[data,book] @ {SPEC}"]
    pip = [sys.executable, "-m", "pip", "install", "-q", *what]
    out = subprocess.run(pip, capture_output=True, text=True)
    if out.returncode != 0:
        # pip repeats its error after a note; the first copy has the cause.
        error = out.stderr.split("\nnote:")[0].strip()
        raise RuntimeError(
            f"pip could not install {SPEC}:\n{error}\n"
            "Check the internet connection and that git is installed, and "
            "run this cell again; or in a clone: pip install -e '.[data,book]'"
        )
    importlib.invalidate_caches()
    from ddpm_lib import __version__ as found  # the old one if imported

    if found != RELEASE:
        raise RuntimeError(
            f"ddpm_lib {found} is imported, not {RELEASE}: restart the "
            "runtime (kernel) and run this cell again."
        )
    how = "installed"
import torch  # noqa: E402 (installed by now)

gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
print(f"ddpm_lib {RELEASE} ({how}), torch {torch.__version__}, {gpu}")
if gpu == "CPU":
    tip = "use Runtime › Change runtime type › GPU, or " if COLAB else ""
    print(
        f'No GPU: {tip}set os.environ["DDPM_FAST"] = "1" before the '
        "chapter's other cells to run them at small sizes."
    )
"""
)


def setup_cell(version: str = __version__) -> str:
    """Source of the set-up cell that pins ``version`` of ddpm_lib.

    The cell skips the install when that version imports already (a
    clone with ``pip install -e .``, or a second run), installs it from
    :func:`pip_spec` otherwise (on Colab with ``--no-deps``, keeping
    Colab's torch), raises ``RuntimeError`` when pip fails or another
    version is imported in the running kernel, and prints the versions
    and the device.
    """
    cell = _SETUP_CELL.substitute(release=version, spec=pip_spec(version))
    return cell.strip("\n")  # a notebook cell ends without a newline
