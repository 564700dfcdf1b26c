"""Whole-file analysis: the file's utterances, each scored as the model was trained, a timeline at the live hop
and a summary weighted by the utterances' durations.

The file is streamed from disk (:func:`serapp.engine.audio.stream`), so memory stays bounded by one decoding
block and one utterance whatever the file's length.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from serapp.engine import audio
from serapp.engine.adaptation import SpeakerMean
from serapp.engine.config import AnalyzerConfig
from serapp.engine.model import OnnxModel, usable_cores
from serapp.engine.result import EmotionResult
from serapp.engine.summary import FileAnalysis, UtteranceResult, summarize
from serapp.engine.utterances import Span, SpeechTracker, UtteranceScorer
from serapp.engine.vad import CHUNK_S, SAMPLE_RATE, SEGMENT_CHUNKS, chunk_levels_db, level_db
from serapp.errors import SerappError

# Whole-file analysis outside the window (`serapp analyze`, the benchmark) is batch work a user waits for: its model
# may use this many of the machine's cores (about 1.8x on two cores for the Whisper default). Live analysis, and
# the window's file view, which may run beside it, keep one thread.
MAX_FILE_THREADS = 4


def file_threads() -> int:
    """onnxruntime threads for whole-file analysis run on its own: the cores this process may use, at most
    :data:`MAX_FILE_THREADS`."""
    return max(1, min(MAX_FILE_THREADS, usable_cores()))


# Decoding blocks hold whole segments of the speech detector's reset grid, so its chunks run many segments to a
# batch (about three times faster per chunk than one at a time; the probabilities are the same).
_DECODE_BLOCK_S = 32 * SEGMENT_CHUNKS * CHUNK_S


def _hop_owner(ends: np.ndarray, hop: int, spans: Sequence[Span]) -> np.ndarray:
    """Index of the utterance holding each hop's middle, -1 outside speech. ``ends``: hop end samples."""
    mids = ends - hop / 2.0
    owner = np.full(ends.shape[0], -1, np.int64)
    for i, span in enumerate(spans):
        owner[(mids >= span.start) & (mids < span.end)] = i
    return owner


class SignalAnalysis(NamedTuple):
    """What :func:`analyze_signal` found: the ``timeline``, the ``utterances``, the audio's ``duration_s`` and
    ``crowd_s``, the seconds of detected voice the model's crowd check called a crowd (not scored: no speech)."""

    timeline: list[EmotionResult]
    utterances: list[UtteranceResult]
    duration_s: float
    crowd_s: float


def analyze_signal(blocks: Iterable[np.ndarray], model: OnnxModel, config: AnalyzerConfig | None = None,
                   progress: Callable[[float], None] | None = None, speaker: SpeakerMean | None = None
                   ) -> SignalAnalysis:
    """The analysis of :func:`analyze_file` on blocks of mono float32 audio at the model's rate (16 kHz).

    Returns a :class:`SignalAnalysis`. ``progress`` receives seconds analysed, several
    times a second of work (an exception it raises, e.g. a cancel, stops the analysis). ``speaker``: adapt to
    the speaker (an adaptable model only): each utterance joins this running mean, which may carry over from
    earlier files of the same speaker.
    """
    config = config or AnalyzerConfig()
    sr = model.info.spec.sample_rate
    if sr != SAMPLE_RATE:
        raise SerappError(f"The model expects {sr} Hz audio; serapp's speech detector works at {SAMPLE_RATE} Hz.")
    hop = max(1, round(config.hop_s * sr))
    tracker = SpeechTracker(config)
    spans: list[Span] = []
    utterances: list[UtteranceResult] = []
    crowd_samples = 0
    ends: list[int] = []
    levels: list[float] = []
    carry = np.zeros(0, np.float32)  # DC-free audio since the last hop end

    scorer = UtteranceScorer(model, speaker, crowd_check=config.crowd_check)

    def close(events: list[tuple[str, Span, np.ndarray | None]]) -> None:
        nonlocal crowd_samples
        for kind, span, clip in events:
            if kind == "offset" and clip is not None and clip.size:
                scorer.reset()
                probs = scorer.score_ended(clip)
                if probs is None:  # a crowd, not a speaker: its hops stay "no speech", its length is reported
                    crowd_samples += span.end - span.start
                    continue
                spans.append(span)
                utterances.append(UtteranceResult(span.start / sr, span.end / sr, probs, adapted=scorer.adapted))

    def step(done: int, block_len: int) -> Callable[[float], None] | None:
        # Within a block: the detector's share of the work (most of it), in seconds of audio.
        if progress is None:
            return None
        return lambda share: progress((done + share * block_len) / sr)

    for block in blocks:
        clean, events = tracker.push(block, step(tracker.total, block.shape[0]))
        close(events)
        carry = np.concatenate([carry, clean])
        n_hops = carry.shape[0] // hop
        if n_hops:
            levels.extend(chunk_levels_db(carry, hop).tolist())
            first = ends[-1] + hop if ends else hop
            ends.extend(range(first, first + n_hops * hop, hop))
            carry = carry[n_hops * hop:]
        if progress is not None:
            progress(tracker.total / sr)
    close(tracker.flush())
    if carry.size:  # the file does not end on a hop: one more, shorter
        ends.append(tracker.total)
        levels.append(level_db(carry))
    owner = _hop_owner(np.asarray(ends, np.int64), hop, spans)
    labels = model.info.labels
    timeline = [EmotionResult(t=e / sr, labels=labels, probs=None if o < 0 else utterances[o].probs,
                              is_speech=o >= 0, level_db=lvl, phase="silence" if o < 0 else "speech",
                              utterance=o + 1)
                for e, lvl, o in zip(ends, levels, owner.tolist(), strict=True)]
    return SignalAnalysis(timeline, utterances, tracker.total / sr, crowd_samples / sr)


def analyze_file(path: str | Path, model: OnnxModel, config: AnalyzerConfig | None = None,
                 progress: Callable[[float], None] | None = None,
                 tap: Callable[[np.ndarray], None] | None = None, speaker: SpeakerMean | None = None
                 ) -> FileAnalysis:
    """Analyse a whole file: find its utterances (speech detector + segmenter), score each as the model was
    trained (:func:`serapp.engine.utterances.score_utterance`), and lay a timeline every ``config.hop_s``
    seconds (plus a last, shorter hop at the end) showing the utterance each hop falls in. The file is streamed
    from disk in bounded blocks. ``progress`` receives seconds analysed; ``tap`` receives every decoded block
    (mono float32 at the model's rate, in order, before it is analysed), so a caller that also wants, say, a
    spectrogram does not decode the file a second time. ``speaker``: see :func:`analyze_signal`. Raises
    :class:`SerappError` for unreadable files.
    """
    config = config or AnalyzerConfig()
    sr = model.info.spec.sample_rate
    blocks = audio.stream(path, sr, _DECODE_BLOCK_S)
    found = analyze_signal(blocks if tap is None else _tapped(blocks, tap), model, config, progress, speaker)
    return FileAnalysis(Path(path), model.info.labels, config.hop_s, found.timeline,
                        summarize(found.timeline, model.info.labels, found.duration_s, found.utterances,
                                  crowd_s=found.crowd_s), found.utterances)


def _tapped(blocks: Iterable[np.ndarray], tap: Callable[[np.ndarray], None]) -> Iterator[np.ndarray]:
    for block in blocks:
        tap(block)
        yield block
