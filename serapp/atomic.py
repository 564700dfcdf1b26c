"""Atomic file writes: a temp file in the target's folder, then a rename. Nothing is ever left half-written,
and a failed write leaves the previous file as it was.

Only regular files are replaced. A target that is a device, a named pipe, a socket or a folder is refused (as
root, a rename would put a file in place of ``/dev/full``). A target that is a symbolic link is refused too,
unless the caller passes ``follow_symlinks=True``: then the file the link points to is replaced and the link is
kept. Exports refuse links, so a link planted where a user saves cannot redirect the write (docs/app.md).
"""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from serapp.errors import SerappError
from serapp.paths import not_regular
from serapp.textsafe import shown_path

# The longest file name most file systems take (bytes); used when the folder cannot be asked.
_NAME_MAX = 255
# A suffix longer than this (bytes) is part of the name, not a file type a writer looks at.
_MAX_SUFFIX = 16


def _cannot(target: Path, exc: OSError) -> SerappError:
    return SerappError(f"Cannot write {shown_path(target)}: {exc.strerror or exc}. Choose another folder or name.")


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows) or the folder does not exist yet
        return _NAME_MAX


def temp_name(target: Path, token: str, name_max: int = _NAME_MAX) -> str:
    """A hidden temp name beside ``target``: ``.<stem>.<token>.tmp<suffix>``, the stem shortened so the whole name
    fits in ``name_max`` bytes (any name that fits, fits its temp name too). The suffix is kept for writers that
    pick the format from it (savefig, model.save)."""
    suffix = target.suffix if len(os.fsencode(target.suffix)) <= _MAX_SUFFIX else ""
    stem = target.name[: len(target.name) - len(suffix)] if suffix else target.name
    name = f".{stem}.{token}.tmp{suffix}"
    while len(os.fsencode(name)) > name_max and stem:
        stem = stem[: max(0, len(stem) - max(1, len(os.fsencode(name)) - name_max))]
        name = f".{stem}.{token}.tmp{suffix}"
    return name


def check_target(target: Path, *, follow_symlinks: bool = False) -> Path:
    """The file a write to ``target`` replaces: ``target`` itself, or with ``follow_symlinks`` the file its link
    points to. Raises :class:`SerappError` for a target that exists and is not a regular file, and for a link
    when ``follow_symlinks`` is false."""
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return target
    except OSError as exc:
        raise _cannot(target, exc) from exc
    if stat.S_ISLNK(st.st_mode):
        if not follow_symlinks:
            raise SerappError(f"Cannot write {shown_path(target)}: it is a symbolic link (to "
                              f"{shown_path(os.readlink(target))}); serapp does not write through links. Choose "
                              "the file itself or another name.")
        resolved = Path(os.path.realpath(target))
        return check_target(resolved) if resolved != target else target
    what = not_regular(st.st_mode)
    if what:
        raise SerappError(f"Cannot write {shown_path(target)}: it {what}, not a regular file. Choose another name.")
    return target


@contextmanager
def replacing(path: str | Path, *, follow_symlinks: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for a writer that needs a file name (savefig, model.save);
    rename it over ``path`` when the block succeeds, remove it when the block raises.

    Raises :class:`SerappError` naming the place when the folder cannot be written, and when ``path`` is not a
    regular file (see the module's docstring for links).
    """
    target = check_target(Path(path), follow_symlinks=follow_symlinks)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _cannot(target, exc) from exc
    # A unique name in the same folder (so the rename is atomic); created by the writer, so the file gets the
    # user's usual permissions rather than mkstemp's owner-only ones.
    tmp = target.with_name(temp_name(target, uuid.uuid4().hex[:12], _name_max(target.parent)))
    try:
        yield tmp
        check_target(target)  # still not a device, pipe or link (it may have changed while the writer ran)
        os.replace(tmp, target)
    except OSError as exc:
        raise _cannot(target, exc) from exc
    finally:
        # The writer may never have created the temp file (a read-only folder); nothing to remove then, and a
        # failing clean-up must not hide the reason the write failed.
        with suppress(OSError):
            tmp.unlink(missing_ok=True)


def write_bytes(path: str | Path, data: bytes, *, follow_symlinks: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (flushed to disk before the rename)."""
    target = Path(path)
    with replacing(target, follow_symlinks=follow_symlinks) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return target


def write_text(path: str | Path, text: str, *, follow_symlinks: bool = False) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"), follow_symlinks=follow_symlinks)
