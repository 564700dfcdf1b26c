"""One training run end to end, saved in a new run folder (:class:`~serapp_train.runfolder.RunFolder`).

Flow: scan corpora -> (optional) limit per corpus -> features / prepared audio from the cache -> speaker split
(validation speakers drawn from the *training* speakers) -> batches with on-the-fly augmentation for the
training set only -> ``model.fit`` with early stopping on validation, best checkpoint and an LR schedule ->
temperature fitted on validation -> test metrics computed once, at the end -> optional ONNX export.

Only the ONNX export needs TensorFlow, so a run trained on JAX is exported afterwards by
``KERAS_BACKEND=tensorflow serapp-train export RUN_DIR``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from serapp.errors import SerappError

from .config import TrainConfig
from .data import Data, load_data
from .fitting import fit_classical, fit_keras, served_model, teacher_targets
from .runfolder import RunFolder
from .scoring import HEADLINE, calibrate, evaluate_rows, predict_proba


@dataclass(eq=False)
class RunResult:
    """What a finished run leaves: its folder, the config, the evaluation (``metrics.json`` content), the
    parameter count, seconds per epoch (empty for classical), the fitted model (Keras or scikit-learn), the
    ONNX path when exported, and a few real inputs ``(n, *spec.shape)`` for timing."""

    run_dir: Path
    config: TrainConfig
    metrics: dict[str, Any]
    n_params: int
    seconds_per_epoch: list[float]
    model: Any
    onnx_path: Path | None
    probe_inputs: np.ndarray


def split_records(config: TrainConfig, data: Data) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """What ``split.json`` holds: the split's name, independence and clip counts (a training clip's augmented
    views counted apart, as ``train_views``), and each part's speakers."""
    split = data.split
    sizes = split.sizes()
    copies = config.views + config.prefix_views
    if copies:
        sizes["train"] //= 1 + copies
        sizes["train_views"] = sizes["train"] * copies
    record = {"name": split.name, "speaker_independent": split.speaker_independent, **sizes}
    speakers = {f"{part}_speakers": sorted({data.clips[i].speaker for i in getattr(split, part)})
                for part in ("train", "val", "test")}
    return record, speakers


def train_run(config: TrainConfig, *, root: Path | None = None, runs_dir: Path = Path("runs"),
              export: bool = False, export_required: bool = True, workers: int = 1,
              extract_workers: int | None = None, verbose: int = 1) -> RunResult:
    """Run ``config`` end to end and save everything in a new run directory (see the module).

    ``export``: also write ``model.onnx`` (neural families; needs Keras on TensorFlow, checked before training);
    with ``export_required`` False a failed export is reported and the run kept (``onnx_path`` None).
    ``workers``: threads preparing training batches; ``extract_workers``: processes filling the feature cache.
    """
    from . import metrics

    if export and export_required and not config.classical:
        from .export import require_tensorflow_backend

        require_tensorflow_backend()  # refuse before training, not after it
    from .codeversion import code_record

    code = code_record()  # the checkout as training starts: what trained the run
    data = load_data(config, root, workers=extract_workers, progress=bool(verbose))
    split = data.split
    soft = teacher_targets(config, data) if config.teachers else None  # a leaking teacher is refused here
    folder = RunFolder.create(runs_dir, config)
    run_dir = folder.path
    folder.write_config(config)
    folder.write_labels(data.labels)
    folder.write_spec(config.feature_spec)
    split_record, speakers = split_records(config, data)
    folder.write_split({**split_record, **speakers})
    if config.teachers:  # each teacher's run id, model checksum and speakers, so a clone can check the student
        from .distill import provenance

        folder.write_teachers(provenance(config.teachers, speakers))
    if verbose:
        print(f"{config.family} on {split.name}: {split.sizes()} clips, labels {', '.join(data.labels)}")

    seconds: list[float] = []
    if config.classical:
        model = fit_classical(config, data)
        n_params = 0
    else:
        from .models import count_params

        model, history, seconds = fit_keras(config, data, run_dir, soft=soft, workers=workers,
                                             verbose=verbose)
        n_params = count_params(model)["total"]
        folder.write_history({**history, "seconds_per_epoch": seconds})
        metrics.plot_history(history, run_dir / "curves.png")

    val_probs = predict_proba(model, data.features[split.val], len(data.labels))
    calibration = calibrate(val_probs, data.y[split.val])
    # Validation scores (per corpus included) are what a search may select on; the test fold never is.
    validation = evaluate_rows(model, data, split.val, calibration["temperature"], val_probs)
    # The test fold is touched exactly once, here, after every choice (epochs, temperature) is made.
    evaluated = split.val if config.all_speakers else split.test
    report = validation if config.all_speakers else evaluate_rows(model, data, split.test, calibration["temperature"])
    result_metrics = {**report, "evaluated_on": "validation" if config.all_speakers else "test",
                      "split": split.name, "speaker_independent": split.speaker_independent,
                      "calibration": calibration, "n_params": n_params,
                      "validation": {k: validation[k] for k in (*HEADLINE, "per_corpus", "n")},
                      "seconds_per_epoch": float(np.mean(seconds)) if seconds else None, "code": code}
    folder.write_metrics(result_metrics)
    metrics.plot_confusion(np.asarray(report["confusion"]), data.labels, run_dir / "confusion.png",
                           title=f"{config.family} — {config.protocol_label} ({result_metrics['evaluated_on']})")

    probe_rows = evaluated[:8] if len(evaluated) else np.arange(min(8, len(data.y)))
    probe = data.features[probe_rows]
    if config.encoder:  # what the exported model takes: the spec's features, the encoder in front of the head
        from . import cache

        probe = cache.features([data.clips[i] for i in probe_rows], config.feature_spec, progress=False).features
    onnx_path = None
    if export and config.classical:
        if export_required:
            raise SerappError(f"{config.family} is a scikit-learn baseline: it cannot be exported to ONNX "
                              "(no converter installed). Drop --export or train a neural family.")
    elif export:
        from .export import export_onnx, model_info
        from .provenance import run_metadata

        info = model_info(config, data.labels, [c.corpus for c in data.clips], split_record, report,
                          calibration["temperature"], run_dir.name)
        try:
            served = served_model(config, model)
            onnx_path = export_onnx(served, info, folder.model_path, probe,
                                    extra_metadata=run_metadata(run_dir))
        except SerappError as exc:
            if export_required:
                raise
            print(f"ONNX export skipped: {exc}")
    if verbose:
        # The validation figures only: they are what a choice may read. A test figure printed at the end of every
        # run was read before each choice (decisions 0013, 0016 count such reads); it stays in metrics.json, for
        # the card and the tables that report a chosen model.
        print(f"validation: accuracy {validation['accuracy']:.3f}, macro-F1 {validation['macro_f1']:.3f}, UAR "
              f"{validation['uar']:.3f}; T = {calibration['temperature']:.2f}; saved in {run_dir}"
              + ("" if config.all_speakers else " (test figures in its metrics.json, for reports only)"))
    return RunResult(run_dir, config, result_metrics, n_params, seconds, model, onnx_path, probe)

