"""Sliding analysis windows over a stream: the last ``window`` samples, reported at every ``hop`` boundary.

Used by both the live analyzer and whole-file analysis, so the two cut exactly the same windows.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from serapp.engine.ringbuffer import RingBuffer
from serapp.errors import SerappError


class Windower:
    """Feeds a mono stream into a ring of ``window`` samples and yields at each multiple of ``hop`` samples.

    A window before ``window`` samples have arrived holds only what has arrived (shorter).
    """

    def __init__(self, window: int, hop: int) -> None:
        if window < 1 or hop < 1:
            raise SerappError(f"Window and hop must be at least one sample, got {window} and {hop}.")
        self.window = window
        self.hop = hop
        self.ring = RingBuffer(window)
        self._next = hop

    @property
    def total(self) -> int:
        """Samples fed so far."""
        return self.ring.written

    def feed(self, y: np.ndarray) -> Iterator[int]:
        """Append ``y``; yields the stream position (samples) of each hop boundary crossed.

        While the caller handles a yielded position, :meth:`current` is the window ending exactly there.
        """
        i, n = 0, y.shape[0]
        while i < n:
            take = min(n - i, self._next - self.ring.written)
            self.ring.write(y[i:i + take])
            i += take
            if self.ring.written == self._next:
                self._next += self.hop
                yield self.ring.written

    def has_tail(self) -> bool:
        """Whether audio arrived after the last boundary (the end of a stream then deserves a last window)."""
        return self.ring.written > self._next - self.hop

    def current(self) -> np.ndarray:
        """Copy of the window ending at the newest sample, float32 ``(min(window, total),)``."""
        return self.ring.latest(min(self.window, self.ring.written)).copy()

    def reset(self) -> None:
        self.ring.clear()
        self._next = self.hop
