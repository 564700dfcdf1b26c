"""What every audio source (microphone, file) offers the analyzer: a small shared protocol and base class.

A source fills a :class:`RingBuffer` at its own native rate; the analyzer worker polls it for new samples
(resampling to the model's rate happens in the worker, off the audio thread). Failures mid-run become an
``error`` state with a plain message; :meth:`AudioSource.restart` retries.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from serapp.engine.ringbuffer import RingBuffer
from serapp.engine.state import Lifecycle, RunState


@dataclass(frozen=True)
class Chunk:
    """New mono float32 samples at the source's native rate, and when the last of them arrived.

    ``arrival``: ``time.monotonic()`` seconds; ``lost``: samples dropped because the reader fell behind.
    """

    samples: np.ndarray
    arrival: float
    lost: int = 0


@runtime_checkable
class AudioSource(Protocol):
    """The protocol the analyzer (and a GUI switching microphone / file) relies on."""

    label: str
    sample_rate: int
    realtime: bool

    @property
    def state(self) -> RunState: ...

    @property
    def error(self) -> str | None: ...

    @property
    def overflows(self) -> int: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def restart(self) -> None: ...

    def poll(self) -> Chunk: ...

    def check(self) -> None: ...


class RingSource(Lifecycle):
    """Shared bookkeeping of sources that write a :class:`RingBuffer`: state, error, overflows, reading."""

    def __init__(self, label: str, sample_rate: int, capacity_s: float, realtime: bool = True) -> None:
        self.label = label
        self.sample_rate = int(sample_rate)
        self.realtime = realtime
        self.ring = RingBuffer(max(1, round(capacity_s * self.sample_rate)))
        self._state = RunState.STOPPED
        self._error: str | None = None
        self._overflows = 0
        self._read_total = 0
        self.last_arrival = time.monotonic()

    @property
    def overflows(self) -> int:
        """Input overflows the device reported (audio lost before it reached the ring)."""
        return self._overflows

    def fail(self, message: str) -> None:
        """Enter the error state with a plain ``message`` (any thread)."""
        self._error = message
        self._state = RunState.ERROR

    def _reset_reading(self) -> None:
        self.ring.clear()
        self._read_total = 0
        self._error = None
        self.last_arrival = time.monotonic()

    def poll(self) -> Chunk:
        """Copy of the samples written since the last poll (empty when none)."""
        view, self._read_total, lost = self.ring.since(self._read_total)
        return Chunk(view.copy(), self.last_arrival, lost)

    def check(self) -> None:
        """Look for a failure the source cannot report itself (a stalled device); sets the error state."""

    def restart(self) -> None:
        """Stop, then start afresh (for a front end's "retry" after an error)."""
        self.stop()  # type: ignore[attr-defined]
        self.start()  # type: ignore[attr-defined]
