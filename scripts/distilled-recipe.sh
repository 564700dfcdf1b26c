#!/usr/bin/env bash
# The distilled cnn2d recipe, configs/recipes/cnn2d-distilled.json: six teachers, then the cnn2d student distilled
# from them, on the default speaker holdout. Resumable: a repeated call keeps the finished runs. Options after RUNS
# go to `serapp-train recipe` (--dry-run, --only STEP, --root ...); the fold loop is
# configs/recipes/cnn2d-distilled-crossval.json (scripts/crossval-cnn-model.sh).
#   bash scripts/distilled-recipe.sh [RUNS] [recipe options]   # RUNS: where the runs go (runs/cnn2d-distilled)
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/serapp-train recipe configs/recipes/cnn2d-distilled.json --runs "${1:-runs/cnn2d-distilled}" "${@:2}"
