"""Models that load but lie, generated from the test model of tests/onnx_models.py: outputs that are not
probabilities (logits, scaled, shifted, all zeros, integers), a fixed batch axis, a spec needing gigabytes per
window, graphs onnxruntime refuses for a reason worth showing, and byte flips anywhere in the file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from serapp.engine.labels import EMOTIONS
from serapp.engine.modelmeta import ModelInfo
from serapp.engine.spec import FeatureSpec
from tests.onnx_models import build_model

SPEC = FeatureSpec()


def _with_output(model: onnx.ModelProto, nodes: list[onnx.NodeProto], name: str,
                 elem_type: int = TensorProto.FLOAT, inits: list[onnx.TensorProto] | None = None) -> onnx.ModelProto:
    """``model`` with ``nodes`` appended and ``name`` as its only output ``(batch, 7)``."""
    graph = model.graph
    graph.node.extend(nodes)
    graph.initializer.extend(inits or [])
    del graph.output[:]
    graph.output.extend([helper.make_tensor_value_info(name, elem_type, ["batch", len(EMOTIONS)])])
    return model


def scaled(factor: float, offset: float = 0.0) -> Callable[[onnx.ModelProto], onnx.ModelProto]:
    """Probabilities times ``factor`` plus ``offset`` (factor 5: "probabilities x 5"; factor 0: all zeros)."""
    def change(model: onnx.ModelProto) -> onnx.ModelProto:
        k = numpy_helper.from_array(np.array(factor, np.float32), "k")
        b = numpy_helper.from_array(np.array(offset, np.float32), "b")
        return _with_output(model, [helper.make_node("Mul", ["probs", "k"], ["scaled"]),
                                    helper.make_node("Add", ["scaled", "b"], ["out"])], "out", inits=[k, b])
    return change


def logits(model: onnx.ModelProto) -> onnx.ModelProto:
    """The scores before the softmax (a Keras model exported without its final activation)."""
    model.graph.node.pop()  # the Softmax
    return _with_output(model, [helper.make_node("Identity", ["logits"], ["out"])], "out")


def integers(model: onnx.ModelProto) -> onnx.ModelProto:
    """Probabilities cast to int64 (all zeros but, rarely, a one)."""
    return _with_output(model, [helper.make_node("Cast", ["probs"], ["out"], to=TensorProto.INT64)], "out",
                        TensorProto.INT64)


def one_hot_int(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rounded probabilities cast to int32: often a valid one-hot, but integers are not probabilities."""
    return _with_output(model, [helper.make_node("Round", ["probs"], ["rounded"]),
                                helper.make_node("Cast", ["rounded"], ["out"], to=TensorProto.INT32)], "out",
                        TensorProto.INT32)


# name -> graph change; each gives outputs that are not probabilities
NOT_PROBABILITIES: dict[str, Callable[[onnx.ModelProto], onnx.ModelProto]] = {
    "logits": logits, "times_5": scaled(5.0), "zeros": scaled(0.0), "halves": scaled(0.5),
    "shifted": scaled(1.0, 0.1), "negative": scaled(-1.0), "integers": integers, "one_hot_int": one_hot_int}


def lying_model(path: Path, change: Callable[[onnx.ModelProto], onnx.ModelProto], seed: int = 0) -> Path:
    """The test model (logmel spec, seven emotions) changed by ``change``, written to ``path``."""
    model = change(build_model(SPEC, seed=seed))
    onnx.save_model(model, str(path))
    return path


def fixed_batch_model(path: Path, batch: int) -> Path:
    """A model whose input declares a fixed batch of ``batch`` windows."""
    onnx.save_model(build_model(SPEC, input_shape=[batch, *SPEC.shape]), str(path))
    return path


def huge_spec_model(path: Path, **spec_fields: int | float) -> Path:
    """A model whose feature spec (valid field by field) needs gigabytes per window; the graph matches it."""
    spec = SPEC.replace(**spec_fields)
    # The graph itself is built for a small input: the refusal must come before any session runs.
    meta = ModelInfo(labels=EMOTIONS, spec=spec).to_metadata()
    onnx.save_model(build_model(SPEC, metadata=meta, input_shape=["batch", *spec.shape]), str(path))
    return path


def custom_domain_model(path: Path) -> Path:
    """A model using an operator from a domain onnxruntime does not know."""
    model = build_model(SPEC)
    model.graph.node.append(helper.make_node("Frobnicate", ["probs"], ["out"], domain="com.example.serapp"))
    model.opset_import.append(helper.make_opsetid("com.example.serapp", 1))
    del model.graph.output[:]
    model.graph.output.extend([helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 7])])
    onnx.save_model(model, str(path))
    return path


def future_opset_model(path: Path) -> Path:
    """A model asking for ONNX opset 99."""
    model = build_model(SPEC)
    model.opset_import[0].version = 99
    onnx.save_model(model, str(path))
    return path


def flip_bytes(data: bytes, n: int, rng: np.random.Generator) -> bytes:
    """``data`` with ``n`` bytes at random places replaced by random values."""
    out = bytearray(data)
    for pos in rng.integers(0, len(out), n):
        out[pos] = int(rng.integers(0, 256))
    return bytes(out)
