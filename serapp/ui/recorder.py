"""Optional recording of the live input to a WAV or FLAC file in a folder the user picks (no Qt).

The analyzer's worker hands each polled chunk to :meth:`LiveRecorder.write`, which only queues it; a thread of
the recorder writes the file through :func:`serapp.atomic.replacing`, so the recording appears under its name
only when whole. A write that fails mid-way (a full disk) stops the recording and keeps what was written.
"""

from __future__ import annotations

import datetime
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from serapp import atomic
from serapp.engine.source import Chunk
from serapp.errors import SerappError

RECORD_FORMATS = {"flac": ("FLAC", "FLAC (lossless, about half the size)"), "wav": ("WAV", "WAV")}
QUEUE_CHUNKS = 2000  # ~40 s of 20 ms chunks waiting for the disk before audio is dropped from the recording


def recording_path(folder: Path, fmt: str, now: datetime.datetime) -> Path:
    """A new file name in ``folder``: ``serapp-live-YYYYMMDD-HHMMSS.<fmt>`` (``-2``, ``-3``… if taken)."""
    stem = f"serapp-live-{now:%Y%m%d-%H%M%S}"
    path, n = folder / f"{stem}.{fmt}", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.{fmt}"
    return path


class LiveRecorder:
    """Writes one run of live audio (mono float32 chunks at ``sample_rate`` Hz) to a new file in ``folder``,
    16-bit, in ``fmt`` (``"flac"`` or ``"wav"``). :attr:`error` holds a plain reason once something failed."""

    def __init__(self, folder: str | Path, fmt: str, sample_rate: int,
                 now: Callable[[], datetime.datetime] = datetime.datetime.now) -> None:
        if fmt not in RECORD_FORMATS:
            raise SerappError(f"Recording format must be one of {', '.join(RECORD_FORMATS)}, got {fmt!r}.")
        self.folder = Path(folder)
        self.fmt = fmt
        self.sample_rate = int(sample_rate)
        self.path = recording_path(self.folder, fmt, now())
        self.error = ""
        self.written = 0  # samples in the file
        self.dropped = 0  # samples that could not be queued (the disk fell ~40 s behind)
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=QUEUE_CHUNKS)
        self._thread = threading.Thread(target=self._run, name="serapp-recorder", daemon=True)
        self._thread.start()

    def write(self, samples: np.ndarray) -> None:
        """Queue ``samples`` for the file (any thread; never blocks)."""
        if self.error or not len(samples):
            return
        try:
            self._queue.put_nowait(np.array(samples, dtype=np.float32))
        except queue.Full:
            self.dropped += len(samples)

    def close(self, timeout_s: float = 5.0) -> str:
        """Finish the file (it appears under :attr:`path` now); returns :attr:`error` ("" when all went well)."""
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            self.error = self.error or f"The recording {self.path.name} could not keep up with the input."
        self._thread.join(timeout_s)
        return self.error

    @property
    def seconds(self) -> float:
        return self.written / self.sample_rate

    def _run(self) -> None:
        import soundfile as sf

        try:
            with atomic.replacing(self.path) as tmp, sf.SoundFile(tmp, "w", self.sample_rate, 1,
                                                                  subtype="PCM_16",
                                                                  format=RECORD_FORMATS[self.fmt][0]) as f:
                while (block := self._queue.get()) is not None:
                    if self.error:
                        continue  # drain the queue: the file keeps what was written before the failure
                    try:
                        f.write(np.clip(block, -1.0, 1.0))
                        self.written += len(block)
                    except (OSError, RuntimeError) as exc:
                        self.error = f"Recording stopped: {self.path} could not be written ({exc})."
        except SerappError as exc:
            self.error = f"Cannot record: {exc}"
        except (OSError, RuntimeError) as exc:  # libsndfile cannot create the file (read-only folder)
            self.error = f"Cannot record to {self.folder}: {exc}"
        finally:
            while True:  # a failed open leaves chunks (and maybe the close marker) queued: let writers go on
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break


class RecordingTee:
    """An audio source that also hands every chunk the analyzer polls to a :class:`LiveRecorder`; everything
    else is the wrapped source's (see :class:`serapp.engine.source.AudioSource`)."""

    def __init__(self, source: Any, recorder: LiveRecorder) -> None:
        self._source = source
        self.recorder = recorder

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)

    def poll(self) -> Chunk:
        chunk = self._source.poll()
        self.recorder.write(chunk.samples)
        return chunk
