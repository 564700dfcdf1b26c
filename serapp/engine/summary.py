"""What an analysed stretch of audio holds — a file, or a live session so far: its scored utterances
(:class:`UtteranceResult`), its timeline of scored windows (:class:`serapp.engine.result.EmotionResult`), its
:class:`Summary`, and the three together (:class:`FileAnalysis`).

Shared by whole-file analysis (serapp/engine/analysis.py) and the live session's record (serapp/ui/liverecord.py),
so neither imports the other. The dict/CSV/JSON forms are in :mod:`serapp.engine.serialize`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from serapp.engine import serialize
from serapp.engine.labels import SILENCE, top_label
from serapp.engine.result import EmotionResult


@dataclass(frozen=True)
class UtteranceResult:
    """One utterance: ``start``/``end`` (s, pads included) and its calibrated probabilities ``(n_labels,)``, from
    :func:`serapp.engine.utterances.score_utterance`; ``adapted``: scored by an adaptable model's adapted head
    (:mod:`serapp.engine.adaptation`)."""

    start: float
    end: float
    probs: np.ndarray
    adapted: bool = False

    @property
    def duration_s(self) -> float:
        return self.end - self.start

    @property
    def confidence(self) -> float:
        """The top label's probability."""
        return float(np.max(self.probs))

    def emotion(self, labels: Sequence[str]) -> str:
        return top_label(self.probs, labels)

    def to_dict(self, labels: Sequence[str]) -> dict[str, Any]:
        return serialize.utterance_dict(self, labels)


@dataclass(frozen=True)
class Summary:
    """What a stretch of audio holds overall.

    ``probabilities``: mean of the utterances' probabilities weighted by their durations (all 0 without speech);
    ``dominant``: the top label of ``probabilities``, or ``"silence"`` without speech: *the* rule for the
    dominant emotion, used by the CLI, the window and the exports; ``shares``: share of the timeline's hops
    whose top label is each label or ``"silence"``; ``speech_ratio``: share of hops in speech; ``utterances``:
    how many; ``speech_s``: their total duration (s); ``crowd_s``: seconds of detected voice that the model's
    crowd check called a crowd, not one speaker (not scored, so counted as no speech; file analysis only).
    """

    dominant: str
    probabilities: dict[str, float]
    shares: dict[str, float]
    speech_ratio: float
    windows: int
    duration_s: float
    utterances: int = 0
    speech_s: float = 0.0
    crowd_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return serialize.summary_dict(self)


def dominant_probabilities(utterances: Sequence[UtteranceResult], n_labels: int) -> np.ndarray:
    """The duration-weighted mean of the utterances' probabilities ``(n_labels,)`` (zeros without any)."""
    weights = [u.duration_s for u in utterances]
    if not utterances or sum(weights) <= 0:
        return np.zeros(n_labels, np.float32)
    return np.average(np.stack([u.probs for u in utterances]), axis=0, weights=weights).astype(np.float32)


def summarize(timeline: Sequence[EmotionResult], labels: Sequence[str], duration_s: float,
              utterances: Sequence[UtteranceResult] = (), *, crowd_s: float = 0.0) -> Summary:
    """Summary of a stretch's utterances and timeline (see :class:`Summary`). Without utterances (a timeline made
    elsewhere) the probabilities are the mean over the timeline's speech hops."""
    if utterances:
        mean = dominant_probabilities(utterances, len(labels))
    else:
        speech = [w.probs for w in timeline if w.probs is not None]
        mean = np.mean(speech, axis=0) if speech else np.zeros(len(labels))
    has_speech = bool(utterances) or any(w.probs is not None for w in timeline)
    counts = dict.fromkeys([*labels, SILENCE], 0)
    for w in timeline:
        counts[top_label(w.probs, labels)] += 1
    n = max(1, len(timeline))
    return Summary(dominant=top_label(mean, labels) if has_speech else SILENCE,
                   probabilities={lab: round(float(p), 6) for lab, p in zip(labels, mean, strict=True)},
                   shares={k: round(v / n, 6) for k, v in counts.items()},
                   speech_ratio=round(sum(w.is_speech for w in timeline) / n, 6), windows=len(timeline),
                   duration_s=round(duration_s, 3), utterances=len(utterances),
                   speech_s=round(sum(u.duration_s for u in utterances), 3), crowd_s=round(crowd_s, 3))


@dataclass(frozen=True)
class FileAnalysis:
    """Timeline, utterances and summary of one file (or of a live session, whose ``file`` is ``live``)."""

    file: Path
    labels: tuple[str, ...]
    hop_s: float
    timeline: list[EmotionResult]
    summary: Summary
    utterances: list[UtteranceResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form documented in docs/cli.md (:func:`serapp.engine.serialize.analysis_dict`)."""
        return serialize.analysis_dict(self)
