"""The bundled model(s) and their card: package data of ``serapp_assets``, found through :mod:`importlib.resources`,
listed in a manifest and checked against it when loaded.

In the repository the package is the ``assets/`` folder (mapped by ``[tool.setuptools.package-dir]``), so a wheel,
an editable install and a checkout read the same files::

    assets/models/serapp-default.onnx     the default model (Whisper tiny encoder and a trained head, int8)
    assets/models/serapp-cnn.onnx         the fast CNN it replaced, for slow machines (chosen by path)
    assets/models/manifest.json           per model: file, size, SHA-256 (written by `serapp-train manifest`)
    assets/model-card.md                  the default model's card (a link to docs/model-card.md, copied into wheels)

A bundled model whose size or SHA-256 differs from its manifest entry is refused with a :class:`SerappError`: the
installation is damaged (or, in a checkout, a new model was put there without recording it).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
from pathlib import Path
from typing import Any

from serapp.errors import SerappError

ASSETS_PACKAGE = "serapp_assets"
MODELS_FOLDER = "models"
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
CARD_NAME = "model-card.md"
DEFAULT_MODEL_NAME = "serapp-default.onnx"
_CHUNK = 1 << 20  # bytes read at a time while hashing


def assets_dir() -> Path:
    """The installed ``serapp_assets`` package's folder. Raises :class:`SerappError` when serapp was not installed
    (e.g. a checkout run through ``PYTHONPATH`` alone) or was installed as a zip file."""
    try:
        root = importlib.resources.files(ASSETS_PACKAGE)
    except ModuleNotFoundError as exc:
        raise SerappError(f"The bundled assets (package {ASSETS_PACKAGE}) are not installed: install serapp with "
                          "`pip install .` (or `pip install -e .` in a checkout).") from exc
    if not isinstance(root, Path):  # onnxruntime and the About dialog need real files
        raise SerappError(f"The bundled assets are inside an archive ({root}); install serapp into a folder.")
    return root


def models_dir() -> Path:
    """The folder of the bundled models and their manifest."""
    return assets_dir() / MODELS_FOLDER


def default_model_path() -> Path:
    """The bundled model that the app and `serapp analyze` load when no ``--model`` is given."""
    return models_dir() / DEFAULT_MODEL_NAME


def model_card_path() -> Path:
    """The bundled default model's card (Markdown)."""
    return assets_dir() / CARD_NAME


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_entry(path: Path) -> dict[str, Any]:
    """The manifest fields that identify ``path``'s bytes: ``file`` (name), ``size_bytes`` and ``sha256``."""
    return {"file": path.name, "size_bytes": path.stat().st_size, "sha256": sha256_file(path)}


def read_manifest(folder: Path) -> dict[str, Any]:
    """``folder``'s manifest as ``{"format": 1, "models": [{"file", "size_bytes", "sha256", ...}, ...], ...}``.
    Raises :class:`SerappError` when it is missing or unreadable (a damaged install)."""
    path = folder / MANIFEST_NAME
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SerappError(f"The bundled models' manifest {path} is missing: the installation is damaged; "
                          "reinstall serapp.") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SerappError(f"The bundled models' manifest {path} cannot be read ({exc}): the installation is "
                          "damaged; reinstall serapp.") from exc
    models = record.get("models") if isinstance(record, dict) else None
    if not isinstance(models, list) or record.get("format") != MANIFEST_FORMAT \
            or not all(isinstance(m, dict) and isinstance(m.get("file"), str) for m in models):
        raise SerappError(f"The bundled models' manifest {path} is not a format-{MANIFEST_FORMAT} manifest: the "
                          "installation is damaged; reinstall serapp.")
    return record


def mismatch(path: Path, entry: dict[str, Any]) -> str:
    """How ``path``'s bytes differ from its manifest ``entry``, in words; "" when its size and SHA-256 match.
    The size is compared first, so most damage is found without reading the file."""
    size = path.stat().st_size
    if size != entry.get("size_bytes"):
        return f"it has {size:,} bytes, its manifest says {entry.get('size_bytes')}"
    actual = sha256_file(path)
    if actual != entry.get("sha256"):
        return f"its SHA-256 is {actual[:16]}…, its manifest says {str(entry.get('sha256'))[:16]}…"
    return ""


def verify(path: str | Path, *, folder: Path | None = None) -> None:
    """Check ``path`` against the manifest of the bundled models ``folder`` (default :func:`models_dir`) when it is
    one of the files that manifest lists; anything else (a user's model, a missing file, left to the loader to
    name) passes untouched. Raises :class:`SerappError` when a listed file's size or SHA-256 differs."""
    path = Path(path)
    if folder is None:
        try:
            folder = models_dir()
        except SerappError:
            return  # no bundled models installed, so this file is not one of them
    if not path.is_file() or path.resolve().parent != folder.resolve():
        return
    entry = next((m for m in read_manifest(folder)["models"] if m["file"] == path.name), None)
    if entry is None:
        return
    problem = mismatch(path, entry)
    if problem:
        raise SerappError(f"The bundled model {path} is not the file serapp shipped ({problem}): the installation "
                          "is damaged; reinstall serapp. (In a checkout, after replacing the model on purpose, "
                          "record it with `serapp-train manifest`.)")
