#!/usr/bin/env bash
# The project's test command (the README's): set up (once) with the trainer, JAX, Whisper and test extras, then
# lint and run the whole suite offscreen, with a private PulseAudio null sink for the end-to-end capture test.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh train,dev,jax,whisper
export PATH="$PWD/.venv/bin:$PATH"
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
# A private runtime dir keeps the test daemon apart from a desktop's own PulseAudio.
export XDG_RUNTIME_DIR="/tmp/serapp-pulse-$(id -u)"
bash scripts/pulse.sh start
trap 'bash scripts/pulse.sh stop' EXIT
ruff check .
# Two workers, one per core of a CI machine: most tests are one thread (onnxruntime sessions, the Qt window, clip
# replays), so the suite takes about half as long. A file's tests stay on one worker (--dist loadfile): module
# fixtures (the JAX training jobs) run once, and the PulseAudio capture tests never share the sink. `-n 0` after
# the command runs them in one process; the 25 slowest are printed to keep the suite's time in view.
python -m pytest -q -n 2 --dist loadfile --durations=25 "$@"
