"""Export formats of file analyses (pure functions, no Qt) and atomic writes (temp file + rename).

CSV timeline columns: ``t`` (window end, s), ``emotion``, ``speech`` (0/1), ``level_db`` and one ``p_<label>``
per label (empty for silence). JSON is the engine's :meth:`FileAnalysis.to_dict` form.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

from serapp.engine.analysis import FileAnalysis
from serapp.engine.labels import SILENCE


def timeline_csv(analysis: FileAnalysis) -> str:
    """The timeline of one file as CSV text (header + one row per window)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["t", "emotion", "speech", "level_db", *(f"p_{lab}" for lab in analysis.labels)])
    for w in analysis.timeline:
        probs = [""] * len(analysis.labels) if w.probs is None else [f"{float(p):.6f}" for p in w.probs]
        writer.writerow([f"{w.t:.3f}", w.emotion(analysis.labels), int(w.is_speech), f"{w.level_db:.1f}", *probs])
    return out.getvalue()


def analysis_json(analysis: FileAnalysis) -> str:
    """The analysis of one file as indented JSON text."""
    return json.dumps(analysis.to_dict(), indent=2) + "\n"


def summary_columns(analyses: Sequence[FileAnalysis]) -> list[str]:
    """Share columns for a table of summaries: every label met, in first-seen order, then silence."""
    labels: list[str] = []
    for a in analyses:
        labels += [lab for lab in a.labels if lab not in labels]
    return [*labels, SILENCE]


def summary_rows(analyses: Sequence[FileAnalysis]) -> list[list[str]]:
    """One row per file: name, duration (s), dominant emotion, speech share (%) and the share (%) of each label."""
    columns = summary_columns(analyses)
    rows = []
    for a in analyses:
        s = a.summary
        rows.append([a.file.name, f"{s.duration_s:.1f}", s.dominant, f"{100 * s.speech_ratio:.0f}",
                     *(f"{100 * s.shares.get(c, 0.0):.0f}" for c in columns)])
    return rows


def summary_header(analyses: Sequence[FileAnalysis]) -> list[str]:
    return ["file", "duration_s", "dominant", "speech_%", *(f"{c}_%" for c in summary_columns(analyses))]


def summaries_csv(analyses: Sequence[FileAnalysis]) -> str:
    """The table of summaries of several files as CSV text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(summary_header(analyses))
    writer.writerows(summary_rows(analyses))
    return out.getvalue()
