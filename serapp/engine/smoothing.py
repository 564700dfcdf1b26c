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
