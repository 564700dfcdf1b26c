"""`serapp listen`'s terminal output: one status line rewritten in place, and messages on lines of their own.

On a terminal the status line is cut to the terminal's width (a line that wraps scrolls a new cut line on every
update) and every message — ours, and what C libraries such as PortAudio/ALSA print on the process's stderr —
first wipes the status line, takes a line of its own, and the status line is drawn again under it. Elsewhere
(a pipe, a file) each update is a line of its own and nothing is cut.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import threading
from collections.abc import Iterator
from typing import TextIO

WIPE = "\r\033[K"  # back to the line's start, erase to its end


def fit(text: str, columns: int) -> str:
    """``text`` cut to at most ``columns - 1`` characters (the last column would make some terminals wrap)."""
    limit = max(1, columns - 1)
    return text if len(text) <= limit else text[:limit - 1] + "…"


class StatusLine:
    """The status line and the messages around it. ``out``: where updates go; ``err``: where messages go;
    ``tty``: rewrite one line in place (a terminal) or print a line per update; ``columns``: the width to fit
    (``None``: the terminal's, asked at each update, so a resized window is followed)."""

    def __init__(self, out: TextIO, err: TextIO, tty: bool, columns: int | None = None) -> None:
        self.out, self.err, self.tty, self.columns = out, err, tty, columns
        self._shown = ""  # the status line on screen now ("" when none)
        self._lock = threading.Lock()  # messages also come from the stderr-forwarding thread

    def _width(self) -> int:
        return self.columns or shutil.get_terminal_size((80, 24)).columns

    def show(self, text: str) -> None:
        """Replace the status line with ``text`` (a new line when not on a terminal)."""
        with self._lock:
            if not self.tty:
                self.out.write(text + "\n")
                self.out.flush()
                return
            self._shown = fit(text, self._width())
            self.out.write(WIPE + self._shown)
            self.out.flush()

    def say(self, message: str) -> None:
        """``message`` on a line of its own on ``err``; the status line is drawn again below it."""
        with self._lock:
            if self.tty and self._shown:
                self.out.write(WIPE)
                self.out.flush()
            self.err.write(message.rstrip("\n") + "\n")
            self.err.flush()
            if self.tty and self._shown:
                self.out.write(self._shown)
                self.out.flush()

    def close(self) -> None:
        """End the status line (the next output starts on a fresh line)."""
        with self._lock:
            if self.tty and self._shown:
                self.out.write("\n")
                self.out.flush()
            self._shown = ""


@contextlib.contextmanager
def stderr_through(line: StatusLine) -> Iterator[StatusLine]:
    """While inside, whatever is written to file descriptor 2 (PortAudio, ALSA, Python warnings) reaches the real
    stderr through ``line.say``, a line at a time, so it is never glued onto the status line. Yields a
    :class:`StatusLine` like ``line`` whose messages go to the real stderr."""
    sys.stderr.flush()
    saved = os.dup(2)
    read_fd, write_fd = os.pipe()
    real_err = os.fdopen(saved, "w", encoding=sys.stderr.encoding or "utf-8", errors="replace", closefd=True)
    line.err = real_err
    os.dup2(write_fd, 2)
    os.close(write_fd)

    def forward() -> None:
        with os.fdopen(read_fd, "rb") as pipe:
            for raw in pipe:  # ends when the last writer (fd 2) is restored below
                line.say(raw.decode(errors="replace").rstrip("\r\n"))

    thread = threading.Thread(target=forward, name="serapp-stderr", daemon=True)
    thread.start()
    try:
        yield line
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's writing end closes with this: the forwarder reads to its end and stops
        thread.join(2.0)
        real_err.flush()
        real_err.close()
