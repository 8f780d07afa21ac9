#!/usr/bin/env bash
# The whole test suite: unit tests, every notebook (nbval), the book build
# and a check of the built site in a browser, offline.
# Usage: bash scripts/test.sh [extra pytest arguments]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
export DDPM_FAST=${DDPM_FAST:-1}  # small sizes, same code paths

# Two test workers share the cores: half the cores each for torch. More
# threads than cores make torch's parallel regions wait on descheduled
# threads, which slowed a notebook's 1000-step sampling loop from under a
# minute to over fifteen.
threads=$(( $(nproc) / 2 )); [ "$threads" -ge 1 ] || threads=1
echo "== unit tests and notebooks (DDPM_FAST=$DDPM_FAST)"
OMP_NUM_THREADS=${OMP_NUM_THREADS:-$threads} python -m pytest -n 2 \
  --dist loadscope tests book --nbval-lax --nbval-current-env "$@"

echo "== the book, warnings as errors"
bash scripts/book.sh --quiet

echo "== the built site in Chromium, offline (math, explorers, no JS errors)"
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
  python scripts/check_site.py _build/html --screenshots _build/screenshots
else
  say "skipped: no Chromium (scripts/setup.sh says how to install it)"
fi
