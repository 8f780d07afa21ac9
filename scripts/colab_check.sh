#!/usr/bin/env bash
# A Colab-like run of the book: a fresh virtual environment holding only
# what Colab already ships (with ipywidgets 7.7.1, as on Colab) plus the
# library installed the way a reader's setup cell installs it
# (pip install --no-deps of a built wheel, no editable install), then every
# notebook of _toc.yml executed top to bottom in that environment.
#
#   bash scripts/colab_check.sh [ENV_DIR] [--full] [--student] [--link-torch-from VENV]
#
#   ENV_DIR        the environment (default /tmp/colab-env); reused when it
#                  holds the stamp of the same package list.
#   --full         run the chapters in full mode (default: DDPM_FAST=1).
#   --student      run the student edition (student/*.ipynb, every exercise
#                  unfinished) instead of the book's chapters; each
#                  exercise's check must then say "not written yet".
#   --link-torch-from VENV
#                  hard-link torch, torchvision and their CUDA libraries from
#                  the environment VENV (same Python, same disk) instead of
#                  installing them: the same files, without ~5 GB more disk.
#
# Deliberately absent (Colab lacks them): torchmetrics, diffusers,
# jupyter-book, sphinx, myst-nb, nbval, pytest. A chapter that needs one of
# them fails here, as it would on Colab.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
say() { printf '\033[1m[colab-check]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[colab-check]\033[0m %s\n' "$*" >&2; exit 1; }

env_dir=/tmp/colab-env
fast=1
student=0
link_from=""
while [ $# -gt 0 ]; do
  case "$1" in
    --full) fast=0 ;;
    --student) student=1 ;;
    --link-torch-from) link_from=${2:?--link-torch-from needs a folder}; shift ;;
    -h | --help) sed -n '2,23p' "$0"; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) env_dir=$1 ;;
  esac
  shift
done
env_dir=$(realpath -m "$env_dir")  # absolute: the run below changes folder

# What Colab ships and the chapters use. Plain names for torch/torchvision:
# pip takes the release it finds (Colab keeps its own torch the same way).
packages=(torch torchvision numpy matplotlib ipywidgets==7.7.1 tqdm pillow
  scipy ipykernel nbclient nbformat)
python=${PYTHON:-python3}
py_version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
stamp="$env_dir/.colab-check-$(printf '%s\n' "$py_version" "${packages[@]}" |
  sha256sum | cut -c1-16)"
py="$env_dir/bin/python"
# pip install, without this machine's notes about missing local index folders.
pip_install() {
  "$py" -m pip install --disable-pip-version-check -q "$@" 2>&1 |
    { grep -v 'is neither a file nor a directory' || true; }
}

# 1. The environment: created once, reused while its stamp matches.
if [ -f "$stamp" ]; then
  say "reusing $env_dir"
else
  say "creating $env_dir (Python $py_version)"
  if [ -e "$env_dir" ]; then  # only ever delete an old environment
    [ -f "$env_dir/pyvenv.cfg" ] || die "$env_dir exists and is no virtual environment"
    rm -rf "$env_dir"
  fi
  "$python" -m venv "$env_dir"
  if [ -n "$link_from" ]; then
    # The distributions torch and torchvision need from that environment
    # (torch, torchvision, triton, nvidia-*, cuda-*), hard-linked file by
    # file into the new site-packages; pip then sees them as installed.
    src_sp=$("$link_from/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    dst_sp=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    [ "$(basename "$(dirname "$src_sp")")" = "python$py_version" ] ||
      die "$link_from is not a Python $py_version environment"
    "$link_from/bin/python" - "$src_sp" >"$env_dir/.linked" <<'EOF'
import re, sys
from importlib import metadata
from pathlib import Path
site = Path(sys.argv[1])
wanted = re.compile(r"^(torch|torchvision|triton|nvidia-.*|cuda-.*)$")
todo, seen, tops = ["torch", "torchvision"], set(), set()
while todo:
    name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
    if name in seen or not wanted.match(name):
        continue
    seen.add(name)
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        continue  # an optional extra that is not installed there
    for f in dist.files or []:
        if not str(f).startswith(".."):  # skip bin/ scripts
            tops.add(f.parts[0])
    for req in dist.requires or []:  # extras too (cuda-toolkit[...])
        todo.append(re.split(r"[ ;<>=!~\[(]", req, maxsplit=1)[0])
print("\n".join(sorted(t for t in tops if (site / t).exists())))
EOF
    say "hard-linking $(wc -l <"$env_dir/.linked") entries of torch & co. from $link_from"
    while read -r top; do cp -al "$src_sp/$top" "$dst_sp/"; done <"$env_dir/.linked"
  else
    free_gb=$(df -P -BG "$(dirname "$env_dir")" | awk 'NR == 2 { print int($4) }')
    [ "$free_gb" -ge 8 ] || die "torch with its CUDA libraries needs ~6 GB; only ${free_gb} GB free here. Use --link-torch-from .venv"
  fi
  say "installing: ${packages[*]} (minutes)"
  pip_install "${packages[@]}"
  "$py" -m pip check >/dev/null || { "$py" -m pip check; die "pip check failed"; }
  "$py" -m ipykernel install --sys-prefix --name colab-check \
    --display-name "Python (colab-check)" >/dev/null
  touch "$stamp"
fi

# 2. The library as a Colab reader gets it: a wheel of the repository's
# files (those git tracks or would add), pip install --no-deps. Built from
# a copy, so nothing is written into the repository.
work=$(mktemp -d /tmp/colab-check.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src" "$work/dist"
if git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
  git -C "$repo" ls-files -z -co --exclude-standard |
    tar -C "$repo" --null -T - --ignore-failed-read -cf - 2>/dev/null |
    tar -C "$work/src" -xf -
else
  cp -r "$repo"/{pyproject.toml,README.md,LICENSE,ddpm_lib} "$work/src/"
fi
say "building and installing the ddpm_lib wheel (--no-deps)"
"$py" -m pip wheel --disable-pip-version-check -q --no-deps -w "$work/dist" "$work/src" 2>&1 |
  { grep -v 'is neither a file nor a directory' || true; }
pip_install --no-deps --force-reinstall "$work"/dist/ddpm_lib-*.whl

# 3. The chapters run from a copy of book/ (and results/, which a chapter
# reads; on Colab load_result fetches the same files from the release), so
# the repository's ddpm_lib folder is not on sys.path.
mkdir -p "$work/run"
cp -r "$repo/book" "$work/run/book"
rm -rf "$work/run/book/_build"
[ -d "$repo/results" ] && cp -r "$repo/results" "$work/run/results"
# The toc's root and files, in order, that are notebooks; or the student
# edition, run from its own folder as a student would.
if [ "$student" = 1 ]; then
  cp -r "$repo/student" "$work/run/student"
  notebooks=$(cd "$work/run" && ls student/*.ipynb)
else
notebooks=$(sed -nE 's/^[[:space:]]*-?[[:space:]]*(root|file):[[:space:]]*(.*[^[:space:]])[[:space:]]*$/\2/p' "$repo/_toc.yml" |
  while read -r f; do if [ -f "$repo/${f%.ipynb}.ipynb" ]; then echo "${f%.ipynb}.ipynb"; fi; done)
fi
[ -n "$notebooks" ] || die "no notebooks to run"

# Like Colab: live widgets (no book build), matplotlib's default backend in
# the kernel, nothing of the repository or the developer's set-up on paths.
unset DDPM_BOOK_BUILD MPLBACKEND PYTHONPATH JUPYTER_PATH PYTHONSTARTUP VIRTUAL_ENV
export DDPM_FAST=$fast PATH="$env_dir/bin:$PATH"
say "running $(echo "$notebooks" | wc -l) notebooks (DDPM_FAST=$fast)"
cd "$work/run"
# shellcheck disable=SC2086
"$py" - "$env_dir" "$fast" "$student" $notebooks <<'EOF'
import re, sys, time
from pathlib import Path

import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

env_dir, fast = Path(sys.argv[1]).resolve(), sys.argv[2] == "1"
student, names = sys.argv[3] == "1", sys.argv[4:]
timeout = 900 if fast else 4 * 3600  # seconds per cell
ansi = re.compile(r"\x1b\[[0-9;]*m")

# A first notebook checks the environment itself: the kernel is the
# environment's Python, ddpm_lib comes from the installed wheel, widgets
# are 7.7.1, the absent packages are absent, and an explorer's live
# sliders redraw when a value changes (the Python side of the widgets).
PROBE = f"""
import importlib.util, sys
from pathlib import Path
import ddpm_lib, ipywidgets, torch
env = Path({str(env_dir)!r})
print("python", sys.executable)
print("ddpm_lib", ddpm_lib.__file__)
print("ipywidgets", ipywidgets.__version__, "torch", torch.__version__)
assert Path(sys.prefix).resolve() == env, sys.prefix
assert Path(ddpm_lib.__file__).resolve().is_relative_to(env), ddpm_lib.__file__
assert ipywidgets.__version__ == "7.7.1", ipywidgets.__version__
absent = [m for m in ("torchmetrics", "diffusers", "sphinx", "myst_nb", "pytest")
          if importlib.util.find_spec(m)]
assert not absent, f"not on Colab, yet installed: {{absent}}"
import matplotlib.pyplot as plt
from ddpm_book.modes import book_build
from ddpm_book.explorer import explore
assert not book_build()
drawn = []
def render(a, kind):
    drawn.append((a, kind))
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.set_title(f"{{a}} {{kind}}")
    return fig
box = explore(render, {{"a": [1, 2, 3], "kind": ["x", "y"]}}).widget()
box.children[0].value = 3
box.children[1].value = "y"
assert drawn == [(1, "x"), (3, "x"), (3, "y")], drawn
print("live explorer ok")
"""


def run(nb, path):
    # Local sockets rather than TCP (ipykernel 7 warns about plain TCP).
    # An absolute socket path: the kernel runs in the notebook's folder.
    km = KernelManager(
        kernel_name="colab-check", transport="ipc",
        ip=str(Path("kernel-ipc").resolve()),
    )
    client = NotebookClient(
        nb, km=km, timeout=timeout, kernel_name="colab-check",
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()
    finally:  # nbclient leaves a kernel it did not create running
        if km.has_kernel:
            km.shutdown_kernel()


def error_of(nb, exc):
    """The failing cell's source head and its error, as plain text."""
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                tb = ansi.sub("", "\n".join(out.get("traceback", [])))
                src = "\n".join(cell.source.splitlines()[:6])
                return f"cell {i}:\n{src}\n---\n{tb[-3000:]}"
    return ansi.sub("", str(exc))[-3000:]


def stderr_of(nb):
    """Distinct stderr lines of the run (warnings a Colab reader sees)."""
    lines = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                for line in ansi.sub("", out.get("text", "")).splitlines():
                    line = line.strip()
                    if line and "\r" not in line and line not in lines:
                        lines.append(line)
    return lines


failed = []
jobs = [("(environment probe)", None)] + [(n, Path(n)) for n in names]
for name, path in jobs:
    if path is None:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(PROBE)])
        path = Path("book/_probe.ipynb").resolve()
    else:
        nb = nbformat.read(path, as_version=4)
        path = path.resolve()
    start = time.perf_counter()
    try:
        run(nb, path)
        status, detail = "ok", ""
        if student and path.name != "_probe.ipynb":
            verdicts = [
                "".join(o.get("text", "") for o in c.get("outputs", []))
                for c in nb.cells
                if c.cell_type == "code" and "print(ex.check_" in c.source
            ]
            done = [v for v in verdicts if "not written yet" not in v]
            if not verdicts or done:
                status, detail = "FAILED", f"checks that did not say 'not written yet': {done or 'none found'}"
                failed.append(name)
    except (CellExecutionError, CellTimeoutError, RuntimeError) as exc:
        status, detail = "FAILED", error_of(nb, exc)
        failed.append(name)
    print(f"{name:32s} {status:7s} {time.perf_counter() - start:7.1f} s",
          flush=True)
    if detail:
        print("    " + detail.replace("\n", "\n    "), flush=True)
    for line in stderr_of(nb)[:5]:
        print(f"    stderr: {line[:150]}", flush=True)
if failed:
    print(f"{len(failed)} failed: {', '.join(failed)}")
sys.exit(1 if failed else 0)
EOF
