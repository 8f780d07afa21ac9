#!/usr/bin/env bash
# Builds the book into _build/html, executing every chapter.
# Usage: bash scripts/book.sh [--quiet]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
quiet=""
[ "${1:-}" = --quiet ] && quiet="--quiet"
# Explorers emit self-contained JavaScript sliders over precomputed frames
# (no kernel on a static page); progress bars print plain text.
export DDPM_BOOK_BUILD=1
# -W turns warnings (broken references, failing notebooks) into errors.
jupyter-book build . --all -W --keep-going $quiet
say "the book is at $PWD/_build/html/index.html"
