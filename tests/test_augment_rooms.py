"""The room and device augmentations: a laptop microphone's band, a telephone line, mu-law, lossy codecs and
reverberation do what their names say on synthetic signals; switched off, they leave the augmentation as it was."""

from __future__ import annotations

import numpy as np
import pytest
from serapp_train.augment import (
    CODECS,
    LAPTOP_BAND_HZ,
    AugmentConfig,
    augment_audio,
    band_limit,
    device_chain,
    mu_law,
    reverberate,
    telephone,
)

from serapp.errors import SerappError

SR = 16000


def _tone(hz: float, seconds: float = 1.0, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _db(y: np.ndarray, x: np.ndarray) -> float:
    """Level of ``y`` against ``x`` in dB over the second half (after the filters settle)."""
    half = len(x) // 2
    return 10 * np.log10(np.mean(np.square(y[half:])) / np.mean(np.square(x[half:])))


def test_a_laptop_band_keeps_the_voice_band_and_drops_rumble_and_air() -> None:
    for hz, low, high in ((1000, -1.0, 1.0), (60, -200, -20), (7500, -200, -10)):
        x = _tone(hz)
        assert low <= _db(band_limit(x, LAPTOP_BAND_HZ, SR), x) <= high, hz


def test_a_telephone_passes_1_khz_and_removes_5_khz_at_the_same_length() -> None:
    speech_band, air = _tone(1000), _tone(5000)
    assert telephone(speech_band, SR).shape == speech_band.shape
    assert -3.0 <= _db(telephone(speech_band, SR), speech_band) <= 1.0
    assert _db(telephone(air, SR), air) < -30.0
    np.testing.assert_array_equal(device_chain(air, "telephone", SR), telephone(air, SR))  # the one dispatch
    with pytest.raises(SerappError, match="Unknown device"):
        device_chain(air, "fax", SR)


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_a_lossy_codec_keeps_length_and_timing_but_not_every_detail(codec: str) -> None:
    # A voiced tone with harmonics and a syllable rhythm, as a codec tuned for speech meets it.
    t = np.arange(SR * 2) / SR
    x = (0.3 * sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 8)) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))
         ).astype(np.float32)
    y = device_chain(x, codec, SR)
    assert y.shape == x.shape and y.dtype == np.float32
    lag = int(np.argmax(np.correlate(y, x, "full"))) - (len(x) - 1)
    assert abs(lag) <= 2  # no codec delay left to shift the speech in its window
    snr = 10 * np.log10(np.sum(np.square(x)) / np.sum(np.square(y - x)))
    assert 3.0 < snr < 40.0, snr  # recognisable, and not a copy


def test_mu_law_keeps_a_sine_recognisable_but_quantised() -> None:
    x = _tone(440)
    y = mu_law(x)
    snr = 10 * np.log10(np.sum(np.square(x)) / np.sum(np.square(y - x)))
    assert 25.0 < snr < 60.0  # 8-bit companding: audible, not transparent
    assert len(np.unique(y)) <= 256


def test_reverberation_keeps_length_and_level_and_grows_a_tail_with_rt60() -> None:
    burst = np.zeros(SR, np.float32)
    burst[:1600] = _tone(500, 0.1)
    tails = []
    for rt60 in (0.2, 0.9):
        wet = reverberate(burst, rt60, SR, np.random.default_rng(0))
        assert wet.shape == burst.shape
        assert np.sqrt(np.mean(np.square(wet))) == pytest.approx(np.sqrt(np.mean(np.square(burst))), rel=1e-3)
        tails.append(float(np.sum(np.square(wet[4000:]))))  # energy from 0.15 s after the burst ends
    assert 0.0 < tails[0] < tails[1]


def test_rooms_switched_off_change_nothing_and_switched_on_change_the_audio() -> None:
    x = np.stack([_tone(300), _tone(800)])
    base = AugmentConfig(p_noise=1.0, p_gain=1.0)
    same = augment_audio(x, base, np.random.default_rng(3), SR)
    again = augment_audio(x, base.replace(p_reverb=0.0, p_device=0.0), np.random.default_rng(3), SR)
    np.testing.assert_array_equal(same, again)
    rooms = augment_audio(x, base.replace(p_reverb=1.0, p_device=1.0), np.random.default_rng(3), SR)
    assert rooms.shape == x.shape and not np.allclose(rooms, same)
    assert AugmentConfig(p_device=0.5).audio_enabled and AugmentConfig(p_reverb=0.5).audio_enabled


def test_codec_share_sends_device_draws_through_a_codec_and_left_at_zero_changes_nothing() -> None:
    t = np.arange(SR) / SR
    voiced = (0.3 * sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 8))).astype(np.float32)
    x = np.stack([voiced, voiced[::-1].copy()])
    devices = AugmentConfig(p_device=1.0)
    plain = augment_audio(x, devices, np.random.default_rng(5), SR)
    off = augment_audio(x, devices.replace(codec_share=0.0), np.random.default_rng(5), SR)
    np.testing.assert_array_equal(plain, off)
    coded = augment_audio(x, devices.replace(codec_share=1.0), np.random.default_rng(5), SR)
    # every example went through MP3 or Opus, not a band filter: each equals one codec's output of its input
    for got, y in zip(coded, x, strict=True):
        assert any(np.array_equal(got, device_chain(y, codec, SR)) for codec in CODECS)
    # the views' cache key: an option added later, left at its default, does not move the key of older configs
    assert "codec_share" not in devices.cache_text() and "codec_share" in devices.replace(codec_share=0.5).cache_text()
    assert devices.cache_text() != devices.replace(codec_share=0.5).cache_text()
    with pytest.raises(SerappError, match="codec_share"):
        AugmentConfig(codec_share=1.5)
