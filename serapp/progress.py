"""Progress of long work (file analysis) told to a person: share done, time left; shared by the window and the CLI.

Pure functions plus :class:`ProgressLine`, the CLI's one updating line on a terminal's stderr.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from serapp.errors import SerappError

# An estimate of the time left is shown once this much is done and this long has passed: earlier ones jump about.
ESTIMATE_AFTER_FRACTION = 0.01
ESTIMATE_AFTER_S = 1.0
CLI_DELAY_S = 0.5  # the CLI prints nothing for work done sooner (a short file stays one quiet line of output)
CLI_INTERVAL_S = 0.25  # at most four updates of the line a second


def time_left_s(fraction: float, elapsed_s: float) -> float | None:
    """Seconds left when ``fraction`` (0..1) took ``elapsed_s`` seconds at a steady pace; None while too early."""
    if fraction < ESTIMATE_AFTER_FRACTION or elapsed_s < ESTIMATE_AFTER_S:
        return None
    return max(0.0, elapsed_s * (1.0 - fraction) / fraction)


def format_span(seconds: float) -> str:
    """A duration for a person: "8 s", "2 min 05 s", "1 h 03 min"."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def describe(name: str, fraction: float, left_s: float | None, index: int = 0, count: int = 1) -> str:
    """One line: "Analysing talk.wav (2 of 4) — 45 % · about 20 s left" (``index`` is 0-based)."""
    which = f" ({index + 1} of {count})" if count > 1 else ""
    left = "estimating the time left…" if left_s is None else f"about {format_span(left_s)} left"
    return f"Analysing {name}{which} — {100 * min(1.0, max(0.0, fraction)):.0f} % · {left}"


class ProgressLine:
    """The CLI's progress: one line on ``stream`` (a terminal), rewritten in place, for work that takes a while.

    ``for_file`` gives the ``progress`` callback of :func:`serapp.engine.analysis.analyze_file` (seconds done)
    for one file of a batch; :meth:`clear` wipes the line before other output and at the end.
    """

    def __init__(self, stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic,
                 delay_s: float | None = None, interval_s: float | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.delay_s = CLI_DELAY_S if delay_s is None else delay_s
        self.interval_s = CLI_INTERVAL_S if interval_s is None else interval_s
        self._began = clock()
        self._last = -1.0e9
        self._shown = False

    def for_file(self, path: str | Path, index: int, count: int) -> Callable[[float], None]:
        """The callback for file ``index`` (0-based) of ``count``; its length is probed once, here."""
        from serapp.engine import audio

        try:
            total_s = audio.probe(path).duration_s
        except SerappError:
            total_s = 0.0  # the analysis itself will say what is wrong with the file
        name, started = Path(path).name, self.clock()

        def report(done_s: float) -> None:
            now = self.clock()
            if now - self._began < self.delay_s or now - self._last < self.interval_s:
                return
            self._last = now
            fraction = done_s / total_s if total_s > 0 else 0.0
            self.show(describe(name, fraction, time_left_s(fraction, now - started), index, count))

        return report

    def show(self, line: str) -> None:
        self.stream.write(f"\r{line}\033[K")
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        """Remove the line (before an error message, and when the work is done)."""
        if self._shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._shown = False
