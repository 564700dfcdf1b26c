"""The live session as data, kept until the user clears it: every result on one session clock, whatever stops,
restarts, settings changes and reconnects happened, exportable like a file's analysis (no Qt).

Each run of the analyzer counts its stream time from 0; :meth:`LiveRecord.new_run` (on every start) makes the
next run continue the session's clock where the last one ended, so the timeline is never wiped by them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from serapp.engine.analysis import FileAnalysis, WindowResult, summarize
from serapp.engine.analyzer import EmotionResult

LIVE_NAME = "live"  # the "file" of a live session in exports


class LiveRecord:
    """Results of one live session (oldest first) on the session clock (s since the session began)."""

    def __init__(self) -> None:
        self.labels: tuple[str, ...] = ()
        self.rows: list[WindowResult] = []
        self._offset = 0.0  # session time at which the current run's stream time 0 falls
        self._last_stream_t: float | None = None

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
            self.rows.append(WindowResult(t, probs is not None, r.level_db, probs))
            out.append(dataclasses.replace(r, t=t))
        return out

    def clear(self) -> None:
        """Forget every result; the session clock starts again at 0 with the next result of the current run."""
        self.rows = []
        self._offset = -(self._last_stream_t or 0.0)

    def analysis(self, hop_s: float) -> FileAnalysis:
        """The session as a :class:`FileAnalysis` (file ``live``), for the same exports as a file's."""
        return FileAnalysis(Path(LIVE_NAME), self.labels, hop_s, list(self.rows),
                            summarize(self.rows, self.labels, self.end_s))
