"""Recipes: how a model is made, as data (``configs/recipes/*.json``), run step by step by `serapp-train recipe`,
which resumes.

A recipe is a JSON object::

    {"description": "...",
     "defaults": {"limit": 20},                   # TrainConfig fields set in every train step (optional)
     "steps": [
       {"name": "base", "kind": "train", "config": "configs/default-model.json"},
       {"name": "w32", "kind": "train", "config": "configs/default-model.json",
        "set": {"mixup_alpha": 0.2, "model_options": {"width": 32}, "spec": {"deltas": true}}},
       {"name": "student", "kind": "train", "config": "configs/cnn2d.json", "teachers": ["base", "w32"]},
       {"name": "export", "kind": "export", "run": "student", "model_name": "serapp-cnn", "int8": false},
       {"name": "install", "kind": "install", "from": "export", "to": "assets/models/serapp-cnn.onnx",
        "docs": "docs/models/cnn2d-student"}]}

Step kinds:

- ``train``: one run of a base config file (a run's ``config.json`` or a file under ``configs/``) with ``defaults``
  and then ``set`` applied: the same fields as :class:`~serapp_train.config.TrainConfig` and its JSON (``spec``,
  ``augment`` and ``model_options`` are merged into the base's, other fields replace it; a new ``family`` without
  a ``spec`` takes the family's features, as ``serapp-train train --family`` does). ``teachers`` names earlier
  train steps: the student distils from the runs they made; ``bundled_teachers`` names bundled models by their run
  folders (the ``run`` of an entry of ``assets/models/manifest.json``, e.g. ``docs/models/whisper-tiny``): the
  student distils from the bundled file itself, which every clone has. The run is exported (``model.onnx``) unless
  ``"export": false``; its folder is ``RUNS/<name>``.
- ``export``: a train step's checkpoint exported again under a model name (``model_name``), optionally with an
  int8 copy (``int8``), into ``RUNS/<name>/model.onnx`` (and ``model-int8.onnx``).
- ``ensemble``: the exported models of train steps (``models``) merged into one file serving their mean
  (:func:`serapp_train.ensembling.build_ensemble`: what they share, a frozen encoder, runs once), named
  ``model_name``, optionally with an int8 copy (``int8``), scored and calibrated on the members' split; its folder
  ``RUNS/<name>`` is a run folder (members by run id and checksum) that an install step can ship.
- ``crowd``: a crowd check (:mod:`serapp_train.crowd`) learnt on the training speakers of a train step's split
  (``split_of``) and chosen on its validation speakers, attached to an export step's model (``from``: an adaptable
  one, exported ``onto`` another), into ``RUNS/<name>/model.onnx`` with its record ``crowd.json``; ``clips``,
  ``crowds``, ``c``, ``max_speech_loss`` and ``seed`` as `serapp-train crowd` takes them.
- ``install``: an export, ensemble or crowd step's file (its int8 copy with ``"int8": true``) copied to ``to`` (a
  bundled model) and recorded in that folder's ``manifest.json``; with ``docs`` the run's JSON records (config, labels,
  spec, split, metrics, history, teachers) are copied into that folder first (and a crowd step's record into its
  ``crowd/``) and the manifest names it as the model's run.
- ``evaluate``: the exported models of train steps (``models``; several are scored as an ensemble, their mean
  probability) scored on the ``val`` or ``test`` speakers (``part``) of a train step's split (``split_of``), at
  most ``limit`` clips per corpus (default: the recipe defaults' ``limit``, else all), into ``RUNS/<name>/``
  (``metrics.json``, ``confusion.png``), as `serapp-train evaluate --split` scores.
- ``crossval``: in a recipe with ``folds``, after the steps have run on every fold, the train steps ``models``
  pooled over the folds as `serapp-train crossval` pools them (:mod:`serapp_train.crossvalidation`): the first
  model's fold runs, the others' (if any) averaged with them as an ensemble; ``validation_only`` reports only the
  folds' validation scores. The report (``crossval.json``, ``README.md``, confusion PNGs) goes to ``out`` (default
  ``RUNS/<name>``); ``RUNS/<name>/crossval-step.json`` records the models pooled (by fold, step and checksum). A
  crossval step runs once, not per fold, so crossval steps come after every other step.

A recipe may take the steps of another recipe file first (``"steps_of": "configs/recipes/x.json"``, its defaults
under this one's) and add its own; ``"folds": [1, 2, 3, 4]`` runs all the steps on each fold (the train steps'
``fold`` set), each fold in ``RUNS/fold<i>/``.

Paths in a recipe are relative to the working directory (the repository root). Steps run in order and may only
use earlier steps. Resuming: a step whose output is complete and up to date is kept: a train step's run folder
with its records and a config equal to the planned one (teachers compared by run id and model checksum, as the
run's ``teachers.json`` records them), an export whose ``export.json`` names the run's current checkpoint, an
installed file equal to its source with a manifest entry, an evaluation or cross-validation whose record names
the models' current checksums. A step is redone when an earlier step it uses was
(e.g. a teacher retrained); a step is built in a ``RUNS/.scratch-<name>`` folder and moved into place only when
finished, so an interrupted step (Ctrl-C) leaves its scratch folder, discarded and redone on the next call.
A run folder trained with another config than the recipe now plans is refused rather than replaced: a changed
recipe should not delete hours of training silently.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serapp.bundle import sha256_file
from serapp.errors import SerappError

from .config import TrainConfig
from .crowd import RECORD_FILES as CROWD_RECORD_FILES
from .jsonfile import read_json, write_json
from .runfolder import (
    CONFIG,
    HISTORY,
    LABELS,
    METRICS,
    MODEL_INT8_ONNX,
    MODEL_KERAS,
    MODEL_ONNX,
    SPEC,
    SPLIT,
    TEACHERS,
    RunFolder,
    bundled_model,
)

KINDS: tuple[str, ...] = ("train", "export", "ensemble", "crowd", "install", "evaluate", "crossval")
# kinds that run once over all folds, after the per-fold steps (the others run on each fold)
POOLED: frozenset[str] = frozenset({"crossval"})
PARTS: tuple[str, ...] = ("val", "test")
RECIPE_FIELDS: frozenset[str] = frozenset({"description", "defaults", "steps", "steps_of", "folds"})
# the fields each kind takes besides name, kind and note (a free-text remark)
STEP_FIELDS: dict[str, frozenset[str]] = {
    "train": frozenset({"config", "set", "teachers", "bundled_teachers", "export"}),
    # with "onto" (an export step): the run's head (trained with speaker_adaptation) attached onto that step's model
    # ("onto_int8": its int8 copy), as `serapp-train export RUN --onto` does
    "export": frozenset({"run", "model_name", "int8", "parity_clips", "onto", "onto_int8"}),
    "ensemble": frozenset({"models", "model_name", "int8"}),
    "crowd": frozenset({"from", "split_of", "clips", "crowds", "c", "max_speech_loss", "seed"}),
    "install": frozenset({"from", "to", "int8", "docs"}),
    "evaluate": frozenset({"models", "split_of", "part", "limit"}),
    "crossval": frozenset({"models", "out", "validation_only"}),
}
REQUIRED: dict[str, tuple[str, ...]] = {"train": ("config",), "export": ("run",), "ensemble": ("models",),
                                        "crowd": ("from", "split_of"), "install": ("from", "to"),
                                        "evaluate": ("models", "split_of", "part"), "crossval": ("models",)}
COMMON_FIELDS: frozenset[str] = frozenset({"name", "kind", "note"})
# TrainConfig fields holding objects: a recipe's value is merged into the base's rather than replacing it
MERGED_FIELDS: tuple[str, ...] = ("spec", "augment", "model_options")
# a step's name is a folder name under RUNS: no separators, no leading dot (scratch folders start with one)
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
EXPORT_RECORD = "export.json"
EVALUATE_RECORD = "evaluate.json"
ENSEMBLE_RECORD = "ensemble.json"
CROSSVAL_RECORD = "crossval-step.json"
CROWD_RECORD = "crowd-step.json"
CROWD_FILES: tuple[str, ...] = (MODEL_ONNX, *CROWD_RECORD_FILES)
RECORD_FILES: tuple[str, ...] = (CONFIG, LABELS, SPEC, SPLIT, METRICS, HISTORY, TEACHERS)


# ------------------------------------------------------------------------------------------------- schema
@dataclass(frozen=True)
class Step:
    """One step of a recipe: its ``name`` (its output folder under RUNS), ``kind`` (:data:`KINDS`), the
    JSON ``fields`` it was given (kind-specific, checked) and its 1-based position."""

    name: str
    kind: str
    fields: dict[str, Any]
    number: int

    @property
    def needs(self) -> tuple[str, ...]:
        """The names of the steps whose outputs this one reads."""
        if self.kind == "train":
            return tuple(self.fields.get("teachers") or ())
        if self.kind == "evaluate":
            return tuple(dict.fromkeys([*self.fields["models"], self.fields["split_of"]]))
        if self.kind in ("crossval", "ensemble"):
            return tuple(dict.fromkeys(self.fields["models"]))
        if self.kind == "export":
            return (self.fields["run"], *([self.fields["onto"]] if "onto" in self.fields else []))
        if self.kind == "crowd":
            return tuple(dict.fromkeys([self.fields["from"], self.fields["split_of"]]))
        return (self.fields["from"],)

    @property
    def models(self) -> tuple[str, ...]:
        """The train steps whose ``model.onnx`` this step reads (teachers, or an evaluation's models)."""
        return tuple(self.fields.get("models") or ()) if self.kind in ("evaluate", "crossval", "ensemble") else \
            (self.needs if self.kind == "train" else ())

    @property
    def bundled_teachers(self) -> tuple[str, ...]:
        """Run folders of bundled models this train step distils from (beside its teacher steps)."""
        return tuple(self.fields.get("bundled_teachers") or ())

    @property
    def int8(self) -> bool:
        return bool(self.fields.get("int8", False))


@dataclass(frozen=True)
class Recipe:
    """A checked recipe: where it was read from, its description, the TrainConfig ``defaults`` of every train
    step, its steps in order and each train step's base config file as a dict (``bases``)."""

    path: Path
    description: str
    defaults: dict[str, Any]
    steps: tuple[Step, ...]
    bases: dict[str, dict[str, Any]] = field(repr=False, default_factory=dict)
    folds: tuple[int, ...] = ()

    def for_fold(self, fold: int) -> Recipe:
        """The recipe on one fold: every train step's ``fold`` set, no fold loop of its own."""
        return dataclasses.replace(self, defaults={**self.defaults, "fold": fold}, folds=())

    def step(self, name: str) -> Step:
        """The step called ``name``; :class:`SerappError` listing the names when there is none."""
        for step in self.steps:
            if step.name == name:
                return step
        raise SerappError(f"{self.path}: no step named {name!r} (steps: {', '.join(s.name for s in self.steps)}).")

    def config(self, step: Step, runs: Path) -> TrainConfig:
        """The TrainConfig a train step trains with, its teachers the run folders of the steps it names."""
        values = merge(merge(self.bases[step.name], self.defaults), step.fields.get("set") or {})
        values["teachers"] = [str(runs / name) for name in step.needs] + list(step.bundled_teachers)
        return _train_config(values, f"{self.path}: step {step.name!r}")


def merge(values: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``values`` (a TrainConfig as a dict) with ``overrides``: :data:`MERGED_FIELDS` merged key by key, the rest
    replaced; a new ``family`` without a ``spec`` drops the old spec so that the family's own features apply."""
    out = dict(values)
    if "family" in overrides and "spec" not in overrides:
        out.pop("spec", None)
    for key, value in overrides.items():
        if key in MERGED_FIELDS and isinstance(value, dict):
            out[key] = {**_base_object(out, key), **value}
        else:
            out[key] = value
    return out


def _base_object(values: dict[str, Any], key: str) -> dict[str, Any]:
    """The object a merged field's overrides go into: the value given, else the default the config would take (the
    family's feature spec for ``spec``)."""
    if values.get(key) is not None:
        return dict(values[key])
    if key == "spec":
        family = values.get("family", TrainConfig().family)
        return _train_config({"family": family}, "the base config").feature_spec.to_dict()
    return {}


def _train_config(values: dict[str, Any], where: str) -> TrainConfig:
    try:
        return TrainConfig.from_dict(values)
    except SerappError as exc:
        raise SerappError(f"{where}: {exc}") from exc


def load(path: Path) -> Recipe:
    """Read and check the recipe at ``path`` (see the module); :class:`SerappError` with a plain message naming the
    recipe and step for anything wrong: unknown fields or kinds, duplicate names, references to unknown, later or
    the wrong kind of steps, cycles, and every train step's config as TrainConfig validates it."""
    data = read_json(Path(path), "recipe")
    return parse(data, Path(path))


def parse(data: Any, path: Path) -> Recipe:
    """The :class:`Recipe` ``data`` (parsed JSON) describes; ``path`` names it in messages (see :func:`load`)."""
    where = str(path)
    if not isinstance(data, dict):
        raise SerappError(f"{where}: a recipe is a JSON object with steps.")
    _unknown(data, RECIPE_FIELDS, where)
    raw, inherited = _steps_data(data, where)
    defaults = {**inherited, **_defaults(data, where)}
    steps = tuple(_step(item, number, where) for number, item in enumerate(raw, 1))
    _check_names(steps, where)
    _check_references(steps, where)
    bases = {step.name: _base_config(step, where) for step in steps if step.kind == "train"}
    recipe = Recipe(path, str(data.get("description", "")), defaults, steps, bases, _folds(data, where))
    _check_pooled(recipe, where)
    for one in [recipe.for_fold(f) for f in recipe.folds] or [recipe]:
        for step in one.steps:
            if step.kind == "train":  # every field checked by TrainConfig now, not after hours of training
                one.config(step, Path("runs"))
    return recipe


def _defaults(data: dict[str, Any], where: str) -> dict[str, Any]:
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise SerappError(f"{where}: defaults must be an object of TrainConfig fields.")
    if "teachers" in defaults:
        raise SerappError(f"{where}: defaults cannot set teachers; a train step names its teachers by step.")
    return defaults


def _steps_data(data: dict[str, Any], where: str, _chain: tuple[str, ...] = ()) -> tuple[list[Any], dict[str, Any]]:
    """The step objects and inherited defaults: the steps of the recipe file ``steps_of`` names (its defaults come
    along, under this recipe's own), then this recipe's ``steps``, so a variant of a recipe (more steps, every fold)
    does not copy its steps."""
    inherited: list[Any] = []
    defaults: dict[str, Any] = {}
    if "steps_of" in data:
        other_path = data["steps_of"]
        if not isinstance(other_path, str) or other_path in _chain:
            raise SerappError(f"{where}: steps_of must name another recipe file (not one naming this one back).")
        other = read_json(Path(other_path), "recipe")
        if not isinstance(other, dict):
            raise SerappError(f"{where}: steps_of names {other_path}, which is not a recipe.")
        inherited, defaults = _steps_data(other, other_path, (*_chain, other_path))
        defaults = {**defaults, **_defaults(other, other_path)}
    raw = data.get("steps", [])
    if not isinstance(raw, list) or not (raw or inherited):
        raise SerappError(f"{where}: steps must be a non-empty list of step objects.")
    return [*inherited, *raw], defaults


def _folds(data: dict[str, Any], where: str) -> tuple[int, ...]:
    """``folds``: the folds (1-based) the steps run on, each in ``RUNS/fold<i>`` (none: the steps run once)."""
    folds = data.get("folds") or []
    if not isinstance(folds, list) or not all(isinstance(f, int) and not isinstance(f, bool) and f >= 1
                                              for f in folds) or len(set(folds)) != len(folds):
        raise SerappError(f"{where}: folds must be a list of distinct fold numbers (1-based), got {folds!r}.")
    if folds and "fold" in (data.get("defaults") or {}):
        raise SerappError(f"{where}: defaults set fold while folds lists several; keep one of them.")
    return tuple(folds)


def _unknown(data: dict[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise SerappError(f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(sorted(known))}).")


def _step(item: Any, number: int, where: str) -> Step:
    """One step object, its fields checked against its kind."""
    if not isinstance(item, dict):
        raise SerappError(f"{where}: step {number} is not an object.")
    name = item.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise SerappError(f"{where}: step {number} needs a name of letters, digits, '.', '_' or '-' (it names "
                          f"the step's folder), got {name!r}.")
    kind = item.get("kind")
    if kind not in KINDS:
        raise SerappError(f"{where}: step {name!r} has kind {kind!r}; the kinds are {', '.join(KINDS)}.")
    here = f"{where}: step {name!r}"
    _unknown(item, COMMON_FIELDS | STEP_FIELDS[kind], here)
    missing = [f for f in REQUIRED[kind] if f not in item]
    if missing:
        raise SerappError(f"{here}: a {kind} step needs {', '.join(missing)}.")
    fields = {k: v for k, v in item.items() if k not in COMMON_FIELDS}
    _check_types(fields, here)
    if kind == "crowd":
        from .crowd import check_options

        try:
            check_options({k: v for k, v in fields.items() if k not in REQUIRED[kind]})
        except SerappError as exc:
            raise SerappError(f"{here}: {exc}") from exc
    return Step(name, kind, fields, number)


def _check_types(fields: dict[str, Any], where: str) -> None:
    """The step fields' JSON types (TrainConfig checks the values inside ``set``)."""
    expected: dict[str, tuple[type, ...]] = {"config": (str,), "set": (dict,), "teachers": (list,),
                                             "bundled_teachers": (list,),
                                             "export": (bool,), "run": (str,), "model_name": (str,),
                                             "int8": (bool,), "parity_clips": (int,), "from": (str,),
                                             "to": (str,), "docs": (str,), "models": (list,),
                                             "split_of": (str,), "part": (str,), "limit": (int, type(None)),
                                             "out": (str,), "validation_only": (bool,), "onto": (str,),
                                             "onto_int8": (bool,), "clips": (int,), "crowds": (int,),
                                             "c": (float, int), "max_speech_loss": (float, int), "seed": (int,)}
    for key, value in fields.items():
        if not isinstance(value, expected[key]) or (isinstance(value, bool) and bool not in expected[key]):
            raise SerappError(f"{where}: {key} must be {expected[key][0].__name__}, got {value!r}.")
    if "set" in fields and "teachers" in fields["set"]:
        raise SerappError(f"{where}: name teachers by step in the step's teachers field, not in set.")
    for key in ("teachers", "models"):
        if not all(isinstance(t, str) for t in fields.get(key, [])):
            raise SerappError(f"{where}: {key} must be a list of step names.")
    for run in fields.get("bundled_teachers", []):
        if not isinstance(run, str) or bundled_model(Path(run)) is None:
            raise SerappError(f"{where}: bundled_teachers names {run!r}, which is no bundled model's run folder "
                              "(the run of an entry of assets/models/manifest.json whose file is present).")
    if "models" in fields and not fields["models"]:
        raise SerappError(f"{where}: models must name at least one train step.")
    if fields.get("part", "val") not in PARTS:
        raise SerappError(f"{where}: part must be one of {', '.join(PARTS)}, got {fields['part']!r}.")
    if fields.get("limit") is not None and fields["limit"] < 1:
        raise SerappError(f"{where}: limit must be at least 1 clip per corpus, got {fields['limit']}.")
    if "onto" in fields and ({"int8", "model_name"} & set(fields)):
        raise SerappError(f"{where}: an export onto another model keeps that model's weights and name: no int8 or "
                          "model_name.")
    if "onto_int8" in fields and "onto" not in fields:
        raise SerappError(f"{where}: onto_int8 says which copy of the onto step's model to attach to: give onto.")


def _check_names(steps: Sequence[Step], where: str) -> None:
    seen: set[str] = set()
    for step in steps:
        if step.name in seen:
            raise SerappError(f"{where}: two steps are named {step.name!r}; each step's name is its folder.")
        seen.add(step.name)


# which kinds of step each kind may read: teachers are train runs, exports and ensembles read runs, installs an
# export or an ensemble
READS: dict[str, tuple[str, ...]] = {"train": ("train",), "export": ("train",), "ensemble": ("train",),
                                     "crowd": ("export",), "install": ("export", "ensemble", "crowd"),
                                     "evaluate": ("train",), "crossval": ("train",)}


def _check_references(steps: Sequence[Step], where: str) -> None:
    """Every step named by another exists, is of the kind it is read as, and comes earlier (a cycle is reported
    as such first, since it is the likelier mistake behind a later reference)."""
    by_name = {s.name: s for s in steps}
    for step in steps:
        for name in step.needs:
            if name not in by_name:
                raise SerappError(f"{where}: step {step.name!r} names {name!r}, which is no step of this recipe "
                                  f"(steps: {', '.join(by_name)}).")
    cycle = find_cycle({s.name: s.needs for s in steps})
    if cycle:
        raise SerappError(f"{where}: the steps form a cycle: {' -> '.join(cycle)}.")
    for step in steps:
        for name in step.needs:
            other = by_name[name]
            if other.number >= step.number:
                raise SerappError(f"{where}: step {step.name!r} uses {name!r}, which comes after it; steps run in "
                                  "order, so move it earlier.")
            reads = ("export",) if step.kind == "export" and name == step.fields.get("onto") else READS[step.kind]
            if step.kind == "crowd":  # each field reads its own kind of step
                reads = READS[step.kind] if name == step.fields["from"] else ("train",)
                if name == step.fields["from"] == step.fields["split_of"]:
                    reads = ()
            if other.kind not in reads:
                raise SerappError(f"{where}: step {step.name!r} reads {name!r} as a "
                                  f"{' or '.join(reads) or 'export and a train'} step, but it is a {other.kind} step.")
            if name in step.models and other.fields.get("export") is False:
                raise SerappError(f"{where}: step {step.name!r} reads the model of {name!r}, which is not exported "
                                  "(it needs its model.onnx).")
    for step in steps:
        onto = by_name.get(step.fields.get("onto", "")) if step.kind == "export" else None
        if onto is not None and step.fields.get("onto_int8") and not onto.int8:
            raise SerappError(f"{where}: step {step.name!r} attaches onto the int8 copy of {onto.name!r}, which "
                              "writes none (set its int8 to true).")
        if step.kind == "install" and step.int8 and not by_name[step.needs[0]].int8:
            raise SerappError(f"{where}: step {step.name!r} installs the int8 copy of {step.needs[0]!r}, which "
                              "writes none (set its int8 to true).")


def _check_pooled(recipe: Recipe, where: str) -> None:
    """Crossval steps pool the folds: the recipe needs folds, and they come after every per-fold step."""
    pooled = [s for s in recipe.steps if s.kind in POOLED]
    if pooled and not recipe.folds:
        raise SerappError(f"{where}: step {pooled[0].name!r} pools folds, but the recipe has none (set folds, e.g. "
                          "[1, 2, 3, 4], and a k-fold protocol in defaults).")
    seen_pooled = None
    for step in recipe.steps:
        if step.kind in POOLED:
            seen_pooled = step
        elif seen_pooled is not None:
            raise SerappError(f"{where}: step {step.name!r} comes after the crossval step {seen_pooled.name!r}, "
                              "which runs once after every fold; move it before.")


def find_cycle(graph: dict[str, Sequence[str]]) -> list[str] | None:
    """A cycle in ``graph`` (node -> the nodes it needs) as ``[a, b, ..., a]``, or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in graph.get(node, ()):
            if state.get(target) == 1:
                return [*path[path.index(target):], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state and (found := visit(node)):
            return found
    return None


def _base_config(step: Step, where: str) -> dict[str, Any]:
    """A train step's base config file, read and validated as a TrainConfig, as a dict."""
    path = Path(step.fields["config"])
    data = read_json(path, "training config")
    return _train_config(data, f"{where}: step {step.name!r}, {path}").to_dict()


# ------------------------------------------------------------------------------------------------- state
@dataclass(frozen=True)
class Options:
    """How a recipe runs: RUNS folder, corpora root (None: the default), trainer threads and processes, quiet."""

    runs: Path
    root: Path | None = None
    workers: int = 1
    extract_workers: int | None = None
    quiet: bool = False


@dataclass(frozen=True)
class Status:
    """A step's state before it runs: ``done`` (kept) or not, and why (shown in the plan and progress lines)."""

    done: bool
    reason: str


def output(step: Step, runs: Path) -> Path:
    """Where a step leaves its output: ``RUNS/<name>`` (an install's file is ``to``)."""
    return output_of(step.name, runs)


def output_of(name: str, runs: Path) -> Path:
    """The output folder of the step called ``name``."""
    return Path(runs) / name


def scratch(step: Step, runs: Path) -> Path:
    """The folder a step is built in before it is moved into place."""
    return Path(runs) / f".scratch-{step.name}"


def status(recipe: Recipe, step: Step, runs: Path, redone: set[str]) -> Status:
    """Whether ``step``'s output in ``runs`` is complete and up to date; ``redone``: the steps that run (or will, in
    a plan) before it, whose outputs change."""
    changed = [name for name in step.needs if name in redone]
    if changed:
        return Status(False, f"{', '.join(changed)} {'is' if len(changed) == 1 else 'are'} redone")
    return CHECKS[step.kind](recipe, step, runs)


def train_files(step: Step) -> tuple[str, ...]:
    """The files a finished train step's run folder holds."""
    exported = (MODEL_ONNX,) if step.fields.get("export", True) else ()
    return (CONFIG, LABELS, SPEC, SPLIT, METRICS, *exported)


def _train_status(recipe: Recipe, step: Step, runs: Path) -> Status:
    folder = RunFolder(output(step, runs))
    if not folder.path.is_dir():
        return Status(False, "not trained yet")
    missing = folder.missing(train_files(step))
    if missing:
        return Status(False, f"its run folder lacks {', '.join(missing)}")
    planned = recipe.config(step, runs).to_dict()
    recorded = folder.config().to_dict()
    differs = sorted(k for k in planned if k != "teachers" and planned[k] != recorded.get(k))
    if differs:
        raise SerappError(f"{folder.path} was trained with another config than step {step.name!r} now plans "
                          f"(it differs in {', '.join(differs)}); remove the folder to retrain it, or give another "
                          "--runs folder.")
    if (step.needs or step.bundled_teachers) and folder.teachers() is None:
        # a run from before teachers.json names its teachers by path alone: their folder names must agree
        if sorted(Path(t).name for t in folder.config().teachers) != sorted(
                [*step.needs, *(Path(run).name for run in step.bundled_teachers)]):
            return Status(False, "it was trained with other teachers")
        return Status(True, f"kept ({folder.path}; its teachers recorded by folder name only)")
    taught = {(ref.run_id, ref.model_sha256) for ref in folder.teacher_refs()}
    expected = {(name, RunFolder(output_of(name, runs)).model_sha256()) for name in step.needs} | \
        {(Path(run).name, RunFolder(Path(run)).model_sha256()) for run in step.bundled_teachers}
    if taught != expected:
        return Status(False, "its teachers have changed since it was trained")
    return Status(True, f"kept ({folder.path})")


def _recorded_status(folder: Path, record: str, expected: dict[str, Any], files: Sequence[str], *, absent: str,
                     changed: str) -> Status:
    """The state of a step whose folder keeps a record of what it was made from (``record``, written last): kept
    when the record equals ``expected`` and ``files`` are there; ``absent`` and ``changed`` say why not."""
    if not (folder / record).is_file():
        return Status(False, absent)
    if read_json(folder / record, "step record") != expected:
        return Status(False, changed)
    missing = [name for name in files if not (folder / name).is_file()]
    if missing:
        return Status(False, f"its folder lacks {', '.join(missing)}")
    return Status(True, f"kept ({folder})")


def _export_status(recipe: Recipe, step: Step, runs: Path) -> Status:
    return _recorded_status(output(step, runs), EXPORT_RECORD, export_record(step, runs), export_files(step),
                            absent="not exported yet", changed="its run or options have changed since it was exported")


def export_files(step: Step) -> tuple[str, ...]:
    return (MODEL_ONNX, MODEL_INT8_ONNX) if step.int8 else (MODEL_ONNX,)


def export_record(step: Step, runs: Path) -> dict[str, Any]:
    """What an export step records beside its files: the run (id and checkpoint checksum) and the options (and
    the checksum of the model it attaches onto), so a retrained run, a new base or changed options redo it."""
    run = RunFolder(output_of(step.fields["run"], runs))
    keras = run.path / MODEL_KERAS
    record = {"run": run.run_id, "keras_sha256": sha256_file(keras) if keras.is_file() else None,
              "model_name": step.fields.get("model_name"), "int8": step.int8}
    if "onto" in step.fields:
        base = attach_base(step, runs)
        record["onto_sha256"] = sha256_file(base) if base.is_file() else None
    return record


def attach_base(step: Step, runs: Path) -> Path:
    """The model an export step with ``onto`` attaches its run's head to: the onto step's model or int8 copy."""
    return output_of(step.fields["onto"], runs) / (MODEL_INT8_ONNX if step.fields.get("onto_int8") else MODEL_ONNX)


def installed_source(recipe: Recipe, step: Step, runs: Path) -> Path:
    """The exported file an install step copies (its export step's model, or its int8 copy)."""
    return output_of(step.needs[0], runs) / (MODEL_INT8_ONNX if step.int8 else MODEL_ONNX)


def _installed_chain(recipe: Recipe, step: Step) -> list[Step]:
    """The steps behind an install step's file, from the one it copies to the one whose model answers as the file
    does: a crowd check is followed to the model it was attached to, an export onto another model to that model."""
    chain = [recipe.step(step.needs[0])]
    while (chain[-1].kind == "export" and "onto" in chain[-1].fields) or chain[-1].kind == "crowd":
        chain.append(recipe.step(chain[-1].fields["onto" if chain[-1].kind == "export" else "from"]))
    return chain


def installed_run(recipe: Recipe, step: Step, runs: Path) -> Path:
    """The run folder behind an install step's file: its export step's run (for an export onto another model, or a
    crowd check attached to one, that model's run: the file answers as it does), or the ensemble step's own
    folder."""
    base = _installed_chain(recipe, step)[-1]
    return output(base, runs) if base.kind == "ensemble" else output_of(base.fields["run"], runs)


def installed_records(recipe: Recipe, step: Step, runs: Path) -> list[tuple[Path, Path]]:
    """The records an install step with ``docs`` copies, as (source, destination) pairs: the run's JSON records
    into ``docs``, and the crowd check's record into ``docs/crowd`` when the file carries one (so the bundled
    file's crowd record is always the check it carries). Sources that do not exist are left out."""
    docs = Path(step.fields["docs"])
    pairs = [(installed_run(recipe, step, runs) / name, docs / name) for name in RECORD_FILES]
    pairs += [(output(crowd, runs) / name, docs / "crowd" / name)
              for crowd in _installed_chain(recipe, step) if crowd.kind == "crowd" for name in CROWD_RECORD_FILES]
    return [(src, dst) for src, dst in pairs if src.is_file()]


def _install_status(recipe: Recipe, step: Step, runs: Path) -> Status:
    from .modelmanifest import entry_for

    source, target = installed_source(recipe, step, runs), Path(step.fields["to"])
    if not source.is_file() or not target.is_file():
        return Status(False, "not installed yet")
    digest = sha256_file(target)
    if digest != sha256_file(source):
        return Status(False, f"{target} differs from {source}")
    entry = entry_for(target)
    if entry is None or entry.get("sha256") != digest:
        return Status(False, f"{target}'s manifest entry is missing or out of date")
    docs = step.fields.get("docs")
    if docs and any(_differs(src, dst) for src, dst in installed_records(recipe, step, runs)):
        return Status(False, f"{docs} does not hold the run's records")
    return Status(True, f"kept ({target})")


def ensemble_record(step: Step, runs: Path) -> dict[str, Any]:
    """What an ensemble step records beside its run folder: each member's step and model checksum and the options,
    so a retrained member redoes the ensemble."""
    return {"models": [[name, RunFolder(output_of(name, runs)).model_sha256()] for name in step.models],
            "model_name": step.fields.get("model_name"), "int8": step.int8}


def _ensemble_status(recipe: Recipe, step: Step, runs: Path) -> Status:
    return _recorded_status(output(step, runs), ENSEMBLE_RECORD, ensemble_record(step, runs),
                            (*export_files(step), CONFIG, SPLIT, METRICS), absent="not merged yet",
                            changed="its members or options have changed since it was merged")


def crowd_source(step: Step, runs: Path) -> Path:
    """The model a crowd step attaches its check to: its ``from`` step's model."""
    return output_of(step.fields["from"], runs) / MODEL_ONNX


def crowd_options(step: Step) -> dict[str, Any]:
    """A crowd step's options with :func:`serapp_train.crowd.make_crowd_check`'s defaults filled in."""
    from .crowd import CROWD_DEFAULTS

    return {**CROWD_DEFAULTS, **{k: v for k, v in step.fields.items() if k in CROWD_DEFAULTS}}


def crowd_record(step: Step, runs: Path) -> dict[str, Any]:
    """What a crowd step records: the checksums of the model it attaches to and of the split, and its options."""
    source, split = crowd_source(step, runs), output_of(step.fields["split_of"], runs) / SPLIT
    return {"from_sha256": sha256_file(source) if source.is_file() else None,
            "split_sha256": sha256_file(split) if split.is_file() else None, **crowd_options(step)}


def _crowd_status(recipe: Recipe, step: Step, runs: Path) -> Status:
    return _recorded_status(output(step, runs), CROWD_RECORD, crowd_record(step, runs), CROWD_FILES,
                            absent="not learnt yet", changed="its model, split or options have changed since")


def evaluate_record(recipe: Recipe, step: Step, runs: Path) -> dict[str, Any]:
    """What an evaluate step records beside its scores: each model's run id and checksum, the split scored (its
    run and the checksum of its ``split.json``), the part and the clip limit, so a retrained run redoes it."""
    split = output_of(step.fields["split_of"], runs) / SPLIT
    return {"models": [[name, RunFolder(output_of(name, runs)).model_sha256()] for name in step.models],
            "split_of": step.fields["split_of"], "split_sha256": sha256_file(split) if split.is_file() else None,
            "part": step.fields["part"], "limit": evaluate_limit(recipe, step)}


def evaluate_limit(recipe: Recipe, step: Step) -> int | None:
    """An evaluate step's clips per corpus: its own ``limit``, else the recipe defaults' (a quick recipe scores
    quickly too), else all."""
    return step.fields.get("limit", recipe.defaults.get("limit"))


def _evaluate_status(recipe: Recipe, step: Step, runs: Path) -> Status:
    return _recorded_status(output(step, runs), EVALUATE_RECORD, evaluate_record(recipe, step, runs), (METRICS,),
                            absent="not scored yet",
                            changed="its models, split or options have changed since it was scored")


def crossval_out(step: Step, runs: Path) -> Path:
    """Where a crossval step writes its report: ``out``, else ``RUNS/<name>`` (``runs``: the recipe's RUNS folder,
    above the folds')."""
    return Path(step.fields["out"]) if step.fields.get("out") else output(step, runs)


def fold_runs(recipe: Recipe, runs: Path) -> dict[int, Path]:
    """Each fold's RUNS folder, by fold number."""
    return {fold: Path(runs) / f"fold{fold}" for fold in recipe.folds}


def crossval_record(recipe: Recipe, step: Step, runs: Path) -> dict[str, Any]:
    """What a crossval step records: on each fold, each model's step and checksum; the report folder and options;
    so a retrained fold run redoes the pooling."""
    return {"folds": {str(fold): [[name, RunFolder(output_of(name, folder)).model_sha256()] for name in step.models]
                      for fold, folder in fold_runs(recipe, runs).items()},
            "out": crossval_out(step, runs).as_posix(), "validation_only": bool(step.fields.get("validation_only")),
            "command": crossval_command(recipe)}


def crossval_command(recipe: Recipe) -> str:
    """The command a crossval step's README quotes as having trained the folds."""
    return f"serapp-train recipe {recipe.path.as_posix()}"


def _crossval_status(recipe: Recipe, step: Step, runs: Path) -> Status:
    record, out = output(step, runs) / CROSSVAL_RECORD, crossval_out(step, runs)
    if not record.is_file() or any(not (out / name).is_file() for name in ("crossval.json", "README.md")):
        return Status(False, "not pooled yet")
    if read_json(record, "cross-validation record") != crossval_record(recipe, step, runs):
        return Status(False, "its fold runs or options have changed since they were pooled")
    return Status(True, f"kept ({out})")


# each kind's check of its output (see status)
CHECKS: dict[str, Callable[[Recipe, Step, Path], Status]] = {
    "train": _train_status, "export": _export_status, "ensemble": _ensemble_status, "crowd": _crowd_status,
    "install": _install_status,
    "evaluate": _evaluate_status,
    "crossval": _crossval_status}


def _differs(source: Path, copy: Path) -> bool:
    """Whether a record file and its copy differ (a record the run lacks needs no copy)."""
    if not source.is_file():
        return False
    return not copy.is_file() or source.read_bytes() != copy.read_bytes()


# ------------------------------------------------------------------------------------------------- running
def describe(recipe: Recipe, step: Step, runs: Path) -> str:
    """One line saying what a step does (the plan's line)."""
    f = step.fields
    if step.kind == "train":
        words = [f["config"]]
        if f.get("set") or recipe.defaults:
            changes = {**recipe.defaults, **f.get("set", {})}
            words.append("with " + ", ".join(f"{k}={json.dumps(v)}" for k, v in changes.items()))
        if step.needs:
            words.append("teachers " + ", ".join(step.needs))
        return f"train {' '.join(words)} -> {output(step, runs)}"
    if step.kind == "export" and "onto" in f:
        return f"attach the head of {f['run']} onto {attach_base(step, runs)} -> {output(step, runs)}"
    if step.kind == "export":
        extra = (f" as {f['model_name']}" if f.get("model_name") else "") + (" (+ int8)" if step.int8 else "")
        return f"export {step.needs[0]}{extra} -> {output(step, runs)}"
    if step.kind == "ensemble":
        extra = (f" as {f['model_name']}" if f.get("model_name") else "") + (" (+ int8)" if step.int8 else "")
        return f"ensemble {' + '.join(step.models)}{extra} -> {output(step, runs)}"
    if step.kind == "crowd":
        return (f"a crowd check learnt on {f['split_of']}'s training speakers onto {crowd_source(step, runs)} "
                f"-> {output(step, runs)}")
    if step.kind == "evaluate":
        limit = evaluate_limit(recipe, step)
        return (f"evaluate {' + '.join(step.models)} on {f['split_of']}'s {f['part']} speakers"
                f"{f' ({limit} clips per corpus)' if limit else ''} -> {output(step, runs)}")
    if step.kind == "crossval":
        only = " (validation scores only)" if f.get("validation_only") else ""
        return (f"crossval {' + '.join(step.models)} over folds {', '.join(map(str, recipe.folds))}{only} "
                f"-> {crossval_out(step, runs)}")
    docs = f" (records in {f['docs']})" if f.get("docs") else ""
    return f"install {installed_source(recipe, step, runs)} -> {f['to']}{docs}"


@dataclass(frozen=True)
class Planned:
    """One step of a plan: its progress label (``fold 2/4, step 3/7 w32``), the step, its state and its line."""

    label: str
    step: Step
    status: Status
    line: str


def parts(recipe: Recipe, runs: Path) -> list[tuple[str, Recipe, Path]]:
    """What runs as one sequence of steps, with its label prefix and RUNS folder: the recipe itself, or the recipe
    on each of its folds in ``RUNS/fold<i>``."""
    if not recipe.folds:
        return [("", recipe, Path(runs))]
    n = len(recipe.folds)
    return [(f"fold {i}/{n} (fold {fold}), ", recipe.for_fold(fold), Path(runs) / f"fold{fold}")
            for i, fold in enumerate(recipe.folds, 1)]


def plan(recipe: Recipe, runs: Path, only: str | None = None) -> list[Planned]:
    """Each step with its state, in order, as a run would find them (a step after a redone one it uses is redone);
    with ``only`` just that step (on every fold)."""
    out = []
    redone_anywhere: set[str] = set()  # steps redone on some fold: a crossval step pooling them is redone too
    for prefix, one, folder in parts(recipe, runs):
        redone: set[str] = set()
        for step in per_fold(one):
            state = status(one, step, folder, redone)
            if not state.done:
                redone.add(step.name)
            if only is None or step.name == only:
                out.append(Planned(_label(prefix, one, step), step, state, describe(one, step, folder)))
        redone_anywhere |= redone
    for step in pooled(recipe):
        state = status(recipe, step, runs, redone_anywhere)
        if only is None or step.name == only:
            out.append(Planned(_label(POOLED_PREFIX, recipe, step), step, state, describe(recipe, step, runs)))
    return out


POOLED_PREFIX = "all folds, "


def per_fold(recipe: Recipe) -> tuple[Step, ...]:
    """The steps that run on each fold (or once, in a recipe without folds): all but the pooled ones."""
    return tuple(s for s in recipe.steps if s.kind not in POOLED)


def pooled(recipe: Recipe) -> tuple[Step, ...]:
    """The steps that run once over all folds, after them (crossval steps)."""
    return tuple(s for s in recipe.steps if s.kind in POOLED)


def _label(prefix: str, recipe: Recipe, step: Step) -> str:
    return f"{prefix}step {step.number}/{len(recipe.steps)} {step.name}"


def run_recipe(recipe: Recipe, options: Options, *, only: str | None = None,
               say: Callable[[str], None] = print) -> list[str]:
    """Run the recipe's unfinished steps in order, on each of its folds (only the step ``only`` when given; the steps
    it uses must then be finished) and return the outputs made (``[fold<i>/]<name>``). Progress goes to ``say``, one
    line per step."""
    if only is not None:
        recipe.step(only)  # an unknown name is refused before anything runs
    made = []
    for prefix, one, folder in parts(recipe, options.runs):
        ran = _run_steps(one, dataclasses.replace(options, runs=folder), only, say, prefix)
        made += [f"{folder.name}/{name}" if recipe.folds else name for name in ran]
    return made + _run_pooled(recipe, options, only, say, redone={name.split("/")[-1] for name in made})


def _run_pooled(recipe: Recipe, options: Options, only: str | None, say: Callable[[str], None],
                redone: set[str]) -> list[str]:
    """The pooled (crossval) steps, once over all folds, after the folds' steps ran (``redone``: the steps run on
    some fold); returns the names of the steps run."""
    ran = []
    for step in pooled(recipe):
        if only is not None and step.name != only:
            continue
        head = _label(POOLED_PREFIX, recipe, step)
        state = status(recipe, step, options.runs, redone)
        if state.done:
            say(f"{head}: {state.reason}")
            continue
        unfinished = [f"fold{fold}/{s.name}" for fold in recipe.folds for s in per_fold(recipe.for_fold(fold))
                      if s.name in step.needs
                      and not status(recipe.for_fold(fold), s, fold_runs(recipe, options.runs)[fold], set()).done]
        if unfinished:
            raise SerappError(f"step {step.name!r} needs {', '.join(unfinished)}, not finished yet: run the "
                              "recipe without --only first.")
        say(f"{head}: {_doing(step)} ({state.reason})")
        RUNNERS[step.kind](recipe, step, options)
        ran.append(step.name)
        say(f"{head}: done")
    return ran


def _run_steps(recipe: Recipe, options: Options, only: str | None, say: Callable[[str], None],
               prefix: str) -> list[str]:
    """One sequence of steps (see :func:`run_recipe`); returns the names of the steps run."""
    runs = Path(options.runs)
    runs.mkdir(parents=True, exist_ok=True)
    redone: set[str] = set()
    ran = []
    for step in per_fold(recipe):
        head = _label(prefix, recipe, step)
        state = status(recipe, step, runs, redone)
        if only is not None and step.name != only:
            if not state.done:
                redone.add(step.name)
            continue
        if state.done:
            say(f"{head}: {state.reason}")
            continue
        unfinished = [name for name in step.needs if name in redone]
        if only is not None and unfinished:
            raise SerappError(f"step {step.name!r} needs {', '.join(unfinished)}, not finished yet: run the "
                              "recipe without --only first.")
        say(f"{head}: {_doing(step)} ({state.reason})")
        RUNNERS[step.kind](recipe, step, options)
        redone.add(step.name)
        ran.append(step.name)
        say(f"{head}: done")
    return ran


def _doing(step: Step) -> str:
    return {"train": "training", "export": "exporting", "ensemble": "merging", "crowd": "learning the crowd check",
            "install": "installing",
            "evaluate": "scoring",
            "crossval": "pooling the folds"}[step.kind]


def _fresh_scratch(step: Step, runs: Path) -> Path:
    """The step's scratch folder, emptied: what an interrupted call left there is discarded."""
    folder = scratch(step, runs)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def _move_into_place(built: Path, target: Path) -> None:
    """Replace ``target`` by ``built`` (the old output stays until the new one is complete)."""
    if target.exists():
        shutil.rmtree(target)
    built.rename(target)


def run_train(recipe: Recipe, step: Step, options: Options) -> None:
    from .training import train_run

    runs = Path(options.runs)
    work = _fresh_scratch(step, runs)
    result = train_run(recipe.config(step, runs), root=options.root, runs_dir=work,
                       export=bool(step.fields.get("export", True)), workers=options.workers,
                       extract_workers=options.extract_workers, verbose=0 if options.quiet else 1)
    _move_into_place(result.run_dir, output(step, runs))
    work.rmdir()


def run_export(recipe: Recipe, step: Step, options: Options) -> None:
    from .exporting import export_run

    runs = Path(options.runs)
    work = _fresh_scratch(step, runs)
    clips = int(step.fields.get("parity_clips", 8))
    if "onto" in step.fields:
        from .adaptable import attach_run

        attach_run(output_of(step.fields["run"], runs), attach_base(step, runs), work / MODEL_ONNX, root=options.root,
                   parity_clips=clips)
    else:
        export_run(output_of(step.needs[0], runs), work / MODEL_ONNX, name=step.fields.get("model_name"),
                   int8=step.int8, root=options.root, parity_clips=clips)
    write_json(work / EXPORT_RECORD, export_record(step, runs))  # written last: it marks the export finished
    _move_into_place(work, output(step, runs))


def run_ensemble(recipe: Recipe, step: Step, options: Options) -> None:
    from .ensembling import build_ensemble

    runs = Path(options.runs)
    work = _fresh_scratch(step, runs)
    work.rmdir()  # the ensemble writes a new folder
    build_ensemble([output_of(name, runs) for name in step.models], work, name=step.fields.get("model_name"),
                   root=options.root, int8=step.int8, say=(lambda _: None) if options.quiet else print)
    write_json(work / ENSEMBLE_RECORD, ensemble_record(step, runs))  # written last: it marks the merge finished
    _move_into_place(work, output(step, runs))


def run_crowd(recipe: Recipe, step: Step, options: Options) -> None:
    from serapp.paths import corpora_root

    from .crowd import make_crowd_check, write_records

    runs = Path(options.runs)
    work = _fresh_scratch(step, runs)
    opts = crowd_options(step)
    done = make_crowd_check(crowd_source(step, runs), output_of(step.fields["split_of"], runs) / SPLIT,
                            work / MODEL_ONNX, root=options.root or corpora_root(), clips_per_corpus=opts["clips"],
                            crowds=opts["crowds"], seed=opts["seed"], c=opts["c"],
                            max_speech_loss=opts["max_speech_loss"], say=(lambda _: None) if options.quiet else print)
    write_records(work, done.record)
    write_json(work / CROWD_RECORD, crowd_record(step, runs))  # written last: it marks the check finished
    _move_into_place(work, output(step, runs))


def run_install(recipe: Recipe, step: Step, options: Options) -> None:
    from serapp.atomic import write_bytes

    from .modelmanifest import record

    runs = Path(options.runs)
    run_dir = installed_run(recipe, step, runs)
    docs = step.fields.get("docs")
    if docs:  # the run's records beside the bundled model's card, so the manifest names a folder in every clone
        for src, dst in installed_records(recipe, step, runs):
            dst.parent.mkdir(parents=True, exist_ok=True)
            write_bytes(dst, src.read_bytes())
    target = Path(step.fields["to"])
    target.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(target, installed_source(recipe, step, runs).read_bytes())
    record(target, Path(docs) if docs else run_dir)


def run_evaluate(recipe: Recipe, step: Step, options: Options) -> None:
    from serapp.engine.model import load_model
    from serapp.paths import corpora_root

    from .evaluation import evaluate_into, part_clips

    runs = Path(options.runs)
    work = _fresh_scratch(step, runs)
    split = output_of(step.fields["split_of"], runs) / SPLIT
    model, *members = [load_model(RunFolder(output_of(name, runs)).model_path) for name in step.models]
    clips = part_clips(options.root or corpora_root(), split, step.fields["part"], limit=evaluate_limit(recipe, step))
    evaluate_into(work, model, clips, members=members, split=split, part=step.fields["part"])
    write_json(work / EVALUATE_RECORD, evaluate_record(recipe, step, runs))  # written last: it marks the scores done
    _move_into_place(work, output(step, runs))


def run_crossval(recipe: Recipe, step: Step, options: Options) -> None:
    """Pool the folds' runs of the step's models (``options.runs``: the recipe's RUNS, above the folds')."""
    from .crossvalidation import crossval

    runs = Path(options.runs)
    folders = fold_runs(recipe, runs)
    first, *others = step.models
    crossval([output_of(first, folder) for folder in folders.values()], crossval_out(step, runs), root=options.root,
             command=crossval_command(recipe), validation_only=bool(step.fields.get("validation_only")),
             member_groups=[[output_of(name, folder) for folder in folders.values()] for name in others])
    record = output(step, runs)
    record.mkdir(parents=True, exist_ok=True)
    write_json(record / CROSSVAL_RECORD, crossval_record(recipe, step, runs))  # written last: the pooling is done


RUNNERS: dict[str, Callable[[Recipe, Step, Options], None]] = {
    "train": run_train, "export": run_export, "ensemble": run_ensemble, "crowd": run_crowd, "install": run_install,
    "evaluate": run_evaluate, "crossval": run_crossval}
