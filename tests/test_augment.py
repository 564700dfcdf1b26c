"""Augmentation: exact SNR and gain, mask counts, shapes, seeded determinism, and training-only application."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from serapp_train.augment import (
    AugmentConfig,
    add_noise_snr,
    apply_band_mask,
    apply_gain,
    augment_audio,
    augment_features,
    band_mask,
    mixup,
    shift_along,
)
from serapp_train.batches import Batches

from serapp.engine import audio
from serapp.engine.features import features_from_prepared, prepare_batch
from serapp.engine.spec import FeatureSpec
from serapp.errors import SerappError

SPEC = FeatureSpec(duration_s=1.0, n_mels=32, n_mfcc=20)


@pytest.fixture(scope="module")
def speech(sample_clips: list[Path]) -> np.ndarray:
    """Four real clips, prepared: ``(4, SPEC.n_samples)``."""
    return prepare_batch([audio.load(p, SPEC.sample_rate) for p in sample_clips[:4]], SPEC)


def measured_snr_db(clean: np.ndarray, noisy: np.ndarray) -> np.ndarray:
    noise = noisy.astype(np.float64) - clean
    return 10 * np.log10(np.mean(clean.astype(np.float64) ** 2, axis=-1) / np.mean(noise**2, axis=-1))


@pytest.mark.parametrize("color", ["white", "pink"])
@pytest.mark.parametrize("snr_db", [0.0, 10.0, 25.0])
def test_add_noise_snr_hits_the_asked_snr(speech: np.ndarray, color: str, snr_db: float) -> None:
    noisy = add_noise_snr(speech, snr_db, np.random.default_rng(1), color=color)
    assert noisy.shape == speech.shape and noisy.dtype == np.float32
    np.testing.assert_allclose(measured_snr_db(speech, noisy), snr_db, atol=0.5)
    # one clip alone, per-example SNRs
    single = add_noise_snr(speech[0], snr_db, np.random.default_rng(2), color=color)
    assert abs(measured_snr_db(speech[0], single) - snr_db) < 0.5
    per_example = add_noise_snr(speech, np.array([0.0, 5.0, 10.0, 20.0]), np.random.default_rng(3), color=color)
    np.testing.assert_allclose(measured_snr_db(speech, per_example), [0, 5, 10, 20], atol=0.5)


def test_pink_noise_is_weighted_to_low_frequencies(speech: np.ndarray) -> None:
    silent_free = np.ones((1, SPEC.n_samples), dtype=np.float32) * 0.1
    noise = add_noise_snr(silent_free, 0.0, np.random.default_rng(0), color="pink") - silent_free
    power = np.abs(np.fft.rfft(noise[0])) ** 2
    freqs = np.fft.rfftfreq(noise.shape[1], 1 / SPEC.sample_rate)
    assert power[(freqs > 50) & (freqs < 500)].mean() > 10 * power[freqs > 4000].mean()


def test_silence_stays_silent_and_bad_colour_is_refused() -> None:
    silent = np.zeros((2, 100), dtype=np.float32)
    assert not add_noise_snr(silent, 10.0, np.random.default_rng(0)).any()
    with pytest.raises(SerappError, match="noise colour"):
        add_noise_snr(silent, 10.0, np.random.default_rng(0), color="brown")


def test_apply_gain_scales_by_decibels_and_clips(speech: np.ndarray) -> None:
    quiet = speech * 0.1
    louder = apply_gain(quiet, 6.0)
    np.testing.assert_allclose(louder, quiet * 10 ** (6 / 20), rtol=1e-5)
    assert np.abs(apply_gain(speech, 40.0)).max() <= 1.0


def test_shift_fills_with_zeros_or_wraps() -> None:
    x = np.arange(1, 11, dtype=np.float32)[None, :].repeat(2, axis=0)
    out = shift_along(x, np.array([3, -2]))
    np.testing.assert_array_equal(out[0], [0, 0, 0, 1, 2, 3, 4, 5, 6, 7])
    np.testing.assert_array_equal(out[1], [3, 4, 5, 6, 7, 8, 9, 10, 0, 0])
    np.testing.assert_array_equal(shift_along(x, np.array([3, 0]), wrap=True)[0], np.roll(x[0], 3))


def test_shift_along_any_axis_matches_a_roll_or_a_zero_filled_slice() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 6, 9, 2)).astype(np.float32)  # shifted along axis 2 (length 9)
    shifts = np.array([4, -3, 11, -20])  # beyond the length too: a roll wraps, a shift leaves zeros
    rolled = shift_along(x, shifts, axis=2, wrap=True)
    shifted = shift_along(x, shifts, axis=2)
    for i, s in enumerate(shifts):
        np.testing.assert_array_equal(rolled[i], np.roll(x[i], s, axis=1))
        expected = np.zeros_like(x[i])
        if 0 <= s < 9:
            expected[:, s:] = x[i][:, :9 - s]
        elif -9 < s < 0:
            expected[:, :9 + s] = x[i][:, -s:]
        np.testing.assert_array_equal(shifted[i], expected)
    assert not shifted[2:].any()  # |shift| >= length: nothing left


def test_band_masks_zero_the_expected_count() -> None:
    rng = np.random.default_rng(0)
    x = np.ones((16, 50, 20, 1), dtype=np.float32)
    mask = band_mask(rng, 16, 50, n_bands=2, max_width=10)
    assert mask.shape == (16, 50)
    assert (mask.sum(axis=1) <= 20).all() and mask.any()
    masked = apply_band_mask(x, mask, axis=1, fill=0.0)
    # every masked frame zeroes all 20 bins of that frame, nothing else changes
    assert (masked == 0).sum() == mask.sum() * 20
    assert ((masked == 0).all(axis=(2, 3)) == mask).all()
    # one band of fixed width: exactly that many frames per example
    single = band_mask(rng, 8, 50, n_bands=1, max_width=0)
    assert not single.any()
    freq = apply_band_mask(x[:4], band_mask(rng, 4, 20, 1, 5), axis=2, fill=0.0)
    assert ((freq == 0).sum(axis=(1, 2, 3)) % 50 == 0).all()


def test_augmentation_keeps_shapes_and_repeats_with_a_seed(speech: np.ndarray) -> None:
    strong = dataclasses.replace(AugmentConfig.preset("strong"), slow_budget=0.5)
    a = augment_audio(speech, strong, np.random.default_rng(7), SPEC.sample_rate)
    b = augment_audio(speech, strong, np.random.default_rng(7), SPEC.sample_rate)
    c = augment_audio(speech, strong, np.random.default_rng(8), SPEC.sample_rate)
    assert a.shape == speech.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    feats = features_from_prepared(speech, SPEC)
    f1 = augment_features(feats, AugmentConfig.preset("spec"), np.random.default_rng(7), SPEC)
    f2 = augment_features(feats, AugmentConfig.preset("spec"), np.random.default_rng(7), SPEC)
    assert f1.shape == feats.shape
    np.testing.assert_array_equal(f1, f2)
    xm, ym = mixup(feats, np.eye(4, dtype=np.float32), 0.4, np.random.default_rng(0))
    assert xm.shape == feats.shape and np.allclose(ym.sum(axis=1), 1.0)


def test_slow_transforms_respect_the_budget(speech: np.ndarray) -> None:
    batch = np.repeat(speech, 4, axis=0)  # 16 examples
    only_stretch = AugmentConfig(p_stretch=1.0, slow_budget=0.25)
    out = augment_audio(batch, only_stretch, np.random.default_rng(0), SPEC.sample_rate)
    changed = ~np.all(np.isclose(out, batch, atol=1e-6), axis=1)
    assert changed.sum() == 4


def test_config_round_trips_and_refuses_bad_values(tmp_path: Path) -> None:
    cfg = AugmentConfig.preset("strong")
    assert AugmentConfig.from_dict(cfg.to_dict()) == cfg
    path = tmp_path / "aug.json"
    path.write_text('{"p_noise": 0.4, "snr_db": [5, 15]}')
    assert AugmentConfig.preset(str(path)).snr_db == (5.0, 15.0)
    with pytest.raises(SerappError, match="p_noise"):
        AugmentConfig(p_noise=1.5)
    with pytest.raises(SerappError, match="unknown settings"):
        AugmentConfig.from_dict({"p_nois": 0.1})
    with pytest.raises(SerappError, match="preset"):
        AugmentConfig.preset("medium")


def test_augmentation_applies_to_training_batches_only(speech: np.ndarray) -> None:
    feats = features_from_prepared(speech, SPEC)
    targets = np.array([0, 1, 0, 1])
    cfg = AugmentConfig.preset("strong")
    train = Batches(speech, targets, 2, SPEC, batch_size=4, augment=cfg, from_audio=True, shuffle=False)
    evaluation = Batches(speech, targets, 2, SPEC, batch_size=4, augment=None, from_audio=True, shuffle=False)
    x_eval, y_eval = evaluation[0]
    np.testing.assert_allclose(x_eval, feats, atol=1e-5)  # untouched: exactly the features of the clips
    np.testing.assert_array_equal(y_eval.argmax(axis=1), targets)
    x_train = train[0][0]
    assert x_train.shape == feats.shape and not np.allclose(x_train, feats, atol=1e-3)
    np.testing.assert_array_equal(x_train, train[0][0])  # same epoch and batch: same draw
    train.on_epoch_end()
    assert not np.array_equal(x_train, train[0][0])  # a new epoch draws anew


def test_keep_prefix_keeps_the_beginning_of_the_speech_centred() -> None:
    """An utterance's beginning, as the live display scores it while it grows, prepared like a short clip."""
    from serapp_train.augment import keep_prefix

    sr = 16000
    y = np.zeros(3 * sr, np.float32)
    y[sr // 2:5 * sr // 2] = np.linspace(0.1, 1.0, 2 * sr, dtype=np.float32)  # 2 s of "speech", rising
    cut = keep_prefix(y, 0.5, sr)
    nonzero = np.flatnonzero(cut)
    assert cut.shape == y.shape and nonzero.size == sr // 2
    assert nonzero[0] == (3 * sr - sr // 2) // 2  # centred
    np.testing.assert_array_equal(cut[nonzero], y[sr // 2:sr])  # the first half second, in order
    np.testing.assert_array_equal(keep_prefix(y, 5.0, sr)[sr // 2:5 * sr // 2], y[sr // 2:5 * sr // 2])
    silent = np.zeros(100, np.float32)
    assert keep_prefix(silent, 1.0, sr) is silent


def test_partial_augmentation_cuts_about_its_share_of_a_batch() -> None:
    sr = 16000
    batch = np.ones((200, 3 * sr), np.float32)
    out = augment_audio(batch, AugmentConfig(p_partial=0.5, partial_s=(0.5, 1.0)), np.random.default_rng(0), sr)
    cut = np.count_nonzero(out, axis=1) <= sr
    assert 0.35 < cut.mean() < 0.65
    assert np.all(np.count_nonzero(out[~cut], axis=1) == 3 * sr)
