"""Preprocessing of a mono 16 kHz signal before features: silence trim, loudness, fixed length."""

from __future__ import annotations

import librosa
import numpy as np

from serapp.engine.spec import FeatureSpec


def trim_silence(y: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """Cut leading and trailing audio quieter than ``spec.trim_top_db`` below the peak.

    An all-quiet signal is returned unchanged (there is nothing louder to keep).
    """
    if y.size < spec.n_fft:
        return y
    trimmed, _ = librosa.effects.trim(y, top_db=spec.trim_top_db, frame_length=spec.n_fft,
                                      hop_length=spec.hop_length)
    return trimmed if trimmed.size else y


def normalize_loudness(y: np.ndarray, target_dbfs: float) -> np.ndarray:
    """Scale so the RMS level is ``target_dbfs`` dB relative to full scale; silence stays silence."""
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if y.size else 0.0
    if rms < 1e-6:
        return y
    return (y * (10.0 ** (target_dbfs / 20.0) / rms)).astype(np.float32)


def fix_length(y: np.ndarray, n_samples: int) -> np.ndarray:
    """Centre-crop or zero-pad (both sides equally) to exactly ``n_samples``."""
    n = y.shape[-1]
    if n == n_samples:
        return y
    if n > n_samples:
        start = (n - n_samples) // 2
        return y[start:start + n_samples]
    left = (n_samples - n) // 2
    out = np.zeros(n_samples, dtype=np.float32)
    out[left:left + n] = y
    return out


def prepare(y: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """Apply the spec's preprocessing to mono float32 ``y`` at ``spec.sample_rate``.

    Returns float32 of shape ``(spec.n_samples,)``.
    """
    y = np.asarray(y, dtype=np.float32)
    if spec.trim_silence:
        y = trim_silence(y, spec)
    if spec.normalize_loudness:
        y = normalize_loudness(y, spec.target_dbfs)
    return fix_length(y, spec.n_samples)
