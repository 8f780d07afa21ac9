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
# Installs Debian/Ubuntu packages where we are root or have sudo without a
# password; returns non-zero where it cannot (the caller says what to run).
apt_install() {
  local sudo
  command -v apt-get >/dev/null || return 1
  if [ "$(id -u)" = 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo"; else return 1; fi
  say "installing: apt-get install -y $*"
  { $sudo apt-get update -q && $sudo apt-get install -y "$@"; } >/dev/null 2>&1 ||
    { say "could not run: sudo apt-get install -y $*"; return 1; }
}

if ! have_fashion_mnist; then
  apt_install dataset-fashion-mnist || true
  if ! have_fashion_mnist; then
    msg="Fashion-MNIST is missing. Run: sudo apt-get install dataset-fashion-mnist (Debian/Ubuntu), or set DDPM_DATA_DIR to a folder holding its four .gz files."
    [ "${CI:-}" = true ] && die "$msg"
    say "$msg Without it, ddpm_lib downloads it through torchvision where the internet is reachable, and the tests that need it are skipped."
  fi
fi

# 3. onnxruntime-web, which runs the pretrained model in the sampling
#    chapter's page (package.json pins it; the site serves its files).
if ! command -v npm >/dev/null; then
  apt_install nodejs npm || true
  command -v npm >/dev/null ||
    die "Node.js and npm are missing; the book's site serves onnxruntime-web from npm. Run: sudo apt-get install nodejs npm"
fi
npm_stamp="node_modules/.installed-$(sha256sum package-lock.json | cut -c1-16)"
if [ ! -f "$npm_stamp" ]; then
  say "installing onnxruntime-web (npm ci)"
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null ||
    die "npm ci failed (see above); the npm registry must be reachable once"
  touch "$npm_stamp"
fi

# 4. Chromium, for the offline browser check of the built site
#    (scripts/check_site.py drives the system's browser; it never downloads one).
have_chromium() { command -v chromium >/dev/null || command -v chromium-browser >/dev/null; }
if ! have_chromium; then
  apt_install chromium || true
  if ! have_chromium; then
    msg="Chromium is missing; the browser check of the built site needs it. Run: sudo apt-get install chromium (Debian; on Ubuntu chromium-browser)."
    [ "${CI:-}" = true ] && die "$msg"
    say "$msg Without it, scripts/test.sh skips that check."
  fi
fi
