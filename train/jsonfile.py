"""JSON records on disk: written indented with sorted keys, atomically; read with an error naming the file.

The trainer's one way to write a JSON file (run folders through :class:`serapp_train.runfolder.RunFolder`, reports
such as ``crossval.json`` directly), so every record has the same layout and no reader ever sees half a file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from serapp.atomic import write_text
from serapp.errors import SerappError


def write_json(path: Path, value: Any) -> Path:
    """Write ``value`` as indented, key-sorted JSON plus a newline, atomically (numpy scalars and arrays allowed);
    returns the path written."""
    return write_text(path, json.dumps(value, indent=2, sort_keys=True, default=_json_default) + "\n")


def read_json(path: Path, what: str = "run file") -> Any:
    """The parsed JSON file at ``path``; :class:`SerappError` naming it (as ``what``) when it cannot be read."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: bad JSON or bad UTF-8
        raise SerappError(f"{path}: cannot read the {what} ({exc}).") from exc


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
