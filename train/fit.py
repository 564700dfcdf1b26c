"""`serapp-train train`: one model, one honest protocol, everything saved in a run directory.

Flow: scan corpora -> (optional) limit per corpus -> features / prepared audio from the cache -> speaker split
(validation speakers drawn from the *training* speakers) -> batches with on-the-fly augmentation for the
training set only -> ``model.fit`` with early stopping on validation, best checkpoint and an LR schedule ->
temperature fitted on validation -> test metrics computed once, at the end -> optional ONNX export.

Backend-agnostic Keras 3: nothing in the training path calls TensorFlow directly, so the same code runs
with ``KERAS_BACKEND=jax`` (tests/test_jax_backend.py); only the ONNX export needs TensorFlow, so a run trained
on JAX is exported afterwards by ``KERAS_BACKEND=tensorflow serapp-train export RUN_DIR``. Keras is imported
inside functions so the command line starts fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from serapp.atomic import replacing, write_text
from serapp.engine.features import features_from_prepared
from serapp.engine.labels import EMOTIONS
from serapp.engine.spec import FeatureSpec
from serapp.errors import SerappError
from serapp.jsonconfig import JsonConfig, require
from serapp.paths import corpora_root

from . import splits as split_lib
from .augment import AugmentConfig, augment_audio, augment_features, mixup
from .corpora import Clip
from .models import CLASSICAL, CLASSICAL_SPEC, DEFAULT_FAMILY, ENCODER_FAMILIES, FAMILIES

if TYPE_CHECKING:
    import keras

# protocol name on the command line -> name in serapp_train.splits
PROTOCOLS: dict[str, str] = {"speaker-kfold": "kfold", "corpus-kfold": "corpus-kfold",
                             "speaker-holdout": "holdout", "loco": "loco", "random": "random"}
KFOLD_PROTOCOLS: tuple[str, ...] = ("speaker-kfold", "corpus-kfold")
SCHEDULES: tuple[str, ...] = ("cosine", "plateau", "constant")
IMBALANCE: tuple[str, ...] = ("class_weight", "corpus_class_weight", "oversample", "none")
# imbalance settings that weight the loss per example (the others reorder or do nothing)
WEIGHTED: tuple[str, ...] = ("class_weight", "corpus_class_weight")
LICENSE_NOTE = ("Trained on emotional speech corpora whose licences are non-commercial (RAVDESS CC BY-NC-SA 4.0, "
                "TESS CC BY-NC-ND 4.0, SAVEE research use); this model inherits those terms: "
                "non-commercial use only.")


# ---------------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class TrainConfig(JsonConfig):
    """Everything that determines a training run (saved as ``config.json`` in the run directory).

    ``spec`` None means the family's default input features. ``fold`` is 1-based (k-fold and
    leave-one-corpus-out). ``limit`` caps clips per corpus (a seeded subset) for quick runs. ``all_speakers``
    trains for shipping: no test fold, only validation speakers are held out (early stopping, calibration).
    ``teachers``: run folders whose models' mean probabilities take ``distill_weight`` of every training target
    (see :mod:`serapp_train.distill`). ``split_seed`` draws the speakers (and the ``limit`` subset); None means
    ``seed``.
    Fixing it while ``seed`` changes trains on the same speakers from another start (seed variance, seed
    ensembles of one split).
    """

    KIND: ClassVar[str] = "training config"

    family: str = DEFAULT_FAMILY
    spec: FeatureSpec | None = None
    corpora: tuple[str, ...] | None = None
    protocol: str = "speaker-kfold"
    fold: int = 1
    k: int = 5
    test_fraction: float = 0.2
    val_fraction: float = 0.1
    all_speakers: bool = False
    seed: int = 0
    split_seed: int | None = None
    epochs: int = 40
    batch_size: int = 32
    learning_rate: float = 1e-3
    schedule: str = "cosine"
    patience: int = 8
    imbalance: str = "class_weight"
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    label_smoothing: float = 0.0
    mixup_alpha: float = 0.0
    dropout: float | None = None
    fold_calm: bool = True
    limit: int | None = None
    model_options: dict[str, Any] = field(default_factory=dict)
    teachers: tuple[str, ...] = ()
    distill_weight: float = 0.5
    # Encoder families: augmented copies of each training clip (``augment``'s audio augmentations, drawn once per
    # copy), encoded once and cached beside the clean clips (:func:`serapp_train.whisper.embeddings.embed_views`).
    views: int = 0

    @property
    def speaker_seed(self) -> int:
        """The seed that draws the speakers and the ``limit`` subset: ``split_seed``, else ``seed``."""
        return self.seed if self.split_seed is None else self.split_seed

    def __post_init__(self) -> None:
        if self.corpora is not None:
            object.__setattr__(self, "corpora", tuple(self.corpora))
        object.__setattr__(self, "teachers", tuple(str(t) for t in self.teachers))
        self.validate()

    def validate(self) -> None:
        """Raise :class:`SerappError` with a plain message for an out-of-range or unknown setting."""
        known = (*FAMILIES, *CLASSICAL)
        checks: list[tuple[bool, str]] = [
            (self.family in known, f"unknown family {self.family!r} (known: {', '.join(known)})"),
            (self.protocol in PROTOCOLS, f"unknown protocol {self.protocol!r} (known: {', '.join(PROTOCOLS)})"),
            (self.k >= 2, f"k must be >= 2, got {self.k}"),
            (self.fold >= 1, f"fold is 1-based, got {self.fold}"),
            (0.0 < self.test_fraction < 1.0, f"test_fraction must be in (0, 1), got {self.test_fraction}"),
            (0.0 < self.val_fraction < 1.0, f"val_fraction must be in (0, 1), got {self.val_fraction}"),
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.batch_size >= 2, f"batch_size must be >= 2, got {self.batch_size}"),
            (0.0 < self.learning_rate < 1.0, f"learning_rate must be in (0, 1), got {self.learning_rate}"),
            (self.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}"),
            (self.patience >= 1, f"patience must be >= 1, got {self.patience}"),
            (self.imbalance in IMBALANCE, f"imbalance must be one of {', '.join(IMBALANCE)}, got {self.imbalance!r}"),
            (0.0 <= self.label_smoothing < 0.5, f"label_smoothing must be in [0, 0.5), got {self.label_smoothing}"),
            (self.mixup_alpha >= 0.0, f"mixup_alpha must be >= 0, got {self.mixup_alpha}"),
            (self.dropout is None or 0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}"),
            (self.limit is None or self.limit >= 1, f"limit must be >= 1 clip per corpus, got {self.limit}"),
            (0.0 < self.distill_weight <= 1.0, f"distill_weight must be in (0, 1], got {self.distill_weight}"),
            (not self.teachers or not self.classical, "distillation needs a neural family, not a baseline"),
            # an encoder family trains on cached encoder outputs: audio augmentation reaches it only through
            # cached augmented views; features of other kinds do not exist for it
            (self.family not in ENCODER_FAMILIES or not (self.augment.features_enabled or self.mixup_alpha),
             f"{self.family} trains on cached encoder outputs: it takes no feature augmentation or mixup"),
            (self.views >= 0, f"views must be >= 0, got {self.views}"),
            (not self.views or self.family in ENCODER_FAMILIES, "views are for encoder families (whisper_tiny)"),
            (self.family not in ENCODER_FAMILIES or bool(self.views) == self.augment.audio_enabled,
             "an encoder family takes audio augmentation through views: set both views and the augmentation"),
        ]
        require(checks, self.KIND)

    @property
    def classical(self) -> bool:
        """True for the scikit-learn baselines (tree, knn, svm)."""
        return self.family in CLASSICAL

    @property
    def encoder(self) -> str | None:
        """The family's frozen pretrained encoder (``"whisper"``), whose cached outputs the head trains on."""
        return None if self.classical else FAMILIES[self.family].encoder

    @property
    def feature_spec(self) -> FeatureSpec:
        """The input spec: the explicit one, else the family's default."""
        if self.spec is not None:
            return self.spec
        return CLASSICAL_SPEC if self.classical else FAMILIES[self.family].spec

    @property
    def protocol_label(self) -> str:
        """How the run's protocol reads in file names, metadata and tables."""
        if self.all_speakers:
            return "all-speakers"
        if self.protocol in (*KFOLD_PROTOCOLS, "loco"):
            return f"{self.protocol}-fold{self.fold}" + (f"of{self.k}" if self.protocol in KFOLD_PROTOCOLS else "")
        return "random-speaker-dependent" if self.protocol == "random" else self.protocol

    def to_dict(self) -> dict[str, Any]:
        # the resolved spec, so a config.json reproduces the run even if a family's default changes
        return {**super().to_dict(), "spec": self.feature_spec.to_dict()}

    def to_json(self, indent: int | None = 2) -> str:
        return super().to_json(indent)

    @classmethod
    def _decode(cls, values: dict[str, Any]) -> dict[str, Any]:
        if values.get("spec") is not None:
            values["spec"] = FeatureSpec.from_dict(values["spec"])
        if "augment" in values:
            values["augment"] = AugmentConfig.from_dict(values["augment"])
        return values


# ---------------------------------------------------------------------------------------------- data
def limit_per_corpus(clips: Sequence[Clip], limit: int | None, seed: int) -> list[Clip]:
    """A seeded random subset of at most ``limit`` clips per corpus, in the input order (None: all)."""
    if limit is None:
        return list(clips)
    rng = np.random.default_rng(seed)
    corpora = np.array([c.corpus for c in clips], dtype=object)
    keep: list[np.ndarray] = []
    for corpus in dict.fromkeys(corpora):
        idx = np.flatnonzero(corpora == corpus)
        keep.append(idx if idx.size <= limit else rng.choice(idx, size=limit, replace=False))
    return [clips[i] for i in np.sort(np.concatenate(keep))]


def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Balanced class weights ``n / (n_present * count)``, ``(n_classes,)``; absent classes get 0.

    The weighted mean over the examples of ``y`` is 1, so the loss scale (and the learning rate) is unchanged.
    """
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(n_classes)
    weights[present] = len(y) / (present.sum() * counts[present])
    return weights.astype(np.float32)


def corpus_class_cells(corpora: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """One int per example for its (corpus, class) cell, ``(N,)``: ``corpus_rank * n_classes + y``, corpora
    ranked by name."""
    rank = np.unique(np.asarray(corpora, dtype=str), return_inverse=True)[1].astype(np.int64)
    return rank * n_classes + np.asarray(y, dtype=np.int64)


def weight_cells(imbalance: str, y: np.ndarray, corpora: np.ndarray, n_classes: int) -> np.ndarray:
    """The groups that loss weighting balances, ``(N,)`` ints: (corpus, class) cells for
    ``corpus_class_weight``, else the classes ``y``."""
    return corpus_class_cells(corpora, y, n_classes) if imbalance == "corpus_class_weight" else np.asarray(y)


def oversample_indices(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices into ``y`` drawn with replacement so every present class is equally likely; ``(len(y),)``."""
    counts = np.bincount(y)
    p = 1.0 / counts[y]
    return rng.choice(len(y), size=len(y), replace=True, p=p / p.sum())


def one_hot(y: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n,)`` int labels -> ``(n, n_classes)`` float32."""
    return np.eye(n_classes, dtype=np.float32)[y]


@dataclass(eq=False)
class Batches:
    """Training or evaluation batches as numpy arrays (wrapped for Keras by :func:`keras_dataset`).

    ``source``: features ``(N, *spec.shape)``, or prepared audio ``(N, spec.n_samples)`` when ``from_audio``
    (features are then computed per batch, after audio augmentation). ``targets``: ``(N,)`` ints. ``rows``:
    the examples to serve (indices into ``source``, e.g. a split's training set; None: all), never copied.
    ``augment`` None means no augmentation (validation / test). A batch is ``(x, y_onehot)`` or, with
    ``imbalance="class_weight"``, ``(x, y_onehot, sample_weight)``. ``corpus_class_weight`` balances the
    cells given by ``cells`` ``(N,)`` ints (one per corpus and class, see :func:`corpus_class_cells`) instead
    of the classes, so a small corpus counts as much as a large one. ``soft`` ``(N, n_classes)``: teacher
    probabilities that take ``soft_weight`` of each target (distillation). The order and every random draw
    come from ``(seed, epoch, batch index)``, so runs repeat exactly whatever the worker scheduling.
    """

    source: np.ndarray
    targets: np.ndarray
    n_classes: int
    spec: FeatureSpec
    rows: np.ndarray | None = None
    batch_size: int = 32
    seed: int = 0
    augment: AugmentConfig | None = None
    from_audio: bool = False
    imbalance: str = "none"
    cells: np.ndarray | None = None
    mixup_alpha: float = 0.0
    soft: np.ndarray | None = None
    soft_weight: float = 0.0
    shuffle: bool = True
    epoch: int = 0
    order: np.ndarray = field(init=False, repr=False)
    weights: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.source) != len(self.targets):
            raise SerappError(f"Batches need one target per example; got {len(self.source)} examples and "
                              f"{len(self.targets)} targets.")
        if self.soft is not None and self.soft.shape != (len(self.targets), self.n_classes):
            raise SerappError(f"Soft targets must be (examples, classes) = ({len(self.targets)}, {self.n_classes}), "
                              f"got {self.soft.shape}.")
        self.rows = np.arange(len(self.targets)) if self.rows is None else np.asarray(self.rows, dtype=np.int64)
        if self.rows.size == 0:
            raise SerappError("No examples to train on: the training split is empty.")
        if self.imbalance not in IMBALANCE:
            raise SerappError(f"imbalance must be one of {', '.join(IMBALANCE)}, got {self.imbalance!r}.")
        if self.imbalance == "corpus_class_weight":
            if self.cells is None or len(self.cells) != len(self.targets):
                raise SerappError("corpus_class_weight needs one corpus-and-class cell per example.")
        else:
            self.cells = self.targets
        self.weights = class_weights(self.cells[self.rows], int(self.cells.max()) + 1)
        self._reorder()

    def _reorder(self) -> None:
        """This epoch's order: positions into ``rows`` (a permutation, or a class-balanced draw)."""
        rng = np.random.default_rng([self.seed, self.epoch])
        n = len(self.rows)
        if self.imbalance == "oversample":
            self.order = oversample_indices(self.targets[self.rows], rng)
        else:
            self.order = rng.permutation(n) if self.shuffle else np.arange(n)

    def __len__(self) -> int:
        return math.ceil(len(self.rows) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range (0..{len(self) - 1})")
        # sorted rows read memory in order (faster gathers); the batch's content is what was drawn
        idx = self.rows[np.sort(self.order[index * self.batch_size:(index + 1) * self.batch_size])]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        x = self.source[idx].astype(np.float32)
        if self.from_audio:
            if self.augment is not None and self.augment.audio_enabled:
                x = augment_audio(x, self.augment, rng, self.spec.sample_rate)
            x = features_from_prepared(x, self.spec)
        if self.augment is not None and self.augment.features_enabled:
            x = augment_features(x, self.augment, rng, self.spec)
        y = one_hot(self.targets[idx], self.n_classes)
        if self.soft is not None:
            y = (1.0 - self.soft_weight) * y + self.soft_weight * self.soft[idx]
        assert self.cells is not None  # set in __post_init__
        w = self.weights[self.cells[idx]]
        if self.mixup_alpha > 0:
            # mix the weights with the same partner and share as the labels: append them as a column
            mixed_x, mixed = mixup(x, np.concatenate([y, w[:, None]], axis=1), self.mixup_alpha, rng)
            x, y, w = mixed_x, mixed[:, :-1], mixed[:, -1]
        return (x, y, w) if self.imbalance in WEIGHTED else (x, y)

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._reorder()


def keras_dataset(batches: Batches, workers: int = 1) -> keras.utils.PyDataset:
    """Wrap :class:`Batches` as a ``keras.utils.PyDataset`` (threads when ``workers`` > 1; any backend)."""
    import keras

    class _Feed(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=max(2, 2 * workers))

        def __len__(self) -> int:
            return len(batches)

        def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
            return batches[index]

        def on_epoch_end(self) -> None:
            batches.on_epoch_end()

    return _Feed()


@dataclass(eq=False)
class Data:
    """A run's data: the clips kept after decoding, their label indices ``y`` ``(N,)`` into ``labels``,
    features ``(N, *spec.shape)`` (for an encoder family the frozen encoder's outputs, e.g. ``(N, 5, 768)``
    pooled Whisper tiny layers), prepared audio ``(N, n_samples)`` float16 (only with audio augmentation)
    and the split (index arrays into ``clips``)."""

    clips: list[Clip]
    labels: tuple[str, ...]
    y: np.ndarray
    features: np.ndarray
    audio: np.ndarray | None
    split: split_lib.Split

    def corpora_of(self, idx: np.ndarray) -> np.ndarray:
        return np.array([self.clips[i].corpus for i in idx], dtype=object)


def choose_split(clips: Sequence[Clip], config: TrainConfig) -> split_lib.Split:
    """The config's split. With ``all_speakers`` every speaker trains except validation speakers (no test)."""
    if config.all_speakers:
        held = split_lib.speaker_holdout(clips, config.val_fraction, seed=config.speaker_seed, val_fraction=0.0)
        return split_lib.Split("all-speakers", held.train, np.zeros(0, dtype=np.int64), held.test)
    found = split_lib.make_splits(PROTOCOLS[config.protocol], clips, k=config.k, test_fraction=config.test_fraction,
                                  seed=config.speaker_seed, val_fraction=config.val_fraction)
    if config.fold > len(found):
        raise SerappError(f"Fold {config.fold} does not exist: protocol {config.protocol} gives {len(found)} "
                          f"fold(s) here ({', '.join(s.name for s in found)}).")
    split = found[config.fold - 1]
    if split.val.size == 0:
        raise SerappError(f"Split {split.name} has no validation speakers (early stopping and calibration need "
                          "them): add corpora with at least 3 speakers or raise the per-corpus limit.")
    return split


def load_data(config: TrainConfig, root: Path | None = None, *, workers: int | None = None,
              progress: bool = True) -> Data:
    """Scan, limit, extract (cached) and split. Extraction precedes the split only to drop undecodable clips;
    no augmentation happens here."""
    from . import cache, corpora

    clips = limit_per_corpus(corpora.scan(root or corpora_root(), config.corpora, fold_calm=config.fold_calm),
                             config.limit, config.speaker_seed)
    spec = config.feature_spec
    if config.encoder:  # the frozen encoder's pooled layers, cached once: the head trains on them
        from .whisper.embeddings import embed

        embedded = embed(clips, spec=spec, workers=workers, progress=progress)
        kept, x, audio = embedded.clips, embedded.values, None
    else:
        want_audio = config.augment.audio_enabled and not config.classical
        extracted = cache.extract(clips, spec, features=True, audio=want_audio, workers=workers, progress=progress)
        assert extracted.features is not None  # asked for above
        kept, x, audio = extracted.clips, extracted.features, extracted.audio
    if not kept:
        raise SerappError("No clip could be decoded: see the warnings above.")
    present = {c.label for c in kept}
    labels = tuple(e for e in EMOTIONS if e in present)
    if len(labels) < 2:
        raise SerappError(f"These clips hold only the label(s) {sorted(present)}: a classifier needs 2 or more.")
    index = {label: i for i, label in enumerate(labels)}
    y = np.array([index[c.label] for c in kept], dtype=np.int64)
    split = choose_split(kept, config)
    if config.views:  # the training speakers' augmented views join the training rows, after the clean clips
        from .whisper.embeddings import embed_views

        train = split.train
        views = embed_views([kept[i] for i in train], config.augment, views=config.views, seed=config.seed,
                            spec=spec, workers=workers or 1, progress=progress)
        x = np.concatenate([x, views.reshape(-1, *x.shape[1:])])
        added = np.arange(len(kept), len(kept) + views.shape[0] * views.shape[1])
        kept = [*kept, *(kept[i] for i in train for _ in range(config.views))]
        y = np.concatenate([y, np.repeat(y[train], config.views)])
        split = dataclasses.replace(split, train=np.concatenate([train, added]))
    return Data(kept, labels, y, x, audio, split)


# ---------------------------------------------------------------------------------------------- training
@dataclass(eq=False)
class RunResult:
    """What a finished run leaves: its folder, the config, the evaluation (``metrics.json`` content), the
    parameter count, seconds per epoch (empty for classical), the fitted model (Keras or scikit-learn), the
    ONNX path when exported, and a few real inputs ``(n, *spec.shape)`` for timing."""

    run_dir: Path
    config: TrainConfig
    metrics: dict[str, Any]
    n_params: int
    seconds_per_epoch: list[float]
    model: Any
    onnx_path: Path | None
    probe_inputs: np.ndarray


def split_records(config: TrainConfig, data: Data) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """What ``split.json`` holds: the split's name, independence and clip counts (a training clip's augmented
    views counted apart, as ``train_views``), and each part's speakers."""
    split = data.split
    sizes = split.sizes()
    if config.views:
        sizes["train"] //= 1 + config.views
        sizes["train_views"] = sizes["train"] * config.views
    record = {"name": split.name, "speaker_independent": split.speaker_independent, **sizes}
    speakers = {f"{part}_speakers": sorted({data.clips[i].speaker for i in getattr(split, part)})
                for part in ("train", "val", "test")}
    return record, speakers


def write_json(path: Path, value: Any) -> None:
    """Write ``value`` as indented, key-sorted JSON, atomically (numpy scalars and arrays allowed)."""
    write_text(path, json.dumps(value, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def new_run_dir(runs_dir: Path, config: TrainConfig) -> Path:
    """A fresh ``<runs_dir>/<YYYYmmdd-HHMMSS>-<family>-<protocol>[-n]/`` folder (created)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(runs_dir) / f"{stamp}-{config.family}-{config.protocol_label}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    path.mkdir(parents=True)
    return path


def _model_options(config: TrainConfig) -> dict[str, Any]:
    options = dict(config.model_options)
    if config.dropout is not None:
        options["dropout"] = config.dropout
    return options


def teacher_targets(config: TrainConfig, data: Data) -> np.ndarray:
    """``(N, n_labels)`` targets for distillation: the teachers' mean probabilities on the training clips
    (other rows keep their one-hot labels and are never served)."""
    from .distill import teacher_probabilities

    split = data.split
    speakers = {part: {data.clips[i].speaker for i in getattr(split, part)} for part in ("val", "test")}
    soft = one_hot(data.y, len(data.labels))
    soft[split.train] = teacher_probabilities(config.teachers, [data.clips[i] for i in split.train], data.labels,
                                              speakers["val"], speakers["test"])
    return soft


def fit_keras(config: TrainConfig, data: Data, run_dir: Path, *, soft: np.ndarray | None = None, workers: int = 1,
              verbose: int = 1) -> tuple[keras.Model, dict[str, list[float]], list[float]]:
    """Train a neural family; returns the best-on-validation model, the Keras history (per-epoch lists,
    ``lr`` included) and seconds per epoch. ``model.keras`` in ``run_dir`` holds the best checkpoint.
    ``soft``: distillation targets from :func:`teacher_targets` (None: the labels alone)."""
    import keras

    from .models import build_model

    spec, split = config.feature_spec, data.split
    keras.utils.set_random_seed(config.seed)
    model = build_model(config.family, data.features.shape[1:], len(data.labels), seed=config.seed,
                        **_model_options(config))
    from_audio = data.audio is not None
    train = Batches(data.audio if from_audio else data.features, data.y, len(data.labels), spec,
                    rows=split.train, batch_size=config.batch_size, seed=config.seed, augment=config.augment,
                    from_audio=from_audio, imbalance=config.imbalance, mixup_alpha=config.mixup_alpha,
                    soft=soft, soft_weight=config.distill_weight,
                    cells=weight_cells(config.imbalance, data.y, data.corpora_of(np.arange(len(data.y))),
                                       len(data.labels)))
    steps = len(train)
    lr: Any = config.learning_rate
    if config.schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=config.epochs * steps,
                                                    alpha=0.01)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
                  metrics=["accuracy"])
    seconds: list[float] = []
    model_path = run_dir / "model.keras"

    class EpochTimer(keras.callbacks.Callback):
        """Wall-clock seconds per epoch (training and validation), printed and kept."""

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            seconds.append(time.perf_counter() - self.start)
            if verbose:
                print(f"epoch {epoch + 1}: {seconds[-1]:.1f} s ({1000 * seconds[-1] / steps:.0f} ms/step)")

    callbacks: list[keras.callbacks.Callback] = [
        EpochTimer(),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, restore_best_weights=True),
        keras.callbacks.ModelCheckpoint(str(model_path), monitor="val_loss", save_best_only=True),
    ]
    if config.schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5,
                                                           patience=max(1, config.patience // 2),
                                                           min_lr=config.learning_rate / 100))
    x_val, y_val = data.features[split.val], one_hot(data.y[split.val], len(data.labels))
    history = model.fit(keras_dataset(train, workers), validation_data=(x_val, y_val),
                        epochs=config.epochs, callbacks=callbacks, verbose=verbose)
    # Early stopping restored the best weights (unless the last epoch was best); save them atomically.
    with replacing(model_path) as tmp:
        model.save(str(tmp))
    return model, {k: [float(v) for v in vals] for k, vals in history.history.items()}, seconds


def fit_classical(config: TrainConfig, data: Data) -> Any:
    """Fit a scikit-learn baseline on the stats vectors of the training speakers (validation speakers are
    left out, as for the neural families). ``class_weight`` (and ``corpus_class_weight``) use sample weights
    where the estimator takes them and class oversampling otherwise (KNN)."""
    import inspect

    from .models import build_classical

    estimator = build_classical(config.family, seed=config.seed)
    x, y = data.features[data.split.train], data.y[data.split.train]
    step_name, final = estimator.steps[-1]
    takes_weights = "sample_weight" in inspect.signature(final.fit).parameters
    fit_params: dict[str, Any] = {}
    if config.imbalance in WEIGHTED and takes_weights:
        cells = weight_cells(config.imbalance, y, data.corpora_of(data.split.train), len(data.labels))
        fit_params[f"{step_name}__sample_weight"] = class_weights(cells, int(cells.max()) + 1)[cells]
    elif config.imbalance != "none":
        chosen = oversample_indices(y, np.random.default_rng(config.seed))
        x, y = x[chosen], y[chosen]
    return estimator.fit(x, y, **fit_params)


def predict_proba(model: Any, x: np.ndarray, n_classes: int) -> np.ndarray:
    """Class probabilities ``(n, n_classes)`` from a Keras model or a scikit-learn estimator (whose columns
    cover only the classes it saw; absent ones get 0)."""
    if hasattr(model, "predict_proba"):
        out = np.zeros((len(x), n_classes), dtype=np.float32)
        if len(x):
            out[:, model.classes_] = model.predict_proba(x)
        return out
    return np.asarray(model.predict(x, batch_size=256, verbose=0), dtype=np.float32)


# ---------------------------------------------------------------------------------------------- evaluation
def calibrate(probs_val: np.ndarray, y_val: np.ndarray) -> dict[str, float]:
    """Temperature fitted on the validation speakers, with validation ECE before and after."""
    from . import metrics

    temperature = float(metrics.fit_temperature(probs_val, y_val))
    return {"temperature": temperature, "ece_val_before": float(metrics.ece(probs_val, y_val)),
            "ece_val_after": float(metrics.ece(metrics.apply_temperature(probs_val, temperature), y_val))}


def evaluate(model: Any, data: Data, rows: np.ndarray, temperature: float,
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


HEADLINE: tuple[str, ...] = ("accuracy", "macro_f1", "weighted_f1", "uar")


def model_info(config: TrainConfig, labels: Sequence[str], corpora: Sequence[str], split: dict[str, Any],
               metrics: dict[str, Any], temperature: float, name: str, origin: str = "") -> Any:
    """The :class:`ModelInfo` written into an exported model: labels, spec, provenance, headline metrics.

    ``split`` is the run's split record (``split.json``: name, sizes, speaker_independent); ``metrics`` its
    evaluation; ``origin`` an optional clause appended to the notes (e.g. how the file was exported).
    """
    import serapp
    from serapp.engine.modelmeta import ModelInfo

    independence = "speaker-independent" if split.get("speaker_independent", True) else \
        "speaker-DEPENDENT (random split)"
    notes = (f"{'validation' if config.all_speakers else 'test'} metrics on split {split.get('name', '?')}; "
             f"clips train/val/test {split.get('train', '?')}/{split.get('val', '?')}/{split.get('test', '?')}; "
             f"{independence}" + (f"; {origin}" if origin else ""))
    return ModelInfo(
        labels=tuple(labels), spec=config.feature_spec, name=name, family=config.family,
        version=serapp.__version__, created=datetime.now(UTC).isoformat(timespec="seconds"),
        corpora=tuple(sorted(set(corpora))), protocol=config.protocol_label,
        metrics={k: metrics[k] for k in HEADLINE if k in metrics}, temperature=temperature, license=LICENSE_NOTE,
        notes=notes)


def train_run(config: TrainConfig, *, root: Path | None = None, runs_dir: Path = Path("runs"),
              export: bool = False, export_required: bool = True, workers: int = 1,
              extract_workers: int | None = None, verbose: int = 1) -> RunResult:
    """Run ``config`` end to end and save everything in a new run directory (see the module docstring).

    ``export``: also write ``model.onnx`` (neural families; needs Keras on TensorFlow, checked before training);
    with ``export_required`` False a failed export is reported and the run kept (``onnx_path`` None).
    ``workers``: threads preparing training batches; ``extract_workers``: processes filling the feature cache.
    """
    from . import metrics

    if export and export_required and not config.classical:
        from .export import require_tensorflow_backend

        require_tensorflow_backend()  # refuse before training, not after it
    data = load_data(config, root, workers=extract_workers, progress=bool(verbose))
    split = data.split
    soft = teacher_targets(config, data) if config.teachers else None  # a leaking teacher is refused here
    run_dir = new_run_dir(runs_dir, config)
    write_text(run_dir / "config.json", config.to_json() + "\n")
    write_json(run_dir / "labels.json", list(data.labels))
    write_text(run_dir / "spec.json", config.feature_spec.to_json() + "\n")
    split_record, speakers = split_records(config, data)
    write_json(run_dir / "split.json", {**split_record, **speakers})
    if config.teachers:  # each teacher's run id, model checksum and speakers, so a clone can check the student
        from .distill import provenance
        from .provenance import FILE

        write_json(run_dir / FILE, provenance(config.teachers, speakers))
    if verbose:
        print(f"{config.family} on {split.name}: {split.sizes()} clips, labels {', '.join(data.labels)}")

    seconds: list[float] = []
    if config.classical:
        model = fit_classical(config, data)
        n_params = 0
    else:
        from .models import count_params

        model, history, seconds = fit_keras(config, data, run_dir, soft=soft, workers=workers,
                                             verbose=verbose)
        n_params = count_params(model)["total"]
        write_json(run_dir / "history.json", {**history, "seconds_per_epoch": seconds})
        metrics.plot_history(history, run_dir / "curves.png")

    val_probs = predict_proba(model, data.features[split.val], len(data.labels))
    calibration = calibrate(val_probs, data.y[split.val])
    # Validation scores (per corpus included) are what a search may select on; the test fold never is.
    validation = evaluate(model, data, split.val, calibration["temperature"], val_probs)
    # The test fold is touched exactly once, here, after every choice (epochs, temperature) is made.
    evaluated = split.val if config.all_speakers else split.test
    report = validation if config.all_speakers else evaluate(model, data, split.test, calibration["temperature"])
    result_metrics = {**report, "evaluated_on": "validation" if config.all_speakers else "test",
                      "split": split.name, "speaker_independent": split.speaker_independent,
                      "calibration": calibration, "n_params": n_params,
                      "validation": {k: validation[k] for k in (*HEADLINE, "per_corpus", "n")},
                      "seconds_per_epoch": float(np.mean(seconds)) if seconds else None}
    write_json(run_dir / "metrics.json", result_metrics)
    metrics.plot_confusion(np.asarray(report["confusion"]), data.labels, run_dir / "confusion.png",
                           title=f"{config.family} — {config.protocol_label} ({result_metrics['evaluated_on']})")

    probe_rows = evaluated[:8] if len(evaluated) else np.arange(min(8, len(data.y)))
    probe = data.features[probe_rows]
    if config.encoder:  # what the exported model takes: the spec's features, the encoder in front of the head
        from . import cache

        probe = cache.features([data.clips[i] for i in probe_rows], config.feature_spec, progress=False).features
    onnx_path = None
    if export and config.classical:
        if export_required:
            raise SerappError(f"{config.family} is a scikit-learn baseline: it cannot be exported to ONNX "
                              "(no converter installed). Drop --export or train a neural family.")
    elif export:
        from .export import export_onnx
        from .provenance import run_metadata

        info = model_info(config, data.labels, [c.corpus for c in data.clips], split_record, report,
                          calibration["temperature"], run_dir.name)
        try:
            served = served_model(config, model)
            onnx_path = export_onnx(served, info, run_dir / "model.onnx", probe,
                                    extra_metadata=run_metadata(run_dir))
        except SerappError as exc:
            if export_required:
                raise
            print(f"ONNX export skipped: {exc}")
    if verbose:
        print(f"{result_metrics['evaluated_on']}: accuracy {report['accuracy']:.3f}, macro-F1 "
              f"{report['macro_f1']:.3f}, UAR {report['uar']:.3f}; T = {calibration['temperature']:.2f}; "
              f"saved in {run_dir}")
    return RunResult(run_dir, config, result_metrics, n_params, seconds, model, onnx_path, probe)


def served_model(config: TrainConfig, model: keras.Model) -> keras.Model:
    """The model a user runs: ``model`` itself, or for an encoder family the trained head behind the pretrained
    encoder (on the spec's features)."""
    if not config.encoder:
        return model
    from .whisper.classifier import with_encoder
    from .whisper.encoder import load_encoder_weights

    return with_encoder(model, load_encoder_weights(), n_frames=config.feature_spec.shape[0],
                        **_model_options(config))


# ---------------------------------------------------------------------------------------------- command line
def _key_values(items: Sequence[str], what: str) -> dict[str, Any]:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}`` (values parsed as JSON where they parse)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise SerappError(f"{what} takes KEY=VALUE, got {item!r}.")
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text
    return out


def add_config_arguments(parser: argparse.ArgumentParser, *, family: bool = True) -> None:
    """Training-config flags (shared with `compare`). Unset flags keep the ``--config`` file's or default value."""
    s = argparse.SUPPRESS
    g = parser.add_argument_group("training config (defaults: TrainConfig)")
    g.add_argument("--config", type=Path, default=s, help="start from this config.json (e.g. an earlier run's)")
    if family:
        g.add_argument("--family", default=s, choices=[*FAMILIES, *CLASSICAL],
                       help=f"model family (default {DEFAULT_FAMILY})")
    g.add_argument("--spec", type=Path, default=s, help="feature spec JSON file (default: the family's)")
    g.add_argument("--spec-set", action="append", default=s, metavar="KEY=VALUE",
                   help="change one feature-spec field, e.g. --spec-set n_mels=32 (repeatable)")
    g.add_argument("--corpora", default=s, help="comma-separated corpus names (default: all found)")
    g.add_argument("--protocol", default=s, choices=list(PROTOCOLS),
                   help="speaker-kfold (default; folds over all speakers jointly), corpus-kfold (each corpus's "
                   "speakers in k folds: every corpus tested in every fold, e.g. SAVEE leave-one-speaker-out "
                   "with k=4), speaker-holdout, loco, or random (speaker-DEPENDENT, opt-in)")
    g.add_argument("--fold", type=int, default=s, help="1-based fold for the k-fold protocols and loco (default 1)")
    g.add_argument("--k", type=int, default=s, help="folds for speaker-kfold and corpus-kfold (default 5)")
    g.add_argument("--test-fraction", type=float, default=s, help="speaker-holdout / random test share (0.2)")
    g.add_argument("--val-fraction", type=float, default=s, help="share of training speakers for validation (0.1)")
    g.add_argument("--all-speakers", action="store_true", default=s,
                   help="train on every speaker but the validation ones (no test fold), for shipping")
    g.add_argument("--seed", type=int, default=s)
    g.add_argument("--split-seed", type=int, default=s,
                   help="seed of the speaker split and --limit subset (default: --seed); fix it to vary --seed alone")
    g.add_argument("--epochs", type=int, default=s)
    g.add_argument("--batch-size", type=int, default=s)
    g.add_argument("--lr", dest="learning_rate", type=float, default=s, help="initial learning rate (1e-3)")
    g.add_argument("--schedule", choices=SCHEDULES, default=s, help="learning-rate schedule (cosine)")
    g.add_argument("--patience", type=int, default=s, help="early-stopping patience in epochs (8)")
    g.add_argument("--imbalance", choices=IMBALANCE, default=s,
                   help="class imbalance handling: class_weight (default), corpus_class_weight (every corpus's "
                        "every class weighs the same), oversample or none")
    g.add_argument("--augment", default=s, metavar="PRESET|FILE.json",
                   help="augmentation: none (default), spec, light, strong, or an AugmentConfig JSON file")
    g.add_argument("--views", type=int, default=s,
                   help="encoder families: augmented copies of each training clip, encoded once and cached (0)")
    g.add_argument("--label-smoothing", type=float, default=s)
    g.add_argument("--mixup", dest="mixup_alpha", type=float, default=s, help="mixup Beta alpha (0 = off)")
    g.add_argument("--dropout", type=float, default=s, help="dropout rate (default: the family's)")
    g.add_argument("--no-fold-calm", dest="fold_calm", action="store_false", default=s,
                   help="drop RAVDESS 'calm' instead of folding it into neutral")
    g.add_argument("--limit", type=int, default=s, help="at most this many clips per corpus (quick runs)")
    g.add_argument("--teacher", dest="teachers", action="append", default=s, metavar="RUN_DIR",
                   help="distil from this exported run trained on the same training speakers (repeatable)")
    g.add_argument("--distill-weight", type=float, default=s,
                   help="share of each target taken from the teachers' mean probabilities (0.5)")
    g.add_argument("--option", action="append", default=s, metavar="KEY=VALUE",
                   help="model builder option, e.g. --option width=48 (repeatable)")


def add_runtime_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags that change where and how fast a run goes, not what it computes."""
    g = parser.add_argument_group("run")
    g.add_argument("--root", type=Path, default=None, help="corpora folder (default: $SERAPP_CORPORA or "
                   "../shared/corpora)")
    g.add_argument("--workers", type=int, default=1, help="threads preparing training batches (1)")
    g.add_argument("--extract-workers", type=int, default=None, help="processes filling the feature cache "
                   "(default: all cores)")
    g.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    add_runtime_arguments(parser)
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"), help="parent of run folders (runs/)")
    parser.add_argument("--export", action="store_true", help="also write model.onnx with full metadata")


def config_from_args(args: argparse.Namespace, **overrides: Any) -> TrainConfig:
    """The TrainConfig the flags describe: ``--config`` file (if any), then each flag given, then ``overrides``."""
    base: dict[str, Any] = {}
    if "config" in args:
        try:
            base = json.loads(Path(args.config).read_text(encoding="utf-8"))
        except OSError as exc:
            raise SerappError(f"{args.config}: cannot read the training config ({exc.strerror}).") from exc
        except json.JSONDecodeError as exc:
            raise SerappError(f"{args.config}: not valid JSON ({exc.msg}).") from exc
    values = TrainConfig.from_dict(base).to_dict() if base else {}
    given = vars(args)
    names = {f.name for f in dataclasses.fields(TrainConfig)} - {"spec", "augment", "corpora", "model_options"}
    values.update({k: given[k] for k in names if k in given})
    if ("family" in given or "family" in overrides) and "spec" not in given:
        values.pop("spec", None)  # a new family without a spec file takes its own default features
    if "corpora" in given:
        values["corpora"] = [c.strip() for c in given["corpora"].split(",") if c.strip()]
    if "augment" in given:
        values["augment"] = AugmentConfig.preset(given["augment"]).to_dict()
    if "option" in given:
        values["model_options"] = {**values.get("model_options", {}), **_key_values(given["option"], "--option")}
    values.update(overrides)
    spec_data: dict[str, Any] | None = values.get("spec")
    if "spec" in given:
        try:
            spec_data = json.loads(Path(given["spec"]).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise SerappError(f"{given['spec']}: cannot read the feature spec ({exc}).") from exc
    if "spec_set" in given:
        fam_spec = TrainConfig(family=values.get("family", DEFAULT_FAMILY)).feature_spec
        spec_data = {**(spec_data or fam_spec.to_dict()), **_key_values(given["spec_set"], "--spec-set")}
    values["spec"] = spec_data
    return TrainConfig.from_dict(values)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if config.protocol == "random" and not config.all_speakers:
        print("note: the random split is speaker-DEPENDENT (the same voices train and test); its scores "
              "overstate accuracy on new speakers.")
    train_run(config, root=args.root, runs_dir=args.runs_dir, export=args.export, workers=args.workers,
              extract_workers=args.extract_workers, verbose=0 if args.quiet else 1)
    return 0
