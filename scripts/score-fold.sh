#!/usr/bin/env bash
# Score one split of the distilled recipe (a folder made by configs/recipes/cnn2d-distilled.json, e.g. one fold of
# configs/recipes/cnn2d-distilled-crossval.json) on its exported ONNX files:
# the base recipe, the mean of the six teachers and the student, each on the split's validation speakers (what a
# later recipe is compared on) and on its test speakers (reported, never used to choose). Scores already written
# are kept. Writes FOLD/eval/{base,teachers,student}-{val,test}/ (metrics.json with log-loss and per-corpus
# figures, confusion.png).
#   bash scripts/score-fold.sh FOLD [serapp-train evaluate options, e.g. --root DIR --limit N]
set -euo pipefail
cd "$(dirname "$0")/.."
fold=${1:?usage: bash scripts/score-fold.sh FOLD [evaluate options]}
shift
options=("$@")
# The teachers are the runs the student names (by folder name: the fold may have moved since).
teachers=()
for name in $(.venv/bin/python -c 'import json, pathlib, sys
print(" ".join(pathlib.Path(t).name for t in json.loads(pathlib.Path(sys.argv[1]).read_text())["teachers"]))' \
  "$fold/student/config.json"); do
  teachers+=(--model "$fold/$name/model.onnx")
done

# score NAME PART MODEL-OPTIONS...: one evaluation into $fold/eval/NAME-PART, unless it is there already.
score() {
  local name=$1 part=$2 out=$fold/eval/$1-$2
  shift 2
  if [[ -f $out/metrics.json ]]; then echo "$out exists; kept"; return; fi
  .venv/bin/serapp-train evaluate --split "$fold/student/split.json" --part "$part" "$@" \
    ${options[@]+"${options[@]}"} --out "$out"
}

for part in val test; do
  score base "$part" --model "$fold/base/model.onnx"
  score teachers "$part" "${teachers[@]}"
  score student "$part" --model "$fold/student/model.onnx"
done
