"""A drawn face icon for an emotion: a coloured disc with eyes, brows and mouth (renders on every platform)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from serapp.ui.theme import FaceShape, emotion_style


def paint_face(painter: QPainter, rect: QRectF, colour: QColor, face: FaceShape, ink: QColor | None = None) -> None:
    """Draw a face filling the square centred in ``rect``; ``ink`` is the colour of the features."""
    side = min(rect.width(), rect.height())
    if side <= 4:
        return
    c = rect.center()
    r = side / 2
    ink = ink or QColor("#1b1b1b")
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(colour)
    painter.drawEllipse(c, r * 0.96, r * 0.96)
    pen = QPen(ink, max(1.5, r * 0.09), Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
    painter.setPen(pen)
    painter.setBrush(ink)
    eye_y = c.y() - r * 0.18
    eye_r = r * 0.085 * face.eye
    for sx in (-1, 1):
        ex = c.x() + sx * r * 0.34
        painter.drawEllipse(QPointF(ex, eye_y), eye_r, eye_r * 1.15)
        # Brows: the inner end moves by `brow`, the whole brow lifts by `raise_`.
        base_y = eye_y - r * (0.24 + 0.12 * face.raise_)
        inner = QPointF(c.x() + sx * r * 0.14, base_y - r * 0.10 * face.brow)
        outer = QPointF(c.x() + sx * r * 0.52, base_y + r * 0.06 * face.brow)
        if face.brow or face.raise_:
            painter.drawLine(inner, outer)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    mouth_y = c.y() + r * 0.38
    half = r * 0.36
    if face.open_ > 0:
        painter.setBrush(ink)
        w, h = half * (0.55 + 0.15 * (1 - face.open_)), r * 0.16 * (0.6 + face.open_)
        painter.drawEllipse(QPointF(c.x(), mouth_y + r * 0.02 - face.mouth * r * 0.05), w, h)
    else:
        path = QPainterPath(QPointF(c.x() - half, mouth_y))
        if face.wavy:
            path.cubicTo(QPointF(c.x() - half / 2, mouth_y - r * 0.12), QPointF(c.x(), mouth_y + r * 0.12),
                         QPointF(c.x() + half / 2, mouth_y - r * 0.02))
            path.lineTo(QPointF(c.x() + half, mouth_y + r * 0.06))
        else:
            path.quadTo(QPointF(c.x(), mouth_y + face.mouth * r * 0.34), QPointF(c.x() + half, mouth_y))
        painter.drawPath(path)
    painter.restore()


class FaceIcon(QWidget):
    """A square widget showing the face of one label in its colour (dimmed when ``active`` is false)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._label = "silence"
        self._active = False
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setMinimumSize(48, 48)

    def set_label(self, label: str, active: bool = True) -> None:
        if (label, active) != (self._label, self._active):
            self._label, self._active = label, active
            self.update()

    @property
    def label(self) -> str:
        return self._label

    def sizeHint(self) -> QSize:
        return QSize(140, 140)

    def paintEvent(self, event: QPaintEvent) -> None:
        style = emotion_style(self._label)
        colour = QColor(style.color)
        if not self._active:
            colour.setAlphaF(0.45)
        painter = QPainter(self)
        paint_face(painter, QRectF(self.rect()), colour, style.face)
        painter.end()
