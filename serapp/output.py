"""Writing a command's result to standard output: whole or not at all, and always valid JSON.

A result (`serapp analyze --json/--csv`, `serapp bench --json`) is written in one go straight to the descriptor.
When the write fails part-way (a full disk, a file-size limit, ``/dev/full``), what was written is cut off again
when stdout is a regular file, so no half JSON is left behind, and the failure is a :class:`SerappError` with the
system's reason. A reader that went away (``| head``) raises :class:`BrokenPipeError`, which the CLI ends quietly
(serapp/cli.py).
"""

from __future__ import annotations

import io
import json
import math
import os
import stat
import sys
from typing import Any

from serapp.errors import SerappError


def finite_or_null(value: Any) -> Any:
    """``value`` with every NaN or infinity (a figure that could not be measured) replaced by ``None``: JSON has
    no NaN, and a reader such as ``jq`` or JavaScript refuses it."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_null(v) for v in value]
    return value


def json_text(value: Any, **kwargs: Any) -> str:
    """Strict JSON for ``value`` (non-finite numbers become ``null``; ``json.dumps`` options pass through)."""
    return json.dumps(finite_or_null(value), allow_nan=False, **kwargs)


def _descriptor() -> int | None:
    try:
        return sys.stdout.fileno()
    except (AttributeError, ValueError, io.UnsupportedOperation):  # replaced by a test or an embedding program
        return None


def write_stdout(text: str) -> None:
    """Write ``text`` to standard output whole, or raise :class:`SerappError` leaving no partial result in a
    regular file. Characters that cannot be encoded (bytes of a file name that is not UTF-8, kept by Python as
    surrogates) are written as the original bytes."""
    sys.stdout.flush()
    fd = _descriptor()
    if fd is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    data = text.encode(sys.stdout.encoding or "utf-8", errors="surrogateescape")
    start = _position(fd)
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view):]
    except BrokenPipeError:
        raise
    except OSError as exc:
        undone = start is not None and _cut(fd, start)
        raise SerappError(f"cannot write the result to standard output ({exc.strerror or exc}); "
                          f"{'nothing was kept' if undone else 'the output may be incomplete'}.") from exc


def _position(fd: int) -> int | None:
    """Where the result starts in stdout when it is a regular file (its end when opened for appending)."""
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        return st.st_size if _appending(fd) else os.lseek(fd, 0, os.SEEK_CUR)
    except OSError:
        return None


def _appending(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows: no O_APPEND to ask about
        return False
    return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND)


def _cut(fd: int, start: int) -> bool:
    """Cut the regular file behind ``fd`` back to ``start`` bytes; whether that worked."""
    try:
        os.ftruncate(fd, start)
        os.lseek(fd, start, os.SEEK_SET)
    except OSError:
        return False
    return True
