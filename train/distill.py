"""Knowledge distillation from finished runs: their ONNX models' mean probabilities become soft targets.

Offline distillation (Hinton et al. 2015, with the teachers' calibrated probabilities in place of softened
logits): each teacher run scores the student's training clips once, clean, with its own feature spec; the
student then learns from ``(1 - w) * one_hot + w * mean(teacher probabilities)`` on its augmented batches.
A teacher may have trained on the student's training speakers only: a teacher that saw a student's
validation or test speaker would leak them, so :func:`check_teacher` refuses it. A teacher may itself be a
student; what its own teachers heard reached it through their soft targets, so :func:`teacher_tree` checks the
whole tree against the student's speakers, and is the one check both training and ``serapp-train crossval`` use.
Which teachers taught a run, by model checksum and speakers, is recorded by :func:`provenance` (see
:mod:`serapp_train.provenance`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from serapp.errors import SerappError

from .corpora import Clip


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


@dataclass(frozen=True)
class Teacher:
    """One checked teacher run: its folder (as the student's config names it), its ``config.json`` and
    ``split.json``, the SHA-256 of its ``model.onnx`` (None when the folder has none) and its own teachers."""

    path: Path
    config: dict[str, Any]
    split: dict[str, Any]
    model_sha256: str | None
    teachers: tuple[Teacher, ...]

    def record(self) -> dict[str, Any]:
        """JSON-ready provenance of this teacher and its own teachers (see :func:`serapp_train.provenance.node`)."""
        from . import provenance

        return provenance.node(run=str(self.path), family=self.config.get("family"), model_sha256=self.model_sha256,
                               split=self.split, teachers=[t.record() for t in self.teachers])


def teacher_tree(run_dirs: Sequence[str | Path], val_speakers: set[str], test_speakers: set[str], *,
                 _chain: tuple[Path, ...] = ()) -> tuple[Teacher, ...]:
    """The teacher runs ``run_dirs`` and, recursively, each one's own teachers (its ``config.json``
    ``teachers``), every one checked with :func:`check_teacher` against the *student's* ``val_speakers`` and
    ``test_speakers``: a grand-teacher that heard them passed what it heard down through its student's soft
    targets. Raises :class:`SerappError` for a leak, for a teacher whose ``config.json`` or ``split.json`` is
    missing (it cannot be checked; paths are read from the folder the runs were trained from) and for a run that
    is its own teacher."""
    from . import provenance

    found = []
    for run_dir in map(Path, run_dirs):
        if run_dir.resolve() in _chain:
            raise SerappError(f"{run_dir} is its own teacher (through {' -> '.join(map(str, _chain))}).")
        missing = [name for name in ("config.json", "split.json") if not (run_dir / name).is_file()]
        if missing:
            raise SerappError(f"{run_dir}: a teacher without {' or '.join(missing)} cannot be checked for leaks "
                              "(teacher paths are read from the folder the runs were trained from).")
        config = json.loads((run_dir / "config.json").read_text())
        split = json.loads((run_dir / "split.json").read_text())
        check_teacher(run_dir, split, val_speakers, test_speakers)
        own = teacher_tree(config.get("teachers") or [], val_speakers, test_speakers,
                           _chain=(*_chain, run_dir.resolve()))
        model = run_dir / "model.onnx"
        found.append(Teacher(run_dir, config, split, provenance.sha256_file(model) if model.is_file() else None, own))
    return tuple(found)


def provenance(run_dirs: Sequence[str | Path], student_split: dict[str, Any]) -> dict[str, Any]:
    """The record a distilled run keeps of its teachers (``teachers.json``, and the exported model's metadata):
    the student's speaker sets and each teacher's run id, model checksum, speaker sets and own teachers, after
    :func:`teacher_tree` has checked the whole tree against ``student_split`` (the student's ``split.json``)."""
    from . import provenance as records

    val, test = (set(student_split.get(f"{part}_speakers", [])) for part in ("val", "test"))
    tree = teacher_tree(run_dirs, val, test)
    return records.manifest(student=records.node(run=None, family=None, model_sha256=None, split=student_split),
                            teachers=[t.record() for t in tree])


def teacher_probabilities(run_dirs: Sequence[str | Path], clips: Sequence[Clip], labels: Sequence[str],
                          val_speakers: set[str], test_speakers: set[str]) -> np.ndarray:
    """Mean calibrated probabilities ``(len(clips), len(labels))`` of the teacher runs' ``model.onnx`` on
    ``clips`` (clean audio, each teacher with its own features), columns in ``labels`` order. The whole teacher
    tree is checked first (:func:`teacher_tree`)."""
    from serapp.engine.model import load_model

    from . import cache
    from .evaluate import predict
    from .exportcmd import require_exported

    if not run_dirs:
        raise SerappError("Distillation needs at least one teacher run.")
    for run_dir in map(Path, run_dirs):
        require_exported(run_dir, ("model.onnx", "split.json"))
    teacher_tree(run_dirs, val_speakers, test_speakers)
    total = np.zeros((len(clips), len(labels)), np.float64)
    for run_dir in map(Path, run_dirs):
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
