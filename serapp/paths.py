"""Where things are: bundled assets, the default model, and the corpora (one setting: SERAPP_CORPORA)."""

from __future__ import annotations

import os
import stat
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


_KINDS = ((stat.S_ISDIR, "is a folder"), (stat.S_ISFIFO, "is a named pipe"), (stat.S_ISCHR, "is a device"),
          (stat.S_ISBLK, "is a device"), (stat.S_ISSOCK, "is a socket"), (stat.S_ISLNK, "is a symbolic link"))


def not_regular(mode: int) -> str:
    """What a file of ``st_mode`` ``mode`` is when it is not a regular file, in words ("is a named pipe"); ""
    for a regular file. Audio, models and export targets must be regular files: reading a pipe or a device
    blocks or never ends, and replacing one by rename breaks the system."""
    if stat.S_ISREG(mode):
        return ""
    return next((what for test, what in _KINDS if test(mode)), "is not a regular file")
