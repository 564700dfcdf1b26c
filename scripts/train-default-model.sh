#!/usr/bin/env bash
# Reproduce assets/models/serapp-default.onnx: the whisper_tiny head (configs/whisper-tiny-views.json) on the default
# speaker holdout, its int8 export copied in as the bundled default model, and the manifest updated. The frozen
# encoder's outputs for every clip and for two augmented views of each training clip are cached first (resumable;
# about 35 min on 2 cores), then the head trains in minutes.
#   bash scripts/train-default-model.sh [RUNS]   # RUNS: where the run goes (runs/whisper-default)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-runs/whisper-default}
.venv/bin/serapp-train train --config configs/whisper-tiny-views.json --runs-dir "$runs"
run=$(ls -d "$runs"/*whisper_tiny* | tail -1)
.venv/bin/serapp-train export "$run" --int8 --name serapp-whisper-tiny
cp "$run/model-int8.onnx" assets/models/serapp-default.onnx
.venv/bin/serapp-train manifest --run docs/models/whisper-tiny
echo "Copy $run's config, split, metrics and history into docs/models/whisper-tiny/ to make it the recorded run."
