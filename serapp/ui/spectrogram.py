"""Spectrogram views: a scrolling live one fed columns, and a static one for a file with a playback cursor.

Both keep uint8 levels (:attr:`indices`) and colour them through a 256-entry lookup table themselves: the
image handed to pyqtgraph is RGBA, which Qt draws as it is (an indexed image, coloured by pyqtgraph, was
converted again on every paint, the larger part of a live frame's cost: issue 31 item 10). No per-frame
auto-levelling. The views own their display settings: the dB range shown
(:data:`RANGE_DB`), the colour map (:data:`~serapp.ui.theme.SPECTROGRAM_CMAPS`) and, live, a pause; hovering
shows the time, frequency and level under the pointer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QVBoxLayout, QWidget

from serapp.engine.ringbuffer import RingBuffer
from serapp.ui.plotstyle import add_hover_readout, make_plot
from serapp.ui.settings import SPECTROGRAM_N_FFTS
from serapp.ui.settingsmodel import SettingsModel
from serapp.ui.theme import SPECTROGRAM_CMAP, SPECTROGRAM_CMAPS, SPECTROGRAM_RANGE_DB, spectrogram_lut
from serapp.ui.timeaxis import TIME_LABEL, format_clock

T = TypeVar("T")

RANGE_DB = SPECTROGRAM_RANGE_DB  # default dB range shown (loudest to quietest colour)
RANGE_CHOICES_DB: tuple[float, ...] = (50.0, 65.0, 80.0, 100.0)  # offered in the menu (within the settings' range)
QUIET_CEIL_DB = -40.0  # a file's top colour is its peak, but never below this: silence stays dark, never "loud"
LIVE_CEIL_DB = -10.0  # the live view's top colour (dB re full scale): fixed, so levels compare over time


def file_levels(peak_db: float, range_db: float = RANGE_DB) -> tuple[float, float]:
    """(floor, ceil) dB of a file's spectrogram colours: the peak is the top colour, but a quiet or silent file
    (peak below :data:`QUIET_CEIL_DB`) is drawn against that ceiling, so it looks quiet rather than loud."""
    ceil = max(float(peak_db), QUIET_CEIL_DB) if np.isfinite(peak_db) else QUIET_CEIL_DB
    return ceil - range_db, ceil


def hz_text(hz: float) -> str:
    """"850 Hz", "1.25 kHz"."""
    return f"{hz:.0f} Hz" if hz < 1000 else f"{hz / 1000:.2f} kHz"


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
        self.cmap = SPECTROGRAM_CMAP
        self.range_db = RANGE_DB
        self.floor_db, self.ceil_db = LIVE_CEIL_DB - RANGE_DB, LIVE_CEIL_DB
        self.lut = spectrogram_lut(name=self.cmap)  # (256, 4) RGBA per uint8 level
        self.indices = np.zeros((1, 1), dtype=np.uint8)  # the levels drawn last, (n_bins, n_times)
        self._rgba = np.zeros((1, 1, 4), dtype=np.uint8)
        self.plot.addItem(self.image)
        self.plot.setLabel("left", "Frequency", units="Hz")
        self.plot.setLabel("bottom", TIME_LABEL)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        self.frames_drawn = 0
        add_hover_readout(self.plot, self.readout)

    def _show(self, img: np.ndarray) -> None:
        """Draw uint8 levels ``img`` ``(n_bins, n_times)`` in the colour map."""
        self.indices = img
        if self._rgba.shape[:2] != img.shape:
            self._rgba = np.empty((*img.shape, 4), dtype=np.uint8)
        np.take(self.lut, img, axis=0, out=self._rgba)
        self.image.setImage(self._rgba, autoLevels=False)
        self.frames_drawn += 1

    def set_colormap(self, name: str) -> None:
        """Draw with colour map ``name`` (one of :data:`~serapp.ui.theme.SPECTROGRAM_CMAPS`)."""
        self.cmap = name
        self.lut = spectrogram_lut(name=name)
        self._show(self.indices)

    def level_at(self, x: float, y: float) -> float | None:
        """The level (dB, as drawn: within the range shown) at time ``x`` s and frequency ``y`` Hz; None outside."""
        img = self.indices
        rect = self.image.mapRectToParent(self.image.boundingRect())
        if img is None or img.size == 0 or not rect.contains(x, y):
            return None
        rows, cols = img.shape[:2]
        col = min(cols - 1, int((x - rect.left()) / rect.width() * cols))
        row = min(rows - 1, int((y - rect.top()) / rect.height() * rows))
        return self.floor_db + float(img[row, col]) / 255.0 * (self.ceil_db - self.floor_db)

    def readout(self, x: float, y: float) -> str:
        """Hover text at time ``x`` s, frequency ``y`` Hz: "0:12.3 · 1.25 kHz · -45 dB" ("" outside the image)."""
        level = self.level_at(x, y)
        if level is None:
            return ""
        quiet = " or quieter" if level <= self.floor_db + 0.5 else ""
        return f"{format_clock(x, 1)} · {hz_text(y)} · {level:.0f} dB{quiet}"


class ScrollingSpectrogram(_SpectrogramPlot):
    """The live spectrogram: the newest ``span_s`` seconds, newest at the right (time 0 = now).

    Columns are dB values (``(k, n_bins)``) mapped between ``floor_db`` and ``ceil_db``. They are kept as uint8
    levels in the engine's :class:`~serapp.engine.ringbuffer.RingBuffer` (rows of ``n_bins``), so the visible
    window is one contiguous view copied into a preallocated frame: no allocation per frame.
    """

    def __init__(self, parent: QWidget | None = None, span_s: float = 8.0) -> None:
        super().__init__(parent)
        self.span_s = span_s
        self.paused = False  # frozen on the screen; columns still arrive and are kept, so resuming is current
        self.configure(n_bins=257, column_s=0.01, fmax_hz=8000.0)

    def set_range_db(self, range_db: float) -> None:
        """Show ``range_db`` dB below the fixed top level (new columns; the ones shown keep their colours)."""
        self.range_db = float(range_db)
        self.floor_db = self.ceil_db - self.range_db

    def set_paused(self, paused: bool) -> None:
        """Freeze the picture (``paused``) or bring it up to date again."""
        self.paused = bool(paused)
        if not self.paused:
            self._draw()

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
        self._ring = RingBuffer(self.n_cols, (self.n_bins,), np.uint8)  # columns, oldest first
        self._frame = np.zeros((self.n_bins, self.n_cols), dtype=np.uint8)  # the image: bins are its rows
        self._scratch = np.zeros((self.n_cols, self.n_bins), dtype=np.uint8)
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
        self._ring.write(db_to_uint8(cols, self.floor_db, self.ceil_db, out=self._scratch[:k]))
        self.columns_seen += k
        if not self.paused:
            self._draw()

    def _draw(self) -> None:
        """Show the newest ``n_cols`` columns (zeros before the first ones: the bottom colour)."""
        np.copyto(self._frame, self._ring.latest(self.n_cols).T)
        self._show(self._frame)

    def clear(self) -> None:
        self._ring.clear()
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
        self._db = np.zeros((0, 0), dtype=np.float32)

    def set_spectrogram(self, db: np.ndarray, duration_s: float, fmax_hz: float) -> None:
        """Show ``db`` of shape ``(n_frames, n_bins)`` spanning ``duration_s``; the peak maps to the top colour
        (:func:`file_levels`: a silent file stays dark)."""
        self._db = np.asarray(db, dtype=np.float32)
        self._draw_db()
        self.duration_s = float(duration_s)
        self.image.setRect(QRectF(0.0, 0.0, self.duration_s, fmax_hz))
        self.plot.setXRange(0.0, self.duration_s, padding=0)
        self.plot.setYRange(0.0, fmax_hz, padding=0)
        self.set_cursor(0.0)

    def _draw_db(self) -> None:
        db = self._db
        self.floor_db, self.ceil_db = file_levels(float(db.max()) if db.size else -np.inf, self.range_db)
        self._show(np.ascontiguousarray(db_to_uint8(db.T, self.floor_db, self.ceil_db)))

    def set_range_db(self, range_db: float) -> None:
        """Show ``range_db`` dB below the file's peak (redraws the file shown)."""
        self.range_db = float(range_db)
        if self._db.size:
            self._draw_db()

    def set_cursor(self, t_s: float) -> None:
        self.cursor.setValue(float(t_s))


SPECTROGRAM_KEYS = frozenset({"spectrogram_cmap", "spectrogram_range_db", "spectrogram_n_fft"})  # the menu's section
_DISPLAY_KEYS = frozenset({"spectrogram_cmap", "spectrogram_range_db"})  # applied to the views by the menu itself


class SpectrogramMenu(QMenu):
    """View › Spectrogram: the colour map, the dB range, the FFT size and (live) a pause. It owns that section of
    the settings, as the toolbar's :class:`~serapp.ui.controls.AnalysisControls` own theirs: it shows the saved
    values at start, writes a choice to the :class:`~serapp.ui.settingsmodel.SettingsModel` at once, follows the
    model when it changes elsewhere, and applies the colour map and range to ``views``. The FFT size is only
    saved here: it changes the analysis, which the window runs (it listens to the model for
    ``spectrogram_n_fft``). ``on_pause(paused)`` is told of the pause, which is not remembered."""

    def __init__(self, parent: QWidget, settings: SettingsModel, views: Iterable[_SpectrogramPlot],
                 on_pause: Callable[[bool], None]) -> None:
        super().__init__("&Spectrogram", parent)
        self.settings = settings
        self.views = tuple(views)
        values = settings.values
        self.pause_action = QAction("&Pause the live spectrogram", self, checkable=True)
        self.pause_action.setToolTip("Freeze the live picture to look at it; the analysis goes on")
        self.pause_action.toggled.connect(on_pause)
        self.addAction(self.pause_action)
        self.cmap_actions = self._choices("Colours", SPECTROGRAM_CMAPS, lambda n: n.capitalize(),
                                          lambda n: settings.update(spectrogram_cmap=n))
        # A saved range the menu does not offer (set by hand in the file) is offered too, so it shows as checked.
        self.range_actions = self._choices("Range (loudest to quietest colour)",
                                           sorted({*RANGE_CHOICES_DB, float(values.spectrogram_range_db)}),
                                           lambda db: f"{db:g} dB",
                                           lambda db: settings.update(spectrogram_range_db=db))
        self.n_fft_actions = self._choices(
            "FFT size (frequency detail against time detail)", SPECTROGRAM_N_FFTS, str,
            lambda n: settings.update(spectrogram_n_fft=n),
            tooltip="Larger: finer frequencies, blurrier in time. The live view takes it at once (a running "
                    "analysis restarts); files show it when shown.")
        self.restore()
        self._apply_display()
        settings.changed.connect(self._on_settings_changed)

    def _choices(self, section: str, values: Iterable[T], text: Callable[[T], str], choose: Callable[[T], None],
                 tooltip: str = "") -> dict[T, QAction]:
        """A titled section of exclusive, checkable entries, one per value; choosing one calls ``choose(value)``
        (checked by :meth:`restore`). Returns the entries by value."""
        self.addSection(section)
        group = QActionGroup(self)
        actions: dict[T, QAction] = {}
        for value in values:
            action = QAction(text(value), self, checkable=True)
            if tooltip:
                action.setToolTip(tooltip)
            action.triggered.connect(lambda _on, v=value: choose(v))
            group.addAction(action)
            self.addAction(action)
            actions[value] = action
        return actions

    @property
    def cmap(self) -> str:
        """The colour map in the settings (shown checked)."""
        return self.settings.values.spectrogram_cmap

    @property
    def range_db(self) -> float:
        """The dB range in the settings (shown checked)."""
        return self.settings.values.spectrogram_range_db

    @property
    def n_fft(self) -> int:
        """The FFT size in the settings (shown checked)."""
        return self.settings.values.spectrogram_n_fft

    def restore(self) -> None:
        """Check the entries of the settings' values (``setChecked`` does not trigger: nothing is written back)."""
        for actions, value in ((self.cmap_actions, self.cmap), (self.range_actions, self.range_db),
                               (self.n_fft_actions, self.n_fft)):
            if value in actions:
                actions[value].setChecked(True)

    def _apply_display(self) -> None:
        for view in self.views:
            view.set_colormap(self.cmap)
            view.set_range_db(self.range_db)

    def _on_settings_changed(self, names: frozenset) -> None:
        if names & SPECTROGRAM_KEYS:
            self.restore()  # set elsewhere: show it (a no-op for a choice made here)
        if names & _DISPLAY_KEYS:
            self._apply_display()
