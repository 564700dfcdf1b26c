"""Thin adapter from the engine's :class:`~serapp.engine.analyzer.Analyzer` to Qt signals on the GUI thread.

The analyzer's callbacks run on its worker thread; here they only append to bounded deques. A QTimer on the
GUI thread (60 Hz) drains them and emits signals, so views are only touched from the GUI thread and a stalled
GUI can never make memory grow. A live microphone that fails is retried by itself every few seconds, and a window
without any microphone watches for one (:class:`DeviceWatcher`). Both reach the inputs through an injected
:class:`~serapp.ui.audiodevices.AudioDevices`.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from serapp.engine.adaptation import SpeakerMean
from serapp.engine.analyzer import Analyzer, SpectrumUpdate
from serapp.engine.capture import InputDevice
from serapp.engine.config import AnalyzerConfig
from serapp.engine.model import OnnxModel
from serapp.engine.rate import RateCounter
from serapp.engine.result import EmotionResult
from serapp.engine.source import AudioSource
from serapp.engine.state import RunState
from serapp.errors import SerappError
from serapp.ui.audiodevices import AudioDevices
from serapp.ui.recorder import LiveRecorder, RecordingTee

TICK_MS = 16  # drain period: ~60 Hz, twice the spectrogram's target frame rate
# Spectrogram frames (and level readings) go to the views at most this often: ~31 frames/s, smooth, where every
# engine wake-up (~50/s) cost the window a redraw each (issue 31 item 10). Columns are never dropped, only batched.
SPECTRUM_FRAME_S = 0.03
_SPECTRUM_BACKLOG = 128  # updates (~4 s at the engine's 30 ms wake-up); older ones are dropped when the GUI stalls


@dataclass(frozen=True)
class SourceChoice:
    """Which input the live view uses: the microphone ``device`` ("" = default) or the file ``path``."""

    path: str = ""
    device: str = ""
    loop: bool = False

    @property
    def is_file(self) -> bool:
        return bool(self.path)

    def describe(self) -> str:
        return f"file {Path(self.path).name}" if self.is_file else (self.device or "default microphone")


def device_caption(device: InputDevice) -> str:
    """How a device is named everywhere in the window (picker, status bar): "pulse (ALSA)"."""
    return f"{device.name} ({device.hostapi})"


def describe_source(source: AudioSource | None, choice: SourceChoice) -> str:
    """The input actually opened: the microphone PortAudio gave (never "default microphone" when it is known),
    else what ``choice`` names."""
    device = getattr(source, "device", None)
    if isinstance(device, InputDevice):
        return device_caption(device)
    return choice.describe()


class DeviceWatcher(QObject):
    """While the window has no microphone, rescan ``devices`` every ``devices.rescan_s`` (:data:`RESCAN_S`)
    seconds and emit :attr:`appeared` with the inputs present once there are any (PortAudio only sees a device
    plugged in after a rescan). Rescans never run during a playback (:meth:`AudioDevices.refresh`)."""

    appeared = Signal(list)  # list[InputDevice], not empty

    def __init__(self, parent: QObject | None = None, devices: AudioDevices | None = None) -> None:
        super().__init__(parent)
        self.devices = devices or AudioDevices()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.scan)

    @property
    def active(self) -> bool:
        return self._timer.isActive()

    def watch(self, on: bool) -> None:
        if not on:
            self._timer.stop()
        elif not self._timer.isActive():
            self._timer.start(int(self.devices.rescan_s * 1000))

    def scan(self) -> None:
        """One rescan; stops watching and emits :attr:`appeared` when a device is present."""
        try:
            if not self.devices.refresh():
                return  # a playback runs: next period
            devices = self.devices.list_inputs()
        except SerappError:
            return
        if devices:
            self._timer.stop()
            self.appeared.emit(devices)


@dataclass(frozen=True)
class LiveStats:
    """Figures for the status bar: rates per second, times in ms, counts since start."""

    source: str
    results_per_s: float
    draws_per_s: float
    compute_ms: float
    latency_ms: float
    dropped_blocks: int
    dropped_results: int
    skipped_updates: int = 0  # updates the analyzer skipped to keep up with real time (a model too slow)
    adapt: tuple[int, int] | None = None  # adapting to the speaker: (utterances heard, utterances needed); None: off


class LiveSession(QObject):
    """One live analysis: a source, the model, the analyzer, and the timer that brings results to the GUI."""

    results_ready = Signal(list)  # list[EmotionResult], oldest first
    # columns (k, n_bins) dB, freqs (n_bins,) Hz, level dBFS (RMS), peak dBFS (the largest input sample)
    spectrum_ready = Signal(object, object, float, float)
    state_changed = Signal(str)  # a RunState value
    problem = Signal(str)  # a plain message for the banner; "" when the problem is over
    stats_ready = Signal(object)  # LiveStats, twice a second
    recording_done = Signal(str, str)  # path of a finished recording ("" if none was kept), plain error or ""

    def __init__(self, model: OnnxModel, config: AnalyzerConfig, parent: QObject | None = None,
                 devices: AudioDevices | None = None) -> None:
        super().__init__(parent)
        self.devices = devices or AudioDevices()  # opens the inputs and sets the retry period
        self.model = model
        self.config = config
        self.choice = SourceChoice()
        self.analyzer: Analyzer | None = None
        self.source: AudioSource | None = None  # kept between retries: a failed microphone rescans on start
        self.auto_retry = True
        self.recording: tuple[str, str] | None = None  # (folder, format) while the user records the live input
        self.recorder: LiveRecorder | None = None  # this run's recording
        # Adapting to the speaker (set_adaptation): one running mean that outlives restarts until new_speaker().
        self.speaker: SpeakerMean | None = None
        self._spectra: collections.deque[SpectrumUpdate] = collections.deque(maxlen=_SPECTRUM_BACKLOG)
        self._wanted = False  # the user asked for running; errors then trigger retries
        self._state = RunState.STOPPED.value
        self._problem = ""
        self._retries = 0
        self._last: EmotionResult | None = None
        self._spectrum_at = 0.0  # time.monotonic() of the last spectrum emitted
        self.result_rate = RateCounter()
        self.draw_rate = RateCounter()
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._drain)
        self._stats_timer = QTimer(self)
        self._stats_timer.setInterval(500)
        self._stats_timer.timeout.connect(self._emit_stats)
        self._retry_timer = QTimer(self)
        self._retry_timer.setSingleShot(True)
        self._retry_timer.timeout.connect(self._retry)

    # ------------------------------------------------------------------ control
    @property
    def running(self) -> bool:
        return self._wanted

    @property
    def state(self) -> str:
        return self._state

    def start(self, choice: SourceChoice | None = None) -> None:
        """Start analysing ``choice`` (default: the last one). Failures show as :attr:`problem`, never raise."""
        if choice is not None:
            self.choice = choice
        self.stop()
        self._wanted = True
        self._retries = 0
        self.source = None
        self._open_and_run()

    def stop(self) -> None:
        """Stop the analyzer and the retries (idempotent)."""
        self._wanted = False
        self._retry_timer.stop()
        self._shutdown_analyzer()
        self._drain()
        self._set_state(RunState.STOPPED.value)
        self._set_problem("")

    def reconfigure(self, model: OnnxModel | None = None, config: AnalyzerConfig | None = None) -> None:
        """Use another model and/or config; a running session restarts with them. Another model starts a new
        speaker mean (its embeddings are its own), or none if it cannot adapt."""
        if model is not None and model is not self.model and self.speaker is not None:
            self.speaker = SpeakerMean.for_model(model) if model.adaptable else None
        self.model = model or self.model
        self.config = config or self.config
        if self._wanted:
            self.start()

    def set_adaptation(self, on: bool) -> None:
        """Adapt to the speaker (a model that can, else nothing changes): a running session restarts with a speaker
        mean that lasts until :meth:`new_speaker`; off drops it."""
        want = bool(on) and self.model.adaptable
        if want == (self.speaker is not None):
            return
        self.speaker = SpeakerMean.for_model(self.model) if want else None
        if self._wanted:
            self.start()

    def new_speaker(self) -> None:
        """Someone else speaks now: forget the speaker mean (adapting starts over)."""
        if self.speaker is not None:
            self.speaker.reset()

    def set_recording(self, folder: str | None, fmt: str = "flac") -> None:
        """Record each run's input to a new file in ``folder`` (None: stop recording); a running session
        restarts so that the recording begins (or ends) now."""
        self.recording = None if folder is None else (folder, fmt)
        if self._wanted:
            self.start()

    def shutdown(self) -> None:
        """Stop everything before the window closes."""
        self.stop()
        self._timer.stop()
        self._stats_timer.stop()

    def note_draw(self) -> None:
        """Views call this after drawing a spectrogram frame (for the frames-per-second figure)."""
        self.draw_rate.tick()

    # ------------------------------------------------------------------ internals
    def _open_and_run(self) -> None:
        self._shutdown_analyzer()
        self._spectra.clear()
        try:
            # A retry restarts the microphone that failed, which rescans the devices itself; when none could be
            # opened at all, a new one looks at a fresh scan. Either rescan waits while a playback runs.
            if self.source is None:
                self.source = self.devices.open(self.choice, self.model.info.spec.sample_rate,
                                                rescan=self._retries > 0)
            source = self.source
            if self.recording is not None:
                self.recorder = LiveRecorder(*self.recording, sample_rate=self.source.sample_rate)
                source = RecordingTee(self.source, self.recorder)
            analyzer = Analyzer(source, self.model, self.config, on_spectrum=self._spectra.append,
                                speaker=self.speaker)
            analyzer.start()
        except SerappError as exc:
            self._failed(str(exc))
            return
        self.analyzer = analyzer
        self._set_problem("")
        self._set_state(RunState.RUNNING.value)
        self._timer.start()
        self._stats_timer.start()

    def _shutdown_analyzer(self) -> None:
        analyzer, self.analyzer = self.analyzer, None
        if analyzer is not None:
            analyzer.stop()
        recorder, self.recorder = self.recorder, None
        if recorder is not None:  # after the analyzer: no chunk comes after the file is finished
            error = recorder.close()
            kept = recorder.path.exists() and recorder.written > 0
            if recorder.path.exists() and not recorder.written and not error:
                recorder.path.unlink(missing_ok=True)  # a run that delivered no audio leaves no empty file
            self.recording_done.emit(str(recorder.path) if kept else "", error)

    def _failed(self, message: str) -> None:
        """A start or a running source failed: say so, and retry a microphone by itself."""
        self._shutdown_analyzer()
        self._set_state(RunState.ERROR.value)
        if self._wanted and self.auto_retry and not self.choice.is_file:
            self._retries += 1
            retry_s = self.devices.retry_s
            self._set_problem(f"{message}\nRetrying in {retry_s:.0f} s (attempt {self._retries})…")
            self._retry_timer.start(int(retry_s * 1000))
        else:
            self._wanted = False
            self._set_problem(message)

    def _retry(self) -> None:
        if self._wanted:
            self._open_and_run()

    def _drain(self) -> None:
        """GUI thread: forward what the worker produced since the last tick, then look at its state."""
        now = time.monotonic()
        if self._spectra and now - self._spectrum_at >= SPECTRUM_FRAME_S:
            self._spectrum_at = now
            batch = [self._spectra.popleft() for _ in range(len(self._spectra))]
            columns = [u.columns for u in batch if u.columns.shape[0]]
            if columns:
                self.spectrum_ready.emit(np.concatenate(columns), batch[-1].freqs, batch[-1].level_db,
                                         max(u.peak_db for u in batch))
        analyzer = self.analyzer
        if analyzer is None:
            return
        results = analyzer.results.drain()
        if results:
            for _ in results:
                self.result_rate.tick()
            self._last = results[-1]
            self.results_ready.emit(results)
        state = analyzer.state
        if state == RunState.ERROR:
            self._failed(analyzer.error or "The live input failed.")
        elif state == RunState.FINISHED:
            self._wanted = False
            self._shutdown_analyzer()
            self._set_state(RunState.FINISHED.value)

    def _emit_stats(self) -> None:
        last = self._last
        analyzer = self.analyzer
        self.stats_ready.emit(LiveStats(
            source=describe_source(self.source, self.choice), results_per_s=self.result_rate.rate(),
            draws_per_s=self.draw_rate.rate(),
            compute_ms=last.compute_ms if last else 0.0, latency_ms=last.latency_ms if last else 0.0,
            dropped_blocks=last.dropped_blocks if last else 0,
            dropped_results=analyzer.results.dropped if analyzer else 0,
            skipped_updates=analyzer.stats().skipped_updates if analyzer else 0,
            adapt=None if self.speaker is None else (self.speaker.count, self.speaker.needed)))

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.state_changed.emit(state)

    def _set_problem(self, message: str) -> None:
        if message != self._problem:
            self._problem = message
            self.problem.emit(message)

