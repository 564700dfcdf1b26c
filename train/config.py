"""The training configuration: :class:`TrainConfig` (a run's ``config.json``) and the names its fields take.

A config is data: every choice that determines a run, validated on construction with plain messages, saved with the
resolved feature spec so that a ``config.json`` reproduces its run even if a family's default changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from serapp.engine.spec import FeatureSpec
from serapp.jsonconfig import JsonConfig, require

from .augment import AugmentConfig
from .models import CLASSICAL, CLASSICAL_SPEC, DEFAULT_FAMILY, ENCODER_FAMILIES, FAMILIES


@dataclass(frozen=True)
class Protocol:
    """One evaluation protocol of the trainer: its name in :mod:`serapp_train.splits` (``split``), whether it is a
    k-fold cross-validation (``kfold``: ``k`` folds, each run on one) or has folds at all (``folds``: k-fold and
    leave-one-corpus-out), and a sentence saying how it splits (``text``; ``{k}`` and ``{test_fraction}`` are the
    config's)."""

    split: str
    kfold: bool
    folds: bool
    text: str

    def describe(self, k: int, test_fraction: float) -> str:
        """:attr:`text` with the config's ``k`` and ``test_fraction``."""
        return self.text.format(k=k, test_fraction=test_fraction)


# the protocols by the name the command line, configs and recipes use: the one list of them
PROTOCOL_TABLE: dict[str, Protocol] = {
    "speaker-kfold": Protocol("kfold", True, True, "speaker-independent {k}-fold cross-validation"),
    "corpus-kfold": Protocol("corpus-kfold", True, True,
                             "speaker-independent {k}-fold cross-validation drawn corpus by corpus"),
    "speaker-holdout": Protocol("holdout", False, False,
                                "a speaker-independent holdout ({test_fraction:.0%} of each corpus's speakers)"),
    "loco": Protocol("loco", False, True, "leave-one-corpus-out"),
    "random": Protocol("random", False, False,
                       "a RANDOM clip-level split (speaker-DEPENDENT: the same voices train and test)"),
}
# protocol name -> name in serapp_train.splits
PROTOCOLS: dict[str, str] = {name: p.split for name, p in PROTOCOL_TABLE.items()}
KFOLD_PROTOCOLS: tuple[str, ...] = tuple(name for name, p in PROTOCOL_TABLE.items() if p.kfold)
SCHEDULES: tuple[str, ...] = ("cosine", "plateau", "constant")
IMBALANCE: tuple[str, ...] = ("class_weight", "corpus_class_weight", "oversample", "none")
# imbalance settings that weight the loss per example (the others reorder or do nothing)
WEIGHTED: tuple[str, ...] = ("class_weight", "corpus_class_weight")


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
    # The views' augmentations are drawn from ``views_seed`` (None: ``seed``): fixed while ``seed`` changes, heads of
    # a seed ensemble reuse one cache of views instead of encoding new ones (10+ minutes each on a CPU).
    views_seed: int | None = None
    # Encoder families: views of only the first ``prefix_s`` seconds (drawn uniformly) of each training clip's
    # prepared audio, cached like ``views``. The live display scores an utterance from its first fraction of a
    # second on; these teach the head what a beginning sounds like, apart from the other augmentations.
    prefix_views: int = 0
    prefix_s: tuple[float, float] = (0.5, 1.75)
    # Encoder families: speaker adaptation by a running mean (0: none). Each speaker's embeddings, views included,
    # less the mean of the first ``speaker_adaptation`` clean clips of their session (a seeded random order,
    # :func:`serapp_train.splits.session_order`): what a session that has heard that many utterances
    # of its speaker can subtract. Those warm-up clips train but are never scored (validation, test).
    speaker_adaptation: int = 0
    # Encoder families: the encoder as a run trained with ``top_blocks`` left it (that run's folder): this head
    # trains on the pooled layers of that encoder (its trained blocks in the checkpoint's place), computed from the
    # frames caches, e.g. a speaker-adapted head to attach to that run's exported model. None: the checkpoint's.
    encoder_run: str | None = None
    # Encoder families: the CTranslate2 Whisper model (a folder, e.g. a faster-whisper download, or an installed
    # package; serapp_train.whisper.ctranslate2_reader.find_model_dir) whose encoder the head sits on. None: the
    # whisper extra's tiny.en. Its embedding caches are its own (keyed by its model.bin).
    encoder_source: str | None = None

    @property
    def encoder_cache(self) -> str:
        """Which cache of the encoder's outputs an encoder family's head trains on: ``"frames"`` for a head that
        takes the frames itself (``model_options`` ``pooling: attention``, or ``top_blocks``: the encoder's last
        blocks trained) or on another run's encoder (``encoder_run``), else the pooled layers, ``"meanstd"``."""
        frames = self.model_options.get("pooling") == "attention" or self.top_blocks or self.encoder_run
        return "frames" if frames else "meanstd"

    @property
    def top_blocks(self) -> int:
        """How many of the encoder's last blocks the head trains (``model_options`` ``top_blocks``; 0: none)."""
        return int(self.model_options.get("top_blocks", 0))

    @property
    def pooled_head(self) -> bool:
        """An encoder family's head on pooled layers (mean and std pooling, the encoder's blocks not trained)."""
        return (self.family in ENCODER_FAMILIES and self.model_options.get("pooling", "meanstd") == "meanstd"
                and not self.top_blocks)

    @property
    def prefix_augment(self) -> AugmentConfig:
        """The augmentation that makes a prefix view: the beginning kept, nothing else changed."""
        return AugmentConfig(p_partial=1.0, partial_s=self.prefix_s)

    @property
    def view_seed(self) -> int:
        """The seed that draws the augmented views: ``views_seed``, else ``seed``."""
        return self.seed if self.views_seed is None else self.views_seed

    @property
    def speaker_seed(self) -> int:
        """The seed that draws the speakers and the ``limit`` subset: ``split_seed``, else ``seed``."""
        return self.seed if self.split_seed is None else self.split_seed

    def __post_init__(self) -> None:
        if self.corpora is not None:
            object.__setattr__(self, "corpora", tuple(self.corpora))
        object.__setattr__(self, "teachers", tuple(str(t) for t in self.teachers))
        object.__setattr__(self, "prefix_s", tuple(float(v) for v in self.prefix_s))
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
            (self.prefix_views >= 0, f"prefix_views must be >= 0, got {self.prefix_views}"),
            # every layer's frames of every view would not fit in memory; a head with top blocks packs them
            (self.model_options.get("pooling") != "attention" or not (self.views or self.prefix_views),
             "an attention-pooling head trains on cached frames of the clean clips: no views or prefix_views"),
            (not self.prefix_views or self.family in ENCODER_FAMILIES,
             "prefix_views are for encoder families (whisper_tiny)"),
            (len(self.prefix_s) == 2 and 0.1 <= self.prefix_s[0] <= self.prefix_s[1] <= 30.0,
             f"prefix_s must be two lengths within 0.1-30 s, shortest first, got {list(self.prefix_s)}"),
            (self.speaker_adaptation >= 0, f"speaker_adaptation must be >= 0 clips, got {self.speaker_adaptation}"),
            (not self.speaker_adaptation or self.pooled_head,
             "speaker_adaptation is for encoder families with pooled layers (whisper_tiny, meanstd pooling)"),
            (not self.encoder_run or self.pooled_head,
             "encoder_run is for a head on pooled layers of an encoder family (whisper_tiny, meanstd pooling, no "
             "top_blocks of its own)"),
            (not self.encoder_source or (self.family in ENCODER_FAMILIES and not self.top_blocks
                                         and not self.encoder_run),
             "encoder_source is for an encoder family's head on that encoder as it is (no top_blocks or encoder_run)"),
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
        if PROTOCOL_TABLE[self.protocol].folds:
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

