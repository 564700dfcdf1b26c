"""Export formats of file analyses (pure functions, no Qt).

The timeline CSV is the engine's :func:`serapp.engine.analysis.timeline_csv` (the layout of `serapp analyze
--csv`); JSON is the engine's :meth:`FileAnalysis.to_dict` form.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

from serapp.engine.analysis import FileAnalysis, timeline_csv
from serapp.engine.labels import SILENCE
from serapp.textsafe import csv_cell, encodable


def analysis_csv(analysis: FileAnalysis) -> str:
    """The timeline of one file as CSV text (header + one row per window); encodable as UTF-8 whatever the
    file's name."""
    return encodable(timeline_csv(analysis.labels, [analysis]))


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
    """The table of summaries of several files as CSV text. Text cells (file names, labels in the header and the
    dominant column) are neutralised against formula injection (:func:`serapp.textsafe.csv_cell`); the table in
    the window shows them as they are."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([csv_cell(c) for c in summary_header(analyses)])
    for row in summary_rows(analyses):
        writer.writerow([csv_cell(row[0]), row[1], csv_cell(row[2]), *row[3:]])
    return encodable(out.getvalue())
