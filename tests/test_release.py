"""scripts/release.py: one version everywhere before anything is built."""

import importlib.util
import shutil
from pathlib import Path

import pytest

import ddpm_lib as dl

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "release.py"
# What the checks read.
FILES = ["ddpm_lib/project.py", "_config.yml", "CITATION.cff", "student"]


def load_script():
    spec = importlib.util.spec_from_file_location("release", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The files the checks read, copied from this checkout."""
    for name in FILES:
        source, target = ROOT / name, tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy(source, target)
    (tmp_path / "book").mkdir()
    for path in (ROOT / "book").glob("*.ipynb"):
        shutil.copy(path, tmp_path / "book" / path.name)
    return tmp_path


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_this_checkout_agrees_with_itself(capsys):
    release = load_script()
    assert release.check(ROOT) == (dl.__version__, [])
    assert release.main(["--check"]) == 0
    assert f"names v{dl.__version__}" in capsys.readouterr().out


@pytest.mark.parametrize(
    "name,expected",
    [
        ("_config.yml", "_config.yml repository.branch is 'v9.9.9'"),
        ("CITATION.cff", "CITATION.cff version is '9.9.9'"),
        ("book/glance.ipynb", "book/glance.ipynb installs v9.9.9"),
        ("student/forward.ipynb", "student/forward.ipynb installs v9.9.9"),
        ("student/README.md", "student/README.md links to v9.9.9"),
    ],
)
def test_a_planted_mismatch_is_one_error_line(copy, capsys, name, expected):
    release = load_script()
    version = dl.__version__
    if name == "CITATION.cff":
        replace(copy / name, f"version: {version}", "version: 9.9.9")
    else:
        replace(copy / name, f"v{version}", "v9.9.9")
    _, problems = release.check(copy)
    assert problems == [expected]
    # --check builds nothing: no wheel, no site.
    assert release.main(["--check", "--root", str(copy)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert expected in err
    assert not (copy / "dist").exists() and not (copy / "_build").exists()


def test_a_new_version_must_reach_every_file(copy):
    release = load_script()
    replace(copy / "ddpm_lib/project.py", f'"{dl.__version__}"', '"0.9.0"')
    version, problems = release.check(copy)
    assert version == "0.9.0"
    notebooks = len(list((copy / "book").glob("*.ipynb"))) + len(
        list((copy / "student").glob("*.ipynb"))
    )
    # branch, citation, every notebook and the student README
    assert len(problems) == 2 + notebooks + 1


def test_a_notebook_without_an_install_line_is_named(copy):
    release = load_script()
    path = copy / "book" / "glance.ipynb"
    replace(path, "colab-setup", "something-else")
    _, problems = release.check(copy)
    assert problems == ["book/glance.ipynb has no colab-setup install line"]
