"""Speaker adaptation: the running mean of one speaker's utterance embeddings, for a model that can adapt.

An adaptable model (``ModelInfo.adapt_clips`` > 0) gives, beside each window's probabilities, the window's
embedding (the encoder's pooled layers), and has a second head trained on embeddings less their speaker's mean
(``serapp-train``'s ``speaker_adaptation``). A :class:`SpeakerMean` keeps the mean of the utterances heard so far,
each utterance's embedding being the mean over its windows; once it holds ``needed`` utterances, scoring switches
to the adapted head with that mean (:class:`serapp.engine.utterances.UtteranceScorer`). Speaker-independent
emotion models confuse a speaker's habitual voice with emotion; the mean is that habit.

The mean assumes one speaker: a new speaker needs :meth:`SpeakerMean.reset`. Thread-safe: the analysis worker adds
utterances while the window reads the count and may reset it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np

from serapp.errors import SerappError

if TYPE_CHECKING:
    from serapp.engine.model import OnnxModel


class SpeakerMean:
    """Running mean of a speaker's utterance embeddings ``(*shape)``; :attr:`mean` is None until ``needed``
    utterances were added."""

    def __init__(self, needed: int) -> None:
        if needed < 1:
            raise SerappError(f"Speaker adaptation needs at least one utterance, got {needed}.")
        self.needed = int(needed)
        self._lock = threading.Lock()
        self.reset()

    @classmethod
    def for_model(cls, model: OnnxModel) -> SpeakerMean:
        """A new speaker mean for ``model``, ready after the utterances it was trained to need
        (``adapt_clips``); :class:`SerappError` for a model that cannot adapt."""
        if not model.adaptable:
            raise SerappError(f"The model {model.info.name!r} cannot adapt to its speaker (it was exported without "
                              "an adapted head).")
        return cls(model.info.adapt_clips)

    def reset(self) -> None:
        """Forget the speaker (a new one is about to speak)."""
        with self._lock:
            self._sum: np.ndarray | None = None
            self._count = 0

    def add(self, embedding: np.ndarray) -> None:
        """Add one utterance's embedding (float, any shape, the same each time)."""
        e = np.asarray(embedding, dtype=np.float64)
        if not np.all(np.isfinite(e)):
            return  # never let one bad utterance poison every later answer
        with self._lock:
            if self._sum is not None and self._sum.shape != e.shape:
                raise SerappError(f"An utterance embedding of shape {e.shape} cannot join a speaker mean of "
                                  f"shape {self._sum.shape}: the model changed; reset the speaker.")
            self._sum = e.copy() if self._sum is None else self._sum + e
            self._count += 1

    @property
    def count(self) -> int:
        """Utterances heard since the last reset."""
        return self._count

    @property
    def ready(self) -> bool:
        return self._count >= self.needed

    @property
    def mean(self) -> np.ndarray | None:
        """The speaker's mean embedding (float32), or None while fewer than ``needed`` utterances were heard."""
        with self._lock:
            if self._sum is None or self._count < self.needed:
                return None
            return (self._sum / self._count).astype(np.float32)
