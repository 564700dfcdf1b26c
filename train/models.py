"""Model families the SER literature compares, as a registry: name -> input features + Keras builder.

Neural families are Keras 3 models (see :mod:`serapp_train.nets`, imported only when a model is built, so the
command line starts fast); all output softmax probabilities over ``n_classes`` and export to ONNX
(:mod:`serapp_train.export`). The classical baselines (:func:`build_classical`) are scikit-learn pipelines on the
stats vector, compared in the results table only: they are not exported (no ONNX converter is installed).

``python -m serapp_train.models`` prints every family with its input shape and parameter count.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from serapp.engine.spec import WHISPER_LOGMEL, FeatureSpec
from serapp.errors import SerappError

if TYPE_CHECKING:
    import keras
    from sklearn.pipeline import Pipeline

DEFAULT_FAMILY = "crnn_small"


@dataclass(frozen=True)
class Family:
    """A model family: its ``name``, a one-line ``description``, the default input ``spec`` and the name of
    its builder in :mod:`serapp_train.nets` (``builder(input_shape, n_classes, **options) -> keras.Model``)."""

    name: str
    description: str
    spec: FeatureSpec
    builder_name: str
    fixed: tuple[tuple[str, Any], ...] = ()  # options the family passes to a shared builder
    module: str = ".nets"  # where the builder lives, relative to this package
    # A frozen pretrained encoder in front of the trained part: the builder builds the head alone, trained on the
    # encoder's cached outputs (not on ``spec`` features), and the encoder is put in front of it for export.
    encoder: str | None = None

    @property
    def builder(self) -> Callable[..., keras.Model]:
        """The Keras builder (imports Keras on first use)."""
        return getattr(importlib.import_module(self.module, __package__), self.builder_name)

    @property
    def options(self) -> dict[str, Any]:
        """The options the builder accepts, with their defaults."""
        params = inspect.signature(self.builder).parameters.values()
        fixed = dict(self.fixed)
        return {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY and p.name not in fixed}


_LOGMEL = FeatureSpec(kind="logmel")
_IMAGE = FeatureSpec(kind="image")

FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("mlp", "MLP on the stats vector (MFCC, chroma, mel, ZCR, RMS means and stds)",
           FeatureSpec(kind="stats"), "build_mlp"),
    Family("cnn1d", "1-D CNN on ZCR and RMS frame sequences", FeatureSpec(kind="frames"), "build_cnn1d"),
    Family("cnn2d", "2-D CNN (6 conv blocks, global pooling) on the log-mel", _LOGMEL, "build_cnn2d"),
    Family("cnn_lstm", "Conv2D blocks then two LSTM layers on the log-mel", _LOGMEL, "build_cnn_lstm"),
    Family("cnn_bilstm_att", "Conv2D blocks, BiLSTM and attention pooling on the log-mel", _LOGMEL,
           "build_cnn_bilstm_att"),
    Family("lstm", "Two stacked LSTM layers on the MFCC sequence", FeatureSpec(kind="mfcc"), "build_lstm"),
    Family("transformer", "Small Transformer encoder (2 blocks) over log-mel frames", _LOGMEL,
           "build_transformer"),
    Family("crnn_small", "Compact real-time CRNN: separable convs, BiGRU, attention pooling (default)", _LOGMEL,
           "build_crnn_small"),
    Family("whisper_tiny", "Whisper tiny.en encoder (pretrained, frozen), every layer pooled and weighted, dense "
           "head", FeatureSpec(kind="whisper_logmel", **WHISPER_LOGMEL), "build_whisper_head",
           module=".whisper.classifier", encoder="whisper"),
    Family("vgg19", "VGG19 (ImageNet transfer) on the MFCC/chroma/mel image", _IMAGE, "build_imagenet",
           (("name", "vgg19"),)),
    Family("resnet50", "ResNet50 (ImageNet transfer) on the MFCC/chroma/mel image", _IMAGE, "build_imagenet",
           (("name", "resnet50"),)),
    Family("mobilenetv3", "MobileNetV3Large (ImageNet transfer) on the MFCC/chroma/mel image", _IMAGE,
           "build_imagenet", (("name", "mobilenetv3"),)),
)}

IMAGENET_FAMILIES: tuple[str, ...] = ("vgg19", "resnet50", "mobilenetv3")
ENCODER_FAMILIES: tuple[str, ...] = tuple(name for name, fam in FAMILIES.items() if fam.encoder)

# Classical baselines on the stats vector: name -> description. Not exportable to ONNX.
CLASSICAL: dict[str, str] = {
    "tree": "decision tree on the standardised stats vector",
    "knn": "k-nearest neighbours (k = 4) on the standardised stats vector",
    "svm": "RBF support-vector machine (Platt-scaled probabilities) on the standardised stats vector",
}
CLASSICAL_SPEC = FeatureSpec(kind="stats")


def get_family(name: str) -> Family:
    """The registered family ``name``; :class:`SerappError` listing the known ones otherwise."""
    if name not in FAMILIES:
        raise SerappError(f"Unknown model family {name!r}. Known families: {', '.join(FAMILIES)}.")
    return FAMILIES[name]


def build_model(family: str, input_shape: tuple[int, ...], n_classes: int, *, seed: int = 0,
                **options: Any) -> keras.Model:
    """Build family ``family`` for inputs of ``input_shape`` (no batch axis) and ``n_classes`` outputs.

    ``seed`` seeds Python, NumPy and the Keras backend (:func:`keras.utils.set_random_seed`) so the initial
    weights are reproducible. ``options`` go to the builder (e.g. ``dropout``, ``l2``; ``weights`` for the
    ImageNet families); unknown options are an error. Returns an uncompiled model whose output is softmax
    probabilities ``(batch, n_classes)``.
    """
    fam = get_family(family)
    input_shape = tuple(int(v) for v in input_shape)
    # an encoder family's head takes the encoder's cached outputs: pooled layers (rank 2) or frames (rank 3)
    expected_rank = len(input_shape) if fam.encoder and len(input_shape) in (2, 3) else len(fam.spec.shape)
    if len(input_shape) != expected_rank or min(input_shape, default=0) < 1:
        raise SerappError(f"Family {family} takes {fam.spec.kind!r} features of rank {expected_rank} "
                          f"(e.g. {fam.spec.shape}); got input shape {input_shape}.")
    if n_classes < 2:
        raise SerappError(f"A classifier needs at least 2 classes, got {n_classes}.")
    allowed = fam.options
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise SerappError(f"Family {family} has no option(s) {', '.join(unknown)}; "
                          f"it takes: {', '.join(allowed) or 'none'}.")
    import keras

    keras.utils.set_random_seed(seed)
    return fam.builder(input_shape=input_shape, n_classes=n_classes, **dict(fam.fixed), **options)


def count_params(model: keras.Model) -> dict[str, int]:
    """Parameter counts of a built model: ``{"total": ..., "trainable": ...}``."""
    import math

    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    return {"total": int(model.count_params()), "trainable": trainable}


def build_classical(name: str, *, seed: int = 0) -> Pipeline:
    """A scikit-learn baseline on the stats vector: ``StandardScaler`` then a tree, KNN (k = 4) or SVM.

    Fit with ``(n_examples, n_stats)`` features; ``predict_proba`` gives ``(n, n_classes)``. These are for
    comparison tables only: they cannot be exported to ONNX here (skl2onnx is not installed) and are never
    saved with pickle.
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    makers: dict[str, Callable[[], Any]] = {
        "tree": lambda: DecisionTreeClassifier(min_samples_leaf=2, random_state=seed),
        "knn": lambda: KNeighborsClassifier(n_neighbors=4, weights="distance"),
        # Platt-scaled probabilities from 3-fold cross-validation (what SVC(probability=True) did)
        "svm": lambda: CalibratedClassifierCV(SVC(C=10.0, gamma="scale", random_state=seed), cv=3, ensemble=False),
    }
    if name not in makers:
        raise SerappError(f"Unknown classical baseline {name!r}. Known: {', '.join(makers)}.")
    return make_pipeline(StandardScaler(), makers[name]())


def main() -> int:
    """Print every family with its default input shape and parameter count (7 classes)."""
    print(f"{'family':16s} {'input':>16s} {'params':>12s}  description")
    for fam in FAMILIES.values():
        options = {"weights": None} if fam.name in IMAGENET_FAMILIES else {}  # same sizes, no file needed
        if fam.encoder:  # the head's parameters on Whisper tiny's pooled layers; the frozen encoder adds ~8 M
            model = build_model(fam.name, (5, 768), 7)
        else:
            model = build_model(fam.name, fam.spec.shape, 7, **options)
        print(f"{fam.name:16s} {fam.spec.shape!s:>16s} {count_params(model)['total']:>12,d}  {fam.description}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
