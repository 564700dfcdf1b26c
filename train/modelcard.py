"""`serapp-train card`: judge a shipped ONNX model on its run's test speakers and write its model card.

Everything in the card is measured on the exported file, as the app serves it (:mod:`serapp_train.cardata`:
per-corpus scores on the test speakers the run never trained or tuned on, the confusion matrix, calibration,
robustness, latency; training-side facts from the run folder) and rendered through the card's template
(:mod:`serapp_train.cardrender`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from serapp.paths import corpora_root, default_model_path

from .cardata import Teachers


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="the run folder the model was trained in (split.json, config.json)")
    parser.add_argument("--model", type=Path, default=None, help="ONNX model (default: the bundled model)")
    parser.add_argument("--root", type=Path, default=None, help="corpora folder (default: $SERAPP_CORPORA)")
    parser.add_argument("--out", type=Path, default=Path("docs/model-card.md"), help="the card (Markdown)")
    parser.add_argument("--command", default="", help="the command that reproduces the model, quoted in the card")
    parser.add_argument("--crossval", type=Path, default=None,
                        help="a `serapp-train crossval` folder of the same recipe: its pooled per-corpus figures")
    parser.add_argument("--notes", type=Path, default=None,
                        help="Markdown file: what was tried and what is left (included in the card)")


def _warn_failed(teachers: Teachers | None) -> None:
    """Say at once when a claim about the model's teachers failed its check (before the long scoring)."""
    from .provenance import FAILED

    if teachers is not None and any(c.status == FAILED for c in teachers.checks):
        print("warning: a claim about the model's teachers failed its check; see the card's *Teachers* section")


def run(args: argparse.Namespace) -> int:
    from serapp.atomic import write_text
    from serapp.engine.analysis import file_threads
    from serapp.engine.model import load_model

    from . import metrics
    from .cardata import collect
    from .cardrender import render

    # scored on the machine's cores (batch work, as `serapp analyze`); the latency is timed on one thread apart
    model = load_model(args.model or default_model_path(), threads=file_threads())
    out: Path = args.out
    data, clean = collect(args.run_dir, model, args.root or corpora_root(), out, command=args.command,
                          notes=args.notes.read_text() if args.notes else "", crossval_dir=args.crossval,
                          written_by=args.command_line, on_checks=_warn_failed)
    png = metrics.plot_confusion(np.asarray(clean.metrics.confusion), model.labels,
                                 out.parent / f"{out.stem}-confusion.png",
                                 title=f"{model.path.stem} — test speakers")
    write_text(out, render(data))
    print(metrics.format_report(clean.metrics))
    print(f"wrote {out} and {png}")
    return 0
