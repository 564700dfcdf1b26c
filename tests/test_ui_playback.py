"""Playback in a real window (offscreen): pause and resume (Space in File analysis, never the hidden live
session), seek by clicking the timeline or the spectrogram, a time readout; and the player's sound follows
(a fake PortAudio)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QPointF, Qt
from pytestqt.qtbot import QtBot

from serapp.engine import capture
from serapp.engine.audio import load
from serapp.ui.mainwindow import MainWindow
from serapp.ui.playback import Player
from serapp.ui.timeaxis import format_clock
from tests.fake_sounddevice import FakeDevice, FakeSoundDevice
from tests.ui_helpers import open_window


@pytest.fixture
def window(qtbot: QtBot, tmp_path: Path, model_path: Path, sample_clips: list[Path]) -> MainWindow:
    w = open_window(qtbot, tmp_path, model=str(model_path), input=str(sample_clips[0]))
    w.analyse_files([str(sample_clips[4])])
    qtbot.waitUntil(lambda: w.file_view.current is not None, timeout=30000)
    return w


def click_plot_at(qtbot: QtBot, plot: object, t_s: float) -> None:
    """A left click on ``plot`` (a pyqtgraph PlotWidget) where its time axis reads ``t_s``."""
    box = plot.getPlotItem().getViewBox()  # type: ignore[attr-defined]
    y = sum(box.viewRange()[1]) / 2
    point = plot.mapFromScene(box.mapViewToScene(QPointF(t_s, y)))  # type: ignore[attr-defined]
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=point)  # type: ignore[attr-defined]


def test_space_pauses_and_resumes_in_file_analysis_without_touching_live(qtbot: QtBot, window: MainWindow) -> None:
    view, player = window.file_view, window.file_view.player
    live_running = window.session is not None and window.session.running
    duration = view.results[view.current].duration_s
    assert view.time_label.text() == f"0:00.0 / {format_clock(duration, 1)}"
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert player.playing and view.play_button.text().endswith("Pause")
    qtbot.waitUntil(lambda: player.position_s > 0.3, timeout=3000)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert player.paused and not player.playing and view.play_button.text().endswith("Play")
    held = view.spectrogram.cursor.value()
    qtbot.wait(300)
    assert view.spectrogram.cursor.value() == held and held > 0.3  # the cursor waits where it was paused
    assert view.time_label.text().startswith(format_clock(held, 1))
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert player.playing
    qtbot.waitUntil(lambda: view.spectrogram.cursor.value() > held + 0.1, timeout=3000)
    assert window.session is not None and window.session.running == live_running  # the live session untouched
    window.show_page(0)
    qtbot.keyClick(window, Qt.Key.Key_Space)  # in the Live tab Space is still start / stop
    assert window.session.running != live_running


def test_clicking_the_timeline_or_the_spectrogram_moves_the_playback(qtbot: QtBot, window: MainWindow) -> None:
    view, player = window.file_view, window.file_view.player
    duration = view.results[view.current].duration_s
    target = duration * 0.6
    click_plot_at(qtbot, view.timeline.plot, target)  # stopped: Play will start here
    assert view.timeline.cursor.value() == pytest.approx(target, abs=0.05 * duration)
    assert view.timeline.cursor.isVisible() and not player.playing
    assert view.time_label.text().startswith(format_clock(view.timeline.cursor.value(), 1))
    starts: list[float] = []
    player.position.connect(starts.append)
    view.play_button.click()
    assert starts[0] == pytest.approx(target, abs=0.05 * duration)
    player.pause()
    click_plot_at(qtbot, view.spectrogram.plot, duration * 0.2)  # paused: it waits at the new place
    assert player.paused and player.position_s == pytest.approx(duration * 0.2, abs=0.05 * duration)
    assert view.spectrogram.cursor.value() == pytest.approx(player.position_s, abs=1e-6)
    player.resume()
    qtbot.waitUntil(lambda: not player.playing, timeout=10000)  # played to the end
    assert view.play_button.text().endswith("Play")
    view.play_button.click()  # from the top again
    assert player.position_s < 0.2
    player.stop()


def stereo_wav(path: Path, seconds: float = 2.0, rate: int = 44100) -> np.ndarray:
    """Write a 44.1 kHz stereo WAV (float, so read back exactly) whose channels differ; returns its frames."""
    t = np.arange(round(seconds * rate)) / rate
    frames = np.stack([0.5 * np.sin(2 * np.pi * 220 * t), 0.25 * np.sin(2 * np.pi * 330 * t)], axis=1)
    frames = frames.astype(np.float32)
    sf.write(path, frames, rate, subtype="FLOAT")
    return frames


def test_the_file_plays_at_its_own_rate_and_channels_and_follows_pause_seek_and_resume(
        monkeypatch: pytest.MonkeyPatch, qtbot: QtBot, tmp_path: Path) -> None:
    fake = FakeSoundDevice([FakeDevice(0, "Speakers")], np.zeros(16000, np.float32))
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    frames = stereo_wav(tmp_path / "stereo.wav")
    player = Player(with_sound=True)
    player.play(tmp_path / "stereo.wav", duration_s=2.0)
    out = fake.opened_outputs[-1]
    assert (out.samplerate, out.channels) == (44100, 2) and out.active and not player.fallback
    assert capture.playback_active(fake)  # registered: the engine's device rescans wait for it
    np.testing.assert_array_equal(out.pull(1000), frames[:1000])  # the file's own frames, both channels
    np.testing.assert_array_equal(out.pull(1000), frames[1000:2000])
    player.pause()
    assert not out.active and out.closed
    player.seek(1.0)
    assert len(fake.opened_outputs) == 1  # paused: no sound until resumed
    player.resume()
    resumed = fake.opened_outputs[-1]
    assert resumed is not out and resumed.active
    np.testing.assert_array_equal(resumed.pull(500), frames[44100:44600])  # from 1 s on
    tail = resumed.pull(60000)  # past the end: the rest, then silence
    np.testing.assert_array_equal(tail[:44100 - 500], frames[44600:])
    assert not tail[44100 - 500:].any()
    player.stop()
    assert not resumed.active and not capture.playback_active(fake)


def test_a_format_the_output_refuses_plays_the_16_khz_mono_copy(monkeypatch: pytest.MonkeyPatch, qtbot: QtBot,
                                                                 tmp_path: Path) -> None:
    fake = FakeSoundDevice([FakeDevice(0, "Speakers")], np.zeros(16000, np.float32))
    fake.max_output_channels = 1  # a mono output: stereo is refused
    played: list[tuple[int, float]] = []
    real_play = fake.play
    monkeypatch.setattr(fake, "play", lambda data, samplerate: (played.append((len(data), samplerate)),
                                                                real_play(data, samplerate)))
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    stereo_wav(tmp_path / "stereo.wav")
    n = len(load(tmp_path / "stereo.wav", 16000))
    player = Player(with_sound=True)
    player.play(tmp_path / "stereo.wav", duration_s=2.0)
    assert played == [(n, 16000)] and fake.output is not None and fake.output.active
    assert "44.1 kHz stereo" in player.fallback and "16 kHz mono" in player.fallback
    player.pause()
    player.seek(1.0)
    player.resume()
    assert played[-1] == (n - 16000, 16000)  # the copy follows seek and resume too
    player.stop()
    assert not fake.output.active
