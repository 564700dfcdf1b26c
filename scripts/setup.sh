#!/usr/bin/env bash
# One-time (idempotent) set-up: system packages, a virtual environment in .venv, and serapp in it.
#   bash scripts/setup.sh            # the app only (no TensorFlow)
#   bash scripts/setup.sh train,dev  # plus the trainer and the test tools
#   bash scripts/setup.sh train,dev,jax  # plus Keras's JAX backend, CPU wheels
#   bash scripts/setup.sh train,dev,jax,whisper  # plus the pretrained Whisper encoder (what scripts/test.sh installs)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"

# libportaudio2: microphone capture; libsndfile1: audio files; the X/EGL libraries: Qt's window (and its
# offscreen platform); xvfb: screenshots; pulseaudio: the end-to-end capture test through a virtual source.
APT_PACKAGES=(libportaudio2 libsndfile1 libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libdbus-1-3 libfontconfig1
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 libxcb-render-util0
  libxcb-image0 libxcb-xkb1)
[[ "$extras" == *dev* ]] && APT_PACKAGES+=(xvfb pulseaudio pulseaudio-utils libasound2-plugins)

missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "Installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$python" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
spec="."
[[ -n "$extras" ]] && spec=".[${extras}]"
.venv/bin/python -m pip install -q -e "$spec"
