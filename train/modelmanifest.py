"""A bundled model's entry in its folder's manifest (``assets/models/manifest.json``): what `serapp-train
manifest` and a recipe's install step (:mod:`serapp_train.recipe`) write.

The app refuses a bundled model whose size or SHA-256 differs from this record (:func:`serapp.bundle.verify`).
Each entry holds the file's identity (name, size, SHA-256), what the model says about itself (name, version,
created, protocol, headline test metrics) and, from the run folder it was trained in, the SHA-256 of its
``config.json`` and of its speaker sets (``split.json``, hashed as :func:`serapp_train.provenance.speakers_sha256`
hashes them), and the git commit the run was trained at (``training_commit``, with ``training_changes``: whether
that checkout had uncommitted changes to the trainer, app or configs; both null for runs that predate the record or
were trained outside a checkout, see :mod:`serapp_train.codeversion`). Other models' entries are kept.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from serapp.atomic import write_text
from serapp.bundle import MANIFEST_FORMAT, MANIFEST_NAME, file_entry, read_manifest, sha256_file
from serapp.errors import SerappError

from .provenance import speaker_sets, speakers_sha256
from .runfolder import CONFIG, RunFolder

NOTE = ("Written by `serapp-train manifest`. The app checks each file's size_bytes and sha256 when it loads it; "
        "run and the hashes name the run folder the model was trained in.")


def run_hashes(run_dir: Path) -> dict[str, Any]:
    """``{"run", "config_sha256", "speakers_sha256", "training_commit", "training_changes"}`` of a run folder (its
    ``config.json`` bytes, its ``split.json`` speaker sets and its ``metrics.json`` code record). Raises
    :class:`SerappError` when config.json or split.json is missing or unreadable."""
    folder = RunFolder(run_dir)
    try:
        split = folder.split()
        config_sha = sha256_file(folder.path / CONFIG)  # the bytes as written: what the run was trained with
    except (OSError, SerappError) as exc:
        raise SerappError(f"{run_dir}: not a run folder with config.json and split.json ({exc}).") from exc
    code = folder.code() or {}
    return {"run": run_dir.as_posix(), "config_sha256": config_sha,
            "speakers_sha256": speakers_sha256(speaker_sets(split)),
            "training_commit": code.get("commit"), "training_changes": code.get("changes")}


def model_entry(model_path: Path, run_dir: Path) -> dict[str, Any]:
    """The manifest entry of ``model_path`` trained in ``run_dir`` (see the module)."""
    from serapp.engine.model import OnnxModel  # opens it without the manifest check this entry is for

    info = OnnxModel(model_path).info
    return {**file_entry(model_path), "name": info.name, "version": info.version, "created": info.created,
            "protocol": info.protocol, "metrics": info.metrics, **run_hashes(run_dir)}


def updated(manifest: dict[str, Any] | None, entry: dict[str, Any]) -> dict[str, Any]:
    """``manifest`` (None: a new one) with ``entry`` replacing the entry of the same file, entries sorted by file."""
    models = [m for m in (manifest or {}).get("models", []) if m.get("file") != entry["file"]]
    return {"format": MANIFEST_FORMAT, "note": NOTE, "models": sorted([*models, entry], key=lambda m: m["file"])}


def entry_for(model_path: Path) -> dict[str, Any] | None:
    """The manifest entry of ``model_path`` in its folder's manifest; None when there is no manifest or entry."""
    folder = Path(model_path).parent
    if not (folder / MANIFEST_NAME).exists():
        return None
    return next((m for m in read_manifest(folder).get("models", []) if m.get("file") == Path(model_path).name), None)


def record(model_path: Path, run_dir: Path) -> tuple[Path, dict[str, Any]]:
    """Write ``model_path``'s entry (trained in ``run_dir``) into its folder's manifest; returns the manifest's
    path and the entry."""
    if not Path(model_path).is_file():
        raise SerappError(f"{model_path}: no such model file.")
    folder = Path(model_path).parent
    existing = read_manifest(folder) if (folder / MANIFEST_NAME).exists() else None
    entry = model_entry(Path(model_path), Path(run_dir))
    target = write_text(folder / MANIFEST_NAME, json.dumps(updated(existing, entry), indent=2) + "\n")
    return target, entry
