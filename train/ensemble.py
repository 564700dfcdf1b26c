"""`serapp-train ensemble`: finished runs on one feature spec merged into one ONNX file serving their mean
(:mod:`serapp_train.ensembling` says how, and what the run folder it writes holds)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .ensembling import build_ensemble


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR",
                        help="finished, exported runs (model.onnx, split.json, config.json, metrics.json)")
    parser.add_argument("--out", type=Path, required=True, help="the ensemble's run folder (must not exist)")
    parser.add_argument("--name", default=None, help="the model's name in its metadata (default: the folder's)")
    parser.add_argument("--root", type=Path, default=None, help="corpora folder (default: $SERAPP_CORPORA)")
    parser.add_argument("--int8", action="store_true",
                        help="also write model-int8.onnx, the weights quantised to int8 (what bundled models ship)")


def run(args: argparse.Namespace) -> int:
    build_ensemble(args.run_dirs, args.out, name=args.name, root=args.root, int8=args.int8)
    return 0
