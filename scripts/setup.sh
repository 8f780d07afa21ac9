#!/usr/bin/env bash
# Shared set-up of the two quick-start commands (sourced by book.sh and
# test.sh): a virtual environment in .venv with the requirements and
# ddpm_lib installed, and Fashion-MNIST on disk.
#   PYTHON=python3.12 bash scripts/test.sh   picks another interpreter.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[setup]\033[0m %s\n' "$*" >&2; exit 1; }

python=${PYTHON:-python3}
command -v "$python" >/dev/null || die "no $python found; install Python >= 3.10 (Debian/Ubuntu: sudo apt-get install python3 python3-venv)"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
  die "Python >= 3.10 is needed; $python is $("$python" --version 2>&1)"

# 1. The virtual environment, reinstalled only when a requirement changed.
if [ ! -x .venv/bin/python ]; then
  say "creating the virtual environment .venv"
  "$python" -m venv .venv ||
    die "python -m venv failed; on Debian/Ubuntu: sudo apt-get install python3-venv"
fi
stamp=".venv/.installed-$(cat requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  say "installing the requirements (PyTorch is large: the first time takes minutes)"
  .venv/bin/python -m pip install --disable-pip-version-check -q \
    -r requirements-dev.txt -e . || die "pip install failed (see above)"
  rm -f .venv/.installed-* && touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"

# 2. Fashion-MNIST: $DDPM_DATA_DIR, else the Debian/Ubuntu package.
have_fashion_mnist() {
  local dir
  for dir in "${DDPM_DATA_DIR:-}" /usr/share/datasets/fashion-mnist; do
    [ -n "$dir" ] && ls "$dir"/t10k-images-idx3-ubyte* >/dev/null 2>&1 && return 0
  done
  return 1
}
if ! have_fashion_mnist; then
  install="apt-get install -y dataset-fashion-mnist"
  if command -v apt-get >/dev/null; then
    if [ "$(id -u)" = 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo"; else sudo="none"; fi
    if [ "$sudo" != none ]; then
      say "installing Fashion-MNIST: $install"
      { $sudo apt-get update -q && $sudo $install; } >/dev/null 2>&1 ||
        say "could not run: sudo $install"
    fi
  fi
  if ! have_fashion_mnist; then
    msg="Fashion-MNIST is missing. Run: sudo apt-get install dataset-fashion-mnist (Debian/Ubuntu), or set DDPM_DATA_DIR to a folder holding its four .gz files."
    [ "${CI:-}" = true ] && die "$msg"
    say "$msg Without it, ddpm_lib downloads it through torchvision where the internet is reachable, and the tests that need it are skipped."
  fi
fi
