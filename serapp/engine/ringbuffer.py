"""A preallocated single-writer ring buffer whose latest N rows are one contiguous view: the one ring of the app
(a source's audio samples, the live spectrogram's columns, the live timeline's results).

A row is one sample (``row_shape=()``, the default: float32 audio) or an array of ``row_shape`` (a spectrogram
column of ``n_bins`` levels, a result's ``n_labels`` probabilities). The storage is mirrored (every row is written
twice, ``capacity`` apart), so any span of up to ``capacity`` most recent rows is a plain slice: no wrap-around
copy, no allocation on either side. The writer (the audio callback, the GUI thread) only copies; the reader copies
what it needs out of the views.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from serapp.errors import SerappError


class RingBuffer:
    """Ring of ``capacity`` rows of shape ``row_shape`` and type ``dtype`` (default: mono float32 samples). One
    writer thread, one reader thread, no lock.

    ``written`` counts every row ever written; it is updated after the data, so a reader that sees
    ``written == w`` can read rows up to ``w``. A reader that falls more than ``capacity`` behind loses
    the oldest rows (reported by :meth:`since`).
    """

    def __init__(self, capacity: int, row_shape: tuple[int, ...] = (), dtype: npt.DTypeLike = np.float32) -> None:
        if capacity < 1:
            raise SerappError(f"Ring buffer capacity must be at least 1 sample, got {capacity}.")
        self.capacity = int(capacity)
        self.row_shape = tuple(row_shape)
        self._buf = np.zeros((2 * self.capacity, *self.row_shape), dtype=dtype)
        self.written = 0

    def __len__(self) -> int:
        """Rows held now: the newest ``min(written, capacity)``."""
        return min(self.written, self.capacity)

    def write(self, x: np.ndarray) -> None:
        """Append rows ``x`` ``(m, *row_shape)`` (for samples: 1-D; any dtype castable to the ring's; copied,
        never kept). Allocates nothing."""
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
        """View of the ``n`` rows ending at ``written`` (default: now). Shape ``(n, *row_shape)``,
        ``n <= capacity``.

        The view aliases the buffer: copy it if the writer may run meanwhile.
        """
        if not 0 <= n <= self.capacity:
            raise SerappError(f"Cannot view {n} samples of a {self.capacity}-sample ring buffer.")
        w = self.written if written is None else written
        q = w % self.capacity + self.capacity
        return self._buf[q - n:q]

    def since(self, total: int) -> tuple[np.ndarray, int, int]:
        """Rows written after the first ``total``: ``(view, new_total, lost)``.

        ``lost`` counts rows overwritten before they could be read (the reader fell behind).
        """
        w = self.written
        n = w - total
        lost = max(0, n - self.capacity)
        return self.latest(n - lost, w), w, lost

    def clear(self) -> None:
        """Forget the content (zeros) and reset the sample count. Only while no writer runs."""
        self._buf.fill(0)
        self.written = 0
