"""The window says what went wrong instead of keeping quiet (issue 32): settings that cannot be saved, dropped
things that are not audio files (a named pipe, a device, a folder without audio), and live updates skipped
because the model is slower than the hop. Real Qt offscreen, real ONNX sessions, real speech."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from pytestqt.qtbot import QtBot

from serapp.engine.model import OnnxModel, WindowScores
from serapp.ui.settings import AppSettings, load_settings
from tests.ui_helpers import drop_files, open_window, settings_store


def test_settings_that_cannot_be_saved_say_so_and_the_message_goes_once_they_can(
        qtbot: QtBot, tmp_path: Path, model_path: Path) -> None:
    # The settings file's folder is a regular file: nothing can be written there, even as root.
    blocked = tmp_path / "config"
    blocked.write_text("not a folder")
    window = open_window(qtbot, blocked, model=str(model_path))  # saves the theme at start
    assert "Settings could not be saved" in window.banner_text and str(blocked) in window.banner_text
    blocked.unlink()
    blocked.mkdir()  # the location becomes writable
    window.apply_theme("light")
    assert "Settings could not be saved" not in window.banner_text
    assert load_settings(settings_store(blocked)) == AppSettings(theme="light")  # saved for real this time


def test_dropped_pipe_device_and_folder_without_audio_each_get_a_plain_message(
        qtbot: QtBot, tmp_path: Path, model_path: Path, sample_clips: list[Path]) -> None:
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    empty = tmp_path / "no audio here"
    empty.mkdir()
    (empty / "notes.txt").write_text("not audio")
    window = open_window(qtbot, tmp_path, model=str(model_path))
    dropped = [fifo, Path(os.devnull), empty, sample_clips[0]]
    assert drop_files(window, dropped)
    view = window.file_view
    qtbot.waitUntil(lambda: len(view.errors) == 3 and str(sample_clips[0]) in view.results and not view.busy,
                    timeout=60000)
    assert "is a named pipe" in view.errors[str(fifo)]
    assert "is a device" in view.errors[os.devnull]
    assert "is a folder" in view.errors[str(empty)]
    shown = view.message.text()
    assert all(p.name in shown for p in (fifo, empty)), shown


class SlowModel(OnnxModel):
    """The real model, scoring 0.6 s late: more than two hops (0.25 s), so the analyzer serves the newest update
    and skips the rest."""

    def score_windows(self, x: np.ndarray, speaker_mean: np.ndarray | None = None, *, embeddings: bool = False,
                      crowd: bool = True) -> WindowScores:
        time.sleep(0.6)  # what every window's scoring goes through
        return super().score_windows(x, speaker_mean, embeddings=embeddings, crowd=crowd)


def test_updates_skipped_by_a_slow_model_show_in_the_status_bar(
        qtbot: QtBot, tmp_path: Path, model_path: Path, sample_clips: list[Path]) -> None:
    window = open_window(qtbot, tmp_path, model_loader=lambda path: SlowModel(path or model_path),
                         model=str(model_path), input=str(sample_clips[4]))
    status = window.status_labels["dropped"]
    qtbot.waitUntil(lambda: "skipped updates" in status.text(), timeout=20000)
    count = int(status.text().rsplit("skipped updates ", 1)[1])
    assert count > 0 and "dropped blocks" in status.text()
