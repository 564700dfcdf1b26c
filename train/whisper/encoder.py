"""Whisper's audio encoder rebuilt in Keras 3 (``keras.ops`` only: any backend), with pretrained weights from a
CTranslate2 Whisper model folder (:mod:`serapp_train.whisper.ctranslate2_reader`).

The architecture of openai-whisper's ``AudioEncoder``, on ``whisper_logmel`` features ``(batch, T, n_mels)``:

    conv 3 (n_mels -> width, stride 1) + GELU -> conv 3 (stride 2) + GELU   (T -> ceil(T / 2) frames)
    + sinusoidal positions (the first ceil(T / 2) of the checkpoint's 1500: the clip's own frames)
    n_layers x pre-LayerNorm blocks: x += attention(LN(x)); x += W2 GELU(W1 LN(x))
    final LayerNorm                                                          -> (batch, ceil(T / 2), width)

GELU is the exact (erf) one (:func:`gelu_erf`) and every LayerNorm uses epsilon 1e-5, as Whisper's do. With
``all_layers`` the model returns every block's frames stacked, ``(batch, n_layers + 1, frames, width)``: the
embedded input, the outputs of blocks 1..n_layers-1, and the final (normalised) output, the order of Hugging
Face's ``hidden_states``; its last entry is the encoder's output.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from serapp.errors import SerappError

from ..nets import PositionEmbedding
from .ctranslate2_reader import CT2Model, find_model_dir, read_model

LAYER_NORM_EPSILON = 1e-5  # torch.nn.LayerNorm's default, which Whisper uses (Keras's default is 1e-3)
_PREFIX = "encoder/"


@keras.saving.register_keras_serializable(package="serapp")
def gelu_erf(x: Any) -> Any:
    """Exact GELU, ``x * Phi(x)``, written with erf: Keras's own exact GELU becomes TensorFlow's Erfc, which tf2onnx
    cannot convert, while Erf is an ONNX operator."""
    return 0.5 * x * (1.0 + ops.erf(x * (2.0 ** -0.5)))


@dataclass(frozen=True)
class EncoderShape:
    """Sizes of a Whisper encoder: mel bands in, model ``width``, blocks, attention heads, feed-forward width,
    and the most output frames its position table covers (1500: 30 s of 100 frames a second, halved)."""

    n_mels: int
    width: int
    n_layers: int
    n_heads: int
    ffn_width: int
    max_positions: int

    @property
    def max_input_frames(self) -> int:
        """The longest input, in feature frames, the position table covers."""
        return 2 * self.max_positions


def encoder_shape(weights: CT2Model) -> EncoderShape:
    """Read the encoder's sizes off its CTranslate2 variables; :class:`SerappError` if it is not a Whisper encoder."""
    try:
        conv1 = weights[f"{_PREFIX}conv1/weight"]
        layer_ids = {int(m.group(1)) for n in weights.variables if (m := re.match(rf"{_PREFIX}layer_(\d+)/", n))}
        n_layers = len(layer_ids)
        if layer_ids != set(range(n_layers)) or n_layers == 0:
            raise KeyError("encoder/layer_*")
        return EncoderShape(n_mels=int(conv1.shape[1]), width=int(conv1.shape[0]), n_layers=n_layers,
                            n_heads=int(weights[f"{_PREFIX}num_heads"]),
                            ffn_width=int(weights[f"{_PREFIX}layer_0/ffn/linear_0/weight"].shape[0]),
                            max_positions=int(weights[f"{_PREFIX}position_encodings/encodings"].shape[0]))
    except KeyError as exc:
        raise SerappError(f"{weights.path}: not a Whisper encoder ({weights.spec_name}; missing {exc}).") from exc


def load_encoder_weights(source: str | Path | None = None) -> CT2Model:
    """The encoder variables of a CTranslate2 Whisper model (see :func:`find_model_dir` for ``source``)."""
    weights = read_model(find_model_dir(source), keep=lambda name: name.startswith(_PREFIX))
    encoder_shape(weights)  # fail here, with the file named, rather than while building
    return weights


@keras.saving.register_keras_serializable(package="serapp")
class WhisperSelfAttention(layers.Layer):
    """Multi-head self-attention with one fused q|k|v projection, as CTranslate2 stores Whisper's.

    ``(batch, T, width) -> (batch, T, width)``; scores scaled by ``1 / sqrt(width / n_heads)``, no mask.
    """

    def __init__(self, width: int, n_heads: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if width % n_heads:
            raise SerappError(f"Attention width {width} is not a multiple of its {n_heads} heads.")
        self.width, self.n_heads = int(width), int(n_heads)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        init = keras.initializers.GlorotUniform()
        self.qkv_kernel = self.add_weight(name="qkv_kernel", shape=(self.width, 3 * self.width), initializer=init)
        self.qkv_bias = self.add_weight(name="qkv_bias", shape=(3 * self.width,), initializer="zeros")
        self.out_kernel = self.add_weight(name="out_kernel", shape=(self.width, self.width), initializer=init)
        self.out_bias = self.add_weight(name="out_bias", shape=(self.width,), initializer="zeros")

    def call(self, x: Any) -> Any:
        frames = x.shape[1] if x.shape[1] is not None else ops.shape(x)[1]
        head = self.width // self.n_heads
        qkv = ops.matmul(x, self.qkv_kernel) + self.qkv_bias  # (B, T, 3W), W = [q | k | v]
        qkv = ops.transpose(ops.reshape(qkv, (-1, frames, 3, self.n_heads, head)), (2, 0, 3, 1, 4))  # (3, B, H, T, D)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) * (head ** -0.5)  # (B, H, T, T)
        context = ops.matmul(ops.softmax(scores, axis=-1), v)  # (B, H, T, D)
        context = ops.reshape(ops.transpose(context, (0, 2, 1, 3)), (-1, frames, self.width))
        return ops.matmul(context, self.out_kernel) + self.out_bias

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "width": self.width, "n_heads": self.n_heads}


def _norm(name: str) -> layers.LayerNormalization:
    return layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name=name)


def encoder_frames(n_frames: int) -> int:
    """Output frames of the encoder for ``n_frames`` feature frames (the stride-2 convolution, padded by 1)."""
    return (n_frames + 1) // 2


def whisper_encoder(inputs: keras.KerasTensor, shape: EncoderShape, *, all_layers: bool = False,
                    prefix: str = "whisper") -> keras.KerasTensor:
    """Apply a (freshly initialised) encoder to ``inputs`` ``(batch, T, n_mels)``; see the module docstring.

    Layers are named ``{prefix}_conv1``, ``{prefix}_block{i}_attention``... so :func:`set_encoder_weights` finds
    them. Raises :class:`SerappError` when ``T`` is unknown or longer than the position table covers.
    """
    n_frames, n_mels = inputs.shape[1], inputs.shape[2]
    if n_frames is None or n_mels != shape.n_mels:
        raise SerappError(f"The Whisper encoder needs a fixed number of frames of {shape.n_mels} mel bands, "
                          f"got input shape {tuple(inputs.shape[1:])}.")
    if encoder_frames(n_frames) > shape.max_positions:
        raise SerappError(f"{n_frames} frames is longer than the Whisper encoder takes ({shape.max_input_frames}, "
                          "30 s).")
    x = layers.ZeroPadding1D(1, name=f"{prefix}_pad1")(inputs)
    x = layers.Conv1D(shape.width, 3, activation=gelu_erf, name=f"{prefix}_conv1")(x)
    # torch's Conv1d(padding=1, stride=2) pads both ends; Keras's "same" would pad the right end only
    x = layers.ZeroPadding1D(1, name=f"{prefix}_pad2")(x)
    x = layers.Conv1D(shape.width, 3, strides=2, activation=gelu_erf, name=f"{prefix}_conv2")(x)
    positions = PositionEmbedding(name=f"{prefix}_positions")
    positions.trainable = False  # Whisper's are fixed sinusoids (a buffer, not a parameter)
    x = positions(x)
    hidden = encoder_blocks(x, shape, first=0, prefix=prefix)
    if not all_layers:
        return hidden[-1]
    frames = encoder_frames(n_frames)
    rows = [layers.Reshape((1, frames, shape.width), name=f"{prefix}_layer{i}_row")(h) for i, h in enumerate(hidden)]
    return layers.Concatenate(axis=1, name=f"{prefix}_layers")(rows)


def encoder_blocks(x: keras.KerasTensor, shape: EncoderShape, *, first: int,
                   prefix: str = "whisper") -> list[keras.KerasTensor]:
    """Blocks ``first..n_layers-1`` and the final LayerNorm applied to ``x`` ``(batch, frames, width)``, the
    frames entering block ``first``. Returns ``[x, after block first, ..., final (normalised) output]``, layers
    ``first..n_layers`` of ``all_layers``; named as :func:`whisper_encoder` names them, so
    :func:`set_encoder_weights` (or :func:`set_block_weights`) finds them."""
    hidden = [x]
    for i in range(first, shape.n_layers):
        b = f"{prefix}_block{i}"
        y = WhisperSelfAttention(shape.width, shape.n_heads, name=f"{b}_attention")(_norm(f"{b}_attention_norm")(x))
        x = layers.Add(name=f"{b}_attention_add")([x, y])
        y = layers.Dense(shape.ffn_width, activation=gelu_erf, name=f"{b}_ffn_in")(_norm(f"{b}_ffn_norm")(x))
        y = layers.Dense(shape.width, name=f"{b}_ffn_out")(y)
        x = layers.Add(name=f"{b}_ffn_add")([x, y])
        hidden.append(x)
    hidden[-1] = _norm(f"{prefix}_norm")(x)
    return hidden


def block_layer_names(first: int, n_layers: int, prefix: str = "whisper") -> list[str]:
    """The names of the weighted layers of blocks ``first..n_layers-1`` and the final LayerNorm."""
    parts = ("attention_norm", "attention", "ffn_norm", "ffn_in", "ffn_out")
    return [f"{prefix}_block{i}_{part}" for i in range(first, n_layers) for part in parts] + [f"{prefix}_norm"]


def set_encoder_weights(model: keras.Model, weights: CT2Model, *, prefix: str = "whisper") -> None:
    """Copy the CTranslate2 encoder variables (dequantised to float32) into ``model``'s encoder layers.

    CTranslate2 stores convolutions as ``(out, in, kernel)`` and dense weights as ``(out, in)``, PyTorch's
    layout; Keras wants ``(kernel, in, out)`` and ``(in, out)``.
    """
    get = _getter(weights)
    for conv in ("conv1", "conv2"):
        _assign(model, weights, f"{prefix}_{conv}", [get(f"{conv}/weight").transpose(2, 1, 0), get(f"{conv}/bias")])
    frames = model.get_layer(f"{prefix}_positions").weights[0].shape[0]
    _assign(model, weights, f"{prefix}_positions", [get("position_encodings/encodings")[:frames]])
    set_block_weights(model, weights, first=0, prefix=prefix)


def set_block_weights(model: keras.Model, weights: CT2Model, *, first: int, prefix: str = "whisper") -> None:
    """Copy blocks ``first..n_layers-1`` and the final LayerNorm (:func:`encoder_blocks`) from ``weights`` into
    ``model``; :class:`SerappError` when a layer's shapes differ from the file's."""
    shape = encoder_shape(weights)
    get = _getter(weights)
    for i in range(first, shape.n_layers):
        src, b = f"layer_{i}", f"{prefix}_block{i}"
        for ours, theirs in (("attention_norm", "self_attention/layer_norm"), ("ffn_norm", "ffn/layer_norm")):
            _assign(model, weights, f"{b}_{ours}", [get(f"{src}/{theirs}/gamma"), get(f"{src}/{theirs}/beta")])
        attention = [get(f"{src}/self_attention/linear_{j}/{p}") for j in (0, 1) for p in ("weight", "bias")]
        _assign(model, weights, f"{b}_attention", [attention[0].T, attention[1], attention[2].T, attention[3]])
        for ours, theirs in (("ffn_in", "ffn/linear_0"), ("ffn_out", "ffn/linear_1")):
            _assign(model, weights, f"{b}_{ours}", [get(f"{src}/{theirs}/weight").T, get(f"{src}/{theirs}/bias")])
    _assign(model, weights, f"{prefix}_norm", [get("layer_norm/gamma"), get("layer_norm/beta")])


def _getter(weights: CT2Model) -> Callable[[str], np.ndarray]:
    """``get(name)``: the encoder variable ``name`` (without ``encoder/``), dequantised to float32."""

    def get(name: str) -> np.ndarray:
        return weights.float32(_PREFIX + name)

    return get


def _assign(model: keras.Model, weights: CT2Model, layer_name: str, values: list[np.ndarray]) -> None:
    layer = model.get_layer(layer_name)
    expected = [tuple(w.shape) for w in layer.weights]
    if expected != [v.shape for v in values]:
        raise SerappError(f"{weights.path}: {layer_name} takes weights {expected}, "
                          f"the file has {[v.shape for v in values]}.")
    layer.set_weights(values)


def build_encoder(weights: CT2Model, *, n_frames: int, all_layers: bool = False,
                  name: str = "whisper_encoder") -> keras.Model:
    """A Keras model of the pretrained encoder: input ``features`` ``(batch, n_frames, n_mels)`` (whisper_logmel),
    output ``(batch, ceil(n_frames / 2), width)``, or with ``all_layers`` ``(batch, n_layers + 1, frames, width)``.
    """
    shape = encoder_shape(weights)
    inputs = keras.Input((n_frames, shape.n_mels), name="features")
    model = keras.Model(inputs, whisper_encoder(inputs, shape, all_layers=all_layers), name=name)
    set_encoder_weights(model, weights)
    return model
