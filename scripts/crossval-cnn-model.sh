#!/usr/bin/env bash
# Cross-validate the shipped recipe: the distilled recipe (scripts/distilled-recipe.sh) on each fold of
# `--protocol corpus-kfold --k 4` (each corpus's speakers in 4 folds: SAVEE leave-one-speaker-out, RAVDESS and
# CREMA-D by actor), then every fold's student scored on its own test speakers and pooled by `serapp-train
# crossval`; each fold's base recipe, teachers' mean and student are also scored on its validation and test speakers
# (scripts/score-fold.sh). 28 runs, 20-32 min a run on 2 cores; finished runs are kept, so repeated calls resume.
# RUNS defaults to runs/cnn2d-student/crossval-student (git-ignored, like every run folder): the fold runs are
# experiment artifacts that the command regenerates, so only OUT's generated summaries (crossval.json, README.md,
# confusion PNGs) are tracked. Copy RUNS to the next machine to resume there.
#   bash scripts/crossval-cnn-model.sh [RUNS] [OUT]
#   # RUNS: runs/cnn2d-student/crossval-student, OUT: docs/models/cnn2d-student/crossval-student
set -euo pipefail
cd "$(dirname "$0")/.."
out=${2:-docs/models/cnn2d-student/crossval-student}
runs=${1:-runs/cnn2d-student/crossval-student}
for fold in 1 2 3 4; do
  bash scripts/distilled-recipe.sh "$runs/fold$fold" --protocol corpus-kfold --k 4 --fold "$fold"
  bash scripts/score-fold.sh "$runs/fold$fold"
done
.venv/bin/serapp-train crossval "$runs"/fold{1,2,3,4}/student --out "$out" \
  --command "bash scripts/crossval-cnn-model.sh"
