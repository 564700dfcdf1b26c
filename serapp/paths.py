"""Where things are: bundled assets, the default model, and the corpora (one setting: SERAPP_CORPORA)."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
ASSETS_DIR = REPO_ROOT / "assets"
MODELS_DIR = ASSETS_DIR / "models"
DEFAULT_MODEL_NAME = "serapp-default.onnx"

CORPORA_ENV_VAR = "SERAPP_CORPORA"


def corpora_root() -> Path:
    """The corpora folder: ``$SERAPP_CORPORA`` if set, else ``../shared/corpora`` beside the checkout."""
    value = os.environ.get(CORPORA_ENV_VAR)
    return Path(value).expanduser() if value else REPO_ROOT.parent / "shared" / "corpora"


def default_model_path() -> Path:
    """The bundled model that the app and `serapp analyze` load when no ``--model`` is given."""
    return MODELS_DIR / DEFAULT_MODEL_NAME
