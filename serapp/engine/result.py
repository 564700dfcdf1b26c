"""One scored window: :class:`EmotionResult`, the single type for a live update and a row of a timeline.

The live analyzer emits one every ``hop_s`` with all its fields; whole-file analysis and the live session's
record (serapp/ui/liverecord.py) keep one per hop of their timelines, where only ``t``, ``probs``, ``is_speech``,
``level_db`` (and ``phase``/``utterance``) mean something and the live-only figures keep their defaults. Its
dict/CSV/JSON forms are in :mod:`serapp.engine.serialize`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from serapp.engine import serialize
from serapp.engine.labels import top_label


@dataclass(frozen=True, slots=True)
class EmotionResult:
    """One scored window, ending at stream (or file, or session) time ``t`` (s).

    ``labels``: the model's labels; ``probs``: the probabilities shown ``(n_labels,)``, or ``None`` (no speech,
    or an utterance too short to judge yet); ``raw_probs``: the utterance's unsmoothed score (live only);
    ``is_speech``: the window lies in an utterance; ``phase``: ``"speech"`` (an utterance is growing), ``"held"``
    (one ended less than ``hold_s`` ago; ``probs`` is its final score) or ``"silence"``; ``utterance``: its number
    (from 1; 0 outside speech) and ``utterance_s`` its length so far (s); ``level_db``: level of the window
    (dBFS, DC removed); live only: ``compute_ms`` detector + features + inference time of this update,
    ``latency_ms`` from the arrival of the newest audio to this result, ``dropped_blocks`` input lost so far
    (device overflows plus ring overruns), ``shown`` the index of the emotion the display names (see :attr:`top`).
    """

    t: float
    labels: tuple[str, ...]
    probs: np.ndarray | None
    raw_probs: np.ndarray | None = None
    is_speech: bool = False
    level_db: float = -120.0
    compute_ms: float = 0.0
    latency_ms: float = 0.0
    dropped_blocks: int = 0
    phase: str = "silence"
    utterance: int = 0
    utterance_s: float = 0.0
    shown: int | None = None

    @property
    def top(self) -> int | None:
        """Index of the emotion named: ``shown`` (live: the top emotion held against near ties, see
        :class:`serapp.engine.smoothing.StickyTop`), else the top of ``probs``; ``None`` without probabilities."""
        if self.probs is None:
            return None
        return self.shown if self.shown is not None else int(np.argmax(self.probs))

    @property
    def emotion(self) -> str:
        """The emotion named (:attr:`top`), or ``"silence"``."""
        top = self.top
        return top_label(None, self.labels) if top is None else self.labels[top]

    def to_dict(self) -> dict[str, Any]:
        """The live update as JSON-ready data (:func:`serapp.engine.serialize.live_dict`)."""
        return serialize.live_dict(self)
