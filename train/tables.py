"""Markdown tables rendered from run records: one helper for the layout, one row builder per record kind.

Figures in documents come from records through these functions, never typed (``serapp-train table``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from serapp.errors import SerappError

# The targets of the default-model issue: (corpus or "all", metric, threshold).
TARGETS: tuple[tuple[str, str, float], ...] = (
    ("ravdess", "uar", 0.72), ("crema-d", "uar", 0.70), ("savee", "uar", 0.70),
    ("all", "accuracy", 0.76), ("all", "macro_f1", 0.75),
)
# The columns of `serapp-train table`: one `evaluate --product` record per row.
PRODUCT_HEADER: tuple[str, ...] = ("model", "fixed-crop UA", "file-analysis UA", "live: speech updates right",
                                   "switches per utterance", "late-pause speech")


def markdown(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; the first column left-aligned, the others right-aligned (figures)."""
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def pct(value: float) -> str:
    """A share as a percentage with one decimal and a space before the sign: ``0.6131`` -> ``"61.3 %"``."""
    return f"{100 * value:.1f} %"


def product_row(name: str, record: dict[str, Any]) -> list[str]:
    """One :data:`PRODUCT_HEADER` row from an ``evaluate --product`` ``metrics.json``."""
    try:
        pp = record["product_path"]
        replay = pp["replay"]
        return [name, pct(pp["fixed_crop_ua"]), pct(pp["file_analysis_ua"]), pct(replay["speech_right"]),
                f"{replay['switches_per_utterance']:.2f}", pct(replay["late_pause_speech"])]
    except (KeyError, TypeError) as exc:
        raise SerappError(f"{name}: not an `evaluate --product` record (no {exc}).") from exc


def corpus_table(m: dict[str, Any]) -> list[str]:
    """Markdown rows from a metrics dict (``Metrics.to_dict``): per corpus and overall, clips, accuracy,
    macro-F1 and UAR."""
    rows = ["| corpus | test clips | accuracy | macro-F1 | UAR |", "|---|---:|---:|---:|---:|"]
    for corpus, c in sorted(m["per_corpus"].items()):
        rows.append(f"| {corpus} | {c['n']} | {pct(c['accuracy'])} | {c['macro_f1']:.3f} | {pct(c['uar'])} |")
    rows.append(f"| **all** | {m['n']} | {pct(m['accuracy'])} | {m['macro_f1']:.3f} | {pct(m['uar'])} |")
    return rows


def target_table(m: dict[str, Any]) -> list[str]:
    """Markdown rows from a metrics dict: each target of the default-model issue, what is reached, and the gap."""
    rows = ["| target | threshold | reached | met |", "|---|---:|---:|---|"]
    for corpus, metric, threshold in TARGETS:
        source = m if corpus == "all" else m["per_corpus"].get(corpus)
        if source is None:
            rows.append(f"| {corpus} {metric} | {threshold:.2f} | (no test clips) | — |")
            continue
        value = float(source[metric])
        verdict = "yes" if value >= threshold else f"no ({100 * (threshold - value):.1f} points short)"
        rows.append(f"| {corpus} {metric} | {threshold:.2f} | {value:.3f} | {verdict} |")
    return rows
