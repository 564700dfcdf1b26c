"""Subprocess half of tests/test_jax_backend.py: Keras reads ``KERAS_BACKEND`` once, at import, so each backend
gets its own process, started with the variable set.

``python -m tests.backend_worker train JOB_DIR FAMILY...`` trains each family through
:func:`serapp_train.fitting.fit_keras`
(audio and feature augmentation, mixup, class weights, checkpoint) on the clips listed in ``JOB_DIR/clips.json``
and leaves in ``JOB_DIR/FAMILY/``: ``model.keras``, the probe features ``inputs.npy`` and the trained model's
probabilities on them ``probs.npy``.

``python -m tests.backend_worker load JOB_DIR FAMILY...`` loads each ``model.keras`` (safe mode) and predicts the
probe features; ``export`` also exports it with :func:`serapp_train.export.export_onnx` (its parity check included) and
runs the ONNX file in onnxruntime.

Each family's outcome, or its traceback, goes to ``JOB_DIR/FAMILY/<command>.json``: one family's failure does
not hide the others'.
"""

from __future__ import annotations

import json
import math
import sys
import time
import traceback
from collections.abc import Callable
from functools import cache, partial
from pathlib import Path
from typing import Any

import numpy as np
from serapp_train.augment import AugmentConfig
from serapp_train.config import TrainConfig
from serapp_train.corpora import Clip
from serapp_train.data import Data, choose_split
from serapp_train.fitting import fit_keras
from serapp_train.models import FAMILIES, IMAGENET_FAMILIES
from serapp_train.scoring import predict_proba

from serapp.engine.modelmeta import ModelInfo
from tests.tiny_models import clip_audio, clip_features, tiny_spec

# Every transform that runs on the fly (audio and features), each on about half the examples.
AUGMENT = AugmentConfig(p_noise=0.5, p_gain=0.5, p_shift=0.5, p_specaugment=0.5, p_roll=0.5, p_feature_noise=0.5)


# ImageNet bases trained frozen (their own option): compiling the backward pass through VGG19 and ResNet50 costs
# about 10 s each on CPU, and their layers (Conv2D, BatchNorm, ReLU, Add, max-pool) train unfrozen in the small
# families. MobileNetV3 trains whole: its DepthwiseConv2D, hard-swish and squeeze-excite layers are nowhere else.
FROZEN = ("vgg19", "resnet50")
SPLIT = TrainConfig(protocol="speaker-holdout")  # the job's clips all come from different speakers


def job_config(family: str, n_train: int) -> TrainConfig:
    """One epoch of two steps: half the training split a batch (with an even split, one compiled shape)."""
    options: dict[str, Any] = {"weights": None, "freeze": family in FROZEN} if family in IMAGENET_FAMILIES else {}
    return SPLIT.replace(family=family, spec=tiny_spec(FAMILIES[family].spec), epochs=1,
                         batch_size=max(2, n_train // 2), augment=AUGMENT, mixup_alpha=0.2, label_smoothing=0.1,
                         model_options=options)


@cache
def job_clips(job: Path) -> list[Clip]:
    """The clips listed in ``JOB_DIR/clips.json``, as the corpus scan finds them (labels, speakers)."""
    from serapp_train import corpora

    from serapp.paths import corpora_root

    wanted = {Path(p) for p in json.loads((job / "clips.json").read_text())}
    return [c for c in corpora.scan(corpora_root()) if c.path in wanted]


def load_job(job: Path, family: str) -> Data:
    """The job's clips as :class:`Data` for ``family``: its features, prepared audio and a speaker holdout."""
    clips = job_clips(job)
    paths = [c.path for c in clips]
    labels = tuple(sorted({c.label for c in clips}))
    y = np.array([labels.index(c.label) for c in clips], dtype=np.int64)
    spec = tiny_spec(FAMILIES[family].spec)
    split = choose_split(clips, SPLIT)
    return Data(clips, labels, y, clip_features(paths, spec), clip_audio(paths, spec).astype(np.float16), split)


def train(job: Path, family: str) -> dict[str, Any]:
    """Train ``family`` on JAX (the process's backend) and keep its checkpoint, probe features and outputs."""
    import keras

    data = load_job(job, family)
    config = job_config(family, len(data.split.train))
    out = job / family
    model, history, _ = fit_keras(config, data, out, verbose=0)
    np.save(out / "inputs.npy", data.features)
    np.save(out / "probs.npy", predict_proba(model, data.features, len(data.labels)))
    steps = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    # Adam's moment estimates (the optimiser's non-scalar variables) are non-zero only after non-zero gradients
    moments = [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables if len(v.shape) > 0]
    return {"labels": data.labels, "loss": history["loss"], "steps": steps,
            "gradients_applied": any(bool(np.any(m != 0)) for m in moments),
            "expected_steps": math.ceil(len(data.split.train) / config.batch_size),
            "checkpoint_bytes": (out / "model.keras").stat().st_size}


def load(job: Path, family: str, *, onnx: bool = False) -> dict[str, Any]:
    """Load the checkpoint and predict the probe features; with ``onnx`` also export it (parity-checked)."""
    import keras
    import onnxruntime as ort
    import serapp_train.nets  # noqa: F401  (registers the custom layers a checkpoint may use)
    from serapp_train.export import export_onnx

    out = job / family
    inputs, probs = np.load(out / "inputs.npy"), np.load(out / "probs.npy")
    model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    ours = keras.ops.convert_to_numpy(model(inputs, training=False))
    result = {"max_diff_keras": float(np.max(np.abs(ours - probs)))}
    if onnx:
        labels = json.loads((out / "train.json").read_text())["labels"]
        info = ModelInfo(labels=tuple(labels), spec=tiny_spec(FAMILIES[family].spec), name=f"jax-{family}",
                         family=family)
        path = export_onnx(model, info, out / "model.onnx", inputs)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        onnx_probs = session.run(None, {session.get_inputs()[0].name: inputs})[0]
        result["max_diff_onnx"] = float(np.max(np.abs(onnx_probs - probs)))
    return result


COMMANDS: dict[str, Callable[[Path, str], dict[str, Any]]] = {"train": train, "load": load,
                                                              "export": partial(load, onnx=True)}


def main(argv: list[str]) -> int:
    """``COMMAND JOB_DIR FAMILY...``: run the command for each family, recording each outcome."""
    import keras

    command, job, families = argv[0], Path(argv[1]), argv[2:]
    for family in families:
        (job / family).mkdir(exist_ok=True)
        start = time.perf_counter()
        try:
            result = {"ok": True, **COMMANDS[command](job, family)}
        except Exception:  # reported per family; the test shows the traceback
            result = {"ok": False, "error": traceback.format_exc()}
        result.update(backend=keras.config.backend(), seconds=round(time.perf_counter() - start, 2))
        (job / family / f"{command}.json").write_text(json.dumps(result, indent=2))
        print(f"{command} {family} on {result['backend']}: {'ok' if result['ok'] else 'FAILED'} "
              f"in {result['seconds']} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
