"""What a model file says about itself: labels, feature spec and provenance, as ONNX ``metadata_props``.

The trainer writes these with :meth:`ModelInfo.to_metadata`; the engine reads them with
:meth:`ModelInfo.from_metadata`. A model needs nothing else to be served.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from serapp.engine.labels import RESERVED_WORDS, reserved_collision
from serapp.engine.spec import FeatureSpec
from serapp.errors import SerappError

FORMAT_VERSION = 1
PREFIX = "serapp."
REQUIRED_KEYS = ("format", "labels", "feature_spec")


@dataclass(frozen=True)
class ModelInfo:
    """Self-description of an exported model.

    ``labels`` name the model's output columns in order; ``spec`` gives the input features; ``temperature``
    is the calibration temperature T (probabilities are served as softmax(log p / T)).

    ``adapt_clips`` > 0 marks a model that can adapt to its speaker (:mod:`serapp.engine.adaptation`): besides
    ``features`` it takes an optional ``speaker_mean`` input and gives ``adapted_probs`` (a second head, on the
    embedding less that mean, calibrated by ``adapt_temperature``) and the ``embedding`` itself; the head was
    trained with means over ``adapt_clips`` utterances of each speaker.

    ``crowd_threshold`` > 0 marks a model that carries a crowd check (``serapp-train crowd``): a ``crowd`` output,
    the probability ``(batch,)`` that a window holds many voices at once (a hall's babble) rather than one
    speaker; an utterance whose windows average at least this is no speech (:mod:`serapp.engine.utterances`).
    """

    labels: tuple[str, ...]
    spec: FeatureSpec
    name: str = "unnamed"
    family: str = ""
    version: str = ""
    created: str = ""
    corpora: tuple[str, ...] = ()
    protocol: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    temperature: float = 1.0
    license: str = ""
    notes: str = ""
    adapt_clips: int = 0
    adapt_temperature: float = 1.0
    crowd_threshold: float = 0.0

    def __post_init__(self) -> None:
        labels = tuple(self.labels)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "corpora", tuple(self.corpora))
        if len(labels) < 2 or len(set(labels)) != len(labels) or not all(isinstance(x, str) and x for x in labels):
            raise SerappError(f"Model labels must be two or more distinct names, got {list(labels)}.")
        clash = reserved_collision(labels)
        if clash is not None:
            raise SerappError(f"The model has a label {clash!r}, a word serapp keeps for the absence of an "
                              f"emotion ({', '.join(RESERVED_WORDS)}); rename that label and export it again.")
        if not (0.05 <= float(self.temperature) <= 20.0):
            raise SerappError(f"Model temperature must be within 0.05-20, got {self.temperature}.")
        if not (0.05 <= float(self.adapt_temperature) <= 20.0) or not (0 <= int(self.adapt_clips) <= 10_000):
            raise SerappError(f"Model adaptation settings are out of range: {self.adapt_clips} utterances (0-10000), "
                              f"temperature {self.adapt_temperature} (0.05-20).")
        if not (0.0 <= float(self.crowd_threshold) < 1.0):
            raise SerappError(f"Model crowd threshold must be within 0 (no crowd check) and 1, got "
                              f"{self.crowd_threshold}.")

    def to_metadata(self) -> dict[str, str]:
        """String key/value pairs for ONNX ``metadata_props`` (all keys prefixed ``serapp.``)."""
        values: dict[str, Any] = {
            "format": str(FORMAT_VERSION),
            "labels": json.dumps(list(self.labels)),
            "feature_spec": self.spec.to_json(),
            "name": self.name,
            "family": self.family,
            "version": self.version,
            "created": self.created,
            "corpora": json.dumps(list(self.corpora)),
            "protocol": self.protocol,
            "metrics": json.dumps(self.metrics, sort_keys=True),
            "temperature": repr(float(self.temperature)),
            "license": self.license,
            "notes": self.notes,
        }
        if self.adapt_clips:  # only an adaptable model says so: older files and readers stay as they were
            values |= {"adapt_clips": str(int(self.adapt_clips)),
                       "adapt_temperature": repr(float(self.adapt_temperature))}
        if self.crowd_threshold:
            values["crowd_threshold"] = repr(float(self.crowd_threshold))
        return {PREFIX + k: v for k, v in values.items()}

    @classmethod
    def from_metadata(cls, props: dict[str, str], source: str = "the model") -> ModelInfo:
        """Parse ``metadata_props``; raises :class:`SerappError` naming ``source`` when anything is off."""
        missing = [k for k in REQUIRED_KEYS if PREFIX + k not in props]
        if missing:
            raise SerappError(
                f"{source} is not a serapp model: its metadata lacks {', '.join(PREFIX + k for k in missing)}. "
                "Export models with `serapp-train export`, which writes labels and the feature spec into the file."
            )
        get = props.get
        try:
            fmt = int(get(PREFIX + "format", "0"))
        except ValueError:
            fmt = -1
        if fmt != FORMAT_VERSION:
            raise SerappError(f"{source} uses model format {get(PREFIX + 'format')!r}; this serapp serves "
                              f"format {FORMAT_VERSION}. Update serapp or re-export the model.")
        try:
            labels = json.loads(props[PREFIX + "labels"])
            corpora = json.loads(get(PREFIX + "corpora", "[]"))
            metrics = json.loads(get(PREFIX + "metrics", "{}"))
            temperature = float(get(PREFIX + "temperature", "1.0"))
            adapt_clips = int(get(PREFIX + "adapt_clips", "0"))
            adapt_temperature = float(get(PREFIX + "adapt_temperature", "1.0"))
            crowd_threshold = float(get(PREFIX + "crowd_threshold", "0.0"))
        except (ValueError, TypeError) as exc:
            raise SerappError(f"{source} has damaged metadata ({exc}).") from exc
        if not isinstance(labels, list):
            raise SerappError(f"{source} has damaged metadata: labels are not a list.")
        spec = FeatureSpec.from_json(props[PREFIX + "feature_spec"])
        return cls(labels=tuple(labels), spec=spec, name=get(PREFIX + "name", "unnamed"),
                   family=get(PREFIX + "family", ""), version=get(PREFIX + "version", ""),
                   created=get(PREFIX + "created", ""), corpora=tuple(corpora),
                   protocol=get(PREFIX + "protocol", ""), metrics=metrics if isinstance(metrics, dict) else {},
                   temperature=temperature, license=get(PREFIX + "license", ""), notes=get(PREFIX + "notes", ""),
                   adapt_clips=adapt_clips, adapt_temperature=adapt_temperature, crowd_threshold=crowd_threshold)
