#!/usr/bin/env bash
# Regenerate docs/screenshots/*.png under a virtual X display (needs xvfb-run and the shared corpora).
set -euo pipefail
cd "$(dirname "$0")/.."
exec xvfb-run -a -s "-screen 0 1600x1000x24 -dpi 96" python scripts/screenshots.py "$@"
