"""The notebooks' set-up cell, ``project.setup_cell()``, run for real.

The cell is plain Python, so each test runs its source with ``python -c``:
here, where ddpm_lib is installed (nothing to do), and in a fresh virtual
environment, where it installs the release from a local clone exactly as
it would from GitHub, or fails with a RuntimeError that says why. Offline:
pip is given no index and builds the wheel with the setuptools at hand.
"""

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest
import torch

from ddpm_lib import project

ROOT = Path(__file__).resolve().parents[1]
VERSION = project.__version__
SPEC_LINE = re.compile(r'^SPEC = "[^"\n]*"$', re.MULTILINE)
# Installing builds a wheel from a git clone: seconds, minutes at worst.
SLOW = 600


def run(command: list, **kwargs) -> subprocess.CompletedProcess:
    """Run ``command``, capture its output as text, fail on a nonzero exit."""
    kwargs.setdefault("timeout", SLOW)
    out = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert out.returncode == 0, f"{command}:\n{out.stdout}\n{out.stderr}"
    return out


def with_spec(source: str, spec: str) -> str:
    """``source`` with only its ``SPEC = "..."`` line pointing at ``spec``."""
    new, count = SPEC_LINE.subn(f'SPEC = "{spec}"', source)
    assert count == 1, "one SPEC line in the set-up cell"
    return new


def test_the_cell_pins_one_release_in_plain_python():
    source = project.setup_cell("1.2.3")
    assert 'RELEASE = "1.2.3"\n' in source
    assert f'SPEC = "{project.pip_spec("1.2.3")}"\n' in source
    compile(source, "setup-cell", "exec")  # plain Python: %pip would fail
    assert not source.endswith("\n"), "a notebook cell ends without one"
    assert max(len(line) for line in source.splitlines()) <= 79


def test_here_it_installs_nothing_and_prints_the_versions(tmp_path):
    # ddpm_lib (this checkout) is importable here, at this version: the cell
    # must not call pip. Git may use no network protocol, so an install
    # attempt would fail rather than reach GitHub.
    env = dict(os.environ, GIT_ALLOW_PROTOCOL="file", PIP_NO_INDEX="1")
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH")) if p
    )
    out = run(
        [sys.executable, "-c", project.setup_cell()], env=env, cwd=tmp_path
    )
    first = out.stdout.splitlines()[0]
    assert first.startswith(f"ddpm_lib {VERSION} (already installed), ")
    assert f"torch {torch.__version__}" in first
    if not torch.cuda.is_available():
        assert first.endswith(", CPU")
        assert 'os.environ["DDPM_FAST"] = "1"' in out.stdout
        assert "Runtime › Change runtime type" not in out.stdout  # not Colab


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A clone of this repository's committed state, tagged v<version>.

    The tag is added to the clone when the repository lacks it (before a
    release); nothing is written to the repository itself. (A version
    bumped but not yet committed makes the install tests fail: the clone
    still holds the old one.)
    """
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    path = tmp_path_factory.mktemp("clone") / "repo"
    run(["git", "clone", "-q", str(ROOT), str(path)])
    tag = project.release_tag(VERSION)
    tags = run(["git", "-C", str(path), "tag", "--list", tag]).stdout
    if not tags.strip():
        run(["git", "-C", str(path), "tag", tag])
    return path


def local_spec(clone: Path, tag: str) -> str:
    # localhost: a requirement "name @ URL" needs a URL with a host.
    return f"git+file://localhost{clone.as_posix()}@{tag}"


@pytest.fixture
def venv(tmp_path) -> Path:
    """The Python of a fresh virtual environment, with pip, without ddpm_lib,
    that can import this environment's torch and numpy."""
    run([sys.executable, "-m", "venv", str(tmp_path / "venv")])
    python = tmp_path / "venv" / "bin" / "python"
    purelib = Path(
        run(
            [
                python,
                "-c",
                "import sysconfig as s; print(s.get_path('purelib'))",
            ]
        ).stdout.strip()
    )
    # A plain path line in a .pth file appends this environment's packages
    # to sys.path without running *their* .pth files, so the editable
    # ddpm_lib (a finder that a .pth file starts) stays out of reach.
    (purelib / "outer.pth").write_text(sysconfig.get_path("purelib") + "\n")
    # Before Python 3.12 a venv gets an old setuptools of its own, which
    # would hide this environment's (torch needs a newer one): remove it,
    # from the new environment only, as Python 3.12 would not add it.
    if list(purelib.glob("setuptools-*.dist-info")):
        run([python, "-m", "pip", "uninstall", "-q", "-y", "setuptools"])
    return python


def venv_env(fake_colab: Path | None = None) -> dict:
    """Environment variables for running the cell in the fresh venv."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    }
    env.update(
        # Offline: pip may not look for anything to download (the
        # dependencies are found installed, through outer.pth).
        PIP_NO_INDEX="1",
        # Build the wheel with the setuptools already importable instead of
        # downloading one into an isolated build environment. pip reads
        # the variable into its `build_isolation` setting, so 0 (false)
        # turns isolation OFF, the opposite of what the name suggests.
        # Learners' installs keep isolation and fetch setuptools online.
        PIP_NO_BUILD_ISOLATION="0",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        OMP_NUM_THREADS="1",
    )
    if fake_colab is not None:
        env["PYTHONPATH"] = str(fake_colab)
    return env


def fake_colab(tmp_path: Path) -> Path:
    """A folder holding an empty package ``google.colab``."""
    folder = tmp_path / "fake-colab"
    (folder / "google" / "colab").mkdir(parents=True)
    (folder / "google" / "__init__.py").write_text("")
    (folder / "google" / "colab" / "__init__.py").write_text("")
    return folder


# Colab's kernel has imported google.colab before the first cell runs.
ON_COLAB = "import google.colab\n"


def python_c(python: Path, code: str, env: dict, cwd: Path):
    """``python -c code``, finished, with its output captured."""
    return subprocess.run(
        [python, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=SLOW,
    )


def where_ddpm_lib(python: Path, env: dict, cwd: Path):
    """ddpm_lib.__file__ in that Python, or None when it does not import."""
    code = "import ddpm_lib; print(ddpm_lib.__file__)"
    out = python_c(python, code, env, cwd)
    if out.returncode != 0:
        assert "No module named 'ddpm_lib'" in out.stderr, out.stderr
        return None
    return Path(out.stdout.strip())


@pytest.mark.parametrize("colab", [True, False], ids=["colab", "elsewhere"])
def test_installs_the_release_in_a_fresh_environment_once(
    clone, venv, tmp_path, colab
):
    env = venv_env(fake_colab(tmp_path) if colab else None)
    work = tmp_path / "work"  # no ddpm_lib folder in the current folder
    work.mkdir()
    assert where_ddpm_lib(venv, env, work) is None, "ddpm_lib is importable"
    spec = local_spec(clone, project.release_tag(VERSION))
    cell = (ON_COLAB if colab else "") + with_spec(project.setup_cell(), spec)

    start = time.perf_counter()
    out = run([venv, "-c", cell], env=env, cwd=work)
    first = time.perf_counter() - start
    line = out.stdout.splitlines()[0]
    assert line.startswith(f"ddpm_lib {VERSION} (installed), torch ")
    if "CPU" in line:
        colab_tip = "Runtime › Change runtime type › GPU" in out.stdout
        assert colab_tip == colab
    where = where_ddpm_lib(venv, env, work)
    assert where is not None and where.is_relative_to(tmp_path / "venv")
    record = next(where.parents[1].glob("ddpm_lib-*.dist-info")) / "RECORD"
    installed_at = record.stat().st_mtime_ns

    # A second run (a re-run of the cell, or the next chapter) skips pip.
    start = time.perf_counter()
    out = run([venv, "-c", cell], env=env, cwd=work)
    second = time.perf_counter() - start
    assert out.stdout.startswith(f"ddpm_lib {VERSION} (already installed)")
    assert record.stat().st_mtime_ns == installed_at, "installed again"
    assert second < first, (second, first)


def test_a_failed_install_raises_a_runtime_error_that_says_why(
    clone, venv, tmp_path
):
    env = venv_env(fake_colab(tmp_path))
    spec = local_spec(clone, "v0.0.0-no-such-tag")
    cell = ON_COLAB + with_spec(project.setup_cell(), spec)
    out = python_c(venv, cell, env, tmp_path)
    assert out.returncode != 0 and out.stdout == ""
    last = out.stderr.strip().splitlines()[-1]
    assert "ModuleNotFoundError" not in out.stderr
    assert f"RuntimeError: pip could not install {spec}:" in out.stderr
    # pip's report of the step that failed, not only its closing summary
    error = out.stderr.split("RuntimeError: ", 1)[1]
    assert "git checkout -q v0.0.0-no-such-tag did not run" in error
    assert "Check the internet connection and that git is installed" in (
        out.stderr
    )
    assert last.endswith("in a clone: pip install -e '.[data,book]'")


def test_another_version_imported_earlier_asks_for_a_restart(
    clone, venv, tmp_path
):
    # An older ddpm_lib, imported before the cell runs (another release's
    # notebook ran in this kernel): Python keeps it until a restart.
    old = tmp_path / "old"
    (old / "ddpm_lib").mkdir(parents=True)
    (old / "ddpm_lib" / "__init__.py").write_text('__version__ = "0.0.1"\n')
    earlier = (
        f"import sys\nsys.path.insert(0, {str(old)!r})\nimport ddpm_lib\n"
        f"sys.path.remove({str(old)!r})\n"
    )
    env = venv_env(fake_colab(tmp_path))
    spec = local_spec(clone, project.release_tag(VERSION))
    cell = ON_COLAB + with_spec(project.setup_cell(), spec)
    out = subprocess.run(
        [venv, "-c", earlier + cell],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=SLOW,
    )
    assert out.returncode != 0 and out.stdout == ""
    assert out.stderr.strip().splitlines()[-1] == (
        f"RuntimeError: ddpm_lib 0.0.1 is imported, not {VERSION}: restart "
        "the runtime (kernel) and run this cell again."
    )
    # It did install the release first: after the restart, all is well.
    out = run([venv, "-c", ON_COLAB + cell], env=env, cwd=tmp_path)
    assert out.stdout.startswith(f"ddpm_lib {VERSION} (already installed)")
