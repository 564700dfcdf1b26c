"""Demo mode page, for an audience: the current emotion in type readable across a room (its capitals 16 % of the
screen height), bars, a slim timeline, an input problem in a few plain words (the session keeps retrying a lost
microphone by itself), stale results greyed, and a key hint that fades after a few seconds."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPropertyAnimation, QSize, Qt, QTimer
from PySide6.QtGui import QFont, QFontMetricsF
from PySide6.QtWidgets import QGraphicsOpacityEffect, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from serapp.engine.result import EmotionResult
from serapp.ui.emotionpanel import EmotionDisplay, ProbabilityBars
from serapp.ui.liveview import STATE_TEXT, present_results
from serapp.ui.theme import emotion_style
from serapp.ui.timeline import LiveTimeline

HINT = "Space  start / stop      F11  full screen      Esc  leave demo"
HINT_VISIBLE_S = 5.0  # the key hint shows this long on entering demo mode, then fades out
HINT_FADE_MS = 1200
NAME_CAP_SHARE = 0.16  # height of the emotion word's capitals as a share of the screen height (15 % at least)
# What the audience reads about the input; the full, technical reason stays in the window's banner (hidden here).
AUDIENCE_RECONNECTING = "Microphone lost — reconnecting…"
AUDIENCE_WAITING = "No microphone — waiting for one…"
AUDIENCE_STOPPED = "The input stopped"


def demo_point_size(screen_height_px: int) -> float:
    """Base type size (pt) of the bars and messages in demo mode: 1/64 of the screen height, never below 12 pt
    (a 1080 p screen gives 17 pt: the bars take about a quarter of the screen, the emotion word leads)."""
    return max(12.0, screen_height_px / 64.0)


def audience_message(problem: str, had_input: bool) -> str:
    """The few words the audience sees for the session's ``problem`` ("" = none): a microphone being retried
    reads "reconnecting" once results had come, "waiting" when none ever came; a problem that is not retried
    (a damaged input file) reads "stopped"."""
    if not problem:
        return ""
    if "Retrying" in problem or "Live input is off" in problem:
        return AUDIENCE_RECONNECTING if had_input else AUDIENCE_WAITING
    return AUDIENCE_STOPPED


def name_pixel_size(screen_width_px: int, screen_height_px: int, words: Sequence[str], font: QFont,
                    face_share: float = 1.4) -> int:
    """Pixel size of the emotion word: capitals :data:`NAME_CAP_SHARE` of the screen height, unless the widest of
    ``words`` (in ``font``, bold) beside its face (``face_share`` capital heights) would not fit the width."""
    probe = QFont(font)
    probe.setBold(True)
    probe.setPixelSize(100)
    fm = QFontMetricsF(probe)
    cap_per_px = fm.capHeight() / 100.0
    by_height = NAME_CAP_SHARE * screen_height_px / cap_per_px
    widest = max((fm.horizontalAdvance(w) for w in words), default=1.0) / 100.0  # per pixel of size
    by_width = 0.9 * screen_width_px / (widest + face_share * cap_per_px + 0.1)
    return int(min(by_height, by_width))


class DemoView(QWidget):
    """Full-screen presentation of the live results; no controls (keyboard only)."""

    def __init__(self, parent: QWidget | None = None, hint_visible_s: float = HINT_VISIBLE_S) -> None:
        super().__init__(parent)
        self.hint_visible_s = hint_visible_s  # how long the key hint shows before it fades
        self.setObjectName("demoView")
        self.emotion = EmotionDisplay(self, scale=2.2)
        self.bars = ProbabilityBars(self)
        self.timeline = LiveTimeline(self, span_s=30.0, legend=False)  # the bars above name the colours
        self.problem = QLabel(self)
        self.problem.setObjectName("demoProblem")
        self.problem.setWordWrap(True)
        self.problem.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.problem.hide()
        self.hint = QLabel(HINT, self)
        self.hint.setObjectName("demoHint")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)  # never wider than the screen (the page is a minimum width of the window)
        self._hint_opacity = QGraphicsOpacityEffect(self.hint)
        self.hint.setGraphicsEffect(self._hint_opacity)
        self._hint_fade = QPropertyAnimation(self._hint_opacity, b"opacity", self)
        self._hint_fade.setDuration(HINT_FADE_MS)
        self._hint_fade.setEndValue(0.0)
        self._hint_timer = QTimer(self)
        self._hint_timer.setSingleShot(True)
        self._hint_timer.timeout.connect(self._hint_fade.start)
        self._labels: tuple[str, ...] = ()
        self._had_input = False
        self._problem = ""

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

    def apply_size(self, screen_height_px: int, screen_width_px: int | None = None) -> None:
        """Scale all type to the screen (call when entering demo mode): the emotion word's capitals take
        :data:`NAME_CAP_SHARE` of the screen height (less only where the width cannot hold the longest word)."""
        width = screen_width_px or round(screen_height_px * 16 / 9)
        base = QFont(self.font())
        base.setPointSizeF(demo_point_size(screen_height_px))
        self.bars.setFont(base)
        problem_font = QFont(base)
        problem_font.setBold(True)
        problem_font.setPointSizeF(base.pointSizeF() * 1.6)
        self.problem.setFont(problem_font)
        small = QFont(base)
        small.setPointSizeF(base.pointSizeF() * 0.6)
        self.hint.setFont(small)
        self.emotion.setFont(base)
        words = [*(emotion_style(lb).name for lb in self._labels), "Listening…", "No speech",
                 *(text for text, _ in STATE_TEXT.values())]
        name_px = name_pixel_size(width, screen_height_px, words, base)
        self.emotion.set_pixel_sizes(name_px, max(12, round(screen_height_px / 32)), round(name_px * 1.0))
        self.timeline.setMinimumHeight(int(screen_height_px * 0.16))
        self.timeline.plot.setLabel("left", "")
        self.timeline.plot.getAxis("bottom").setStyle(tickFont=small)
        self.timeline.plot.getAxis("left").setStyle(tickFont=small)

    def show_hint(self) -> None:
        """Show the key hint, then fade it out after :attr:`hint_visible_s` (call when entering demo mode)."""
        self._hint_fade.stop()
        self._hint_opacity.setOpacity(1.0)
        self._hint_timer.start(int(self.hint_visible_s * 1000))

    @property
    def hint_opacity(self) -> float:
        return float(self._hint_opacity.opacity())

    def set_labels(self, labels: Sequence[str]) -> None:
        self._labels = tuple(labels)
        self.bars.set_labels(labels)
        self.timeline.set_labels(labels)

    def show_results(self, results: Sequence[EmotionResult]) -> None:
        self._had_input = True
        self.timeline.set_stale(False)
        present_results(results, self.emotion, self.bars, self.timeline, detail=False)

    def show_state(self, state: str) -> None:
        if state in STATE_TEXT:
            # The last result is history now: greyed, so the audience never reads it as the current emotion.
            self.emotion.show_silence(STATE_TEXT[state][0], "")
            self.bars.set_probabilities(self.bars.probabilities(), active=False)
            self.timeline.set_stale(True)

    def show_problem(self, message: str) -> None:
        """Say ``message`` (the session's technical problem, "" = none) to the audience in a few words."""
        self._problem = message
        text = audience_message(message, self._had_input)
        self.problem.setText(text)
        self.problem.setToolTip(message)
        self.problem.setVisible(bool(text))
