"""File analysis in a real window (offscreen): drops, bad files, summaries table, exports, playback cursor."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from pytestqt.qtbot import QtBot

from serapp.engine.labels import SILENCE
from serapp.ui.mainwindow import MainWindow
from serapp.ui.theme import emotion_style
from tests.ui_helpers import drop_files


def wait_done(qtbot: QtBot, window: MainWindow, n: int) -> None:
    qtbot.waitUntil(lambda: len(window.file_view.order) == n and not window.file_view.busy, timeout=30000)


def test_dropped_files_give_timelines_a_table_and_a_message_for_the_bad_one(
        qtbot: QtBot, window: MainWindow, tmp_path: Path, sample_clips: list[Path]) -> None:
    bad = tmp_path / "notes.wav"
    bad.write_bytes(b"RIFF....WAVEfmt this is not really audio" * 4)
    assert drop_files(window, [sample_clips[0], bad, sample_clips[4]])
    wait_done(qtbot, window, 3)
    view = window.file_view
    assert window.tabs.currentWidget() is view
    assert set(view.results) == {str(sample_clips[0]), str(sample_clips[4])}
    assert str(bad) in view.errors and "notes.wav" in view.errors[str(bad)]
    # The table lists all three; the bad row says "error" with the reason as tooltip.
    assert view.table.isVisible() and view.table.rowCount() == 3
    bad_row = view.order.index(str(bad))
    assert view.table.item(bad_row, 2).text() == "error"
    assert "notes.wav" in view.table.item(bad_row, 0).toolTip()
    # The last good file is shown: spectrogram, aligned timeline bands and the summary.
    shown = view.results[view.current]
    assert view.current == str(sample_clips[4])
    assert view.spectrogram.indices.shape == shown.spectrogram_db.T.shape
    x, y = view.timeline._curves[-1].getData()
    assert len(x) == len(shown.analysis.timeline) and np.all((y >= 0) & (y <= 1.0001))
    assert view.spectrogram.plot.getViewBox().viewRange()[0] == view.timeline.plot.getViewBox().viewRange()[0]
    dominant = shown.analysis.summary.dominant
    assert view.emotion.current_text == ("No speech" if dominant == SILENCE else emotion_style(dominant).name)
    # One rule: the highlighted (top) bar is the dominant emotion; each utterance has a row, and a click on it
    # moves the playback cursor to its start.
    bars = view.shares.probabilities()
    assert shown.analysis.labels[int(np.argmax(bars))] == dominant
    utterances = shown.analysis.utterances
    assert utterances and view.utterances.rowCount() == len(utterances)
    for row, u in enumerate(utterances):
        assert view.utterances.item(row, 2).text() == emotion_style(u.emotion(shown.analysis.labels)).name
        assert view.utterances.item(row, 3).text() == f"{100 * u.confidence:.0f}%"
    view.utterances.cellClicked.emit(len(utterances) - 1, 0)
    assert view._cursor_s == pytest.approx(utterances[-1].start, abs=0.05)
    # Selecting the first row shows that file; the window still works for live use and more files.
    view.table.selectRow(view.order.index(str(sample_clips[0])))
    assert view.current == str(sample_clips[0])
    assert window.isVisible()
    assert window.start_button.isEnabled() == window.live_input.can_start


def test_a_bad_file_alone_shows_its_message_in_the_window(qtbot: QtBot, window: MainWindow, tmp_path: Path) -> None:
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    assert drop_files(window, [empty])
    wait_done(qtbot, window, 1)
    message = window.file_view.message
    assert message.isVisible() and "empty.flac" in message.text()
    assert window.file_view.pages.currentWidget() is window.file_view.placeholder


def test_exports_are_written_whole_and_a_failed_export_keeps_the_data(
        qtbot: QtBot, window: MainWindow, tmp_path: Path, sample_clips: list[Path]) -> None:
    window.analyse_files([str(sample_clips[2]), str(sample_clips[3])])
    wait_done(qtbot, window, 2)
    view = window.file_view
    analysis = view.results[view.current].analysis

    assert view.write_export(tmp_path / "t.csv", "csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "t.csv").read_text())))
    assert len(rows) == len(analysis.timeline)
    assert [k for k in rows[0] if k.startswith("p_")] == [f"p_{lab}" for lab in analysis.labels]
    assert view.write_export(tmp_path / "t.json", "json")
    data = json.loads((tmp_path / "t.json").read_text())
    assert data["summary"]["dominant"] == analysis.summary.dominant and len(data["timeline"]) == len(rows)
    assert view.write_export(tmp_path / "v.png", "png")
    assert (tmp_path / "v.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert view.write_export(tmp_path / "table.csv", "table")
    assert len((tmp_path / "table.csv").read_text().splitlines()) == 3
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    before = view.current
    assert not view.write_export(blocker / "t.csv", "csv")
    assert view.message.isVisible() and "Export failed" in view.message.text() and "a-file" in view.message.text()
    assert view.current == before and view.pages.currentWidget() is view.detail


def test_playback_moves_the_cursor_and_explains_missing_sound(
        qtbot: QtBot, window: MainWindow, sample_clips: list[Path]) -> None:
    window.analyse_files([str(sample_clips[0])])
    wait_done(qtbot, window, 1)
    view = window.file_view
    assert "Playing sound is off" in view.play_button.toolTip()
    view.play_button.click()
    assert view.player.playing
    qtbot.waitUntil(lambda: view.spectrogram.cursor.value() > 0.1, timeout=3000)
    assert view.timeline.cursor.isVisible()
    assert view.timeline.cursor.value() == pytest.approx(view.spectrogram.cursor.value(), abs=0.1)
    view.play_button.click()
    assert not view.player.playing and view.play_button.text().endswith("Play")
