#!/usr/bin/env bash
# Set up (once) and run the desktop app on the bundled model. Extra arguments go to `serapp`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/serapp "$@"
