"""Ensembles: finished runs on one feature spec merged into one ONNX file serving their mean.

The members' graphs run side by side on one input (the features are computed once); each member's output is
calibrated with its own temperature inside the graph, ``softmax(log max(p, 1e-12) / T_i)`` exactly as the
engine serves a single model, and the file outputs their mean. A temperature for the mean is then fitted on the
members' shared validation speakers and written to the metadata, like any run's. The members must share their
split (the same training, validation and test speakers), their labels in the same order and their feature spec.

The result is a run folder (:class:`~serapp_train.runfolder.RunFolder`), like `serapp-train train` leaves:
``model.onnx``, ``config.json`` (the first member's, with ``members``: each member by run id and model checksum, as
teachers are recorded, not by a folder path no clone has), ``split.json``, ``labels.json``, ``spec.json``
and ``metrics.json`` (validation and test figures, scored once on the merged file, and the calibration), so
`serapp-train card` can describe it. The engine serves the file like any model. What members share is computed
and stored once (:func:`share_common_parts`): heads on one frozen encoder cost the encoder once; members that share
nothing cost their sum (whole-file analysis pays it twelve times per second of audio).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from serapp.errors import SerappError
from serapp.paths import corpora_root

from .runfolder import CONFIG, METRICS, MODEL_INT8_ONNX, MODEL_ONNX, SPLIT, RunFolder

if TYPE_CHECKING:
    import onnx

    from serapp.engine.model import OnnxModel


def merge(members: Sequence[onnx.ModelProto], temperatures: Sequence[float]) -> onnx.ModelProto:
    """One ONNX model: ``members`` side by side on the first one's input, each output calibrated with its
    temperature, then averaged. Input and output names and shapes are the first member's; output ``(batch,
    n_labels)`` probabilities. Raises :class:`SerappError` when the members cannot share an input."""
    import onnx
    from onnx import compose, helper

    from serapp.engine.model import PROBABILITY_FLOOR

    if len(members) < 2 or len(members) != len(temperatures):
        raise SerappError(f"An ensemble needs two or more members, each with a temperature; got {len(members)} "
                          f"models and {len(temperatures)} temperatures.")
    first = members[0]
    opsets = {(o.domain, o.version) for o in first.opset_import}
    for i, member in enumerate(members[1:], start=2):
        if {(o.domain, o.version) for o in member.opset_import} != opsets:
            raise SerappError(f"Member {i} was exported with other ONNX operator sets than member 1; re-export "
                              "them with one serapp version.")
        if len(member.graph.input) != 1 or len(member.graph.output) != 1:
            raise SerappError(f"Member {i} has {len(member.graph.input)} inputs and {len(member.graph.output)} "
                              "outputs; an ensemble member needs one of each.")
        if _input_signature(member) != _input_signature(first):
            raise SerappError(f"Member {i} takes another input shape than member 1.")
    shared_in, shared_out = first.graph.input[0], first.graph.output[0]
    eps = helper.make_tensor("ensemble/eps", onnx.TensorProto.FLOAT, [], [PROBABILITY_FLOOR])
    nodes: list[onnx.NodeProto] = []
    initializers: list[onnx.TensorProto] = [eps]
    value_info: list[onnx.ValueInfoProto] = []
    calibrated: list[str] = []
    for i, (member, temperature) in enumerate(zip(members, temperatures, strict=True)):
        prefix = f"m{i}/"
        graph = compose.add_prefix_graph(member.graph, prefix)
        own_in, own_out = graph.input[0].name, graph.output[0].name
        for node in graph.node:  # read the shared input instead of the member's own
            node.input[:] = [shared_in.name if name == own_in else name for name in node.input]
        inv_t = helper.make_tensor(f"{prefix}inverse_temperature", onnx.TensorProto.FLOAT, [],
                                   [1.0 / float(temperature)])
        nodes += [*graph.node,
                  helper.make_node("Max", [own_out, eps.name], [f"{prefix}floored"]),
                  helper.make_node("Log", [f"{prefix}floored"], [f"{prefix}log"]),
                  helper.make_node("Mul", [f"{prefix}log", inv_t.name], [f"{prefix}scaled"]),
                  helper.make_node("Softmax", [f"{prefix}scaled"], [f"{prefix}calibrated"], axis=-1)]
        initializers += [*graph.initializer, inv_t]
        value_info += graph.value_info
        calibrated.append(f"{prefix}calibrated")
    nodes.append(helper.make_node("Mean", calibrated, [shared_out.name]))
    graph = helper.make_graph(nodes, "serapp-ensemble", [shared_in], [shared_out], initializers,
                              value_info=value_info)
    model = helper.make_model(graph, opset_imports=list(first.opset_import), ir_version=first.ir_version)
    share_common_parts(model)
    onnx.checker.check_model(model)
    return model


def _input_signature(model: onnx.ModelProto) -> tuple[Any, ...]:
    """The first input's element type and shape, a free dimension as None whatever its symbolic name (exporters
    name the batch dimension differently in each file)."""
    tensor = model.graph.input[0].type.tensor_type
    return tensor.elem_type, tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)


def _tensor_key(tensor: onnx.TensorProto) -> tuple[Any, ...]:
    from onnx import numpy_helper

    value = numpy_helper.to_array(tensor)
    return tensor.data_type, tuple(tensor.dims), hashlib.sha256(value.tobytes()).hexdigest()


def _n_weights(proto: onnx.ModelProto) -> int:
    """Values the file stores (shared weights counted once)."""
    return sum(int(np.prod(t.dims)) for t in proto.graph.initializer)


def share_common_parts(model: onnx.ModelProto) -> int:
    """Compute what members share once, in place: initializers with equal values become one, then every node
    doing the same operation on the same inputs (with equal attributes) is replaced by the first such node, in
    the graph's topological order. Members on one frozen encoder (Whisper heads of a seed ensemble) thus run the
    encoder once and their heads side by side, and the file holds its weights once. Random operators and graphs
    with subgraphs (If, Loop) are left as they are. Returns the number of nodes removed."""
    from onnx import AttributeProto

    graph = model.graph
    if any(a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS) for n in graph.node for a in n.attribute):
        return 0  # a subgraph may read outer names; renaming them is not worth it for our exports
    rename: dict[str, str] = {}
    kept_tensors: dict[tuple[Any, ...], str] = {}
    initializers = []
    for tensor in graph.initializer:
        first_name = kept_tensors.setdefault(_tensor_key(tensor), tensor.name)
        if first_name == tensor.name:
            initializers.append(tensor)
        else:
            rename[tensor.name] = first_name
    outputs = {o.name for o in graph.output}
    kept_nodes: dict[tuple[Any, ...], list[str]] = {}
    nodes = []
    for node in graph.node:
        node.input[:] = [rename.get(name, name) for name in node.input]
        key = (node.domain, node.op_type, tuple(node.input), len(node.output),
               tuple(a.SerializeToString(deterministic=True) for a in sorted(node.attribute, key=lambda a: a.name)))
        same = kept_nodes.get(key)
        if same is None or node.op_type.startswith("Random") or outputs.intersection(node.output):
            kept_nodes.setdefault(key, list(node.output))
            nodes.append(node)
            continue
        rename.update((mine, theirs) for mine, theirs in zip(node.output, same, strict=True) if mine)
    removed = len(graph.node) - len(nodes)
    produced = {name for node in nodes for name in node.output} | {t.name for t in initializers}
    value_info = [v for v in graph.value_info if v.name in produced]
    del graph.node[:], graph.initializer[:], graph.value_info[:]
    graph.node.extend(nodes)
    graph.initializer.extend(initializers)
    graph.value_info.extend(value_info)
    return removed


@dataclass(frozen=True)
class Member:
    """A member run: its folder, its served model (:class:`OnnxModel`), the ONNX graph, its config as recorded,
    its split and metrics records."""

    folder: RunFolder
    model: OnnxModel
    proto: onnx.ModelProto
    config: dict[str, Any]
    split: dict[str, Any]
    metrics: dict[str, Any]

    @property
    def dir(self) -> Path:
        return self.folder.path


def read_member(run_dir: Path) -> Member:
    """A member run's files; :class:`SerappError` naming the first one it lacks."""
    import onnx

    from serapp.engine.model import load_model

    folder = RunFolder(run_dir)
    folder.require((MODEL_ONNX, SPLIT, CONFIG, METRICS))
    return Member(folder, load_model(folder.model_path), onnx.load(folder.model_path), folder.config_record(),
                  folder.split(), folder.metrics())


def check_members(members: Sequence[Member]) -> None:
    """Raise :class:`SerappError` unless every member shares the first one's speakers, labels and features."""
    first = members[0]
    for member in members[1:]:
        where = f"{member.dir} and {first.dir}"
        for part in ("train_speakers", "val_speakers", "test_speakers"):
            if sorted(member.split.get(part, [])) != sorted(first.split.get(part, [])):
                raise SerappError(f"{where} were trained on different splits ({part} differ); an ensemble's "
                                  "figures would mix speakers its members trained on.")
        if member.model.labels != first.model.labels:
            raise SerappError(f"{where} predict different labels or orders ({', '.join(member.model.labels)} "
                              f"against {', '.join(first.model.labels)}).")
        if member.model.info.spec != first.model.info.spec:
            raise SerappError(f"{where} use different feature specs; ensemble members must read the same input.")


def _write(proto: onnx.ModelProto, info: Any, path: Path) -> None:
    """Write ``proto`` with ``info`` (a :class:`ModelInfo`) as its metadata, atomically."""
    import onnx

    from serapp.atomic import replacing

    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, info.to_metadata())
    with replacing(path) as tmp:
        tmp.write_bytes(proto.SerializeToString())


def build_ensemble(run_dirs: Sequence[Path], out: Path, *, name: str | None = None, root: Path | None = None,
                   int8: bool = False, say: Callable[[str], None] = print) -> RunFolder:
    """Merge the finished runs ``run_dirs`` into a new run folder ``out`` (see the module), scored on the members'
    validation and test speakers under ``root`` (default: :func:`serapp.paths.corpora_root`); with ``int8`` also
    ``model-int8.onnx``, its weights quantised as :func:`serapp_train.exporting.export_run` does. ``say`` gets the
    figures. Raises :class:`SerappError` when ``out`` exists or the members disagree."""
    import dataclasses
    from datetime import UTC, datetime

    import serapp
    from serapp.engine.model import load_model

    from . import corpora, metrics
    from .scoring import HEADLINE, calibrate, score

    if out.exists():
        raise SerappError(f"{out} exists; the ensemble writes a new run folder (nothing is overwritten).")
    members = [read_member(Path(d)) for d in run_dirs]
    check_members(members)
    first = members[0]
    proto = merge([m.proto for m in members], [m.model.info.temperature for m in members])
    root = root or corpora_root()
    clips = corpora.scan(root)
    parts = {part: [c for c in clips if c.speaker in set(first.split.get(f"{part}_speakers", []))]
             for part in ("val", "test")}
    if not parts["val"] or not parts["test"]:
        raise SerappError(f"{first.dir}: the split's validation or test speakers have no clips here.")
    families = "/".join(sorted({m.model.info.family for m in members}))
    info = dataclasses.replace(
        first.model.info, name=name or out.name, family=f"ensemble of {len(members)} {families}",
        version=serapp.__version__, created=datetime.now(UTC).isoformat(timespec="seconds"), temperature=1.0,
        notes=f"mean calibrated probability of {len(members)} runs ({', '.join(m.dir.name for m in members)}); "
              f"{first.model.info.notes}")
    out.mkdir(parents=True)
    folder = RunFolder(out)
    path = folder.model_path
    _write(proto, info, path)
    # Scored once each with T = 1 (the members' mean); the temperature for the mean is fitted on the validation
    # speakers and applied as the engine applies it, so the figures are those of the file written last.
    merged = load_model(path)
    raw = {part: score(merged, part_clips) for part, part_clips in parts.items()}
    calibration = calibrate(raw["val"].probs, raw["val"].y)
    served = {part: metrics.apply_temperature(s.probs, calibration["temperature"]) for part, s in raw.items()}
    val_metrics, test_metrics = (
        metrics.evaluate(raw[part].y, served[part], info.labels, corpora=[c.corpus for c in raw[part].clips]).to_dict()
        for part in ("val", "test"))
    val_loss = metrics.nll(served["val"], raw["val"].y)
    info = dataclasses.replace(info, temperature=calibration["temperature"],
                               metrics={k: test_metrics[k] for k in HEADLINE if k in test_metrics})
    _write(proto, info, path)
    folder.write_config(first.folder.config(), members=[m.folder for m in members])
    folder.write_split(first.split)
    folder.write_labels(info.labels)
    folder.write_spec(info.spec)
    folder.write_metrics({
        **test_metrics, "calibration": calibration,
        "validation": {**val_metrics, "log_loss": val_loss},
        "n_params": _n_weights(proto)})
    say(f"validation: log-loss {val_loss:.3f}, accuracy {val_metrics['accuracy']:.3f}, UAR "
        f"{val_metrics['uar']:.3f}; T = {calibration['temperature']:.3f}")
    # The test figures go to metrics.json only, as `serapp-train train` keeps them: what is printed gets read
    say(f"saved in {out} (test figures in its metrics.json, for reports only)")
    if int8:
        from .export import quantize_int8
        from .exporting import parity_features

        inputs, _ = parity_features(folder, root, 8)
        small = folder.path / MODEL_INT8_ONNX
        diff = quantize_int8(path, small, info, inputs)
        say(f"int8 copy: {small} (largest probability difference {diff:.4f} on {len(inputs)} clips)")
    return folder
