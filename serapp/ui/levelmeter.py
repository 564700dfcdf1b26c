"""Input level meter: a horizontal dBFS bar with a dB scale, a held peak, a clip light and the voice-gate mark."""

from __future__ import annotations

import time

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

FLOOR_DB = -80.0
SCALE_DB: tuple[float, ...] = (-60.0, -40.0, -20.0, -12.0, -3.0, 0.0)  # labelled marks under the bar
WARN_DB, HOT_DB = -12.0, -3.0  # the bar turns yellow from WARN_DB, red from HOT_DB
# The clip light follows the input's largest sample as the device delivered it: at full scale (within 0.1 dB of
# it, where 16-bit and float devices saturate) the input clips.
CLIP_DB = -0.1
PEAK_HOLD_S = 1.5  # the peak mark stays this long before it falls back
PEAK_FALL_DB_S = 20.0  # then falls back at this rate
CLIP_HOLD_S = 2.0  # the clip light stays lit this long after the last clipping level
GREEN, YELLOW, RED = "#43a047", "#fdd835", "#e53935"
TOOLTIP = (f"Input level (RMS, dBFS; scale below the bar): green below {WARN_DB:.0f} dBFS, yellow to {HOT_DB:.0f}, "
           "red above. The short "
           "mark is the peak, held for a moment; the dotted line, in the text colour, is the voice-gate threshold "
           "(quieter input counts as silence); the light at the right end turns red for a moment when an input "
           "sample reaches full scale, i.e. the input clips (click to put it out).")


def level_fraction(db: float, floor_db: float = FLOOR_DB) -> float:
    """Position of ``db`` (dBFS, <= 0) on a meter from ``floor_db`` (0) to 0 dBFS (1)."""
    return min(1.0, max(0.0, (db - floor_db) / -floor_db))


def level_colour(db: float) -> str:
    """The bar's colour (hex) at ``db`` dBFS."""
    return GREEN if db < WARN_DB else YELLOW if db < HOT_DB else RED


def held_peak(peak_db: float, held_s: float, level_db: float, dt_s: float) -> tuple[float, float]:
    """The peak after ``dt_s`` seconds more, given the new ``level_db``: (peak dBFS, seconds it has been held).
    A louder level takes the peak at once; otherwise it is held :data:`PEAK_HOLD_S`, then falls back."""
    if level_db >= peak_db:
        return level_db, 0.0
    held_s += dt_s
    if held_s > PEAK_HOLD_S:
        peak_db = max(level_db, peak_db - PEAK_FALL_DB_S * dt_s)
    return peak_db, held_s


class LevelMeter(QWidget):
    """Shows the latest level (dBFS) with a held peak, a clip light and (when set) the voice gate."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.level_db = FLOOR_DB
        self.peak_db = FLOOR_DB
        self._held_s = 0.0
        self._set_at: float | None = None  # time.monotonic() of the last level
        self._drawn: tuple = ()  # what the last repaint request showed (bar and peak in px, colour, clip light)
        self.clipped_at: float | None = None  # time.monotonic() of the last clipping level
        self.gate_db: float | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        # Opaque: it repaints with every spectrum update, and a see-through widget makes Qt repaint everything
        # under it first (the tab page and its frame), the largest drawing cost of the live window (issue 31).
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setToolTip(TOOLTIP)

    def sizeHint(self) -> QSize:
        line = self.fontMetrics().height()
        return QSize(200, max(14, line) + line)  # the bar, then the scale

    def set_gate(self, gate_db: float | None) -> None:
        self.gate_db = gate_db
        self._drawn = ()
        self.update()

    def set_level(self, db: float, dt_s: float | None = None, now: float | None = None,
                  peak_db: float = -120.0) -> None:
        """Show RMS level ``db`` dBFS; ``dt_s`` since the last call (default: measured) drives the peak hold;
        ``peak_db`` (the largest input sample, dBFS) lights the clip light at :data:`CLIP_DB`; ``now`` (monotonic
        s) times it."""
        now = time.monotonic() if now is None else now
        if dt_s is None:
            dt_s = min(1.0, max(0.0, now - self._set_at)) if self._set_at is not None else 0.0
        self._set_at = now
        self.level_db = max(FLOOR_DB, float(db))
        self.peak_db, self._held_s = held_peak(self.peak_db, self._held_s, self.level_db, dt_s)
        if peak_db >= CLIP_DB:
            self.clipped_at = now
        # Repaint only when a pixel would change (~30 readings a second; none during silence at the floor).
        width = max(1, self.width())
        drawn = (round(width * level_fraction(self.level_db)), round(width * level_fraction(self.peak_db)),
                 level_colour(self.level_db), self.clip_lit(now))
        if drawn != self._drawn:
            self._drawn = drawn
            self.update()

    def clip_lit(self, now: float | None = None) -> bool:
        """Whether the clip light is lit (a clipping level within the last :data:`CLIP_HOLD_S` seconds)."""
        now = time.monotonic() if now is None else now
        return self.clipped_at is not None and now - self.clipped_at <= CLIP_HOLD_S

    def reset_clip(self) -> None:
        self.clipped_at = None
        self._drawn = ()
        self.update()

    def mousePressEvent(self, event: object) -> None:
        self.reset_clip()  # a click puts the clip light out, as on a mixing desk

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().window())
        fm = self.fontMetrics()
        text_colour = self.palette().windowText().color()
        bar_h = max(8, self.height() - fm.height())
        light_w = bar_h  # the clip light: a square at the right end
        r = QRectF(0.5, 0.5, self.width() - light_w - 4.0, bar_h - 1.0)
        track = QColor(text_colour)
        track.setAlphaF(0.12)
        painter.fillRect(r, track)
        painter.fillRect(QRectF(r.x(), r.y(), r.width() * level_fraction(self.level_db), r.height()),
                         QColor(level_colour(self.level_db)))
        # The held peak: a short mark in the colour of its level.
        painter.setPen(QPen(QColor(level_colour(self.peak_db)).lighter(130), 2))
        px = r.x() + r.width() * level_fraction(self.peak_db)
        painter.drawLine(int(px), int(r.top()), int(px), int(r.bottom()))
        if self.gate_db is not None:
            gx = r.x() + r.width() * level_fraction(self.gate_db)
            painter.setPen(QPen(text_colour, 2, Qt.PenStyle.DotLine))
            painter.drawLine(int(gx), int(r.top()), int(gx), int(r.bottom()))
        light = QRectF(self.width() - light_w + 0.5, 0.5, light_w - 1.0, bar_h - 1.0)
        painter.fillRect(light, QColor(RED) if self.clip_lit() else track)
        # The dB scale: a tick and a label per mark, under the bar.
        painter.setPen(QPen(text_colour, 1))
        for db in SCALE_DB:
            x = r.x() + r.width() * level_fraction(db)
            painter.drawLine(int(x), int(r.bottom()), int(x), int(r.bottom()) + 3)
            label = f"{db:.0f}"
            w = fm.horizontalAdvance(label)
            left = min(max(0.0, x - w / 2), r.right() - w)
            painter.drawText(QRectF(left, bar_h, w + 2, fm.height()), Qt.AlignmentFlag.AlignLeft, label)
        painter.end()
