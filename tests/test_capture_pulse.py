"""End to end through real PortAudio: a clip played into a PulseAudio null sink comes back through the default
input (the sink's monitor) and the engine reports emotions for it. `.ci/run` starts the daemon with
`scripts/pulse.sh start`; elsewhere the test skips when no daemon is reachable (fails under CI)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from serapp.engine.analyzer import Analyzer
from serapp.engine.capture import MicrophoneSource, list_input_devices, refresh_devices
from serapp.engine.model import load_model
from serapp.engine.result import EmotionResult
from serapp.engine.state import RunState
from tests.conftest import IN_CI

pytestmark = pytest.mark.pulse


def _pulse_env() -> dict[str, str]:
    """The environment scripts/pulse.sh uses (same XDG_RUNTIME_DIR default)."""
    env = dict(os.environ)
    env.setdefault("XDG_RUNTIME_DIR", f"/tmp/serapp-pulse-{os.getuid()}")
    return env


def _require_pulse() -> dict[str, str]:
    env = _pulse_env()
    ok = shutil.which("pactl") is not None and shutil.which("paplay") is not None and subprocess.run(
        ["pactl", "info"], env=env, capture_output=True, timeout=10).returncode == 0
    if not ok:
        reason = "no PulseAudio daemon reachable (start one with `bash scripts/pulse.sh start`)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    return env


def test_clip_played_into_pulse_is_recognised_through_portaudio(
        monkeypatch: pytest.MonkeyPatch, onnx_model_path: Path, sample_clips: list[Path]) -> None:
    env = _require_pulse()
    monkeypatch.setenv("XDG_RUNTIME_DIR", env["XDG_RUNTIME_DIR"])
    refresh_devices()  # PortAudio may have listed devices before the daemon was reachable
    assert list_input_devices(), "PortAudio sees no input device although PulseAudio runs"
    speech = threading.Event()
    results: list[EmotionResult] = []

    def on_result(r: EmotionResult) -> None:
        results.append(r)
        if r.is_speech:
            speech.set()

    analyzer = Analyzer(MicrophoneSource(None), load_model(onnx_model_path), on_result=on_result)
    analyzer.start()
    player = subprocess.Popen(["paplay", str(sample_clips[0])], env=env)
    try:
        assert speech.wait(12), f"no speech result within 12 s ({len(results)} results, state {analyzer.state}, " \
                                f"error {analyzer.error})"
        player.wait(10)
        assert analyzer.state == RunState.RUNNING
    finally:
        player.kill()
        analyzer.stop()
    first = next(r for r in results if r.is_speech)
    assert first.probs is not None and abs(float(first.probs.sum()) - 1) < 1e-4
    assert 0 <= first.latency_ms < 1000
    assert analyzer.stats().updates_per_s > 2


def test_listen_through_portaudio_survives_a_frozen_process(onnx_model_path: Path) -> None:
    """`serapp listen` on the real default input, suspended for 3 s (longer than the 2-s stall limit): it is not
    reported as a lost device, no retry happens, updates go on and the run ends with status 0."""
    import signal
    import sys
    import time

    env = _require_pulse()
    proc = subprocess.Popen([sys.executable, "-m", "serapp", "listen", "--model", str(onnx_model_path), "--hop",
                             "0.1", "--seconds", "9"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    before = [proc.stdout.readline() for _ in range(10)]
    assert all(" dB " in line for line in before), before
    proc.send_signal(signal.SIGSTOP)
    time.sleep(3.0)
    proc.send_signal(signal.SIGCONT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "No audio has arrived" not in err and "Retrying" not in err, err
    after = out.splitlines()
    assert len(after) > 10 and all(" dB " in line for line in after)  # updates went on after the freeze
