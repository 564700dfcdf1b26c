"""The live page: current emotion and bars on top, the scrolling spectrogram, the probability timeline, the level."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from serapp.engine.result import EmotionResult
from serapp.ui.emotionpanel import EmotionDisplay, ProbabilityBars, emotion_card
from serapp.ui.levelmeter import LevelMeter
from serapp.ui.liverecord import RECENT_S, Tally
from serapp.ui.spectrogram import ScrollingSpectrogram
from serapp.ui.theme import emotion_style
from serapp.ui.timeaxis import format_clock
from serapp.ui.timeline import AXIS_WIDTH, LiveTimeline

STATE_TEXT = {"stopped": ("Stopped", "press Space or Start to listen"),
              "finished": ("End of file", "the input file has been played to its end"),
              "error": ("No input", "see the message above")}


def present_results(results: Sequence[EmotionResult], emotion: EmotionDisplay, bars: ProbabilityBars,
                    timeline: LiveTimeline, detail: bool = True) -> None:
    """Show a batch of results (oldest first): all go on the timeline, the newest in the display and bars.

    The display follows the engine's phases: a growing utterance's score (bars lit), an ended utterance's final
    score for a moment (bars dimmed: nobody is speaking), then "No speech"; "Listening…" while an utterance is
    too short to judge. ``detail``: add the small explanatory line (the demo screen leaves it out).
    """
    for r in results:
        timeline.append(r.t, r.probs)
    last = results[-1]
    if last.probs is None:
        if last.is_speech:
            emotion.show_silence("Listening…", "speech: judging the utterance" if detail else "")
        else:
            emotion.show_silence("No speech", "pause: nothing is scored" if detail else "")
        bars.set_probabilities(bars.probabilities(), active=False)
    else:
        top = last.top  # the engine's named emotion (held against near ties), not always the largest bar
        assert top is not None  # probabilities are there
        emotion.show_emotion(last.labels[top], float(last.probs[top]))
        bars.set_probabilities(last.probs, active=last.phase == "speech", top=top)


def tally_text(caption: str, t: Tally) -> str:
    """"Last minute: Happy, on top in 45 % of speech" (or "… no speech yet")."""
    if not t.dominant:
        return f"{caption}: no speech yet"
    return f"{caption}: {emotion_style(t.dominant).name}, on top in {100 * t.share:.0f} % of speech"


def summary_text(recent: Tally, session: Tally) -> str:
    """The rolling summary under the live timeline: the last minute, then the whole session."""
    return (f"{tally_text(f'Last {RECENT_S:.0f} s', recent)}   ·   "
            f"{tally_text(f'Session ({format_clock(session.span_s)})', session)}")


class LiveView(QWidget):
    """Draws what a :class:`~serapp.ui.engine_bridge.LiveSession` delivers; holds no engine logic."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.emotion = EmotionDisplay(self)
        self.bars = ProbabilityBars(self)
        self.spectrogram = ScrollingSpectrogram(self)
        self.spectrogram.plot.getAxis("left").setWidth(AXIS_WIDTH)
        self.timeline = LiveTimeline(self)
        self.level = LevelMeter(self)
        self.results_seen = 0

        top = emotion_card(self, self.emotion, self.bars)

        self.summary = QLabel(self)  # rolling summary: the last minute and the session (see summary_text)
        self.summary.setObjectName("caption")

        level_row = QHBoxLayout()
        level_caption = QLabel("Input level", self)
        self.level_value = QLabel("—", self)
        # A fixed size: its text changes ~50 times a second, and a label that may change size makes every change
        # re-lay out and repaint the whole page (issue 31 item 10).
        fm = self.level_value.fontMetrics()
        self.level_value.setFixedSize(fm.horizontalAdvance("-120 dBFS "), fm.height())
        self.level_value.setAutoFillBackground(True)  # opaque: nothing under it is repainted with it
        level_row.addWidget(level_caption)
        level_row.addWidget(self.level, 1)
        level_row.addWidget(self.level_value)

        plots = QSplitter(self)
        plots.setOrientation(plots.orientation().Vertical)
        plots.addWidget(self.spectrogram)
        plots.addWidget(self.timeline)
        plots.setStretchFactor(0, 3)
        plots.setStretchFactor(1, 2)
        plots.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 4)
        layout.addWidget(top)
        layout.addWidget(plots, 1)
        layout.addWidget(self.summary)
        layout.addLayout(level_row)

    def set_labels(self, labels: Sequence[str]) -> None:
        self.bars.set_labels(labels)
        self.timeline.set_labels(labels)

    def set_gate(self, gate_db: float) -> None:
        self.level.set_gate(gate_db)

    def configure_spectrum(self, n_bins: int, column_s: float, fmax_hz: float) -> None:
        self.spectrogram.configure(n_bins=n_bins, column_s=column_s, fmax_hz=fmax_hz)

    # ------------------------------------------------------------------ slots fed by the session
    def show_results(self, results: Sequence[EmotionResult]) -> None:
        self.timeline.set_stale(False)
        present_results(results, self.emotion, self.bars, self.timeline)
        self.results_seen += len(results)

    def show_summary(self, recent: Tally, session: Tally) -> None:
        self.summary.setText(summary_text(recent, session) if session.span_s > 0 else "")

    def show_spectrum(self, columns: np.ndarray, freqs: np.ndarray, level_db: float,
                      peak_db: float = -120.0) -> None:
        """New spectrogram columns, the input's RMS level and its largest sample (dBFS; for the clip light)."""
        if columns.shape[1] != self.spectrogram.n_bins:
            self.configure_spectrum(columns.shape[1], self.spectrogram.column_s, float(freqs[-1]))
        self.spectrogram.push_columns(columns)
        self.level.set_level(level_db, peak_db=peak_db)
        self.level_value.setText(f"{level_db:.0f} dBFS")

    def show_state(self, state: str) -> None:
        if state in STATE_TEXT:
            self.emotion.show_silence(*STATE_TEXT[state])
            # The last result is history now: greyed, never read as the current emotion.
            self.bars.set_probabilities(self.bars.probabilities(), active=False)
            self.timeline.set_stale(True)
        elif state == "running":
            # The timeline is kept: stops, restarts, settings changes and reconnects continue the session
            # (serapp.ui.liverecord); only Live › Clear empties it.
            self.emotion.show_silence()
