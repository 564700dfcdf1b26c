"""Knowledge distillation from finished runs: their ONNX models' mean probabilities become soft targets.

Offline distillation (Hinton et al. 2015, with the teachers' calibrated probabilities in place of softened
logits): each teacher run scores the student's training clips once, clean, with its own feature spec; the
student then learns from ``(1 - w) * one_hot + w * mean(teacher probabilities)`` on its augmented batches.
A head on a frozen encoder learns instead from teacher heads on the same encoder outputs
(:func:`head_teacher_probabilities`): each teacher's checkpoint scores the student's own training rows, augmented
views included, so every view's target is what the teachers say of that view.
A teacher may have trained on the student's training speakers only: a teacher that saw a student's
validation or test speaker would leak them, so :func:`serapp_train.provenance.check_teacher` refuses it. A teacher
may itself be a student; what its own teachers heard reached it through their soft targets, so :func:`teacher_tree`
checks the whole tree against the student's speakers, and is the one check both training and ``serapp-train
crossval`` use.
Which teachers taught a run, by model checksum and speakers, is recorded by :func:`provenance` (see
:mod:`serapp_train.provenance`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from serapp.errors import SerappError

from . import provenance as records
from .corpora import Clip
from .provenance import check_teacher
from .runfolder import CONFIG, MODEL_ONNX, SPLIT, RunFolder


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
        return records.node(run=str(self.path), family=self.config.get("family"), model_sha256=self.model_sha256,
                               split=self.split, teachers=[t.record() for t in self.teachers])


def teacher_tree(run_dirs: Sequence[str | Path], val_speakers: set[str], test_speakers: set[str], *,
                 _chain: tuple[Path, ...] = ()) -> tuple[Teacher, ...]:
    """The teacher runs ``run_dirs`` and, recursively, each one's own teachers (its ``config.json``
    ``teachers``), every one checked with :func:`check_teacher` against the *student's* ``val_speakers`` and
    ``test_speakers``: a grand-teacher that heard them passed what it heard down through its student's soft
    targets. Raises :class:`SerappError` for a leak, for a teacher whose ``config.json`` or ``split.json`` is
    missing (it cannot be checked; paths are read from the folder the runs were trained from) and for a run that
    is its own teacher."""
    found = []
    for run_dir in map(Path, run_dirs):
        if run_dir.resolve() in _chain:
            raise SerappError(f"{run_dir} is its own teacher (through {' -> '.join(map(str, _chain))}).")
        folder = RunFolder(run_dir)
        missing = folder.missing((CONFIG, SPLIT))
        if missing:
            raise SerappError(f"{run_dir}: a teacher without {' or '.join(missing)} cannot be checked for leaks "
                              "(teacher paths are read from the folder the runs were trained from).")
        config, split = folder.config_record(), folder.split()
        check_teacher(run_dir, split, val_speakers, test_speakers)
        own = teacher_tree(config.get("teachers") or [], val_speakers, test_speakers,
                           _chain=(*_chain, run_dir.resolve()))
        found.append(Teacher(run_dir, config, split, folder.model_sha256(), own))
    return tuple(found)


def provenance(run_dirs: Sequence[str | Path], student_split: dict[str, Any]) -> dict[str, Any]:
    """The record a distilled run keeps of its teachers (``teachers.json``, and the exported model's metadata):
    the student's speaker sets and each teacher's run id, model checksum, speaker sets and own teachers, after
    :func:`teacher_tree` has checked the whole tree against ``student_split`` (the student's ``split.json``)."""
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
    from .scoring import predict

    if not run_dirs:
        raise SerappError("Distillation needs at least one teacher run.")
    models = []
    for run_dir in map(Path, run_dirs):
        folder = RunFolder(run_dir)
        folder.require((SPLIT,))
        exported = folder.exported_model()  # model.onnx, or the bundled file of a bundled model's run folder
        if exported is None:
            raise SerappError(f"{run_dir} has no {MODEL_ONNX}: export the teacher first (serapp-train export "
                              f"{run_dir}).")
        models.append(exported)
    teacher_tree(run_dirs, val_speakers, test_speakers)
    total = np.zeros((len(clips), len(labels)), np.float64)
    for run_dir, exported in zip(map(Path, run_dirs), models, strict=True):
        model = load_model(exported)
        columns = _student_columns(run_dir, model.labels, labels)
        extracted = cache.features(clips, model.info.spec)
        if len(extracted.clips) != len(clips):
            raise SerappError(f"{run_dir}: {len(clips) - len(extracted.clips)} clips did not decode with the "
                              "teacher's features.")
        probs = predict(model, extracted.features)
        total += probs[:, columns]
    return (total / len(run_dirs)).astype(np.float32)


def _student_columns(run_dir: Path, own: Sequence[str], labels: Sequence[str]) -> list[int]:
    """The teacher's output columns (``own`` labels) in the student's ``labels`` order; :class:`SerappError` when
    the two predict different emotions."""
    if set(own) != set(labels):
        raise SerappError(f"{run_dir}: the teacher predicts {', '.join(own)}, the student "
                          f"{', '.join(labels)}; they must predict the same emotions.")
    return [list(own).index(label) for label in labels]


# What decides an encoder head's input rows: a teacher head must agree on all of them to score the student's rows.
HEAD_INPUT_FIELDS: tuple[str, ...] = ("family", "feature_spec", "encoder_cache", "encoder_run", "encoder_source",
                                      "speaker_adaptation")


def head_teacher_probabilities(run_dirs: Sequence[str | Path], x: np.ndarray, student: Any, labels: Sequence[str],
                               val_speakers: set[str], test_speakers: set[str]) -> np.ndarray:
    """Mean calibrated probabilities ``(len(x), len(labels))`` of teacher heads on an encoder head's input rows
    ``x`` ``(N, ...)`` (the cached encoder outputs, views included), columns in ``labels`` order.

    Each teacher is a finished run of an encoder family whose head takes the rows the student's config
    (``student``, a :class:`~serapp_train.config.TrainConfig`) makes (:data:`HEAD_INPUT_FIELDS` equal); its
    ``model.keras`` scores them and its validation temperature calibrates them, as its exported file would serve
    them. The whole teacher tree is checked first (:func:`teacher_tree`)."""
    from .metrics import apply_temperature
    from .runfolder import MODEL_KERAS, load_checkpoint
    from .scoring import predict_proba

    if not run_dirs:
        raise SerappError("Distillation needs at least one teacher run.")
    teacher_tree(run_dirs, val_speakers, test_speakers)
    total = np.zeros((len(x), len(labels)), np.float64)
    for run_dir in map(Path, run_dirs):
        folder = RunFolder(run_dir)
        folder.require((MODEL_KERAS,), "a finished run")
        config = folder.config()
        differ = [name for name in HEAD_INPUT_FIELDS if getattr(config, name) != getattr(student, name)]
        if differ:
            raise SerappError(f"{run_dir} cannot teach this head: its head takes other inputs ({', '.join(differ)} "
                              "differ); a teacher head must sit on the same encoder outputs.")
        own = folder.labels()
        columns = _student_columns(run_dir, own, labels)
        probs = apply_temperature(predict_proba(load_checkpoint(folder), x, len(own)), folder.temperature())
        total += probs[:, columns]
    return (total / len(run_dirs)).astype(np.float32)
