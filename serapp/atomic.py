"""Atomic file writes: a temp file in the target's folder, then a rename. Nothing is ever left half-written,
and a failed write leaves the previous file as it was."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from serapp.errors import SerappError


def _cannot(target: Path, exc: OSError) -> SerappError:
    return SerappError(f"Cannot write {target}: {exc.strerror or exc}. Choose another folder.")


@contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for a writer that needs a file name (savefig, model.save);
    rename it over ``path`` when the block succeeds, remove it when the block raises.

    Raises :class:`SerappError` naming the place when the folder cannot be written.
    """
    target = Path(path)
    # A unique name in the same folder (so the rename is atomic); created by the writer, so the file gets the
    # user's usual permissions rather than mkstemp's owner-only ones.
    tmp = target.with_name(f".{target.stem}.{uuid.uuid4().hex[:12]}.tmp{target.suffix}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _cannot(target, exc) from exc
    try:
        yield tmp
        os.replace(tmp, target)
    except OSError as exc:
        raise _cannot(target, exc) from exc
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (flushed to disk before the rename)."""
    target = Path(path)
    with replacing(target) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return target


def write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))
