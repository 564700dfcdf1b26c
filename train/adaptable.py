"""An exported Whisper model plus a head trained on speaker-adapted embeddings -> one adaptable ONNX model: what
`serapp-train export ADAPTED_RUN --onto MODEL.onnx` runs.

The base model's graph is kept as it is (its ``probs`` are bit for bit the base's), and three things are added
(the names :mod:`serapp.engine.model` reads):

    speaker_mean  (1, layers, 2 * width) input, zeros unless given (an initializer of the same name, which
                  onnxruntime lets a caller override): the speaker's running mean embedding
    embedding     output: the base graph's pooled layers (the tensor its ``mean_std`` pooling concatenates)
    adapted_probs output: the adapted head (``speaker_adaptation`` run, exported with tf2onnx and every name
                  prefixed ``adapted/``) on ``embedding - speaker_mean``

The head is float32 (a few MB), whatever the base's weights are: the base may be an int8 file already shipped,
whose plain answers and recorded figures must not move.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from serapp.atomic import replacing
from serapp.engine.model import ADAPTED_PROBS, EMBEDDING, SPEAKER_MEAN, OnnxModel, calibrate
from serapp.engine.modelmeta import ModelInfo
from serapp.errors import SerappError

from .exporting import parity_features, read_run
from .provenance import ADAPTED_FROM_KEY, encoder_run_in, encoder_run_of, sha256_file
from .runfolder import load_checkpoint

PREFIX = "adapted/"
POOLED_NODE = "mean_std"  # the Whisper classifier's pooling layer (serapp_train.whisper.classifier.MeanStdPooling)


@dataclass(frozen=True)
class Attached:
    """What :func:`attach_run` wrote: the file, its metadata, the parity clips, and the largest differences of
    its plain probabilities from the base's and of its adapted ones from the Keras head's."""

    path: Path
    info: ModelInfo
    parity_clips: int
    plain_diff: float
    adapted_diff: float


def pooled_tensor(graph: Any) -> str:
    """The name of the base graph's pooled layers: the output of its one ``Concat`` in the ``mean_std`` pooling."""
    found = [n.output[0] for n in graph.node if n.op_type == "Concat" and POOLED_NODE in n.name]
    if len(found) != 1:
        raise SerappError(f"The base model has {len(found)} mean_std pooling outputs, not one: it is not a Whisper "
                          "model exported by serapp-train with mean and std pooling.")
    return found[0]


def attach_head(base: Any, head: Any, shape: tuple[int, ...]) -> Any:
    """``base`` (ONNX ModelProto of a Whisper model) with ``head`` (ModelProto of a head on pooled layers of
    ``shape``, one input, one output) attached as described in the module docstring; a new ModelProto."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if len(head.graph.input) != 1 or len(head.graph.output) != 1:
        raise SerappError("The adapted head must have one input and one output.")
    merged = onnx.ModelProto()
    merged.CopyFrom(base)
    graph = merged.graph
    taken = {SPEAKER_MEAN, ADAPTED_PROBS, EMBEDDING} & ({i.name for i in graph.input} | {o.name for o in graph.output})
    if taken:
        raise SerappError(f"The base model already has {', '.join(sorted(taken))}: it is adaptable already.")
    pooled = pooled_tensor(graph)
    head = onnx.compose.add_prefix(head, PREFIX)
    head_in, head_out = head.graph.input[0].name, head.graph.output[0].name
    graph.node.extend([helper.make_node("Sub", [pooled, SPEAKER_MEAN], [head_in], name=f"{PREFIX}centre"),
                       *head.graph.node,
                       helper.make_node("Identity", [head_out], [ADAPTED_PROBS], name=f"{PREFIX}probs_out"),
                       helper.make_node("Identity", [pooled], [EMBEDDING], name=f"{PREFIX}embedding_out")])
    graph.initializer.extend([*head.graph.initializer,
                              numpy_helper.from_array(np.zeros((1, *shape), np.float32), SPEAKER_MEAN)])
    graph.input.append(helper.make_tensor_value_info(SPEAKER_MEAN, TensorProto.FLOAT, [1, *shape]))
    n_labels = head.graph.output[0].type.tensor_type.shape.dim[-1].dim_value or None
    graph.output.extend([helper.make_tensor_value_info(ADAPTED_PROBS, TensorProto.FLOAT, ["batch", n_labels]),
                         helper.make_tensor_value_info(EMBEDDING, TensorProto.FLOAT, ["batch", *shape])])
    versions = {o.domain: o.version for o in base.opset_import}
    for o in head.opset_import:
        versions[o.domain] = max(versions.get(o.domain, 0), o.version)
    del merged.opset_import[:]
    merged.opset_import.extend(helper.make_opsetid(d, v) for d, v in versions.items())
    onnx.checker.check_model(merged)
    return merged


def attach_run(adapted_dir: Path, base_path: Path, out: Path, *, root: Path | None = None, parity_clips: int = 8,
               atol: float = 1e-4) -> Attached:
    """Attach the head of ``adapted_dir`` (a run trained with ``speaker_adaptation``) onto the exported model
    ``base_path`` (same family, features and labels) and write the adaptable model to ``out`` (atomic; only
    after the parity check on held-out clips passes: plain probabilities as the base's, adapted ones as the
    Keras head's on the ONNX embeddings less their mean, within ``atol``; both as the app serves them)."""
    import onnx
    import serapp_train.whisper.classifier  # noqa: F401  (the head's registered layers)

    from serapp.paths import corpora_root

    from .export import require_tensorflow_backend, to_onnx

    require_tensorflow_backend()
    folder = read_run(adapted_dir)
    config = folder.config()
    base = OnnxModel(base_path)
    problems = [what for what, ok in (
        ("its run was not trained with speaker_adaptation", config.speaker_adaptation > 0),
        (f"its family {config.family} is not the base's {base.info.family}", config.family == base.info.family),
        ("its features differ from the base's", folder.spec() == base.info.spec),
        ("its labels differ from the base's", tuple(folder.labels()) == base.labels),
        ("the base adapts already", not base.adaptable),
        (f"its head was trained on the encoder of {encoder_run_of(folder) or 'the checkpoint'}, the base has "
         f"{encoder_run_in(base_path) or 'the checkpoint'}'s", encoder_run_of(folder) == encoder_run_in(base_path)),
    ) if not ok]
    if problems:
        raise SerappError(f"{adapted_dir} cannot be attached to {base_path}: {'; '.join(problems)}.")
    head = load_checkpoint(folder)
    shape = tuple(int(d) for d in head.input_shape[1:])
    merged = attach_head(onnx.load(str(base_path)), to_onnx(head, shape), shape)
    info = dataclasses.replace(
        base.info, adapt_clips=config.speaker_adaptation,
        adapt_temperature=folder.temperature(),
        notes=f"{base.info.notes}; adapts to its speaker with the head of run {folder.run_id} (trained on "
              f"embeddings less the mean of {config.speaker_adaptation} of each speaker's clips)")
    base_record = {ADAPTED_FROM_KEY: json.dumps({"file": Path(base_path).name, "sha256": sha256_file(base_path)})}
    # the base's other records stay (a teacher record, say); the base's hash lets it stand for the base
    props = {p.key: p.value for p in merged.metadata_props} | base_record | info.to_metadata()
    del merged.metadata_props[:]
    onnx.helper.set_model_props(merged, props)
    inputs, _ = parity_features(folder, root or corpora_root(), parity_clips)
    with replacing(Path(out)) as tmp:
        tmp.write_bytes(merged.SerializeToString())
        served = OnnxModel(tmp)  # the app's own loader, which also checks the adaptable parts are there
        plain, embedding = served.scores(inputs, embeddings=True)
        assert embedding is not None  # asked for
        mean = embedding.mean(axis=0)
        adapted, _ = served.scores(inputs, mean)
        plain_diff = float(np.max(np.abs(plain - base.predict(inputs))))
        expected = calibrate(np.asarray(head(embedding - mean, training=False)), served.info.adapt_temperature)
        adapted_diff = float(np.max(np.abs(adapted - expected)))
        if not (plain_diff <= atol and adapted_diff <= atol):  # also catches NaN
            raise SerappError(f"The adaptable model disagrees with its parts: plain {plain_diff:.2e}, adapted "
                              f"{adapted_diff:.2e} > {atol:.0e} on {len(inputs)} clips; the file was not written.")
    return Attached(Path(out), info, len(inputs), plain_diff, adapted_diff)
