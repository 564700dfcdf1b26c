#!/usr/bin/env bash
# The project's test command (the README's): lint, then the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
ruff check .
python -m pytest -q "$@"
