"""The one feature pipeline: spec + audio -> model input. Used by the trainer and the app alike.

All functions take mono float32 audio at ``spec.sample_rate``. Batched functions take ``(batch, n_samples)``
arrays and compute every example exactly as the single-example path does (tested for parity with direct
librosa calls).
"""

from __future__ import annotations

from functools import lru_cache

import librosa
import numpy as np
import scipy.fft

from serapp.engine import dsp
from serapp.engine.preprocess import prepare
from serapp.engine.spec import FeatureSpec
from serapp.errors import SerappError

_AMIN = 1e-10


@lru_cache(maxsize=16)
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> np.ndarray:
    return dsp.mel_filters(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)


@lru_cache(maxsize=16)
def _chroma_basis(sr: int, n_fft: int, n_chroma: int) -> np.ndarray:
    return librosa.filters.chroma(sr=sr, n_fft=n_fft, n_chroma=n_chroma, tuning=0.0).astype(np.float32)


@lru_cache(maxsize=16)
def _window(n_fft: int, win_length: int) -> np.ndarray:
    return dsp.pad_center(dsp.hann(win_length), size=n_fft).astype(np.float32)[:, None]


def power_spectrogram(y: np.ndarray, spec: FeatureSpec, *, pad_mode: str = "constant") -> np.ndarray:
    """|STFT|^2 with a Hann window, centred frames. ``(..., n)`` -> ``(..., 1 + n_fft/2, n_frames)``.

    The same numbers as ``librosa.stft`` (zero padding, centred; tested), computed with ``scipy.fft`` on
    librosa's framing (:func:`serapp.engine.dsp.frame`): twice as fast on 3-s windows, where this is the hot path
    of live and file analysis.
    ``pad_mode``: how the ends are padded (``np.pad``'s mode; Whisper's STFT reflects).
    """
    pad = spec.n_fft // 2
    padded = np.pad(np.asarray(y, dtype=np.float32), [(0, 0)] * (np.ndim(y) - 1) + [(pad, pad)], mode=pad_mode)
    frames = dsp.frame(padded, frame_length=spec.n_fft, hop_length=spec.hop_length)
    s = scipy.fft.rfft(frames * _window(spec.n_fft, spec.win_length), axis=-2)
    return (s.real**2 + s.imag**2).astype(np.float32)


def power_to_db(s: np.ndarray, top_db: float) -> np.ndarray:
    """dB relative to each example's maximum, floored ``top_db`` below it (librosa's ref=np.max).

    ``s``: power, ``(..., bins, frames)``; the max is taken per example over the last two axes, so a batch
    gives the same numbers as its examples one by one. Output in [-top_db, 0] dB.
    """
    log = 10.0 * np.log10(np.maximum(s, _AMIN))
    ref = 10.0 * np.log10(np.maximum(s.max(axis=(-2, -1), keepdims=True), _AMIN))
    db = log - ref
    return np.maximum(db, -top_db).astype(np.float32)


def log_mel(power: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """Log-mel spectrogram in dB below the example's peak. Returns ``(..., n_mels, n_frames)``."""
    mel = _mel_basis(spec.sample_rate, spec.n_fft, spec.n_mels, spec.fmin, spec.fmax) @ power
    return power_to_db(mel, spec.top_db)


def whisper_log_mel(y: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """Whisper's log-mel (openai-whisper's ``log_mel_spectrogram``) of the window itself, not padded to 30 s.

    ``(..., n)`` -> ``(..., n // hop_length, n_mels)``: reflect-padded centred STFT without its last frame,
    Slaney mel filters, log10 of the power (floored at 1e-10), floored 8 (80 dB) below the example's peak,
    then ``(x + 4) / 4``, the scale the encoder was trained on (about -1..1.5).
    """
    power = power_spectrogram(y, spec, pad_mode="reflect")[..., :-1]
    mel = _mel_basis(spec.sample_rate, spec.n_fft, spec.n_mels, spec.fmin, spec.fmax) @ power
    log = np.log10(np.maximum(mel, _AMIN))
    log = np.maximum(log, log.max(axis=(-2, -1), keepdims=True) - 8.0)
    return np.swapaxes((log + 4.0) / 4.0, -1, -2).astype(np.float32)


def mfcc(logmel_db: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """MFCC (DCT-II, ortho) of a log-mel. ``(..., n_mels, T)`` -> ``(..., n_mfcc, T)``."""
    return librosa.feature.mfcc(S=logmel_db, n_mfcc=spec.n_mfcc).astype(np.float32)


def chroma(power: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """Chromagram (tuning fixed at 0, max-normalised per frame). Returns ``(..., n_chroma, T)``."""
    raw = _chroma_basis(spec.sample_rate, spec.n_fft, spec.n_chroma) @ power
    return librosa.util.normalize(raw, norm=np.inf, axis=-2).astype(np.float32)


def zero_crossing_rate(y: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """Share of sign changes per frame, in [0, 1]. ``(..., n)`` -> ``(..., T)``."""
    return librosa.feature.zero_crossing_rate(y, frame_length=spec.win_length, hop_length=spec.hop_length,
                                              center=True)[..., 0, :].astype(np.float32)


def rms_level(power: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """Frame RMS level in [0, 1]: dB below the example's loudest frame, scaled by ``top_db``. ``(..., T)``."""
    rms = librosa.feature.rms(S=np.sqrt(power), frame_length=spec.n_fft)[..., 0, :]
    db = power_to_db(rms[..., None, :] ** 2, spec.top_db)[..., 0, :]
    return (1.0 + db / spec.top_db).astype(np.float32)


def pitch_track(y: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """Log-f0 and voicing per frame (pYIN). ``(..., n)`` -> ``(..., 2, T)``.

    Row 0: f0 in octaves relative to 100 Hz, linearly interpolated through unvoiced frames (held at the ends;
    0 where no frame is voiced), so the contour stays continuous. Row 1: voiced (1) or not (0), pYIN's decision
    (its voicing probabilities are low, under 0.5, even on clearly voiced frames).
    Frames are centred on the STFT's (``hop_length``), analysed over ``n_fft`` samples.
    """
    f0, voiced, _ = librosa.pyin(np.asarray(y, dtype=np.float32), fmin=spec.pitch_fmin, fmax=spec.pitch_fmax,
                                 sr=spec.sample_rate, frame_length=spec.n_fft, hop_length=spec.hop_length,
                                 center=True)
    octaves = np.log2(f0 / 100.0)
    flat = octaves.reshape(-1, octaves.shape[-1])
    frames = np.arange(flat.shape[-1])
    for row in flat:  # a view: fills `octaves` in place
        known = np.isfinite(row)
        row[:] = np.interp(frames, frames[known], row[known]) if known.any() else 0.0
    return np.stack([octaves, voiced], axis=-2).astype(np.float32)


def _standardise(x: np.ndarray, axis: int) -> np.ndarray:
    mean = x.mean(axis=axis, keepdims=True)
    std = x.std(axis=axis, keepdims=True)
    return ((x - mean) / (std + 1e-5)).astype(np.float32)


def _resize(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of ``(batch, rows, cols)`` to ``(batch, *size)``, scaled to [0, 1] per example."""
    from scipy.ndimage import zoom  # only the image kind needs it; importing it costs ~0.5 s of start-up

    factors = (1.0, size[0] / x.shape[1], size[1] / x.shape[2])
    out = zoom(x, factors, order=1, grid_mode=True, mode="nearest")[:, : size[0], : size[1]]
    lo = out.min(axis=(1, 2), keepdims=True)
    hi = out.max(axis=(1, 2), keepdims=True)
    return ((out - lo) / np.maximum(hi - lo, 1e-8)).astype(np.float32)


def features_from_prepared(batch: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """Features of already prepared audio. ``(batch, spec.n_samples)`` -> ``(batch, *spec.shape)``."""
    batch = np.asarray(batch, dtype=np.float32)
    if batch.ndim != 2 or batch.shape[1] != spec.n_samples:
        raise SerappError(f"Expected prepared audio of shape (batch, {spec.n_samples}), got {batch.shape}.")
    if spec.kind == "whisper_logmel":
        return whisper_log_mel(batch, spec)
    power = power_spectrogram(batch, spec)
    pitch = pitch_track(batch, spec) if spec.pitch else np.zeros((len(batch), 0, power.shape[-1]), np.float32)
    if spec.kind == "frames":
        rows = np.concatenate([zero_crossing_rate(batch, spec)[:, None], rms_level(power, spec)[:, None], pitch], 1)
        out = rows.transpose(0, 2, 1)
        return _standardise(out, 1) if spec.normalization == "utterance" else out
    lm = log_mel(power, spec)  # (B, n_mels, T)
    if spec.kind == "logmel":
        chans = [lm]
        if spec.deltas:
            chans += [librosa.feature.delta(lm, order=1, axis=-1), librosa.feature.delta(lm, order=2, axis=-1)]
        # each frame's pitch, repeated across the mel bands, so every position of a 2-D CNN sees it
        chans += [np.broadcast_to(pitch[:, i, None, :], lm.shape) for i in range(pitch.shape[1])]
        out = np.stack(chans, axis=-1).transpose(0, 2, 1, 3)  # (B, T, n_mels, C)
        return _standardise(out, 1) if spec.normalization == "utterance" else out.astype(np.float32)
    mf = mfcc(lm, spec)
    if spec.kind == "mfcc":
        out = mf.transpose(0, 2, 1)
        return _standardise(out, 1) if spec.normalization == "utterance" else out
    ch = chroma(power, spec)
    if spec.kind == "image":
        return np.stack([_resize(mf, spec.image_size), _resize(ch, spec.image_size),
                         _resize(lm, spec.image_size)], axis=-1)
    # stats: mean and std over time of every frame feature, in a fixed order
    frames = np.concatenate([mf, ch, lm, zero_crossing_rate(batch, spec)[:, None, :],
                             rms_level(power, spec)[:, None, :], pitch], axis=1)
    return np.concatenate([frames.mean(axis=-1), frames.std(axis=-1)], axis=1).astype(np.float32)


def prepare_batch(signals: list[np.ndarray] | np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """Preprocess each signal (see :func:`serapp.engine.preprocess.prepare`). Returns ``(batch, n_samples)``."""
    if len(signals) == 0:
        return np.zeros((0, spec.n_samples), dtype=np.float32)
    return np.stack([prepare(y, spec) for y in signals])


def compute(y: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """Features of one mono signal (any length): preprocessing, then ``spec.kind``. Returns ``spec.shape``."""
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise SerappError(f"Expected mono audio of shape (n_samples,), got {y.shape}.")
    return features_from_prepared(prepare_batch([y], spec), spec)[0]


def compute_batch(signals: list[np.ndarray] | np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """Features of several mono signals (any lengths). Returns ``(batch, *spec.shape)``."""
    if len(signals) == 0:
        return np.zeros((0, *spec.shape), dtype=np.float32)
    return features_from_prepared(prepare_batch(signals, spec), spec)
