"""Serving a self-describing ONNX model: load, check against its own metadata, predict calibrated probabilities."""

from __future__ import annotations

import contextlib
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from serapp import bundle
from serapp.engine.modelmeta import ModelInfo
from serapp.engine.spec import FeatureSpec
from serapp.errors import SerappError
from serapp.paths import default_model_path, not_regular
from serapp.textsafe import shown_path, terminal_text


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity, where the OS has one); 0 when unknown."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


def session_options(threads: int = 1) -> Any:
    """onnxruntime options: ``threads`` intra-op threads (one for real-time serving), one inter-op thread, no
    spinning, sequential execution."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Spinning threads would burn a core between updates; the engine runs a few small inferences per second.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return opts


PROBABILITY_FLOOR = 1e-12  # probabilities are floored here before the log of temperature scaling
# A model's raw outputs must be probabilities: each in [0, 1] and each row summing to 1, within float32 rounding
# of a softmax (and of an ensemble's average of softmaxes). Logits, scaled or all-zero outputs are refused.
PROBABILITY_TOLERANCE = 1e-3
# Windows in the load check: more than one, so a model that declares or needs a fixed batch of 1 is caught.
CHECK_BATCH = 2
# Memory one window may need (the STFT and the features, float32), so a spec asking for gigabytes per window is
# refused when the model loads instead of failing (or swapping) on every file. The largest valid shipped kinds
# need a few MB.
MAX_WINDOW_BYTES = 256 * 2**20


def calibrate(p: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature-scaled probabilities softmax(log p / T) along the last axis. ``(..., k)`` -> ``(..., k)``."""
    p = np.asarray(p, dtype=np.float64)
    logits = np.log(np.maximum(p, PROBABILITY_FLOOR)) / float(temperature)
    logits -= logits.max(axis=-1, keepdims=True)
    e = np.exp(logits)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def probability_problem(out: np.ndarray) -> str:
    """Why raw model outputs ``(batch, k)`` are not probabilities, in words; "" when they are."""
    if not np.issubdtype(out.dtype, np.floating):
        return f"it gives {out.dtype} numbers, not probabilities"
    if not np.all(np.isfinite(out)):
        return "it gives invalid probabilities (NaN or infinity)"
    if out.size and (out.min() < -PROBABILITY_TOLERANCE or out.max() > 1 + PROBABILITY_TOLERANCE):
        return (f"its outputs range over {float(out.min()):.3g}..{float(out.max()):.3g}, so they are not "
                "probabilities (a model ending in logits, without its softmax?)")
    sums = out.astype(np.float64).sum(axis=-1)
    if out.size and np.any(np.abs(sums - 1.0) > PROBABILITY_TOLERANCE):
        worst = float(sums[np.argmax(np.abs(sums - 1.0))])
        return f"its outputs sum to {worst:.3g}, not 1, so they are not probabilities"
    return ""


def window_bytes(spec: FeatureSpec) -> int:
    """Bytes one analysis window needs at least: its complex STFT (``n_fft/2 + 1`` bins by ``n_frames``) and its
    features, float32."""
    stft = (spec.n_fft // 2 + 1) * spec.n_frames * 8
    return stft + int(np.prod(spec.shape, dtype=np.float64)) * 4


def _dims_match(declared: list[Any], expected: tuple[int, ...]) -> bool:
    """Whether an ONNX input shape ``[batch, ...]`` agrees with ``expected`` (symbolic dims match anything)."""
    if len(declared) != len(expected) + 1:
        return False
    return all(not isinstance(d, int) or d == e for d, e in zip(declared[1:], expected, strict=True))


class OnnxModel:
    """An ONNX emotion model and what it says about itself.

    ``info`` holds labels, feature spec and temperature; ``path`` the file. :meth:`predict` maps features
    ``(batch, *info.spec.shape)`` float32 to calibrated probabilities ``(batch, len(info.labels))``.
    ``threads``: onnxruntime's intra-op threads; one for live analysis (:func:`session_options`), more only for
    batch work such as ``serapp analyze`` (:func:`serapp.engine.analysis.file_threads`). The answers are the same.
    """

    def __init__(self, path: str | Path, *, threads: int = 1) -> None:
        if threads < 1:
            raise SerappError(f"A model needs at least one thread, got {threads}.")
        self.path = Path(path)
        self.threads = threads
        self.info, self._session = _open(self.path, threads)
        self.input_name: str = self._session.get_inputs()[0].name
        self.output_name: str = self._session.get_outputs()[0].name

    @property
    def adaptable(self) -> bool:
        """Whether the model can adapt to its speaker (see :mod:`serapp.engine.adaptation`)."""
        return self.info.adapt_clips > 0

    @property
    def labels(self) -> tuple[str, ...]:
        return self.info.labels

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for a batch of features. ``(batch, *spec.shape)`` -> ``(batch, n_labels)``."""
        return self.scores(x)[0]

    @property
    def crowd_checked(self) -> bool:
        """Whether the model carries a crowd check (a ``crowd`` output; see :class:`ModelInfo`)."""
        return self.info.crowd_threshold > 0

    def scores(self, x: np.ndarray, speaker_mean: np.ndarray | None = None, *, embeddings: bool = False
               ) -> tuple[np.ndarray, np.ndarray | None]:
        """Calibrated probabilities ``(batch, n_labels)`` for a batch of features ``(batch, *spec.shape)`` and, with
        ``embeddings`` (an adaptable model), the windows' embeddings ``(batch, *embedding shape)`` (else None).
        With ``speaker_mean`` (an adaptable model's
        :attr:`SpeakerMean.mean <serapp.engine.adaptation.SpeakerMean.mean>`) the probabilities are the adapted
        head's."""
        scored = self.score_windows(x, speaker_mean, embeddings=embeddings, crowd=False)
        return scored.probs, scored.embeddings

    def score_windows(self, x: np.ndarray, speaker_mean: np.ndarray | None = None, *, embeddings: bool = False,
                      crowd: bool = True) -> WindowScores:
        """What :meth:`scores` gives and, with ``crowd`` and a model that carries a crowd check, each window's
        crowd probability, from one run of the model."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        shape = self.info.spec.shape
        if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
            raise SerappError(f"Model {self.path} expects features of shape (batch, "
                              f"{', '.join(map(str, shape))}), got {x.shape}.")
        if (speaker_mean is not None or embeddings) and not self.adaptable:
            raise SerappError(f"Model {shown_path(self.path)} cannot adapt to its speaker.")
        crowd = crowd and self.crowd_checked
        if x.shape[0] == 0:
            return WindowScores(np.zeros((0, len(self.info.labels)), dtype=np.float32), None,
                                np.zeros(0, np.float32) if crowd else None)
        names = [ADAPTED_PROBS if speaker_mean is not None else self.output_name]
        names += [EMBEDDING] if embeddings else []
        names += [CROWD] if crowd else []
        feeds = {self.input_name: x}
        if speaker_mean is not None:
            feeds[SPEAKER_MEAN] = np.ascontiguousarray(speaker_mean, dtype=np.float32)[None]
        try:
            out, *extra = self._session.run(names, feeds)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise SerappError(f"Model {self.path} failed to run ({exc}).") from exc
        temperature = self.info.adapt_temperature if speaker_mean is not None else self.info.temperature
        probs = self._probabilities(np.asarray(out), x.shape[0], temperature)
        embedding = np.asarray(extra.pop(0), dtype=np.float32) if embeddings else None
        crowd_p = self._crowd(np.asarray(extra.pop(0)), x.shape[0]) if crowd else None
        return WindowScores(probs, embedding, crowd_p)

    def _crowd(self, out: np.ndarray, batch: int) -> np.ndarray:
        """Checked crowd probabilities ``(batch,)`` from the crowd output."""
        out = out.reshape(-1).astype(np.float32)
        if out.size != batch or not np.all((out >= 0.0) & (out <= 1.0)):  # NaN fails too
            raise SerappError(f"Model {shown_path(self.path)}: its crowd check gave {out.size} values that are not "
                              f"all probabilities for {batch} windows. Re-export the model.")
        return out

    def _probabilities(self, out: np.ndarray, batch: int, temperature: float) -> np.ndarray:
        """Checked, calibrated probabilities ``(batch, n_labels)`` from a head's raw output."""
        if out.size != batch * len(self.info.labels):
            raise SerappError(f"Model {shown_path(self.path)} gave {out.size} outputs for {batch} windows "
                              f"and {len(self.info.labels)} labels. Re-export the model.")
        out = out.reshape(batch, -1)
        # Never serve NaN, logits or any other non-probability as an emotion (calibrate() would hide them).
        problem = probability_problem(out)
        if problem:
            raise SerappError(f"Model {shown_path(self.path)}: {problem} for this audio. Re-export the model; if it "
                              "persists, please report it.")
        return calibrate(out.astype(np.float32), temperature)

    def __repr__(self) -> str:
        return f"OnnxModel({str(self.path)!r}, labels={list(self.info.labels)}, kind={self.info.spec.kind!r})"


# An adaptable model's optional input and extra outputs (written by serapp-train export RUN --onto MODEL).
SPEAKER_MEAN, ADAPTED_PROBS, EMBEDDING = "speaker_mean", "adapted_probs", "embedding"
# A crowd-checked model's extra output (written by serapp-train crowd).
CROWD = "crowd"


@dataclass(frozen=True)
class WindowScores:
    """One run of a model on a batch of windows: calibrated ``probs`` ``(batch, n_labels)``, the ``embeddings``
    ``(batch, *embedding shape)`` when asked, and the ``crowd`` probabilities ``(batch,)`` when the model carries
    a crowd check and they were asked for (else None)."""

    probs: np.ndarray
    embeddings: np.ndarray | None
    crowd: np.ndarray | None


def _open(path: Path, threads: int = 1) -> tuple[ModelInfo, Any]:
    """Read metadata and create the session; every way a file can be wrong becomes a :class:`SerappError`."""
    import onnxruntime as ort

    shown = shown_path(path)
    _check_regular(path, shown)
    try:
        # onnxruntime prints "EP Error ... Falling back" banners with print() when a session fails; on stdout they
        # would corrupt `analyze --json`. The reason is reported below instead.
        with contextlib.redirect_stdout(io.StringIO()):
            session = ort.InferenceSession(os.fsdecode(path), sess_options=session_options(threads),
                                           providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise SerappError(f"{shown}: not a readable ONNX model ({_ort_reason(exc, path)}). Re-export it with "
                          "`serapp-train export`.") from exc
    try:
        props = dict(session.get_modelmeta().custom_metadata_map)
    except UnicodeDecodeError as exc:  # metadata bytes that are not text: a damaged file
        raise SerappError(f"{shown}: has damaged metadata (not valid UTF-8 text). Re-export the model.") from exc
    try:
        info = ModelInfo.from_metadata(props, source=shown)
    except SerappError as exc:  # e.g. a feature kind or setting this engine cannot compute
        message = str(exc)
        raise SerappError(message if shown in message else f"{shown}: {message}") from exc
    need = window_bytes(info.spec)
    if need > MAX_WINDOW_BYTES:
        raise SerappError(f"{shown}: its feature spec needs {need / 2**20:,.0f} MB per window (at most "
                          f"{MAX_WINDOW_BYTES / 2**20:.0f} MB are allowed); the spec is damaged or not meant for "
                          "real-time use.")
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or not outputs:
        raise SerappError(f"{shown}: a serapp model has one input and one output; this one has "
                          f"{len(inputs)} inputs and {len(outputs)} outputs.")
    batch = list(inputs[0].shape)[:1]
    if batch and isinstance(batch[0], int):
        raise SerappError(f"{shown}: the model declares a fixed batch of {batch[0]}; serapp scores several windows "
                          "at once. Re-export it with a free batch axis.")
    if not _dims_match(list(inputs[0].shape), info.spec.shape):
        raise SerappError(f"{shown}: the model's input shape {list(inputs[0].shape)} disagrees with its feature "
                          f"spec, which gives (batch, {', '.join(map(str, info.spec.shape))}). Re-export the model.")
    out_shape = list(outputs[0].shape)
    width = out_shape[-1] if out_shape else None
    if len(out_shape) != 2 or (isinstance(width, int) and width != len(info.labels)):
        raise SerappError(f"{shown}: the model's output shape {out_shape} disagrees with its "
                          f"{len(info.labels)} labels. Re-export the model.")
    if outputs[0].type not in ("tensor(float)", "tensor(double)", "tensor(float16)"):
        raise SerappError(f"{shown}: the model gives {outputs[0].type} outputs, not probabilities. Re-export the "
                          "model.")
    if info.adapt_clips:
        have = {o.name for o in outputs} | {i.name for i in session.get_overridable_initializers()}
        lacking = sorted({SPEAKER_MEAN, ADAPTED_PROBS, EMBEDDING} - have)
        if lacking:
            raise SerappError(f"{shown}: says it adapts to its speaker but lacks {', '.join(lacking)}. Re-export "
                              "the model.")
    if info.crowd_threshold and CROWD not in {o.name for o in outputs}:
        raise SerappError(f"{shown}: says it checks for crowds but lacks its {CROWD!r} output. Re-export the model.")
    return info, session


def _check_regular(path: Path, shown: str) -> None:
    """Refuse a missing path, a folder, a named pipe or a device before onnxruntime opens it (a pipe would
    block the open forever). ``stat`` follows links, so a link to a model file is fine."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError as exc:
        raise SerappError(f"{shown}: no such model file.") from exc
    except OSError as exc:
        raise SerappError(f"{shown}: cannot be read ({exc.strerror or exc}).") from exc
    what = not_regular(mode)
    if what:
        raise SerappError(f"{shown}: {what}, not an ONNX model file.")


def _ort_reason(exc: Exception, path: Path) -> str:
    """onnxruntime's reason in one short line, without its status prefix and without the path (named already)."""
    text = " ".join(str(exc).split())
    for marker in ("failed:", "FAIL :", "INVALID_GRAPH :", "INVALID_PROTOBUF :", "NOT_IMPLEMENTED :"):
        text = text.split(marker, 1)[-1].strip() if marker in text else text
    text = text.replace(os.fsdecode(path), "the file").replace("[ONNXRuntimeError] :", "").strip()
    # A C++ source location and function signature may come first ("/src/x.h:46 void f(...) Opset 99 is ...").
    located = re.match(r"/\S+:\d+ .*?\)\s+(?=[A-Z])", text)
    text = text[located.end():] if located else text
    text = terminal_text(text).rstrip(".")
    return (text[:160] + "...") if len(text) > 160 else text or type(exc).__name__


def load_model(path: str | Path | None = None, *, threads: int = 1) -> OnnxModel:
    """Load ``path``, or the bundled default model when ``None``, with ``threads`` (see :class:`OnnxModel`).
    Raises :class:`SerappError` with a plain reason. A bundled model (by default or by path) is first checked
    against its manifest's size and SHA-256."""
    if path is None:
        path = default_model_path()
        if not path.exists():
            raise SerappError(f"The bundled model {path} is absent. Train and export one with "
                              "`serapp-train`, or pass --model PATH.")
    bundle.verify(path)  # before onnxruntime parses it: a damaged file is named as such, not as a bad graph
    model = OnnxModel(path, threads=threads)
    _check_runs(model)
    return model


def check_windows(spec: FeatureSpec) -> np.ndarray:
    """Features of :data:`CHECK_BATCH` realistic windows for the load check: a voiced tone with harmonics and a
    glide, and noise at speech level (fixed seed). ``(CHECK_BATCH, *spec.shape)`` float32."""
    from serapp.engine import features

    sr, n = spec.sample_rate, spec.n_samples
    t = np.arange(n) / sr
    f0 = 120.0 + 40.0 * t / max(t[-1], 1e-9)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voiced = sum(np.sin(k * phase) / k for k in range(1, 6)) * 0.1 * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))
    noise = np.random.default_rng(0).standard_normal(n) * 0.05
    return features.compute_batch([voiced.astype(np.float32), noise.astype(np.float32)], spec)


def _check_runs(model: OnnxModel) -> None:
    """Score a realistic batch of windows now, so a model whose graph fails, which cannot take a batch, or whose
    outputs are not probabilities (logits, scaled, all zeros, integers) is refused at load, not on every file."""
    x = check_windows(model.info.spec)
    shown = shown_path(model.path)
    try:
        (out,) = model._session.run([model.output_name], {model.input_name: x})
    except Exception as exc:  # onnxruntime raises its own exception types
        raise SerappError(f"{shown}: the model fails on a batch of {len(x)} windows "
                          f"({_ort_reason(exc, model.path)}). Re-export the model.") from exc
    out = np.asarray(out)
    if out.shape != (len(x), len(model.info.labels)):
        raise SerappError(f"{shown}: the model gives outputs of shape {list(out.shape)} for {len(x)} windows and "
                          f"{len(model.info.labels)} labels. Re-export the model.")
    problem = probability_problem(out)
    if problem:
        raise SerappError(f"{shown}: {problem}. Re-export the model with its softmax output.")
