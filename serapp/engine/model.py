"""Serving a self-describing ONNX model: load, check against its own metadata, predict calibrated probabilities."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from serapp.engine.modelmeta import ModelInfo
from serapp.errors import SerappError
from serapp.paths import default_model_path


def session_options() -> Any:
    """onnxruntime options for real-time serving: one thread each, no spinning, sequential execution."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Spinning threads would burn a core between updates; the engine runs a few small inferences per second.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return opts


PROBABILITY_FLOOR = 1e-12  # probabilities are floored here before the log of temperature scaling


def calibrate(p: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature-scaled probabilities softmax(log p / T) along the last axis. ``(..., k)`` -> ``(..., k)``."""
    p = np.asarray(p, dtype=np.float64)
    logits = np.log(np.maximum(p, PROBABILITY_FLOOR)) / float(temperature)
    logits -= logits.max(axis=-1, keepdims=True)
    e = np.exp(logits)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def _dims_match(declared: list[Any], expected: tuple[int, ...]) -> bool:
    """Whether an ONNX input shape ``[batch, ...]`` agrees with ``expected`` (symbolic dims match anything)."""
    if len(declared) != len(expected) + 1:
        return False
    return all(not isinstance(d, int) or d == e for d, e in zip(declared[1:], expected, strict=True))


class OnnxModel:
    """An ONNX emotion model and what it says about itself.

    ``info`` holds labels, feature spec and temperature; ``path`` the file. :meth:`predict` maps features
    ``(batch, *info.spec.shape)`` float32 to calibrated probabilities ``(batch, len(info.labels))``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.info, self._session = _open(self.path)
        self.input_name: str = self._session.get_inputs()[0].name
        self.output_name: str = self._session.get_outputs()[0].name

    @property
    def labels(self) -> tuple[str, ...]:
        return self.info.labels

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for a batch of features. ``(batch, *spec.shape)`` -> ``(batch, n_labels)``."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        shape = self.info.spec.shape
        if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
            raise SerappError(f"Model {self.path} expects features of shape (batch, "
                              f"{', '.join(map(str, shape))}), got {x.shape}.")
        if x.shape[0] == 0:
            return np.zeros((0, len(self.info.labels)), dtype=np.float32)
        try:
            (out,) = self._session.run([self.output_name], {self.input_name: x})
        except Exception as exc:  # onnxruntime raises its own exception types
            raise SerappError(f"Model {self.path} failed to run ({exc}).") from exc
        out = np.asarray(out, dtype=np.float32).reshape(x.shape[0], -1)
        if not np.all(np.isfinite(out)):  # never serve NaN as an emotion
            raise SerappError(f"Model {self.path} gave invalid probabilities (NaN or infinity) for this "
                              "audio. Re-export the model; if it persists, please report it.")
        return calibrate(out, self.info.temperature)

    def __repr__(self) -> str:
        return f"OnnxModel({str(self.path)!r}, labels={list(self.info.labels)}, kind={self.info.spec.kind!r})"


def _open(path: Path) -> tuple[ModelInfo, Any]:
    """Read metadata and create the session; every way a file can be wrong becomes a :class:`SerappError`."""
    import onnxruntime as ort

    if not path.exists():
        raise SerappError(f"{path}: no such model file.")
    if path.is_dir():
        raise SerappError(f"{path}: is a folder, not an ONNX model file.")
    try:
        session = ort.InferenceSession(str(path), sess_options=session_options(),
                                       providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise SerappError(f"{path}: not a readable ONNX model (the file is damaged, truncated or of "
                          f"another kind). Re-export it with `serapp-train export`.") from exc
    props = dict(session.get_modelmeta().custom_metadata_map)
    try:
        info = ModelInfo.from_metadata(props, source=str(path))
    except SerappError as exc:  # e.g. a feature kind or setting this engine cannot compute
        message = str(exc)
        raise SerappError(message if str(path) in message else f"{path}: {message}") from exc
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or not outputs:
        raise SerappError(f"{path}: a serapp model has one input and one output; this one has "
                          f"{len(inputs)} inputs and {len(outputs)} outputs.")
    if not _dims_match(list(inputs[0].shape), info.spec.shape):
        raise SerappError(f"{path}: the model's input shape {list(inputs[0].shape)} disagrees with its feature "
                          f"spec, which gives (batch, {', '.join(map(str, info.spec.shape))}). Re-export the model.")
    out_shape = list(outputs[0].shape)
    width = out_shape[-1] if out_shape else None
    if len(out_shape) != 2 or (isinstance(width, int) and width != len(info.labels)):
        raise SerappError(f"{path}: the model's output shape {out_shape} disagrees with its "
                          f"{len(info.labels)} labels. Re-export the model.")
    return info, session


def load_model(path: str | Path | None = None) -> OnnxModel:
    """Load ``path``, or the bundled default model when ``None``. Raises :class:`SerappError` with a plain reason."""
    if path is None:
        path = default_model_path()
        if not path.exists():
            raise SerappError(f"The bundled model {path} is absent. Train and export one with "
                              "`serapp-train`, or pass --model PATH.")
    model = OnnxModel(path)
    _check_runs(model)
    return model


def _check_runs(model: OnnxModel) -> None:
    """Run one all-zero example, so a model whose graph fails or whose output width is wrong is refused now."""
    probs = model.predict(np.zeros((1, *model.info.spec.shape), dtype=np.float32))
    if probs.shape != (1, len(model.info.labels)):
        raise SerappError(f"{model.path}: the model gives {probs.shape[-1]} outputs for "
                          f"{len(model.info.labels)} labels. Re-export the model.")
