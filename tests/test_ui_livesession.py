"""Live sessions are kept (real window offscreen, fed by a real clip at real-time pace): Stop/Start and setting
changes continue the timeline instead of wiping it, Live › Clear empties it, Ctrl+E in the Live tab exports it,
and the timeline bands have a legend. Also the session clock of serapp.ui.liverecord."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from pytestqt.qtbot import QtBot

from serapp.engine.labels import SILENCE
from serapp.engine.result import EmotionResult
from serapp.ui.liverecord import LiveRecord, Tally
from serapp.ui.liveview import summary_text
from serapp.ui.theme import emotion_style
from tests.ui_helpers import open_window

LABELS = ("angry", "happy", "sad")


def result(t: float, probs: list[float] | None) -> EmotionResult:
    p = None if probs is None else np.array(probs, np.float32)
    return EmotionResult(t=t, labels=LABELS, probs=p, raw_probs=p, is_speech=p is not None, level_db=-30.0,
                         compute_ms=1.0, latency_ms=10.0, phase="silence" if p is None else "speech")


def test_the_session_clock_continues_across_runs_and_clear_starts_it_again() -> None:
    record = LiveRecord()
    record.set_labels(LABELS)
    first = record.add([result(0.25, [0.7, 0.2, 0.1]), result(0.5, None)])
    assert [r.t for r in first] == [0.25, 0.5]
    record.new_run()  # Stop/Start, a settings change or a reconnect: the stream counts from 0 again
    second = record.add([result(0.25, [0.1, 0.8, 0.1]), result(0.5, [0.1, 0.1, 0.8])])
    assert [r.t for r in second] == [0.75, 1.0]
    third = record.add([result(0.25, [0.2, 0.2, 0.6])])  # a looping file restarts without a new run
    assert third[0].t == 1.25 and len(record) == 5
    analysis = record.analysis(hop_s=0.25)
    assert analysis.summary.windows == 5 and analysis.summary.shares[SILENCE] == pytest.approx(0.2)
    assert [w.t for w in analysis.timeline] == [0.25, 0.5, 0.75, 1.0, 1.25]
    record.clear()
    assert len(record) == 0 and record.add([result(0.5, None)])[0].t == pytest.approx(0.25)
    record.set_labels(("calm", "excited"))  # another model: another table
    assert len(record) == 0 and record.labels == ("calm", "excited")


def test_rolling_summary_of_the_last_minute_and_the_session() -> None:
    record = LiveRecord()
    record.set_labels(LABELS)
    assert record.session_tally(0.25) == Tally("", 0.0, 0.0, 0.0)
    record.add([result(0.25 * (i + 1), [0.1, 0.8, 0.1]) for i in range(240)])  # a minute of Happy
    record.add([result(60.0 + 0.25 * (i + 1), [0.7, 0.2, 0.1] if i % 2 else None) for i in range(240)])
    session = record.session_tally(0.25)
    assert session.dominant == "happy" and session.share == pytest.approx(240 / 360)
    assert session.span_s == 120.0 and session.speech_s == 90.0
    recent = record.recent_tally(0.25)  # the last minute: Angry in every speech hop, half of them silent
    assert recent.dominant == "angry" and recent.share == 1.0 and recent.speech_s == pytest.approx(30.0, abs=0.3)
    assert summary_text(recent, session) == ("Last 60 s: Angry, on top in 100 % of speech   ·   "
                                             "Session (2:00): Happy, on top in 67 % of speech")
    record.clear()
    assert record.session_tally(0.25).dominant == "" and record.recent_tally(0.25).dominant == ""


def test_stop_start_and_setting_changes_keep_the_timeline_until_cleared(
        qtbot: QtBot, tmp_path: Path, model_path: Path, sample_clips: list[Path]) -> None:
    window = open_window(qtbot, tmp_path, model=str(model_path), input=str(sample_clips[4]))
    live, record = window.live_view, window.live_record
    qtbot.waitUntil(lambda: live.timeline.count >= 4, timeout=15000)
    window.toggle_live()  # Stop
    kept = live.timeline.count
    assert kept >= 4 and len(record) == kept
    window.toggle_live()  # Start again: the file plays from its start, the session goes on
    qtbot.waitUntil(lambda: live.timeline.count >= kept + 3, timeout=15000)
    window.hop_spin.setValue(0.5)  # a setting change restarts the analyzer (after a short pause)
    qtbot.waitUntil(lambda: window.session.config.hop_s == 0.5, timeout=3000)
    before = live.timeline.count
    qtbot.waitUntil(lambda: live.timeline.count >= before + 2, timeout=15000)
    times = [w.t for w in record.rows]
    assert np.all(np.diff(times) > 0)  # one clock for the whole session
    assert live.timeline.count == len(record) > kept  # nothing was wiped
    assert live.summary.text().startswith("Last 60 s: ") and "Session (0:" in live.summary.text()

    # Ctrl+E in the Live tab exports the session.
    window.show_page(0)
    assert window.export_csv_action.isEnabled()
    window.toggle_live()
    assert window.write_live_export(tmp_path / "live.csv", "csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "live.csv").read_text())))
    assert len(rows) == len(record) and rows[0]["file"] == "live"
    assert [float(r["t"]) for r in rows] == pytest.approx(times + [w.t for w in record.rows[len(times):]], abs=1e-3)
    assert window.write_live_export(tmp_path / "live.json", "json")
    data = json.loads((tmp_path / "live.json").read_text())
    assert data["summary"]["windows"] == len(record) and len(data["timeline"]) == len(record)
    assert window.write_live_export(tmp_path / "live.png", "png")
    assert (tmp_path / "live.png").read_bytes()[:4] == b"\x89PNG"
    assert "Saved" in window.statusBar().currentMessage()
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert not window.write_live_export(blocker / "x.csv", "csv")
    assert "Export failed" in window.banner_text and len(record) == len(rows)  # nothing lost

    window.clear_action.trigger()  # Live › Clear
    assert len(record) == 0 and live.timeline.count == 0 and window.demo_view.timeline.count == 0
    assert not window.export_csv_action.isEnabled()
    assert "Nothing to export yet" in window.export_csv_action.toolTip()


def test_the_timelines_have_a_legend(qtbot: QtBot, tmp_path: Path, model_path: Path,
                                    sample_clips: list[Path]) -> None:
    window = open_window(qtbot, tmp_path, model=str(model_path))
    window.analyse_files([str(sample_clips[0])])
    qtbot.waitUntil(lambda: window.file_view.current is not None, timeout=30000)
    expected = [(emotion_style(lb).name, emotion_style(lb).color) for lb in window.model.info.labels]
    for timeline in (window.live_view.timeline, window.file_view.timeline):
        assert timeline.legend is not None and timeline.legend.entries == expected
        assert timeline.legend.isVisibleTo(timeline)
    assert window.demo_view.timeline.legend is None  # the demo's bars name the colours


def test_the_session_keeps_its_utterances_with_their_final_scores() -> None:
    """Exports of a live session list its utterances as a file's analysis does: each with start, end and its
    final score (the held one; or its last score when the next utterance began at once)."""
    def update(t: float, phase: str, probs: list[float] | None, utterance: int = 0, length: float = 0.0,
               raw: list[float] | None = None) -> EmotionResult:
        p = None if probs is None else np.array(probs, np.float32)
        r = None if raw is None and p is None else np.array(raw if raw is not None else probs, np.float32)
        return EmotionResult(t=t, labels=LABELS, probs=p, raw_probs=r if phase == "speech" else None,
                             is_speech=phase == "speech", level_db=-30.0, compute_ms=1.0, latency_ms=10.0,
                             phase=phase, utterance=utterance, utterance_s=length)

    record = LiveRecord()
    record.set_labels(LABELS)
    record.add([update(0.25, "silence", None),
                update(1.0, "speech", [0.5, 0.3, 0.2], 1, 0.75), update(1.25, "speech", [0.6, 0.3, 0.1], 1, 1.0),
                update(1.5, "held", [0.8, 0.1, 0.1]), update(2.5, "silence", None),
                update(3.0, "speech", [0.1, 0.8, 0.1], 2, 0.75),
                update(3.25, "speech", [0.1, 0.1, 0.8], 3, 0.75),  # the next one began at once
                update(3.5, "silence", None)])
    starts_ends = [(u.start, u.end) for u in record.utterances]
    assert starts_ends == [(0.25, 1.25), (2.25, 3.0), (2.5, 3.25)]
    np.testing.assert_allclose(record.utterances[0].probs, [0.8, 0.1, 0.1])  # the held, final score
    np.testing.assert_allclose(record.utterances[1].probs, [0.1, 0.8, 0.1])  # its last score
    analysis = record.analysis(hop_s=0.25)
    assert [u["emotion"] for u in analysis.to_dict()["utterances"]] == ["angry", "happy", "sad"]
    assert analysis.summary.utterances == 3
    record.clear()
    assert record.utterances == []
