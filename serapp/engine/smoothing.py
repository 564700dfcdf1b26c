"""Smoothing of probabilities over time: an exponential moving average with a time constant in seconds."""

from __future__ import annotations

import math

import numpy as np


def ema_alpha(step_s: float, time_constant_s: float) -> float:
    """Weight kept from the previous value per step: exp(-step / tau); 0 (no smoothing) when tau is 0."""
    return 0.0 if time_constant_s <= 0 else math.exp(-step_s / time_constant_s)


class EmaSmoother:
    """EMA of probability vectors updated every ``step_s`` seconds; ``reset`` forgets the history (silence)."""

    def __init__(self, step_s: float, time_constant_s: float) -> None:
        self.alpha = ema_alpha(step_s, time_constant_s)
        self._state: np.ndarray | None = None

    def update(self, p: np.ndarray) -> np.ndarray:
        """Fold in ``p`` ``(k,)`` and return the smoothed ``(k,)`` (a copy; sums to 1 when ``p`` does)."""
        p = np.asarray(p, dtype=np.float32)
        if self._state is None or self._state.shape != p.shape:
            self._state = p.copy()
        else:
            self._state = (self.alpha * self._state + (1.0 - self.alpha) * p).astype(np.float32)
        return self._state.copy()

    def reset(self) -> None:
        self._state = None


class StickyTop:
    """The emotion a live display names, held against near ties: it changes only when another emotion's probability
    exceeds the named one's by more than ``margin`` (hysteresis). Two emotions within a few points of each other
    otherwise swap the big label on every update while neither is clearly ahead."""

    def __init__(self, margin: float) -> None:
        self.margin = margin
        self._index: int | None = None

    def choose(self, probs: np.ndarray) -> int:
        """Index of the emotion to name for ``probs`` ``(n_labels,)``: the top one, unless the one named before is
        within ``margin`` of it."""
        top = int(np.argmax(probs))
        if self._index is None or self._index >= probs.shape[0] or probs[top] - probs[self._index] > self.margin:
            self._index = top
        return self._index

    def reset(self) -> None:
        """Forget the named emotion (a new utterance, or silence)."""
        self._index = None
