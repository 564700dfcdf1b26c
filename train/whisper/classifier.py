"""An emotion classifier with the pretrained Whisper encoder inside: whisper_logmel features in, softmax out.

    features (batch, T, n_mels) -> encoder, every layer (batch, n_layers + 1, frames, width)
      -> each layer's mean and standard deviation over the frames (batch, n_layers + 1, 2 * width)
      -> learned softmax weights over the layers (or the last layer alone) (batch, 2 * width)
      -> dense head -> probs (batch, n_classes)

Pooling each layer before weighting them keeps the model a function of the per-layer mean+std vectors that
:mod:`serapp_train.whisper.embeddings` caches, so a head trained on the cache drops into this model unchanged.
The encoder starts frozen (its weights are the checkpoint's). Input ``features`` and
output ``probs`` are named as :mod:`serapp_train.nets` names them, so :func:`serapp_train.export.export_onnx` exports
it whole.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import layers, ops

from serapp.errors import SerappError

from .ctranslate2_reader import CT2Model
from .embeddings import DEFAULT_SPEC, pool_mean_std
from .encoder import (
    block_layer_names,
    encoder_blocks,
    encoder_frames,
    encoder_shape,
    gelu_erf,
    load_encoder_weights,
    set_block_weights,
    set_encoder_weights,
    whisper_encoder,
)

STD_EPSILON = 1e-6  # under the square root, so silent (constant) frames give a finite gradient


@keras.saving.register_keras_serializable(package="serapp")
class MeanStdPooling(layers.Layer):
    """``(..., frames, width) -> (..., 2 * width)``: mean then standard deviation over the frames."""

    def call(self, x: Any) -> Any:
        mean = ops.mean(x, axis=-2)
        var = ops.mean(ops.square(x - ops.expand_dims(mean, -2)), axis=-2)
        return ops.concatenate([mean, ops.sqrt(var + STD_EPSILON)], axis=-1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (*input_shape[:-2], 2 * input_shape[-1])


@keras.saving.register_keras_serializable(package="serapp")
class LayerWeighting(layers.Layer):
    """A learned convex combination of stacked layers: ``(batch, layers, ...) -> (batch, ...)``; the weights are a
    softmax of one trainable logit a layer, starting equal (SUPERB's weighted sum of hidden states)."""

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.logits = self.add_weight(name="logits", shape=(int(input_shape[1]),), initializer="zeros")

    def call(self, x: Any) -> Any:
        w = ops.softmax(self.logits)
        return ops.tensordot(x, w, axes=[[1], [0]])

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], *input_shape[2:])


@keras.saving.register_keras_serializable(package="serapp")
class AttentiveStatsPooling(layers.Layer):
    """``(batch, frames, width) -> (batch, 2 * width)``: a mean and a standard deviation over the frames weighted by
    a learned attention (a small tanh layer scores each frame; softmax over the frames), so frames that carry the
    emotion count more than silence padding or neutral stretches (attentive statistics pooling)."""

    def __init__(self, units: int = 64, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        width = int(input_shape[-1])
        self.w = self.add_weight(name="w", shape=(width, self.units), initializer="glorot_uniform")
        self.b = self.add_weight(name="b", shape=(self.units,), initializer="zeros")
        self.v = self.add_weight(name="v", shape=(self.units, 1), initializer="glorot_uniform")

    def call(self, x: Any) -> Any:
        scores = ops.matmul(ops.tanh(ops.matmul(x, self.w) + self.b), self.v)  # (batch, frames, 1)
        weights = ops.softmax(scores, axis=-2)
        mean = ops.sum(weights * x, axis=-2)
        var = ops.sum(weights * ops.square(x - ops.expand_dims(mean, -2)), axis=-2)
        return ops.concatenate([mean, ops.sqrt(var + STD_EPSILON)], axis=-1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], 2 * input_shape[-1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units}


HEAD_LAYERS: tuple[str, ...] = ("head_norm", "layer_weights", "head_hidden", "probs")  # what a head carries over
POOLINGS: tuple[str, ...] = ("meanstd", "attention")  # a head's pooling: of the cached statistics, or of the frames


def _head(x: Any, n_classes: int, *, layer_weighting: bool, hidden: int, dropout: float) -> Any:
    """Pooled layers ``(batch, n_layers + 1, 2 * width)`` -> probabilities ``(batch, n_classes)``; the layers are
    named as :data:`HEAD_LAYERS` whichever model they sit in, so weights move between the two by name.

    Each (layer, feature) is first standardised by batch normalisation (at inference: the training set's mean and
    variance, a learned StandardScaler), because the layers' scales differ by orders of magnitude and the
    weighting mixes them."""
    pooled_shape = tuple(x.shape[1:])
    x = layers.Flatten(name="head_flat")(x)
    x = layers.BatchNormalization(name="head_norm")(x)
    x = layers.Reshape(pooled_shape, name="head_unflat")(x)
    x = LayerWeighting(name="layer_weights")(x) if layer_weighting else x[:, -1]
    if hidden:
        x = layers.Dropout(dropout)(layers.Dense(hidden, activation=gelu_erf, name="head_hidden")(x))
    return layers.Dense(n_classes, activation="softmax", name="probs")(x)


def _attention_head(x: Any, n_classes: int, *, layer_weighting: bool, hidden: int, dropout: float) -> Any:
    """Frames of every layer ``(batch, n_layers + 1, frames, width)`` -> probabilities: each (layer, feature)
    standardised by batch normalisation over the batch and the frames, as :func:`_head` standardises the pooled
    statistics (the layers' scales differ by orders of magnitude; normalising each frame on its own lost the
    level a frame has), the layers weighted (or the last alone), then :class:`AttentiveStatsPooling` and the same
    dense top as :func:`_head`."""
    n_layers, frames, width = (int(v) for v in x.shape[1:])
    x = layers.Permute((2, 1, 3), name="head_frames_first")(x)  # (batch, frames, layers, width)
    x = layers.Reshape((frames, n_layers * width), name="head_flat")(x)
    x = layers.BatchNormalization(name="head_norm")(x)  # statistics per (layer, feature), over batch and frames
    x = layers.Reshape((frames, n_layers, width), name="head_unflat")(x)
    x = layers.Permute((2, 1, 3), name="head_layers_first")(x)
    x = LayerWeighting(name="layer_weights")(x) if layer_weighting else x[:, -1]
    x = AttentiveStatsPooling(name="attention_pool")(x)
    if hidden:
        x = layers.Dropout(dropout)(layers.Dense(hidden, activation=gelu_erf, name="head_hidden")(x))
    return layers.Dense(n_classes, activation="softmax", name="probs")(x)


def pack_top_input(frames: np.ndarray, *, top_blocks: int) -> np.ndarray:
    """What a head with ``top_blocks`` trains on, from the ``frames`` cache: ``(N, n_layers + 1, frames, width)``
    -> ``(N, 2 * first + frames, width)`` float32, ``first = n_layers - top_blocks``: the mean and standard
    deviation (rows ``2 l``, ``2 l + 1``) of each layer ``l`` below ``first``, which the head only pools, then the
    frames of layer ``first``, which enter its trainable blocks. Under half the frames cache's size for tiny.en
    with one block (float32, as the head computes), so augmented views fit in memory too."""
    n, n_layers_1, _, width = frames.shape
    first = n_layers_1 - 1 - top_blocks
    if not 0 <= first < n_layers_1 - 1:
        raise SerappError(f"top_blocks must be 1 to {n_layers_1 - 1} for frames of {n_layers_1} layers, "
                          f"got {top_blocks}.")
    out = np.empty((n, 2 * first + frames.shape[2], width), dtype=np.float32)
    for start in range(0, n, 512):  # a chunk at a time: float32 copies of every layer would not fit in memory
        part = slice(start, start + 512)
        out[part, :2 * first] = pool_mean_std(frames[part, :first]).reshape(-1, 2 * first, width)  # mean, std rows
        out[part, 2 * first:] = frames[part, first]
    return out


def _top_blocks_head(x: Any, n_classes: int, *, top_blocks: int, weights: CT2Model, layer_weighting: bool,
                     hidden: int, dropout: float) -> Any:
    """The packed input of :func:`pack_top_input` ``(batch, 2 * first + frames, width)`` -> probabilities: the
    encoder's last ``top_blocks`` blocks and its final LayerNorm recomputed from the frames entering them, with
    the checkpoint's weights to start from and trainable; those layers pooled (:class:`MeanStdPooling`) beside
    the pooled layers below, and :func:`_head` on them all, as behind the encoder."""
    shape = encoder_shape(weights)
    first = shape.n_layers - top_blocks  # the layer whose frames enter the first trainable block
    frames = x[:, 2 * first:]
    recomputed = encoder_blocks(frames, shape, first=first)  # layers first .. n_layers
    rows = [layers.Reshape((1, 2 * shape.width), name=f"mean_std_{i}")(MeanStdPooling(name=f"pool_{i}")(h))
            for i, h in enumerate(recomputed, start=first)]
    if first:
        rows.insert(0, layers.Reshape((first, 2 * shape.width), name="mean_std_below")(x[:, :2 * first]))
    pooled = layers.Concatenate(axis=1, name="mean_std")(rows)  # (batch, n_layers + 1, 2 * width)
    return _head(pooled, n_classes, layer_weighting=layer_weighting, hidden=hidden, dropout=dropout)


def build_whisper_head(input_shape: tuple[int, ...], n_classes: int, *, layer_weighting: bool = True,
                       hidden: int = 256, dropout: float = 0.2, pooling: str = "meanstd",
                       top_blocks: int = 0) -> keras.Model:
    """The classifier's head alone, on the encoder's cached outputs (:mod:`serapp_train.whisper.embeddings`): what
    the trainer fits while the encoder is frozen; :func:`with_encoder` puts the encoder in front of it for export.

    ``pooling``: ``"meanstd"`` on pooled layers ``input_shape = (n_layers + 1, 2 * width)`` (cache ``meanstd``),
    or ``"attention"`` on frames ``(n_layers + 1, frames, width)`` (cache ``frames``), pooled by a learned
    attention. ``top_blocks``: with ``"meanstd"`` on frames (cache ``frames``), the encoder's last ``top_blocks``
    blocks are part of the head, trainable, starting from the pretrained weights (the default CTranslate2 model,
    :func:`~serapp_train.whisper.encoder.load_encoder_weights`); 0: the encoder stays frozen."""
    if pooling not in POOLINGS:
        raise SerappError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}.")
    if top_blocks < 0 or (top_blocks and pooling != "meanstd"):
        raise SerappError(f"top_blocks must be 0 or more, with meanstd pooling; got {top_blocks} with {pooling}.")
    inputs = keras.Input(input_shape, name="features")
    options = {"layer_weighting": layer_weighting, "hidden": hidden, "dropout": dropout}
    if top_blocks:
        weights = load_encoder_weights()
        shape = encoder_shape(weights)
        first = shape.n_layers - top_blocks
        frames = encoder_frames(DEFAULT_SPEC.shape[0])
        if first < 0 or tuple(input_shape) != (2 * first + frames, shape.width):
            raise SerappError(f"A head with top_blocks {top_blocks} of the encoder's {shape.n_layers} takes the "
                              f"packed frames of pack_top_input, ({2 * first + frames}, {shape.width}); got "
                              f"{tuple(input_shape)}.")
        model = keras.Model(inputs, _top_blocks_head(inputs, n_classes, top_blocks=top_blocks, weights=weights,
                                                     **options), name="whisper_head")
        set_block_weights(model, weights, first=first)
        return model
    want = 3 if pooling == "attention" else 2
    if len(input_shape) != want:
        raise SerappError(f"A head with {pooling} pooling takes inputs of rank {want} (the cache of "
                          f"{'frames' if want == 3 else 'pooled layers'}), got {tuple(input_shape)}.")
    build = _attention_head if pooling == "attention" else _head
    return keras.Model(inputs, build(inputs, n_classes, **options), name="whisper_head")


def build_whisper_classifier(weights: CT2Model, *, n_frames: int, n_classes: int, layer_weighting: bool = True,
                             hidden: int = 256, dropout: float = 0.2, train_encoder: bool = False,
                             name: str = "whisper_classifier") -> keras.Model:
    """The classifier above on ``n_frames`` whisper_logmel frames, encoder weights from ``weights``.

    ``layer_weighting``: learned weights over every layer, else the last layer only; ``hidden``: units of the
    head's one hidden layer (0: none); ``train_encoder``: fine-tune the encoder too (the positions stay fixed).
    """
    shape = encoder_shape(weights)
    inputs = keras.Input((n_frames, shape.n_mels), name="features")
    # every layer is pooled even with the last layer alone, so a head fitted on the cache fits here unchanged
    x = MeanStdPooling(name="mean_std")(whisper_encoder(inputs, shape, all_layers=True))
    outputs = _head(x, n_classes, layer_weighting=layer_weighting, hidden=hidden, dropout=dropout)
    model = keras.Model(inputs, outputs, name=name)
    set_encoder_weights(model, weights)
    for layer in model.layers:
        if layer.name.startswith("whisper_") and layer.name != "whisper_positions":
            layer.trainable = train_encoder
    return model


def with_encoder(head: keras.Model, weights: CT2Model, *, n_frames: int, name: str = "whisper_classifier",
                 **options: Any) -> keras.Model:
    """``head`` (:func:`build_whisper_head`, trained) behind the pretrained encoder: a model on ``n_frames``
    whisper_logmel frames whose output equals the head's on the cached embeddings of the same features.
    ``options`` are the head's own (``layer_weighting``, ``hidden``, ``dropout``, ``pooling``, ``top_blocks``);
    trained top blocks take the place of the checkpoint's in the encoder."""
    if options.pop("pooling", "meanstd") == "attention":
        # The head takes the encoder's frames as they are: it goes in whole, after the encoder.
        shape = encoder_shape(weights)
        inputs = keras.Input((n_frames, shape.n_mels), name="features")
        frames = whisper_encoder(inputs, shape, all_layers=True)
        model = keras.Model(inputs, layers.Identity(name="probs")(head(frames)), name=name)
        set_encoder_weights(model, weights)
        for layer in model.layers:
            layer.trainable = False
        return model
    n_classes = int(head.output.shape[-1])
    top_blocks = options.pop("top_blocks", 0)
    model = build_whisper_classifier(weights, n_frames=n_frames, n_classes=n_classes, name=name, **options)
    # trained top blocks replace the checkpoint's in the encoder: the head computed the same layers from them
    set_trained_blocks(model, head, top_blocks=top_blocks)
    for layer_name in HEAD_LAYERS:
        try:
            source = head.get_layer(layer_name)
        except ValueError:
            continue  # absent from this head (the last layer alone; no hidden layer)
        model.get_layer(layer_name).set_weights(source.get_weights())
    return model


def set_trained_blocks(model: keras.Model, source: keras.Model, *, top_blocks: int) -> None:
    """Copy the encoder's last ``top_blocks`` blocks and final LayerNorm as ``source`` (a head trained with
    ``top_blocks``) has them into ``model``'s encoder (:func:`build_whisper_classifier`); nothing when 0."""
    if not top_blocks:
        return
    n_layers = sum(1 for layer in model.layers if layer.name.endswith("_ffn_out"))
    for layer_name in block_layer_names(n_layers - top_blocks, n_layers):
        model.get_layer(layer_name).set_weights(source.get_layer(layer_name).get_weights())
