"""JSON records on disk: written indented with sorted keys, atomically; read with an error naming the file.

Lists of numbers (a confusion matrix's rows, a learning curve) and small dicts of numbers (a class's figures) are
written on one line each, and long lists of short rows (a replay's per-utterance counts, pairs by the thousand)
several rows to a line: one number, or one pair, per line made records several times longer (the repository keeps
them, issue 30's bound).

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

SHORT_ROW = 4  # a list of more than this many rows of at most this many numbers is packed several rows to a line
LINE_WIDTH = 118  # characters per packed line, indentation included (the repository's line length)
# A dict of numbers (a class's precision, recall, F1 and support) whose one-line form, indented, is at most this
# long is written on one line: a line's width less room for a short key.
SHORT_DICT_WIDTH = LINE_WIDTH - 12


def write_json(path: Path, value: Any) -> Path:
    """Write ``value`` as indented, key-sorted JSON plus a newline, atomically (numpy scalars and arrays allowed),
    lists of numbers on one line; returns the path written."""
    return write_text(path, dumps(value) + "\n")


def dumps(value: Any, indent: int = 2) -> str:
    """``value`` as :func:`write_json` lays it out: indented by ``indent``, keys sorted, a list of numbers (or
    None, true, false) on one line, a long list of short such rows packed (:data:`SHORT_ROW`). The same JSON values
    as ``json.dumps``."""
    return _dumps(json.loads(json.dumps(value, default=_json_default)), indent, 0)


def _dumps(value: Any, indent: int, depth: int) -> str:
    pad, inner = " " * (indent * depth), " " * (indent * (depth + 1))
    if isinstance(value, dict) and value and _flat(list(value.values())):
        line = json.dumps(value, sort_keys=True)
        if len(pad) + len(line) <= SHORT_DICT_WIDTH:
            return line
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(k)}: {_dumps(value[k], indent, depth + 1)}" for k in sorted(value)]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list) and value and not _flat(value):
        if len(value) > SHORT_ROW and all(isinstance(v, list) and len(v) <= SHORT_ROW and _flat(v) for v in value):
            return "[\n" + ",\n".join(inner + line for line in _packed([json.dumps(v) for v in value],
                                                                         LINE_WIDTH - len(inner))) + "\n" + pad + "]"
        return "[\n" + ",\n".join(inner + _dumps(v, indent, depth + 1) for v in value) + "\n" + pad + "]"
    return json.dumps(value)


def _flat(values: list[Any]) -> bool:
    """Whether a list holds only numbers, None, true or false (written on one line)."""
    return all(v is None or isinstance(v, bool | int | float) for v in values)


def _packed(items: list[str], width: int) -> list[str]:
    """``items`` joined by ", " into lines of at most ``width`` characters (an item longer than that alone)."""
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + len(item) + 3 <= width:  # ", " and the line's closing ","
            lines[-1] += ", " + item
        else:
            lines.append(item)
    return lines


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
