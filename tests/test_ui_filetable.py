"""The table of files in a real window (offscreen): a failed file selected clears the previous file's panel and
turns exports off, a batch's failures stay in the message while the next files are analysed, readable captions."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from serapp.ui.fileview import batch_message, display_header
from serapp.ui.mainwindow import MainWindow
from tests.ui_helpers import FakeDevices, drop_files, open_window


def exports_enabled(window: MainWindow) -> list[bool]:
    view = window.file_view
    return [w.isEnabled() for w in (view.export_csv_button, view.export_json_button, view.export_png_button,
                                    window.export_csv_action, window.export_json_action, window.export_png_action)]


def test_failed_files_stay_reported_and_selecting_one_clears_the_panel(
        qtbot: QtBot, window: MainWindow, tmp_path: Path, sample_clips: list[Path]) -> None:
    bad = tmp_path / "notes.wav"
    bad.write_bytes(b"RIFF....WAVEfmt this is not really audio" * 4)
    assert drop_files(window, [sample_clips[0], bad, sample_clips[1], sample_clips[2]])
    view = window.file_view
    qtbot.waitUntil(lambda: len(view.order) == 4 and not view.busy, timeout=30000)
    # The failure of the 2nd file is still in view after the 3rd and 4th were analysed (it used to vanish).
    assert view.message.isVisible() and "notes.wav" in view.message.text()
    assert view.current == str(sample_clips[2]) and all(exports_enabled(window))

    view.table.selectRow(view.order.index(str(bad)))
    assert view.current is None and view.pages.currentWidget() is view.failed_page
    assert "notes.wav could not be analysed" in view.failed_page.text()
    assert view.errors[str(bad)] in view.failed_page.text()
    assert not any(exports_enabled(window)) and not view.play_button.isEnabled()
    assert "Analyse a file first" in window.export_csv_action.toolTip()
    window.export_csv_action.trigger()  # disabled: no dialog, nothing written
    assert not list(tmp_path.glob("*.csv"))

    view.table.selectRow(view.order.index(str(sample_clips[0])))
    assert view.current == str(sample_clips[0]) and view.pages.currentWidget() is view.detail
    assert all(exports_enabled(window))
    # A new batch starts with a clean message.
    window.analyse_files([str(sample_clips[3])])
    qtbot.waitUntil(lambda: len(view.order) == 5 and not view.busy, timeout=30000)
    assert not view.message.isVisible()


def test_the_table_has_readable_captions(qtbot: QtBot, window: MainWindow, sample_clips: list[Path]) -> None:
    window.analyse_files([str(sample_clips[0]), str(sample_clips[4])])
    view = window.file_view
    qtbot.waitUntil(lambda: len(view.order) == 2 and not view.busy, timeout=30000)
    captions = [view.table.horizontalHeaderItem(c).text() for c in range(view.table.columnCount())]
    assert captions[:4] == ["File", "Duration", "Dominant", "Speech %"]
    assert "Silence %" in captions and not [c for c in captions if "_" in c]
    duration = view.table.item(0, 1).text()
    assert duration.startswith("0:0") and "." in duration  # m:ss.d, as on the time axes
    assert view.table.item(0, 2).text()[0].isupper()
    assert display_header("happy_%") == "Happy %" and display_header("calm_%") == "Calm %"


def test_exports_in_the_live_tab_are_off_until_there_are_live_results(
        qtbot: QtBot, tmp_path: Path, model_path: Path, sample_clips: list[Path]) -> None:
    no_portaudio = FakeDevices(list_error="PortAudio is missing.")  # no live results on any machine
    window = open_window(qtbot, tmp_path, no_portaudio, model=str(model_path))
    window.analyse_files([str(sample_clips[0])])
    qtbot.waitUntil(lambda: window.file_view.current is not None, timeout=30000)
    assert window.export_csv_action.isEnabled()
    window.show_page(0)  # the Live tab: Ctrl+E would export the live session, and there is none
    assert not window.export_csv_action.isEnabled()
    assert "Nothing to export yet: start live analysis" in window.export_csv_action.toolTip()


def test_many_failures_are_counted_not_all_listed() -> None:
    assert batch_message(["a: bad", "b: bad"]) == "a: bad\nb: bad"
    text = batch_message([f"{i}.wav: bad" for i in range(7)])
    assert text.count("\n") == 3 and "… and 4 more files could not be analysed" in text
