"""The window's exports and File › Open under the failures of issue 32: a name of up to 255 bytes is exported; a
read-only folder, a named pipe, a device node, a folder or a symbolic link as the target is an "Export failed"
message in the window (never a traceback, never a stale "Saved"); the summary table's CSV is formula-safe; a
named pipe opened as audio is refused at once and the next file is still analysed; a saved model that is a named
pipe or whose outputs are not probabilities lets the window open with the bundled model."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from serapp.paths import default_model_path
from serapp.textsafe import FORMULA_STARTS
from serapp.ui.settings import AppSettings, save_settings
from tests.lying_models import NOT_PROBABILITIES, lying_model
from tests.test_reliability_writes import _special_targets, read_only
from tests.ui_helpers import drop_files, open_window, settings_store


def _analysed(qtbot: QtBot, tmp_path: Path, model_path: Path, clips: list[Path]) -> object:
    window = open_window(qtbot, tmp_path, model=str(model_path))
    assert drop_files(window, clips)
    view = window.file_view
    qtbot.waitUntil(lambda: len(view.results) == len(clips) and not view.busy, timeout=60000)
    return window


def test_exports_fail_plainly_and_never_leave_saved_showing(qtbot: QtBot, tmp_path: Path, model_path: Path,
                                                           sample_clips: list[Path]) -> None:
    clip = tmp_path / "=SUM(A1).ogg"  # a file name a spreadsheet would run as a formula
    clip.write_bytes(sample_clips[0].read_bytes())
    window = _analysed(qtbot, tmp_path, model_path, [clip])
    view = window.file_view  # type: ignore[attr-defined]
    out = tmp_path / "out"
    out.mkdir()
    long_name = out / ("x" * 251 + ".csv")  # 255 bytes: the temp name used to overflow the limit
    assert view.write_export(long_name, "csv") and long_name.stat().st_size > 0
    assert view.message.text() == f"Saved {long_name}"

    failures = {**_special_targets(out), "link": out / "link.csv"}
    (out / "real.csv").write_text("mine")
    failures["link"].symlink_to(out / "real.csv")
    for what, target in failures.items():
        assert view.write_export(target, "table") is False, what
        message = view.message.text()
        assert message.startswith("Export failed: Cannot write") and "Saved" not in message, (what, message)
        assert view.message.isVisible() and "\n" not in message
        assert view.write_export(out / "ok.csv", "table")  # and the next export works again
    assert (out / "real.csv").read_text() == "mine" and failures["link"].is_symlink()

    ro = tmp_path / "read-only"
    ro.mkdir()
    with read_only(ro):
        assert view.write_export(ro / "summary.csv", "table") is False
        assert view.message.text().startswith("Export failed: Cannot write")
    assert not any(ro.iterdir())

    rows = list(csv.reader(io.StringIO((out / "ok.csv").read_text())))
    assert rows[1][0] == "'=SUM(A1).ogg" and not any(r[2].startswith(FORMULA_STARTS) for r in rows[1:])


def test_a_named_pipe_opened_as_audio_is_refused_and_the_next_file_is_analysed(qtbot: QtBot, tmp_path: Path,
                                                                               model_path: Path,
                                                                               sample_clips: list[Path]) -> None:
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    window = _analysed(qtbot, tmp_path, model_path, [sample_clips[1]])
    view = window.file_view  # type: ignore[attr-defined]
    window.analyse_files([str(fifo), str(sample_clips[2])])  # type: ignore[attr-defined]  # File › Open's result
    qtbot.waitUntil(lambda: str(fifo) in view.errors and str(sample_clips[2]) in view.results and not view.busy,
                    timeout=60000)
    assert "is a named pipe" in view.errors[str(fifo)]


@pytest.mark.parametrize("kind", ["fifo", "lying"])
def test_a_saved_model_that_is_a_pipe_or_lies_still_lets_the_window_open(qtbot: QtBot, tmp_path: Path,
                                                                         kind: str) -> None:
    """Through the saved settings: a named pipe used to block the window's start for ever, and a model whose
    outputs are not probabilities was served. Now the window opens, says why, and the bundled model stands in."""
    if kind == "fifo":
        bad = tmp_path / "model.onnx"
        os.mkfifo(bad)
        why = "is a named pipe"
    else:
        bad = lying_model(tmp_path / "logits.onnx", NOT_PROBABILITIES["logits"])
        why = "not probabilities"
    save_settings(settings_store(tmp_path), AppSettings(model_path=str(bad)))
    window = open_window(qtbot, tmp_path)
    banner = window.banner_text
    assert str(bad) in banner and why in banner, banner
    if default_model_path().exists():
        assert window.model is not None and window.model.path == default_model_path()
