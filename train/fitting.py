"""Fitting a model on a run's data: a neural family with Keras (early stopping, best checkpoint, a learning-rate
schedule, optional distillation targets), or a scikit-learn baseline; and the model a user runs from a fitted one.

Backend-agnostic Keras 3: nothing here calls TensorFlow directly, so the same code runs with ``KERAS_BACKEND=jax``.
Keras is imported inside functions so that importing this module stays cheap.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from serapp.atomic import replacing

from .batches import Batches, keras_dataset
from .config import WEIGHTED, TrainConfig
from .data import Data, class_weights, one_hot, oversample_indices, weight_cells
from .runfolder import MODEL_KERAS

if TYPE_CHECKING:
    import keras

def model_options(config: TrainConfig) -> dict[str, Any]:
    """The keyword options the family's builder takes: ``model_options``, with ``dropout`` when the config sets one."""
    options = dict(config.model_options)
    if config.dropout is not None:
        options["dropout"] = config.dropout
    return options


def teacher_targets(config: TrainConfig, data: Data) -> np.ndarray:
    """``(N, n_labels)`` targets for distillation: the teachers' mean probabilities on the training rows (other
    rows keep their one-hot labels and are never served). An encoder family's teachers are heads on the same
    encoder outputs, scoring the rows themselves, views included; other teachers score the clean clips."""
    from .distill import head_teacher_probabilities, teacher_probabilities

    split = data.split
    speakers = {part: {data.clips[i].speaker for i in getattr(split, part)} for part in ("val", "test")}
    soft = one_hot(data.y, len(data.labels))
    if config.encoder:
        soft[split.train] = head_teacher_probabilities(config.teachers, data.features[split.train], config,
                                                       data.labels, speakers["val"], speakers["test"])
    else:
        soft[split.train] = teacher_probabilities(config.teachers, [data.clips[i] for i in split.train],
                                                  data.labels, speakers["val"], speakers["test"])
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
                        **model_options(config))
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
    model_path = run_dir / MODEL_KERAS

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


def served_model(config: TrainConfig, model: keras.Model) -> keras.Model:
    """The model a user runs: ``model`` itself, or for an encoder family the trained head behind the pretrained
    encoder (on the spec's features)."""
    if not config.encoder:
        return model
    from .whisper.classifier import set_trained_blocks, with_encoder
    from .whisper.encoder import load_encoder_weights

    served = with_encoder(model, load_encoder_weights(config.encoder_source), n_frames=config.feature_spec.shape[0],
                          **model_options(config))
    if config.encoder_run:  # the head was trained on that run's encoder: it serves behind it
        from .data import run_encoder

        run = run_encoder(config.encoder_run)
        set_trained_blocks(served, run.model, top_blocks=run.top_blocks)
    return served

