"""Long work in a real window (offscreen): a long file's analysis shows its share done and the time left, Esc and
Cancel stop it (queued files dropped, finished ones kept), and closing the window during an analysis ends it at
once. Also the CLI's progress line (serapp.progress)."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from serapp.engine.audio import load
from serapp.errors import Cancelled
from serapp.progress import ProgressLine, describe, format_span, time_left_s
from serapp.ui.fileview import PROGRESS_STEPS, _Carrier, progress_reporter
from serapp.ui.mainwindow import MainWindow

LONG_S = 600  # a 10-minute recording: many decoding blocks, tens of seconds of analysis on the CI machine


@pytest.fixture(scope="module")
def long_file(tmp_path_factory: pytest.TempPathFactory, sample_clips: list[Path]) -> Path:
    """Real speech repeated to ten minutes (16-bit WAV)."""
    speech = load(sample_clips[0], 16000)
    path = tmp_path_factory.mktemp("long") / "ten-minutes.wav"
    sf.write(path, np.tile(speech, LONG_S * 16000 // len(speech) + 1)[:LONG_S * 16000], 16000, subtype="PCM_16")
    return path


def wait_progress(qtbot: QtBot, window: MainWindow) -> None:
    """Until the bar has moved and the time left is estimated."""
    view = window.file_view
    qtbot.waitUntil(lambda: view.progress_bar.value() > 0 and "left" in view.progress_label.text()
                    and "about" in view.progress_label.text(), timeout=30000)


def test_a_long_file_shows_progress_and_esc_cancels_it_with_the_queue(
        qtbot: QtBot, window: MainWindow, long_file: Path, sample_clips: list[Path]) -> None:
    view = window.file_view
    window.analyse_files([str(long_file), str(sample_clips[1])])
    assert view.progress_row.isVisible() and view.cancel_button.isEnabled()
    wait_progress(qtbot, window)
    text = view.progress_label.text()
    assert "ten-minutes.wav (1 of 2)" in text and "%" in text
    assert 0 < view.progress_bar.value() < PROGRESS_STEPS
    thread = view._worker
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not view.busy, timeout=5000)
    assert thread is not None and not thread.is_alive()
    assert not view.progress_row.isVisible()
    assert "cancelled" in view.message.text() and view.message.property("error") is False
    # Neither the cancelled file nor the queued one was analysed or reported as failed.
    assert view.order == [] and view.results == {} and view.errors == {}
    assert window.isVisible() and not window.in_demo


def test_cancel_keeps_the_files_already_analysed(qtbot: QtBot, window: MainWindow, long_file: Path,
                                                 sample_clips: list[Path]) -> None:
    view = window.file_view
    window.analyse_files([str(sample_clips[2]), str(long_file)])
    qtbot.waitUntil(lambda: str(sample_clips[2]) in view.results, timeout=30000)
    qtbot.waitUntil(lambda: "(2 of 2)" in view.progress_label.text(), timeout=5000)
    view.cancel_button.click()
    qtbot.waitUntil(lambda: not view.busy, timeout=5000)
    assert view.current == str(sample_clips[2]) and view.pages.currentWidget() is view.detail
    assert view.export_csv_button.isEnabled() and list(view.results) == [str(sample_clips[2])]


def test_closing_the_window_during_an_analysis_cancels_it(qtbot: QtBot, window: MainWindow, long_file: Path) -> None:
    view = window.file_view
    outcomes: list[object] = []
    view._carrier.done.connect(lambda _path, outcome: outcomes.append(outcome))
    window.analyse_files([str(long_file)])
    wait_progress(qtbot, window)
    thread = view._worker
    assert thread is not None and thread.is_alive() and thread.daemon  # never holds the process up at exit
    window.close()  # waits at most a second for the thread
    qtbot.waitUntil(lambda: not thread.is_alive(), timeout=30000)
    qtbot.waitUntil(lambda: bool(outcomes), timeout=3000)
    assert isinstance(outcomes[0], Cancelled)  # it stopped at its next block instead of finishing the file


QUIT_SCRIPT = """
import argparse, sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from serapp.ui.app import run_app
from serapp.ui.mainwindow import MainWindow

app = QApplication(sys.argv[:1])
state = {}

def step():
    window = next(w for w in app.topLevelWidgets() if isinstance(w, MainWindow))
    view = window.file_view
    if not state:
        window.analyse_files([sys.argv[1]])
        state["started"] = True
    elif view.progress_bar.value() > 0 and view.busy:
        print("closing during the analysis", flush=True)
        window.close()
        return
    QTimer.singleShot(50, step)

QTimer.singleShot(0, step)
code = run_app(argparse.Namespace(model=sys.argv[2], input=None, device=None, demo=False))
print("run_app returned", code, flush=True)
sys.exit(code)
"""


def test_quitting_during_an_analysis_exits_cleanly(tmp_path: Path, long_file: Path, model_path: Path) -> None:
    """The whole app (run_app) quit while a file is analysed: it exits with status 0, not with onnxruntime's
    abort ("terminate called without an active exception", status 134) from a thread still running at exit."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path), "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", QUIT_SCRIPT, str(long_file), str(model_path)], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert "closing during the analysis" in done.stdout, done.stderr
    assert done.returncode == 0 and "run_app returned 0" in done.stdout, (done.returncode, done.stderr[-2000:])
    assert "terminate called" not in done.stderr


def test_the_progress_callback_raises_cancelled_once_cancel_is_set(qtbot: QtBot) -> None:
    carrier, cancel = _Carrier(), threading.Event()
    seen: list[float] = []
    carrier.progress.connect(lambda _path, f: seen.append(f))
    times = iter([0.0, 0.05, 0.2])
    report = progress_reporter("/x/a.wav", carrier, cancel, clock=lambda: next(times))
    report(0.1)
    report(0.2)  # within the throttle interval: not sent
    report(0.3)
    assert seen == [0.1, 0.3]
    cancel.set()
    with pytest.raises(Cancelled, match=r"a\.wav was cancelled"):
        report(0.4)


def test_progress_text_and_time_left() -> None:
    assert time_left_s(0.25, 10.0) == pytest.approx(30.0)
    assert time_left_s(0.005, 10.0) is None and time_left_s(0.5, 0.2) is None  # too early to tell
    assert format_span(8.4) == "8 s" and format_span(125) == "2 min 05 s" and format_span(3780) == "1 h 03 min"
    assert describe("talk.wav", 0.45, 20.0, index=1, count=4) == "Analysing talk.wav (2 of 4) — 45 % · about 20 s left"
    assert describe("a.wav", 0.0, None) == "Analysing a.wav — 0 % · estimating the time left…"


def test_cli_progress_line_waits_then_updates_in_place_and_clears(long_file: Path) -> None:
    out = io.StringIO()
    now = [0.0]
    line = ProgressLine(out, clock=lambda: now[0])
    report = line.for_file(long_file, 0, 2)
    report(10.0)  # at once: a quick job prints nothing
    assert out.getvalue() == ""
    now[0] = 2.0
    report(60.0)
    assert out.getvalue() == "\rAnalysing ten-minutes.wav (1 of 2) — 10 % · about 18 s left\033[K"
    now[0] = 2.1
    report(61.0)  # within the interval: no update
    line.clear()
    assert out.getvalue().endswith("\r\033[K") and out.getvalue().count("\r") == 2


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("tty", [True, False])
def test_cli_analyze_shows_progress_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
                                                       tmp_path: Path, model_path: Path, sample_clips: list[Path],
                                                       tty: bool) -> None:
    from serapp import progress
    from serapp.cli import main

    minute = tmp_path / "minute.wav"
    speech = load(sample_clips[1], 16000)
    sf.write(minute, np.tile(speech, 60 * 16000 // len(speech) + 1)[:60 * 16000], 16000, subtype="PCM_16")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    monkeypatch.setattr(progress, "CLI_DELAY_S", 0.0)
    monkeypatch.setattr(progress, "CLI_INTERVAL_S", 0.0)
    err = _Terminal() if tty else io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    assert main(["analyze", "--model", str(model_path), str(minute), str(bad)]) == 1
    out = capsys.readouterr().out
    assert "minute.wav" in out and "bad.wav" not in out  # results on stdout only, as before
    text = err.getvalue()
    assert "bad.wav" in text  # the error line, as before
    if tty:
        assert "\rAnalysing minute.wav (1 of 2) — " in text and " left" in text
        # The line is wiped before the error message, which starts a clean line.
        assert "\r\033[Kserapp: " in text and text.rstrip("\n").endswith(".")
    else:
        assert "Analysing" not in text and "\r" not in text
