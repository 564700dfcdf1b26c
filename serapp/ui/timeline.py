"""Probability timeline as stacked coloured bands: a scrolling live one and a static one for a file."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtGui import QColor, QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from serapp.engine.ringbuffer import RingBuffer
from serapp.ui.plotstyle import add_hover_readout, make_plot
from serapp.ui.theme import emotion_style
from serapp.ui.timeaxis import TIME_LABEL, format_clock

STALE_OPACITY = 0.35  # bands drawn while the input is stopped or lost: visibly old
AXIS_WIDTH = 64  # px; the same left-axis width under the file spectrogram keeps both time axes aligned


def stack_bounds(probs: np.ndarray) -> np.ndarray:
    """Band boundaries for a stacked plot: ``(n, k)`` probabilities -> ``(k + 1, n)`` cumulative sums from 0."""
    p = np.nan_to_num(np.asarray(probs, dtype=np.float32), nan=0.0)
    out = np.zeros((p.shape[1] + 1, p.shape[0]), dtype=np.float32)
    np.cumsum(p.T, axis=0, out=out[1:])
    return out


class TimelineLegend(QWidget):
    """Which colour is which emotion: a swatch and the name per label, in one row under a timeline."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._row = QHBoxLayout(self)
        self._row.setContentsMargins(AXIS_WIDTH, 0, 0, 0)
        self._row.setSpacing(14)
        self._items: list[QLabel] = []
        self.entries: list[tuple[str, str]] = []  # (name, colour) per label, as shown

    def set_labels(self, labels: Sequence[str]) -> None:
        for item in self._items:
            self._row.removeWidget(item)
            item.deleteLater()
        self._items = []
        self.entries = [(emotion_style(lb).name, emotion_style(lb).color) for lb in labels]
        for label in labels:
            style = emotion_style(label)
            item = QLabel(f'<span style="color:{style.color}; font-size:large">■</span> {style.name}', self)
            item.setToolTip(f"{style.name}: its share of the probability at each moment")
            self._items.append(item)
            self._row.insertWidget(len(self._items) - 1, item)
        if self._row.count() == len(self._items):
            self._row.addStretch(1)


class TimelinePlot(QWidget):
    """Stacked probability bands over time, one colour per label, with a legend (``legend``). Rows of zeros
    (silence) show as a gap.

    Band ``i`` is drawn as the cumulative curve up to label ``i`` filled down to 0, the lower bands in front:
    one filled curve per label, each redrawn once per update. (``FillBetweenItem`` between neighbouring curves
    rebuilt every band twice per update and was the live window's largest cost, issue 31 item 10.) A hidden
    timeline (the other tab, the demo screen) keeps its data and draws when shown.
    """

    def __init__(self, parent: QWidget | None = None, interactive: bool = False, legend: bool = True) -> None:
        super().__init__(parent)
        self.plot = make_plot(self, interactive=interactive)
        self.plot.setLabel("left", "Probability")
        self.plot.setLabel("bottom", TIME_LABEL)
        self.plot.getAxis("left").setWidth(AXIS_WIDTH)
        self.plot.setYRange(0.0, 1.0, padding=0.02)
        self.plot.getAxis("left").setTicks([[(0.0, "0"), (0.5, "0.5"), (1.0, "1")]])
        self.cursor = pg.InfiniteLine(pos=0.0, angle=90, movable=False, pen=pg.mkPen("#ffffff", width=2))
        self.cursor.setZValue(10)
        self.cursor.hide()
        self.plot.addItem(self.cursor)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.plot, 1)
        self.legend = TimelineLegend(self) if legend else None
        if self.legend is not None:
            layout.addWidget(self.legend)
        self._labels: tuple[str, ...] = ()
        self._curves: list[pg.PlotCurveItem] = []  # curve i: the top of band i (cumulative sum up to label i)
        self._pending: tuple[np.ndarray, np.ndarray] | None = None  # series set while hidden, drawn when shown
        self._series: tuple[np.ndarray, np.ndarray] = (np.zeros(0), np.zeros((0, 0), dtype=np.float32))
        self.draws = 0  # series drawn (for tests and benchmarks)
        add_hover_readout(self.plot, self.readout)

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    def set_labels(self, labels: Sequence[str]) -> None:
        """Rebuild the bands for ``labels`` (in the model's order)."""
        for item in self._curves:
            self.plot.removeItem(item)
        self._labels = tuple(labels)
        self._pending = None
        if self.legend is not None:
            self.legend.set_labels(self._labels)
        self._curves = []
        n = len(self._labels)
        for i, label in enumerate(self._labels):
            # Opaque: the bands overlap (each curve is filled down to 0), so a see-through one would mix colours.
            curve = pg.PlotCurveItem(pen=pg.mkPen(None), brush=pg.mkBrush(QColor(emotion_style(label).color)),
                                     fillLevel=0.0, antialias=False, skipFiniteCheck=True)
            curve.setZValue(n - i)  # lower bands in front: at height y the first curve reaching y gives its colour
            self._curves.append(curve)
            self.plot.addItem(curve)

    def set_series(self, times_s: np.ndarray, probs: np.ndarray) -> None:
        """Draw probabilities ``probs`` ``(n, n_labels)`` at ``times_s`` ``(n,)`` seconds."""
        t = np.asarray(times_s, dtype=np.float64)
        p = np.asarray(probs, dtype=np.float32).reshape(len(t), len(self._labels))
        self._series = (t, p)
        if not self.isVisible():
            self._pending = (t.copy(), p.copy())
            return
        self._pending = None
        bounds = stack_bounds(p) if len(t) else np.zeros((len(self._curves) + 1, 0), dtype=np.float32)
        for curve, y in zip(self._curves, bounds[1:], strict=True):
            curve.setData(t, y)
        self.draws += 1

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._pending is not None:
            self.set_series(*self._pending)

    def readout(self, x: float, y: float = 0.0) -> str:
        """Hover text at time ``x`` s: "0:12.3 · Happy 64 %" for the result nearest in time, "0:12.3 · no speech"
        in a pause; "" where there is no result within a second."""
        t, p = self._series
        if not len(t) or not self._labels:
            return ""
        i = int(np.argmin(np.abs(t - x)))
        if abs(t[i] - x) > 1.0:
            return ""
        row = np.nan_to_num(p[i], nan=0.0)
        if row.sum() <= 0:
            return f"{format_clock(t[i], 1)} · no speech"
        top = int(np.argmax(row))
        return f"{format_clock(t[i], 1)} · {emotion_style(self._labels[top]).name} {100 * row[top]:.0f} %"

    def set_stale(self, stale: bool) -> None:
        """Dim the bands (``stale``: the input stopped, so they are history) or show them in full colour."""
        self.plot.getPlotItem().setOpacity(STALE_OPACITY if stale else 1.0)

    @property
    def stale(self) -> bool:
        return self.plot.getPlotItem().opacity() < 1.0

    def set_cursor(self, t_s: float | None) -> None:
        """Show the playback cursor at ``t_s`` seconds, or hide it (None)."""
        if t_s is None:
            self.cursor.hide()
        else:
            self.cursor.setValue(float(t_s))
            self.cursor.show()


class LiveTimeline(TimelinePlot):
    """The last ``span_s`` seconds of probabilities, scrolling, with time 0 at the newest result. The newest
    ``capacity`` results are kept in the engine's :class:`~serapp.engine.ringbuffer.RingBuffer` (their times, and
    their probabilities as rows of ``n_labels``; zeros for a gap)."""

    def __init__(self, parent: QWidget | None = None, span_s: float = 60.0, capacity: int = 4096,
                 legend: bool = True) -> None:
        super().__init__(parent, legend=legend)
        self.span_s = span_s
        self._cap = capacity
        self._t = RingBuffer(capacity, (), np.float64)  # stream time (s) of each result
        self._p = RingBuffer(capacity, (0,), np.float32)  # its probabilities (n_labels,)
        self._row = np.zeros((1, 0), dtype=np.float32)  # one result on its way in (no allocation per result)
        self.plot.setXRange(-span_s, 0.0, padding=0)
        # Results come in batches (one per drain of the session): the bands are redrawn once per batch, when
        # control returns to the event loop, not once per result.
        self._redraw = QTimer(self)
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(0)
        self._redraw.timeout.connect(self._draw_window)

    def set_labels(self, labels: Sequence[str]) -> None:
        super().set_labels(labels)
        self._p = RingBuffer(self._cap, (len(self.labels),), np.float32)
        self._row = np.zeros((1, len(self.labels)), dtype=np.float32)
        self._t.clear()

    def append(self, t_s: float, probs: np.ndarray | None) -> None:
        """Add one result at stream time ``t_s``; ``probs`` None (gate closed) adds a gap."""
        if self.count and t_s < self._t.latest(1)[0]:  # the stream restarted (new source, looped file)
            self._t.clear()
            self._p.clear()
        self._row[0] = 0.0 if probs is None else probs
        self._p.write(self._row)
        self._t.write(np.array([t_s]))  # last: count() follows the times
        self._redraw.start()

    def _draw_window(self) -> None:
        """Draw the last ``span_s`` seconds, the newest result at time 0."""
        n = self.count
        if not n:
            return
        t = self._t.latest(n)
        t_s = t[-1]
        keep = t >= t_s - self.span_s - 1.0
        self.set_series(t[keep] - t_s, self._p.latest(n)[keep])

    def clear(self) -> None:
        self._t.clear()
        self._p.clear()
        self._redraw.stop()
        self.set_series(np.zeros(0), np.zeros((0, len(self.labels))))

    @property
    def count(self) -> int:
        """Results kept (at most ``capacity``)."""
        return len(self._t)
