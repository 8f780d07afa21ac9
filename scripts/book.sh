#!/usr/bin/env bash
# Builds the book into _build/html, executing every chapter.
# Usage: bash scripts/book.sh [--quiet]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
quiet=""
[ "${1:-}" = --quiet ] && quiet="--quiet"
# -W turns warnings (broken references, failing notebooks) into errors.
jupyter-book build . --all -W --keep-going $quiet
say "the book is at $PWD/_build/html/index.html"
