"""The one feature pipeline: spec round-trips, shapes, and parity with direct librosa calls on real clips."""

from __future__ import annotations

import json
from pathlib import Path

import librosa
import numpy as np
import pytest

from serapp.engine import audio, features
from serapp.engine.preprocess import fix_length, nonsilent_bounds, prepare
from serapp.engine.spec import FEATURE_KINDS, WHISPER_LOGMEL, FeatureSpec
from serapp.errors import SerappError


@pytest.fixture(scope="module")
def clip(sample_clips: list[Path]) -> np.ndarray:
    return audio.load(sample_clips[0])


def test_spec_json_round_trip_and_hash_is_stable() -> None:
    spec = FeatureSpec(kind="image", n_mels=80, deltas=True, image_size=(96, 128))
    again = FeatureSpec.from_json(spec.to_json())
    assert again == spec
    assert again.hash == spec.hash
    assert FeatureSpec(n_mels=80).hash != FeatureSpec(n_mels=64).hash
    assert json.loads(spec.to_json())["image_size"] == [96, 128]


@pytest.mark.parametrize(("field", "value"), [("kind", "wavelet"), ("n_mels", 4), ("fmax", 9000.0),
                                              ("hop_length", 0), ("normalization", "global")])
def test_spec_rejects_bad_values_with_plain_message(field: str, value: object) -> None:
    with pytest.raises(SerappError, match="Invalid feature spec"):
        FeatureSpec(**{field: value})


def test_spec_from_newer_model_names_unknown_settings() -> None:
    data = FeatureSpec().to_dict() | {"gammatone": True}
    with pytest.raises(SerappError, match="gammatone"):
        FeatureSpec.from_dict(data)


@pytest.mark.parametrize("kind", FEATURE_KINDS)
@pytest.mark.parametrize("deltas", [False, True])
def test_every_kind_has_its_declared_shape_and_is_finite(clip: np.ndarray, kind: str, deltas: bool) -> None:
    spec = FeatureSpec(kind=kind, deltas=deltas, **(WHISPER_LOGMEL if kind == "whisper_logmel" else {}))
    x = features.compute(clip, spec)
    assert x.shape == spec.shape
    assert x.dtype == np.float32
    assert np.all(np.isfinite(x))


def test_logmel_matches_librosa(clip: np.ndarray) -> None:
    spec = FeatureSpec()
    y = prepare(clip, spec)
    ref = librosa.power_to_db(
        librosa.feature.melspectrogram(y=y, sr=spec.sample_rate, n_fft=spec.n_fft, hop_length=spec.hop_length,
                                       win_length=spec.win_length, n_mels=spec.n_mels, fmin=spec.fmin,
                                       fmax=spec.fmax, power=2.0),
        ref=np.max, top_db=spec.top_db)
    ours = features.compute(clip, spec)[:, :, 0].T
    np.testing.assert_allclose(ours, ref, atol=2e-3)


def test_mfcc_chroma_zcr_match_librosa(clip: np.ndarray) -> None:
    spec = FeatureSpec(kind="mfcc")
    y = prepare(clip, spec)
    mel = librosa.feature.melspectrogram(y=y, sr=spec.sample_rate, n_fft=spec.n_fft, hop_length=spec.hop_length,
                                         win_length=spec.win_length, n_mels=spec.n_mels, fmin=spec.fmin,
                                         fmax=spec.fmax)
    ref_mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel, ref=np.max, top_db=spec.top_db), n_mfcc=spec.n_mfcc)
    np.testing.assert_allclose(features.compute(clip, spec).T, ref_mfcc, atol=2e-2, rtol=1e-4)

    power = features.power_spectrogram(y[None], spec)
    ref_chroma = librosa.feature.chroma_stft(y=y, sr=spec.sample_rate, n_fft=spec.n_fft, hop_length=spec.hop_length,
                                             win_length=spec.win_length, tuning=0.0)
    np.testing.assert_allclose(features.chroma(power, spec)[0], ref_chroma, atol=1e-4)

    ref_zcr = librosa.feature.zero_crossing_rate(y, frame_length=spec.win_length, hop_length=spec.hop_length)[0]
    np.testing.assert_allclose(features.zero_crossing_rate(y[None], spec)[0], ref_zcr)


def test_batch_equals_one_by_one(sample_clips: list[Path]) -> None:
    signals = [audio.load(p) for p in sample_clips[:4]]
    for kind in FEATURE_KINDS:
        spec = FeatureSpec(kind=kind, **(WHISPER_LOGMEL if kind == "whisper_logmel" else {}))
        batch = features.compute_batch(signals, spec)
        singles = np.stack([features.compute(y, spec) for y in signals])
        np.testing.assert_allclose(batch, singles, atol=1e-4)


def test_logmel_is_invariant_to_gain(clip: np.ndarray) -> None:
    spec = FeatureSpec(trim_silence=False)
    np.testing.assert_allclose(features.compute(clip * 0.25, spec), features.compute(clip, spec), atol=1e-3)


def test_fix_length_centres_padding_and_crop() -> None:
    y = np.arange(1, 5, dtype=np.float32)
    assert fix_length(y, 8).tolist() == [0, 0, 1, 2, 3, 4, 0, 0]
    assert fix_length(np.arange(10, dtype=np.float32), 4).tolist() == [3, 4, 5, 6]


def test_silence_gives_finite_features() -> None:
    spec = FeatureSpec(kind="stats")
    x = features.compute(np.zeros(16000, dtype=np.float32), spec)
    assert np.all(np.isfinite(x))


def test_compute_rejects_multichannel_array() -> None:
    with pytest.raises(SerappError, match="mono"):
        features.compute(np.zeros((100, 2), dtype=np.float32), FeatureSpec())


@pytest.mark.parametrize("hop", [160, 320])
def test_power_spectrogram_matches_librosa_stft(clip: np.ndarray, hop: int) -> None:
    spec = FeatureSpec(hop_length=hop)
    y = prepare(clip, spec)
    ref = np.abs(librosa.stft(y, n_fft=spec.n_fft, hop_length=hop, win_length=spec.win_length, window="hann",
                              center=True)) ** 2
    ours = features.power_spectrogram(np.stack([y, y * 0.5]), spec)
    np.testing.assert_allclose(ours[0], ref, rtol=1e-4, atol=1e-6 * ref.max())
    np.testing.assert_allclose(ours[1], ref * 0.25, rtol=1e-4, atol=1e-6 * ref.max())


@pytest.mark.parametrize(("frame", "hop", "top_db"), [(512, 160, 30.0), (512, 320, 30.0), (2048, 512, 60.0)])
def test_trim_matches_librosa_effects_trim(sample_clips: list[Path], frame: int, hop: int, top_db: float) -> None:
    rng = np.random.default_rng(1)
    signals = [audio.load(p) for p in sample_clips]
    # also a quiet one, a click in silence, digital silence and a clip with a noise floor
    signals += [signals[0] * 1e-4, np.pad(np.ones(40, np.float32), 8000), np.zeros(9000, np.float32),
                signals[1] + (rng.standard_normal(signals[1].size) * 1e-3).astype(np.float32)]
    for y in signals:
        _, (start, end) = librosa.effects.trim(y, top_db=top_db, frame_length=frame, hop_length=hop)
        assert nonsilent_bounds(y, top_db, frame, hop) == (start, end)
