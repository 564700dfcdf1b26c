"""The current emotion, large (face, name, confidence), and one probability bar per label."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QEvent, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QHelpEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QLayout, QSizePolicy, QToolTip, QVBoxLayout, QWidget

from serapp.engine.labels import SILENCE
from serapp.ui.face import FaceIcon
from serapp.ui.theme import emotion_style


class ProbabilityBars(QWidget):
    """Horizontal bars, one per label, with names and percentages. Sizes follow the widget's font."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._labels: tuple[str, ...] = ()
        self._probs = np.zeros(0, dtype=np.float32)
        self._top = -1  # the bar in bold: the emotion named
        self._active = False
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def set_labels(self, labels: Sequence[str]) -> None:
        self._labels = tuple(labels)
        self._probs = np.zeros(len(self._labels), dtype=np.float32)
        self._top = -1
        self.updateGeometry()
        self.update()

    def set_probabilities(self, probs: np.ndarray, active: bool = True, top: int | None = None) -> None:
        """Show ``probs`` (shape ``(n_labels,)``, in [0, 1]); ``active`` false greys the bars (gate closed);
        ``top``: the emotion named in bold (default: the largest; live, the engine's named one)."""
        p = np.asarray(probs, dtype=np.float32).reshape(-1)
        if p.shape[0] != len(self._labels):
            return
        self._probs = np.clip(p, 0.0, 1.0)
        self._top = top if top is not None and 0 <= top < p.shape[0] else int(np.argmax(p)) if p.size else -1
        self._active = active
        self.update()

    def probabilities(self) -> np.ndarray:
        return self._probs.copy()

    @property
    def active(self) -> bool:
        """Whether the bars show a speech window (False: greyed, the gate is closed)."""
        return self._active

    def _row_height(self) -> int:
        return int(self.fontMetrics().height() * 1.55)

    def tooltip_at(self, y: float) -> str:
        """The tooltip of the bar at height ``y`` px: "Happy: 64 %, the highest" ("" below the last bar)."""
        if not self._labels:
            return ""
        row = int(y // min(self._row_height(), self.height() / len(self._labels)))
        if not 0 <= row < len(self._labels):
            return ""
        name = emotion_style(self._labels[row]).name
        top = " — the highest" if row == int(np.argmax(self._probs)) and self._probs.max() > 0 else ""
        old = "" if self._active else " (the last result, greyed: it is not current)"
        return f"{name}: {100 * float(self._probs[row]):.0f} %{top}{old}"

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            text = self.tooltip_at(event.pos().y())
            if text:
                QToolTip.showText(event.globalPos(), text, self)
            else:
                QToolTip.hideText()
            return True
        return super().event(event)

    def sizeHint(self) -> QSize:
        return QSize(320, self._row_height() * max(1, len(self._labels)) + 4)

    def minimumSizeHint(self) -> QSize:
        return QSize(160, self.fontMetrics().height() * max(1, len(self._labels)))

    def paintEvent(self, event: QPaintEvent) -> None:
        if not self._labels:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        fm = self.fontMetrics()
        text = self.palette().windowText().color()
        track = QColor(text)
        track.setAlphaF(0.10)
        row_h = min(self._row_height(), self.height() / len(self._labels))
        name_w = max(fm.horizontalAdvance(emotion_style(lb).name) for lb in self._labels) + fm.height() // 2
        pct_w = fm.horizontalAdvance("100%") + fm.height() // 2
        bar_w = max(10.0, self.width() - name_w - pct_w)
        top = self._top
        for i, label in enumerate(self._labels):
            y = i * row_h
            style = emotion_style(label)
            bold = QFont(self.font())
            bold.setBold(i == top and self._active)
            painter.setFont(bold)
            painter.setPen(text)
            painter.drawText(QRectF(0, y, name_w, row_h), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                             style.name)
            bar_h = row_h * 0.62
            bar = QRectF(name_w, y + (row_h - bar_h) / 2, bar_w, bar_h)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(track)
            painter.drawRoundedRect(bar, bar_h / 4, bar_h / 4)
            colour = QColor(style.color)
            if not self._active:
                colour.setAlphaF(0.35)
            painter.setBrush(colour)
            p = float(self._probs[i])
            if p > 0.002:
                painter.drawRoundedRect(QRectF(bar.x(), bar.y(), max(bar_h / 2, bar_w * p), bar_h),
                                        bar_h / 4, bar_h / 4)
            painter.setPen(text)
            painter.drawText(QRectF(name_w + bar_w, y, pct_w, row_h),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, f"{p * 100:.0f}%")
        painter.end()


class EmotionDisplay(QWidget):
    """The current emotion: face icon, name in the emotion's colour and the confidence; "No speech" in pauses."""

    def __init__(self, parent: QWidget | None = None, scale: float = 1.0) -> None:
        super().__init__(parent)
        self.face = FaceIcon(self)
        self.name_label = QLabel(self)
        self.confidence_label = QLabel(self)
        for lbl in (self.name_label, self.confidence_label):
            lbl.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
        self.name_label.setObjectName("emotionName")
        self.confidence_label.setObjectName("emotionConfidence")
        text_box = QVBoxLayout()
        text_box.addStretch(1)
        text_box.addWidget(self.name_label)
        text_box.addWidget(self.confidence_label)
        text_box.addStretch(1)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.face, 0)
        row.addSpacing(12)
        row.addLayout(text_box, 1)
        self.set_scale(scale)
        self.show_silence("Listening…")

    def set_scale(self, scale: float) -> None:
        """Size of the type and icon relative to the window font (demo mode uses a large scale)."""
        base = self.font().pointSizeF()
        name_font = QFont(self.font())
        name_font.setPointSizeF(base * 2.6 * scale)
        name_font.setBold(True)
        self.name_label.setFont(name_font)
        conf_font = QFont(self.font())
        conf_font.setPointSizeF(base * 1.3 * scale)
        self.confidence_label.setFont(conf_font)
        side = int(self.name_label.fontMetrics().height() * 2.2)
        self.face.setFixedSize(side, side)

    def set_pixel_sizes(self, name_px: int, detail_px: int, face_px: int) -> None:
        """Demo mode: the name, the detail line and the face sized in pixels from the screen, not the window font."""
        name_font = QFont(self.font())
        name_font.setPixelSize(max(1, name_px))
        name_font.setBold(True)
        self.name_label.setFont(name_font)
        conf_font = QFont(self.font())
        conf_font.setPixelSize(max(1, detail_px))
        self.confidence_label.setFont(conf_font)
        self.face.setFixedSize(face_px, face_px)

    def show_emotion(self, label: str, confidence: float) -> None:
        """Show ``label`` with ``confidence`` in [0, 1]."""
        style = emotion_style(label)
        self.face.set_label(label, True)
        self.name_label.setText(style.name)
        self.name_label.setStyleSheet(f"color: {style.color};")
        self.confidence_label.setText(f"{confidence * 100:.0f}% confidence")

    def show_silence(self, message: str = "Listening…", detail: str = "pause: nothing is scored") -> None:
        """Show the gate-closed state (or another idle ``message``, e.g. "Stopped")."""
        self.face.set_label(SILENCE, False)
        self.name_label.setText(message)
        self.name_label.setStyleSheet("")
        self.confidence_label.setText(detail)

    @property
    def current_text(self) -> str:
        return self.name_label.text()


def emotion_card(parent: QWidget, emotion: QWidget, details: QWidget | QLayout) -> QFrame:
    """The framed row shared by the live and file views: the big emotion on the left, its bars on the right."""
    card = QFrame(parent)
    card.setObjectName("emotionCard")
    row = QHBoxLayout(card)
    row.setContentsMargins(16, 12, 16, 12)
    row.addWidget(emotion, 3)
    row.addSpacing(24)
    if isinstance(details, QLayout):
        row.addLayout(details, 4)
    else:
        row.addWidget(details, 4)
    card.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
    return card
