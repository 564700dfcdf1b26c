"""Every model family builds, trains a step on real clip features and exports an ONNX model that
onnxruntime runs with the Keras outputs; builder validation; classical baselines; ImageNet weight handling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from serapp_train.models import (
    CLASSICAL,
    CLASSICAL_SPEC,
    ENCODER_FAMILIES,
    FAMILIES,
    IMAGENET_FAMILIES,
    build_classical,
    build_model,
)

from serapp.engine.labels import EMOTIONS
from serapp.engine.modelmeta import ModelInfo
from serapp.errors import SerappError
from tests.tiny_models import clip_features, tiny_spec

keras = pytest.importorskip("keras")
ort = pytest.importorskip("onnxruntime")

N_CLASSES = 4


def _families() -> list[object]:
    # encoder families build a head on the encoder's outputs, not on spec features: tests/test_whisper_export.py
    return [pytest.param(name, marks=pytest.mark.slow) if name in IMAGENET_FAMILIES else name for name in FAMILIES
            if name not in ENCODER_FAMILIES]


def _labels(n: int) -> np.ndarray:
    return np.arange(n) % N_CLASSES


@pytest.mark.corpora
@pytest.mark.parametrize("family", _families())
def test_family_trains_and_exports(family: str, sample_clips: list[Path], tmp_path: Path) -> None:
    from serapp_train.export import code_layers, export_onnx

    spec = tiny_spec(FAMILIES[family].spec)
    x = clip_features(sample_clips, spec)
    options = {"weights": None} if family in IMAGENET_FAMILIES else {}
    model = build_model(family, spec.shape, N_CLASSES, seed=1, **options)
    assert not code_layers(model)
    assert model.output_shape == (None, N_CLASSES)

    probs = keras.ops.convert_to_numpy(model(x))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # eager: tracing a graph for one step costs more than the step
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", run_eagerly=True)
    before = [w.copy() for w in model.get_weights()]
    loss = float(model.train_on_batch(x, _labels(len(x))))
    assert np.isfinite(loss)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))

    info = ModelInfo(labels=EMOTIONS[:N_CLASSES], spec=spec, name=f"test-{family}", family=family)
    path = export_onnx(model, info, tmp_path / f"{family}.onnx", x[:4])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(out, keras.ops.convert_to_numpy(model(x)), atol=1e-4)


def test_models_are_reproducible_and_sizes_reported() -> None:
    from serapp_train.models import count_params

    spec = tiny_spec(FAMILIES["crnn_small"].spec)
    a, b = (build_model("crnn_small", spec.shape, 7, seed=3) for _ in range(2))
    assert all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights(), strict=True))
    counts = count_params(a)
    assert 0 < counts["trainable"] < counts["total"] < 1_000_000  # batch-norm statistics are not trainable


def test_default_real_time_model_is_compact() -> None:
    from serapp_train.models import DEFAULT_FAMILY, count_params

    fam = FAMILIES[DEFAULT_FAMILY]
    assert count_params(build_model(DEFAULT_FAMILY, fam.spec.shape, len(EMOTIONS)))["total"] < 1_000_000


def test_cnn2d_width_scales_every_layer() -> None:
    from serapp_train.models import count_params

    full, half = (build_model("cnn2d", (101, 32, 1), 7, width_mult=w) for w in (1.0, 0.5))
    channels = [[layer.output.shape[-1] for layer in m.layers if "conv" in layer.name] for m in (full, half)]
    assert channels[0] == [16, 32, 64, 64, 128, 128]
    assert channels[1] == [c // 2 for c in channels[0]]
    assert full.output.shape[-1] == half.output.shape[-1] == 7
    ratio = count_params(half)["total"] / count_params(full)["total"]
    assert 0.2 < ratio < 0.3  # weights grow with channels squared


@pytest.mark.parametrize(("family", "shape", "options", "message"), [
    ("nope", (236,), {}, "Unknown model family"),
    ("mlp", (101, 32, 1), {}, "rank 1"),
    ("cnn2d", (101, 32, 1), {"dropuot": 0.1}, "no option"),
    ("cnn2d", (101, 32, 1), {"width_mult": 0}, "width_mult must be"),
    ("crnn_small", (101, 32, 1), {"name": "x"}, "no option"),
    ("vgg19", (32, 32, 3), {"name": "resnet50"}, "no option"),
])
def test_bad_build_arguments_are_refused(family: str, shape: tuple[int, ...], options: dict[str, object],
                                          message: str) -> None:
    with pytest.raises(SerappError, match=message):
        build_model(family, shape, 7, **options)


def test_missing_imagenet_weights_say_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(SerappError, match="weights=None"):
        build_model("mobilenetv3", (32, 32, 3), 7, weights="imagenet")
    with pytest.raises(SerappError, match="does not exist"):
        build_model("mobilenetv3", (32, 32, 3), 7, weights=str(tmp_path / "absent.h5"))


@pytest.mark.slow
def test_imagenet_weights_load_from_a_file(tmp_path: Path) -> None:
    from serapp_train.nets import build_imagenet

    donor = keras.applications.MobileNetV3Large(include_top=False, weights=None, input_shape=(32, 32, 3),
                                                pooling="avg", include_preprocessing=False)
    donor.set_weights([w + 0.5 for w in donor.get_weights()])  # unlike any fresh initialisation
    path = tmp_path / "base.weights.h5"
    donor.save_weights(str(path))
    model = build_imagenet("mobilenetv3", (32, 32, 3), 7, weights=path)
    base = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    assert all(np.array_equal(u, v) for u, v in zip(donor.get_weights(), base.get_weights(), strict=True))


@pytest.mark.corpora
def test_keras_checkpoint_loads_in_safe_mode(sample_clips: list[Path], tmp_path: Path) -> None:
    """The transformer carries the one custom layer: saved and loaded with safe_mode (no code) it predicts
    the same."""
    spec = tiny_spec(FAMILIES["transformer"].spec)
    x = clip_features(sample_clips[:4], spec)
    model = build_model("transformer", spec.shape, N_CLASSES)
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(again(x)), keras.ops.convert_to_numpy(model(x)), atol=1e-6)


@pytest.mark.corpora
@pytest.mark.parametrize("name", list(CLASSICAL))
def test_classical_baselines_fit_and_predict(name: str, sample_clips: list[Path]) -> None:
    x = clip_features(sample_clips, tiny_spec(CLASSICAL_SPEC))
    y = _labels(len(x))
    estimator = build_classical(name).fit(x, y)
    probs = estimator.predict_proba(x)
    assert probs.shape == (len(x), N_CLASSES)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    if name != "svm":  # a tree and distance-weighted KNN reproduce their training set
        assert np.array_equal(estimator.predict(x), y)
    with pytest.raises(SerappError, match="Unknown classical"):
        build_classical("forest")
