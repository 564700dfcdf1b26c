"""A preallocated single-writer ring buffer of float32 samples whose latest N samples are one contiguous view.

The storage is mirrored (every sample is written twice, ``capacity`` apart), so any span of up to
``capacity`` most recent samples is a plain slice: no wrap-around copy, no allocation on either side.
The writer (the audio callback) only copies; the reader copies what it needs out of the views.
"""

from __future__ import annotations

import numpy as np

from serapp.errors import SerappError


class RingBuffer:
    """Mono float32 ring of ``capacity`` samples. One writer thread, one reader thread, no lock.

    ``written`` counts every sample ever written; it is updated after the data, so a reader that sees
    ``written == w`` can read samples up to ``w``. A reader that falls more than ``capacity`` behind loses
    the oldest samples (reported by :meth:`since`).
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise SerappError(f"Ring buffer capacity must be at least 1 sample, got {capacity}.")
        self.capacity = int(capacity)
        self._buf = np.zeros(2 * self.capacity, dtype=np.float32)
        self.written = 0

    def write(self, x: np.ndarray) -> None:
        """Append 1-D samples ``x`` (any float dtype; copied, never kept). Allocates nothing."""
        c = self.capacity
        m = x.shape[0]
        if m > c:  # only the newest capacity samples can be kept
            self.written += m - c
            x = x[m - c:]
            m = c
        p = self.written % c
        end = p + m
        buf = self._buf
        buf[p:end] = x
        if end <= c:
            buf[p + c:end + c] = x
        else:
            k = c - p
            buf[p + c:] = x[:k]
            buf[:end - c] = x[k:]
        self.written += m

    def latest(self, n: int, written: int | None = None) -> np.ndarray:
        """View of the ``n`` samples ending at ``written`` (default: now). Shape ``(n,)``, ``n <= capacity``.

        The view aliases the buffer: copy it if the writer may run meanwhile.
        """
        if not 0 <= n <= self.capacity:
            raise SerappError(f"Cannot view {n} samples of a {self.capacity}-sample ring buffer.")
        w = self.written if written is None else written
        q = w % self.capacity + self.capacity
        return self._buf[q - n:q]

    def since(self, total: int) -> tuple[np.ndarray, int, int]:
        """Samples written after the first ``total``: ``(view, new_total, lost)``.

        ``lost`` counts samples overwritten before they could be read (the reader fell behind).
        """
        w = self.written
        n = w - total
        lost = max(0, n - self.capacity)
        return self.latest(n - lost, w), w, lost

    def clear(self) -> None:
        """Forget the content (zeros) and reset the sample count. Only while no writer runs."""
        self._buf.fill(0.0)
        self.written = 0
