"""Pure parts of the UI (no window): Qt binding check, exports, spectrogram scaling, timeline stacking, rates."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QObject, Signal

from serapp import atomic
from serapp.engine import serialize
from serapp.engine.rate import RateCounter
from serapp.engine.result import EmotionResult
from serapp.engine.serialize import timeline_csv
from serapp.engine.summary import FileAnalysis, summarize
from serapp.errors import SerappError
from serapp.ui.app import check_qt_binding
from serapp.ui.filework import display_hop
from serapp.ui.spectrogram import db_to_uint8
from serapp.ui.theme import EMOTION_STYLES, emotion_style, spectrogram_lut
from serapp.ui.timeline import stack_bounds


class _Emitter(QObject):
    ping = Signal()


def test_qt_binding_does_not_leak_references_on_emit() -> None:
    """PySide6 6.12.0 drops a reference to True per emit and aborts after a few thousand (see pyproject)."""
    check_qt_binding()
    e = _Emitter()
    before = sys.getrefcount(True)
    for _ in range(500):
        e.ping.emit()
    assert sys.getrefcount(True) >= before


def _analysis(tmp_path: Path) -> FileAnalysis:
    labels = ("angry", "happy")
    timeline = [EmotionResult(0.25, labels, np.array([0.8, 0.2], np.float32), is_speech=True, level_db=-20.0),
                EmotionResult(0.5, labels, None, is_speech=False, level_db=-70.0),
                EmotionResult(0.75, labels, np.array([0.3, 0.7], np.float32), is_speech=True, level_db=-22.0)]
    return FileAnalysis(tmp_path / "clip.wav", labels, 0.25, timeline, summarize(timeline, labels, 1.0, crowd_s=0.25))


def test_timeline_csv_and_summary_table(tmp_path: Path) -> None:
    a = _analysis(tmp_path)
    lines = serialize.analysis_csv(a).splitlines()
    clip = str(tmp_path / "clip.wav")
    assert lines == ["file,t,emotion,speech,level_db,p_angry,p_happy", f"{clip},0.250,angry,1,-20.0,0.800000,0.200000",
                     f"{clip},0.500,silence,0,-70.0,,", f"{clip},0.750,happy,1,-22.0,0.300000,0.700000"]
    with pytest.raises(SerappError, match="analysed with the labels angry, happy"):
        timeline_csv(("happy", "angry"), [a])  # columns named in another order would mislabel every value
    table = serialize.summaries_csv([a]).splitlines()
    assert table[0] == "file,duration_s,dominant,speech_%,angry_%,happy_%,silence_%,crowd_s"
    assert table[1] == "clip.wav,1.0,angry,67,33,33,33,0.2"


def test_atomic_write_replaces_whole_and_reports_unwritable_places(tmp_path: Path) -> None:
    target = atomic.write_text(tmp_path / "out.csv", "new\n")
    assert target.read_text() == "new\n"
    atomic.write_text(target, "newer\n")
    assert target.read_text() == "newer\n" and [p.name for p in tmp_path.iterdir()] == ["out.csv"]
    (tmp_path / "file").write_text("")
    with pytest.raises(SerappError, match=r"Cannot write .*file/x\.csv"):
        atomic.write_text(tmp_path / "file" / "x.csv", "data")


def test_db_to_uint8_maps_the_fixed_range_and_clips() -> None:
    out = db_to_uint8(np.array([[-120.0, -90.0, -50.0, -10.0, 5.0]]), -90.0, -10.0)
    assert out.dtype == np.uint8 and out.tolist() == [[0, 0, 127, 255, 255]]
    assert spectrogram_lut().shape == (256, 4)


def test_stack_bounds_cumulate_and_leave_silence_empty() -> None:
    b = stack_bounds(np.array([[0.2, 0.8], [0.0, 0.0], [np.nan, np.nan]]))
    assert b.shape == (3, 3)
    np.testing.assert_allclose(b[:, 0], [0.0, 0.2, 1.0])
    np.testing.assert_allclose(b[:, 1:], 0.0)


def test_display_hop_bounds_columns() -> None:
    assert display_hop(16000) == 160
    hour = 16000 * 3600
    assert hour / display_hop(hour) <= 4000


def test_rate_counter_counts_the_recent_window() -> None:
    r = RateCounter(window_s=2.0)
    for t in np.arange(0.0, 4.0, 0.1):
        r.tick(float(t))
    assert r.rate(4.0) == pytest.approx(10.0, abs=0.6)
    assert r.rate(10.0) == 0.0


def test_every_label_has_a_distinct_colour_and_unknown_labels_are_stable() -> None:
    colours = [s.color for s in EMOTION_STYLES.values()]
    assert len(set(colours)) == len(colours)
    assert emotion_style("calm") == emotion_style("calm") and emotion_style("calm").name == "Calm"
