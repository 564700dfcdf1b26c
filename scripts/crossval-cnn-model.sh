#!/usr/bin/env bash
# Cross-validate the distilled cnn2d recipe: configs/recipes/cnn2d-distilled-crossval.json trains its seven runs on
# each fold of corpus-kfold k=4 in RUNS/fold<i>/ and scores each fold's base recipe, teachers' mean and student on
# its validation and test speakers (finished steps are kept, so repeated calls resume); `serapp-train crossval` then
# pools the students into OUT (crossval.json, README.md, confusion PNGs; only these are tracked). 28 runs, 20-32 min
# a run on 2 cores. Copy RUNS to the next machine to resume there.
#   bash scripts/crossval-cnn-model.sh [RUNS] [OUT]
#   # RUNS: runs/cnn2d-student/crossval-student, OUT: docs/models/cnn2d-student/crossval-student
set -euo pipefail
cd "$(dirname "$0")/.."
out=${2:-docs/models/cnn2d-student/crossval-student}
runs=${1:-runs/cnn2d-student/crossval-student}
.venv/bin/serapp-train recipe configs/recipes/cnn2d-distilled-crossval.json --runs "$runs"
.venv/bin/serapp-train crossval "$runs"/fold{1,2,3,4}/student --out "$out" --command "bash scripts/crossval-cnn-model.sh"
