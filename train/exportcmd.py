"""`serapp-train export`: a finished run's ``model.keras`` -> a self-describing ONNX model.

A run folder (written by ``serapp-train train``; its files are :mod:`serapp_train.runfolder`'s) holds the config,
labels, spec, split, metrics (with ``calibration.temperature``) and ``model.keras`` (the best checkpoint).
The checkpoint is loaded in Keras safe mode (no code runs), the model metadata is rebuilt from those files,
and the parity check runs on real clips of the run's held-out speakers.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from serapp.errors import SerappError
from serapp.paths import corpora_root

from .runfolder import CONFIG, LABELS, METRICS, MODEL_KERAS, SPEC, SPLIT, RunFolder

RUN_FILES = (CONFIG, LABELS, SPEC, SPLIT, METRICS, MODEL_KERAS)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="run folder written by `serapp-train train`")
    parser.add_argument("--out", type=Path, default=None, help="ONNX file to write (default: RUN_DIR/model.onnx)")
    parser.add_argument("--root", type=Path, default=None,
                        help="corpora folder for the parity clips (default: $SERAPP_CORPORA or ../shared/corpora)")
    parser.add_argument("--parity-clips", type=int, default=8, help="held-out clips checked Keras vs ONNX")
    parser.add_argument("--atol", type=float, default=1e-4, help="largest allowed |Keras - ONNX| probability")
    parser.add_argument("--name", default=None, help="the model's name in its metadata (default: the run folder's)")
    parser.add_argument("--int8", action="store_true",
                        help="also write OUT's stem + '-int8.onnx' with int8 weights (check it on validation "
                             "speakers with `serapp-train evaluate` before using it)")


def read_run(run_dir: Path) -> RunFolder:
    """The run folder, checked: every file an export reads is there, and ``spec.json`` agrees with ``config.json``.
    Raises :class:`SerappError` naming any missing file."""
    folder = RunFolder(run_dir)
    missing = folder.missing(RUN_FILES)
    if missing:
        raise SerappError(f"{run_dir} is not a finished neural run: it lacks {', '.join(missing)}. "
                          "Export runs made by `serapp-train train` (scikit-learn baselines cannot be exported).")
    if folder.spec() != folder.config().feature_spec:
        raise SerappError(f"{run_dir}: spec.json and config.json disagree about the features; the run is damaged.")
    return folder


def parity_features(run: RunFolder, root: Path, n: int) -> tuple[Any, tuple[str, ...]]:
    """Features ``(<= n, *spec.shape)`` of the first clips of the run's held-out speakers (test, or validation
    for all-speaker runs), and the corpora the run drew on."""
    from . import cache, corpora

    config, split = run.config(), run.split()
    clips = corpora.scan(root, config.corpora, fold_calm=config.fold_calm)
    speakers = set(split.get("test_speakers") or split.get("val_speakers") or [])
    held_out = [c for c in clips if c.speaker in speakers][:n]
    if not held_out:
        raise SerappError(f"None of the run's held-out speakers were found under {root}; pass --root with the "
                          "corpora the run was trained on.")
    extracted = cache.features(held_out, run.spec(), workers=1, progress=False)
    if len(extracted.clips) == 0:
        raise SerappError("None of the parity clips could be decoded; see the warnings above.")
    return extracted.features, tuple(sorted({c.corpus for c in clips}))


def run(args: argparse.Namespace) -> int:
    import keras
    import serapp_train.nets
    import serapp_train.whisper.classifier  # noqa: F401  (and the Whisper head's)

    from .export import export_onnx, model_info, require_tensorflow_backend

    require_tensorflow_backend()  # before reading clips for the parity check
    run_dir: Path = args.run_dir
    if args.parity_clips < 1:
        raise SerappError(f"--parity-clips must be at least 1, got {args.parity_clips}.")
    folder = read_run(run_dir)
    inputs, corpora = parity_features(folder, args.root or corpora_root(), args.parity_clips)
    try:
        model = keras.saving.load_model(folder.keras_path, safe_mode=True)
    except Exception as exc:  # Keras raises assorted types for damaged or unsafe files
        raise SerappError(f"{folder.keras_path}: cannot load the checkpoint ({exc}).") from exc
    from .fitting import served_model
    from .provenance import run_metadata

    config = folder.config()
    info = model_info(config, folder.labels(), corpora, folder.split(), folder.metrics(), folder.temperature(),
                      args.name or folder.run_id, "exported from the run's checkpoint")
    out = export_onnx(served_model(config, model), info, args.out or folder.model_path, inputs,
                      atol=args.atol, extra_metadata=run_metadata(run_dir))  # a distilled run's teachers travel with it
    print(f"wrote {out} ({info.family}, labels {', '.join(info.labels)}, T = {info.temperature:.2f}); "
          f"Keras and onnxruntime agree on {len(inputs)} held-out clips")
    if args.int8:
        import dataclasses

        from .export import quantize_int8

        small = out.with_name(f"{out.stem}-int8.onnx")
        info8 = dataclasses.replace(info, notes=f"{info.notes}; weights quantised to int8 (dynamic)")
        diff = quantize_int8(out, small, info8, inputs)
        print(f"wrote {small} ({small.stat().st_size / 1e6:.1f} MB against {out.stat().st_size / 1e6:.1f} MB); "
              f"largest probability change on {len(inputs)} held-out clips {diff:.3f}")
    return 0
