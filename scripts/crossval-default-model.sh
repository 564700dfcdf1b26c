#!/usr/bin/env bash
# Cross-validate the shipped recipe: the distilled recipe (scripts/distilled-recipe.sh) on each fold of
# `--protocol corpus-kfold --k 4` (each corpus's speakers in 4 folds: SAVEE leave-one-speaker-out, RAVDESS and
# CREMA-D by actor), then every fold's student scored on its own test speakers and pooled by `serapp-train
# crossval`. 28 runs, about 7 h on 2 cores (11-18 min a run); finished runs are kept, so repeated calls resume
# (RUNS must outlive the session that started it).
#   bash scripts/crossval-default-model.sh [RUNS] [OUT]   # runs/crossval-default, docs/default-model/crossval-student
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-runs/crossval-default}
out=${2:-docs/default-model/crossval-student}
for fold in 1 2 3 4; do
  bash scripts/distilled-recipe.sh "$runs/fold$fold" --protocol corpus-kfold --k 4 --fold "$fold"
done
.venv/bin/serapp-train crossval "$runs"/fold{1,2,3,4}/student --out "$out" \
  --command "bash scripts/crossval-default-model.sh"
