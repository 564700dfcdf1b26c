"""Markdown tables rendered from run records: one helper for the layout, one row builder per record kind.

Figures in documents come from records through these functions, never typed (``serapp-train table``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from serapp.errors import SerappError

PRODUCT_HEADER: tuple[str, ...] = ("model", "fixed-crop UA", "file-analysis UA", "live: speech updates right",
                                   "switches per utterance", "late-pause speech")


def markdown(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; the first column left-aligned, the others right-aligned (figures)."""
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def pct(value: float) -> str:
    """``0.6131`` -> ``"61.3%"``."""
    return f"{100 * value:.1f}%"


def product_row(name: str, record: dict[str, Any]) -> list[str]:
    """One :data:`PRODUCT_HEADER` row from an ``evaluate --product`` ``metrics.json``."""
    try:
        pp = record["product_path"]
        replay = pp["replay"]
        return [name, pct(pp["fixed_crop_ua"]), pct(pp["file_analysis_ua"]), pct(replay["speech_right"]),
                f"{replay['switches_per_utterance']:.2f}", pct(replay["late_pause_speech"])]
    except (KeyError, TypeError) as exc:
        raise SerappError(f"{name}: not an `evaluate --product` record (no {exc}).") from exc
