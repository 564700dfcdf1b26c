#!/usr/bin/env bash
# Reproduce assets/models/serapp-default.onnx: six teachers on the default speaker holdout (five crnn_small
# recipes and a cnn2d), then the shipped cnn2d student distilled from their mean probabilities
# (docs/default-model/config.json is its config). About 15-40 min per run on 2 cores, 2.5-3.5 h in all;
# needs the corpora ($SERAPP_CORPORA) and `bash scripts/setup.sh train`.
#   bash scripts/train-default-model.sh [RUNS]   # RUNS: where the runs go (runs/default-model)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-runs/default-model}
train=(.venv/bin/serapp-train train --config configs/default-model.json --export)

# train NAME [options]: one run of the holdout recipe with options, moved to $runs/NAME.
train_as() {
  local name=$1 scratch=$runs/.scratch-$1
  shift
  if [[ -d $runs/$name ]]; then echo "$runs/$name exists; kept"; return; fi
  rm -rf "$scratch"
  "${train[@]}" "$@" --runs-dir "$scratch"
  mv "$scratch"/*/ "$runs/$name" && rmdir "$scratch"
}

mkdir -p "$runs"
train_as base
train_as mixup --mixup 0.2
train_as w32 --mixup 0.2 --option width=32
train_as deltas --mixup 0.2 --spec-set deltas=true
train_as utt --mixup 0.2 --spec-set normalization=utterance
train_as cnn2d --config configs/cnn2d.json
train_as student --config configs/cnn2d.json --distill-weight 0.5 --teacher "$runs/base" --teacher "$runs/deltas" \
  --teacher "$runs/mixup" --teacher "$runs/utt" --teacher "$runs/w32" --teacher "$runs/cnn2d"
.venv/bin/serapp-train export "$runs/student" --out assets/models/serapp-default.onnx --name serapp-default
