"""Voice-activity gate: is there speech in a window, or only silence / steady noise? Energy and SNR based.

Stateless on purpose: the same window gives the same answer live and in whole-file analysis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# 20 ms frames: short enough to resolve syllables, long enough for a stable level.
FRAME_S = 0.02
_FLOOR_PERCENTILE = 10.0
_MIN_POWER = 1e-12  # -120 dBFS: digital silence


def frame_levels_db(y: np.ndarray, frame: int) -> np.ndarray:
    """RMS level of consecutive non-overlapping frames in dBFS (a full-scale sine is -3 dB).

    ``(n,)`` -> ``(n // frame,)`` (one level for a signal shorter than a frame).
    """
    n = y.shape[0] // frame
    if n == 0:
        return np.full(1, level_db(y), dtype=np.float32)
    power = np.mean(np.square(y[: n * frame].reshape(n, frame), dtype=np.float32), axis=1)
    return (10.0 * np.log10(np.maximum(power, _MIN_POWER))).astype(np.float32)


def level_db(y: np.ndarray) -> float:
    """RMS level of ``y`` in dBFS; -120 for empty or digital silence."""
    if y.size == 0:
        return -120.0
    return float(10.0 * np.log10(max(float(np.mean(np.square(y, dtype=np.float64))), _MIN_POWER)))


@dataclass(frozen=True)
class GateDecision:
    """Outcome for one window: speech or not, voiced seconds, overall level (dBFS) and noise floor (dBFS)."""

    is_speech: bool
    voiced_s: float
    level_db: float
    floor_db: float


@dataclass(frozen=True)
class VoiceGate:
    """A frame is voiced when louder than ``gate_db`` dBFS and ``snr_db`` above the window's noise floor
    (its 10th-percentile frame level), the latter bar capped at ``gate_db + 2 * snr_db``; a window is speech
    with at least ``min_speech_s`` voiced."""

    sample_rate: int = 16000
    gate_db: float = -50.0
    snr_db: float = 10.0
    min_speech_s: float = 0.2

    def __call__(self, y: np.ndarray) -> GateDecision:
        """Judge mono float32 window ``y`` at ``sample_rate`` Hz."""
        frame = max(1, round(FRAME_S * self.sample_rate))
        levels = frame_levels_db(y, frame)
        floor = float(np.percentile(levels, _FLOOR_PERCENTILE))
        # The SNR bar is capped: in a short window that is all speech the "floor" is speech itself.
        threshold = max(self.gate_db, min(floor + self.snr_db, self.gate_db + 2.0 * self.snr_db))
        voiced = int(np.count_nonzero(levels > threshold))
        voiced_s = voiced * frame / self.sample_rate
        return GateDecision(voiced_s >= self.min_speech_s and voiced > 0, voiced_s, level_db(y), floor)
