"""Small real ONNX models for tests, built with onnx.helper: mean over the feature axes but the last, a
fixed MatMul, Softmax. They carry serapp metadata like the trainer's exports; broken variants for refusal tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from serapp.engine.labels import EMOTIONS
from serapp.engine.modelmeta import ModelInfo
from serapp.engine.spec import FeatureSpec

IR_VERSION = 8
OPSET = 17


def build_model(spec: FeatureSpec, labels: Sequence[str] = EMOTIONS, *, seed: int = 0,
                input_shape: Sequence[int | str] | None = None, n_outputs: int | None = None,
                metadata: dict[str, str] | None = None, temperature: float = 1.0) -> onnx.ModelProto:
    """A model ``(batch, *spec.shape)`` -> softmax probabilities ``(batch, len(labels))``.

    The input is averaged over time (axis 1; not for 1-D stats), flattened, then projected by a fixed random
    matrix. ``input_shape``/``n_outputs``/``metadata`` override the consistent defaults to make broken models.
    """
    shape = list(input_shape) if input_shape is not None else ["batch", *spec.shape]
    width = n_outputs if n_outputs is not None else len(labels)
    rank = len(spec.shape) + 1
    feat = int(np.prod(spec.shape[1:])) if rank > 2 else spec.shape[0]
    rng = np.random.default_rng(seed)
    weights = (rng.standard_normal((feat, width)) / np.sqrt(feat)).astype(np.float32)
    nodes = []
    pooled = "x"
    if rank > 2:  # average over time (axis 1), then flatten what is left
        nodes += [helper.make_node("ReduceMean", ["x"], ["mean"], axes=[1], keepdims=0),
                  helper.make_node("Flatten", ["mean"], ["pooled"], axis=1)]
        pooled = "pooled"
    inits = [numpy_helper.from_array(weights, "w")]
    nodes += [helper.make_node("MatMul", [pooled, "w"], ["logits"]),
              helper.make_node("Softmax", ["logits"], ["probs"], axis=-1)]
    graph = helper.make_graph(nodes, "serapp_test",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", width])],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="serapp-tests")
    model.ir_version = IR_VERSION
    props = metadata if metadata is not None else ModelInfo(
        labels=tuple(labels), spec=spec, name="test-model", family="test", temperature=temperature).to_metadata()
    helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    return model


def build_adaptable_model(spec: FeatureSpec, labels: Sequence[str] = EMOTIONS, *, adapt_clips: int = 2,
                          outputs: Sequence[str] = ("probs", "adapted_probs", "embedding")) -> onnx.ModelProto:
    """An adaptable model as ``serapp-train export --adapted`` writes one: :func:`build_model`'s plain head on the
    time-averaged features (the ``embedding``, ``(batch, prod(spec.shape[1:]))``), and a second head (another
    fixed matrix) on the embedding less the optional ``speaker_mean`` input (zeros unless given). ``outputs`` may
    leave some out (a damaged file)."""
    n_mels = int(np.prod(spec.shape[1:]))
    rng = np.random.default_rng(1)
    w, w2 = (rng.standard_normal((n_mels, len(labels))).astype(np.float32) for _ in range(2))
    nodes = [helper.make_node("ReduceMean", ["x"], ["avg"], axes=[1], keepdims=0),
             helper.make_node("Flatten", ["avg"], ["embedding"], axis=1),
             helper.make_node("MatMul", ["embedding", "w"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
             helper.make_node("Sub", ["embedding", "speaker_mean"], ["centred"]),
             helper.make_node("MatMul", ["centred", "w2"], ["logits2"]),
             helper.make_node("Softmax", ["logits2"], ["adapted_probs"], axis=-1)]
    shapes = {"probs": ["batch", len(labels)], "adapted_probs": ["batch", len(labels)], "embedding": ["batch", n_mels]}
    graph = helper.make_graph(
        nodes, "serapp_adaptable_test",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", *spec.shape]),
         helper.make_tensor_value_info("speaker_mean", TensorProto.FLOAT, ["one", n_mels])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, shapes[name]) for name in outputs],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(w2, "w2"),
                     numpy_helper.from_array(np.zeros((1, n_mels), np.float32), "speaker_mean")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="serapp-tests")
    model.ir_version = IR_VERSION
    helper.set_model_props(model, ModelInfo(labels=tuple(labels), spec=spec, name="adaptable", family="test",
                                            adapt_clips=adapt_clips, adapt_temperature=1.5).to_metadata())
    onnx.checker.check_model(model)
    return model


def save_model(path: Path, spec: FeatureSpec, labels: Sequence[str] = EMOTIONS, **kwargs: object) -> Path:
    """Build (see :func:`build_model`) and write to ``path``; returns ``path``."""
    onnx.save_model(build_model(spec, labels, **kwargs), str(path))  # type: ignore[arg-type]
    return path


def broken_models(folder: Path, spec: FeatureSpec) -> dict[str, Path]:
    """Files a serving engine must refuse, by what is wrong with them."""
    good = save_model(folder / "good.onnx", spec)
    meta = ModelInfo(labels=EMOTIONS, spec=spec).to_metadata()
    bad_json = dict(meta, **{"serapp.labels": "[not json"})
    unknown_kind = dict(meta, **{"serapp.feature_spec": spec.to_json().replace('"logmel"', '"wavelet"')})
    truncated = folder / "truncated.onnx"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = folder / "garbage.onnx"
    garbage.write_bytes(b"this is not an onnx model\n" * 10)
    return {
        "missing": folder / "absent.onnx",
        "no_metadata": save_model(folder / "nometa.onnx", spec, metadata={}),
        "bad_json": save_model(folder / "badjson.onnx", spec, metadata=bad_json),
        "unknown_kind": save_model(folder / "unknownkind.onnx", spec, metadata=unknown_kind),
        # built for 65 mel bands but labelled with a 64-band spec
        "wrong_input_shape": save_model(folder / "wrongshape.onnx", spec.replace(n_mels=spec.n_mels + 1),
                                        metadata=meta),
        "wrong_output_width": save_model(folder / "wrongwidth.onnx", spec, n_outputs=len(EMOTIONS) + 1),
        "truncated": truncated,
        "garbage": garbage,
        # says it checks for crowds, but has no crowd output
        "no_crowd_output": save_model(folder / "nocrowd.onnx", spec,
                                      metadata=dict(meta, **{"serapp.crowd_threshold": "0.9"})),
        "bad_crowd_threshold": save_model(folder / "badcrowd.onnx", spec,
                                          metadata=dict(meta, **{"serapp.crowd_threshold": "1.5"})),
    }
