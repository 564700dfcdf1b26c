"""Training batches as numpy arrays, augmented on the fly, and their wrapping as a Keras ``PyDataset``.

Every random draw comes from ``(seed, epoch, batch index)``, so runs repeat exactly whatever the worker scheduling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from serapp.engine.features import features_from_prepared
from serapp.engine.spec import FeatureSpec
from serapp.errors import SerappError

from .augment import AugmentConfig, augment_audio, augment_features, mixup
from .config import IMBALANCE, WEIGHTED
from .data import class_weights, one_hot, oversample_indices

if TYPE_CHECKING:
    import keras

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

