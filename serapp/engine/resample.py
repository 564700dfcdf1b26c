"""Channel mixing and sample-rate conversion (soxr), for whole signals and for streams."""

from __future__ import annotations

import numpy as np
import soxr

from serapp.errors import SerappError


def to_mono(y: np.ndarray) -> np.ndarray:
    """Average channels. ``y``: ``(n,)`` or ``(n, channels)``; returns float32 ``(n,)``."""
    if y.ndim == 1:
        return np.ascontiguousarray(y, dtype=np.float32)
    if y.ndim != 2:
        raise SerappError(f"Audio must be 1-D or 2-D (samples, channels), got shape {y.shape}.")
    return np.ascontiguousarray(y.mean(axis=1), dtype=np.float32)


def resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample mono float32 ``y`` from ``orig_sr`` to ``target_sr`` Hz with soxr (HQ)."""
    if orig_sr <= 0 or target_sr <= 0:
        raise SerappError(f"Sample rates must be positive, got {orig_sr} and {target_sr} Hz.")
    if orig_sr == target_sr:
        return np.ascontiguousarray(y, dtype=np.float32)
    return np.asarray(soxr.resample(y, orig_sr, target_sr, quality="HQ"), dtype=np.float32)


class StreamResampler:
    """Resamples a stream chunk by chunk with no discontinuities at chunk edges."""

    def __init__(self, orig_sr: int, target_sr: int) -> None:
        if orig_sr <= 0 or target_sr <= 0:
            raise SerappError(f"Sample rates must be positive, got {orig_sr} and {target_sr} Hz.")
        self.passthrough = orig_sr == target_sr
        self._stream = None if self.passthrough else soxr.ResampleStream(
            orig_sr, target_sr, 1, dtype="float32", quality="HQ")

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Feed mono float32 ``chunk``; returns the output samples available so far."""
        chunk = np.ascontiguousarray(chunk, dtype=np.float32)
        if self._stream is None:
            return chunk
        return self._stream.resample_chunk(chunk)

    def flush(self) -> np.ndarray:
        """Return the samples still held in the filter at the end of the stream."""
        if self._stream is None:
            return np.zeros(0, dtype=np.float32)
        return self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
