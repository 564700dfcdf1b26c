"""Teacher provenance: which runs taught a distilled model, recorded so that a clone can check the claim that
none of them heard the model's validation or test speakers.

A distilled run writes ``teachers.json`` (:func:`serapp_train.distill.provenance`, through
:class:`~serapp_train.runfolder.RunFolder`) and its exported ONNX file carries
the same record in its metadata (:data:`METADATA_KEY`). The record (a *manifest*) holds the student's speaker
sets and, for each teacher and recursively for that teacher's own teachers, a *node*: run folder and id, model
SHA-256, speaker sets with their hash, and the node's teachers. A manifest written after the fact for a model
whose teachers were not kept (``docs/models/cnn2d-student/teachers.json``) leaves what was lost ``null`` and says why,
and may name the *recipe* (config file and ``serapp-train train`` options) each teacher was trained with.

:func:`verify` turns a manifest into checks, each ``verified``, ``failed``, ``not in this clone`` (the record
names a file this checkout lacks) or ``not recorded``; `serapp-train card` prints them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serapp.bundle import sha256_file as sha256_file  # one file hash for the app's manifest and provenance
from serapp.errors import SerappError

from .config import TrainConfig
from .runfolder import SPLIT, TEACHERS, RunFolder, from_checkout

FORMAT = 1
FILE = TEACHERS  # the record beside a run's files
METADATA_KEY = "serapp.teachers"
# An adaptable model made by attaching a head onto an exported file (serapp_train.adaptable) names that file here:
# its plain answers are that file's, bit for bit (checked when it was made), so it stands for it as a teacher.
ADAPTED_FROM_KEY = "serapp.adapted_from"
# An exported encoder model whose encoder blocks a run trained (top_blocks) names that run here, so a head trained
# on that encoder's pooled layers (encoder_run) is attached only to a file with the same encoder.
ENCODER_RUN_KEY = "serapp.encoder_run"
PARTS: tuple[str, ...] = ("train", "val", "test")
# TrainConfig fields that, with the corpora on disk, decide which speakers a run trains, validates and tests on.
SPLIT_FIELDS: tuple[str, ...] = ("protocol", "k", "fold", "test_fraction", "val_fraction", "all_speakers", "corpora",
                                 "fold_calm", "limit", "speaker_seed")

VERIFIED, FAILED, ABSENT, UNRECORDED = "verified", "failed", "not in this clone", "not recorded"


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


def speaker_sets(split: dict[str, Any]) -> dict[str, list[str]]:
    """``{"train": [...], "val": [...], "test": [...]}``, sorted, from a run's ``split.json``."""
    return {part: sorted(set(split.get(f"{part}_speakers", []))) for part in PARTS}


def speakers_sha256(speakers: dict[str, list[str]]) -> str:
    """Hex SHA-256 of the speaker sets as canonical JSON (sorted keys and names, no spaces)."""
    canonical = {part: sorted(set(speakers.get(part, []))) for part in PARTS}
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def node(*, run: str | None, family: str | None, model_sha256: str | None, split: dict[str, Any],
         teachers: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """One run's provenance: folder (``run``, as the student's config names it) and id (its folder name), family,
    model checksum, speaker sets (from ``split``, its ``split.json``) with their hash, and its teachers' nodes."""
    sets = speaker_sets(split)
    return {"run": run, "run_id": Path(run).name if run else None, "family": family, "model_sha256": model_sha256,
            "speakers": sets, "speakers_sha256": speakers_sha256(sets), "teachers": list(teachers)}


def manifest(*, student: dict[str, Any], teachers: Sequence[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """The whole record: format, the student's node and its teachers' nodes (plus ``extra`` fields)."""
    return {"format": FORMAT, "student": student, "teachers": list(teachers), **extra}


def metadata(record: dict[str, Any] | None) -> dict[str, str]:
    """ONNX ``metadata_props`` carrying ``record`` (compact JSON under :data:`METADATA_KEY`); empty for None."""
    return {} if record is None else {METADATA_KEY: json.dumps(record, sort_keys=True, separators=(",", ":"))}


def run_metadata(run_dir: Path) -> dict[str, str]:
    """The metadata an export of ``run_dir`` carries about its teachers (its ``teachers.json``, if it has one) and
    about its encoder (:data:`ENCODER_RUN_KEY`, when its run trained encoder blocks or used a run's)."""
    folder = RunFolder(run_dir)
    encoder = encoder_run_of(folder)
    return metadata(folder.teachers()) | ({ENCODER_RUN_KEY: encoder} if encoder else {})


def encoder_run_of(folder: RunFolder) -> str | None:
    """The run whose trained encoder blocks a run's model has: its own (``top_blocks``), its ``encoder_run``'s,
    or None (the checkpoint's encoder), named by run id."""
    config = folder.config()
    if config.encoder_run:
        return Path(config.encoder_run).name
    return folder.run_id if config.top_blocks else None


def metadata_props(model_path: Path) -> dict[str, str]:
    """An ONNX file's ``metadata_props`` as a dict (the graph's weights are not needed, nor read when external)."""
    import onnx

    return {p.key: p.value for p in onnx.load(str(model_path), load_external_data=False).metadata_props}


def encoder_run_in(model_path: Path) -> str | None:
    """:data:`ENCODER_RUN_KEY` of an exported model: the run whose encoder blocks it has; None for the
    checkpoint's encoder."""
    return metadata_props(model_path).get(ENCODER_RUN_KEY)


def from_model(model_path: Path) -> dict[str, Any] | None:
    """The teacher record inside an ONNX file's metadata; None when it carries none."""
    props = metadata_props(model_path)
    text = props.get(METADATA_KEY)
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SerappError(f"{model_path}: its teacher record ({METADATA_KEY}) is damaged ({exc.msg}).") from exc


def adapted_from(model_path: Path) -> str | None:
    """The SHA-256 of the file an adaptable model was attached onto (:data:`ADAPTED_FROM_KEY`); None otherwise."""
    props = metadata_props(model_path)
    try:
        value = json.loads(props[ADAPTED_FROM_KEY])["sha256"] if ADAPTED_FROM_KEY in props else None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise SerappError(f"{model_path}: its record of the file it adapts ({ADAPTED_FROM_KEY}) is damaged.") from exc
    return value if isinstance(value, str) else None


def find(model_path: Path, run_dir: Path) -> tuple[dict[str, Any] | None, str]:
    """The teacher record of a model and where it was found: the model's own metadata first (it cannot be
    separated from the file), else ``run_dir/teachers.json``; ``(None, "")`` when neither exists."""
    record = from_model(model_path)
    if record is not None:
        return record, "the model file's metadata"
    beside = RunFolder(run_dir).teachers()
    return (None, "") if beside is None else (beside, str(Path(run_dir) / FILE))


@dataclass(frozen=True)
class Check:
    """One claim about a model's teachers, what became of checking it here, and how (or why not)."""

    subject: str
    claim: str
    status: str
    how: str


def recipe_config(recipe: dict[str, Any]) -> Any:
    """The :class:`~serapp_train.config.TrainConfig` a recipe (``{"config": FILE, "options": [flags]}``) gives
    ``serapp-train train``."""
    from .configargs import add_config_arguments, config_from_args

    parser = argparse.ArgumentParser(add_help=False)
    add_config_arguments(parser)
    return config_from_args(parser.parse_args(["--config", str(recipe["config"]), *recipe.get("options", [])]))


def split_fields(config: Any) -> dict[str, Any]:
    """The :data:`SPLIT_FIELDS` of a :class:`~serapp_train.config.TrainConfig`."""
    return {name: getattr(config, name) for name in SPLIT_FIELDS}


def walk(nodes: Sequence[dict[str, Any]], depth: int = 1) -> Iterator[tuple[int, dict[str, Any]]]:
    """Every teacher node with its depth (1: a direct teacher), depth first."""
    for item in nodes:
        yield depth, item
        yield from walk(item.get("teachers") or [], depth + 1)


def _teacher_checks(item: dict[str, Any], depth: int, student_split: dict[str, Any],
                    student_config: Any) -> list[Check]:
    """The checks of one teacher node: no leak by its recorded speakers, its model checksum and speakers against
    its run folder when this checkout has it, and its recipe's split."""
    run = str(item.get("run") or "?")
    subject = run + ("" if depth == 1 else f" (teacher at depth {depth})")
    reason = item.get("unrecorded", "")
    checks = []
    val, test = (set(student_split.get(f"{part}_speakers", [])) for part in ("val", "test"))
    claim = "trained on none of the student's validation or test speakers, validated on none of its test speakers"
    if item.get("speakers"):
        try:
            check_teacher(Path(run), {f"{p}_speakers": s for p, s in item["speakers"].items()}, val, test)
            checks.append(Check(subject, claim, VERIFIED, "by its recorded speaker sets"))
        except SerappError as exc:
            checks.append(Check(subject, claim, FAILED, str(exc)))
    else:
        checks.append(Check(subject, claim, UNRECORDED, reason or "the record lists no speakers"))
    folder = Path(run)
    if item.get("model_sha256"):
        claim = "its model is the file the record names (SHA-256)"
        teacher = RunFolder(folder)
        model = teacher.exported_model()
        if model is not None:
            # a bundled model's run folder is in git without its ONNX file: the bundled file is checked instead
            if sha256_file(model) == item["model_sha256"]:
                checks.append(Check(subject, claim, VERIFIED, f"{from_checkout(model)} hashed here"))
            elif adapted_from(model) == item["model_sha256"]:
                checks.append(Check(subject, claim, VERIFIED, f"{from_checkout(model)} adapts that file (recorded "
                                                              "inside it; its own answers are that file's)"))
            else:
                checks.append(Check(subject, claim, FAILED, f"{from_checkout(model)} hashed here"))
        else:
            checks.append(Check(subject, claim, ABSENT, f"{folder} is not in this checkout (runs/ is not in git)"))
        if item.get("speakers_sha256") and teacher.has(SPLIT):
            own = speakers_sha256(speaker_sets(teacher.split()))
            checks.append(Check(subject, "its split.json lists the recorded speakers",
                                VERIFIED if own == item["speakers_sha256"] else FAILED, "hash of its split.json"))
    else:
        checks.append(Check(subject, "its model checksum", UNRECORDED, reason or "the record has none"))
    if item.get("recipe") and student_config is not None:
        claim = "the recipe it was trained with draws the student's speakers"
        try:
            ours, theirs = split_fields(recipe_config(item["recipe"])), split_fields(student_config)
        except (OSError, SerappError, SystemExit) as exc:  # argparse exits on a bad option list
            checks.append(Check(subject, claim, FAILED, f"its recipe cannot be read ({exc})"))
        else:
            differ = sorted(k for k in ours if ours[k] != theirs[k])
            options = " ".join(item["recipe"].get("options", []))
            checks.append(Check(subject, claim, FAILED if differ else VERIFIED,
                                f"`{item['recipe']['config']}{' ' + options if options else ''}`"
                                + (f": {', '.join(differ)} differ" if differ else ": same split settings")))
    return checks


def verify(record: dict[str, Any], *, found_in: str, model_path: Path, student_config: dict[str, Any],
           student_split: dict[str, Any]) -> list[Check]:
    """Check a teacher record (:func:`find`) against the model file, the student's ``config.json`` and
    ``split.json``, and whatever teacher run folders this checkout holds. ``found_in``: where the record was
    read (the model's metadata binds it to the file; a file beside it must name the model's checksum)."""
    if record.get("format") != FORMAT:
        raise SerappError(f"{found_in}: teacher record format {record.get('format')!r}; this serapp reads {FORMAT}.")
    checks = []
    student = record.get("student") or {}
    subject = "the student"
    if found_in == "the model file's metadata":
        checks.append(Check(subject, "the record belongs to this file", VERIFIED, "it is inside the file"))
    elif student.get("model_sha256"):
        same = sha256_file(model_path) == student["model_sha256"]
        checks.append(Check(subject, "the record belongs to this file", VERIFIED if same else FAILED,
                            f"SHA-256 of {model_path.name} against {found_in}"))
    else:
        checks.append(Check(subject, "the record belongs to this file", UNRECORDED,
                            f"{found_in} names no model checksum"))
    recorded = student.get("speakers_sha256")
    own = speakers_sha256(speaker_sets(student_split))
    checks.append(Check(subject, "its speaker sets are the recorded ones", VERIFIED if recorded == own else FAILED,
                        "hash of the run's split.json"))
    named = [str(t) for t in student_config.get("teachers") or []]
    listed = [str(t.get("run")) for t in record.get("teachers", [])]
    checks.append(Check(subject, "the record lists the teachers its config.json names",
                        VERIFIED if sorted(named) == sorted(listed) else FAILED,
                        f"{len(listed)} in the record, {len(named)} in config.json"))
    config = TrainConfig.from_dict(student_config)
    for depth, item in walk(record.get("teachers", [])):
        checks += _teacher_checks(item, depth, student_split, config)
    return checks
