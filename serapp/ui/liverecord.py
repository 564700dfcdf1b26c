"""The live session as data, kept until the user clears it: every result on one session clock, whatever stops,
restarts, settings changes and reconnects happened, exportable like a file's analysis (no Qt).

Each run of the analyzer counts its stream time from 0; :meth:`LiveRecord.new_run` (on every start) makes the
next run continue the session's clock where the last one ended, so the timeline is never wiped by them.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from serapp.engine.result import EmotionResult
from serapp.engine.summary import FileAnalysis, UtteranceResult, summarize

LIVE_NAME = "live"  # the "file" of a live session in exports
RECENT_S = 60.0  # the rolling summary's recent window


@dataclass(frozen=True)
class Tally:
    """What a stretch of the session held: ``dominant`` label (highest mean probability over its speech hops,
    "" without speech), ``share`` of its speech hops with that label on top (0..1), ``speech_s`` and ``span_s``
    (seconds of speech hops and of the stretch)."""

    dominant: str
    share: float
    speech_s: float
    span_s: float


def tally(prob_sum: np.ndarray, top_counts: np.ndarray, n_speech: int, hop_s: float, span_s: float,
          labels: Sequence[str]) -> Tally:
    """A :class:`Tally` from the sums over speech hops: ``prob_sum`` ``(n_labels,)``, ``top_counts``
    ``(n_labels,)`` (hops with each label on top) and their number ``n_speech``."""
    if n_speech == 0:
        return Tally("", 0.0, 0.0, span_s)
    top = int(np.argmax(prob_sum))
    return Tally(labels[top], float(top_counts[top]) / n_speech, n_speech * hop_s, span_s)


class LiveRecord:
    """Results of one live session (oldest first) on the session clock (s since the session began)."""

    def __init__(self) -> None:
        self.labels: tuple[str, ...] = ()
        self.rows: list[EmotionResult] = []  # a timeline as a file's: probabilities only inside utterances
        self.utterances: list[UtteranceResult] = []
        self._open: tuple[float, float, np.ndarray | None] | None = None  # utterance being spoken: start, end, score
        self._open_id = 0  # its number in the analyzer's run
        self._offset = 0.0  # session time at which the current run's stream time 0 falls
        self._last_stream_t: float | None = None
        self._reset_sums()

    def _reset_sums(self) -> None:
        """Running sums over the session's speech hops, so its summary costs nothing however long it ran."""
        self._prob_sum = np.zeros(len(self.labels), np.float64)
        self._top_counts = np.zeros(len(self.labels), np.int64)
        self._n_speech = 0

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def end_s(self) -> float:
        """Session time of the newest result (0 when empty)."""
        return self.rows[-1].t if self.rows else 0.0

    def set_labels(self, labels: Sequence[str]) -> None:
        """Another model: its results cannot share a table with the old ones, so the session starts again."""
        if tuple(labels) != self.labels:
            self.labels = tuple(labels)
            self.clear()

    def new_run(self) -> None:
        """The analyzer (re)started: its stream time begins at 0 again, after the session's newest result."""
        self._offset = self.end_s
        self._last_stream_t = None

    def add(self, results: Sequence[EmotionResult]) -> list[EmotionResult]:
        """Keep ``results`` (one run's, oldest first); returns them with ``t`` on the session clock."""
        out = []
        for r in results:
            if self._last_stream_t is not None and r.t < self._last_stream_t:
                self.new_run()  # the stream restarted without a new run being announced (a looping file)
            self._last_stream_t = r.t
            t = self._offset + r.t
            # As in a file's timeline, only hops inside an utterance carry probabilities (a "held" result repeats
            # the ended utterance's score for the eye, it measures nothing new).
            probs = np.array(r.probs, dtype=np.float32) if r.probs is not None and r.is_speech else None
            self.rows.append(EmotionResult(t=t, labels=self.labels, probs=probs, is_speech=probs is not None,
                                           level_db=r.level_db, phase=r.phase if probs is not None else "silence",
                                           utterance=r.utterance if probs is not None else 0,
                                           shown=r.shown if probs is not None else None))
            if probs is not None and probs.shape == self._prob_sum.shape:
                self._prob_sum += probs
                self._top_counts[self.rows[-1].top] += 1  # the emotion the display named
                self._n_speech += 1
            self._follow_utterance(r, t)
            out.append(dataclasses.replace(r, t=t))
        return out

    def _follow_utterance(self, r: EmotionResult, t: float) -> None:
        """Keep each ended utterance (start and end on the session clock; its final score: the held one, or its
        last score when the next utterance began at once), as file analysis lists them."""
        if r.phase == "speech":
            if self._open is not None and r.utterance != self._open_id:
                self._close(self._open[2])  # the next utterance began before this one's score was held
            score = None if r.raw_probs is None else np.array(r.raw_probs, np.float32)
            if self._open is None:
                self._open, self._open_id = (t - r.utterance_s, t, score), r.utterance
            else:
                self._open = (self._open[0], t, score if score is not None else self._open[2])
        elif self._open is not None:
            self._close(np.array(r.probs, np.float32) if r.phase == "held" and r.probs is not None
                        else self._open[2])

    def _close(self, probs: np.ndarray | None) -> None:
        if self._open is not None and probs is not None and probs.shape == (len(self.labels),):
            self.utterances.append(UtteranceResult(self._open[0], self._open[1], probs))
        self._open = None

    def clear(self) -> None:
        """Forget every result; the session clock starts again at 0 with the next result of the current run."""
        self.rows = []
        self.utterances = []
        self._open = None
        self._offset = -(self._last_stream_t or 0.0)
        self._reset_sums()

    def session_tally(self, hop_s: float) -> Tally:
        """The whole session so far (``hop_s``: seconds per hop)."""
        return tally(self._prob_sum, self._top_counts, self._n_speech, hop_s, self.end_s, self.labels)

    def recent_tally(self, hop_s: float, window_s: float = RECENT_S) -> Tally:
        """The last ``window_s`` seconds of the session."""
        # Hops ending after end - window: exactly window_s seconds of hops (each row is the end of its hop).
        first = bisect.bisect_right(self.rows, self.end_s - window_s, key=lambda w: w.t)
        rows = [w for w in self.rows[first:] if w.probs is not None]
        probs = np.array([w.probs for w in rows], np.float64).reshape(len(rows), len(self.labels))
        counts = np.bincount([w.top for w in rows], minlength=len(self.labels)).astype(np.int64) if rows else \
            np.zeros(len(self.labels), np.int64)
        return tally(probs.sum(axis=0), counts, len(rows), hop_s, min(window_s, self.end_s), self.labels)

    def analysis(self, hop_s: float) -> FileAnalysis:
        """The session as a :class:`FileAnalysis` (file ``live``), for the same exports as a file's."""
        return FileAnalysis(Path(LIVE_NAME), self.labels, hop_s, list(self.rows),
                            summarize(self.rows, self.labels, self.end_s, self.utterances), list(self.utterances))
