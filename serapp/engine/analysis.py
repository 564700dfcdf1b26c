"""Whole-file analysis: windows over a file at the live hop, batched inference, a timeline and a summary.

The file is streamed from disk (:func:`serapp.engine.audio.stream`), so memory stays bounded by one decoding
block and one batch of windows whatever the file's length.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from serapp.engine import audio, features
from serapp.engine.config import AnalyzerConfig
from serapp.engine.labels import SILENCE
from serapp.engine.model import OnnxModel
from serapp.engine.vad import GateDecision, VoiceGate
from serapp.engine.windowing import Windower
from serapp.errors import SerappError

_DECODE_BLOCK_S = 10.0


def make_gate(config: AnalyzerConfig, sample_rate: int) -> VoiceGate:
    """The voice gate the config describes, at ``sample_rate`` Hz."""
    return VoiceGate(sample_rate, config.gate_db, config.snr_db, config.min_speech_s)


@dataclass
class ScoredBatch:
    """Windows gated and featurised, waiting for the model's probabilities.

    ``decisions``: one gate decision per window; ``speech``: indices of the speech windows; ``x``: their features
    ``(len(speech), *spec.shape)``, or ``None`` when no window is speech.
    """

    decisions: list[GateDecision]
    speech: list[int]
    x: np.ndarray | None

    def finish(self, speech_probs: np.ndarray | None) -> list[np.ndarray | None]:
        """Spread the model's output for the speech windows back over all windows."""
        probs: list[np.ndarray | None] = [None] * len(self.decisions)
        if speech_probs is not None:
            for i, p in zip(self.speech, speech_probs, strict=True):
                probs[i] = p
        return probs


def prepare_windows(windows: Sequence[np.ndarray], model: OnnxModel, gate: VoiceGate) -> ScoredBatch:
    """Gate each mono window and compute the model's features for the speech ones (no inference yet)."""
    decisions = [gate(w) for w in windows]
    speech = [i for i, d in enumerate(decisions) if d.is_speech]
    x = features.compute_batch([windows[i] for i in speech], model.info.spec) if speech else None
    return ScoredBatch(decisions, speech, x)


def score_windows(windows: Sequence[np.ndarray], model: OnnxModel,
                  gate: VoiceGate) -> tuple[list[GateDecision], list[np.ndarray | None]]:
    """Gate each mono window; run features + the model on the speech ones in one batch.

    Returns the gate decisions and, per window, calibrated probabilities ``(n_labels,)`` or ``None`` (silence).
    """
    batch = prepare_windows(windows, model, gate)
    return batch.decisions, batch.finish(None if batch.x is None else model.predict(batch.x))


@dataclass(frozen=True)
class WindowResult:
    """One window of a file: its end time ``t`` (s), gate outcome, level (dBFS) and probabilities (or None)."""

    t: float
    is_speech: bool
    level_db: float
    probs: np.ndarray | None

    def emotion(self, labels: Sequence[str]) -> str:
        """The top label, or ``"silence"``."""
        return SILENCE if self.probs is None else labels[int(np.argmax(self.probs))]


@dataclass(frozen=True)
class Summary:
    """What a file holds overall.

    ``dominant``: top label of ``probabilities`` (``"silence"`` without speech); ``probabilities``: mean over
    speech windows (all 0 without speech); ``shares``: share of all windows whose top label is each label or
    ``"silence"``; ``speech_ratio``: share of speech windows.
    """

    dominant: str
    probabilities: dict[str, float]
    shares: dict[str, float]
    speech_ratio: float
    windows: int
    duration_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"dominant": self.dominant, "probabilities": self.probabilities, "shares": self.shares,
                "speech_ratio": self.speech_ratio, "windows": self.windows, "duration_s": self.duration_s}


def summarize(timeline: Sequence[WindowResult], labels: Sequence[str], duration_s: float) -> Summary:
    """Summary of a timeline (see :class:`Summary`)."""
    speech = [w.probs for w in timeline if w.probs is not None]
    mean = np.mean(speech, axis=0) if speech else np.zeros(len(labels))
    counts = dict.fromkeys([*labels, SILENCE], 0)
    for w in timeline:
        counts[w.emotion(labels)] += 1
    n = max(1, len(timeline))
    return Summary(dominant=labels[int(np.argmax(mean))] if speech else SILENCE,
                   probabilities={lab: round(float(p), 6) for lab, p in zip(labels, mean, strict=True)},
                   shares={k: round(v / n, 6) for k, v in counts.items()},
                   speech_ratio=round(len(speech) / n, 6), windows=len(timeline), duration_s=round(duration_s, 3))


@dataclass(frozen=True)
class FileAnalysis:
    """Timeline and summary of one file."""

    file: Path
    labels: tuple[str, ...]
    hop_s: float
    timeline: list[WindowResult]
    summary: Summary

    def to_dict(self) -> dict[str, Any]:
        """The JSON form documented in docs/cli.md."""
        return {"file": str(self.file), "summary": self.summary.to_dict(), "hop_s": self.hop_s,
                "timeline": [{"t": round(w.t, 3), "emotion": w.emotion(self.labels), "speech": w.is_speech,
                              "level_db": round(w.level_db, 1),
                              "probabilities": None if w.probs is None else
                              {lab: round(float(p), 6) for lab, p in zip(self.labels, w.probs, strict=True)}}
                             for w in self.timeline]}


def timeline_csv(labels: Sequence[str], analyses: Sequence[FileAnalysis]) -> str:
    """Timelines as CSV text (`serapp analyze --csv`, the window's timeline export; layout in docs/cli.md).

    Header ``file,t,emotion,speech,level_db,p_<label>...`` for ``labels`` (the model's), then one row per window
    of each analysis in order: ``t`` window end (s, 3 decimals), top label or ``silence``, ``speech`` 0/1,
    ``level_db`` (dBFS, 1 decimal), calibrated probabilities (6 decimals; empty cells for silence). Raises
    :class:`SerappError` for an analysis made with other labels (its columns would be mislabelled).
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["file", "t", "emotion", "speech", "level_db", *(f"p_{lab}" for lab in labels)])
    for a in analyses:
        if tuple(a.labels) != tuple(labels):
            raise SerappError(f"{a.file} was analysed with the labels {', '.join(a.labels)}, not "
                              f"{', '.join(labels)}; export it on its own.")
        for w in a.timeline:
            probs = [""] * len(labels) if w.probs is None else [f"{float(p):.6f}" for p in w.probs]
            writer.writerow([str(a.file), f"{w.t:.3f}", w.emotion(labels), int(w.is_speech), f"{w.level_db:.1f}",
                             *probs])
    return out.getvalue()


def analyze_file(path: str | Path, model: OnnxModel, config: AnalyzerConfig | None = None,
                 progress: Callable[[float], None] | None = None) -> FileAnalysis:
    """Analyse a whole file: a window (the model's ``spec.duration_s``) every ``config.hop_s`` seconds, plus a
    last one at the end when the file does not end on a hop; windows before the first full window hold the
    audio so far. ``progress`` receives seconds analysed. Raises :class:`SerappError` for unreadable files.
    """
    config = config or AnalyzerConfig()
    spec = model.info.spec
    sr = spec.sample_rate
    windower = Windower(spec.n_samples, max(1, round(config.hop_s * sr)))
    gate = make_gate(config, sr)
    timeline: list[WindowResult] = []
    batch: list[np.ndarray] = []
    ends: list[int] = []
    # Inference of one batch overlaps decoding, gating and features of the next (onnxruntime and numpy release
    # the GIL): one extra thread, and at most one batch in flight, so memory stays bounded.
    pending: tuple[list[int], ScoredBatch, Future[np.ndarray] | None] | None = None

    def collect() -> None:
        nonlocal pending
        if pending is None:
            return
        done_ends, scored, future = pending
        pending = None
        probs = scored.finish(None if future is None else future.result())
        timeline.extend(WindowResult(e / sr, d.is_speech, d.level_db, p)
                        for e, d, p in zip(done_ends, scored.decisions, probs, strict=True))

    def run_batch(pool: ThreadPoolExecutor) -> None:
        nonlocal pending
        scored = prepare_windows(batch, model, gate)
        collect()
        pending = (list(ends), scored, None if scored.x is None else pool.submit(model.predict, scored.x))
        batch.clear()
        ends.clear()

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="serapp-inference") as pool:
        try:
            for block in audio.stream(path, sr, _DECODE_BLOCK_S):
                for end in windower.feed(block):
                    batch.append(windower.current())
                    ends.append(end)
                    if len(batch) >= config.batch_size:
                        run_batch(pool)
                if progress is not None:
                    progress(windower.total / sr)
            if windower.has_tail():
                batch.append(windower.current())
                ends.append(windower.total)
            run_batch(pool)
            collect()
        finally:
            if pending is not None and pending[2] is not None:
                pending[2].cancel()
    duration = windower.total / sr
    return FileAnalysis(Path(path), model.info.labels, config.hop_s, timeline,
                        summarize(timeline, model.info.labels, duration))
