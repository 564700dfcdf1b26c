"""Keras 3 architectures of every model family (backend-agnostic: TensorFlow here, JAX on a GPU machine).

Import this module only where Keras is needed; the registry in :mod:`serapp_train.models` imports it lazily so the
command line starts fast. Every builder takes ``(input_shape, n_classes, **options)`` with ``input_shape``
excluding the batch axis, and returns a functional :class:`keras.Model` whose input is named ``features``
and whose output layer ``probs`` gives softmax probabilities ``(batch, n_classes)``.

No ``Lambda`` layers anywhere: a saved model must never carry code, so loading with ``safe_mode=True``
works and export to ONNX sees only standard operations. The one custom layer, :class:`PositionEmbedding`,
is registered as serialisable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import keras
from keras import layers

from serapp.errors import SerappError

# ---------------------------------------------------------------------------------------------- custom layer


@keras.saving.register_keras_serializable(package="serapp")
class PositionEmbedding(layers.Layer):
    """Learned absolute position embedding added to a sequence: ``(batch, T, d) -> (batch, T, d)``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.table: keras.Variable | None = None

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        length, dim = input_shape[-2], input_shape[-1]
        if length is None or dim is None:
            raise SerappError("PositionEmbedding needs a fixed sequence length and width.")
        self.table = self.add_weight(name="table", shape=(length, dim),
                                     initializer=keras.initializers.RandomNormal(stddev=0.02))

    def call(self, inputs: Any) -> Any:
        return inputs + self.table

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape


# ---------------------------------------------------------------------------------------------- shared blocks


def _reg(l2: float) -> keras.regularizers.Regularizer | None:
    return keras.regularizers.L2(l2) if l2 > 0 else None


# Batch-norm running statistics follow the batches with momentum 0.9 (PyTorch's default), not Keras's 0.99: the
# corpora give a few dozen steps per epoch, and with 0.99 the inference statistics of the input standardisation
# (log-mel dB around -50, variance in the hundreds, starting from 0 and 1) lag for epochs, so validation
# predictions collapse to one class while training accuracy climbs.
BN_MOMENTUM = 0.9


def _bn(name: str | None = None) -> layers.BatchNormalization:
    return layers.BatchNormalization(momentum=BN_MOMENTUM, name=name)


def _input(input_shape: tuple[int, ...]) -> keras.KerasTensor:
    return keras.Input(shape=input_shape, name="features")


def _standardise(x: keras.KerasTensor) -> keras.KerasTensor:
    """Learned input standardisation: batch-norm per feature (per mel bin and channel for maps).

    Keras batch-norm takes one axis, so a ``(T, M, C)`` map is flattened to ``(T, M*C)`` around it.
    """
    if len(x.shape) <= 3:
        return _bn("input_norm")(x)
    _, t, m, c = x.shape
    y = _bn("input_norm")(layers.Reshape((t, m * c))(x))
    return layers.Reshape((t, m, c))(y)


def _head(x: keras.KerasTensor, units: tuple[int, ...], n_classes: int, dropout: float,
          l2: float) -> keras.KerasTensor:
    """Dense ReLU layers with dropout, then the softmax output layer named ``probs``."""
    for u in units:
        x = layers.Dense(u, activation="relu", kernel_regularizer=_reg(l2))(x)
        x = layers.Dropout(dropout)(x) if dropout > 0 else x
    return layers.Dense(n_classes, activation="softmax", name="probs")(x)


def _conv_block(x: keras.KerasTensor, filters: int, kernel: int | tuple[int, int], pool: int | tuple[int, int],
                l2: float, *, separable: bool = False) -> keras.KerasTensor:
    """Conv (or depthwise-separable conv) -> BatchNorm -> ReLU -> max-pool; 1-D or 2-D by the input rank."""
    two_d = len(x.shape) == 4
    if separable:
        conv = layers.SeparableConv2D(filters, kernel, padding="same", use_bias=False,
                                      depthwise_regularizer=_reg(l2), pointwise_regularizer=_reg(l2))
    else:
        conv_cls = layers.Conv2D if two_d else layers.Conv1D
        conv = conv_cls(filters, kernel, padding="same", use_bias=False, kernel_regularizer=_reg(l2))
    x = layers.ReLU()(_bn()(conv(x)))
    if pool in (1, (1, 1)):
        return x
    return (layers.MaxPooling2D(pool, padding="same") if two_d else layers.MaxPooling1D(pool, padding="same"))(x)


def _conv_stack(x: keras.KerasTensor, filters: tuple[int, ...], kernels: tuple[int, ...], l2: float,
                pool: int | tuple[int, int] = 2) -> keras.KerasTensor:
    for f, k in zip(filters, kernels, strict=True):
        x = _conv_block(x, f, k, pool, l2)
    return x


def _to_sequence(x: keras.KerasTensor) -> keras.KerasTensor:
    """``(batch, T, F, C)`` feature maps -> ``(batch, T, F*C)`` time sequence."""
    _, _, f, c = x.shape
    return layers.Reshape((-1, int(f) * int(c)))(x)


def attention_pool(x: keras.KerasTensor, name: str = "attention") -> keras.KerasTensor:
    """Attention pooling over time with standard layers: ``(batch, T, d) -> (batch, d)``.

    A tanh-Dense scorer gives one score per frame, softmax over time turns the scores into weights, and a
    batched dot product takes the weighted sum of the frames.
    """
    scores = layers.Dense(1, name=f"{name}_score")(layers.Dense(x.shape[-1] // 2 or 1, activation="tanh")(x))
    weights = layers.Softmax(axis=1, name=f"{name}_weights")(scores)  # (batch, T, 1)
    pooled = layers.Dot(axes=1, name=f"{name}_sum")([weights, x])  # (batch, 1, d)
    return layers.Flatten()(pooled)


def _model(inputs: keras.KerasTensor, outputs: keras.KerasTensor, name: str) -> keras.Model:
    return keras.Model(inputs, outputs, name=name)


# ---------------------------------------------------------------------------------------------- families


def build_mlp(input_shape: tuple[int, ...], n_classes: int, *, dropout: float = 0.3, l2: float = 1e-4,
              units: tuple[int, ...] = (256, 128, 64)) -> keras.Model:
    """Multi-layer perceptron on the stats vector ``(n_stats,)``."""
    inp = _input(input_shape)
    return _model(inp, _head(_standardise(inp), units, n_classes, dropout, l2), "mlp")


def build_cnn1d(input_shape: tuple[int, ...], n_classes: int, *, dropout: float = 0.3,
                l2: float = 1e-4) -> keras.Model:
    """1-D CNN on frame features ``(T, 2)`` (ZCR, RMS): Conv1D 16/32/32/64, kernels 3/3/5/7, Dense 64/32."""
    inp = _input(input_shape)
    x = _conv_stack(_standardise(inp), (16, 32, 32, 64), (3, 3, 5, 7), l2)
    return _model(inp, _head(layers.Flatten()(x), (64, 32), n_classes, dropout, l2), "cnn1d")


def _scaled(counts: tuple[int, ...], mult: float) -> tuple[int, ...]:
    """Channel or unit counts times ``mult``, rounded, at least 1 each."""
    return tuple(max(1, round(n * mult)) for n in counts)


def build_cnn2d(input_shape: tuple[int, ...], n_classes: int, *, dropout: float = 0.3,
                l2: float = 1e-4, width_mult: float = 1.0) -> keras.Model:
    """2-D CNN on the log-mel ``(T, n_mels, C)``: Conv2D 16/32/64/64/128/128 with kernels 3/3/3/5/5/7.

    ``width_mult`` scales every layer's channels and units (0.5: about a quarter of the multiply-adds), so that
    several students of one recipe fit the runtime budget of one.
    """
    if not 0.0 < width_mult <= 4.0:
        raise SerappError(f"cnn2d width_mult must be in (0, 4], got {width_mult}.")
    inp = _input(input_shape)
    x = _conv_stack(_standardise(inp), _scaled((16, 32, 64, 64, 128, 128), width_mult), (3, 3, 3, 5, 5, 7), l2)
    x = layers.GlobalAveragePooling2D()(x)
    return _model(inp, _head(x, _scaled((128, 64), width_mult), n_classes, dropout, l2), "cnn2d")


def _cnn_front(inp: keras.KerasTensor, l2: float) -> keras.KerasTensor:
    """Three Conv2D blocks pooling time by 4 and frequency by 8: ``(T, M, C) -> (T/4, M/8*64)`` sequence."""
    x = _standardise(inp)
    for f, pool in ((32, (2, 2)), (64, (2, 2)), (64, (1, 2))):
        x = _conv_block(x, f, 3, pool, l2)
    return _to_sequence(x)


def build_cnn_lstm(input_shape: tuple[int, ...], n_classes: int, *, dropout: float = 0.3, l2: float = 1e-4,
                   units: int = 64) -> keras.Model:
    """Conv2D blocks on the log-mel, then two stacked LSTM layers over time."""
    inp = _input(input_shape)
    x = layers.LSTM(units, return_sequences=True)(_cnn_front(inp, l2))
    x = layers.LSTM(units)(x)
    return _model(inp, _head(x, (64,), n_classes, dropout, l2), "cnn_lstm")


def build_cnn_bilstm_att(input_shape: tuple[int, ...], n_classes: int, *, dropout: float = 0.3,
                         l2: float = 1e-4, units: int = 64) -> keras.Model:
    """Conv2D blocks on the log-mel, a bidirectional LSTM over time, then attention pooling."""
    inp = _input(input_shape)
    x = layers.Bidirectional(layers.LSTM(units, return_sequences=True))(_cnn_front(inp, l2))
    return _model(inp, _head(attention_pool(x), (64,), n_classes, dropout, l2), "cnn_bilstm_att")


def build_lstm(input_shape: tuple[int, ...], n_classes: int, *, dropout: float = 0.3, l2: float = 1e-4,
               units: tuple[int, int] = (128, 64)) -> keras.Model:
    """Two stacked LSTM layers on the MFCC sequence ``(T, n_mfcc)``."""
    inp = _input(input_shape)
    x = layers.LSTM(units[0], return_sequences=True)(_standardise(inp))
    x = layers.LSTM(units[1])(x)
    return _model(inp, _head(x, (64,), n_classes, dropout, l2), "lstm")


def build_transformer(input_shape: tuple[int, ...], n_classes: int, *, dropout: float = 0.1, l2: float = 0.0,
                      d_model: int = 64, heads: int = 4, blocks: int = 2, ff: int = 128,
                      stride: int = 4) -> keras.Model:
    """A small Transformer encoder over log-mel frames ``(T, n_mels, C)``.

    A strided Conv1D embeds ``stride`` frames into one ``d_model`` token (T/stride tokens, which keeps
    attention cheap), a learned position embedding is added, then ``blocks`` post-norm encoder blocks
    (multi-head self-attention + feed-forward, residuals) and mean pooling over tokens.
    """
    inp = _input(input_shape)
    x = _standardise(inp)
    x = layers.Reshape((input_shape[0], -1))(x) if len(input_shape) == 3 else x
    x = layers.Conv1D(d_model, stride, strides=stride, padding="same", kernel_regularizer=_reg(l2))(x)
    x = PositionEmbedding(name="positions")(x)
    for i in range(blocks):
        att = layers.MultiHeadAttention(heads, d_model // heads, dropout=dropout, name=f"mha{i}")(x, x)
        x = layers.LayerNormalization(epsilon=1e-6)(layers.Add()([x, layers.Dropout(dropout)(att)]))
        y = layers.Dense(ff, activation="relu", kernel_regularizer=_reg(l2))(x)
        y = layers.Dense(d_model, kernel_regularizer=_reg(l2))(y)
        x = layers.LayerNormalization(epsilon=1e-6)(layers.Add()([x, layers.Dropout(dropout)(y)]))
    x = layers.GlobalAveragePooling1D()(x)
    return _model(inp, _head(x, (64,), n_classes, dropout, l2), "transformer")


def build_crnn_small(input_shape: tuple[int, ...], n_classes: int, *, dropout: float = 0.3, l2: float = 1e-4,
                     width: int = 24, rnn_units: int = 48) -> keras.Model:
    """Compact real-time CRNN on the log-mel ``(T, n_mels, C)``: the default shipped model.

    A strided 5x5 convolution halves both axes at once (the full-resolution map is where the compute goes),
    three depthwise-separable blocks (BatchNorm, ReLU, max-pool) shrink the map to ``(T/8, n_mels/16)``
    with ``4*width`` channels; a bidirectional GRU of ``rnn_units`` (or, with ``rnn_units=0``, a temporal
    convolution) reads the time sequence and attention pooling picks the emotional frames.
    """
    inp = _input(input_shape)
    x = layers.Conv2D(width, 5, strides=2, padding="same", use_bias=False, kernel_regularizer=_reg(l2))(
        _standardise(inp))
    x = layers.ReLU()(_bn()(x))
    for mult, pool in ((2, (2, 2)), (4, (2, 2)), (6, (1, 2))):
        x = _conv_block(x, mult * width, 3, pool, l2, separable=True)
    x = _to_sequence(x)
    x = layers.Dropout(dropout / 2)(x) if dropout > 0 else x
    if rnn_units > 0:
        x = layers.Bidirectional(layers.GRU(rnn_units, return_sequences=True))(x)
    else:
        x = _conv_block(x, 4 * width, 3, 1, l2)
    return _model(inp, _head(attention_pool(x), (), n_classes, dropout, l2), "crnn_small")


# ---------------------------------------------------------------------------------------------- ImageNet transfer

# application constructor, cached weight file (no top), input preprocessing as (scale, offset) on [0, 1]
_CAFFE_MEAN = (103.939, 116.779, 123.68)
_APPLICATIONS: dict[str, tuple[str, str, tuple[Any, Any]]] = {
    # "caffe" mode: 0-255 minus the ImageNet channel means (the spec's channels stand in for BGR)
    "vgg19": ("VGG19", "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
              (255.0, [-m for m in _CAFFE_MEAN])),
    "resnet50": ("ResNet50", "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
                 (255.0, [-m for m in _CAFFE_MEAN])),
    # MobileNetV3 built without its own preprocessing: it expects [-1, 1]
    "mobilenetv3": ("MobileNetV3Large", "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5", (2.0, -1.0)),
}


def keras_cache_dir() -> Path:
    """Where Keras caches downloaded weights (``$KERAS_HOME/models`` or ``~/.keras/models``)."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


def resolve_weights(name: str, weights: str | Path | None) -> Path | None:
    """The weight file to load for an ImageNet family: ``None`` (random), the cached ImageNet file, or a path.

    Raises :class:`SerappError` when ImageNet weights are asked for and not present (they cannot be downloaded
    here) or a given file does not exist.
    """
    if weights is None:
        return None
    file_name = _APPLICATIONS[name][1]
    if weights == "imagenet":
        path = keras_cache_dir() / file_name
        if not path.is_file():
            raise SerappError(
                f"ImageNet weights for {name} are not in {keras_cache_dir()}: download {file_name} from "
                "https://storage.googleapis.com/tensorflow/keras-applications/ on a connected machine and copy it "
                "there (or pass its path as the weights option), or pass weights=None to train from scratch "
                "(`--option weights=null` on the command line)."
            )
        return path
    path = Path(weights)
    if not path.is_file():
        raise SerappError(f"Weight file {path} for {name} does not exist; expected {file_name} "
                          "(ImageNet, no top) or weights=None to train from scratch.")
    return path


def build_imagenet(name: str, input_shape: tuple[int, ...], n_classes: int, *,
                   weights: str | Path | None = "imagenet",
                   dropout: float = 0.3, l2: float = 1e-4, freeze: bool = False) -> keras.Model:
    """ImageNet transfer model ``name`` on the 3-channel feature image ``(H, W, 3)`` with values in [0, 1].

    The input is rescaled inside the model to what the application expects, the convolutional base
    (optionally frozen) is average-pooled, and a dense head gives the class probabilities. ``weights``:
    ``"imagenet"`` (the default; the file must already be in the Keras cache), a weight file, or None.
    """
    constructor, _, (scale, offset) = _APPLICATIONS[name]
    weight_file = resolve_weights(name, weights)
    inp = _input(input_shape)
    x = layers.Rescaling(scale, offset, name="imagenet_scale")(inp)
    kwargs: dict[str, Any] = {"include_preprocessing": False} if name == "mobilenetv3" else {}
    base = getattr(keras.applications, constructor)(include_top=False, weights=None, input_shape=input_shape,
                                                    pooling="avg", **kwargs)
    if weight_file is not None:
        base.load_weights(str(weight_file))
    base.trainable = not freeze
    x = base(x)
    return _model(inp, _head(x, (256,), n_classes, dropout, l2), name)
