#!/usr/bin/env bash
# The shipped model's recipe on one speaker split: six teachers (five crnn_small recipes and a cnn2d), then the
# cnn2d student distilled from their mean calibrated probabilities. Runs already in RUNS are kept, so a call that
# was interrupted resumes at the first missing run. Extra options go to every `serapp-train train`, e.g. a fold of
# a k-fold protocol. About 11-18 min per run on 2 cores; needs the corpora ($SERAPP_CORPORA) and
# `bash scripts/setup.sh train`.
#   bash scripts/distilled-recipe.sh RUNS [serapp-train train options]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:?usage: bash scripts/distilled-recipe.sh RUNS [serapp-train train options]}
shift
split=("$@")
train=(.venv/bin/serapp-train train --config configs/default-model.json --export)

# train_as NAME [options]: one run of the recipe with options and the split's options, moved to $runs/NAME.
train_as() {
  local name=$1 scratch=$runs/.scratch-$1
  shift
  if [[ -d $runs/$name ]]; then echo "$runs/$name exists; kept"; return; fi
  rm -rf "$scratch"
  "${train[@]}" "$@" ${split[@]+"${split[@]}"} --runs-dir "$scratch"
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
