#!/usr/bin/env bash
# Reproduce assets/models/serapp-default.onnx as configs/recipes/whisper-default.json says (the whisper_tiny head,
# its int8 export installed, the manifest updated, the run's records in docs/models/whisper-tiny). Resumable: a
# repeated call keeps the finished steps. Options after RUNS go to `serapp-train recipe` (--dry-run, --root ...).
#   bash scripts/train-default-model.sh [RUNS] [recipe options]   # RUNS: where the runs go (runs/whisper-default)
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/serapp-train recipe configs/recipes/whisper-default.json --runs "${1:-runs/whisper-default}" "${@:2}"
