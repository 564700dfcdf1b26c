"""`serapp-train crossval`: the folds of one k-fold cross-validation, scored on their exported ONNX models and
pooled into per-corpus figures (the checks, scoring, pooling and report are :mod:`serapp_train.crossvalidation`'s).

Give it the run folders of every fold (``serapp-train train --protocol corpus-kfold --k K --fold I --export``
for I = 1..K): one configuration but for the fold, folds 1..K once each, disjoint test speakers. Writes
``crossval.json``, ``README.md`` and confusion PNGs (all corpora and each corpus) to ``--out``, with each fold's
validation scores (what a search over recipes may select on); ``--validation-only`` writes that part alone (no ONNX
model or corpora needed).

``--member RUN ...`` (repeatable) adds another recipe's fold runs: each fold then predicts the mean calibrated
probability of its models, so the report scores an ensemble (e.g. a distillation teacher), on the validation
speakers too (with ``--validation-only``, there alone).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .crossvalidation import VALIDATION_FIGURES, crossval


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", type=Path, nargs="+", help="the run folder of every fold (each with model.onnx)")
    parser.add_argument("--root", type=Path, default=None, help="corpora folder (default: $SERAPP_CORPORA)")
    parser.add_argument("--out", type=Path, default=Path("runs/crossval"),
                        help="folder for crossval.json, README.md and the confusion PNGs")
    parser.add_argument("--command", default="", help="the command that trained the folds, quoted in README.md")
    parser.add_argument("--member", dest="members", action="append", nargs="+", type=Path, default=[],
                        metavar="RUN", help="another recipe's fold runs (one per fold, same splits): each fold "
                        "then predicts the mean probability of its models, an ensemble (repeatable)")
    parser.add_argument("--validation-only", action="store_true",
                        help="report only the folds' validation scores (what a search selects on); no test scoring")


def run(args: argparse.Namespace) -> int:
    from . import metrics

    report = crossval(args.runs, args.out, root=args.root, command=args.command,
                      validation_only=args.validation_only, member_groups=args.members)
    if report.get("validation"):
        mean = report["validation"]["mean"]
        print("validation, mean over folds: " + ", ".join(f"{k} {mean[k]:.3f}" for k in VALIDATION_FIGURES
                                                          if mean[k] is not None)
              + "; UAR " + ", ".join(f"{c} {u:.3f}" for c, u in mean["per_corpus_uar"].items()))
    if "pooled" in report:
        print(metrics.format_report(report["pooled"]))
    pngs = "" if args.validation_only else " and the confusion PNGs"
    print(f"wrote {args.out / 'README.md'}, {args.out / 'crossval.json'}{pngs}")
    return 0
