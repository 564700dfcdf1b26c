"""The classifier with the Whisper encoder inside: its pooled layers equal what the embedding cache holds, and it
exports to a self-describing ONNX file (parity-checked by the export) that the app's own loader runs, with only
the app's dependencies, giving Keras's probabilities on real clips."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from serapp_train.corpora import Clip
from serapp_train.export import export_onnx
from serapp_train.whisper.classifier import build_whisper_classifier
from serapp_train.whisper.ctranslate2_reader import CT2Model
from serapp_train.whisper.embeddings import DEFAULT_SPEC, embed
from serapp_train.whisper.encoder import load_encoder_weights

from serapp.engine import audio, features
from serapp.engine.labels import EMOTIONS
from serapp.engine.model import load_model
from serapp.engine.modelmeta import ModelInfo
from tests.whisper_support import require_whisper_extra

ATOL = 1e-4  # the export's parity tolerance on probabilities, as for every other family
MAX_MODEL_MB = 40  # the budget for the default model's file


@pytest.fixture(scope="module")
def weights() -> CT2Model:
    require_whisper_extra()
    return load_encoder_weights()


@pytest.fixture(scope="module")
def clip_features(sample_clips: list[Path]) -> np.ndarray:
    return features.compute_batch([audio.load(p, DEFAULT_SPEC.sample_rate) for p in sample_clips], DEFAULT_SPEC)


def _classifier(weights: CT2Model) -> keras.Model:
    model = build_whisper_classifier(weights, n_frames=DEFAULT_SPEC.shape[0], n_classes=len(EMOTIONS))
    # unequal layer weights, so the test sees the weighting, not a plain average
    model.get_layer("layer_weights").set_weights([np.array([0.5, -1.0, 0.0, 1.0, 2.0], np.float32)])
    return model


def test_frozen_encoder_and_cached_embeddings_agree(weights: CT2Model, sample_clips: list[Path],
                                                     clip_features: np.ndarray, tmp_path: Path) -> None:
    model = _classifier(weights)
    trainable = {w.path.split("/")[0] for w in model.trainable_weights}
    assert trainable == {"head_norm", "layer_weights", "head_hidden", "probs"}  # the encoder starts frozen
    pooled = keras.Model(model.input, model.get_layer("mean_std").output)
    clips = [Clip(path=p, corpus="test", label="neutral", speaker="test:0", sex=None, raw_label="n")
             for p in sample_clips[:3]]
    cached = embed(clips, cache_root=tmp_path, progress=False).values  # (3, 5, 768)
    np.testing.assert_allclose(pooled.predict(clip_features[:3], verbose=0), cached, atol=1e-4)


@pytest.mark.slow
def test_exports_and_runs_in_the_app(weights: CT2Model, clip_features: np.ndarray, tmp_path: Path) -> None:
    model = _classifier(weights)
    info = ModelInfo(labels=EMOTIONS, spec=DEFAULT_SPEC, name="whisper-test", family="whisper_tiny")
    path = export_onnx(model, info, tmp_path / "whisper.onnx", clip_features[:4], atol=ATOL)
    assert path.stat().st_size < MAX_MODEL_MB * 1e6
    served = load_model(path)  # the app's loader: metadata, input shape and a probability check on load
    assert served.info.spec == DEFAULT_SPEC and served.labels == EMOTIONS
    rest = clip_features[4:]
    want = keras.ops.convert_to_numpy(model(rest, training=False))
    got = served.predict(rest)
    assert np.abs(got - want).max() <= ATOL
    assert np.ptp(want, axis=0).max() > 1e-3  # the clips get different probabilities: a real comparison


def test_an_encoder_family_takes_audio_augmentation_through_views_only() -> None:
    from serapp_train.augment import AugmentConfig
    from serapp_train.config import TrainConfig

    from serapp.errors import SerappError

    TrainConfig(family="whisper_tiny")  # no augmentation: fine
    audio_only = AugmentConfig(p_noise=0.5, p_partial=0.5)
    TrainConfig(family="whisper_tiny", augment=audio_only, views=2)  # audio augmentation through cached views
    with pytest.raises(SerappError, match="cached encoder outputs"):
        TrainConfig(family="whisper_tiny", augment=AugmentConfig.preset("light"), views=2)  # spectrogram masks
    with pytest.raises(SerappError, match="through views"):
        TrainConfig(family="whisper_tiny", augment=audio_only)
    with pytest.raises(SerappError, match="through views"):
        TrainConfig(family="whisper_tiny", views=2)
    with pytest.raises(SerappError, match="encoder families"):
        TrainConfig(family="cnn2d", augment=audio_only, views=2)
    TrainConfig(family="whisper_tiny", prefix_views=1)  # beginnings alone: no other augmentation needed
    with pytest.raises(SerappError, match="prefix_views are for encoder families"):
        TrainConfig(family="cnn2d", prefix_views=1)
    with pytest.raises(SerappError, match="shortest first"):
        TrainConfig(family="whisper_tiny", prefix_views=1, prefix_s=(2.0, 1.0))
    attention = {"pooling": "attention"}
    TrainConfig(family="whisper_tiny", model_options=attention)  # on the frames cache of the clean clips
    with pytest.raises(SerappError, match="attention-pooling head"):
        TrainConfig(family="whisper_tiny", model_options=attention, augment=audio_only, views=2)
    top = TrainConfig(family="whisper_tiny", model_options={"top_blocks": 1}, augment=audio_only, views=2)
    assert top.encoder_cache == "frames"  # packed from the frames cache, views too


@pytest.mark.corpora
@pytest.mark.slow
def test_a_head_with_top_blocks_trains_on_packed_frames_of_the_clips_and_their_views(corpora: Path) -> None:
    """``top_blocks``: the training rows are the frames caches (clean clips, then the views) packed by
    :func:`pack_top_input`; a view's packed frames are the same augmented audio as its pooled view."""
    from serapp_train.augment import AugmentConfig
    from serapp_train.config import TrainConfig
    from serapp_train.data import load_data
    from serapp_train.whisper.classifier import pack_top_input
    from serapp_train.whisper.embeddings import embed_views

    require_whisper_extra()
    phone = AugmentConfig(p_device=1.0, telephone_share=1.0)
    config = TrainConfig(family="whisper_tiny", limit=8, k=3, augment=phone, views=1,
                         model_options={"top_blocks": 1})
    data = load_data(config, corpora, progress=False)
    pooled = load_data(config.replace(model_options={}), corpora, progress=False)  # the same rows, pooled
    assert data.features.shape[1:] == (2 * 3 + 150, 384) and data.features.dtype == np.float32
    np.testing.assert_array_equal(data.y, pooled.y)
    np.testing.assert_array_equal(data.split.train, pooled.split.train)
    below = data.features[:, :6].reshape(len(data.y), 3, 768)
    np.testing.assert_allclose(below, pooled.features[:, :3], atol=5e-3)  # views included
    n = len(data.clips) - len(data.split.train) // 2  # the clean clips, then one view of each training clip
    train = [i for i in data.split.train if i < n]
    frames = embed_views([data.clips[i] for i in train], phone, views=1, pooling="frames", progress=False)
    np.testing.assert_array_equal(data.features[n:], pack_top_input(frames[:, 0], top_blocks=1))


@pytest.mark.corpora
@pytest.mark.slow
def test_the_family_trains_its_head_on_the_cache_and_exports_the_encoder_with_it(corpora: Path,
                                                                                 tmp_path: Path) -> None:
    """`serapp-train train --family whisper_tiny --export`: the head fits on cached embeddings, and the exported
    file (encoder inside, whisper_logmel in) gives the head's probabilities: what was scored is what is served."""
    import json

    from serapp_train import cache
    from serapp_train.cli import main
    from serapp_train.config import TrainConfig
    from serapp_train.data import load_data
    from serapp_train.metrics import apply_temperature

    require_whisper_extra()
    runs = tmp_path / "runs"
    phone = tmp_path / "phone.json"  # augmented views: every training clip once more, through a telephone
    phone.write_text(json.dumps({"p_device": 1.0, "telephone_share": 1.0}))
    assert main(["train", "--family", "whisper_tiny", "--limit", "16", "--k", "3", "--seed", "1", "--epochs", "2",
                 "--batch-size", "16", "--quiet", "--root", str(corpora), "--runs-dir", str(runs), "--export",
                 "--augment", str(phone), "--views", "1"]) == 0
    (run,) = [p for p in runs.iterdir() if p.is_dir()]
    config = TrainConfig.from_dict(json.loads((run / "config.json").read_text()))
    served = load_model(run / "model.onnx")
    assert served.info.family == "whisper_tiny" and served.info.spec == DEFAULT_SPEC
    assert served.info.spec.shape == (300, 80)

    data = load_data(config, corpora, progress=False)
    assert data.features.shape[1:] == (5, 768)  # the head trained on the cached pooled layers
    clean = load_data(config.replace(views=0, augment=config.augment.replace(p_device=0.0)), corpora,
                      progress=False)
    n = len(clean.y)  # the views come after the clean clips, for training rows only
    assert len(data.y) == n + len(clean.split.train) and set(data.split.train) == {*clean.split.train,
                                                                                   *range(n, len(data.y))}
    np.testing.assert_array_equal(data.split.test, clean.split.test)
    np.testing.assert_array_equal(data.y[n:], clean.y[clean.split.train])
    prefixed = load_data(config.replace(prefix_views=1, prefix_s=(0.5, 0.5)), corpora, progress=False)
    m = len(data.y)  # prefix views follow the augmented ones, for training rows only
    assert len(prefixed.y) == m + len(clean.split.train) and len(prefixed.split.train) == len(data.split.train) + (
        len(clean.split.train))
    np.testing.assert_array_equal(prefixed.features[:m], data.features)
    np.testing.assert_array_equal(prefixed.y[m:], clean.y[clean.split.train])
    assert not np.allclose(prefixed.features[m:], clean.features[clean.split.train], atol=1e-2)  # half a second
    rows = data.split.test[:6]
    head = keras.saving.load_model(run / "model.keras", safe_mode=True)
    raw = keras.ops.convert_to_numpy(head(data.features[rows], training=False))
    want = apply_temperature(raw, served.info.temperature)  # the app serves calibrated probabilities
    logmel = cache.features([data.clips[i] for i in rows], DEFAULT_SPEC, progress=False).features
    assert np.abs(served.predict(logmel) - want).max() <= ATOL
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n"] == len(data.split.test) and 0.0 <= metrics["uar"] <= 1.0


@pytest.mark.slow
def test_an_attention_head_on_cached_frames_exports_behind_the_encoder(weights: CT2Model, sample_clips: list[Path],
                                                                       clip_features: np.ndarray,
                                                                       tmp_path: Path) -> None:
    """A head that pools the frames itself (``pooling="attention"``) trains on the ``frames`` cache; behind the
    encoder (:func:`with_encoder`) and exported, it gives the head's probabilities on those frames."""
    from serapp_train.whisper.classifier import build_whisper_head, with_encoder

    from serapp.errors import SerappError

    clips = [Clip(path=p, corpus="test", label="neutral", speaker="test:0", sex=None, raw_label="n")
             for p in sample_clips[:4]]
    frames = embed(clips, pooling="frames", cache_root=tmp_path, progress=False).values  # (4, 5, 150, 384) f16
    head = build_whisper_head(frames.shape[1:], len(EMOTIONS), pooling="attention", hidden=32)
    head.get_layer("layer_weights").set_weights([np.array([0.5, -1.0, 0.0, 1.0, 2.0], np.float32)])
    want = keras.ops.convert_to_numpy(head(frames.astype(np.float32), training=False))
    model = with_encoder(head, weights, n_frames=DEFAULT_SPEC.shape[0], pooling="attention", hidden=32)
    assert not model.trainable_weights  # a served model: nothing left to fit
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(clip_features[:4], training=False)), want,
                               atol=2e-3)  # the cache holds the frames as float16
    info = ModelInfo(labels=EMOTIONS, spec=DEFAULT_SPEC, name="whisper-attention-test", family="whisper_tiny")
    served = load_model(export_onnx(model, info, tmp_path / "attention.onnx", clip_features[:4], atol=ATOL))
    assert np.abs(served.predict(clip_features[:4]) - want).max() <= 2e-3
    assert np.ptp(want, axis=0).max() > 1e-3  # the clips get different probabilities: a real comparison
    with pytest.raises(SerappError, match="rank 3"):
        build_whisper_head((5, 768), len(EMOTIONS), pooling="attention")


@pytest.mark.slow
def test_a_head_with_trainable_top_blocks_exports_with_them_in_the_encoder(weights: CT2Model,
                                                                            sample_clips: list[Path],
                                                                            clip_features: np.ndarray,
                                                                            tmp_path: Path) -> None:
    """``top_blocks``: the head recomputes the encoder's last blocks from the cached frames entering them (packed
    beside the pooled layers below). With the checkpoint's weights it pools what the ``meanstd`` cache holds;
    trained (here: changed), those blocks take the checkpoint's place in the exported encoder, which then gives
    the head's probabilities."""
    from serapp_train.whisper.classifier import build_whisper_head, pack_top_input, with_encoder

    from serapp.errors import SerappError

    clips = [Clip(path=p, corpus="test", label="neutral", speaker="test:0", sex=None, raw_label="n")
             for p in sample_clips[:4]]
    frames = embed(clips, pooling="frames", cache_root=tmp_path, progress=False).values  # (4, 5, 150, 384) f16
    pooled = embed(clips, cache_root=tmp_path, progress=False).values  # (4, 5, 768)
    packed = pack_top_input(frames, top_blocks=2)
    assert packed.shape == (4, 2 * 2 + 150, 384)
    np.testing.assert_allclose(packed[:, :4].reshape(4, 2, 768), pooled[:, :2], atol=5e-3)  # float16 frames in
    head = build_whisper_head(packed.shape[1:], len(EMOTIONS), top_blocks=2, hidden=32)
    assert {w.path.split("/")[0] for w in head.trainable_weights} >= {"whisper_block2_attention",
                                                                       "whisper_block3_ffn_out", "whisper_norm"}
    assert "whisper_block1_attention" not in {layer.name for layer in head.layers}
    recomputed = keras.Model(head.input, head.get_layer("mean_std").output)
    np.testing.assert_allclose(recomputed.predict(packed, verbose=0), pooled, atol=5e-3)

    block = head.get_layer("whisper_block3_ffn_out")  # a "trained" block: not the checkpoint's any more
    kernel, bias = block.get_weights()
    block.set_weights([kernel * 1.5, bias + 0.1])
    head.get_layer("layer_weights").set_weights([np.array([0.5, -1.0, 0.0, 1.0, 2.0], np.float32)])
    want = keras.ops.convert_to_numpy(head(packed, training=False))
    model = with_encoder(head, weights, n_frames=DEFAULT_SPEC.shape[0], top_blocks=2, hidden=32)
    assert not np.allclose(model.get_layer("whisper_block3_ffn_out").get_weights()[0],
                           weights.float32("encoder/layer_3/ffn/linear_1/weight").T)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(clip_features[:4], training=False)), want,
                               atol=2e-3)
    info = ModelInfo(labels=EMOTIONS, spec=DEFAULT_SPEC, name="whisper-top-blocks-test", family="whisper_tiny")
    served = load_model(export_onnx(model, info, tmp_path / "top.onnx", clip_features[:4], atol=ATOL))
    assert np.abs(served.predict(clip_features[:4]) - want).max() <= 2e-3
    assert np.ptp(want, axis=0).max() > 1e-3
    with pytest.raises(SerappError, match="top_blocks"):
        build_whisper_head(packed.shape[1:], len(EMOTIONS), top_blocks=1)  # packed for two blocks, not one
    with pytest.raises(SerappError, match="top_blocks"):
        build_whisper_head(packed.shape[1:], len(EMOTIONS), top_blocks=1, pooling="attention")
    with pytest.raises(SerappError, match="top_blocks"):
        pack_top_input(frames, top_blocks=5)
