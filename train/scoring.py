"""Scoring: class probabilities, metrics and calibration, for a model in training and for an exported ONNX model.

In training (:func:`predict_proba`, :func:`evaluate_rows`, :func:`calibrate`) a Keras model or scikit-learn estimator
is scored on rows of a run's :class:`~serapp_train.data.Data`. Exported (:func:`score`) an ONNX model is scored as
the app serves it (:func:`serapp.engine.model.load_model`: features from its own spec, its temperature applied) on
corpus clips, clean or degraded by a :class:`Condition` (noise, gain, a room, a device) applied to the prepared
window the model sees, with the same functions as training augmentation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from serapp.errors import SerappError

from .augment import DEVICES

if TYPE_CHECKING:
    from serapp.engine.model import OnnxModel
    from serapp.engine.spec import FeatureSpec

    from .corpora import Clip
    from .data import Data
    from .metrics import Metrics

BATCH = 64  # clips per ONNX inference call
# The headline figures a model's metadata and tables carry.
HEADLINE: tuple[str, ...] = ("accuracy", "macro_f1", "weighted_f1", "uar")


# ---------------------------------------------------------------------------------------------- in training
def predict_proba(model: Any, x: np.ndarray, n_classes: int) -> np.ndarray:
    """Class probabilities ``(n, n_classes)`` from a Keras model or a scikit-learn estimator (whose columns
    cover only the classes it saw; absent ones get 0)."""
    if hasattr(model, "predict_proba"):
        out = np.zeros((len(x), n_classes), dtype=np.float32)
        if len(x):
            out[:, model.classes_] = model.predict_proba(x)
        return out
    return np.asarray(model.predict(x, batch_size=256, verbose=0), dtype=np.float32)


def calibrate(probs_val: np.ndarray, y_val: np.ndarray) -> dict[str, float]:
    """Temperature fitted on the validation speakers, with validation ECE before and after."""
    from . import metrics

    temperature = float(metrics.fit_temperature(probs_val, y_val))
    return {"temperature": temperature, "ece_val_before": float(metrics.ece(probs_val, y_val)),
            "ece_val_after": float(metrics.ece(metrics.apply_temperature(probs_val, temperature), y_val))}


def evaluate_rows(model: Any, data: Data, rows: np.ndarray, temperature: float,
                  probs: np.ndarray | None = None) -> dict[str, Any]:
    """Accuracy, macro-F1, weighted-F1, UAR, per-class, per-corpus and confusion on ``rows`` (computed once),
    plus ECE before and after calibration with ``temperature``. ``probs``: the model's uncalibrated
    probabilities ``(len(rows), n_labels)`` when already computed (else predicted here)."""
    from . import metrics

    if probs is None:
        probs = predict_proba(model, data.features[rows], len(data.labels))
    y = data.y[rows]
    report = metrics.report(y, probs.argmax(axis=1), data.labels, corpora=data.corpora_of(rows))
    report["ece_before"] = float(metrics.ece(probs, y))
    report["ece_after"] = float(metrics.ece(metrics.apply_temperature(probs, temperature), y))
    report["n"] = len(rows)
    return report


# ---------------------------------------------------------------------------------------------- exported models
def degrade(audio: np.ndarray, condition: Condition, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Prepared audio ``(batch, n_samples)`` through ``condition``, in the order of a real chain: the room's
    reverberation, its noise, the level, then the device (laptop microphone or telephone line)."""
    from .augment import add_noise_snr, apply_gain, device_chain, reverberate

    out = np.array(audio, dtype=np.float32)
    if condition.rt60_s is not None:
        out = np.stack([reverberate(y, condition.rt60_s, sample_rate, rng) for y in out])
    if condition.noise_snr is not None:
        out = add_noise_snr(out, condition.noise_snr, rng, color=condition.noise)
    if condition.gain_db is not None:
        out = apply_gain(out, condition.gain_db)
    if condition.device is not None:
        out = np.stack([device_chain(y, condition.device, sample_rate) for y in out])
    return out


def features_for(clips: Sequence[Clip], spec: FeatureSpec, condition: Condition) -> tuple[np.ndarray, list[Clip]]:
    """Features ``(n_kept, *spec.shape)`` of the clips that decode (cached), degraded first when asked."""
    from serapp.engine.features import features_from_prepared

    from . import cache

    if condition.clean:
        extracted = cache.features(clips, spec)
        return extracted.features, extracted.clips
    extracted = cache.prepared_audio(clips, spec)
    rng = np.random.default_rng(condition.seed)
    chunks = [features_from_prepared(degrade(extracted.audio[i:i + BATCH], condition, rng, spec.sample_rate), spec)
              for i in range(0, len(extracted.clips), BATCH)]
    return np.concatenate(chunks) if chunks else np.zeros((0, *spec.shape), np.float32), extracted.clips


def predict(model: OnnxModel, x: np.ndarray) -> np.ndarray:
    """Calibrated probabilities ``(n, n_labels)``, in batches with a progress bar."""
    from tqdm import tqdm

    out = [model.predict(x[i:i + BATCH]) for i in tqdm(range(0, len(x), BATCH), desc="inference", unit="batch")]
    return np.concatenate(out) if out else np.zeros((0, len(model.labels)), np.float32)


@dataclass(frozen=True)
class Condition:
    """How clips are degraded before features: noise (``white``/``pink``) at an SNR in dB, and/or a gain in dB."""

    noise_snr: float | None = None
    noise: str = "white"
    gain_db: float | None = None
    seed: int = 0
    device: str | None = None  # one of DEVICES
    rt60_s: float | None = None  # synthetic room reverberation time

    def __post_init__(self) -> None:
        if self.device is not None and self.device not in DEVICES:
            raise SerappError(f"Unknown device {self.device!r}: one of {', '.join(DEVICES)}.")
        if self.rt60_s is not None and not 0.05 <= self.rt60_s <= 3.0:
            raise SerappError(f"A reverberation time must be 0.05-3 s, got {self.rt60_s:g}.")

    @property
    def clean(self) -> bool:
        return self.noise_snr is None and self.gain_db is None and self.device is None and self.rt60_s is None

    def describe(self) -> str:
        """How the audio was degraded, in words (``clean`` when it was not)."""
        parts = []
        if self.rt60_s is not None:
            parts.append(f"room reverberation RT60 {self.rt60_s:g} s")
        if self.noise_snr is not None:
            parts.append(f"{self.noise} noise at {self.noise_snr:g} dB SNR")
        if self.gain_db is not None:
            parts.append(f"gain {self.gain_db:+g} dB")
        if self.device is not None:
            parts.append(f"{self.device} chain")
        return ", ".join(parts) or "clean"


@dataclass(frozen=True)
class Scored:
    """One evaluation: the metrics, the calibrated probabilities ``(n, n_labels)``, true label indices ``(n,)``
    and the clips that were scored."""

    metrics: Metrics
    probs: np.ndarray
    y: np.ndarray
    clips: list[Clip]
    condition: Condition

    def summary(self, model: OnnxModel) -> dict[str, Any]:
        """The ``metrics.json`` content: metrics, ECE, model, condition and speakers."""
        from . import metrics
        from .runfolder import from_checkout

        # the model named from the checkout's root: a record in docs/ reads the same in every clone
        return {**self.metrics.to_dict(), "ece": metrics.ece(self.probs, self.y),
                "log_loss": metrics.nll(self.probs, self.y), "model": from_checkout(model.path),
                "condition": self.condition.describe(), "speakers": sorted({c.speaker for c in self.clips})}


def score(model: OnnxModel, clips: Sequence[Clip], condition: Condition = Condition(),
          members: Sequence[OnnxModel] = ()) -> Scored:
    """Score ``model`` (as the app serves it, calibration included) on ``clips`` under ``condition``.

    With ``members`` the prediction is the mean probability of ``model`` and each member (an ensemble; each
    with its own features and temperature, columns in ``model``'s label order). Clips whose emotion the
    model does not predict are left out (and counted on stdout).
    """
    from . import metrics

    labels = model.labels
    for member in members:
        if set(member.labels) != set(labels):
            raise SerappError(f"{member.path.name} predicts {', '.join(member.labels)}, {model.path.name} "
                              f"{', '.join(labels)}: an ensemble's models must predict the same emotions.")
    scored = [c for c in clips if c.label in labels]
    if len(scored) < len(clips):
        print(f"left out {len(clips) - len(scored)} clips whose emotion the model does not predict")
    if not scored:
        raise SerappError(f"None of the clips has an emotion the model predicts ({', '.join(labels)}).")
    x, kept = features_for(scored, model.info.spec, condition)
    if not kept:
        raise SerappError("None of the clips could be decoded; see the warnings above.")
    probs = predict(model, x)
    for member in members:
        x_member, kept_member = features_for(scored, member.info.spec, condition)
        if [c.path for c in kept_member] != [c.path for c in kept]:
            raise SerappError(f"{member.path.name} could not decode the same clips as {model.path.name}.")
        probs += predict(member, x_member)[:, [member.labels.index(label) for label in labels]]
    probs /= 1 + len(members)
    y = np.array([labels.index(c.label) for c in kept])
    result = metrics.evaluate(y, probs, labels, corpora=[c.corpus for c in kept])
    return Scored(result, probs, y, kept, condition)

