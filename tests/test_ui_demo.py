"""Demo mode for an audience (real widgets offscreen): short input messages instead of developer text, stale
results greyed under "No input" and "Stopped", the emotion word's capitals at least 15 % of the screen height,
and a key hint that fades."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QFontMetricsF
from pytestqt.qtbot import QtBot

from serapp.engine.result import EmotionResult
from serapp.ui import demo
from serapp.ui.demo import AUDIENCE_RECONNECTING, AUDIENCE_STOPPED, AUDIENCE_WAITING, DemoView, audience_message
from serapp.ui.theme import emotion_style
from tests.ui_helpers import build_model, open_window

LABELS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
RETRYING = "No audio input device was found. Choose one with --device NAME|INDEX.\nRetrying in 3 s (attempt 2)…"


def result(t: float, top: int) -> EmotionResult:
    probs = np.full(len(LABELS), 0.05, np.float32)
    probs[top] = 1.0 - 0.05 * (len(LABELS) - 1)
    return EmotionResult(t=t, labels=LABELS, probs=probs, raw_probs=probs, is_speech=True, level_db=-20.0,
                         compute_ms=1.0, latency_ms=20.0, phase="speech")  # an utterance being scored


@pytest.fixture
def view(qtbot: QtBot) -> DemoView:
    v = DemoView()
    qtbot.addWidget(v)
    v.set_labels(LABELS)
    return v


def test_audience_messages_are_short_and_plain() -> None:
    assert audience_message("", had_input=True) == ""
    assert audience_message(RETRYING, had_input=True) == AUDIENCE_RECONNECTING == "Microphone lost — reconnecting…"
    assert audience_message(RETRYING, had_input=False) == AUDIENCE_WAITING
    assert audience_message("Live input is off: PortAudio is missing.", had_input=False) == AUDIENCE_WAITING
    assert audience_message("talk.wav: the file is damaged at 12.0 s.", had_input=True) == AUDIENCE_STOPPED
    for text in (AUDIENCE_RECONNECTING, AUDIENCE_WAITING, AUDIENCE_STOPPED):
        assert len(text) <= 40 and "--" not in text and "serapp" not in text


@pytest.mark.parametrize("screen", [(1920, 1080), (1280, 720), (3840, 2160)])
def test_the_emotion_word_is_at_least_15_percent_of_the_screen_and_everything_fits(
        qtbot: QtBot, view: DemoView, screen: tuple[int, int]) -> None:
    width, height = screen
    view.apply_size(height, width)
    view.resize(width, height)
    view.show()
    qtbot.waitExposed(view)
    name = view.emotion.name_label
    cap = QFontMetricsF(name.font()).capHeight()
    assert cap >= 0.15 * height
    for i, label in enumerate(LABELS):
        view.show_results([result(0.25 * (i + 1), i)])
        assert view.emotion.current_text == emotion_style(label).name
        # Once the layout has followed the new word, it is whole (not cut) and on screen with everything else.
        qtbot.waitUntil(lambda: name.width() >= QFontMetricsF(name.font()).horizontalAdvance(name.text()),
                        timeout=3000)
        for part in (name, view.emotion.face, view.bars, view.timeline, view.hint):
            rect = QRect(part.mapTo(view, QPoint(0, 0)), part.size())
            assert view.rect().contains(rect), (label, part, rect)
    assert view.bars.height() <= 0.3 * height  # the word leads; the bars no longer take 40 % of the screen


def test_stale_results_are_greyed_and_a_lost_microphone_reads_reconnecting(view: DemoView) -> None:
    view.show_results([result(0.5, 3)])
    assert view.bars.active and not view.timeline.stale
    view.show_problem(RETRYING)
    view.show_state("error")
    assert view.problem.text() == AUDIENCE_RECONNECTING and view.problem.toolTip() == RETRYING
    assert view.emotion.current_text == "No input"
    assert not view.bars.active and view.timeline.stale  # the last result no longer looks current
    view.show_problem("")
    view.show_results([result(1.0, 0)])
    assert view.problem.isHidden() and view.bars.active and not view.timeline.stale
    view.show_state("stopped")
    assert view.emotion.current_text == "Stopped" and not view.bars.active and view.timeline.stale


def test_the_key_hint_fades_after_a_few_seconds(qtbot: QtBot) -> None:
    assert demo.HINT_VISIBLE_S <= 5.0  # "a few seconds"; shortened here
    view = DemoView(hint_visible_s=0.1)
    qtbot.addWidget(view)
    view.show()
    view.show_hint()
    assert view.hint_opacity == 1.0
    qtbot.waitUntil(lambda: view.hint_opacity == 0.0, timeout=5000)
    view.show_hint()  # entering demo mode again shows it again
    assert view.hint_opacity == 1.0


def test_the_live_view_greys_its_last_result_when_stopped(qtbot: QtBot, tmp_path: Path,
                                                         sample_clips: list[Path]) -> None:
    window = open_window(qtbot, tmp_path, model=str(build_model(tmp_path)), input=str(sample_clips[0]))
    live = window.live_view
    qtbot.waitUntil(lambda: live.bars.active, timeout=15000)
    assert not live.timeline.stale
    window.toggle_live()
    assert live.emotion.current_text == "Stopped" and not live.bars.active and live.timeline.stale
    assert live.bars.probabilities().sum() > 0  # greyed, still readable as history
