"""The analyzer worker: one thread that turns a source's audio into spectrogram columns and emotion results.

Every ``wake_s`` it polls the source, resamples the new audio to the model's rate, removes DC, runs the speech
detector and the segmenter (:class:`serapp.engine.utterances.SpeechTracker`), and emits new spectrogram columns
and the input level. Every ``hop_s`` it reports the current utterance: while it grows, its score so far (the
same scoring as whole-file analysis, :class:`serapp.engine.utterances.UtteranceScorer`), smoothed within the
utterance; after it ends, its final score for ``hold_s``; then "no speech". Pauses are never scored. Results go
to callbacks (called on the worker thread) and to a bounded drop-oldest queue. Failures become the ``error``
state and an ``on_error`` call, never an exception.
"""

from __future__ import annotations

import collections
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from serapp.engine import features
from serapp.engine.adaptation import SpeakerMean
from serapp.engine.config import AnalyzerConfig
from serapp.engine.model import OnnxModel
from serapp.engine.rate import RateCounter
from serapp.engine.resample import StreamResampler
from serapp.engine.result import EmotionResult
from serapp.engine.smoothing import EmaSmoother, StickyTop
from serapp.engine.source import AudioSource
from serapp.engine.spectrum import SpectrumTracker
from serapp.engine.state import Lifecycle, RunState
from serapp.engine.utterances import SpeechTracker, UtteranceScorer
from serapp.engine.vad import SAMPLE_RATE, level_db, peak_db
from serapp.errors import SerappError

T = TypeVar("T")


@dataclass(frozen=True)
class SpectrumUpdate:
    """New spectrogram columns: ``columns`` float32 ``(n_new, n_bins)`` in dB re full scale, ``freqs`` (Hz)
    ``(n_bins,)``, ``t`` stream time (s) of the newest sample, ``level_db`` input level (dBFS) of the new audio,
    ``peak_db`` its largest sample as the device delivered it (dBFS; 0 at full scale: the input clips)."""

    t: float
    columns: np.ndarray
    freqs: np.ndarray
    level_db: float
    peak_db: float = -120.0


@dataclass(frozen=True)
class EngineStats:
    """Counters for a status bar. Rates per second; counts since start."""

    state: RunState
    error: str | None
    source: str
    updates_per_s: float
    results: int
    dropped_results: int
    overflows: int
    lost_samples: int
    skipped_updates: int
    level_db: float


class BoundedQueue(Generic[T]):
    """Thread-safe FIFO of at most ``maxsize`` items; a put on a full queue drops the oldest (counted)."""

    def __init__(self, maxsize: int) -> None:
        self._items: collections.deque[T] = collections.deque(maxlen=maxsize)
        self._cond = threading.Condition()
        self.dropped = 0

    def put(self, item: T) -> None:
        with self._cond:
            if len(self._items) == self._items.maxlen:
                self.dropped += 1
            self._items.append(item)
            self._cond.notify()

    def get(self, timeout: float | None = None) -> T | None:
        """The oldest item, waiting up to ``timeout`` s (``None``: forever); ``None`` on timeout."""
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self._items), timeout):
                return None
            return self._items.popleft()

    def drain(self) -> list[T]:
        """Everything queued now, oldest first (no waiting)."""
        with self._cond:
            items = list(self._items)
            self._items.clear()
            return items

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class _Callbacks:
    on_result: Callable[[EmotionResult], None] | None = None
    on_spectrum: Callable[[SpectrumUpdate], None] | None = None
    on_error: Callable[[str], None] | None = None
    on_state: Callable[[RunState], None] | None = None


@dataclass
class _Counters:
    results: int = 0
    lost_samples: int = 0
    lost_events: int = 0
    skipped: int = 0
    level_db: float = -120.0
    rate: RateCounter = field(default_factory=RateCounter)


def warm_up(model: OnnxModel) -> None:
    """Run the detector, features and inference once on quiet noise, so lazy imports and first-call set-up
    (about a second) happen before the worker reads the source rather than delaying the first live update."""
    spec = model.info.spec
    noise = np.random.default_rng(0).standard_normal(spec.n_samples).astype(np.float32) * 1e-3
    model.predict(features.compute_batch([noise], spec))
    SpeechTracker(AnalyzerConfig()).push(noise)


# Models warmed up in this process: an analyzer restarted on the same model (a live-input retry) starts at once.
_warmed: weakref.WeakSet[OnnxModel] = weakref.WeakSet()


class Analyzer(Lifecycle):
    """Drives one source through the model on one worker thread. See docs/engine-api.md.

    Callbacks run on the worker thread and must return quickly (a GUI forwards them as queued signals).
    """

    def __init__(self, source: AudioSource, model: OnnxModel, config: AnalyzerConfig | None = None, *,
                 on_result: Callable[[EmotionResult], None] | None = None,
                 on_spectrum: Callable[[SpectrumUpdate], None] | None = None,
                 on_error: Callable[[str], None] | None = None,
                 on_state: Callable[[RunState], None] | None = None, speaker: SpeakerMean | None = None) -> None:
        self.source = source
        self.model = model
        self.config = config or AnalyzerConfig()
        # Adapt to the speaker (an adaptable model only): every ended utterance joins this running mean, and once
        # it is ready utterances are scored by the adapted head. It outlives restarts; the caller resets it.
        self.speaker = speaker
        self.callbacks = _Callbacks(on_result, on_spectrum, on_error, on_state)
        self.results: BoundedQueue[EmotionResult] = BoundedQueue(self.config.queue_size)
        self._state = RunState.STOPPED
        self._error: str | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._counters = _Counters()

    # ------------------------------------------------------------------ control (front-end thread)
    def start(self) -> None:
        """Start the source and the worker. Raises :class:`SerappError` when the source cannot start.

        Returns at once: the worker warms the model up (see :func:`warm_up`) before it reads the source.
        """
        if self._thread is not None and self._thread.is_alive():
            return
        try:
            self.source.start()
        except SerappError as exc:
            # The caller gets the exception; the state says the same for stats() and a later restart().
            self._error = str(exc)
            self._state = RunState.ERROR
            raise
        self._reset()  # after the start: a microphone found again may run at another native rate
        self._stop.clear()
        self._done.clear()
        self._set_state(RunState.RUNNING)
        self._thread = threading.Thread(target=self._run, name="serapp-analyzer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the worker and the source (idempotent). Queued results stay readable."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._thread = None
        self.source.stop()
        if self._state == RunState.RUNNING:
            self._set_state(RunState.STOPPED)

    def restart(self) -> None:
        """Stop, then start again from a clean state (the retry after an error)."""
        self.stop()
        self._error = None
        self.start()

    def set_source(self, source: AudioSource) -> None:
        """Switch to another source (microphone ⇄ file); restarts when running."""
        running = self._state == RunState.RUNNING
        self.stop()
        self.source = source
        if running:
            self.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker ends (file finished, stopped or error); False on timeout."""
        return self._done.wait(timeout)

    def stats(self) -> EngineStats:
        c = self._counters
        return EngineStats(self._state, self._error, self.source.label, c.rate.rate(), c.results, self.results.dropped,
                           self.source.overflows, c.lost_samples, c.skipped, c.level_db)

    # ------------------------------------------------------------------ worker
    def _reset(self) -> None:
        spec = self.model.info.spec
        sr = spec.sample_rate
        if sr != SAMPLE_RATE:
            raise SerappError(f"The model expects {sr} Hz audio; serapp's speech detector works at {SAMPLE_RATE} Hz.")
        self._resampler = StreamResampler(self.source.sample_rate, sr)
        self._hop = max(1, round(self.config.hop_s * sr))
        self._next_hop = self._hop
        self._spectrum = SpectrumTracker(sr, self.config.spectrum_n_fft, max(1, round(self.config.spectrum_hop_s * sr)))
        self._tracker = SpeechTracker(self.config)
        self._scorer = UtteranceScorer(self.model, self.speaker, crowd_check=self.config.crowd_check)
        self._smoother = EmaSmoother(self.config.hop_s, self.config.smoothing_s)
        self._sticky = StickyTop(self.config.switch_margin)
        self._utterances = 0
        self._held: np.ndarray | None = None  # the last ended utterance's score, shown until _held_until
        self._held_until = 0
        self._hop_audio: list[np.ndarray] = []  # DC-free audio since the last update, for its level
        self._compute_s = 0.0  # detector time in this wake-up so far
        self._peak_db = -120.0  # the largest input sample of this wake-up (dBFS)
        self._counters = _Counters()

    def _set_state(self, state: RunState) -> None:
        self._state = state
        if self.callbacks.on_state is not None:
            self.callbacks.on_state(state)

    def _fail(self, message: str) -> None:
        self._error = message
        self._set_state(RunState.ERROR)
        if self.callbacks.on_error is not None:
            self.callbacks.on_error(message)

    def _warm_up(self) -> None:
        """Worker, before reading the source: warm the model up once per process. A real-time source's audio
        so far is left out, as if it had started now: its first window then ends one hop from here, not in a
        backlog that would count as skipped updates (a file source's clock starts at this first poll)."""
        if self.model not in _warmed:
            warm_up(self.model)
            _warmed.add(self.model)
        if self.source.realtime:
            self.source.poll()

    def _run(self) -> None:
        try:
            self._warm_up()
            while not self._stop.is_set():
                started = time.monotonic()
                busy = self._step()
                if self._state != RunState.RUNNING:
                    break
                if self.source.realtime or not busy:
                    self._stop.wait(max(0.0, self.config.wake_s - (time.monotonic() - started)))
        except SerappError as exc:
            self._fail(str(exc))
        except Exception as exc:  # an engine bug must not kill the app silently: surface it as an error state
            self._fail(f"The analyzer stopped on an internal error ({type(exc).__name__}: {exc}). Retry; if it "
                       "happens again, please report it.")
        finally:
            self._done.set()

    def _step(self) -> bool:
        """One wake-up: poll, speech tracking, spectrum, and the update(s) due. Returns whether audio arrived."""
        src = self.source
        src.check()
        if src.state == RunState.ERROR:
            raise SerappError(src.error or f"The source {src.label!r} failed.")
        chunk = src.poll()
        # The input's own samples, before resampling and DC removal: what clips at the sound card.
        self._peak_db = peak_db(chunk.samples)
        c = self._counters
        if chunk.lost:
            c.lost_samples += chunk.lost
            c.lost_events += 1
        finished = src.state == RunState.FINISHED
        y = self._resampler.process(chunk.samples)
        if finished:
            y = np.concatenate([y, self._resampler.flush()])
        due = 0
        self._compute_s = 0.0  # this wake's detector work: on the path from the audio's arrival to the update
        # Cut the audio at hop boundaries so each update sees the stream exactly up to its own time.
        while y.size:
            take = min(y.size, self._next_hop - self._tracker.total)
            self._track(y[:take])
            y = y[take:]
            if self._tracker.total == self._next_hop:
                self._next_hop += self._hop
                due += 1
                if not src.realtime:
                    self._update(chunk.arrival)
        if src.realtime and due:
            # Behind real time (a slow update): serve only the newest, count the ones skipped.
            c.skipped += due - 1
            self._update(chunk.arrival)
        if finished:
            t0 = time.perf_counter()
            self._handle(self._tracker.flush())
            self._compute_s += time.perf_counter() - t0
            if self._tracker.total > self._next_hop - self._hop:
                self._update(chunk.arrival)
            self._set_state(RunState.FINISHED)
        return chunk.samples.size > 0 or finished

    def _track(self, y: np.ndarray) -> None:
        """Speech tracking and the spectrum for a piece of audio that crosses no hop boundary."""
        t0 = time.perf_counter()
        clean, events = self._tracker.push(y)
        self._handle(events)
        self._compute_s += time.perf_counter() - t0
        self._hop_audio.append(clean)
        self._emit_spectrum(clean)

    def _handle(self, events: list[Any]) -> None:
        """Onsets start a new utterance; an offset scores the whole utterance and holds the result."""
        for kind, span, clip in events:
            if kind == "onset":
                self._utterances += 1
                self._scorer.reset()
                self._smoother.reset()
                self._sticky.reset()
            elif clip is not None and clip.shape[0] >= max(1, round(self.config.min_score_s * SAMPLE_RATE)):
                held = self._scorer.score_ended(clip)
                if held is not None:  # a crowd's end holds nothing: "no speech" at once
                    self._held = held
                    self._held_until = span.end + round(self.config.hold_s * SAMPLE_RATE)

    def _emit_spectrum(self, y: np.ndarray) -> None:
        if not y.size:
            return
        c = self._counters
        c.level_db = level_db(y)
        cols = self._spectrum.push(y)
        if self.callbacks.on_spectrum is not None:
            t = self._tracker.total / self._spectrum.sample_rate
            self.callbacks.on_spectrum(SpectrumUpdate(t, cols, self._spectrum.freqs, c.level_db, self._peak_db))

    def _update(self, arrival: float) -> None:
        t0 = time.perf_counter()
        tracker, sr = self._tracker, SAMPLE_RATE
        raw: np.ndarray | None = None
        probs: np.ndarray | None = None
        shown: int | None = None
        length = 0.0
        if tracker.in_speech:
            clip = tracker.utterance_audio()
            length = clip.shape[0] / sr
            scored = self._scorer.score(clip) if length >= self.config.min_score_s else None
            if self._scorer.is_crowd:  # a crowd, not a speaker (the model's crowd check): no speech, nothing held
                phase, self._held, length = "silence", None, 0.0
                self._sticky.reset()
            else:
                phase = "speech"
                if scored is not None:
                    raw, probs = scored, self._smoother.update(scored)
        elif self._held is not None and tracker.total < self._held_until:
            phase, probs = "held", self._held
        else:
            phase, self._held = "silence", None
            self._sticky.reset()
        if probs is not None:  # the ended utterance's final score is held against near ties as its growth was
            shown = self._sticky.choose(probs)
        hop_audio = np.concatenate(self._hop_audio) if self._hop_audio else np.zeros(0, np.float32)
        self._hop_audio = []
        now = time.perf_counter()
        c = self._counters
        result = EmotionResult(
            t=tracker.total / sr, labels=self.model.info.labels, probs=probs, raw_probs=raw,
            is_speech=phase == "speech", level_db=level_db(hop_audio),
            compute_ms=(self._compute_s + now - t0) * 1000.0, latency_ms=(time.monotonic() - arrival) * 1000.0,
            dropped_blocks=self.source.overflows + c.lost_events, phase=phase,
            utterance=self._utterances if phase == "speech" else 0, utterance_s=length, shown=shown)
        c.results += 1
        c.rate.tick()
        self.results.put(result)
        if self.callbacks.on_result is not None:
            self.callbacks.on_result(result)
