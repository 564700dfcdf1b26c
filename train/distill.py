"""Knowledge distillation from finished runs: their ONNX models' mean probabilities become soft targets.

Offline distillation (Hinton et al. 2015, with the teachers' calibrated probabilities in place of softened
logits): each teacher run scores the student's training clips once, clean, with its own feature spec; the
student then learns from ``(1 - w) * one_hot + w * mean(teacher probabilities)`` on its augmented batches.
A teacher may have trained on the student's training speakers only: a teacher that saw a student's
validation or test speaker would leak them, so :func:`check_teacher` refuses it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from serapp.errors import SerappError
from train.corpora import Clip


def check_teacher(run_dir: Path, teacher_split: dict[str, list[str]], val_speakers: set[str],
                  test_speakers: set[str]) -> None:
    """Raise :class:`SerappError` if the teacher trained on a student validation or test speaker, or chose its
    epochs and temperature on a student test speaker (``teacher_split`` is the teacher's ``split.json``)."""
    trained = set(teacher_split.get("train_speakers", []))
    selected = set(teacher_split.get("val_speakers", []))
    if not trained:
        raise SerappError(f"{run_dir}: split.json lists no training speakers, so it cannot be checked for leaks.")
    leaked = sorted(trained & (val_speakers | test_speakers) | selected & test_speakers)
    if leaked:
        raise SerappError(f"{run_dir} cannot teach this run: it trained or validated on speakers this run "
                          f"validates or tests on ({', '.join(leaked[:5])}{', ...' if len(leaked) > 5 else ''}).")


def teacher_probabilities(run_dirs: Sequence[str | Path], clips: Sequence[Clip], labels: Sequence[str],
                          val_speakers: set[str], test_speakers: set[str]) -> np.ndarray:
    """Mean calibrated probabilities ``(len(clips), len(labels))`` of the teacher runs' ``model.onnx`` on
    ``clips`` (clean audio, each teacher with its own features), columns in ``labels`` order."""
    from serapp.engine.model import load_model
    from train import cache
    from train.evaluate import predict
    from train.exportcmd import require_exported

    if not run_dirs:
        raise SerappError("Distillation needs at least one teacher run.")
    total = np.zeros((len(clips), len(labels)), np.float64)
    for run_dir in map(Path, run_dirs):
        require_exported(run_dir, ("model.onnx", "split.json"))
        check_teacher(run_dir, json.loads((run_dir / "split.json").read_text()), val_speakers, test_speakers)
        model = load_model(run_dir / "model.onnx")
        if set(model.labels) != set(labels):
            raise SerappError(f"{run_dir}: the teacher predicts {', '.join(model.labels)}, the student "
                              f"{', '.join(labels)}; they must predict the same emotions.")
        extracted = cache.features(clips, model.info.spec)
        if len(extracted.clips) != len(clips):
            raise SerappError(f"{run_dir}: {len(clips) - len(extracted.clips)} clips did not decode with the "
                              "teacher's features.")
        probs = predict(model, extracted.features)
        total += probs[:, [model.labels.index(label) for label in labels]]
    return (total / len(run_dirs)).astype(np.float32)
