"""Markdown tables rendered from run records: one helper for the layout, one row builder per record kind.

Figures in documents come from records through these functions, never typed (``serapp-train table``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from serapp.errors import SerappError

# The targets (speaker-independent): (corpus or "all", metric, threshold).
TARGETS: tuple[tuple[str, str, float], ...] = (
    ("ravdess", "uar", 0.72), ("crema-d", "uar", 0.70), ("savee", "uar", 0.70),
    ("all", "accuracy", 0.76), ("all", "macro_f1", 0.75),
)
# The file-analysis column: of `evaluate --product` records, and added to plain records' tables when any of them
# also analysed each whole clip degraded alike (`evaluate --product` with a condition; a dash for the others).
FILE_ANALYSIS_HEADER = "file-analysis UA"
# The columns of `serapp-train table`: one `evaluate --product` record per row.
# "live: speech updates right" carries its 95 % interval over utterances where the record has one. "live ceiling":
# the share the engine's final answer for each utterance would get shown from its first update
# (``ReplayScore.final_right``; records from before it was measured show a dash).
PRODUCT_HEADER: tuple[str, ...] = ("model", "fixed-crop UA", FILE_ANALYSIS_HEADER, "live: speech updates right",
                                   "live ceiling", "switches per utterance", "late-pause speech", "live truth")
# The columns of `serapp-train table` for plain `evaluate` records (fixed crops under one condition each).
CONDITION_HEADER: tuple[str, ...] = ("model", "condition", "clips", "accuracy", "macro-F1", "UAR")
# What a record's live truth rule (``replay_settings.truth``, see serapp_train.productpath) means, in a table and in a
# sentence; records from before the rule was recorded used the clip's trimmed span (decision 0014).
TRUTH_RULES: dict[str, tuple[str, str]] = {
    "trim": ("trimmed clip", "the clip as training trims it: frames within 30 dB of its loudest"),
    "speech": ("speech over the room", "the clip's speech: from the first to the last frame within 30 dB of its "
               "loudest and 10 dB above its room tone"),
}


def markdown(header: Sequence[str], rows: Sequence[Sequence[object]], align: str = "") -> str:
    """A Markdown table; by default the first column left-aligned, the others right-aligned (figures).
    ``align``: one letter per column, ``l`` or ``r`` (``"lrrl"``)."""
    align = align or "l" + "r" * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "|" + "".join("---:|" if a == "r" else "---|" for a in align)]
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
        truth = pp["replay_settings"].get("truth", "trim")
        ceiling = pct(replay["final_right"]) if "final_right" in replay else "–"
        live = pct(replay["speech_right"])
        if "speech_right_ci" in replay:  # records since the interval was measured
            low, high = replay["speech_right_ci"]
            live += f" ({100 * low:.1f}–{100 * high:.1f})"
        return [name, pct(pp["fixed_crop_ua"]), pct(pp["file_analysis_ua"]), live, ceiling,
                f"{replay['switches_per_utterance']:.2f}", pct(replay["late_pause_speech"]),
                TRUTH_RULES[truth][0] if truth in TRUTH_RULES else truth]
    except (KeyError, TypeError) as exc:
        raise SerappError(f"{name}: not an `evaluate --product` record (no {exc}).") from exc


# The column `serapp-train table` adds when every record replayed the same utterances (``replay.per_utterance``):
# each row's live share less the first row's, with a paired 95 % interval (the first row is the reference).
PAIRED_HEADER = "live vs first row (95 % interval)"


def paired_column(records: Sequence[dict[str, Any]]) -> list[str] | None:
    """:data:`PAIRED_HEADER`'s cells for ``evaluate --product`` records, or None unless there are two or more and
    all replayed the same utterances: as many, each with as many updates (the same clips in the same conversations;
    the update grid does not depend on the model)."""
    from .metrics import paired_difference_interval

    counts = [r["product_path"]["replay"].get("per_utterance") for r in records]
    if len(counts) < 2 or any(c is None for c in counts) or len({json.dumps([n for n, _ in c]) for c in counts}) > 1:
        return None
    first = counts[0]
    cells = ["reference"]
    for record, c in zip(records[1:], counts[1:], strict=True):
        diff = record["product_path"]["replay"]["speech_right"] - records[0]["product_path"]["replay"]["speech_right"]
        low, high = paired_difference_interval(first, c)
        cells.append(f"{100 * diff:+.1f} ({100 * low:+.1f} to {100 * high:+.1f})")
    return cells


def condition_row(name: str, record: dict[str, Any]) -> list[str]:
    """One :data:`CONDITION_HEADER` row from a plain ``evaluate`` ``metrics.json`` (fixed crops, one condition)."""
    try:
        return [name, record["condition"], str(record["n"]), pct(record["accuracy"]), f"{record['macro_f1']:.3f}",
                pct(record["uar"])]
    except (KeyError, TypeError) as exc:
        raise SerappError(f"{name}: not an `evaluate` record (no {exc}).") from exc


def records_table(records: Sequence[tuple[str, dict[str, Any]]], rows: str = PRODUCT_HEADER[0]) -> str:
    """One Markdown table of named ``evaluate`` records (``rows``: the first column's header): product-path columns
    (:data:`PRODUCT_HEADER`, plus :data:`PAIRED_HEADER` where :func:`paired_column` applies) when any record is an
    ``evaluate --product`` one or any lacks a condition; else fixed-crop figures under each record's condition
    (and :data:`FILE_ANALYSIS_HEADER` where any record has it)."""
    if any("product_path" in r for _, r in records) or not all("condition" in r for _, r in records):
        cells = [product_row(name, record) for name, record in records]
        header, align = PRODUCT_HEADER, "l" + "r" * (len(PRODUCT_HEADER) - 2) + "l"
        paired = paired_column([record for _, record in records])
        if paired is not None:  # the same utterances replayed for every row: their live shares compared pairwise
            cells = [[*row, cell] for row, cell in zip(cells, paired, strict=True)]
            header, align = (*header, PAIRED_HEADER), align + "r"
    else:
        cells = [condition_row(name, record) for name, record in records]
        header, align = CONDITION_HEADER, "ll" + "r" * (len(CONDITION_HEADER) - 2)
        if any("file_analysis" in r for _, r in records):
            cells = [[*row, pct(r["file_analysis"]["ua"]) if "file_analysis" in r else "–"]
                     for row, (_, r) in zip(cells, records, strict=True)]
            header, align = (*header, FILE_ANALYSIS_HEADER), align + "r"
    return markdown([rows, *header[1:]], cells, align=align)


def corpus_table(m: dict[str, Any]) -> list[str]:
    """Markdown rows from a metrics dict (``Metrics.to_dict``): per corpus and overall, clips, accuracy,
    macro-F1 and UAR."""
    rows = [[corpus, c["n"], pct(c["accuracy"]), f"{c['macro_f1']:.3f}", pct(c["uar"])]
            for corpus, c in sorted(m["per_corpus"].items())]
    rows.append(["**all**", m["n"], pct(m["accuracy"]), f"{m['macro_f1']:.3f}", pct(m["uar"])])
    return markdown(("corpus", "test clips", "accuracy", "macro-F1", "UAR"), rows).splitlines()


def target_checks(m: dict[str, Any]) -> list[tuple[str, float, float | None]]:
    """Each target (:data:`TARGETS`) as ``(name, threshold, reached)`` from a metrics dict (``Metrics.to_dict``);
    ``reached`` is ``None`` where the corpus has no test clips."""
    checks: list[tuple[str, float, float | None]] = []
    for corpus, metric, threshold in TARGETS:
        source = m if corpus == "all" else m["per_corpus"].get(corpus)
        checks.append((f"{corpus} {metric}", threshold, None if source is None else float(source[metric])))
    return checks


def target_table(m: dict[str, Any]) -> list[str]:
    """Markdown rows from a metrics dict: each target (:func:`target_checks`), what is reached, and the gap."""
    rows: list[list[str]] = []
    for name, threshold, value in target_checks(m):
        if value is None:
            rows.append([name, f"{threshold:.2f}", "(no test clips)", "—"])
            continue
        verdict = "yes" if value >= threshold else f"no ({100 * (threshold - value):.1f} points short)"
        rows.append([name, f"{threshold:.2f}", f"{value:.3f}", verdict])
    return markdown(("target", "threshold", "reached", "met"), rows, align="lrrl").splitlines()
