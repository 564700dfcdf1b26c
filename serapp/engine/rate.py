"""Events per second over a recent window: the one rate meter (the analyzer's updates, the window's results and
frames)."""

from __future__ import annotations

import collections
import time


class RateCounter:
    """Events per second over the last ``window_s`` seconds (pure; ``now`` is injectable for tests).

    Keeps at most ``capacity`` event times, so a rate above ``capacity / window_s`` reads as that bound.
    Not locked: one thread ticks; a reader on another thread may miss the newest tick.
    """

    def __init__(self, window_s: float = 2.0, capacity: int = 1024) -> None:
        self.window_s = window_s
        self._times: collections.deque[float] = collections.deque(maxlen=capacity)

    def tick(self, now: float | None = None) -> None:
        self._times.append(time.monotonic() if now is None else now)

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        times = self._times
        while times and times[0] < now - self.window_s:
            times.popleft()
        return len(times) / self.window_s
