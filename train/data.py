"""A run's data: corpus clips limited per corpus, their cached features (or encoder outputs), labels and the
speaker split; and the class-balancing arithmetic the batches and the baselines share.

Extraction precedes the split only to drop undecodable clips; nothing here augments (see :mod:`serapp_train.batches`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from serapp.engine.labels import EMOTIONS
from serapp.errors import SerappError
from serapp.paths import corpora_root

from . import splits as split_lib
from .config import PROTOCOLS, TrainConfig
from .corpora import Clip


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

        embedded = embed(clips, spec=spec, source=config.encoder_source, pooling=config.encoder_cache,
                         workers=workers, progress=progress)
        kept, x, audio = embedded.clips, head_rows(embedded.values, config), None
        del embedded  # a head with top blocks keeps only the packed rows: the frames of every layer can go
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
    n_clean = len(kept)
    # The training speakers' augmented views, then their prefix views, join the training rows after the clean clips.
    groups = [(config.views, config.augment), (config.prefix_views, config.prefix_augment)]
    if any(n for n, _ in groups):
        from .whisper.embeddings import embed_views

        train = split.train
        added = []
        for n_views, augment in groups:
            if not n_views:
                continue
            # a chunk of clips at a time: frames of every layer for every view would not fit in memory
            step = 1000 if config.encoder_cache == "frames" else max(1, len(train))
            views = np.concatenate([head_rows(embed_views([kept[i] for i in train[s:s + step]], augment,
                                                          views=n_views, seed=config.view_seed, spec=spec,
                                                          source=config.encoder_source,
                                                          pooling=config.encoder_cache, workers=workers or 1,
                                                          progress=progress), config)
                                    for s in range(0, len(train), step)])
            added.append(np.arange(len(kept), len(kept) + views.shape[0] * views.shape[1]))
            x = np.concatenate([x, views.reshape(-1, *x.shape[1:])])
            kept = [*kept, *(kept[i] for i in train for _ in range(n_views))]
            y = np.concatenate([y, np.repeat(y[train], n_views)])
        split = dataclasses.replace(split, train=np.concatenate([train, *added]))
    if config.speaker_adaptation:
        x, split = adapt_speakers(kept, x, split, n_clean=n_clean, clips=config.speaker_adaptation,
                                  seed=config.speaker_seed)
    return Data(kept, labels, y, x, audio, split)


def head_rows(values: np.ndarray, config: TrainConfig) -> np.ndarray:
    """An encoder family's training rows from the encoder's cached outputs ``(N, ...)`` (or views ``(N, V, ...)``):
    as cached; for a head with ``top_blocks``, packed by :func:`~serapp_train.whisper.classifier.pack_top_input`
    (the layers below pooled, the frames entering the trainable blocks); for a head on an ``encoder_run``, those
    packed frames pooled through that run's trained blocks."""
    run = run_encoder(config.encoder_run) if config.encoder_run else None
    top_blocks = run.top_blocks if run else config.top_blocks
    if not top_blocks:
        return values
    from .whisper.classifier import pack_top_input

    lead = values.shape[:-3]  # clips, and views when there are
    packed = pack_top_input(values.reshape(-1, *values.shape[-3:]), top_blocks=top_blocks)
    rows = run.pooled(packed) if run else packed
    return rows.reshape(*lead, *rows.shape[1:])


@dataclass(eq=False)
class RunEncoder:
    """The encoder a ``top_blocks`` run trained (``encoder_run``): its head up to its ``mean_std`` pooling, and
    how many blocks it trained."""

    model: Any
    top_blocks: int

    def pooled(self, packed: np.ndarray) -> np.ndarray:
        """Rows packed by :func:`~serapp_train.whisper.classifier.pack_top_input` ``(N, rows, width)`` -> pooled
        layers ``(N, n_layers + 1, 2 * width)`` float32, as the run's exported encoder pools them."""
        parts = [np.asarray(self.model.predict_on_batch(packed[i:i + 256]), dtype=np.float32)
                 for i in range(0, len(packed), 256)]
        return np.concatenate(parts) if parts else np.zeros((0, *self.model.output.shape[1:]), np.float32)


@functools.lru_cache(maxsize=2)
def run_encoder(run_dir: str) -> RunEncoder:
    """:class:`RunEncoder` of the run folder ``run_dir``; :class:`SerappError` unless it is a finished run of an
    encoder family trained with ``top_blocks``."""
    import keras

    from .runfolder import RunFolder, load_checkpoint

    folder = RunFolder(Path(run_dir))
    if not folder.keras_path.exists():
        raise SerappError(f"{run_dir}: encoder_run needs a finished run folder with model.keras.")
    top_blocks = folder.config().top_blocks
    if not top_blocks:
        raise SerappError(f"{run_dir}: encoder_run needs a run trained with top_blocks (its own encoder blocks); "
                          "this one left the encoder as the checkpoint has it.")
    head = load_checkpoint(folder)
    return RunEncoder(keras.Model(head.input, head.get_layer("mean_std").output), top_blocks)


def adapt_speakers(kept: Sequence[Clip], x: np.ndarray, split: split_lib.Split, *, n_clean: int, clips: int,
                   seed: int) -> tuple[np.ndarray, split_lib.Split]:
    """Speaker adaptation by a running mean: each speaker's rows of ``x`` ``(N, ...)`` (views too) less the mean
    of the first ``clips`` of their clean rows (``< n_clean``) in session order
    (:func:`serapp_train.splits.session_order`); those warm-up rows leave the
    split's validation and test parts (a session has no answer for them yet). Returns the new ``x`` (float32) and
    split."""
    out = np.array(x, dtype=np.float32)
    speakers = np.array([c.speaker for c in kept])
    warm_up: list[int] = []
    for speaker, order in split_lib.session_order(kept, np.arange(n_clean), seed=seed).items():
        first = np.array(order[:clips])
        out[speakers == speaker] -= x[first].mean(axis=0, dtype=np.float64).astype(np.float32)
        warm_up += order[:clips]
    drop = np.array(warm_up, dtype=np.int64)
    return out, dataclasses.replace(split, val=np.setdiff1d(split.val, drop), test=np.setdiff1d(split.test, drop))

