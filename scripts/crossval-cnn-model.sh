#!/usr/bin/env bash
# Cross-validate the distilled cnn2d recipe: configs/recipes/cnn2d-distilled-crossval.json trains its seven runs on
# each fold of corpus-kfold k=4 in RUNS/fold<i>/, scores each fold's base recipe, teachers' mean and student on its
# validation and test speakers, and pools the four students into docs/models/cnn2d-student/crossval-student
# (crossval.json, README.md, confusion PNGs; only these are tracked). Finished steps are kept, so repeated calls
# resume. 28 runs, 20-32 min a run on 2 cores. Copy RUNS to the next machine to resume there.
#   bash scripts/crossval-cnn-model.sh [RUNS]    # RUNS: runs/cnn2d-student/crossval-student
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/serapp-train recipe configs/recipes/cnn2d-distilled-crossval.json --runs "${1:-runs/cnn2d-student/crossval-student}"
