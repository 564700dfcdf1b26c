"""A file fed into the live pipeline, at real-time pace (demos, tests, the GUI's --input) or as fast as possible."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from serapp.engine import audio
from serapp.engine.source import Chunk, RingSource
from serapp.engine.state import RunState
from serapp.errors import SerappError
from serapp.textsafe import encodable

# Decoding block: bounded memory whatever the file's length.
_BLOCK_S = 2.0


class FileSource(RingSource):
    """Streams ``path`` (decoded and resampled to ``sample_rate`` Hz) into the pipeline.

    ``realtime=True``: each :meth:`poll` returns the audio due since the last one at wall-clock pace, the
    clock starting at the first poll (a reader that starts late, e.g. after warming up, gets no burst);
    ``realtime=False``: each poll returns the next ``chunk_s`` seconds at once. With ``loop`` the file
    restarts at its end; otherwise the source becomes ``finished``. A decoding error mid-file becomes the
    ``error`` state, as does a file that ends before its header's frame count (cut while it is read). Raises
    :class:`SerappError` at construction for an unreadable, empty or non-regular file (a named pipe is refused
    before it is opened).
    """

    def __init__(self, path: str | Path, sample_rate: int = 16000, realtime: bool = True, chunk_s: float = 0.25,
                 loop: bool = False) -> None:
        self.path = Path(path)
        self.info = audio.probe(self.path)
        if self.info.frames == 0:
            raise SerappError(f"{self.path}: the file holds no audio samples.")
        # The name is shown (status bar, messages): bytes of a name that is not UTF-8 are shown as \xNN.
        super().__init__(encodable(self.path.name), sample_rate, _BLOCK_S + 2 * chunk_s + 1.0, realtime=realtime)
        self.chunk = max(1, round(chunk_s * self.sample_rate))
        self.loop = loop
        self._blocks: Iterator[np.ndarray] | None = None
        self._pending = np.zeros(0, dtype=np.float32)
        self._t0: float | None = None
        self._delivered = 0

    @property
    def duration_s(self) -> float:
        return self.info.duration_s

    def start(self) -> None:
        """(Re)start from the beginning of the file."""
        self._reset_reading()
        self._blocks = audio.stream(self.path, self.sample_rate, _BLOCK_S)
        self._pending = np.zeros(0, dtype=np.float32)
        self._delivered = 0
        self._t0 = None
        self._state = RunState.RUNNING

    def stop(self) -> None:
        self._blocks = None
        if self._state == RunState.RUNNING:
            self._state = RunState.STOPPED

    def _take(self, n: int) -> np.ndarray:
        """Up to ``n`` next samples, decoding blocks as needed; fewer at the end of the file."""
        parts, have = [], 0
        while have < n and self._blocks is not None:
            if self._pending.size == 0:
                block = next(self._blocks, None)
                if block is None:
                    if not self.loop:
                        self._blocks = None
                        break
                    self._blocks = audio.stream(self.path, self.sample_rate, _BLOCK_S)
                    continue
                self._pending = block
            part, self._pending = self._pending[: n - have], self._pending[n - have:]
            parts.append(part)
            have += part.size
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def poll(self) -> Chunk:
        """The samples due now (real-time) or the next chunk (fast); empty once finished."""
        if self._state != RunState.RUNNING:
            return Chunk(np.zeros(0, dtype=np.float32), self.last_arrival)
        if self._t0 is None:
            self._t0 = time.monotonic()
        due = round((time.monotonic() - self._t0) * self.sample_rate) - self._delivered if self.realtime \
            else self.chunk
        if due > 0:
            try:
                y = self._take(min(due, self.ring.capacity))
            except SerappError as exc:
                self.fail(str(exc))
                y = np.zeros(0, dtype=np.float32)
            self.ring.write(y)
            self._delivered += due if self.realtime else y.size
            self.last_arrival = time.monotonic()
            if self._blocks is None and self._pending.size == 0 and self._state == RunState.RUNNING:
                self._state = RunState.FINISHED
        return super().poll()
