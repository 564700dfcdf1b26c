"""Recording the live input (optional): a WAV or FLAC file per run in the folder the user picked, written through
serapp.atomic (whole or not at all), the samples the analyzer read; failures said plainly, analysis unharmed."""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from pytestqt.qtbot import QtBot

from serapp.engine.audio import load
from serapp.ui.recorder import LiveRecorder, recording_path
from serapp.ui.settings import load_settings
from tests.ui_helpers import open_window, settings_store

NOON = datetime.datetime(2026, 5, 1, 12, 0, 0)


@pytest.mark.parametrize("fmt", ["flac", "wav"])
def test_the_recorder_writes_what_it_is_given_and_only_whole_files(tmp_path: Path, fmt: str) -> None:
    rng = np.random.default_rng(0)
    audio = (0.3 * rng.standard_normal(48000)).clip(-1, 1).astype(np.float32)
    recorder = LiveRecorder(tmp_path, fmt, 48000, now=lambda: NOON)
    assert recorder.path == tmp_path / f"serapp-live-20260501-120000.{fmt}"
    for block in np.array_split(audio, 37):
        recorder.write(block)
    assert recorder.close() == "" and recorder.written == len(audio)
    back, rate = sf.read(recorder.path, dtype="float32")
    assert rate == 48000 and back.shape == audio.shape
    np.testing.assert_allclose(back, audio, atol=1.0 / 32767 + 1e-6)  # 16-bit
    assert [p.name for p in tmp_path.iterdir()] == [recorder.path.name]  # no temp file left
    assert recording_path(tmp_path, fmt, NOON).name == f"serapp-live-20260501-120000-2.{fmt}"  # never overwritten


def test_a_folder_that_cannot_be_written_is_a_plain_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    recorder = LiveRecorder(tmp_path / "a-file" / "recordings", "flac", 16000)
    recorder.write(np.zeros(1600, np.float32))
    error = recorder.close()
    assert error.startswith("Cannot record") and "a-file" in error
    recorder.write(np.zeros(1600, np.float32))  # later chunks are ignored, never raise


def test_the_window_records_each_run_to_the_chosen_folder(qtbot: QtBot, tmp_path: Path, model_path: Path,
                                                         sample_clips: list[Path]) -> None:
    window = open_window(qtbot, tmp_path, model=str(model_path), input=str(sample_clips[4]))
    folder = tmp_path / "recordings"
    folder.mkdir()
    window.set_record_folder(str(folder))  # as chosen in Live › Recording folder…
    window.record_format_actions["wav"].trigger()
    window.record_action.trigger()  # Live › Record the live input (Ctrl+R)
    assert window.record_action.isChecked() and window.session.recorder is not None
    qtbot.waitUntil(lambda: window.live_view.timeline.count >= 3, timeout=15000)
    qtbot.waitUntil(lambda: "● Recording" in window.status_labels["recording"].text(), timeout=3000)
    kept = window.live_view.timeline.count
    window.toggle_live()  # Stop: the file is finished and appears
    files = sorted(folder.iterdir())
    assert len(files) == 1 and files[0].suffix == ".wav"
    assert "Recording saved" in window.statusBar().currentMessage() and window.status_labels["recording"].text() == ""
    recorded, rate = sf.read(files[0], dtype="float32")
    clip = load(sample_clips[4], 16000)
    n = min(len(recorded), len(clip))
    assert rate == window.session.source.sample_rate == 16000 and n > 8000  # at least half a second
    np.testing.assert_allclose(recorded[:n], clip[:n], atol=2e-4)  # what the analyzer read, from the start
    assert window.live_view.timeline.count == kept  # recording changed nothing in the analysis

    window.record_action.trigger()  # off: the next run records nothing
    window.toggle_live()
    qtbot.waitUntil(lambda: window.live_view.timeline.count >= kept + 2, timeout=15000)
    window.toggle_live()
    assert len(list(folder.iterdir())) == 1
    stored = load_settings(settings_store(tmp_path))
    assert (stored.record_dir, stored.record_format) == (str(folder), "wav")
    window.close()
    again = open_window(qtbot, tmp_path, model=str(model_path))
    assert not again.record_action.isChecked()  # recording never starts by itself
    assert again.record_format_actions["wav"].isChecked()


def test_a_recording_that_cannot_be_written_is_said_and_the_analysis_goes_on(
        qtbot: QtBot, tmp_path: Path, model_path: Path, sample_clips: list[Path]) -> None:
    window = open_window(qtbot, tmp_path, model=str(model_path), input=str(sample_clips[4]))
    (tmp_path / "a-file").write_text("x")
    window.set_record_folder(str(tmp_path / "a-file" / "recordings"))
    window.record_action.trigger()
    qtbot.waitUntil(lambda: "Cannot record" in window.banner_text, timeout=5000)
    before = window.live_view.timeline.count
    qtbot.waitUntil(lambda: window.live_view.timeline.count > before + 2, timeout=15000)
    assert window.session.running
