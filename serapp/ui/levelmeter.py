"""Input level meter: a horizontal dBFS bar with a peak-hold tick and the voice-gate threshold marked."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

FLOOR_DB = -80.0


def level_fraction(db: float, floor_db: float = FLOOR_DB) -> float:
    """Position of ``db`` (dBFS, <= 0) on a meter from ``floor_db`` (0) to 0 dBFS (1)."""
    return min(1.0, max(0.0, (db - floor_db) / -floor_db))


class LevelMeter(QWidget):
    """Shows the latest level (dBFS); the peak tick falls back at 20 dB/s."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.level_db = FLOOR_DB
        self.peak_db = FLOOR_DB
        self.gate_db: float | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Input level (dBFS); the white mark is the voice-gate threshold")

    def sizeHint(self) -> QSize:
        return QSize(200, max(14, self.fontMetrics().height()))

    def set_gate(self, gate_db: float | None) -> None:
        self.gate_db = gate_db
        self.update()

    def set_level(self, db: float, dt_s: float = 0.033) -> None:
        """Show level ``db`` dBFS; ``dt_s`` since the last call drives the peak fall-back."""
        self.level_db = max(FLOOR_DB, float(db))
        self.peak_db = max(self.level_db, self.peak_db - 20.0 * dt_s)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        r = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        track = QColor(self.palette().windowText().color())
        track.setAlphaF(0.12)
        painter.fillRect(r, track)
        frac = level_fraction(self.level_db)
        colour = QColor("#43a047") if self.level_db < -12 else QColor("#fdd835") if self.level_db < -3 else QColor(
            "#e53935")
        painter.fillRect(QRectF(r.x(), r.y(), r.width() * frac, r.height()), colour)
        painter.setPen(QPen(colour.lighter(130), 2))
        px = r.x() + r.width() * level_fraction(self.peak_db)
        painter.drawLine(int(px), int(r.top()), int(px), int(r.bottom()))
        if self.gate_db is not None:
            gx = r.x() + r.width() * level_fraction(self.gate_db)
            painter.setPen(QPen(self.palette().windowText().color(), 2, Qt.PenStyle.DotLine))
            painter.drawLine(int(gx), int(r.top()), int(gx), int(r.bottom()))
        painter.end()
