#!/usr/bin/env bash
# Reproduce assets/models/serapp-cnn.onnx, the fast CNN, as configs/recipes/cnn-fast.json says (one crnn_small run,
# exported as serapp-cnn and installed, its records in docs/models/crnn-small). Resumable: a repeated call keeps the
# finished steps. Options after RUNS go to `serapp-train recipe` (--dry-run, --root ...).
#   bash scripts/train-cnn-model.sh [RUNS] [recipe options]   # RUNS: where the runs go (runs/cnn-fast)
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/serapp-train recipe configs/recipes/cnn-fast.json --runs "${1:-runs/cnn-fast}" "${@:2}"
