"""Capture faults through a fake `sounddevice` (tests/fake_sounddevice.py) fed with a real clip: PortAudio
missing, no input device, a stream error mid-run, a device that vanishes and comes back under another index
and rate, and input overflows. The engine and `serapp listen` report each and recover without a restart."""

from __future__ import annotations

import fcntl
import itertools
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from serapp import commands
from serapp.cli import main
from serapp.engine import capture
from serapp.engine.analyzer import Analyzer
from serapp.engine.audio import load
from serapp.engine.capture import NO_DEVICE, NO_PORTAUDIO, MicrophoneSource
from serapp.engine.config import AnalyzerConfig
from serapp.engine.model import OnnxModel, load_model
from serapp.engine.result import EmotionResult
from serapp.engine.retry import RetryPolicy
from serapp.engine.state import RunState
from serapp.errors import SerappError
from tests.fake_sounddevice import FakeDevice, FakeSoundDevice, hide_portaudio, wait_until

MIC = FakeDevice(3, "USB Mic (hw:1,0)", rate=16000)
CONFIG = AnalyzerConfig(hop_s=0.1)


@pytest.fixture(scope="module")
def model(onnx_model_path: Path) -> OnnxModel:
    return load_model(onnx_model_path)


@pytest.fixture(scope="module")
def speech(sample_clips: list[Path]) -> np.ndarray:
    return load(sample_clips[4], 16000)  # CREMA-D, speech from the start


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, speech: np.ndarray) -> FakeSoundDevice:
    sd = FakeSoundDevice([FakeDevice(0, "HDMI out", channels=0), MIC], speech)
    monkeypatch.setitem(sys.modules, "sounddevice", sd)
    # A silent device is declared gone sooner. `serapp listen` makes its source in serapp/commands.py with the
    # engine's default, so the default itself is what a test of the command can change.
    monkeypatch.setattr(capture, "STALL_S", 0.4)
    return sd


class Collector:
    """Results and errors from the analyzer's callbacks (worker thread), with events to wait on."""

    def __init__(self) -> None:
        self.results: list[EmotionResult] = []
        self.errors: list[str] = []
        self.failed = threading.Event()

    def on_result(self, r: EmotionResult) -> None:
        self.results.append(r)

    def on_error(self, message: str) -> None:
        self.errors.append(message)
        self.failed.set()

    def more_results(self, n: int, timeout: float = 10.0) -> bool:
        """Wait until ``n`` more results than now have arrived."""
        target = len(self.results) + n
        return wait_until(lambda: len(self.results) >= target, timeout)


def _analyzer(model: OnnxModel, col: Collector) -> Analyzer:
    return Analyzer(MicrophoneSource(None), model, CONFIG, on_result=col.on_result, on_error=col.on_error)


@pytest.mark.parametrize("command", ["listen", "devices"])
def test_missing_portaudio_is_one_plain_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                             onnx_model_path: Path, command: str) -> None:
    hide_portaudio(monkeypatch)
    assert main(["--model", str(onnx_model_path), command]) == 2
    err = capsys.readouterr().err
    assert err == f"serapp: {NO_PORTAUDIO}\n"
    with pytest.raises(SerappError, match="PortAudio"):
        MicrophoneSource(None)


def test_no_input_device(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                         onnx_model_path: Path, speech: np.ndarray) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", FakeSoundDevice([FakeDevice(0, "HDMI out", channels=0)], speech))
    assert main(["listen", "--model", str(onnx_model_path)]) == 2
    assert capsys.readouterr().err == f"serapp: {NO_DEVICE}\n"
    assert main(["devices"]) == 1
    assert NO_DEVICE in capsys.readouterr().err
    with pytest.raises(SerappError, match="No audio input device was found"):
        MicrophoneSource("Studio")


def test_audio_system_that_cannot_be_queried(monkeypatch: pytest.MonkeyPatch, fake: FakeSoundDevice,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    def broken() -> list[dict[str, Any]]:
        raise fake.PortAudioError("Host error [PaErrorCode -9999]")

    monkeypatch.setattr(fake, "query_devices", broken)
    assert main(["devices"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("serapp: The audio system could not be queried (Host error") and err.count("\n") == 1


def test_stream_error_mid_run_is_reported_and_restart_recovers(model: OnnxModel, fake: FakeSoundDevice) -> None:
    col = Collector()
    analyzer = _analyzer(model, col)
    analyzer.start()
    try:
        assert col.more_results(5)
        fake.stream_error()
        assert col.failed.wait(5)
        assert analyzer.wait(5) and analyzer.state == RunState.ERROR
        assert "stopped unexpectedly" in col.errors[0] and MIC.name in col.errors[0]
        assert analyzer.stats().error == col.errors[0]
        analyzer.restart()
        assert analyzer.state == RunState.RUNNING and analyzer.error is None
        assert col.more_results(5), "no results after the restart"
    finally:
        analyzer.stop()
    assert len(col.errors) == 1  # our own stop is not reported as a failure
    assert all(s.closed for s in fake.streams) and not any(s.active for s in fake.streams)


def test_device_vanishing_and_coming_back_under_another_index(model: OnnxModel, fake: FakeSoundDevice) -> None:
    col = Collector()
    analyzer = _analyzer(model, col)
    analyzer.start()
    try:
        assert col.more_results(5)
        fake.unplug()  # no finished callback: only the stall detector can notice
        assert col.failed.wait(5), "a silent device was not detected"
        assert "No audio has arrived" in col.errors[0]
        with pytest.raises(SerappError, match="No audio input device was found"):
            analyzer.restart()  # still unplugged
        assert analyzer.state == RunState.ERROR and "No audio input device" in (analyzer.error or "")
        back = FakeDevice(7, "USB Mic (hw:2,0)", rate=48000)  # re-plugged: new index, new native rate
        fake.plug(back)
        rescans = fake.rescans
        analyzer.restart()
        assert fake.rescans > rescans, "PortAudio was not asked to rescan the devices"
        assert analyzer.source.sample_rate == 48000 and fake.live_stream().device == back.index
        n = len(col.results)
        assert col.more_results(15), "no results after the device came back"
        assert analyzer.state == RunState.RUNNING
        assert any(r.is_speech for r in col.results[n:])  # 48 kHz audio, resampled, is heard as speech
    finally:
        analyzer.stop()


def test_a_retry_during_playback_does_not_rescan(model: OnnxModel, fake: FakeSoundDevice) -> None:
    """Re-initialising PortAudio would cut a playing file off: the rescan waits until the playback ends."""
    col = Collector()
    analyzer = _analyzer(model, col)
    analyzer.start()
    try:
        assert col.more_results(3)
        fake.play(np.zeros(16000, dtype=np.float32), 16000)
        fake.unplug()
        assert col.failed.wait(5), "a silent device was not detected"
        rescans = fake.rescans
        with pytest.raises(SerappError, match="Could not open input device 3"):
            analyzer.restart()  # PortAudio's old list still names the microphone, which cannot be opened
        assert fake.rescans == rescans and fake.output is not None and fake.output.active and not fake.output.cut
        fake.plug(FakeDevice(7, MIC.name, rate=48000))
        fake.stop()  # the playback ends
        analyzer.restart()
        assert fake.rescans > rescans and analyzer.source.sample_rate == 48000
        n = len(col.results)
        assert col.more_results(10), "no results after the device came back"
        assert any(r.is_speech for r in col.results[n:])
    finally:
        analyzer.stop()


def test_overflows_are_counted_and_reported(model: OnnxModel, fake: FakeSoundDevice) -> None:
    col = Collector()
    analyzer = _analyzer(model, col)
    analyzer.start()
    try:
        assert col.more_results(2)
        fake.overflow(3)
        assert wait_until(lambda: fake.pending_overflows == 0)
        assert col.more_results(2)
        assert analyzer.stats().overflows == 3
        assert col.results[-1].dropped_blocks == 3
        assert analyzer.state == RunState.RUNNING and not col.errors  # overflows are not failures
    finally:
        analyzer.stop()


def test_listen_reports_each_fault_and_recovers(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                               onnx_model_path: Path, fake: FakeSoundDevice) -> None:
    monkeypatch.setattr(commands, "RETRY", RetryPolicy(retry_s=0.2))

    def faults() -> None:
        # each fault once results flow again: overflow, stream error, then unplug and re-plug
        wait_until(lambda: fake.delivered() > 20, 20)
        fake.overflow(2)
        wait_until(lambda: fake.delivered() > 40, 20)
        fake.stream_error()
        wait_until(lambda: len(fake.streams) > 1 and fake.streams[-1].calls > 20, 20)
        fake.unplug()
        wait_until(lambda: fake.rescans > 2, 20)  # at least one retry found nothing
        fake.plug(FakeDevice(5, MIC.name, rate=44100))

    injector = threading.Thread(target=faults, daemon=True)
    injector.start()
    code = main(["listen", "--model", str(onnx_model_path), "--hop", "0.1", "--max-results", "60",
                 "--seconds", "40"])
    injector.join(1)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Traceback" not in err
    assert "stopped unexpectedly" in err and "No audio has arrived" in err
    assert "No audio input device was found" in err  # the retry while unplugged says why it failed
    assert err.count("serapp: the input is back.") == 2
    lines = out.splitlines()
    assert len(lines) == 60 and any("dropped 2" in line for line in lines)
    times = [float(line.split()[0]) for line in lines]
    assert all(b > a for a, b in itertools.pairwise(times)), times  # the stream time goes on across reconnects
    assert fake.streams[-1].device == 5
    assert err.count("Retrying every") == 2  # each failure said once, however many retries it took


def test_listen_ends_with_status_1_when_the_input_is_still_failing(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], onnx_model_path: Path,
        fake: FakeSoundDevice) -> None:
    monkeypatch.setattr(commands, "RETRY", RetryPolicy(retry_s=0.1))
    threading.Timer(1.5, fake.unplug).start()
    assert main(["listen", "--model", str(onnx_model_path), "--seconds", "3.5"]) == 1
    err = capsys.readouterr().err
    assert "Retrying" in err and err.rstrip().splitlines()[-1] == f"serapp: {NO_DEVICE}"


def test_listen_on_a_device_that_delivers_nothing_says_so_once_and_exits_1(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], onnx_model_path: Path,
        fake: FakeSoundDevice) -> None:
    """The stream opens, so each retry "succeeds", but no callback ever comes: never "back", one report, exit 1."""
    monkeypatch.setattr(commands, "RETRY", RetryPolicy(retry_s=0.2))
    fake.mute = True
    assert main(["listen", "--model", str(onnx_model_path), "--seconds", "3"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("No audio has arrived") == 2, err  # said once when found, once as the reason for status 1
    assert "the input is back" not in err and "still failing" not in err
    assert len(fake.streams) >= 3  # it kept retrying all along
    assert err.rstrip().splitlines()[-1].startswith(f"serapp: No audio has arrived from {MIC.name!r}")


def test_listen_whose_device_goes_silent_mid_run_exits_1(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], onnx_model_path: Path,
        fake: FakeSoundDevice) -> None:
    monkeypatch.setattr(commands, "RETRY", RetryPolicy(retry_s=0.2))
    threading.Thread(target=lambda: wait_until(lambda: fake.delivered() > 30, 20) and setattr(fake, "mute", True),
                     daemon=True).start()
    assert main(["listen", "--model", str(onnx_model_path), "--hop", "0.1", "--seconds", "4"]) == 1
    out, err = capsys.readouterr()
    assert out and err.count("Retrying every") == 1 and "the input is back" not in err, err


def test_listen_reports_skipped_updates_of_a_slow_model(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], onnx_model_path: Path,
        fake: FakeSoundDevice) -> None:
    """A model slower than the hop: the analyzer serves the newest update and skips the rest, and says so."""
    slow = OnnxModel.score_windows  # what every window's scoring goes through

    def score_windows(self: OnnxModel, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.35)
        return slow(self, *args, **kwargs)

    monkeypatch.setattr(OnnxModel, "score_windows", score_windows)
    assert main(["listen", "--model", str(onnx_model_path), "--hop", "0.1", "--seconds", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    skipped = [int(line.split("skipped ")[1].split()[0]) for line in lines if "skipped " in line]
    assert skipped and skipped[-1] > 0 and skipped == sorted(skipped), lines


_SUBPROCESS = """
import os, sys, threading, time
sys.path.insert(0, {repo!r})
from tests.fake_sounddevice import FakeDevice, FakeSoundDevice, wait_until
from serapp.engine.audio import load
fake = FakeSoundDevice([FakeDevice(3, "USB Mic", rate=16000)], load({clip!r}, 16000))
sys.modules["sounddevice"] = fake
import serapp.liveline
drawn = threading.Event()  # a status line is on screen: the message must not be glued onto it
_show = serapp.liveline.StatusLine.show
def show(self, text):
    _show(self, text)
    drawn.set()
serapp.liveline.StatusLine.show = show
def message():  # what PortAudio/ALSA print on the process's stderr mid-run, from C
    wait_until(lambda: fake.delivered() > 60, 30)
    drawn.wait(30)  # on a loaded machine the first update can come after 60 blocks
    os.write(2, b"Expression 'ret' failed in 'src/hostapi/alsa/pa_linux_alsa.c', line: 1736\\n")
threading.Thread(target=message, daemon=True).start()
from serapp.cli import main
sys.exit(main(["listen", "--model", {model!r}, "--hop", "0.1", "--seconds", {seconds!r}]))
"""


def _listen_script(onnx_model_path: Path, clip: Path, seconds: float) -> list[str]:
    code = _SUBPROCESS.format(repo=str(Path(__file__).resolve().parent.parent), clip=str(clip),
                              model=str(onnx_model_path), seconds=str(seconds))
    return [sys.executable, "-c", code]


def test_listen_on_an_80_column_terminal(onnx_model_path: Path, sample_clips: list[Path]) -> None:
    """Through a pseudo-terminal 80 columns wide: the status line never reaches the last column, and a message
    that C code writes on stderr gets a line of its own instead of being glued onto the status line."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen(_listen_script(onnx_model_path, sample_clips[4], 6), stdin=slave, stdout=slave,
                            stderr=slave, close_fds=True)
    os.close(slave)
    data = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the other end closed: the process ended
            break
        if not chunk:
            break
        data += chunk
    os.close(master)
    assert proc.wait(30) == 0
    text = data.decode()
    assert "Traceback" not in text
    assert "\r\033[KExpression 'ret' failed" in text, repr(text[-2000:])
    shown = [piece for row in text.split("\r\n") for piece in row.split("\r\033[K") if piece]
    statuses = [piece for piece in shown if " dB " in piece]
    assert len(statuses) > 20 and max(map(len, shown)) < 80, max(shown, key=len)
    assert text.count("\r\n") <= 3, repr(text)  # one line rewritten, the message's line, the final newline


def test_a_frozen_process_is_not_a_lost_device(onnx_model_path: Path, sample_clips: list[Path]) -> None:
    """`serapp listen` suspended for 3 s (longer than the stall limit): no "No audio has arrived", the run goes
    on, and the audio the device could not hand over meanwhile is counted as dropped."""
    proc = subprocess.Popen(_listen_script(onnx_model_path, sample_clips[4], 9), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    before = [proc.stdout.readline() for _ in range(10)]  # results flow
    proc.send_signal(signal.SIGSTOP)
    time.sleep(3.0)
    proc.send_signal(signal.SIGCONT)
    out, err = proc.communicate(timeout=60)
    lines = before + out.splitlines()
    assert proc.returncode == 0, err
    assert "No audio has arrived" not in err and "Retrying" not in err, err
    assert "dropped 1" in lines[-1], lines[-5:]


def test_check_tells_a_frozen_process_from_a_lost_device(fake: FakeSoundDevice) -> None:
    """Deterministic: the clock jumps 3 s between two checks (the whole process was suspended, the device's audio
    meanwhile lost). The source stays running, gives the device a fresh stall limit, and once audio flows again
    counts one dropped block of about 3 s; a device that then stays silent is still found out."""
    offset = [0.0]
    source = MicrophoneSource(None, clock=lambda: time.monotonic() + offset[0])
    source.start()
    try:
        for _ in range(10):  # audio flows; the worker checks every 20 ms
            source.check()
            time.sleep(0.02)
        assert source.state == RunState.RUNNING and source.overflows == 0
        offset[0] += 3.0  # frozen for 3 s: longer than the stall limit (0.4 s here)
        for _ in range(50):
            source.check()
            time.sleep(0.02)
        assert source.state == RunState.RUNNING, source.error
        assert source.overflows == 1 and abs(source.lost_frames / source.sample_rate - 3.0) < 0.2
        fake.mute = True
        assert wait_until(lambda: source.check() or source.state == RunState.ERROR, 5)
        assert "No audio has arrived" in (source.error or "")
    finally:
        source.stop()
