"""Whole-file analysis: the file's utterances, each scored as the model was trained, a timeline at the live hop
and a summary weighted by the utterances' durations.

The file is streamed from disk (:func:`serapp.engine.audio.stream`), so memory stays bounded by one decoding
block and one utterance whatever the file's length.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from serapp.engine import audio
from serapp.engine.config import AnalyzerConfig
from serapp.engine.labels import SILENCE
from serapp.engine.model import OnnxModel
from serapp.engine.utterances import Span, SpeechTracker, score_utterance
from serapp.engine.vad import CHUNK_S, SAMPLE_RATE, SEGMENT_CHUNKS, chunk_levels_db, level_db
from serapp.errors import SerappError
from serapp.textsafe import csv_cell, shown_path

# Decoding blocks hold whole segments of the speech detector's reset grid, so its chunks run many segments to a
# batch (about three times faster per chunk than one at a time; the probabilities are the same).
_DECODE_BLOCK_S = 32 * SEGMENT_CHUNKS * CHUNK_S


@dataclass(frozen=True)
class WindowResult:
    """One hop of a file's timeline: its end time ``t`` (s), whether it lies in an utterance (its middle does),
    its level (dBFS, DC removed) and that utterance's probabilities (``None`` outside speech)."""

    t: float
    is_speech: bool
    level_db: float
    probs: np.ndarray | None

    def emotion(self, labels: Sequence[str]) -> str:
        """The top label, or ``"silence"``."""
        return SILENCE if self.probs is None else labels[int(np.argmax(self.probs))]


@dataclass(frozen=True)
class UtteranceResult:
    """One utterance of a file: ``start``/``end`` (s, pads included) and its calibrated probabilities
    ``(n_labels,)``, from :func:`serapp.engine.utterances.score_utterance`."""

    start: float
    end: float
    probs: np.ndarray

    @property
    def duration_s(self) -> float:
        return self.end - self.start

    @property
    def confidence(self) -> float:
        """The top label's probability."""
        return float(np.max(self.probs))

    def emotion(self, labels: Sequence[str]) -> str:
        return labels[int(np.argmax(self.probs))]

    def to_dict(self, labels: Sequence[str]) -> dict[str, Any]:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "emotion": self.emotion(labels),
                "confidence": round(self.confidence, 6),
                "probabilities": {lab: round(float(p), 6) for lab, p in zip(labels, self.probs, strict=True)}}


@dataclass(frozen=True)
class Summary:
    """What a file holds overall.

    ``probabilities``: mean of the utterances' probabilities weighted by their durations (all 0 without speech);
    ``dominant``: the top label of ``probabilities``, or ``"silence"`` without speech: *the* rule for the
    dominant emotion, used by the CLI, the window and the exports; ``shares``: share of the timeline's hops
    whose top label is each label or ``"silence"``; ``speech_ratio``: share of hops in speech; ``utterances``:
    how many; ``speech_s``: their total duration (s).
    """

    dominant: str
    probabilities: dict[str, float]
    shares: dict[str, float]
    speech_ratio: float
    windows: int
    duration_s: float
    utterances: int = 0
    speech_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"dominant": self.dominant, "probabilities": self.probabilities, "shares": self.shares,
                "speech_ratio": self.speech_ratio, "windows": self.windows, "duration_s": self.duration_s,
                "utterances": self.utterances, "speech_s": self.speech_s}


def dominant_probabilities(utterances: Sequence[UtteranceResult], n_labels: int) -> np.ndarray:
    """The duration-weighted mean of the utterances' probabilities ``(n_labels,)`` (zeros without any)."""
    weights = [u.duration_s for u in utterances]
    if not utterances or sum(weights) <= 0:
        return np.zeros(n_labels, np.float32)
    return np.average(np.stack([u.probs for u in utterances]), axis=0, weights=weights).astype(np.float32)


def summarize(timeline: Sequence[WindowResult], labels: Sequence[str], duration_s: float,
              utterances: Sequence[UtteranceResult] = ()) -> Summary:
    """Summary of a file's utterances and timeline (see :class:`Summary`). Without utterances (a timeline made
    elsewhere) the probabilities are the mean over the timeline's speech hops."""
    if utterances:
        mean = dominant_probabilities(utterances, len(labels))
    else:
        speech = [w.probs for w in timeline if w.probs is not None]
        mean = np.mean(speech, axis=0) if speech else np.zeros(len(labels))
    has_speech = bool(utterances) or any(w.probs is not None for w in timeline)
    counts = dict.fromkeys([*labels, SILENCE], 0)
    for w in timeline:
        counts[w.emotion(labels)] += 1
    n = max(1, len(timeline))
    return Summary(dominant=labels[int(np.argmax(mean))] if has_speech else SILENCE,
                   probabilities={lab: round(float(p), 6) for lab, p in zip(labels, mean, strict=True)},
                   shares={k: round(v / n, 6) for k, v in counts.items()},
                   speech_ratio=round(sum(w.is_speech for w in timeline) / n, 6), windows=len(timeline),
                   duration_s=round(duration_s, 3), utterances=len(utterances),
                   speech_s=round(sum(u.duration_s for u in utterances), 3))


@dataclass(frozen=True)
class FileAnalysis:
    """Timeline, utterances and summary of one file."""

    file: Path
    labels: tuple[str, ...]
    hop_s: float
    timeline: list[WindowResult]
    summary: Summary
    utterances: list[UtteranceResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form documented in docs/cli.md."""
        return {"file": str(self.file), "summary": self.summary.to_dict(), "hop_s": self.hop_s,
                "utterances": [u.to_dict(self.labels) for u in self.utterances],
                "timeline": [{"t": round(w.t, 3), "emotion": w.emotion(self.labels), "speech": w.is_speech,
                              "level_db": round(w.level_db, 1),
                              "probabilities": None if w.probs is None else
                              {lab: round(float(p), 6) for lab, p in zip(self.labels, w.probs, strict=True)}}
                             for w in self.timeline]}


def _csv(labels: Sequence[str], analyses: Sequence[FileAnalysis], columns: Sequence[str],
         rows: Callable[[FileAnalysis], Iterable[list[Any]]]) -> str:
    """CSV text: header ``file,<columns>,p_<label>...``, then ``[file, *row]`` for each analysis's ``rows``.
    Raises :class:`SerappError` for an analysis made with other labels (its columns would be mislabelled)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["file", *columns, *(csv_cell(f"p_{lab}") for lab in labels)])
    for a in analyses:
        if tuple(a.labels) != tuple(labels):
            raise SerappError(f"{shown_path(a.file)} was analysed with the labels {', '.join(a.labels)}, not "
                              f"{', '.join(labels)}; export it on its own.")
        writer.writerows([csv_cell(str(a.file)), *row] for row in rows(a))
    return out.getvalue()


def _probability_cells(probs: np.ndarray | None, n: int) -> list[str]:
    return [""] * n if probs is None else [f"{float(p):.6f}" for p in probs]


def timeline_csv(labels: Sequence[str], analyses: Sequence[FileAnalysis]) -> str:
    """Timelines as CSV text (`serapp analyze --csv`, the window's timeline export; layout in docs/cli.md).

    Header ``file,t,emotion,speech,level_db,p_<label>...`` for ``labels`` (the model's), then one row per hop
    of each analysis in order: ``t`` hop end (s, 3 decimals), top label or ``silence``, ``speech`` 0/1,
    ``level_db`` (dBFS, 1 decimal), calibrated probabilities (6 decimals; empty cells for silence). Raises
    :class:`SerappError` for an analysis made with other labels.
    """
    return _csv(labels, analyses, ["t", "emotion", "speech", "level_db"], lambda a: (
        [f"{w.t:.3f}", csv_cell(w.emotion(labels)), int(w.is_speech), f"{w.level_db:.1f}",
         *_probability_cells(w.probs, len(labels))] for w in a.timeline))


def utterances_csv(labels: Sequence[str], analyses: Sequence[FileAnalysis]) -> str:
    """Utterances as CSV text (`serapp analyze --utterances-csv`): header
    ``file,start,end,emotion,confidence,p_<label>...``, one row per utterance (times in s, 3 decimals;
    probabilities 6 decimals). Raises :class:`SerappError` for an analysis made with other labels."""
    return _csv(labels, analyses, ["start", "end", "emotion", "confidence"], lambda a: (
        [f"{u.start:.3f}", f"{u.end:.3f}", csv_cell(u.emotion(labels)), f"{u.confidence:.6f}",
         *_probability_cells(u.probs, len(labels))] for u in a.utterances))


def _hop_owner(ends: np.ndarray, hop: int, spans: Sequence[Span]) -> np.ndarray:
    """Index of the utterance holding each hop's middle, -1 outside speech. ``ends``: hop end samples."""
    mids = ends - hop / 2.0
    owner = np.full(ends.shape[0], -1, np.int64)
    for i, span in enumerate(spans):
        owner[(mids >= span.start) & (mids < span.end)] = i
    return owner


def analyze_signal(blocks: Iterable[np.ndarray], model: OnnxModel, config: AnalyzerConfig | None = None,
                   progress: Callable[[float], None] | None = None
                   ) -> tuple[list[WindowResult], list[UtteranceResult], float]:
    """The analysis of :func:`analyze_file` on blocks of mono float32 audio at the model's rate (16 kHz).

    Returns the timeline, the utterances and the duration (s). ``progress`` receives seconds analysed, several
    times a second of work (an exception it raises, e.g. a cancel, stops the analysis).
    """
    config = config or AnalyzerConfig()
    sr = model.info.spec.sample_rate
    if sr != SAMPLE_RATE:
        raise SerappError(f"The model expects {sr} Hz audio; serapp's speech detector works at {SAMPLE_RATE} Hz.")
    hop = max(1, round(config.hop_s * sr))
    tracker = SpeechTracker(config)
    spans: list[Span] = []
    utterances: list[UtteranceResult] = []
    ends: list[int] = []
    levels: list[float] = []
    carry = np.zeros(0, np.float32)  # DC-free audio since the last hop end

    def close(events: list[tuple[str, Span, np.ndarray | None]]) -> None:
        for kind, span, clip in events:
            if kind == "offset" and clip is not None and clip.size:
                spans.append(span)
                utterances.append(UtteranceResult(span.start / sr, span.end / sr, score_utterance(clip, model)))

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
    timeline = [WindowResult(e / sr, o >= 0, lvl, None if o < 0 else utterances[o].probs)
                for e, lvl, o in zip(ends, levels, owner.tolist(), strict=True)]
    return timeline, utterances, tracker.total / sr


def analyze_file(path: str | Path, model: OnnxModel, config: AnalyzerConfig | None = None,
                 progress: Callable[[float], None] | None = None) -> FileAnalysis:
    """Analyse a whole file: find its utterances (speech detector + segmenter), score each as the model was
    trained (:func:`serapp.engine.utterances.score_utterance`), and lay a timeline every ``config.hop_s``
    seconds (plus a last, shorter hop at the end) showing the utterance each hop falls in. The file is streamed
    from disk in bounded blocks. ``progress`` receives seconds analysed. Raises :class:`SerappError` for
    unreadable files.
    """
    config = config or AnalyzerConfig()
    sr = model.info.spec.sample_rate
    timeline, utterances, duration = analyze_signal(audio.stream(path, sr, _DECODE_BLOCK_S), model, config,
                                                    progress)
    return FileAnalysis(Path(path), model.info.labels, config.hop_s, timeline,
                        summarize(timeline, model.info.labels, duration, utterances), utterances)
