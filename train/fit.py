"""`serapp-train train`: one model, one honest protocol, everything saved in a run folder.

The command only parses flags: the run itself is :func:`serapp_train.training.train_run`, the config
:class:`serapp_train.config.TrainConfig` and its flags :mod:`serapp_train.configargs`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .configargs import add_config_arguments, add_runtime_arguments, config_from_args
from .training import train_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    add_runtime_arguments(parser)
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"), help="parent of run folders (runs/)")
    parser.add_argument("--export", action="store_true", help="also write model.onnx with full metadata")


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if config.protocol == "random" and not config.all_speakers:
        print("note: the random split is speaker-DEPENDENT (the same voices train and test); its scores "
              "overstate accuracy on new speakers.")
    train_run(config, root=args.root, runs_dir=args.runs_dir, export=args.export, workers=args.workers,
              extract_workers=args.extract_workers, verbose=0 if args.quiet else 1)
    return 0
