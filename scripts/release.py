"""Check that a release names one version everywhere, then build it.

Usage:
    python scripts/release.py            # check, build the wheel and site
    python scripts/release.py --no-site  # check and build the wheel only
    python scripts/release.py --check    # check only

The version is ``__version__`` in ``ddpm_lib/project.py``; its tag is
``v<version>``. Every place a reader's copy depends on must agree with it:
the book's launch buttons (``repository.branch`` in ``_config.yml``), the
citation file, the Colab set-up cell of every notebook (book, Colab
copies and student edition: ``pip install "git+...@v<version>"``) and the
Colab links of the student edition's README and of the book's Markdown
pages. Then the wheel is built into ``dist/`` and, unless ``--no-site``,
the site with ``scripts/book.sh`` (``_build/html``, with a ``.nojekyll``
file for GitHub Pages). Nothing is uploaded or tagged: the
script prints what to do. A problem is one ``error: ...`` line, exit 2.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# The pinned install line of a notebook's colab-setup cell.
PIP_TAG = re.compile(r"git\+\S+?\.git@([^\"'\s]+)")
# A Colab link's release: .../blob/<tag>/...
COLAB_TAG = re.compile(
    r"colab\.research\.google\.com/github/\S+?/blob/([^/]+)/"
)


class ReleaseError(Exception):
    """Something that stops the release; its message is one line."""


def read_version(root: Path) -> str:
    """``__version__`` of ``ddpm_lib/project.py``, read without importing."""
    path = root / "ddpm_lib" / "project.py"
    for node in ast.parse(path.read_text()).body:
        if (
            isinstance(node, ast.Assign)
            and [getattr(t, "id", None) for t in node.targets]
            == ["__version__"]
            and isinstance(node.value, ast.Constant)
        ):
            return node.value.value
    raise ReleaseError(f"no __version__ = '...' line in {path}")


def notebook_tags(path: Path) -> list[str]:
    """The tags pinned by a notebook's colab-setup cell(s)."""
    cells = json.loads(path.read_text())["cells"]
    setup = [
        "".join(c["source"])
        for c in cells
        if "colab-setup" in c.get("metadata", {}).get("tags", [])
    ]
    return [tag for source in setup for tag in PIP_TAG.findall(source)]


def check(root: Path) -> tuple[str, list[str]]:
    """The version, and every place that disagrees with it."""
    version = read_version(root)
    tag = f"v{version}"
    problems = []
    config = yaml.safe_load((root / "_config.yml").read_text())
    branch = config.get("repository", {}).get("branch")
    if branch != tag:
        problems.append(f"_config.yml repository.branch is {branch!r}")
    citation = yaml.safe_load((root / "CITATION.cff").read_text())
    if str(citation.get("version")) != version:
        problems.append(f"CITATION.cff version is {citation.get('version')!r}")
    notebooks = sorted(
        [
            *(root / "book").rglob("*.ipynb"),
            *(root / "student").rglob("*.ipynb"),
            *(root / "colab").rglob("*.ipynb"),
        ]
    )
    for path in notebooks:
        if ".ipynb_checkpoints" in path.parts:
            continue
        found = notebook_tags(path)
        name = path.relative_to(root)
        if not found:
            problems.append(f"{name} has no colab-setup install line")
        elif set(found) != {tag}:
            problems.append(f"{name} installs {', '.join(sorted(set(found)))}")
    for page in (
        root / "student" / "README.md",
        *sorted((root / "book").glob("*.md")),
    ):
        if page.is_file():
            other = sorted(set(COLAB_TAG.findall(page.read_text())) - {tag})
            if other:
                name = page.relative_to(root)
                problems.append(f"{name} links to {', '.join(other)}")
    return version, problems


def run(command: list[str], root: Path, what: str) -> None:
    out = subprocess.run(command, cwd=root, capture_output=True, text=True)
    if out.returncode != 0:
        last = (out.stderr or out.stdout).strip().splitlines()[-1:] or [""]
        raise ReleaseError(f"{what} failed ({' '.join(command)}): {last[0]}")


def build_wheel(root: Path, version: str) -> Path:
    dist = root / "dist"
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q"]
    run([*command, "-w", str(dist), str(root)], root, "building the wheel")
    wheels = sorted(dist.glob(f"ddpm_lib-{version}-*.whl"))
    if not wheels:
        raise ReleaseError(f"no ddpm_lib-{version}-*.whl in {dist}")
    return wheels[-1]


def build_site(root: Path) -> Path:
    run(["bash", "scripts/book.sh", "--quiet"], root, "building the site")
    site = root / "_build" / "html"
    (site / ".nojekyll").touch()
    return site


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="check the versions only"
    )
    parser.add_argument(
        "--no-site", action="store_true", help="build the wheel, not the site"
    )
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="the checkout (default: here)"
    )
    args = parser.parse_args(argv)
    root = args.root.resolve()
    try:
        version, problems = check(root)
        tag = f"v{version}"
        if problems:
            raise ReleaseError(
                f"version {version} (tag {tag}, ddpm_lib/project.py) "
                f"disagrees: {'; '.join(problems)}"
            )
        print(f"version {version}: every file names {tag}")
        if args.check:
            return 0
        wheel = build_wheel(root, version)
        site = None if args.no_site else build_site(root)
    except (ReleaseError, OSError, yaml.YAMLError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("To release:")
    print(f"  git tag {tag} && git push origin {tag}")
    print("    (the push publishes the site: .github/workflows/pages.yml)")
    print(f"  wheel: {wheel}")
    if site is not None:
        print(f"  site:  {site} (what the workflow deploys)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
