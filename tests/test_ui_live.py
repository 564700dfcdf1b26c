"""The live view in a real window (offscreen): fed by a file at real-time pace, without a microphone, without
a model, microphone failures retried (never cutting a playback off), demo mode and its keyboard shortcuts."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from serapp.engine.audio import load
from serapp.engine.capture import NO_DEVICE, NO_PORTAUDIO
from serapp.engine.config import AnalyzerConfig
from serapp.engine.filesource import FileSource
from serapp.engine.model import load_model
from serapp.errors import SerappError
from serapp.ui import engine_bridge
from serapp.ui.liveinput import LivePhase
from serapp.ui.playback import Player
from serapp.ui.theme import emotion_style
from tests.fake_sounddevice import FakeDevice, FakeSoundDevice
from tests.ui_helpers import FAST_DEVICES, FakeDevices, open_window, without_bundled_model

MIC = FakeDevice(3, "USB Mic (hw:1,0)")


@pytest.fixture
def no_microphone() -> FakeDevices:
    """This machine as if PortAudio were missing, whatever the machine running the tests has."""
    return FakeDevices(list_error=NO_PORTAUDIO)


def test_file_source_feeds_bars_spectrogram_timeline_and_status(qtbot: QtBot, tmp_path: Path, model_path: Path,
                                                               sample_clips: list[Path]) -> None:
    window = open_window(qtbot, tmp_path, model=str(model_path), input=str(sample_clips[0]))
    live = window.live_view
    assert window.session is not None and window.session.running
    qtbot.waitUntil(lambda: live.bars.active and live.spectrogram.frames_drawn >= 30, timeout=15000)

    probs = live.bars.probabilities()  # a speech window: the model's distribution
    assert probs.shape == (len(window.model.info.labels),)
    assert probs.sum() == pytest.approx(1.0, abs=1e-3)
    # The spectrogram holds the clip (non-black columns): uint8 levels coloured by the view's 256-entry LUT.
    spectrogram = live.spectrogram
    assert spectrogram.indices.dtype == np.uint8 and spectrogram.indices.max() > 100 and len(spectrogram.lut) == 256
    assert spectrogram.image.image.shape == (*spectrogram.indices.shape, 4)  # RGBA, drawn by Qt as it is
    assert live.timeline.count == live.results_seen
    names = {emotion_style(lab).name for lab in window.model.info.labels} | {"Listening…", "No speech"}
    assert live.emotion.current_text in names
    qtbot.waitUntil(lambda: "updates/s" in window.status_labels["rate"].text(), timeout=3000)
    assert "dropped blocks" in window.status_labels["dropped"].text()
    assert window.banner_text == ""

    assert window.live_input.phase is LivePhase.RUNNING
    window.toggle_live()  # Stop
    assert not window.session.running and window.start_button.text().endswith("Start")
    assert window.live_input.phase is LivePhase.STOPPED and "stopped" in window.start_action.statusTip()


def test_without_portaudio_a_banner_explains_and_file_analysis_works(qtbot: QtBot, tmp_path: Path, model_path: Path,
                                                                    no_microphone: FakeDevices,
                                                                    sample_clips: list[Path]) -> None:
    window = open_window(qtbot, tmp_path, no_microphone, model=str(model_path))
    assert "Live input is off" in window.banner_text and "PortAudio" in window.banner_text
    assert not window.start_button.isEnabled() and not window.device_combo.isEnabled()
    assert "PortAudio" in window.start_button.toolTip()
    assert window.live_input.phase is LivePhase.UNAVAILABLE
    assert "Live input is off" in window.start_action.statusTip()  # the menu and the status bar say it too
    assert "Live input is off" in window.status_labels["source"].toolTip()
    window.analyse_files([str(sample_clips[1])])
    qtbot.waitUntil(lambda: str(sample_clips[1]) in window.file_view.results, timeout=15000)
    assert window.tabs.currentWidget() is window.file_view


def test_missing_model_is_a_message_not_a_crash(qtbot: QtBot, tmp_path: Path, no_microphone: FakeDevices,
                                                sample_clips: list[Path]) -> None:
    # The bundled model stands in for a bad --model (tests/test_ui_reliability.py): here it is absent too.
    window = open_window(qtbot, tmp_path, no_microphone, without_bundled_model(tmp_path / "no-bundled.onnx"),
                         model=str(tmp_path / "absent.onnx"))
    assert "No model" in window.banner_text and "absent.onnx" in window.banner_text
    assert window.session is None and not window.start_button.isEnabled()
    window.analyse_files([str(sample_clips[0])])
    assert "No model is loaded" in window.file_view.message.text()


def test_failed_microphone_is_retried_until_it_works(qtbot: QtBot, tmp_path: Path, model_path: Path,
                                                     sample_clips: list[Path]) -> None:
    rescans: list[bool] = []

    def flaky_microphone(device: str | None = None, rescan: bool = False) -> FileSource:
        rescans.append(rescan)
        if len(rescans) < 3:
            raise SerappError("No audio input device was found.")
        return FileSource(sample_clips[0], sample_rate=16000)

    session = engine_bridge.LiveSession(load_model(model_path), AnalyzerConfig(),
                                        devices=FakeDevices(retry_s=0.05, microphone=flaky_microphone))
    problems: list[str] = []
    session.problem.connect(problems.append)
    session.start(engine_bridge.SourceChoice(device="USB mic"))
    assert "Retrying in" in problems[-1] and "No audio input device" in problems[-1]
    with qtbot.waitSignal(session.results_ready, timeout=15000):
        pass
    assert problems[-1] == "" and session.state == "running"
    assert rescans == [False, True, True]  # no device could be opened: each retry looks at a fresh scan
    session.shutdown()


def test_microphone_retries_never_cut_a_playback(qtbot: QtBot, model_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                sample_clips: list[Path]) -> None:
    """Re-initialising PortAudio closes every stream: while a file plays, the retries of a vanished microphone
    do not rescan; once the playback ends they do, and find the microphone back under a new index and rate."""
    fake = FakeSoundDevice([MIC], load(sample_clips[4], 16000))
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    session = engine_bridge.LiveSession(load_model(model_path), AnalyzerConfig(), devices=FAST_DEVICES)
    problems: list[str] = []
    session.problem.connect(problems.append)
    session.start(engine_bridge.SourceChoice(device=MIC.name))
    with qtbot.waitSignal(session.results_ready, timeout=15000):
        pass
    player = Player(with_sound=True)
    player.play(sample_clips[1], duration_s=60.0)  # through the fake PortAudio
    rescans = fake.rescans
    fake.unplug()
    qtbot.waitUntil(lambda: bool(problems) and "(attempt 3)" in problems[-1], timeout=15000)
    assert "Could not open input device" in problems[-1]  # PortAudio's old list still names the microphone
    playing = fake.opened_outputs[-1]  # the file's own-rate output stream
    assert playing.active and not playing.cut
    assert fake.rescans == rescans
    player.stop()
    qtbot.waitUntil(lambda: fake.rescans > rescans, timeout=5000)
    fake.plug(FakeDevice(5, MIC.name, rate=44100))
    qtbot.waitUntil(lambda: session.state == "running", timeout=15000)
    with qtbot.waitSignal(session.results_ready, timeout=15000):
        pass
    assert session.source is not None and session.source.sample_rate == 44100
    assert fake.live_stream().device == 5 and problems[-1] == ""
    session.shutdown()


def test_demo_mode_keyboard(qtbot: QtBot, tmp_path: Path, model_path: Path, sample_clips: list[Path]) -> None:
    window = open_window(qtbot, tmp_path, model=str(model_path), input=str(sample_clips[0]))
    qtbot.keyClick(window, Qt.Key.Key_F11)
    assert window.in_demo and window.stack.currentWidget() is window.demo_view
    assert not window.menuBar().isVisible() and not window.controls.isVisible()
    running = window.session.running
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert window.session.running != running
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert not window.in_demo and window.menuBar().isVisible()


def test_demo_mode_without_a_microphone_says_so_large_and_keeps_retrying(
        qtbot: QtBot, tmp_path: Path, model_path: Path) -> None:
    def no_device(device: str | None = None, rescan: bool = False) -> FileSource:
        raise SerappError(NO_DEVICE)

    devices = FakeDevices(list_error=NO_PORTAUDIO, microphone=no_device)
    window = open_window(qtbot, tmp_path, devices, model=str(model_path), demo=True)
    assert window.in_demo and window.session is not None and window.session.running  # retrying by itself
    problem = window.demo_view.problem
    # A few words for the audience; the technical reason stays in the (hidden) banner and the tooltip.
    assert problem.isVisible() and problem.text() == "No microphone — waiting for one…"
    assert "No audio input device" in problem.toolTip() and "Retrying in" in problem.toolTip()
    assert not window.banner.isVisible() and "No audio input device" in window.banner.text()
    assert window.demo_view.emotion.name_label.fontMetrics().height() > 3 * window.fontMetrics().height()
