"""The main window: wires the settings, the live session and the file analysis to the views. Draws nothing itself."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QByteArray, QEvent, QRect, QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QLabel,
    QMainWindow,
    QPushButton,
    QStackedWidget,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from serapp import atomic
from serapp.engine import serialize
from serapp.engine.model import OnnxModel, load_model
from serapp.errors import SerappError
from serapp.ui.about import AboutDialog
from serapp.ui.audiodevices import AudioDevices
from serapp.ui.controls import ANALYSIS_KEYS, AnalysisControls
from serapp.ui.demo import DemoView
from serapp.ui.dialogs import Dialogs
from serapp.ui.engine_bridge import (
    DeviceWatcher,
    LiveSession,
    LiveStats,
    SourceChoice,
    device_caption,
)
from serapp.ui.fileview import AUDIO_FILTER, EXPORT_FILTERS, FileAnalysisView, audio_paths, grab_png
from serapp.ui.liveinput import LiveInputState
from serapp.ui.liverecord import LiveRecord
from serapp.ui.liveview import LiveView
from serapp.ui.modelchoice import ModelLoader, choose_model, startup_path
from serapp.ui.playback import Player
from serapp.ui.plotstyle import apply_plot_palette
from serapp.ui.recorder import RECORD_FORMATS
from serapp.ui.settings import analyzer_config
from serapp.ui.settingsmodel import SettingsModel
from serapp.ui.spectrogram import SpectrogramMenu
from serapp.ui.theme import palette_named, qpalette, stylesheet
from serapp.ui.timeaxis import format_clock

FILE_PREFIX = "file:"
STATUS_TIPS = {  # what each status-bar item tells
    "recording": "Recording of the live input: its length so far and the file it goes to",
    "source": "The input analysed live: the device PortAudio opened, or the --input file",
    "model": "The emotion model in use (Live › Choose model…; Help › About for its card)",
    "rate": "Emotion updates per second (one per hop while someone speaks)",
    "fps": "Spectrogram frames drawn per second",
    "compute": "Time to compute one update, and the delay from the sound to its result on screen",
    "dropped": "Audio blocks lost because the computer fell behind (0 is right)",
    "adapt": "Adapting to the speaker: utterances heard of those needed before emotions are judged against this "
             "speaker's own voice",
}
START_TIP = "Start or stop live analysis (Space)"
SUMMARY_EVERY_S = 1.0  # the live rolling summary is recomputed once per second of session
EXPOSE_WAIT_S = 1.0  # a deferred start-up waits at most this long for the window to be on the screen
PREFERRED_SIZE = QSize(1280, 820)  # the window at first start on a screen with room for it
FRAME_ALLOWANCE = QSize(16, 48)  # px a window manager's title bar and borders add around the window's content


def initial_geometry(available: QRect, preferred: QSize = PREFERRED_SIZE, frame: QSize = FRAME_ALLOWANCE) -> QRect:
    """The window's content rectangle at first start: ``preferred`` or smaller, so that with its frame it fits
    inside ``available`` (the screen less its task bars), centred there."""
    w = max(1, min(preferred.width(), available.width() - frame.width()))
    h = max(1, min(preferred.height(), available.height() - frame.height()))
    left = available.x() + (available.width() - w) // 2
    # The title bar sits above the content: centre the framed window, not the content.
    top = available.y() + (available.height() - h - frame.height()) // 2 + frame.height() - frame.width() // 2
    return QRect(left, max(available.y(), top), w, h)


@dataclass(frozen=True)
class LaunchOptions:
    """Command-line choices for this run (not persisted): model file, input file, device, demo mode."""

    model: str | None = None
    input: str | None = None
    device: str | None = None
    demo: bool = False
    # Show the window before loading the model and opening the input (run_app): it appears about 1.5 s sooner,
    # saying what it is doing, instead of nothing on the screen while the model is checked (issue 31 item 10).
    defer_start: bool = False


class MainWindow(QMainWindow):
    """Live view, file analysis and demo mode in one window."""

    def __init__(self, options: LaunchOptions, store: QSettings | SettingsModel, player: Player | None = None, *,
                 devices: AudioDevices | None = None, model_loader: ModelLoader[OnnxModel] = load_model,
                 dialogs: Dialogs | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        """``store``: where the settings live (or the settings model itself); ``player``: the file view's audio
        output; ``devices``: the live inputs (PortAudio by default); ``model_loader``: path (None = the bundled
        model) to model; ``dialogs``: the file dialogs (Qt's by default); ``clock``: seconds, for the deferred
        start-up's wait. Tests pass fakes for these."""
        super().__init__()
        self.options = options
        self.settings = store if isinstance(store, SettingsModel) else SettingsModel(store, self)
        self.devices = devices or AudioDevices()
        self._load_model = model_loader
        self.dialogs = dialogs or Dialogs()
        self._clock = clock
        self.model: OnnxModel | None = None
        self.session: LiveSession | None = None
        self.live_record = LiveRecord()  # the live session's results, kept until Live › Clear
        self._summary_at = 0.0  # session time of the rolling summary shown
        self.live_input = LiveInputState()
        self.device_watcher = DeviceWatcher(self, self.devices)  # rescans while there is no microphone at all
        self.device_watcher.appeared.connect(self._on_devices_appeared)
        self._banner_parts: dict[str, str] = {}
        self._in_demo = False
        # Qt adds the application's display name ("serapp") itself: "Speech emotion recognition — serapp".
        self.setWindowTitle("Speech emotion recognition")
        self.setAcceptDrops(True)
        self._pre_demo_geometry = QByteArray()
        self._pre_demo_maximized = False

        self.live_view = LiveView(self)
        self.file_view = FileAnalysisView(self, player=player, settings=self.settings, dialogs=self.dialogs)
        self.demo_view = DemoView(self)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self.live_view, "Live")
        self.tabs.addTab(self.file_view, "File analysis")
        self.tabs.currentChanged.connect(self._refresh_export_actions)
        self.tabs.currentChanged.connect(lambda _i: self._refresh_live_controls())
        self.file_view.current_changed.connect(self._refresh_export_actions)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.tabs)
        self.stack.addWidget(self.demo_view)
        self.banner = QLabel(self)
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.hide()
        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 6, 6, 0)
        layout.addWidget(self.banner)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        self._build_actions()
        self._refresh_export_actions()
        self._build_toolbar()
        self._build_status()
        self._apply_debounce = QTimer(self)
        self._apply_debounce.setSingleShot(True)
        self._apply_debounce.setInterval(300)
        self._apply_debounce.timeout.connect(self._apply_controls)
        self.settings.changed.connect(self._on_settings_changed)
        self.apply_theme(self.settings.values.theme)
        # Saved at once: an unwritable store is said in the banner now, not at the user's first change.
        self.settings.problem_changed.connect(self._show_settings_problem)
        self.settings.save()
        self._show_settings_problem(self.settings.problem)
        self._geometry_debounce = QTimer(self)
        self._geometry_debounce.setSingleShot(True)
        self._geometry_debounce.setInterval(500)
        self._geometry_debounce.timeout.connect(self._remember_geometry)
        self._place_window()
        self._started = False
        self._shown_at = self._clock()
        if options.defer_start and not options.demo:
            self.statusBar().showMessage("Loading the model…")
            QTimer.singleShot(0, self._start_up)
        else:
            self._start_up()

    def _start_up(self, now: bool = False) -> None:
        """Load the model, list the inputs and start listening (demo mode: go full screen). Once. ``now``: without
        waiting for the window to be on the screen (something needs the model at once)."""
        if self._started:
            return
        if self.options.defer_start and not now:
            if not self.isVisible():
                return  # closed before it started: nothing to load
            handle = self.windowHandle()
            waited = self._clock() - self._shown_at
            if handle is not None and not handle.isExposed() and waited < EXPOSE_WAIT_S:
                QTimer.singleShot(10, self._start_up)  # the window system has not put it on the screen yet
                return
            self.repaint()  # drawn before the wait
        self._started = True
        self.load_model_file(startup_path(self.options.model, self.settings.values.model_path), persist=False)
        self.statusBar().clearMessage()
        self._populate_inputs()
        if self.session is not None and not self.live_input.unavailable_reason:
            self.start_live()
        if self.options.demo:
            self.set_demo(True)

    # ------------------------------------------------------------------ construction
    def _action(self, text: str, slot: object, shortcut: QKeySequence | str | None = None,
                checkable: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        # Added to the window too, so shortcuts work while the menu bar is hidden (demo mode).
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        self.open_action = self._action("&Open audio…", self.open_files, QKeySequence.StandardKey.Open)
        # In File analysis they export the file shown; in the Live tab, the live session.
        self.export_csv_action = self._action("Export timeline as &CSV…", lambda: self.export_dialog("csv"), "Ctrl+E")
        self.export_json_action = self._action("Export timeline as &JSON…", lambda: self.export_dialog("json"),
                                               "Ctrl+Shift+E")
        self.export_png_action = self._action("Export view as &PNG…", lambda: self.export_dialog("png"),
                                              "Ctrl+Shift+P")
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        # Space: start / stop live analysis, but play / pause in File analysis (never the hidden live session).
        self.start_action = self._action("&Start / stop (play / pause in File analysis)", self.space, "Space")
        self.model_action = self._action("Choose &model…", self.choose_model, "Ctrl+M")
        self.clear_action = self._action("&Clear the live timeline", self.clear_live, "Ctrl+L")
        self.clear_action.setToolTip("Start the live session afresh (stops, restarts and setting changes keep it)")
        self.new_speaker_action = self._action("&New speaker", self.new_speaker, "Ctrl+Shift+N")
        self.new_speaker_action.setToolTip("Someone else speaks now: adapting to the speaker starts over (Adapt on)")
        self.record_action = self._action("&Record the live input", self.set_recording, "Ctrl+R", checkable=True)
        self.record_action.setToolTip("Save what the microphone hears to a file per run, in a folder you choose")
        self.record_folder_action = self._action("Recording &folder…", self.choose_record_folder)
        self.record_format_group = QActionGroup(self)
        self.record_format_actions: dict[str, QAction] = {}
        for fmt, (_, caption) in RECORD_FORMATS.items():
            action = QAction(caption, self, checkable=True)
            action.setChecked(fmt == self.settings.values.record_format)
            action.triggered.connect(lambda _on, f=fmt: self._set_record_format(f))
            self.record_format_group.addAction(action)
            self.record_format_actions[fmt] = action
        self.live_tab_action = self._action("&Live view", lambda: self.show_page(0), "Ctrl+1")
        self.file_tab_action = self._action("&File analysis", lambda: self.show_page(1), "Ctrl+2")
        self.demo_action = self._action("&Demo mode", self.set_demo, "F11", checkable=True)
        self.escape_action = self._action("Leave demo mode / cancel the analysis", self.escape, "Esc")
        self.dark_action = self._action("&Dark theme", lambda on: self.apply_theme("dark" if on else "light"),
                                        "Ctrl+T", checkable=True)
        self.about_action = self._action("&About serapp and the model", self.show_about,
                                         QKeySequence.StandardKey.HelpContents)
        menus = {"&File": [self.open_action, None, self.export_csv_action, self.export_json_action,
                           self.export_png_action, None, self.quit_action],
                 "&Live": [self.start_action, self.clear_action, self.new_speaker_action, self.model_action],
                 "&View": [self.live_tab_action, self.file_tab_action, None, self.demo_action, self.dark_action],
                 "&Help": [self.about_action]}
        for title, actions in menus.items():
            menu = self.menuBar().addMenu(title)
            menu.setToolTipsVisible(True)  # a disabled export says why
            for a in actions:
                if a is None:
                    menu.addSeparator()
                else:
                    menu.addAction(a)
            if title == "&View":
                menu.addSeparator()
                # Owns its settings section: saves, restores and applies colours and range to both views itself.
                self.spectrogram_menu = SpectrogramMenu(
                    self, self.settings, (self.live_view.spectrogram, self.file_view.spectrogram),
                    self.pause_spectrogram)
                menu.addMenu(self.spectrogram_menu)
            if title == "&Live":
                menu.addSeparator()
                menu.addAction(self.record_action)
                menu.addAction(self.record_folder_action)
                formats = menu.addMenu("Recording format")
                formats.addActions(list(self.record_format_actions.values()))

    def _build_toolbar(self) -> None:
        bar = QToolBar("Controls", self)
        bar.setObjectName("controls")
        bar.setMovable(False)
        self.addToolBar(bar)
        self.controls = bar
        self.start_button = QPushButton("▶ Start", self)
        self.start_button.setToolTip(START_TIP)
        self.start_button.setMinimumWidth(self.start_button.fontMetrics().horizontalAdvance("■ Stop") * 2)
        self.start_button.clicked.connect(self.toggle_live)
        self.device_combo = QComboBox(self)
        self.device_combo.setMinimumWidth(220)
        self.device_combo.setToolTip("Live input: a microphone, or the --input file")
        self.device_combo.activated.connect(self._on_device_chosen)
        self.model_button = QPushButton("Model…", self)
        self.model_button.setToolTip("Choose a serapp ONNX model (Ctrl+M)")
        self.model_button.clicked.connect(self.choose_model)
        self.analysis_controls = AnalysisControls(self, self.settings)  # saves and restores its own settings
        controls = self.analysis_controls
        self.hop_spin, self.smoothing_spin, self.gate_spin = controls.hop, controls.smoothing, controls.gate
        self.hold_spin = controls.hold
        self.adapt_check = controls.adapt
        controls.set_adaptable(False)  # until a model that can adapt is loaded
        self.new_speaker_action.setEnabled(False)
        for caption, widget in (("", self.start_button), ("Input", self.device_combo), ("", self.model_button),
                                ("Hop", self.hop_spin), ("Smoothing", self.smoothing_spin), ("Gate", self.gate_spin),
                                ("Hold", self.hold_spin), (" ", self.adapt_check)):
            if caption:
                bar.addWidget(QLabel(f"  {caption} ", self))
            bar.addWidget(widget)

    def _build_status(self) -> None:
        self.status_labels = {k: QLabel(self) for k in ("recording", "source", "model", "adapt", "rate", "fps",
                                                        "compute", "dropped")}
        for key, label in self.status_labels.items():
            label.setToolTip(STATUS_TIPS[key])
            self.statusBar().addPermanentWidget(label)
        self._show_stats(None)

    def _on_settings_changed(self, names: frozenset) -> None:
        """Apply settings that change the analysis, wherever they were changed (the model has saved them already;
        the spectrogram menu applies the colours and range itself). The analysis controls apply once the user
        pauses; a new FFT size reaches the live view at once (a running session restarts with it) and the file
        view when it next shows a file."""
        if names & ANALYSIS_KEYS:
            self._apply_debounce.start()
        if "spectrogram_n_fft" in names and self.model is not None:
            self._apply_controls()  # restarts a running session: the old size's last columns are drained first
            config = analyzer_config(self.settings.values)
            self.live_view.configure_spectrum(config.spectrum_n_fft // 2 + 1, config.spectrum_hop_s,
                                              self.model.info.spec.sample_rate / 2)

    def pause_spectrogram(self, paused: bool) -> None:
        """Freeze the live spectrogram (the analysis and the timeline go on)."""
        self.live_view.spectrogram.set_paused(paused)

    def _refresh_export_actions(self) -> None:
        """File › Export works on the file shown in File analysis; anywhere else it is off and says why (Ctrl+E
        used to do nothing silently in the Live tab, and to export a file no longer shown)."""
        if not hasattr(self, "export_png_action"):
            return  # the views signal while the window is still being built
        view = self.file_view
        if self.tabs.currentWidget() is not view:
            reason = "" if len(self.live_record) else \
                "Nothing to export yet: start live analysis (Space); its timeline is kept until Live › Clear."
        elif view.current is None:
            reason = "Analyse a file first (File › Open, or drop files on the window)."
        else:
            reason = ""
        for action in (self.export_csv_action, self.export_json_action, self.export_png_action):
            action.setEnabled(not reason)
            action.setToolTip(reason or action.text().replace("&", ""))
            action.setStatusTip(reason)

    # ------------------------------------------------------------------ window geometry
    def _place_window(self) -> None:
        """Restore the remembered size, place and maximised state; at first start (or when the remembered one
        cannot be used) fit the screen's available area, so nothing starts off-screen on a 1280x720 laptop."""
        saved = QByteArray.fromBase64(self.settings.values.window_geometry.encode("ascii"))
        if saved.size() and self.restoreGeometry(saved):
            return
        screen = self.screen() or QApplication.primaryScreen()
        available = screen.availableGeometry() if screen is not None else QRect(0, 0, 1280, 720)
        self.setGeometry(initial_geometry(available))

    def normal_geometry_state(self) -> QByteArray:
        """``saveGeometry()`` of the window as the user arranged it (before demo mode made it full screen)."""
        return self._pre_demo_geometry if self._in_demo else self.saveGeometry()

    def _remember_geometry(self) -> None:
        encoded = bytes(self.normal_geometry_state().toBase64().data()).decode("ascii")
        if encoded != self.settings.values.window_geometry:
            self.settings.update(window_geometry=encoded)

    def resizeEvent(self, event: object) -> None:
        super().resizeEvent(event)  # type: ignore[arg-type]
        self._geometry_debounce.start()

    def moveEvent(self, event: object) -> None:
        super().moveEvent(event)  # type: ignore[arg-type]
        self._geometry_debounce.start()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.WindowStateChange:
            self._geometry_debounce.start()

    # ------------------------------------------------------------------ model and inputs
    def load_model_file(self, path: str, persist: bool = True) -> bool:
        """Load ``path`` ("" = the bundled model) by :func:`~serapp.ui.modelchoice.choose_model` and hand it to
        the views; returns whether a model was loaded. ``persist``: save ``path`` as the user's choice when it
        loads without a problem. The banner says what is wrong with a file that does not."""
        with_cursor = QApplication.overrideCursor() is None
        if with_cursor:
            QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            outcome = choose_model(self._load_model, path, self.model, persist)
        finally:
            if with_cursor:
                QApplication.restoreOverrideCursor()
        self.set_banner("model", outcome.problem)
        model = outcome.model
        if model is None:
            return False
        self.model = model
        if outcome.persist:
            self.settings.update(model_path=path)
        config = analyzer_config(self.settings.values)
        labels = model.info.labels
        self.live_record.set_labels(labels)
        self._refresh_export_actions()
        for view in (self.live_view, self.demo_view):
            view.set_labels(labels)
        self.live_view.set_gate(self.settings.values.gate_db)
        self.live_view.configure_spectrum(config.spectrum_n_fft // 2 + 1, config.spectrum_hop_s,
                                          model.info.spec.sample_rate / 2)
        self.file_view.set_model(model, config)
        self.file_view.set_adaptation(self.settings.values.adapt_speaker)
        self.analysis_controls.set_adaptable(model.adaptable)
        self.new_speaker_action.setEnabled(self.analysis_controls.adapting)
        if self.session is None:
            self.session = LiveSession(model, config, self, self.devices)
            self.session.results_ready.connect(self._on_results)
            self.session.spectrum_ready.connect(self._on_spectrum)
            self.session.state_changed.connect(self._on_state)
            self.session.problem.connect(self._on_problem)
            self.session.stats_ready.connect(self._show_stats)
            self.session.recording_done.connect(self._on_recording_done)
        else:
            self.session.reconfigure(model=model, config=config)
        self.session.set_adaptation(self.settings.values.adapt_speaker)
        self.model_button.setText(f"Model: {model.info.name}")
        self.status_labels["model"].setText(f"Model: {model.info.name} ({model.path.name})")
        return True

    def choose_model(self) -> None:
        start = str(self.model.path.parent) if self.model is not None else self.settings.values.last_dir
        path = self.dialogs.open_path(self, "Choose a serapp model", start, "ONNX models (*.onnx)")
        if path:
            self.load_model_file(path)

    def _populate_inputs(self) -> None:
        """Fill the input picker; without PortAudio or a microphone say why live input is off."""
        self.device_combo.clear()
        if self.options.input:
            self.device_combo.addItem(f"File: {Path(self.options.input).name}", FILE_PREFIX + self.options.input)
        try:
            devices = self.devices.list_inputs()
        except SerappError as exc:
            devices, mic_problem, may_appear = [], str(exc), False
        else:  # PortAudio answers, so a microphone plugged in later can be found by a rescan
            mic_problem, may_appear = "" if devices else "No audio input device was found.", not devices
        for d in devices:
            self.device_combo.addItem(device_caption(d), d.name)
        missing = self._select_device(devices) if devices and not self.options.input else ""
        no_input = mic_problem if self.device_combo.count() == 0 else ""
        self.live_input = self.live_input.scanned(no_input, may_appear, missing)
        if no_input:
            self.device_combo.addItem("No input available")
            self.device_combo.setEnabled(False)
            wait = (" Connect one: the window finds it within a few seconds (or press Start to wait for it)."
                    if may_appear else "")
            self.set_banner("input", f"Live input is off: {no_input}{wait} File analysis works: drop audio "
                                     "files on the window or use File › Open.")
            self.live_view.show_state("error")  # "No input", never "Listening…" without a microphone
        else:
            self.device_combo.setEnabled(True)
            self.set_banner("input", "")
        self.device_watcher.watch(self.live_input.watch_for_devices)
        self._refresh_live_controls()

    def _select_device(self, devices: list) -> str:
        """Select in the picker the device asked for (``--device``, else the saved one) by the CLI's rule
        (index, name, or part of a name), else the system default. A ``--device`` that matches nothing is
        listed as missing and chosen anyway: the session then says why in the banner and waits for it,
        instead of silently using another microphone. Returns that missing device ("" when none is)."""
        default = next((d for d in devices if d.is_default), devices[0])
        chosen, wanted = default, self.options.device or self.settings.values.device
        if wanted:
            try:
                chosen = self.devices.resolve(wanted)
            except SerappError:
                if self.options.device:
                    self.device_combo.insertItem(0, f"{wanted} (not found)", wanted)
                    self.device_combo.setCurrentIndex(0)
                    return wanted
                self.statusBar().showMessage(f"The saved input {wanted!r} is not present; using "
                                             f"{device_caption(default)}.", 10000)
        index = self.device_combo.findData(chosen.name)
        self.device_combo.setCurrentIndex(max(0, index))
        return ""

    def _on_devices_appeared(self, _devices: list) -> None:
        """A microphone appeared while there was none: offer it and start listening to it."""
        self._populate_inputs()
        if self.session is not None and not self.live_input.unavailable_reason and not self.session.running:
            self.start_live()

    def current_choice(self) -> SourceChoice:
        data = self.device_combo.currentData()
        if isinstance(data, str) and data.startswith(FILE_PREFIX):
            return SourceChoice(path=data[len(FILE_PREFIX):], loop=self._in_demo or self.options.demo)
        return SourceChoice(device=data if isinstance(data, str) else "")

    def choice_is_file(self) -> bool:
        return self.session is not None and self.session.choice.is_file

    def _on_device_chosen(self, _index: int) -> None:
        choice = self.current_choice()
        if not choice.is_file:
            self.settings.update(device=choice.device)
        if self.session is not None and self.session.running:
            self.start_live()

    # ------------------------------------------------------------------ live control
    def start_live(self) -> None:
        """Start the live session; in demo mode even without an input, which it then keeps retrying."""
        if self.session is None or not (self.live_input.can_start or self._in_demo):
            return
        self.live_input = self.live_input.starting()
        self.session.start(self.current_choice())
        self._refresh_live_controls()

    def stop_live(self) -> None:
        if self.session is not None:
            self.session.stop()
        self._refresh_live_controls()

    def space(self) -> None:
        """Space: play / pause the file in File analysis; start / stop live analysis elsewhere (and in demo mode)."""
        if not self._in_demo and self.tabs.currentWidget() is self.file_view:
            self.file_view.toggle_play()
        else:
            self.toggle_live()

    def toggle_live(self) -> None:
        if self.session is not None and self.session.running:
            self.stop_live()
        else:
            self.start_live()

    def _refresh_live_controls(self) -> None:
        """The Start button and Live › Start from :attr:`live_input` (and whether a model is loaded)."""
        running = self.session is not None and self.session.running
        self.start_button.setText("■ Stop" if running else "▶ Start")
        enabled = self.session is not None and self.live_input.can_start
        self.start_button.setEnabled(enabled)
        # Space also plays / pauses in File analysis, which works without a microphone.
        self.start_action.setEnabled(enabled or self.tabs.currentWidget() is self.file_view)
        self.start_action.setStatusTip(self.live_input.describe())
        self.status_labels["source"].setToolTip(f"{STATUS_TIPS['source']}. Now: {self.live_input.describe()}")
        self.start_button.setToolTip(START_TIP if enabled else
                                     self.live_input.unavailable_reason or "No model is loaded")

    def _apply_controls(self) -> None:
        """Hand the settings' config to the session and the file view (restarting a running session once)."""
        config = analyzer_config(self.settings.values)
        self.live_view.set_gate(self.settings.values.gate_db)
        self.file_view.set_model(self.model, config)
        self.file_view.set_adaptation(self.settings.values.adapt_speaker)
        self.new_speaker_action.setEnabled(self.analysis_controls.adapting)
        if self.session is not None:
            self.session.set_adaptation(self.settings.values.adapt_speaker)
            self.session.reconfigure(config=config)

    def new_speaker(self) -> None:
        """Someone else speaks now: the live session starts adapting again."""
        if self.session is not None:
            self.session.new_speaker()

    # ------------------------------------------------------------------ recording
    def set_recording(self, on: bool) -> None:
        """Record the live input (a new file per run) to the chosen folder, asked for the first time."""
        if on and not self.settings.values.record_dir and not self.choose_record_folder():
            self.record_action.setChecked(False)
            return
        self.record_action.setChecked(bool(on))
        if self.session is not None:
            values = self.settings.values
            self.session.set_recording(values.record_dir if on else None, values.record_format)
        self._show_recording()

    def choose_record_folder(self) -> bool:
        """Ask for the recordings' folder; whether one was chosen."""
        start = self.settings.values.record_dir or self.settings.values.last_dir or str(Path.home())
        folder = self.dialogs.folder(self, "Folder for recordings of the live input", start)
        if not folder:
            return False
        self.set_record_folder(folder)
        return True

    def set_record_folder(self, folder: str) -> None:
        self.settings.update(record_dir=folder)
        if self.record_action.isChecked():
            self.set_recording(True)

    def _set_record_format(self, fmt: str) -> None:
        self.settings.update(record_format=fmt)
        if self.record_action.isChecked():
            self.set_recording(True)

    def _on_recording_done(self, path: str, error: str) -> None:
        self.status_labels["recording"].setText("")
        self.set_banner("recording", error)
        if path and not error:
            self.statusBar().showMessage(f"Recording saved: {path}", 10000)

    # ------------------------------------------------------------------ session slots
    def _on_results(self, results: list) -> None:
        was_empty = not len(self.live_record)
        results = self.live_record.add(results)  # on the session clock: the timeline continues across restarts
        self.live_view.show_results(results)
        self.demo_view.show_results(results)
        if was_empty:
            self._refresh_export_actions()
        if was_empty or self.live_record.end_s - self._summary_at >= SUMMARY_EVERY_S:
            self._show_live_summary()

    def _show_live_summary(self) -> None:
        record, hop = self.live_record, self.settings.values.hop_s
        self._summary_at = record.end_s
        self.live_view.show_summary(record.recent_tally(hop), record.session_tally(hop))

    def clear_live(self) -> None:
        """Live › Clear: forget the live session's results (a running analysis goes on into a fresh one)."""
        self.live_record.clear()
        self.live_view.timeline.clear()
        self.demo_view.timeline.clear()
        self._show_live_summary()
        self._refresh_export_actions()

    def _on_spectrum(self, columns: object, freqs: object, level_db: float, peak_db: float = -120.0) -> None:
        self.live_view.show_spectrum(columns, freqs, level_db, peak_db)  # type: ignore[arg-type]
        if self.session is not None:
            self.session.note_draw()

    def _on_state(self, state: str) -> None:
        """The session's analyzer state ("running", "stopped", "error", "finished") moves :attr:`live_input`."""
        if state == "running":
            self.live_record.new_run()
            rescan = self.live_input.needs_rescan_when_running and not self.choice_is_file()
            self.live_input = self.live_input.running()
            if rescan:
                self._populate_inputs()  # a retried microphone came (back): offer the devices now present
        elif state == "error":
            session = self.session  # emitted before the session decides; it retries a wanted microphone only
            retrying = session is not None and session.running and session.auto_retry and not session.choice.is_file
            self.live_input = self.live_input.lost(retrying)
        else:
            self.live_input = self.live_input.stopped()
        self.live_view.show_state(state)
        self.demo_view.show_state(state)
        self._refresh_live_controls()

    def _on_problem(self, message: str) -> None:
        self.set_banner("live", message)
        self.demo_view.show_problem(message)
        self._refresh_live_controls()

    def _show_recording(self) -> None:
        """The status bar's recording item (length so far, file name) and a failure in the banner."""
        recorder = self.session.recorder if self.session is not None else None
        self.status_labels["recording"].setText(
            f"● Recording {format_clock(recorder.seconds)} → {recorder.path.name}"
            if recorder is not None and not recorder.error else "")
        if recorder is not None and recorder.error:
            self.set_banner("recording", recorder.error)

    def _show_stats(self, stats: LiveStats | None) -> None:
        labels = self.status_labels
        self._show_recording()
        if stats is None:
            labels["source"].setText("Input: —")
            labels["model"].setText("Model: none")
            for k in ("adapt", "rate", "fps", "compute", "dropped"):
                labels[k].setText("")
            return
        heard, needed = stats.adapt or (0, 0)
        labels["adapt"].setText("" if stats.adapt is None else f"Adapted to the speaker ({heard} utterances)"
                                if heard >= needed else f"Adapting: {heard}/{needed} utterances")
        labels["source"].setText(f"Input: {stats.source}")
        labels["rate"].setText(f"{stats.results_per_s:.1f} updates/s")
        labels["fps"].setText(f"{stats.draws_per_s:.0f} fps")
        labels["compute"].setText(f"compute {stats.compute_ms:.0f} ms · latency {stats.latency_ms:.0f} ms")
        skipped = f" · skipped updates {stats.skipped_updates}" if stats.skipped_updates else ""  # model too slow
        labels["dropped"].setText(f"dropped blocks {stats.dropped_blocks}{skipped}")

    # ------------------------------------------------------------------ banner, pages, theme, demo
    def _show_settings_problem(self, message: str) -> None:
        """The settings store could not be written ("" once it could again): the banner says so."""
        self.set_banner("settings", message)

    def set_banner(self, topic: str, message: str) -> None:
        """Show (or with "" clear) the message for ``topic``; all current messages show together."""
        if message:
            self._banner_parts[topic] = message
        else:
            self._banner_parts.pop(topic, None)
        self.banner.setText("\n".join(self._banner_parts.values()))
        # Demo mode speaks to an audience in its own words (DemoView.show_problem): never the red banner there.
        self.banner.setVisible(bool(self._banner_parts) and not self._in_demo)

    @property
    def banner_text(self) -> str:
        return self.banner.text() if self.banner.isVisible() else ""

    def show_page(self, index: int) -> None:
        if self._in_demo:
            self.set_demo(False)
        self.tabs.setCurrentIndex(index)

    def apply_theme(self, name: str) -> None:
        self.settings.update(theme=name)
        self.dark_action.setChecked(name == "dark")
        self._apply_palette("demo" if self._in_demo else name)

    def _apply_palette(self, name: str) -> None:
        pal = palette_named(name)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.setPalette(qpalette(pal))
            app.setStyleSheet(stylesheet(pal))
        for plot in self.findChildren(pg.PlotWidget):
            apply_plot_palette(plot, pal)

    def set_demo(self, on: bool) -> None:
        """Enter or leave demo mode: full screen, large high-contrast type, controls hidden."""
        on = bool(on)
        self.demo_action.setChecked(on)
        if on == self._in_demo:
            return
        self._in_demo = on
        for w in (self.menuBar(), self.controls, self.statusBar(), self.banner):
            w.setVisible(not on)
        if not on:
            self.set_banner("input", self._banner_parts.get("input", ""))
        self.stack.setCurrentWidget(self.demo_view if on else self.tabs)
        self._apply_palette("demo" if on else self.settings.values.theme)
        if on:
            # Kept before going full screen, so that leaving demo mode gives back the window as it was.
            self._pre_demo_geometry = self.saveGeometry()
            self._pre_demo_maximized = self.isMaximized()
            screen = self.screen()
            size = screen.geometry().size() if screen else QSize(1920, 1080)
            self.demo_view.apply_size(size.height(), size.width())
            self.demo_view.show_hint()
            self.showFullScreen()
            reason = self.live_input.unavailable_reason
            self.demo_view.show_problem(reason and f"Live input is off: {reason}")
            # A demo runs for hours: a file input restarts looping, a stopped session starts.
            session = self.session
            if session is not None and (not session.running or (session.choice.is_file and not session.choice.loop)):
                self.start_live()
        elif self._pre_demo_maximized:
            self.showMaximized()
        else:
            self.showNormal()
            if self._pre_demo_geometry.size():
                self.restoreGeometry(self._pre_demo_geometry)

    def escape(self) -> None:
        """Esc: leave demo mode; otherwise cancel a file analysis under way."""
        if self._in_demo:
            self.set_demo(False)
        elif self.file_view.busy:
            self.file_view.cancel()

    @property
    def in_demo(self) -> bool:
        return self._in_demo

    # ------------------------------------------------------------------ files
    def open_files(self) -> None:
        paths = self.dialogs.open_paths(self, "Open audio files", self.settings.values.last_dir, AUDIO_FILTER)
        if paths:
            self.analyse_files(paths)

    def analyse_files(self, paths: list[str]) -> None:
        """Show the file-analysis page and analyse ``paths``."""
        self._start_up(now=True)  # files given before the deferred start-up ran: the model is needed now
        self.settings.update(last_dir=str(Path(paths[0]).parent))
        self.show_page(1)
        self.file_view.analyse_paths(paths)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = audio_paths(u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile())
        if paths:
            event.acceptProposedAction()
            self.analyse_files(paths)

    def export_dialog(self, kind: str) -> None:
        """File › Export: the file shown in File analysis, or the live session in the Live tab."""
        if self.tabs.currentWidget() is self.file_view:
            self.file_view.export_dialog(kind)
            return
        if not len(self.live_record):
            return
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        start = str(Path(self.settings.values.last_dir or Path.home()) / f"live-{stamp}-emotions.{kind}")
        path = self.dialogs.save_path(self, "Export the live session", start, EXPORT_FILTERS[kind])
        if path:
            self.write_live_export(path, kind)

    def write_live_export(self, path: str | Path, kind: str) -> bool:
        """Write the live session (``csv`` or ``json`` timeline, ``png`` of the live view) to ``path``
        atomically; says in the status bar where it went, or in the banner why it could not."""
        try:
            if kind == "png":
                data = grab_png(self.live_view)
            else:
                analysis = self.live_record.analysis(self.settings.values.hop_s)
                text = serialize.analysis_csv(analysis) if kind == "csv" else serialize.analysis_json(analysis)
                data = text.encode("utf-8")
            atomic.write_bytes(path, data)
        except SerappError as exc:
            self.set_banner("export", f"Export failed: {exc}")
            return False
        self.set_banner("export", "")
        self.statusBar().showMessage(f"Saved {path}", 8000)
        return True

    # ------------------------------------------------------------------ about, closing
    def show_about(self) -> None:
        AboutDialog(self.model, self).exec()

    def closeEvent(self, event: QCloseEvent) -> None:
        self._geometry_debounce.stop()
        self._remember_geometry()
        self.settings.save()  # once more: a store that was not writable earlier may be now (nothing is lost)
        if self.session is not None:
            self.session.shutdown()
        self.file_view.player.stop()
        # An analysis under way stops at its next block (well within a second): quitting never waits for it.
        self.file_view.shutdown(timeout_s=0.5)
        super().closeEvent(event)
