"""The Keras port of Whisper's encoder against ctranslate2's own ``Whisper.encode`` on real corpus clips: on the
clip's own frames (how the trainer uses it) and on the 30-s padded input Whisper was trained on, on TensorFlow and
(in a subprocess) on JAX; every layer's output; a saved model's round trip; plain errors."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from serapp_train.whisper.ctranslate2_reader import CT2Model
from serapp_train.whisper.encoder import build_encoder, encoder_shape, load_encoder_weights

from serapp.engine import audio, features
from serapp.engine.preprocess import prepare
from serapp.engine.spec import WHISPER_LOGMEL, FeatureSpec
from serapp.errors import SerappError
from tests.whisper_support import require_whisper_extra

SPEC = FeatureSpec(kind="whisper_logmel", **WHISPER_LOGMEL)
# The port's largest absolute difference from ctranslate2 (float32 compute) on any output value of the sample
# clips, whose outputs reach about 12 in magnitude: measured 3.3e-4 on TensorFlow and 2.2e-4 on JAX (float32
# sums in another order; the weights are the same float16 values widened).
TOLERANCE = 1e-3
PADDED_SAMPLES = 30 * 16000  # Whisper's 30-s input, 3000 frames


@pytest.fixture(scope="module")
def weights() -> CT2Model:
    require_whisper_extra()
    return load_encoder_weights()


@pytest.fixture(scope="module")
def reference() -> object:
    """ctranslate2's Whisper tiny.en, computing in float32 on one thread."""
    import ctranslate2

    return ctranslate2.models.Whisper(str(require_whisper_extra()), device="cpu", compute_type="float32",
                                      intra_threads=1)


@pytest.fixture(scope="module")
def prepared(sample_clips: list[Path]) -> np.ndarray:
    """The sample clips as the pipeline prepares them: ``(12, 48000)``, 3 s at 16 kHz."""
    return np.stack([prepare(audio.load(p, SPEC.sample_rate), SPEC) for p in sample_clips])


def ct2_encode(reference: object, x: np.ndarray) -> np.ndarray:
    """ctranslate2's encoder output of ``(batch, T, 80)`` features: ``(batch, T / 2, 384)``."""
    import ctranslate2

    channels_first = np.ascontiguousarray(x.transpose(0, 2, 1), dtype=np.float32)
    return np.array(reference.encode(ctranslate2.StorageView.from_array(channels_first)))  # type: ignore[attr-defined]


def test_matches_ctranslate2_on_the_clips_own_frames(weights: CT2Model, reference: object,
                                                     prepared: np.ndarray) -> None:
    x = features.whisper_log_mel(prepared, SPEC)  # (12, 300, 80): the pipeline's whisper_logmel
    np.testing.assert_array_equal(x, features.compute_batch(list(prepared), SPEC.replace(trim_silence=False)))
    want = ct2_encode(reference, x)
    got = np.asarray(build_encoder(weights, n_frames=x.shape[1]).predict(x, batch_size=4, verbose=0))
    assert got.shape == want.shape == (12, 150, 384)
    assert np.abs(want).max() > 5.0  # a real output, not a near-zero one every port would match
    assert np.abs(got - want).max() <= TOLERANCE


def test_matches_ctranslate2_on_the_30s_padded_input(weights: CT2Model, reference: object,
                                                     prepared: np.ndarray) -> None:
    # openai-whisper pads the audio with zeros to 30 s before its log-mel; two clips keep the test short
    padded = np.pad(prepared[[0, 4]], ((0, 0), (0, PADDED_SAMPLES - SPEC.n_samples)))
    x = features.whisper_log_mel(padded, SPEC)
    assert x.shape == (2, 3000, 80)
    want = ct2_encode(reference, x)
    got = np.asarray(build_encoder(weights, n_frames=3000).predict(x, batch_size=1, verbose=0))
    assert got.shape == want.shape == (2, 1500, 384)
    assert np.abs(got - want).max() <= TOLERANCE


def test_every_layer(weights: CT2Model, prepared: np.ndarray) -> None:
    x = features.whisper_log_mel(prepared[:2], SPEC)
    plain = np.asarray(build_encoder(weights, n_frames=300).predict(x, verbose=0))
    stacked = np.asarray(build_encoder(weights, n_frames=300, all_layers=True).predict(x, verbose=0))
    assert stacked.shape == (2, 5, 150, 384)  # embedded input, blocks 1-3, final normalised output
    np.testing.assert_allclose(stacked[:, -1], plain, atol=1e-6)
    for i in range(4):
        assert np.abs(stacked[:, i] - stacked[:, i + 1]).mean() > 0.05, f"layers {i} and {i + 1} are the same"


def test_saved_model_round_trip_and_frozen_positions(weights: CT2Model, prepared: np.ndarray,
                                                     tmp_path: Path) -> None:
    model = build_encoder(weights, n_frames=300)
    assert not model.get_layer("whisper_positions").trainable
    assert sum(int(np.prod(w.shape)) for w in model.non_trainable_weights) == 150 * 384
    model.save(tmp_path / "encoder.keras")
    again = keras.saving.load_model(tmp_path / "encoder.keras", safe_mode=True)
    x = features.whisper_log_mel(prepared[:1], SPEC)
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


def test_plain_errors(weights: CT2Model) -> None:
    assert encoder_shape(weights).max_input_frames == 3000
    with pytest.raises(SerappError, match="longer than the Whisper encoder takes"):
        build_encoder(weights, n_frames=3002)
    not_whisper = CT2Model(weights.path, 6, "TransformerSpec", 1, {"encoder/conv1/weight": np.zeros((4, 80, 3))}, {})
    with pytest.raises(SerappError, match="not a Whisper encoder"):
        encoder_shape(not_whisper)
    with pytest.raises(SerappError, match="no CTranslate2 model folders"):
        load_encoder_weights(Path(__file__).parent)


@pytest.mark.slow
def test_jax_backend_matches_ctranslate2(weights: CT2Model, reference: object, prepared: np.ndarray,
                                         tmp_path: Path) -> None:
    from tests.test_jax_backend import require_jax, run_python

    require_jax()
    x = features.whisper_log_mel(prepared[:4], SPEC)
    np.save(tmp_path / "x.npy", x)
    code = ("import sys, numpy as np, keras; "
            "from serapp_train.whisper.encoder import build_encoder, load_encoder_weights; "
            "assert keras.backend.backend() == 'jax'; x = np.load(sys.argv[1]); "
            "m = build_encoder(load_encoder_weights(), n_frames=x.shape[1]); "
            "np.save(sys.argv[2], np.asarray(m.predict(x, verbose=0)))")
    done = run_python(["-c", code, str(tmp_path / "x.npy"), str(tmp_path / "y.npy")], "jax")
    assert done.returncode == 0, done.stderr[-3000:]
    assert np.abs(np.load(tmp_path / "y.npy") - ct2_encode(reference, x)).max() <= TOLERANCE
