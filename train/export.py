"""Keras model -> self-describing ONNX file, checked against Keras on real inputs before it is kept.

Conversion goes through tf2onnx, so it needs Keras on the TensorFlow backend. A model trained on another backend
(``KERAS_BACKEND=jax``) is exported from its ``model.keras`` checkpoint in a TensorFlow process
(``KERAS_BACKEND=tensorflow serapp-train export RUN_DIR``): the checkpoint format is the same on every backend.

The file carries :meth:`ModelInfo.to_metadata` in ``metadata_props`` (labels, feature spec, provenance,
calibration temperature), so the app needs nothing else. Calibration stays out of the graph: the engine
applies ``info.temperature``. ONNX is a protobuf of operators and weights: loading it never runs code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from serapp.atomic import replacing
from serapp.engine.modelmeta import ModelInfo
from serapp.errors import SerappError

from .scoring import HEADLINE

if TYPE_CHECKING:
    import keras
    import onnx

    from .config import TrainConfig

OPSET = 17
MAX_IR_VERSION = 10  # the newest IR onnxruntime 1.31 reads
INPUT_NAME = "features"
LICENSE_NOTE = ("Trained on emotional speech corpora whose licences are non-commercial (RAVDESS CC BY-NC-SA 4.0, "
                "TESS CC BY-NC-ND 4.0, SAVEE research use); this model inherits those terms: "
                "non-commercial use only.")


def require_tensorflow_backend() -> None:
    """Raise :class:`SerappError` unless Keras runs on TensorFlow, the only backend tf2onnx converts from."""
    import keras

    backend = keras.config.backend()
    if backend != "tensorflow":
        raise SerappError(f"ONNX export needs Keras on the TensorFlow backend, but this process runs {backend!r} "
                          "(KERAS_BACKEND). Train without --export, then export the run's model.keras in a "
                          "TensorFlow process: `KERAS_BACKEND=tensorflow serapp-train export RUN_DIR`.")


def to_onnx(model: keras.Model, input_shape: tuple[int, ...]) -> onnx.ModelProto:
    """Convert ``model`` with tf2onnx (opset 17) for float32 inputs ``(batch, *input_shape)``, any batch."""
    import tensorflow as tf
    import tf2onnx

    signature = (tf.TensorSpec((None, *input_shape), tf.float32, name=INPUT_NAME),)
    try:
        proto, _ = tf2onnx.convert.from_keras(model, input_signature=signature, opset=OPSET)
    except Exception as exc:  # tf2onnx raises assorted types; the user needs the family and the reason
        raise SerappError(f"Could not convert model {model.name!r} to ONNX: {exc}") from exc
    return proto


def code_layers(model: keras.Model) -> list[str]:
    """Names of ``Lambda`` layers in ``model`` and its nested models: layers that carry Python code, which a
    safe checkpoint cannot hold and an exported model must not depend on."""
    import keras

    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Lambda):
            found.append(layer.name)
        elif isinstance(layer, keras.Model):
            found += code_layers(layer)
    return found


def check_parity(proto_path: Path, model: keras.Model, inputs: np.ndarray, atol: float) -> float:
    """Max absolute difference between Keras and onnxruntime outputs on ``inputs`` ``(batch, *shape)``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(proto_path), options, providers=["CPUExecutionProvider"])
        ours = session.run(None, {session.get_inputs()[0].name: inputs})[0]
    except Exception as exc:  # onnxruntime's own exception types; the converted graph is unusable
        raise SerappError(f"onnxruntime cannot run the converted {model.name!r} model: {exc}") from exc
    import keras

    theirs = keras.ops.convert_to_numpy(model(inputs, training=False))  # eager: a handful of inputs
    if ours.shape != theirs.shape:
        raise SerappError(f"ONNX output shape {ours.shape} differs from Keras {theirs.shape}.")
    return float(np.max(np.abs(ours - theirs)))


def export_onnx(model: keras.Model, info: ModelInfo, path: Path, parity_inputs: np.ndarray, *,
                atol: float = 1e-4, extra_metadata: dict[str, str] | None = None) -> Path:
    """Write ``model`` to ``path`` as ONNX with ``info`` (and ``extra_metadata``, e.g. a distilled model's teacher
    record, :func:`serapp_train.provenance.metadata`) as metadata; returns ``path``.

    ``parity_inputs``: real features ``(batch, *info.spec.shape)`` float32 (a handful of clips). The converted
    file is written beside ``path`` under a temporary name, run in onnxruntime and compared with Keras; only
    when the largest absolute probability difference is ``<= atol`` does it replace ``path`` (atomic rename).
    Otherwise the temporary file is removed, ``path`` is left as it was, and :class:`SerappError` is raised
    (also when Keras does not run on TensorFlow: see :func:`require_tensorflow_backend`).
    """
    import onnx

    require_tensorflow_backend()
    path = Path(path)
    lambdas = code_layers(model)
    if lambdas:
        raise SerappError(f"Model {model.name!r} has Lambda layers ({', '.join(lambdas)}); models must be built "
                          "from standard (or registered) layers so that loading one never runs code.")
    shape = tuple(info.spec.shape)
    model_shape = tuple(model.input_shape[1:])
    if model_shape != shape:
        raise SerappError(f"Model input {model_shape} does not match the feature spec's {shape}; "
                          "export with the spec the model was trained on.")
    n_out = int(model.output_shape[-1])
    if n_out != len(info.labels):
        raise SerappError(f"Model has {n_out} outputs but {len(info.labels)} labels were given.")
    if not atol >= 0:
        raise SerappError(f"The parity tolerance atol must be >= 0, got {atol}.")
    inputs = np.ascontiguousarray(parity_inputs, dtype=np.float32)
    if inputs.ndim != len(shape) + 1 or tuple(inputs.shape[1:]) != shape or len(inputs) == 0:
        raise SerappError(f"Parity inputs must be real features of shape (batch, {', '.join(map(str, shape))}), "
                          f"got {inputs.shape}.")

    proto = to_onnx(model, shape)
    if proto.ir_version > MAX_IR_VERSION:
        raise SerappError(f"tf2onnx wrote ONNX IR {proto.ir_version}; onnxruntime reads up to {MAX_IR_VERSION}.")
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, {**(extra_metadata or {}), **info.to_metadata()})

    with replacing(path) as tmp:
        tmp.write_bytes(proto.SerializeToString())
        diff = check_parity(tmp, model, inputs, atol)
        if not diff <= atol:  # also catches NaN
            raise SerappError(f"ONNX export of {info.name!r} disagrees with Keras: max |difference| {diff:.2e} "
                              f"> {atol:.0e} on {len(inputs)} inputs; the file was not written.")
    return path


def _probabilities(path: Path, inputs: np.ndarray) -> np.ndarray:
    """The model at ``path``'s first output on ``inputs`` (one intra-op thread, CPU)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: np.asarray(inputs, np.float32)})[0]


def _smaller_copy(src: Path, dst: Path, info: ModelInfo, parity_inputs: np.ndarray, what: str,
                  write: Callable[[Path], Any]) -> float:
    """Write a smaller copy of ``src`` to ``dst`` with ``write(tmp)``, give it ``info`` as metadata with notes that
    say ``what`` was done to its weights, keeping ``src``'s other records (a distilled model's teachers, the run of
    its encoder), and return the largest absolute probability difference from ``src`` on ``parity_inputs``.
    Atomic; :class:`SerappError` when the copy or its check fails."""
    import onnx

    # The writers (onnxruntime's quantiser among them) do not keep every metadata entry: take them from src.
    records = {p.key: p.value for p in onnx.load(str(src), load_external_data=False).metadata_props}
    with replacing(Path(dst)) as tmp:
        try:
            write(tmp)
            proto = onnx.load(str(tmp))
            del proto.metadata_props[:]
            onnx.helper.set_model_props(
                proto, records | dataclasses.replace(info, notes=f"{info.notes}; {what}").to_metadata())
            tmp.write_bytes(proto.SerializeToString())
            diff = float(np.max(np.abs(_probabilities(tmp, parity_inputs) - _probabilities(Path(src), parity_inputs))))
        except Exception as exc:  # onnxruntime's and onnx's own types; the copy is unusable
            raise SerappError(f"Could not write {dst} ({what}): {exc}") from exc
    return diff


def quantize_int8(src: Path, dst: Path, info: ModelInfo, parity_inputs: np.ndarray) -> float:
    """Write ``src`` (an exported float32 model) to ``dst`` with its weights quantised to int8 (onnxruntime's
    dynamic quantisation: MatMul and Gemm weights stored as int8 with a scale per output channel, activations
    quantised per call), with ``info`` (the float model's) as metadata, its notes saying the weights are int8;
    returns the largest absolute probability difference from ``src`` on ``parity_inputs``.

    Per channel, not one scale per weight matrix: the Whisper encoder's matrices have columns of very different
    ranges, and one scale each cost the default head more validation UAR than issue 29 allows (half a point);
    per channel it kept its float32 file's (decision 0026), for a few more bytes.

    A quarter of the size and faster on CPU; whether it keeps the accuracy is for an evaluation on validation
    speakers to say (``serapp-train evaluate --model DST --split RUN/split.json --part val``), not this check.
    Atomic like :func:`export_onnx`; :class:`SerappError` when quantisation or the quantised model fails.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    return _smaller_copy(src, dst, info, parity_inputs, "weights quantised to int8 per channel (dynamic)",
                         lambda tmp: quantize_dynamic(str(src), str(tmp), weight_type=QuantType.QInt8,
                                                      per_channel=True))


# Float32 weights with fewer elements stay as they are: biases and norms are small, and halving them saves nothing.
FLOAT16_MIN_ELEMENTS = 1024


def store_float16(src: Path, dst: Path, info: ModelInfo, parity_inputs: np.ndarray) -> float:
    """Write ``src`` (an exported float32 model) to ``dst`` with its large weights stored as float16, each cast
    back to float32 by a ``Cast`` node, so the arithmetic stays float32 (onnxruntime folds the casts once, when the
    session starts; the CPU has few float16 kernels): half the size, with answers that differ only by the weights'
    rounding. ``info`` and the return value as :func:`quantize_int8`'s."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def write(tmp: Path) -> None:
        proto = onnx.load(str(src))
        graph = proto.graph
        casts, kept = [], []
        for init in graph.initializer:
            if init.data_type == TensorProto.FLOAT and int(np.prod(init.dims)) >= FLOAT16_MIN_ELEMENTS:
                half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), f"{init.name}__f16")
                kept.append(half)
                casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT,
                                              name=f"{init.name}__to_f32"))
            else:
                kept.append(init)
        del graph.initializer[:]
        graph.initializer.extend(kept)
        nodes = [*casts, *graph.node]
        del graph.node[:]
        graph.node.extend(nodes)
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))

    return _smaller_copy(src, dst, info, parity_inputs, "weights stored as float16 (float32 arithmetic)", write)


def model_info(config: TrainConfig, labels: Sequence[str], corpora: Sequence[str], split: dict[str, Any],
               metrics: dict[str, Any], temperature: float, name: str, origin: str = "") -> ModelInfo:
    """The :class:`ModelInfo` written into an exported model: labels, spec, provenance, headline metrics.

    ``split`` is the run's split record (``split.json``: name, sizes, speaker_independent); ``metrics`` its
    evaluation; ``origin`` an optional clause appended to the notes (e.g. how the file was exported).
    """
    import serapp

    independence = "speaker-independent" if split.get("speaker_independent", True) else \
        "speaker-DEPENDENT (random split)"
    notes = (f"{'validation' if config.all_speakers else 'test'} metrics on split {split.get('name', '?')}; "
             f"clips train/val/test {split.get('train', '?')}/{split.get('val', '?')}/{split.get('test', '?')}; "
             f"{independence}" + (f"; {origin}" if origin else ""))
    return ModelInfo(
        labels=tuple(labels), spec=config.feature_spec, name=name, family=config.family,
        version=serapp.__version__, created=datetime.now(UTC).isoformat(timespec="seconds"),
        corpora=tuple(sorted(set(corpora))), protocol=config.protocol_label,
        metrics={k: metrics[k] for k in HEADLINE if k in metrics}, temperature=temperature, license=LICENSE_NOTE,
        notes=notes)

