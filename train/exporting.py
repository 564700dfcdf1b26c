"""A finished run folder's checkpoint -> a self-describing ONNX model (and optionally an int8 copy): what
`serapp-train export` and a recipe's export step (:mod:`serapp_train.recipe`) run.

A run folder (written by ``serapp-train train``; its files are :mod:`serapp_train.runfolder`'s) holds the config,
labels, spec, split, metrics (with ``calibration.temperature``) and ``model.keras`` (the best checkpoint).
The checkpoint is loaded in Keras safe mode (no code runs), the model metadata is rebuilt from those files,
and the parity check runs on real clips of the run's held-out speakers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serapp.errors import SerappError
from serapp.paths import corpora_root

from .runfolder import CONFIG, LABELS, METRICS, MODEL_KERAS, SPEC, SPLIT, RunFolder, load_checkpoint

if TYPE_CHECKING:
    from serapp.engine.modelmeta import ModelInfo

RUN_FILES = (CONFIG, LABELS, SPEC, SPLIT, METRICS, MODEL_KERAS)


@dataclass(frozen=True)
class Exported:
    """What :func:`export_run` wrote: the ONNX file and its metadata, the number of parity clips, and the int8 and
    float16 copies with their largest probability changes (None without them)."""

    path: Path
    info: ModelInfo
    parity_clips: int
    int8_path: Path | None = None
    int8_diff: float | None = None
    fp16_path: Path | None = None
    fp16_diff: float | None = None


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


def export_run(run_dir: Path, out: Path | None = None, *, name: str | None = None, int8: bool = False,
               fp16: bool = False, root: Path | None = None, parity_clips: int = 8, atol: float = 1e-4) -> Exported:
    """Export ``run_dir``'s ``model.keras`` to ``out`` (default: the run's ``model.onnx``), named ``name`` in its
    metadata (default: the run id); with ``int8`` also ``<out stem>-int8.onnx`` with int8 weights, with ``fp16``
    also ``<out stem>-fp16.onnx`` with float16 weights. ``root``: the corpora for the parity clips (default:
    :func:`serapp.paths.corpora_root`)."""
    import serapp_train.nets
    import serapp_train.whisper.classifier  # noqa: F401  (and the Whisper head's)

    from .export import export_onnx, model_info, require_tensorflow_backend
    from .fitting import served_model
    from .provenance import run_metadata

    require_tensorflow_backend()  # before reading clips for the parity check
    if parity_clips < 1:
        raise SerappError(f"--parity-clips must be at least 1, got {parity_clips}.")
    folder = read_run(run_dir)
    if folder.config().speaker_adaptation:
        raise SerappError(f"{run_dir}: its head was trained on speaker-adapted embeddings (speaker_adaptation); "
                          "alone it would answer nonsense. Attach it to an exported model of the same features and "
                          f"labels: serapp-train export {run_dir} --onto MODEL.onnx --out ADAPTABLE.onnx")
    inputs, corpora = parity_features(folder, root or corpora_root(), parity_clips)
    model = load_checkpoint(folder)
    config = folder.config()
    info = model_info(config, folder.labels(), corpora, folder.split(), folder.metrics(), folder.temperature(),
                      name or folder.run_id, "exported from the run's checkpoint")
    path = export_onnx(served_model(config, model), info, out or folder.model_path, inputs,
                       atol=atol, extra_metadata=run_metadata(run_dir))  # a distilled run's teachers travel with it
    from .export import quantize_int8, store_float16

    done = Exported(path, info, len(inputs))
    if int8:
        small = path.with_name(f"{path.stem}-int8.onnx")
        done = dataclasses.replace(done, int8_path=small, int8_diff=quantize_int8(path, small, info, inputs))
    if fp16:
        half = path.with_name(f"{path.stem}-fp16.onnx")
        done = dataclasses.replace(done, fp16_path=half, fp16_diff=store_float16(path, half, info, inputs))
    return done
