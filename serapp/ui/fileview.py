"""The file-analysis page: per file a spectrogram with its emotion timeline aligned under it, a summary,
playback with a moving cursor and exports; several files add a table of summaries. Analysis runs on a
background thread, one file at a time; a bad file gets its plain message here and nothing else changes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QBuffer, QIODevice, QObject, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from serapp import atomic
from serapp.engine import serialize
from serapp.engine.adaptation import SpeakerMean
from serapp.engine.audio import AUDIO_SUFFIXES
from serapp.engine.config import AnalyzerConfig
from serapp.engine.labels import SILENCE
from serapp.engine.model import OnnxModel
from serapp.engine.summary import FileAnalysis
from serapp.errors import Cancelled, SerappError
from serapp.progress import describe, time_left_s
from serapp.ui.dialogs import Dialogs
from serapp.ui.emotionpanel import EmotionDisplay, ProbabilityBars, emotion_card
from serapp.ui.filework import FileResult, analyse, file_spectrogram
from serapp.ui.playback import Player
from serapp.ui.settingsmodel import SettingsModel
from serapp.ui.spectrogram import FileSpectrogram
from serapp.ui.theme import emotion_style
from serapp.ui.timeaxis import format_clock
from serapp.ui.timeline import AXIS_WIDTH, TimelinePlot

AUDIO_FILTER = "Audio files (" + " ".join(f"*{s}" for s in AUDIO_SUFFIXES) + ");;All files (*)"
EXPORT_FILTERS = {"csv": "CSV (*.csv)", "json": "JSON (*.json)", "png": "PNG image (*.png)"}
# Least heights of the plots, in lines of the window's font: room for their axis captions and three tick labels
# however many files the table above lists (a scroll bar appears instead of squashed plots).
SPECTROGRAM_MIN_LINES = 11
# Captions of the table of summaries (the CSV export keeps its machine names, see serapp.engine.serialize).
_HEADER_NAMES = {"file": "File", "duration_s": "Duration", "dominant": "Dominant", "speech_%": "Speech %",
                 "crowd_s": "Crowd s"}


BATCH_REASONS_SHOWN = 3  # a batch's failures listed above the view; the others are in their table rows


def batch_message(reasons: list[str], limit: int = BATCH_REASONS_SHOWN) -> str:
    """The message for a batch's failed files: each reason (one per line), or the first ``limit`` and a count."""
    if len(reasons) <= limit:
        return "\n".join(reasons)
    rest = len(reasons) - limit
    return "\n".join([*reasons[:limit], f"… and {rest} more file{'s' if rest > 1 else ''} could not be analysed: "
                                         "select a row marked \"error\" to see why."])


def display_header(column: str) -> str:
    """A table caption for the CSV column ``column``: "duration_s" -> "Duration", "happy_%" -> "Happy %"."""
    if column in _HEADER_NAMES:
        return _HEADER_NAMES[column]
    if column.endswith("_%"):
        return f"{emotion_style(column[:-2]).name} %"
    return column
TIMELINE_MIN_LINES = 9


class _Carrier(QObject):
    """Brings a worker thread's outcome to the GUI thread (queued signal)."""

    done = Signal(str, object)  # path, FileResult, error message or a Cancelled
    progress = Signal(str, float)  # path, share of its work done (0..1)


PROGRESS_INTERVAL_S = 0.1  # the worker reports at most ten times a second
PROGRESS_STEPS = 1000  # resolution of the progress bar
RESPECTROGRAM_MAX_S = 300.0  # a file shown with another FFT size than it was analysed with is redrawn up to this long


def progress_reporter(path: str, carrier: _Carrier, cancel: threading.Event,
                      clock: Callable[[], float] = time.monotonic) -> Callable[[float], None]:
    """The worker's progress callback for ``path``: brings the share done to the GUI (throttled) and raises
    :class:`Cancelled` once ``cancel`` is set, which stops the analysis at its next block."""
    last = [-1.0e9]

    def report(fraction: float) -> None:
        if cancel.is_set():
            raise Cancelled(f"The analysis of {Path(path).name} was cancelled.")
        now = clock()
        if now - last[0] >= PROGRESS_INTERVAL_S:
            last[0] = now
            carrier.progress.emit(path, float(fraction))

    return report


class FileAnalysisView(QWidget):
    """Analyses dropped/opened files with the current model and shows them."""

    busy_changed = Signal(bool)
    message_changed = Signal(str)
    current_changed = Signal()  # another file (or none) is shown: what can be exported changed

    def __init__(self, parent: QWidget | None = None, player: Player | None = None,
                 settings: SettingsModel | None = None, dialogs: Dialogs | None = None) -> None:
        super().__init__(parent)
        self.settings = settings  # its section: last_dir, the folder of the last export
        self.dialogs = dialogs or Dialogs()
        self.model: OnnxModel | None = None
        self.config = AnalyzerConfig()
        self.adapt = False  # adapt to the speaker within each file (set_adaptation)
        self.results: dict[str, FileResult] = {}
        self.errors: dict[str, str] = {}
        self.order: list[str] = []
        self.current: str | None = None
        self._pending: list[str] = []
        self._worker: threading.Thread | None = None
        self._cancel = threading.Event()
        self._job_path = ""
        self._job_started = 0.0
        self._batch_done = 0  # files finished in the current batch (for "2 of 4")
        self._batch_errors: dict[str, str] = {}  # reasons of this batch's failed files, kept until the next batch
        self._carrier = _Carrier(self)
        self._carrier.done.connect(self._on_done)
        self._carrier.progress.connect(self._on_progress)
        self.player = player or Player(self)
        self.player.position.connect(self._on_position)
        self.player.state_changed.connect(self._refresh_play_button)
        self._cursor_s = 0.0  # where Play starts: the last seek or pause
        self._build()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.message = QLabel(self)
        self.message.setObjectName("fileMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()

        self.progress_bar = QProgressBar(self)
        self.progress_bar.setRange(0, PROGRESS_STEPS)
        self.progress_bar.setTextVisible(False)
        self.progress_label = QLabel(self)
        self.progress_label.setObjectName("fileProgress")
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop analysing (Esc); files already analysed stay")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress_row = QWidget(self)
        progress_layout = QHBoxLayout(self.progress_row)
        progress_layout.setContentsMargins(0, 0, 0, 0)
        progress_layout.addWidget(self.progress_label, 2)
        progress_layout.addWidget(self.progress_bar, 1)
        progress_layout.addWidget(self.cancel_button)
        self.progress_row.hide()

        self.table = QTableWidget(self)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.itemSelectionChanged.connect(self._on_row_selected)
        self.table.hide()

        self.title = QLabel(self)
        self.title.setObjectName("fileTitle")
        # A long file name must not widen the window past a small screen: the label is cut instead.
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.emotion = EmotionDisplay(self, scale=0.75)
        self.shares = ProbabilityBars(self)
        # The bars show the same numbers the dominant emotion is the top of (one rule, see Summary).
        self.shares_caption = QLabel("Probability over the utterances, weighted by their length", self)
        self.shares_caption.setObjectName("caption")
        shares_box = QVBoxLayout()
        shares_box.addWidget(self.shares_caption)
        shares_box.addWidget(self.shares)
        summary = emotion_card(self, self.emotion, shares_box)

        self.spectrogram = FileSpectrogram(self)
        self.spectrogram.plot.getAxis("left").setWidth(AXIS_WIDTH)
        self.timeline = TimelinePlot(self, interactive=True)
        self.timeline.plot.setXLink(self.spectrogram.plot)
        plots = QSplitter(Qt.Orientation.Vertical, self)
        plots.addWidget(self.spectrogram)
        plots.addWidget(self.timeline)
        plots.setStretchFactor(0, 3)
        plots.setStretchFactor(1, 2)
        # Each utterance's own result, beside the timeline; a click moves the playback to its start.
        self.utterances = QTableWidget(0, 4, self)
        self.utterances.setHorizontalHeaderLabels(["Start", "End", "Emotion", "Confidence"])
        self.utterances.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.utterances.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.utterances.verticalHeader().setVisible(False)
        self.utterances.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.utterances.cellClicked.connect(self._on_utterance_clicked)
        plots.addWidget(self.utterances)
        plots.setStretchFactor(2, 1)
        plots.setChildrenCollapsible(False)
        for plot in (self.spectrogram.plot, self.timeline.plot):  # a click on either plot moves the playback there
            plot.scene().sigMouseClicked.connect(lambda event, p=plot: self._on_plot_clicked(p, event))
        line = self.fontMetrics().height()
        self.spectrogram.plot.setMinimumHeight(SPECTROGRAM_MIN_LINES * line)
        self.timeline.plot.setMinimumHeight(TIMELINE_MIN_LINES * line)  # the plot itself, not with its legend

        self.play_button = QPushButton("▶ Play", self)
        self.play_button.clicked.connect(self.toggle_play)
        self.time_label = QLabel(self)
        self.time_label.setObjectName("playbackTime")
        self.time_label.setToolTip("Playback position / length; click the spectrogram or the timeline to move it")
        self.export_csv_button = QPushButton("Export CSV…", self)
        self.export_csv_button.clicked.connect(lambda: self.export_dialog("csv"))
        self.export_json_button = QPushButton("Export JSON…", self)
        self.export_json_button.clicked.connect(lambda: self.export_dialog("json"))
        self.export_png_button = QPushButton("Export PNG…", self)
        self.export_png_button.clicked.connect(lambda: self.export_dialog("png"))
        self.export_table_button = QPushButton("Export table…", self)
        self.export_table_button.clicked.connect(lambda: self.export_dialog("table"))
        self.export_table_button.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.title, 1)
        buttons.addWidget(self.time_label)
        for b in (self.play_button, self.export_csv_button, self.export_json_button, self.export_png_button,
                  self.export_table_button):
            buttons.addWidget(b)

        self.detail_body = QWidget(self)
        detail_layout = QVBoxLayout(self.detail_body)
        detail_layout.setContentsMargins(0, 0, 0, 0)
        detail_layout.addLayout(buttons)
        detail_layout.addWidget(summary)
        detail_layout.addWidget(plots, 1)
        self._png_parts = (self.title, summary, plots)  # what a PNG export shows: never the buttons

        self.placeholder = QLabel("Drop audio files here\nor use File › Open…  (Ctrl+O)\n\n"
                                  "WAV, FLAC, OGG, MP3 and other formats libsndfile reads", self)
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)  # its large type must not widen the window past a small screen
        self.pages = QStackedWidget(self)
        self.pages.addWidget(self.placeholder)
        # A failed file selected in the table: its reason, and nothing of the file shown before (whose exports
        # would otherwise save the wrong file).
        self.failed_page = QLabel(self)
        self.failed_page.setObjectName("placeholder")
        self.failed_page.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.failed_page.setWordWrap(True)
        self.failed_page.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.pages.addWidget(self.failed_page)
        # The detail scrolls rather than shrink its plots below their least heights (many files, small screens).
        self.detail_scroll = QScrollArea(self)
        self.detail_scroll.setWidgetResizable(True)
        self.detail_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.detail_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.detail_scroll.setWidget(self.detail_body)
        self.detail = QWidget(self)
        page_layout = QVBoxLayout(self.detail)
        page_layout.setContentsMargins(0, 0, 0, 0)
        page_layout.addWidget(self.detail_scroll)
        self.pages.addWidget(self.detail)

        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.table)
        split.addWidget(self.pages)
        split.setStretchFactor(1, 4)
        split.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 4)
        layout.addWidget(self.message)
        layout.addWidget(self.progress_row)
        layout.addWidget(split, 1)
        self._refresh_buttons()

    # ------------------------------------------------------------------ analysis
    @property
    def busy(self) -> bool:
        return self._worker is not None

    def set_model(self, model: OnnxModel | None, config: AnalyzerConfig) -> None:
        self.model = model
        self.config = config

    def set_adaptation(self, on: bool) -> None:
        """Adapt to the speaker within each file analysed from now on (a model that can): its first utterances
        warm the speaker mean up, the later ones are judged against it."""
        self.adapt = bool(on)

    def analyse_paths(self, paths: Iterable[str | Path]) -> None:
        """Queue files for analysis (one at a time, in order)."""
        if self.model is None:
            self.show_message("No model is loaded, so files cannot be analysed. Choose one with Live › Model…")
            return
        if self._worker is None and not self._pending:  # a new batch: the last one's messages have been seen
            self._batch_done = 0
            self._batch_errors.clear()
        for p in paths:
            key = str(Path(p))
            if key not in self._pending:
                self._pending.append(key)
        self._next_job()

    def _next_job(self) -> None:
        if self._worker is not None or not self._pending:
            if not self._pending and self._worker is None:
                self.busy_changed.emit(False)
            return
        path = self._pending.pop(0)
        model, config, carrier = self.model, self.config, self._carrier
        assert model is not None
        self._cancel = threading.Event()
        report = progress_reporter(path, carrier, self._cancel)
        speaker = SpeakerMean.for_model(model) if self.adapt and model.adaptable else None  # this file's

        def work() -> None:
            try:
                outcome: object = analyse(path, model, config, progress=report, speaker=speaker)
            except Cancelled as exc:
                outcome = exc
            except SerappError as exc:
                outcome = str(exc)
            except Exception as exc:  # a decoder bug must not take the app down: report it as a plain message
                outcome = f"{path}: analysis failed ({type(exc).__name__}: {exc})."
            # The window may have been closed and deleted while this thread ran on to its next block.
            with contextlib.suppress(RuntimeError):
                carrier.done.emit(path, outcome)

        self._worker = threading.Thread(target=work, name="serapp-file-analysis", daemon=True)
        self._job_path, self._job_started = path, time.monotonic()
        self._show_progress(0.0)
        self.progress_row.show()
        self.busy_changed.emit(True)
        self._worker.start()

    def wait_idle(self, timeout_s: float = 30.0) -> None:
        """Block until the current worker ends (for scripts; the GUI never calls this)."""
        if self._worker is not None:
            self._worker.join(timeout_s)

    def cancel(self) -> None:
        """Stop the analysis under way at its next block and drop the queued files; finished ones stay."""
        if self._worker is None and not self._pending:
            return
        dropped = len(self._pending)
        self._pending.clear()
        self._cancel.set()
        queued = f" {dropped} queued file{'s' if dropped > 1 else ''} dropped." if dropped else ""
        self.progress_label.setText(f"Cancelling {Path(self._job_path).name}…{queued}")
        self.cancel_button.setEnabled(False)

    def shutdown(self, timeout_s: float = 1.0) -> bool:
        """Cancel any analysis and wait up to ``timeout_s`` for its thread (the window is closing); whether it
        ended. The thread stops at its next progress report (one decoding block of the engine's analysis); a
        thread still busy with its block is a daemon, so it never holds the window or the process up."""
        worker = self._worker
        self.cancel()
        if worker is not None:
            worker.join(timeout_s)
        return worker is None or not worker.is_alive()

    def _on_progress(self, path: str, fraction: float) -> None:
        if path == self._job_path and self._worker is not None and not self._cancel.is_set():
            self._show_progress(fraction)

    def _show_progress(self, fraction: float) -> None:
        elapsed = time.monotonic() - self._job_started
        count = self._batch_done + 1 + len(self._pending)
        self.progress_label.setText(describe(Path(self._job_path).name, fraction, time_left_s(fraction, elapsed),
                                             self._batch_done, count))
        self.progress_bar.setValue(round(fraction * PROGRESS_STEPS))
        self.cancel_button.setEnabled(True)

    def _on_done(self, path: str, outcome: object) -> None:
        if self._worker is not None:
            self._worker.join()
        self._worker = None
        self.progress_row.hide()
        if isinstance(outcome, Cancelled):
            self.show_message(str(outcome), error=False)
            self._next_job()
            return
        self._batch_done += 1
        if path not in self.order:
            self.order.append(path)
        if isinstance(outcome, FileResult):
            self.results[path] = outcome
            self.errors.pop(path, None)
            self._batch_errors.pop(path, None)
            self.show_file(path)
        else:
            self.errors[path] = str(outcome)
            self._batch_errors[path] = str(outcome)
            self.results.pop(path, None)
        # The batch's failures stay in view while the next files are analysed (they used to vanish).
        self.show_message(batch_message(list(self._batch_errors.values())))
        self._refresh_table()
        self._next_job()

    # ------------------------------------------------------------------ display
    def _with_current_fft(self, path: str, result: FileResult) -> FileResult:
        """``result`` with its display spectrogram at the current FFT size (View › Spectrogram), recomputed here
        for a file up to ``RESPECTROGRAM_MAX_S`` long (a fraction of a second); a longer one keeps the size it was
        analysed with until it is analysed again, so that showing it never holds the window up."""
        n_fft = self.config.spectrum_n_fft
        if result.spectrogram_db.shape[1] == n_fft // 2 + 1 or result.duration_s > RESPECTROGRAM_MAX_S:
            return result
        try:
            db, freqs, _ = file_spectrogram(path, result.sample_rate, n_fft=n_fft)
        except SerappError:
            return result  # changed or gone since its analysis: keep the picture it had
        result = dataclasses.replace(result, spectrogram_db=db, freqs=freqs)
        self.results[path] = result
        return result

    def show_message(self, text: str, error: bool = True) -> None:
        """Show ``text`` above the view (``error`` styles it as a problem); "" hides it."""
        self.message.setText(text)
        self.message.setProperty("error", error)
        self.message.style().unpolish(self.message)
        self.message.style().polish(self.message)
        self.message.setVisible(bool(text))
        self.message_changed.emit(text)

    def show_file(self, path: str) -> None:
        result = self.results.get(path)
        if result is None:
            return
        result = self._with_current_fft(path, result)
        self.player.stop()
        self.current = path
        a = result.analysis
        s = a.summary
        self.title.setText(f"<b>{a.file.name}</b> — {result.duration_s:.1f} s, {len(a.timeline)} windows, "
                           f"speech {100 * s.speech_ratio:.0f}%"
                           + (f", {s.crowd_s:.1f} s of crowd not scored" if s.crowd_s > 0 else ""))
        if s.dominant == SILENCE and s.crowd_s > 0:
            self.emotion.show_silence("No speech", f"{s.crowd_s:.1f} s of voices sounded like a crowd, not one "
                                                   "speaker, and were not scored")
        elif s.dominant == SILENCE:
            self.emotion.show_silence("No speech", "the speech detector found no speech in this file")
        else:
            self.emotion.show_emotion(s.dominant, s.probabilities.get(s.dominant, 0.0))
            self.emotion.confidence_label.setText(
                f"dominant over {s.utterances} utterance{'' if s.utterances == 1 else 's'} (highest probability, "
                f"utterances weighted by length) · {100 * s.shares.get(s.dominant, 0.0):.0f}% of the time on top")
        self.shares.set_labels(list(a.labels))
        self.shares.set_probabilities(np.array([s.probabilities.get(k, 0.0) for k in a.labels]),
                                      active=s.dominant != SILENCE)
        self._fill_utterances(a)
        fmax = float(result.freqs[-1]) if result.freqs.size else result.sample_rate / 2
        self.spectrogram.set_spectrogram(result.spectrogram_db, result.duration_s, fmax)
        self.timeline.set_labels(a.labels)
        t = np.array([w.t for w in a.timeline])
        probs = np.array([np.zeros(len(a.labels)) if w.probs is None else w.probs for w in a.timeline])
        self.timeline.set_series(t, probs.reshape(len(t), len(a.labels)))
        self.timeline.set_cursor(None)
        self._cursor_s = 0.0
        self._show_time(0.0)
        self.spectrogram.plot.setXRange(0.0, result.duration_s, padding=0)
        self.pages.setCurrentWidget(self.detail)
        self._select_row(path)
        self._refresh_buttons()

    def _fill_utterances(self, analysis: FileAnalysis) -> None:
        """One row per utterance of the file shown: start and end (m:ss.s), emotion, confidence."""
        self.utterances.setRowCount(len(analysis.utterances))
        for row, u in enumerate(analysis.utterances):
            cells = [format_clock(u.start, 1), format_clock(u.end, 1), emotion_style(u.emotion(analysis.labels)).name,
                     f"{100 * u.confidence:.0f}%"]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, u.start)
                self.utterances.setItem(row, col, item)

    def _on_utterance_clicked(self, row: int, _column: int) -> None:
        item = self.utterances.item(row, 0)
        if item is not None:
            self.seek_to(float(item.data(Qt.ItemDataRole.UserRole)))

    def _refresh_table(self) -> None:
        done = [self.results[p].analysis for p in self.order if p in self.results]
        columns = serialize.summary_header(done) if done else ["file", "duration_s", "dominant"]
        self.table.blockSignals(True)
        self.table.clear()
        self.table.setColumnCount(len(columns))
        self.table.setHorizontalHeaderLabels([display_header(c) for c in columns])
        self.table.setRowCount(len(self.order))
        rows = iter(serialize.summary_rows(done))
        for r, path in enumerate(self.order):
            cells = next(rows) if path in self.results else [Path(path).name, "", "error"]
            if path in self.results:  # the duration as a clock, like the time axes ("1:05.3")
                cells = [cells[0], format_clock(self.results[path].analysis.summary.duration_s, 1),
                         emotion_style(cells[2]).name, *cells[3:]]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, path)
                if path in self.errors:
                    item.setToolTip(self.errors[path])
                self.table.setItem(r, c, item)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.blockSignals(False)
        rows_height = self.table.horizontalHeader().height() + sum(
            self.table.rowHeight(r) for r in range(self.table.rowCount())) + 4
        self.table.setMaximumHeight(min(rows_height, 8 * self.fontMetrics().height() * 2))
        self.table.setVisible(len(self.order) > 1)
        if self.current:
            self._select_row(self.current)
        self._refresh_buttons()

    def _select_row(self, path: str) -> None:
        if path in self.order:
            self.table.blockSignals(True)
            self.table.selectRow(self.order.index(path))
            self.table.blockSignals(False)

    def _on_row_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            path = self.order[rows[0].row()]
            if path in self.results:
                self.show_file(path)
            else:
                self.show_failed(path)

    def show_failed(self, path: str) -> None:
        """Show that ``path`` could not be analysed, in place of the file shown before; nothing to export."""
        self.player.stop()
        self.current = None
        reason = self.errors.get(path, "")
        self.failed_page.setText(f"{Path(path).name} could not be analysed.\n\n{reason}")
        self.pages.setCurrentWidget(self.failed_page)
        self.show_message(reason)
        self._select_row(path)
        self._refresh_buttons()

    def _refresh_buttons(self) -> None:
        has = self.current is not None
        self.current_changed.emit()
        for b in (self.export_csv_button, self.export_json_button, self.export_png_button):
            b.setEnabled(has)
        self.play_button.setEnabled(has)
        self._refresh_play_tooltip()
        self.time_label.setVisible(has)
        self.export_table_button.setVisible(len(self.results) > 1)

    # ------------------------------------------------------------------ playback
    def toggle_play(self) -> None:
        """Play, pause or resume the file shown (Space in this tab, the Play button)."""
        if self.player.playing:
            self.player.pause()
            return
        if self.player.paused:
            self.player.resume()
            return
        result = self.results.get(self.current or "")
        if result is None:
            return
        start = 0.0 if self._cursor_s >= result.duration_s - 0.05 else self._cursor_s  # at the end: from the top
        try:
            self.player.play(result.path, result.duration_s, result.sample_rate, start_s=start)
        except SerappError as exc:
            self.show_message(str(exc))

    def seek_to(self, t_s: float) -> None:
        """Move the playback (or, stopped, where Play will start) to ``t_s`` seconds of the file shown."""
        result = self.results.get(self.current or "")
        if result is None:
            return
        t = min(max(0.0, float(t_s)), result.duration_s)
        if self.player.playing or self.player.paused:
            self.player.seek(t)
        else:
            self._on_position(t)

    def _on_plot_clicked(self, plot: object, event: object) -> None:
        """A left click inside a file plot (not a drag: that pans) seeks to the time under the pointer."""
        if event.button() != Qt.MouseButton.LeftButton or self.current is None:  # type: ignore[attr-defined]
            return
        box = plot.getPlotItem().getViewBox()  # type: ignore[attr-defined]
        pos = event.scenePos()  # type: ignore[attr-defined]
        if box.sceneBoundingRect().contains(pos):
            self.seek_to(box.mapSceneToView(pos).x())

    def _on_position(self, t: float) -> None:
        self._cursor_s = t
        self.spectrogram.set_cursor(t)
        self.timeline.set_cursor(t)
        self._show_time(t)

    def _show_time(self, t: float) -> None:
        result = self.results.get(self.current or "")
        length = result.duration_s if result is not None else 0.0
        self.time_label.setText(f"{format_clock(t, 1)} / {format_clock(length, 1)}")

    def _refresh_play_button(self) -> None:
        self.play_button.setText("❚❚ Pause" if self.player.playing else "▶ Play")
        self._refresh_play_tooltip()  # a file the output cannot play as it is says so once it plays

    def _refresh_play_tooltip(self) -> None:
        tip = ("Play / pause the file with a moving cursor (Space)" if self.player.can_play_sound
               else f"Playing sound is off: {self.player.unavailable} The cursor still moves.")
        self.play_button.setToolTip(f"{tip}\n{self.player.fallback}" if self.player.fallback else tip)

    # ------------------------------------------------------------------ exports
    @property
    def last_dir(self) -> str:
        """The folder a dialog starts in when no analysed file suggests one (the settings' ``last_dir``)."""
        return self.settings.values.last_dir if self.settings is not None else ""

    def export_dialog(self, kind: str) -> None:
        """Ask where to save (``csv``, ``json``, ``png`` of the current file, or ``table`` of all) and save."""
        if self.current is None and kind != "table":
            return
        stem = Path(self.current).stem if self.current else "summaries"
        suffix = "csv" if kind == "table" else kind
        # Beside the analysed file (the first one for the table), where its results belong.
        analysed = self.current or next(iter(self.results), "")
        folder = Path(analysed).parent if analysed else Path(self.last_dir or Path.home())
        start = str(folder / f"{stem}-emotions.{suffix}")
        path = self.dialogs.save_path(self, "Export", start, EXPORT_FILTERS[suffix])
        if path:
            if self.settings is not None:
                self.settings.update(last_dir=str(Path(path).parent))
            self.write_export(path, kind)

    def write_export(self, path: str | Path, kind: str) -> bool:
        """Write the export ``kind`` to ``path`` atomically; on failure say so here and keep everything shown."""
        try:
            atomic.write_bytes(path, self._export_bytes(kind))
        except SerappError as exc:
            self.show_message(f"Export failed: {exc}")
            return False
        self.show_message(f"Saved {path}", error=False)
        return True

    def _export_bytes(self, kind: str) -> bytes:
        if kind == "table":
            return serialize.summaries_csv([self.results[p].analysis for p in self.order if p in self.results]).encode()
        result = self.results.get(self.current or "")
        if result is None:
            raise SerappError("Nothing to export yet: analyse a file first.")
        if kind == "csv":
            return serialize.analysis_csv(result.analysis).encode()
        if kind == "json":
            return serialize.analysis_json(result.analysis).encode()
        if kind == "png":
            return self.view_png()
        raise SerappError(f"Unknown export kind {kind!r}.")


    def view_png(self) -> bytes:
        """A PNG of the file shown: its name, summary and plots, without the buttons and the playback cursor."""
        cursors = [(c, c.isVisible()) for c in (self.spectrogram.cursor, self.timeline.cursor)]
        for cursor, _ in cursors:
            cursor.hide()
        try:
            image = stack_images([w.grab().toImage() for w in self._png_parts], self.palette().window().color())
        finally:
            for cursor, shown in cursors:
                cursor.setVisible(shown)
        return png_bytes(image)


def stack_images(images: list[QImage], background: QColor) -> QImage:
    """``images`` one under the other (device pixels, left-aligned) on ``background``, at their pixel ratio."""
    ratio = max((im.devicePixelRatio() for im in images), default=1.0)
    out = QImage(max((im.width() for im in images), default=1), max(1, sum(im.height() for im in images)),
                 QImage.Format.Format_ARGB32)
    out.fill(background)
    painter = QPainter(out)
    y = 0
    for im in images:
        im.setDevicePixelRatio(1.0)  # drawn pixel for pixel
        painter.drawImage(0, y, im)
        y += im.height()
    painter.end()
    out.setDevicePixelRatio(ratio)
    return out


def png_bytes(image: QImage) -> bytes:
    """``image`` encoded as PNG."""
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise SerappError("The view could not be rendered to PNG.")
    return bytes(buffer.data().data())


def grab_png(widget: QWidget) -> bytes:
    """A PNG of ``widget`` as it is drawn now (at the screen's device pixel ratio)."""
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not widget.grab().save(buffer, "PNG"):
        raise SerappError("The view could not be rendered to PNG.")
    return bytes(buffer.data().data())


def audio_paths(paths: Iterable[str | Path]) -> list[str]:
    """``paths`` with each folder replaced by the audio files (by suffix) directly inside it, sorted. Anything else
    (any suffix, a named pipe, a device, a socket) and a folder holding no audio file stay as they are: the
    analysis refuses them with a plain reason, as it does from File › Open, instead of their being skipped unsaid."""
    out: list[str] = []
    for p in map(Path, paths):
        out += (_audio_inside(p) if p.is_dir() else []) or [str(p)]
    return out


def _audio_inside(folder: Path) -> list[str]:
    """The audio files (by suffix) directly inside ``folder``, sorted; none when it cannot be listed."""
    try:
        return sorted(str(f) for f in folder.iterdir() if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES)
    except OSError:
        return []
