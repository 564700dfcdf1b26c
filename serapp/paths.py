"""Where things are: the corpora (one setting: SERAPP_CORPORA) and the default model (bundled package data, located
by :mod:`serapp.bundle`; the runtime reads nothing else from the source tree)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from serapp.bundle import DEFAULT_MODEL_NAME as DEFAULT_MODEL_NAME
from serapp.bundle import default_model_path as default_model_path

PACKAGE_DIR = Path(__file__).resolve().parent
# Only for the corpora's documented default beside a checkout (and the trainer's run folders).
REPO_ROOT = PACKAGE_DIR.parent

CORPORA_ENV_VAR = "SERAPP_CORPORA"


def corpora_root() -> Path:
    """The corpora folder: ``$SERAPP_CORPORA`` if set, else ``../shared/corpora`` beside the checkout."""
    value = os.environ.get(CORPORA_ENV_VAR)
    return Path(value).expanduser() if value else REPO_ROOT.parent / "shared" / "corpora"


_KINDS = ((stat.S_ISDIR, "is a folder"), (stat.S_ISFIFO, "is a named pipe"), (stat.S_ISCHR, "is a device"),
          (stat.S_ISBLK, "is a device"), (stat.S_ISSOCK, "is a socket"), (stat.S_ISLNK, "is a symbolic link"))


def not_regular(mode: int) -> str:
    """What a file of ``st_mode`` ``mode`` is when it is not a regular file, in words ("is a named pipe"); ""
    for a regular file. Audio, models and export targets must be regular files: reading a pipe or a device
    blocks or never ends, and replacing one by rename breaks the system."""
    if stat.S_ISREG(mode):
        return ""
    return next((what for test, what in _KINDS if test(mode)), "is not a regular file")
