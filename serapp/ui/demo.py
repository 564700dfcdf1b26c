"""Demo mode page: the current emotion in type readable across a room, bars, a slim timeline, and any input
problem in large letters (the session keeps retrying a lost microphone by itself)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from serapp.engine.analyzer import EmotionResult
from serapp.ui.emotionpanel import EmotionDisplay, ProbabilityBars
from serapp.ui.liveview import STATE_TEXT, present_results
from serapp.ui.timeline import LiveTimeline

HINT = "Space  start / stop      F11  full screen      Esc  leave demo"


def demo_point_size(screen_height_px: int) -> float:
    """Base type size (pt) for demo mode: about 1/45 of the screen height, never below 18 pt (a 1080 p screen
    gives 24 pt bars and a 75 pt emotion name: readable from 5 m on a projector or a large monitor)."""
    return max(18.0, screen_height_px / 45.0)


class DemoView(QWidget):
    """Full-screen presentation of the live results; no controls (keyboard only)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("demoView")
        self.emotion = EmotionDisplay(self, scale=2.2)
        self.bars = ProbabilityBars(self)
        self.timeline = LiveTimeline(self, span_s=30.0)
        self.problem = QLabel(self)
        self.problem.setObjectName("demoProblem")
        self.problem.setWordWrap(True)
        self.problem.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.problem.hide()
        self.hint = QLabel(HINT, self)
        self.hint.setObjectName("demoHint")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)  # never wider than the screen (the page is a minimum width of the window)

        emotion_row = QHBoxLayout()
        emotion_row.addStretch(1)
        emotion_row.addWidget(self.emotion)
        emotion_row.addStretch(1)
        bars_row = QHBoxLayout()
        bars_row.addStretch(1)
        bars_row.addWidget(self.bars, 4)
        bars_row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(48, 24, 48, 12)
        layout.addWidget(self.problem)
        layout.addStretch(1)
        layout.addLayout(emotion_row)
        layout.addSpacing(24)
        layout.addLayout(bars_row)
        layout.addStretch(1)
        layout.addWidget(self.timeline, 1)
        layout.addWidget(self.hint)

    def minimumSizeHint(self) -> QSize:
        """Nothing: this page is only shown full screen with its type sized to the screen (:meth:`apply_size`), so
        it must not set a least size on the normal window (its default-size type would, on a small screen)."""
        return QSize(0, 0)

    def apply_size(self, screen_height_px: int) -> None:
        """Scale all type to the screen (call when entering demo mode)."""
        base = QFont(self.font())
        base.setPointSizeF(demo_point_size(screen_height_px))
        self.bars.setFont(base)
        problem_font = QFont(base)
        problem_font.setBold(True)
        self.problem.setFont(problem_font)
        small = QFont(base)
        small.setPointSizeF(base.pointSizeF() * 0.5)
        self.hint.setFont(small)
        self.emotion.setFont(base)
        self.emotion.set_scale(1.25)
        self.timeline.setMinimumHeight(int(screen_height_px * 0.18))
        self.timeline.plot.setLabel("left", "")
        self.timeline.plot.getAxis("bottom").setStyle(tickFont=small)
        self.timeline.plot.getAxis("left").setStyle(tickFont=small)

    def set_labels(self, labels: Sequence[str]) -> None:
        self.bars.set_labels(labels)
        self.timeline.set_labels(labels)

    def show_results(self, results: Sequence[EmotionResult]) -> None:
        present_results(results, self.emotion, self.bars, self.timeline, silence_detail="")

    def show_state(self, state: str) -> None:
        if state in STATE_TEXT:
            self.emotion.show_silence(STATE_TEXT[state][0], "")

    def show_problem(self, message: str) -> None:
        self.problem.setText(message)
        self.problem.setVisible(bool(message))
