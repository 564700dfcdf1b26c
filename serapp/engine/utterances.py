"""Utterances: speech found by the detector, cut into spans, and scored as the model was trained.

The one path from audio to emotions, shared by the live analyzer and whole-file analysis:

1. :class:`SpeechTracker` removes DC for the neural detector (:class:`serapp.engine.vad.SileroVad`) and the
   levels the :class:`Segmenter` judges, and keeps the audio of the utterance in progress as recorded (with
   ``pad_s`` before its onset): the model was trained on recordings as they are, and the DC filter's high-pass
   of a few hertz changed one answer in twelve on validation clips (a device's larger DC offset is removed by
   :func:`serapp.engine.preprocess.prepare`, as in training).
2. :func:`score_utterance` shows the model what it was trained on: the utterance's audio prepared as in training
   (the whole utterance's silence trimmed, centred in the model's window); one longer than the window is scored
   in windows every :data:`STRIDE_FRACTION` of a window (plus one ending at its end), probabilities averaged.
3. :class:`UtteranceScorer` does the same for an utterance that is still growing (live), caching the windows
   that can no longer change, so its score at the utterance's end equals :func:`score_utterance` of the whole.
   With a model that carries a crowd check it also says whether the utterance is a crowd (many voices at once, a
   hall's babble, which the detector takes for speech): live and file analysis then call it no speech.

All positions are stream samples at :data:`serapp.engine.vad.SAMPLE_RATE` (16 kHz).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from serapp.engine import features
from serapp.engine.adaptation import SpeakerMean
from serapp.engine.config import AnalyzerConfig
from serapp.engine.model import OnnxModel
from serapp.engine.preprocess import remove_device_offset, trim_bounds
from serapp.engine.spec import FeatureSpec
from serapp.engine.vad import CHUNK, SAMPLE_RATE, DcBlocker, SileroVad, chunk_levels_db
from serapp.errors import SerappError

# Windows inside a long utterance start every half window: each second of speech is heard twice, in two contexts.
STRIDE_FRACTION = 0.5


# ---------------------------------------------------------------------------------------------- segmentation
@dataclass(frozen=True)
class Span:
    """An utterance's extent in stream samples, ``[start, end)``, pads included."""

    start: int
    end: int


class Segmenter:
    """Speech probabilities per chunk -> utterance onsets and offsets, with hysteresis and a hangover.

    A chunk is *speech* when its probability is at least ``vad_onset`` and its level at least ``gate_db``; while
    an utterance runs, chunks down to ``vad_offset`` keep it going. An utterance begins once ``min_speech_s`` of
    speech chunks have come with no pause of ``hangover_s`` between them, and ends after a pause of
    ``hangover_s``; its span runs from ``pad_s`` before its first speech chunk to ``pad_s`` after its last one.
    One reaching ``max_utterance_s`` is closed there and, when speech goes on, the next begins at once.
    """

    def __init__(self, config: AnalyzerConfig) -> None:
        self.config = config
        self._pad = round(config.pad_s * SAMPLE_RATE)
        self._hangover = max(1, round(config.hangover_s / (CHUNK / SAMPLE_RATE)))
        self._min_speech = max(1, round(config.min_speech_s / (CHUNK / SAMPLE_RATE)))
        self._max_len = round(config.max_utterance_s * SAMPLE_RATE)
        self.reset()

    def reset(self) -> None:
        self._chunk = 0  # index of the next chunk
        self._first: int | None = None  # first speech chunk of the candidate or open utterance
        self._last = -1  # last speech chunk seen
        self._count = 0  # speech chunks in the candidate
        self.open_start: int | None = None  # start sample of the open utterance

    @property
    def in_speech(self) -> bool:
        return self.open_start is not None

    def earliest_start(self, judged: int) -> int:
        """The earliest sample an utterance not yet closed can start at, given ``judged`` samples judged."""
        if self.open_start is not None:
            return self.open_start
        first = self._first if self._first is not None and self._chunk - self._last <= self._hangover else None
        candidate = judged if first is None else first * CHUNK
        return max(0, candidate - self._pad)

    def push(self, probs: np.ndarray, levels: np.ndarray) -> list[tuple[str, int, int]]:
        """Feed chunk probabilities and levels (dBFS) ``(k,)``; returns events in order: ``("onset", start, 0)``
        and ``("offset", start, end)`` in stream samples."""
        cfg = self.config
        events: list[tuple[str, int, int]] = []
        for p, level in zip(probs, levels, strict=True):
            c = self._chunk
            self._chunk += 1
            loud = level >= cfg.gate_db
            if self.open_start is None:
                if p >= cfg.vad_onset and loud:
                    if self._first is None or c - self._last > self._hangover:
                        self._first, self._count = c, 0
                    self._count += 1
                    self._last = c
                    if self._count >= self._min_speech:
                        self.open_start = max(0, self._first * CHUNK - self._pad)
                        events.append(("onset", self.open_start, 0))
                continue
            if p >= cfg.vad_offset and loud:
                self._last = c
            end = (self._last + 1) * CHUNK + self._pad
            if c - self._last >= self._hangover:
                events.append(("offset", self.open_start, end))
                self.open_start, self._first = None, None
            elif (c + 1) * CHUNK - self.open_start >= self._max_len:
                events.append(("offset", self.open_start, (c + 1) * CHUNK))
                self.open_start = (c + 1) * CHUNK
                events.append(("onset", self.open_start, 0))
        return events

    def flush(self) -> list[tuple[str, int, int]]:
        """End of stream: close the open utterance at its last speech chunk (plus the pad, within the stream)."""
        if self.open_start is None:
            return []
        end = min(self._chunk * CHUNK, (self._last + 1) * CHUNK + self._pad)
        event = ("offset", self.open_start, max(end, self.open_start + 1))
        self.open_start, self._first = None, None
        return [event]


class SpeechTracker:
    """DC removal, the detector and the segmenter over a 16 kHz stream, keeping the open utterance's audio as
    recorded (the DC-free audio is only for the detector and the levels; see the module).

    :meth:`push` returns the segmenter's events; an ``offset`` event comes with the utterance's audio. The same
    events come whatever the block sizes (the detector and the DC filter are block-size independent).
    """

    def __init__(self, config: AnalyzerConfig) -> None:
        self.config = config
        self.dc = DcBlocker(SAMPLE_RATE)
        self.vad = SileroVad()
        self.segmenter = Segmenter(config)
        self.reset()

    def reset(self) -> None:
        self.dc.reset()
        self.vad.reset()
        self.segmenter.reset()
        self._audio: list[np.ndarray] = []  # stream samples as recorded [_audio_start, total)
        self._audio_start = 0
        self._unjudged = np.zeros(0, np.float32)  # DC-free samples [_judged, total), less than a chunk
        self.total = 0  # samples pushed
        self._judged = 0  # samples the detector has judged (whole chunks)

    @property
    def in_speech(self) -> bool:
        return self.segmenter.in_speech

    def _joined(self) -> np.ndarray:
        if len(self._audio) != 1:
            self._audio = [np.concatenate(self._audio) if self._audio else np.zeros(0, np.float32)]
        return self._audio[0]

    def audio(self, start: int, end: int | None = None) -> np.ndarray:
        """Stream samples ``[start, end)`` as recorded, still held (a view; ``end`` defaults to the newest)."""
        a = self._joined()
        return a[max(0, start - self._audio_start): None if end is None else end - self._audio_start]

    def utterance_audio(self) -> np.ndarray:
        """The open utterance's audio so far, empty outside speech."""
        start = self.segmenter.open_start
        return np.zeros(0, np.float32) if start is None else self.audio(start)

    def push(self, y: np.ndarray, on_step: Callable[[float], None] | None = None
             ) -> tuple[np.ndarray, list[tuple[str, Span, np.ndarray | None]]]:
        """Feed raw mono float32 audio at 16 kHz. Returns the DC-free audio ``(len(y),)`` (for levels and the
        spectrum) and the events in order: ``("onset", Span(start, start), None)`` or ``("offset", span, audio)``
        (the utterance's audio as recorded). ``on_step``: see :meth:`serapp.engine.vad.SileroVad.push`."""
        y = np.array(y, dtype=np.float32)  # a copy: the caller's block may be a view of a buffer it reuses
        clean = self.dc.process(y)
        self._audio.append(y)
        self.total += clean.shape[0]
        probs = self.vad.push(clean, on_step)
        judged = probs.shape[0] * CHUNK
        pending = np.concatenate([self._unjudged, clean])
        levels = chunk_levels_db(pending[:judged])
        self._unjudged = pending[judged:]
        self._judged += judged
        events = [self._event(kind, start, end) for kind, start, end in self.segmenter.push(probs, levels)]
        self._trim()
        return clean, events

    def flush(self) -> list[tuple[str, Span, np.ndarray | None]]:
        """End of stream: close the open utterance."""
        return [self._event(kind, start, min(end, self.total)) for kind, start, end in self.segmenter.flush()]

    def _event(self, kind: str, start: int, end: int) -> tuple[str, Span, np.ndarray | None]:
        if kind == "onset":
            return kind, Span(start, start), None
        return kind, Span(start, end), self.audio(start, end).copy()

    def _trim(self) -> None:
        """Drop audio no utterance can still need: before the open utterance, or before the earliest start a
        candidate onset could have."""
        keep = self.segmenter.earliest_start(self._judged)
        cut = keep - self._audio_start
        if cut > 0:
            self._audio = [self._joined()[cut:]]
            self._audio_start = keep


def window_starts(n: int, window: int) -> list[int]:
    """Start samples of the windows that score an utterance of ``n`` samples with ``window``-sample windows:
    one at 0 when it fits; else every ``STRIDE_FRACTION * window`` while whole, plus one ending at ``n``."""
    if n <= window:
        return [0]
    stride = max(1, round(window * STRIDE_FRACTION))
    starts = list(range(0, n - window + 1, stride))
    if starts[-1] != n - window:
        starts.append(n - window)
    return starts


def window_layout(y: np.ndarray, spec: FeatureSpec) -> tuple[int, int, list[int]]:
    """Where an utterance's windows lie: ``(offset, n, starts)``, its speech ``y[offset:offset + n]`` and the
    windows' starts in that speech; window ``s`` is ``y[offset + s:offset + min(s + spec.n_samples, n)]``."""
    # Prepared as a training clip is: the whole utterance trimmed (its detector padding and quiet edges go),
    # then windowed. Windowing first would cut the speech of a clip a little longer than a window in two.
    offset, end = trim_bounds(remove_device_offset(y), spec) if spec.trim_silence else (0, y.shape[0])
    return offset, end - offset, window_starts(end - offset, spec.n_samples)


def window_audio(y: np.ndarray, offset: int, n: int, starts: list[int], size: int) -> list[np.ndarray]:
    """The windows starting at ``starts`` of an utterance laid out by :func:`window_layout` (``offset``, ``n``),
    ``size`` samples long at most: ``y[offset + s:offset + min(s + size, n)]`` each."""
    return [y[offset + s:offset + min(s + size, n)] for s in starts]


def score_utterance(y: np.ndarray, model: OnnxModel) -> np.ndarray:
    """Calibrated probabilities ``(n_labels,)`` of one utterance (mono float32 at the model's rate), the mean
    over :func:`window_starts`'s windows, each prepared as in training."""
    return UtteranceScorer(model).score(y)


class UtteranceScorer:
    """Scores an utterance as it grows: windows that are complete and stride-aligned are computed once.

    With ``speaker`` (a :class:`~serapp.engine.adaptation.SpeakerMean`; ignored unless the model is adaptable),
    an utterance is scored by the adapted head when the speaker's mean was ready at its start (the mean is taken
    once per utterance, at :meth:`reset`, so its growing score never mixes two means), and :meth:`finish` adds
    the ended utterance to the speaker's mean.

    ``crowd_check`` (and a model that carries one): after :meth:`score`, :attr:`crowd` is the mean crowd
    probability of the utterance's windows and :attr:`is_crowd` whether it reaches the model's threshold.
    """

    def __init__(self, model: OnnxModel, speaker: SpeakerMean | None = None, *, crowd_check: bool = True) -> None:
        self.model = model
        self.window = model.info.spec.n_samples
        self.speaker = speaker if model.adaptable else None
        self.crowd_check = crowd_check and model.crowd_checked
        self._cache: dict[int, tuple[np.ndarray, np.ndarray | None, float]] = {}
        self.crowd: float | None = None
        self.reset()

    @property
    def is_crowd(self) -> bool:
        """Whether the utterance last scored sounds like a crowd, not one speaker (see the class)."""
        return self.crowd is not None and self.crowd >= self.model.info.crowd_threshold

    def reset(self) -> None:
        """A new utterance begins."""
        self._cache.clear()
        self._mean = None if self.speaker is None else self.speaker.mean
        self._embedding: np.ndarray | None = None
        self.crowd = None

    @property
    def adapted(self) -> bool:
        """Whether this utterance is scored by the adapted head."""
        return self._mean is not None

    def finish(self) -> None:
        """The utterance ended (its last :meth:`score` saw all of it): it joins the speaker's mean."""
        if self.speaker is not None and self._embedding is not None and not self.is_crowd:
            self.speaker.add(self._embedding)  # a crowd is not the speaker's voice
        self._embedding = None

    def score_ended(self, y: np.ndarray) -> np.ndarray | None:
        """Score an utterance that has ended (``y``: all of it) and :meth:`finish` it: its probabilities, or None
        when it is a crowd (:attr:`is_crowd`), which is no speech."""
        probs = self.score(y)
        self.finish()
        return None if self.is_crowd else probs

    def score(self, y: np.ndarray) -> np.ndarray:
        """Probabilities ``(n_labels,)`` of utterance audio ``y`` (the whole utterance so far)."""
        if y.shape[0] == 0:
            raise SerappError("An utterance needs audio to be scored.")
        offset, n, starts = window_layout(y, self.model.info.spec)
        stride = max(1, round(self.window * STRIDE_FRACTION))
        # keyed by where a window starts in ``y``: the same samples give the same score whatever the trim
        todo = [s for s in starts if offset + s not in self._cache]
        scored = self.model.score_windows(features.compute_batch(
            window_audio(y, offset, n, todo, self.window), self.model.info.spec), self._mean,
            embeddings=self.speaker is not None, crowd=self.crowd_check)  # only an adapting scorer keeps embeddings
        new = {s: (scored.probs[i], None if scored.embeddings is None else scored.embeddings[i],
                   0.0 if scored.crowd is None else float(scored.crowd[i])) for i, s in enumerate(todo)}
        if n > self.window:
            # A whole, stride-aligned window never changes as the utterance grows: keep its score.
            self._cache.update({offset + s: v for s, v in new.items() if s % stride == 0})
        windows = [new[s] if s in new else self._cache[offset + s] for s in starts]
        if self.speaker is not None:
            self._embedding = np.mean([e for _, e, _ in windows], axis=0)
        if self.crowd_check:
            self.crowd = float(np.mean([c for _, _, c in windows]))
        return np.mean([p for p, _, _ in windows], axis=0).astype(np.float32)


