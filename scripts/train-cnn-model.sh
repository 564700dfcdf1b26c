#!/usr/bin/env bash
# Reproduce assets/models/serapp-default.onnx: the distilled recipe (scripts/distilled-recipe.sh: six teachers,
# then the cnn2d student) on the default speaker holdout, and the student exported as the bundled model
# (docs/default-model/config.json is its config). 2.5-3.5 h on 2 cores.
#   bash scripts/train-default-model.sh [RUNS]   # RUNS: where the runs go (runs/default-model)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-runs/default-model}
bash scripts/distilled-recipe.sh "$runs"
.venv/bin/serapp-train export "$runs/student" --out assets/models/serapp-default.onnx --name serapp-default
