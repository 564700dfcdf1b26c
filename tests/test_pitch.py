"""The pitch track (pYIN log-f0 and voicing) and the feature kinds that carry it, on synthetic and real clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from serapp.engine import audio, features
from serapp.engine.preprocess import prepare
from serapp.engine.spec import PITCH_KINDS, FeatureSpec
from serapp.errors import SerappError

SPEC = FeatureSpec(pitch=True, hop_length=320)


def _voiced_median_octaves(y: np.ndarray) -> float:
    octaves, voiced = features.pitch_track(prepare(y, SPEC), SPEC)
    assert voiced.any(), "no voiced frame found"
    return float(np.median(octaves[voiced > 0]))


def test_harmonic_tone_is_voiced_at_its_f0() -> None:
    t = np.arange(2 * SPEC.sample_rate) / SPEC.sample_rate
    tone = sum(0.3 / k * np.sin(2 * np.pi * 220.0 * k * t) for k in range(1, 5)).astype(np.float32)
    octaves, voiced = features.pitch_track(tone, SPEC)
    middle = slice(10, -10)  # pYIN's edges see half a frame
    assert voiced[middle].mean() > 0.9
    np.testing.assert_allclose(octaves[middle][voiced[middle] > 0], np.log2(220.0 / 100.0), atol=0.03)


def test_silence_has_no_voiced_frame_and_a_flat_contour() -> None:
    octaves, voiced = features.pitch_track(np.zeros(SPEC.n_samples, np.float32), SPEC)
    assert not voiced.any()
    assert np.all(octaves == 0.0)


def test_male_actor_is_lower_than_female_actor(sample_clips: list[Path]) -> None:
    # RAVDESS: odd actors are male, even female; the fixture's first two clips are Actor_01 and Actor_02
    male, female = (audio.load(p) for p in sample_clips[:2])
    assert "Actor_01" in str(sample_clips[0]) and "Actor_02" in str(sample_clips[1])
    assert _voiced_median_octaves(male) + 0.5 < _voiced_median_octaves(female)  # half an octave apart at least


@pytest.mark.parametrize("kind", PITCH_KINDS)
def test_pitch_kinds_have_their_shape_and_batch_equals_one_by_one(sample_clips: list[Path], kind: str) -> None:
    spec = FeatureSpec(kind=kind, pitch=True, hop_length=320)
    signals = [audio.load(p) for p in sample_clips[:3]]
    batch = features.compute_batch(signals, spec)
    assert batch.shape == (3, *spec.shape)
    assert np.all(np.isfinite(batch))
    np.testing.assert_allclose(batch[1], features.compute(signals[1], spec), atol=1e-4)


def test_every_kind_carries_the_same_pitch_rows(sample_clips: list[Path]) -> None:
    y = audio.load(sample_clips[0])
    track = features.pitch_track(prepare(y, SPEC), SPEC)  # (2, T)
    logmel = features.compute(y, SPEC)  # (T, n_mels, 3): the pitch rows repeated over the mel bands
    np.testing.assert_array_equal(logmel[:, :, 1:], np.broadcast_to(track.T[:, None, :], logmel[:, :, 1:].shape))
    frames = features.compute(y, FeatureSpec(kind="frames", pitch=True, hop_length=320))
    np.testing.assert_array_equal(frames[:, 2:], track.T)
    stats = features.compute(y, FeatureSpec(kind="stats", pitch=True, hop_length=320))
    plain = features.compute(y, FeatureSpec(kind="stats", hop_length=320))
    half = len(stats) // 2
    np.testing.assert_allclose(stats[half - 2:half], track.mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(np.delete(stats, [half - 2, half - 1, -2, -1]), plain, rtol=1e-5)


@pytest.mark.parametrize(("values", "match"), [({"kind": "mfcc"}, "pitch works with"),
                                               ({"pitch_fmin": 40.0}, "longer than half of n_fft"),
                                               ({"pitch_fmax": 50.0}, "pitch_fmin < pitch_fmax")])
def test_spec_refuses_pitch_settings_it_cannot_compute(values: dict[str, object], match: str) -> None:
    with pytest.raises(SerappError, match=match):
        FeatureSpec(pitch=True, **values)
