"""The ``whisper_logmel`` feature kind: parity with openai-whisper's ``log_mel_spectrogram`` (written out below
with librosa's STFT, as openai-whisper computes it with torch's) on real clips, and the spec's rules."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest

from serapp.engine import audio, features
from serapp.engine.preprocess import prepare
from serapp.engine.spec import WHISPER_LOGMEL, FeatureSpec
from serapp.errors import SerappError

SPEC = FeatureSpec(kind="whisper_logmel", **WHISPER_LOGMEL)


def openai_whisper_log_mel(y: np.ndarray) -> np.ndarray:
    """openai-whisper's ``log_mel_spectrogram`` (whisper/audio.py), with librosa for torch; ``(80, n // 160)``.

    There: ``torch.stft(audio, 400, 160, window=torch.hann_window(400), return_complex=True)`` (centred, reflect
    padding), the last frame dropped, ``mel_filters`` (librosa's Slaney mel, sr 16000, n_fft 400, 80 bands),
    ``clamp(min=1e-10).log10()``, ``maximum(log_spec, log_spec.max() - 8.0)``, ``(log_spec + 4.0) / 4.0``.
    """
    stft = librosa.stft(y.astype(np.float64), n_fft=400, hop_length=160, window="hann", center=True,
                        pad_mode="reflect")
    magnitudes = np.abs(stft[..., :-1]) ** 2
    mel_spec = librosa.filters.mel(sr=16000, n_fft=400, n_mels=80, dtype=np.float64) @ magnitudes
    log_spec = np.log10(np.maximum(mel_spec, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


def test_spec_shape_and_rules() -> None:
    assert SPEC.shape == (300, 80)  # 3 s at 100 frames a second: the clip's own frames, not 30 s
    assert FeatureSpec(kind="whisper_logmel", **WHISPER_LOGMEL, duration_s=1.0).shape == (100, 80)
    assert FeatureSpec.from_json(SPEC.to_json()) == SPEC
    assert SPEC.hash != FeatureSpec().hash
    for field, value in (("n_mels", 64), ("n_fft", 512), ("hop_length", 200), ("fmin", 50.0), ("sample_rate", 22050)):
        with pytest.raises(SerappError, match=r"the whisper_logmel kind needs .*n_fft=400.*n_mels=80"):
            FeatureSpec(kind="whisper_logmel", **(dict(WHISPER_LOGMEL) | {field: value}))
    with pytest.raises(SerappError, match="pitch works with"):
        FeatureSpec(kind="whisper_logmel", **WHISPER_LOGMEL, pitch=True)


def test_matches_openai_whisper_on_real_clips(sample_clips: list[Path]) -> None:
    worst = 0.0
    for path in sample_clips:
        y = prepare(audio.load(path, SPEC.sample_rate), SPEC)
        ours = features.compute(audio.load(path, SPEC.sample_rate), SPEC)
        ref = openai_whisper_log_mel(y).T
        assert ours.shape == ref.shape == SPEC.shape
        worst = max(worst, float(np.abs(ours - ref).max()))
        # the peak maps to (peak + 4) / 4 and the floor is 8 decades (2 units) below it
        assert ours.max() - ours.min() <= 2.0 + 1e-6
    # our float32 STFT against float64: at most about 2e-5 (measured 2.1e-5) on values of about -1.5..1.5
    assert worst < 5e-5, worst


def test_uses_the_window_itself_and_reflect_padding() -> None:
    # A clip shorter than the window is zero-padded to 3 s by the pipeline, never to Whisper's 30 s; the
    # reflect padding shows at the edges of a signal that does not start at zero (zero padding would differ).
    t = np.arange(SPEC.n_samples) / SPEC.sample_rate
    y = (0.5 + 0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    ours = features.whisper_log_mel(y[None], SPEC)[0]
    np.testing.assert_allclose(ours, openai_whisper_log_mel(y).T, atol=2e-5)
    zero_padded = features.power_spectrogram(y[None], SPEC)[0, :, :-1]
    reflect_padded = features.power_spectrogram(y[None], SPEC, pad_mode="reflect")[0, :, :-1]
    assert not np.allclose(zero_padded[:, 0], reflect_padded[:, 0], rtol=1e-2)
    np.testing.assert_allclose(zero_padded[:, 10:-10], reflect_padded[:, 10:-10])


def test_silence_and_batches() -> None:
    silent = features.compute(np.zeros(SPEC.n_samples, np.float32), SPEC)
    # digital silence: the log10 floor 1e-10 everywhere, on the Whisper scale
    np.testing.assert_allclose(silent, (-10.0 + 4.0) / 4.0, atol=1e-6)
    rng = np.random.default_rng(0)
    signals = [rng.normal(scale=s, size=n).astype(np.float32) for s, n in ((0.1, 20000), (0.01, 60000))]
    batch = features.compute_batch(signals, SPEC)
    # each example is floored against its own peak, as one clip alone is
    np.testing.assert_allclose(batch, np.stack([features.compute(y, SPEC) for y in signals]), atol=1e-6)
