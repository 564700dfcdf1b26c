"""Every text form of scored results, in one place: dicts for JSON, JSON text and CSV text of windows, utterances,
summaries and whole analyses. Used by the CLI (`serapp analyze --json/--csv/--utterances-csv`), the window's
exports of a file or of the live session, and the types' own ``to_dict`` methods.

The field names, roundings and column layouts are documented in docs/cli.md and pinned by the tests: change
them here only together with those. Results are read by attribute (see :class:`serapp.engine.result
.EmotionResult` and :mod:`serapp.engine.summary`), so this module imports neither (they import it).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from serapp.engine.labels import SILENCE, top_label
from serapp.errors import SerappError
from serapp.textsafe import csv_cell, encodable, shown_path

if TYPE_CHECKING:
    import numpy as np

    from serapp.engine.result import EmotionResult
    from serapp.engine.summary import FileAnalysis, Summary, UtteranceResult


# ------------------------------------------------------------------------------------------------ dicts (JSON)
def probabilities_dict(labels: Sequence[str], probs: np.ndarray | None, digits: int | None = 6
                       ) -> dict[str, float] | None:
    """``{label: probability}`` rounded to ``digits`` (``None``: as computed), or ``None`` without scores."""
    if probs is None:
        return None
    return {lab: float(p) if digits is None else round(float(p), digits) for lab, p in zip(labels, probs, strict=True)}


def live_dict(r: EmotionResult) -> dict[str, Any]:
    """A live update with every figure (docs/engine-api.md); its probabilities unrounded."""
    return {"t": round(r.t, 3), "emotion": r.emotion, "speech": r.is_speech,
            "probabilities": probabilities_dict(r.labels, r.probs, None), "phase": r.phase,
            "utterance": r.utterance, "utterance_s": round(r.utterance_s, 3), "level_db": round(r.level_db, 1),
            "compute_ms": round(r.compute_ms, 2), "latency_ms": round(r.latency_ms, 1),
            "dropped_blocks": r.dropped_blocks}


def window_dict(w: EmotionResult, labels: Sequence[str]) -> dict[str, Any]:
    """One hop of a timeline as in `serapp analyze --json`, named by ``labels`` (the analysis's)."""
    return {"t": round(w.t, 3), "emotion": top_label(w.probs, labels), "speech": w.is_speech,
            "level_db": round(w.level_db, 1), "probabilities": probabilities_dict(labels, w.probs)}


def utterance_dict(u: UtteranceResult, labels: Sequence[str]) -> dict[str, Any]:
    return {"start": round(u.start, 3), "end": round(u.end, 3), "emotion": top_label(u.probs, labels),
            "confidence": round(u.confidence, 6), "probabilities": probabilities_dict(labels, u.probs),
            "adapted": u.adapted}


def summary_dict(s: Summary) -> dict[str, Any]:
    return {"dominant": s.dominant, "probabilities": s.probabilities, "shares": s.shares,
            "speech_ratio": s.speech_ratio, "windows": s.windows, "duration_s": s.duration_s,
            "utterances": s.utterances, "speech_s": s.speech_s, "crowd_s": s.crowd_s}


def analysis_dict(a: FileAnalysis) -> dict[str, Any]:
    """One analysis as in `serapp analyze --json` (one element of its array; docs/cli.md)."""
    return {"file": str(a.file), "summary": summary_dict(a.summary), "hop_s": a.hop_s,
            "utterances": [utterance_dict(u, a.labels) for u in a.utterances],
            "timeline": [window_dict(w, a.labels) for w in a.timeline]}


def analysis_json(a: FileAnalysis) -> str:
    """One analysis as indented JSON text (the window's JSON export)."""
    return json.dumps(analysis_dict(a), indent=2) + "\n"


# ------------------------------------------------------------------------------------------------ CSV
def _csv(labels: Sequence[str], analyses: Sequence[FileAnalysis], columns: Sequence[str],
         rows: Callable[[FileAnalysis], Iterable[list[Any]]]) -> str:
    """CSV text: header ``file,<columns>,p_<label>...``, then ``[file, *row]`` for each analysis's ``rows``.
    Raises :class:`SerappError` for an analysis made with other labels (its columns would be mislabelled)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["file", *columns, *(csv_cell(f"p_{lab}") for lab in labels)])
    for a in analyses:
        if tuple(a.labels) != tuple(labels):
            raise SerappError(f"{shown_path(a.file)} was analysed with the labels {', '.join(a.labels)}, not "
                              f"{', '.join(labels)}; export it on its own.")
        writer.writerows([csv_cell(str(a.file)), *row] for row in rows(a))
    return out.getvalue()


def _probability_cells(probs: np.ndarray | None, n: int) -> list[str]:
    return [""] * n if probs is None else [f"{float(p):.6f}" for p in probs]


def timeline_csv(labels: Sequence[str], analyses: Sequence[FileAnalysis]) -> str:
    """Timelines as CSV text (`serapp analyze --csv`, the window's timeline export; layout in docs/cli.md).

    Header ``file,t,emotion,speech,level_db,p_<label>...`` for ``labels`` (the model's), then one row per hop
    of each analysis in order: ``t`` hop end (s, 3 decimals), top label or ``silence``, ``speech`` 0/1,
    ``level_db`` (dBFS, 1 decimal), calibrated probabilities (6 decimals; empty cells for silence). Raises
    :class:`SerappError` for an analysis made with other labels.
    """
    return _csv(labels, analyses, ["t", "emotion", "speech", "level_db"], lambda a: (
        [f"{w.t:.3f}", csv_cell(top_label(w.probs, labels)), int(w.is_speech), f"{w.level_db:.1f}",
         *_probability_cells(w.probs, len(labels))] for w in a.timeline))


def utterances_csv(labels: Sequence[str], analyses: Sequence[FileAnalysis]) -> str:
    """Utterances as CSV text (`serapp analyze --utterances-csv`): header
    ``file,start,end,emotion,confidence,p_<label>...``, one row per utterance (times in s, 3 decimals;
    probabilities 6 decimals). Raises :class:`SerappError` for an analysis made with other labels."""
    return _csv(labels, analyses, ["start", "end", "emotion", "confidence"], lambda a: (
        [f"{u.start:.3f}", f"{u.end:.3f}", csv_cell(top_label(u.probs, labels)), f"{u.confidence:.6f}",
         *_probability_cells(u.probs, len(labels))] for u in a.utterances))


def analysis_csv(a: FileAnalysis) -> str:
    """The timeline of one analysis as CSV text (the window's export); encodable as UTF-8 whatever the file's
    name."""
    return encodable(timeline_csv(a.labels, [a]))


def summary_columns(analyses: Sequence[FileAnalysis]) -> list[str]:
    """Share columns for a table of summaries: every label met, in first-seen order, then silence."""
    labels: list[str] = []
    for a in analyses:
        labels += [lab for lab in a.labels if lab not in labels]
    return [*labels, SILENCE]


def summary_header(analyses: Sequence[FileAnalysis]) -> list[str]:
    # crowd_s last: columns were only ever added at the end, so a sheet reading them by place still works
    return ["file", "duration_s", "dominant", "speech_%", *(f"{c}_%" for c in summary_columns(analyses)), "crowd_s"]


def summary_rows(analyses: Sequence[FileAnalysis]) -> list[list[str]]:
    """One row per file: name, duration (s), dominant emotion, speech share (%), the share (%) of each label and
    the seconds called a crowd (not scored)."""
    columns = summary_columns(analyses)
    rows = []
    for a in analyses:
        s = a.summary
        rows.append([a.file.name, f"{s.duration_s:.1f}", s.dominant, f"{100 * s.speech_ratio:.0f}",
                     *(f"{100 * s.shares.get(c, 0.0):.0f}" for c in columns), f"{s.crowd_s:.1f}"])
    return rows


def summaries_csv(analyses: Sequence[FileAnalysis]) -> str:
    """The table of summaries of several files as CSV text. Text cells (file names, labels in the header and the
    dominant column) are neutralised against formula injection (:func:`serapp.textsafe.csv_cell`); the table in
    the window shows them as they are."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([csv_cell(c) for c in summary_header(analyses)])
    for row in summary_rows(analyses):
        writer.writerow([csv_cell(row[0]), row[1], csv_cell(row[2]), *row[3:]])
    return encodable(out.getvalue())
