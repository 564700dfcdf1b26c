#!/usr/bin/env bash
# Reproduce assets/models/serapp-cnn.onnx (the fast CNN, the default model until Whisper replaced it): the distilled recipe (scripts/distilled-recipe.sh: six teachers,
# then the cnn2d student) on the default speaker holdout, and the student exported as that bundled model
# (docs/models/cnn2d-student/config.json is its config). 2.5-3.5 h on 2 cores.
#   bash scripts/train-cnn-model.sh [RUNS]   # RUNS: where the runs go (runs/default-model)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-runs/default-model}
bash scripts/distilled-recipe.sh "$runs"
.venv/bin/serapp-train export "$runs/student" --out assets/models/serapp-cnn.onnx --name serapp-cnn
