"""Live spectrogram columns: the STFT of newly arrived audio, frame by frame, in dBFS (for the GUI's display)."""

from __future__ import annotations

import numpy as np
import scipy.fft

from serapp.engine import dsp

_MIN_POWER = 1e-12


class SpectrumTracker:
    """Turns a stream of mono samples into STFT columns (Hann, ``n_fft`` samples, step ``hop``).

    Columns are power in dB relative to a full-scale sine (0 dB), floored at -120 dB. Audio that does not
    yet fill a frame is kept for the next push, so the columns are seamless across pushes.
    """

    def __init__(self, sample_rate: int, n_fft: int = 512, hop: int = 160) -> None:
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.hop = hop
        self.freqs = dsp.fft_frequencies(sr=sample_rate, n_fft=n_fft).astype(np.float32)
        window = dsp.hann(n_fft)
        self._window = window.astype(np.float32)[:, None]
        # A full-scale sine's peak bin has |X| = sum(window) / 2.
        self._ref_power = float((window.sum() / 2.0) ** 2)
        self._tail = np.zeros(0, dtype=np.float32)

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    def push(self, y: np.ndarray) -> np.ndarray:
        """Columns completed by ``y``: float32 ``(n_new, n_bins)`` in dB (``n_new`` may be 0)."""
        buf = np.concatenate([self._tail, np.asarray(y, dtype=np.float32)])
        n = 0 if buf.size < self.n_fft else 1 + (buf.size - self.n_fft) // self.hop
        self._tail = buf[n * self.hop:]
        if n == 0:
            return np.zeros((0, self.n_bins), dtype=np.float32)
        frames = dsp.frame(buf[: (n - 1) * self.hop + self.n_fft], frame_length=self.n_fft, hop_length=self.hop)
        s = scipy.fft.rfft(frames * self._window, axis=0)  # librosa.stft's numbers with center=False (tested)
        power = (s.real**2 + s.imag**2) / self._ref_power
        return (10.0 * np.log10(np.maximum(power, _MIN_POWER))).T.astype(np.float32)

    def reset(self) -> None:
        self._tail = np.zeros(0, dtype=np.float32)
