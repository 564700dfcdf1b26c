"""ONNX export: metadata round-trip through a real onnxruntime session and the engine's loader, the parity
check refusing a graph that disagrees with Keras (nothing written), and argument validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from serapp_train.models import ENCODER_FAMILIES, FAMILIES, IMAGENET_FAMILIES, build_model

from serapp.engine.labels import EMOTIONS
from serapp.engine.modelmeta import ModelInfo
from serapp.errors import SerappError
from tests.tiny_models import clip_features, tiny_spec

keras = pytest.importorskip("keras")
ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

pytestmark = pytest.mark.corpora
FAMILY = "cnn1d"  # small and quick to convert


@pytest.fixture(scope="module")
def spec():
    return tiny_spec(FAMILIES[FAMILY].spec)


@pytest.fixture(scope="module")
def features(sample_clips: list[Path], spec) -> np.ndarray:
    return clip_features(sample_clips, spec)


def _info(spec, **changes: object) -> ModelInfo:
    values: dict[str, object] = {
        "labels": EMOTIONS, "spec": spec, "name": "export-test", "family": FAMILY, "version": "0.1.0",
        "created": "2026-01-01T00:00:00+00:00", "corpora": ("ravdess", "tess"), "protocol": "speaker 5-fold",
        "metrics": {"accuracy": 0.5, "uar": 0.45}, "temperature": 1.7, "license": "CC BY-NC-SA 4.0",
        "notes": "test"}
    return ModelInfo(**{**values, **changes})


def test_metadata_round_trip_and_engine_serves_it(spec, features: np.ndarray, tmp_path: Path) -> None:
    from serapp_train.export import MAX_IR_VERSION, OPSET, export_onnx

    from serapp.engine.model import calibrate, load_model

    model = build_model(FAMILY, spec.shape, len(EMOTIONS), seed=2)
    info = _info(spec)
    path = export_onnx(model, info, tmp_path / "sub" / "model.onnx", features[:4])
    assert path == tmp_path / "sub" / "model.onnx"
    assert [p.name for p in path.parent.iterdir()] == ["model.onnx"]  # no temporary file left behind

    proto = onnx.load(str(path))
    assert proto.ir_version <= MAX_IR_VERSION
    assert {op.domain: op.version for op in proto.opset_import}[""] == OPSET
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    props = session.get_modelmeta().custom_metadata_map
    assert ModelInfo.from_metadata(props) == info

    served = load_model(path)
    assert served.info == info
    raw = keras.ops.convert_to_numpy(model(features))
    np.testing.assert_allclose(served.predict(features), calibrate(raw, info.temperature), atol=1e-4)


def test_an_int8_copy_scales_each_output_channel_of_its_matrices(spec, features: np.ndarray, tmp_path: Path) -> None:
    """Int8 weights with one scale per output channel (decision 0026: one scale per matrix cost the default model
    validation UAR), serving nearly the float model's probabilities, with the float file's metadata and its
    other records (a teacher record)."""
    from onnx import TensorProto, numpy_helper
    from serapp_train.export import export_onnx, quantize_int8

    from serapp.engine.model import load_model

    model = build_model(FAMILY, spec.shape, len(EMOTIONS), seed=2)
    info = _info(spec)
    record = {"serapp.teachers": '{"format": 1}'}  # a distilled run's teacher record, as its export writes it
    path = export_onnx(model, info, tmp_path / "model.onnx", features[:4], extra_metadata=record)
    small = tmp_path / "model-int8.onnx"
    quantize_int8(path, small, info, features[:4])
    props = ort.InferenceSession(str(small), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    assert props["serapp.teachers"] == record["serapp.teachers"]  # the copy keeps the float file's records
    assert "int8" in ModelInfo.from_metadata(props).notes
    init = {i.name: i for i in onnx.load(str(small)).graph.initializer}
    matrices = [name for name, i in init.items() if i.data_type == TensorProto.INT8 and len(i.dims) == 2]
    assert matrices  # the dense layers' weights are stored as int8
    for name in matrices:
        scale = numpy_helper.to_array(init[name.removesuffix("_quantized") + "_scale"])
        assert scale.shape == (init[name].dims[1],) and np.unique(scale).size > 1, name
    assert load_model(small).info.name == info.name
    np.testing.assert_allclose(load_model(small).predict(features), load_model(path).predict(features), atol=0.05)


def test_disagreeing_graph_is_refused_and_nothing_is_written(spec, features: np.ndarray, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from serapp_train import export

    model = build_model(FAMILY, spec.shape, len(EMOTIONS), seed=2)
    other = build_model(FAMILY, spec.shape, len(EMOTIONS), seed=3)  # same graph, other weights
    real_to_onnx = export.to_onnx
    monkeypatch.setattr(export, "to_onnx", lambda _model, shape: real_to_onnx(other, shape))
    path = tmp_path / "model.onnx"
    path.write_bytes(b"an earlier model")
    with pytest.raises(SerappError, match="disagrees with Keras"):
        export.export_onnx(model, _info(spec), path, features[:4])
    assert path.read_bytes() == b"an earlier model"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


@pytest.mark.parametrize("case", ["spec", "labels", "parity-shape", "atol"])
def test_inconsistent_arguments_are_refused(case: str, spec, features: np.ndarray, tmp_path: Path) -> None:
    from serapp_train.export import export_onnx

    model = build_model(FAMILY, spec.shape, len(EMOTIONS))
    info, inputs, atol = _info(spec), features[:2], 1e-4
    if case == "spec":
        info = _info(spec.replace(duration_s=2.0))
    elif case == "labels":
        info = _info(spec, labels=("angry", "sad"))
    elif case == "parity-shape":
        inputs = features[:2, :50]
    else:
        atol = -1.0
    with pytest.raises(SerappError):
        export_onnx(model, info, tmp_path / "m.onnx", inputs, atol=atol)
    assert not any(tmp_path.iterdir())


def test_models_with_code_layers_are_refused(spec, features: np.ndarray, tmp_path: Path) -> None:
    from serapp_train.export import code_layers, export_onnx

    inp = keras.Input(spec.shape)
    x = keras.layers.Lambda(lambda t: t * 2.0, name="doubler")(inp)
    x = keras.layers.GlobalAveragePooling1D()(x)
    model = keras.Model(inp, keras.layers.Dense(len(EMOTIONS), activation="softmax")(x))
    assert code_layers(model) == ["doubler"]
    with pytest.raises(SerappError, match="Lambda layers"):
        export_onnx(model, _info(spec), tmp_path / "m.onnx", features[:2])
    assert not any(tmp_path.iterdir())
    assert all(not code_layers(build_model(name, tiny_spec(fam.spec).shape, 3))
               for name, fam in FAMILIES.items() if name not in (*IMAGENET_FAMILIES, *ENCODER_FAMILIES))
