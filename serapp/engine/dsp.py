"""Signal-processing primitives of the live and file paths, in numpy: the periodic Hann window, framing, FFT bin
frequencies, Slaney mel filters and a first-order recursive filter.

They compute what librosa and scipy compute (``librosa.filters.get_window``, ``librosa.util.frame``,
``librosa.fft_frequencies``, ``librosa.filters.mel``, ``scipy.signal.lfilter``; tested equal) without importing
them at run time: ``librosa.filters`` and ``librosa.util``'s framing pull ``scipy.signal``, ``scipy.ndimage`` and
numba, about a second and a half of the app's cold start on a slow machine. Feature kinds that need more of
librosa (MFCC, chroma, pitch) still import it, only when a model asks for them.
"""

from __future__ import annotations

import numpy as np

# Slaney's mel scale (librosa's default, ``htk=False``): linear below 1 kHz, logarithmic above.
_F_SP = 200.0 / 3  # Hz per mel in the linear part
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0
# A recursion is summed in chunks over which its coefficient's powers stay within e^2 of 1 (accurate in float64).
_MAX_DECAY = 2.0
_MAX_CHUNK = 1024


def hann(length: int) -> np.ndarray:
    """The periodic Hann window (for spectral analysis; ``scipy.signal.get_window("hann", n, fftbins=True)``).
    ``(length,)`` float64."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)


def pad_center(x: np.ndarray, *, size: int) -> np.ndarray:
    """``x`` ``(n,)`` zero-padded on both sides to ``size`` samples (the extra one, if odd, at the end), as
    ``librosa.util.pad_center``. ``(size,)``."""
    left = (size - x.shape[-1]) // 2
    if left < 0:
        raise ValueError(f"Cannot pad {x.shape[-1]} samples to {size}.")
    return np.pad(x, (left, size - x.shape[-1] - left))


def frame(y: np.ndarray, *, frame_length: int, hop_length: int) -> np.ndarray:
    """Overlapping frames of ``y`` ``(..., n)`` as a read-only view ``(..., frame_length, n_frames)``, frame ``t``
    starting at sample ``t * hop_length`` (``librosa.util.frame`` with ``axis=-1``). ``n >= frame_length``."""
    if y.shape[-1] < frame_length:
        raise ValueError(f"{y.shape[-1]} samples are fewer than one frame of {frame_length}.")
    windows = np.lib.stride_tricks.sliding_window_view(y, frame_length, axis=-1)[..., ::hop_length, :]
    return np.swapaxes(windows, -1, -2)


def fft_frequencies(*, sr: int, n_fft: int) -> np.ndarray:
    """Centre frequencies in Hz of the ``1 + n_fft // 2`` bins of a real FFT of ``n_fft`` samples at ``sr``."""
    return np.fft.rfftfreq(n_fft, 1.0 / sr)


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Frequencies in Hz to Slaney mels."""
    hz = np.asarray(hz, dtype=np.float64)
    mels = hz / _F_SP
    high = hz >= _MIN_LOG_HZ
    return np.where(high, _MIN_LOG_MEL + np.log(np.maximum(hz, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP, mels)


def mel_to_hz(mels: np.ndarray | float) -> np.ndarray:
    """Slaney mels to frequencies in Hz."""
    mels = np.asarray(mels, dtype=np.float64)
    return np.where(mels >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (mels - _MIN_LOG_MEL)), _F_SP * mels)


def mel_filters(*, sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """Triangular filters on ``n_mels + 2`` Slaney-mel-spaced points from ``fmin`` to ``fmax`` (default
    ``sr / 2``) Hz, each scaled to unit area (``librosa.filters.mel``'s defaults). ``(n_mels, 1 + n_fft // 2)``
    float32."""
    fmax = sr / 2.0 if fmax is None else fmax
    freqs = fft_frequencies(sr=sr, n_fft=n_fft)
    points = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(points)
    ramps = np.subtract.outer(points, freqs)
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    # librosa keeps the triangles in float32 before scaling them: the same rounding, the same numbers
    weights = weights.astype(np.float32) * (2.0 / (points[2:] - points[:-2]))[:, None]
    return weights.astype(np.float32)


def first_order_recursion(u: np.ndarray, a: float, y_prev: float = 0.0) -> np.ndarray:
    """``y[n] = a * y[n - 1] + u[n]`` from ``y[-1] = y_prev``, for ``0 < a < 1``. ``(n,)`` float64 -> ``(n,)``.

    Summed a chunk at a time in closed form (``y[k] = a^k (a y_prev + sum_j a^-j u[j])``), the chunk short enough
    that ``a^-k`` stays small; one Python step per chunk carries the value across.
    """
    u = np.asarray(u, dtype=np.float64)
    n = u.shape[0]
    chunk = int(min(_MAX_CHUNK, max(1, _MAX_DECAY // -np.log(a))))
    powers = a ** np.arange(chunk, dtype=np.float64)
    m = -(-n // chunk)
    padded = np.zeros(m * chunk)
    padded[:n] = u
    zero_state = powers * np.cumsum(padded.reshape(m, chunk) / powers, axis=1)  # each chunk from rest
    carried = [0.0] * m  # the value before each chunk (Python floats: the loop runs once per chunk)
    last = float(y_prev)
    end = float(a * powers[-1])  # a ** chunk
    for i, settled in enumerate(zero_state[:, -1].tolist()):
        carried[i] = last
        last = end * last + settled
    return (zero_state + np.outer(carried, a * powers)).reshape(-1)[:n]
