"""A run folder: what `serapp-train train` (and `serapp-train ensemble`) leaves, read and written here only.

Layout (JSON files indented with sorted keys, each written atomically, through :mod:`serapp_train.jsonfile`):

- ``config.json``: the :class:`~serapp_train.config.TrainConfig`; an ensemble's adds ``members``, each member run
  by run id and model SHA-256 (``{"run_id", "model_sha256"}``; ensembles made before this record name their
  member folders by path, read as well).
- ``labels.json``: the model's output columns, in order.
- ``spec.json``: the input :class:`~serapp.engine.spec.FeatureSpec` (the config's resolved spec), canonical JSON.
- ``split.json``: the split's name, ``speaker_independent``, clip counts per part (``train``, ``val``, ``test``;
  ``train_views`` for augmented encoder views) and each part's speakers (``train_speakers``, ``val_speakers``,
  ``test_speakers``).
- ``metrics.json``: the evaluation (test, or validation for all-speaker runs) with ``calibration`` (temperature,
  ECE before and after on validation), ``validation`` (what a search may select on), ``n_params`` and ``code``
  (the trainer's git commit and whether it had uncommitted changes, :mod:`serapp_train.codeversion`; None outside
  a checkout, absent in older runs).
- ``history.json``: Keras's per-epoch lists (``loss``, ``val_loss``, ``lr`` ...) and ``seconds_per_epoch``.
- ``teachers.json``: a distilled run's teacher record: each teacher by run id and model SHA-256 with its speaker
  sets (:mod:`serapp_train.provenance`).
- ``model.keras`` (the best checkpoint) and ``model.onnx`` (the exported model), ``curves.png``, ``confusion.png``.
- Records written beside a shipped model's run by other commands: ``selection.json`` (how it was chosen) and
  ``product-path/metrics.json`` (``serapp-train evaluate --product``).

Split and metrics stay dicts: their keys are the documented record, and older runs hold fewer of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from serapp.atomic import write_text
from serapp.bundle import sha256_file
from serapp.engine.spec import FeatureSpec
from serapp.errors import SerappError

from .config import TrainConfig
from .jsonfile import read_json, write_json

CONFIG = "config.json"
LABELS = "labels.json"
SPEC = "spec.json"
SPLIT = "split.json"
METRICS = "metrics.json"
HISTORY = "history.json"
TEACHERS = "teachers.json"
SELECTION = "selection.json"
PRODUCT_PATH = "product-path/metrics.json"
ADAPTATION = "adaptation/test/metrics.json"  # `serapp-train evaluate --part test --adapt`: adapting to the speaker
MODEL_KERAS = "model.keras"
MODEL_ONNX = "model.onnx"
MODEL_INT8_ONNX = "model-int8.onnx"  # its int8 copy, beside it (export and ensemble steps)
PARTS: tuple[str, ...] = ("train", "val", "test")
MEMBERS = "members"  # the config.json key an ensemble adds


@dataclass(frozen=True)
class RunRef:
    """Another run as a record names it: by run id (its folder's name, the same in any clone) and the SHA-256 of its
    ``model.onnx`` (None where the record lacks it); ``run`` is the path the record also gives (a teacher's: the path
    the student was trained with; an old ensemble's member: its only reference), None when it gives none."""

    run_id: str | None
    model_sha256: str | None
    run: str | None

    @classmethod
    def of(cls, folder: RunFolder) -> RunRef:
        """The reference to a finished run: its id and current model checksum (no path)."""
        return cls(folder.run_id, folder.model_sha256(), None)

    def to_dict(self) -> dict[str, Any]:
        """As an ensemble's ``config.json`` records a member: ``{"run_id", "model_sha256"}``."""
        return {"run_id": self.run_id, "model_sha256": self.model_sha256}


# a distilled run's teacher and an ensemble's member are referenced alike
TeacherRef = RunRef
MemberRef = RunRef


@dataclass(frozen=True)
class RunFolder:
    """One run folder at ``path``. Reads go to disk each time (a folder may change between two commands of one
    process, e.g. a test rewriting a config); a file that cannot be read is a :class:`SerappError` naming it."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @classmethod
    def create(cls, runs_dir: Path, config: TrainConfig) -> RunFolder:
        """A fresh ``<runs_dir>/<YYYYmmdd-HHMMSS>-<family>-<protocol>[-n]/`` folder (created)."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        base = Path(runs_dir) / f"{stamp}-{config.family}-{config.protocol_label}"
        path, n = base, 1
        while path.exists():
            n += 1
            path = base.with_name(f"{base.name}-{n}")
        path.mkdir(parents=True)
        return cls(path)

    # ------------------------------------------------------------------------------------------ files
    @property
    def run_id(self) -> str:
        """The run's id: its folder's name (what provenance records and tables name)."""
        return self.path.name

    @property
    def model_path(self) -> Path:
        """The exported ONNX model (which may not exist)."""
        return self.path / MODEL_ONNX

    @property
    def keras_path(self) -> Path:
        """The best Keras checkpoint (which may not exist)."""
        return self.path / MODEL_KERAS

    def has(self, name: str) -> bool:
        """Whether the folder holds the file ``name`` (e.g. :data:`MODEL_ONNX`)."""
        return (self.path / name).is_file()

    def missing(self, names: Sequence[str]) -> list[str]:
        """Those of ``names`` the folder lacks, in order."""
        return [name for name in names if not self.has(name)]

    def require(self, names: Sequence[str], what: str = "a finished, exported run") -> None:
        """Raise :class:`SerappError` naming the first of ``names`` the folder lacks (a run exported with
        ``--export`` has ``model.onnx`` beside its JSON files)."""
        for name in self.missing(names):
            raise SerappError(f"{self.path}: not {what} (it lacks {name}).")

    def exported_model(self) -> Path | None:
        """The run's ONNX model: its ``model.onnx``, or for a bundled model's run folder (in git without its ONNX
        file) the bundled file whose manifest entry names this folder as its run; None when there is neither."""
        return self.model_path if self.has(MODEL_ONNX) else bundled_model(self.path)

    def model_sha256(self) -> str | None:
        """Hex SHA-256 of :meth:`exported_model`; None when the run has none."""
        model = self.exported_model()
        return sha256_file(model) if model is not None else None

    # ------------------------------------------------------------------------------------------ reading
    def read(self, name: str) -> Any:
        """The parsed JSON file ``name`` of this folder."""
        return read_json(self.path / name)

    def read_optional(self, name: str) -> Any | None:
        """The parsed JSON file ``name``, or None when the folder lacks it."""
        return self.read(name) if self.has(name) else None

    def config_record(self) -> dict[str, Any]:
        """``config.json`` as written (an ensemble's ``members`` included), for reports that quote it."""
        return self.read(CONFIG)

    def config(self) -> TrainConfig:
        """``config.json`` as a validated :class:`TrainConfig` (an ensemble's ``members`` aside)."""
        record = {k: v for k, v in self.config_record().items() if k != MEMBERS}
        return TrainConfig.from_dict(record)

    def member_refs(self) -> tuple[MemberRef, ...]:
        """An ensemble's members by run id and model checksum (empty for a single model); a member an older record
        names by folder path alone has that folder's name as its id, the path as ``run`` and no checksum."""
        refs = []
        for item in self.config_record().get(MEMBERS) or ():
            if isinstance(item, dict):
                refs.append(MemberRef(item.get("run_id"), item.get("model_sha256"), item.get("run")))
            else:
                refs.append(MemberRef(Path(str(item)).name, None, str(item)))
        return tuple(refs)

    def members(self) -> tuple[str, ...]:
        """An ensemble's members as its ``config.json`` names them: run ids, or an older record's folder paths
        (empty for a single model)."""
        return tuple(ref.run or ref.run_id or "" for ref in self.member_refs())

    def labels(self) -> tuple[str, ...]:
        """The model's output columns, in order."""
        return tuple(self.read(LABELS))

    def spec(self) -> FeatureSpec:
        """The input feature spec."""
        try:
            text = (self.path / SPEC).read_text(encoding="utf-8")
        except OSError as exc:
            raise SerappError(f"{self.path / SPEC}: cannot read the run file ({exc}).") from exc
        return FeatureSpec.from_json(text)

    def split(self) -> dict[str, Any]:
        """``split.json``: name, independence, counts per part and speakers per part (see the module)."""
        return self.read(SPLIT)

    def speakers(self, part: str) -> frozenset[str]:
        """The speakers of one part (``train``, ``val`` or ``test``) of the split; empty when none are listed."""
        return frozenset(self.split().get(f"{part}_speakers") or ())

    def metrics(self) -> dict[str, Any]:
        """``metrics.json``: the run's evaluation."""
        return self.read(METRICS)

    def temperature(self) -> float:
        """The calibration temperature fitted on the validation speakers (1.0 when none was recorded)."""
        return float(self.metrics().get("calibration", {}).get("temperature", 1.0))

    def history(self) -> dict[str, Any] | None:
        """``history.json`` (per-epoch lists); None for runs without one (scikit-learn baselines, ensembles)."""
        return self.read_optional(HISTORY)

    def teachers(self) -> dict[str, Any] | None:
        """The teacher record ``teachers.json``; None for a run without teachers."""
        return self.read_optional(TEACHERS)

    def teacher_refs(self) -> tuple[TeacherRef, ...]:
        """The run's direct teachers by run id and model checksum, from ``teachers.json`` (empty without one)."""
        record = self.teachers() or {}
        return tuple(RunRef(node.get("run_id"), node.get("model_sha256"), node.get("run"))
                     for node in record.get("teachers") or ())

    def code(self) -> dict[str, Any] | None:
        """The code the run was trained with (``metrics.json``'s ``code``: ``commit`` and ``changes``); None when
        the run has no metrics, was trained outside a git checkout or predates the record."""
        metrics = self.read_optional(METRICS)
        return None if metrics is None else metrics.get("code")

    def selection(self) -> dict[str, Any] | None:
        """``selection.json``: how a shipped model was chosen; None when absent."""
        return self.read_optional(SELECTION)

    def product_path(self) -> dict[str, Any] | None:
        """The ``serapp-train evaluate --product`` record in ``product-path/``; None when absent."""
        return self.read_optional(PRODUCT_PATH)

    def adaptation(self) -> dict[str, Any] | None:
        """The ``serapp-train evaluate --adapt`` record of the test speakers in ``adaptation/test/``; None when
        absent."""
        return self.read_optional(ADAPTATION)

    def validation(self) -> dict[str, Any] | None:
        """The run's validation scores (``metrics.json``'s ``validation``: accuracy, macro_f1, uar, per_corpus, n)
        with ``loss``, the best validation loss in ``history.json`` (None without one); None when the run has no
        such record."""
        metrics = self.read_optional(METRICS)
        record = None if metrics is None else metrics.get("validation")
        if record is None:
            return None
        losses = (self.history() or {}).get("val_loss")
        return {**record, "loss": float(min(losses)) if losses else None}

    # ------------------------------------------------------------------------------------------ writing
    def write_config(self, config: TrainConfig, members: Sequence[RunFolder] = ()) -> None:
        """Write ``config.json`` (with an ensemble's ``members``, each by run id and model checksum, when given)."""
        record = config.to_dict()
        if members:
            record[MEMBERS] = [RunRef.of(m).to_dict() for m in members]
        write_json(self.path / CONFIG, record)

    def write_labels(self, labels: Sequence[str]) -> None:
        write_json(self.path / LABELS, list(labels))

    def write_spec(self, spec: FeatureSpec) -> None:
        write_text(self.path / SPEC, spec.to_json() + "\n")  # canonical (compact) JSON, as the model metadata holds

    def write_split(self, split: dict[str, Any]) -> None:
        write_json(self.path / SPLIT, split)

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        write_json(self.path / METRICS, metrics)

    def write_history(self, history: dict[str, Any]) -> None:
        write_json(self.path / HISTORY, history)

    def write_teachers(self, record: dict[str, Any]) -> None:
        write_json(self.path / TEACHERS, record)


def split_file(path: Path) -> dict[str, Any]:
    """A ``split.json`` named by its own path (``serapp-train evaluate --split``), read as a run folder's is."""
    return read_json(Path(path))


def bundled_model(run_dir: Path) -> Path | None:
    """The bundled ONNX file whose manifest entry (``assets/models/manifest.json``) names ``run_dir`` as its run
    folder, or None. Manifest runs are relative to the checkout's root, as the trainer's commands run there."""
    from serapp import bundle

    folder = bundle.models_dir()
    try:
        entries = bundle.read_manifest(folder)["models"]
    except SerappError:
        return None
    for entry in entries:
        path = folder / entry["file"]
        if entry.get("run") and Path(entry["run"]).resolve() == Path(run_dir).resolve() and path.is_file():
            return path
    return None


def from_checkout(path: Path) -> str:
    """``path`` relative to the working directory (the checkout's root, where the trainer's commands run) when it
    lies inside it, else as given: what a generated document names, so that it reads the same on every machine."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def load_checkpoint(folder: RunFolder) -> Any:
    """The run's ``model.keras``, loaded in Keras safe mode (no code runs); :class:`SerappError` when it cannot be."""
    import keras

    # serapp's own layers register themselves when their modules are imported; a checkpoint that uses them loads
    # only after that, whatever the caller imported before (a distillation step reads teachers before any model).
    from . import nets  # noqa: F401
    from .whisper import classifier, encoder  # noqa: F401

    try:
        return keras.saving.load_model(folder.keras_path, safe_mode=True)
    except Exception as exc:  # Keras raises assorted types for damaged or unsafe files
        raise SerappError(f"{folder.keras_path}: cannot load the checkpoint ({exc}).") from exc
