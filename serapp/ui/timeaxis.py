"""Time axes that read like a clock (m:ss, h:mm:ss) instead of SI-prefixed seconds ("Time (ks)").

Every time axis of the window is a :class:`TimeAxisItem`: ticks fall on steps a person counts in (1, 5, 15,
30 s, 1, 5, 15 min…), labels are ``m:ss`` (``h:mm:ss`` from an hour, tenths when ticks are under a second apart).
"""

from __future__ import annotations

import math

import pyqtgraph as pg

# Major tick steps (s), smallest first: sub-second decimal steps, then the steps of a clock face.
TICK_STEPS_S: tuple[float, ...] = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0,
                                   900.0, 1800.0, 3600.0, 7200.0, 10800.0, 21600.0, 43200.0, 86400.0)
TIME_LABEL = "Time (m:ss)"  # the caption of every time axis
MIN_TICK_PX = 72.0  # room for one "1:05:30" label and a gap at the usual font sizes


def format_clock(seconds: float, decimals: int = 0) -> str:
    """``seconds`` as ``m:ss`` (``h:mm:ss`` from an hour), with ``decimals`` digits of fractions; negative values
    (the live views' "seconds ago") keep their minus sign. ``format_clock(75.5, 1) == "1:15.5"``."""
    sign = "-" if seconds < 0 and round(abs(seconds), decimals) > 0 else ""
    scale = 10 ** decimals
    ticks = round(abs(seconds) * scale)  # round once, so 59.96 s at 1 decimal reads 1:00.0, never 0:60.0
    whole, frac = divmod(ticks, scale)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    tail = f".{frac:0{decimals}d}" if decimals else ""
    if hours:
        return f"{sign}{hours}:{minutes:02d}:{secs:02d}{tail}"
    return f"{sign}{minutes}:{secs:02d}{tail}"


def decimals_for(spacing_s: float) -> int:
    """Fraction digits needed to tell ticks ``spacing_s`` seconds apart (0 from one second up)."""
    if spacing_s >= 1.0 or spacing_s <= 0:
        return 0
    return min(3, math.ceil(-math.log10(spacing_s) - 1e-9))


def tick_steps(span_s: float, length_px: float, min_tick_px: float = MIN_TICK_PX) -> tuple[float, float]:
    """(major, minor) tick steps in seconds for ``span_s`` seconds drawn over ``length_px`` pixels: the smallest
    step of :data:`TICK_STEPS_S` leaving ``min_tick_px`` between labels, and the next smaller step as minor."""
    if span_s <= 0 or length_px <= 0:
        return TICK_STEPS_S[0], TICK_STEPS_S[0]
    most_ticks = max(1.0, length_px / min_tick_px)
    for i, step in enumerate(TICK_STEPS_S):
        if span_s / step <= most_ticks:
            return step, TICK_STEPS_S[max(0, i - 1)]
    big = TICK_STEPS_S[-1] * math.ceil(span_s / most_ticks / TICK_STEPS_S[-1])  # whole days beyond the table
    return big, TICK_STEPS_S[-1]


class TimeAxisItem(pg.AxisItem):
    """A pyqtgraph axis for seconds, labelled as a clock; used by every time axis of the window."""

    def __init__(self, orientation: str = "bottom", **kwargs: object) -> None:
        super().__init__(orientation, **kwargs)  # type: ignore[arg-type]
        self.enableAutoSIPrefix(False)  # never "Time (ks)": the labels carry their own units

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, float]]:
        major, minor = tick_steps(abs(maxVal - minVal), size)
        return [(major, 0.0), (minor, 0.0)]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        digits = decimals_for(spacing)
        return [format_clock(v * scale, digits) for v in values]
