"""Spectrogram views: a scrolling live one fed columns, and a static one for a file with a playback cursor.

Both draw uint8 images through a fixed 256-entry lookup table with fixed levels, so a frame costs one
small copy and no per-frame auto-levelling.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QVBoxLayout, QWidget

from serapp.ui.plotstyle import make_plot
from serapp.ui.theme import spectrogram_lut
from serapp.ui.timeaxis import TIME_LABEL

LEVELS = (0, 255)


def db_to_uint8(db: np.ndarray, floor_db: float, ceil_db: float, out: np.ndarray | None = None) -> np.ndarray:
    """Map dB values linearly so ``floor_db`` -> 0 and ``ceil_db`` -> 255 (clipped). Any shape; uint8 out."""
    if ceil_db <= floor_db:
        raise ValueError(f"ceil_db ({ceil_db}) must exceed floor_db ({floor_db})")
    scaled = (np.asarray(db, dtype=np.float32) - floor_db) * (255.0 / (ceil_db - floor_db))
    np.clip(scaled, 0.0, 255.0, out=scaled)
    if out is None:
        return scaled.astype(np.uint8)
    np.copyto(out, scaled, casting="unsafe")
    return out


class _SpectrogramPlot(QWidget):
    """A plot with one ImageItem (row-major: rows are frequency bins, columns are time) and labelled axes."""

    def __init__(self, parent: QWidget | None = None, interactive: bool = False) -> None:
        super().__init__(parent)
        self.plot = make_plot(self, interactive=interactive)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setLookupTable(spectrogram_lut())
        self.image.setLevels(LEVELS)
        self.plot.addItem(self.image)
        self.plot.setLabel("left", "Frequency", units="Hz")
        self.plot.setLabel("bottom", TIME_LABEL)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        self.frames_drawn = 0

    def _show(self, img: np.ndarray) -> None:
        self.image.setImage(img, autoLevels=False, levels=LEVELS)
        self.frames_drawn += 1


class ScrollingSpectrogram(_SpectrogramPlot):
    """The live spectrogram: the newest ``span_s`` seconds, newest at the right (time 0 = now).

    Columns are dB values (``(k, n_bins)``) mapped between ``floor_db`` and ``ceil_db``. Storage is a
    preallocated mirrored ring (each column written twice, ``n_cols`` apart), so the visible window is one
    contiguous slice copied into a preallocated frame: no allocation per frame.
    """

    def __init__(self, parent: QWidget | None = None, span_s: float = 8.0) -> None:
        super().__init__(parent)
        self.span_s = span_s
        self.floor_db, self.ceil_db = -90.0, -10.0
        self.configure(n_bins=257, column_s=0.01, fmax_hz=8000.0)

    def configure(self, n_bins: int, column_s: float, fmax_hz: float, floor_db: float | None = None,
                  ceil_db: float | None = None) -> None:
        """Set the geometry: bins per column (0..``fmax_hz``), seconds per column, and the dB range shown."""
        if floor_db is not None:
            self.floor_db = floor_db
        if ceil_db is not None:
            self.ceil_db = ceil_db
        self.n_bins = int(n_bins)
        self.column_s = float(column_s)
        self.n_cols = max(8, round(self.span_s / self.column_s))
        self._ring = np.zeros((self.n_bins, 2 * self.n_cols), dtype=np.uint8)
        self._frame = np.zeros((self.n_bins, self.n_cols), dtype=np.uint8)
        self._scratch = np.zeros((self.n_cols, self.n_bins), dtype=np.uint8)
        self._pos = 0
        self.columns_seen = 0
        self.image.setRect(QRectF(-self.n_cols * self.column_s, 0.0, self.n_cols * self.column_s, fmax_hz))
        self.plot.setXRange(-self.n_cols * self.column_s, 0.0, padding=0)
        self.plot.setYRange(0.0, fmax_hz, padding=0)
        self._show(self._frame)

    def push_columns(self, columns_db: np.ndarray) -> None:
        """Append dB columns, shape ``(k, n_bins)`` (oldest first), and redraw once."""
        cols = np.asarray(columns_db)
        if cols.ndim != 2 or cols.shape[1] != self.n_bins or cols.shape[0] == 0:
            return
        cols = cols[-self.n_cols:]
        k = cols.shape[0]
        u8 = db_to_uint8(cols, self.floor_db, self.ceil_db, out=self._scratch[:k])
        n, p = self.n_cols, self._pos
        idx = (p + np.arange(k)) % n
        self._ring[:, idx] = u8.T
        self._ring[:, idx + n] = u8.T
        self._pos = (p + k) % n
        self.columns_seen += k
        np.copyto(self._frame, self._ring[:, self._pos:self._pos + n])
        self._show(self._frame)

    def clear(self) -> None:
        self._ring.fill(0)
        self._frame.fill(0)
        self._show(self._frame)


class FileSpectrogram(_SpectrogramPlot):
    """A whole file's spectrogram (static) with a vertical playback cursor."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, interactive=True)
        self.cursor = pg.InfiniteLine(pos=0.0, angle=90, movable=False, pen=pg.mkPen("#ffffff", width=2))
        self.cursor.setZValue(10)
        self.plot.addItem(self.cursor)
        self.duration_s = 0.0

    def set_spectrogram(self, db: np.ndarray, duration_s: float, fmax_hz: float, top_db: float = 80.0) -> None:
        """Show ``db`` of shape ``(n_frames, n_bins)`` spanning ``duration_s``; the peak maps to the top colour."""
        db = np.asarray(db, dtype=np.float32)
        ceil = float(db.max()) if db.size else 0.0
        self._show(np.ascontiguousarray(db_to_uint8(db.T, ceil - top_db, ceil)))
        self.duration_s = float(duration_s)
        self.image.setRect(QRectF(0.0, 0.0, self.duration_s, fmax_hz))
        self.plot.setXRange(0.0, self.duration_s, padding=0)
        self.plot.setYRange(0.0, fmax_hz, padding=0)
        self.set_cursor(0.0)

    def set_cursor(self, t_s: float) -> None:
        self.cursor.setValue(float(t_s))
