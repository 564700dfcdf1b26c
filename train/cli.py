"""`serapp-train` command line. Each sub-command lives in its own module, imported on demand.

A command module exposes ``add_arguments(parser)`` and ``run(args) -> int`` and keeps heavy imports
(TensorFlow/Keras) inside functions, so `serapp-train data` starts fast. Commands are thin: they parse flags and
call the trainer's library modules (config, data, batches, fitting, scoring, training, runfolder, tables ...);
a command never imports another command, and no import cycle exists (tests/test_train_imports.py checks both).
"""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import sys
from collections.abc import Sequence

from serapp.errors import INTERRUPTED, run_command

# name -> (module in this package, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("datasummary", "clips per corpus x emotion, speakers and hours"),
    "train": ("fit", "train one model under a speaker-independent protocol; saves a run folder"),
    "select": ("cvselect", "rank config variants by speaker cross-validation on the non-test speakers"),
    "compare": ("compare", "train several families under one protocol; Markdown table and confusions"),
    "crossval": ("crossval", "score every fold's ONNX model on its test speakers and pool per-corpus figures"),
    "evaluate": ("evaluate", "score an exported ONNX model on corpus clips (optionally noisy); metrics + PNG"),
    "table": ("tablecmd", "evaluate --product records side by side as one Markdown table"),
    "card": ("modelcard", "score a shipped ONNX model on its run's test speakers and write its model card"),
    "ensemble": ("ensemble", "merge finished runs on one feature spec into one ONNX file serving their mean"),
    "export": ("exportcmd", "convert a run's model.keras to a self-describing ONNX model (parity-checked)"),
    "crowd": ("crowdcmd", "give an adaptable Whisper model a crowd check: a hall's babble becomes no speech"),
    "manifest": ("manifest", "record a bundled model's size, SHA-256 and run hashes in its folder's manifest.json"),
    "recipe": ("recipecmd", "make a model as a recipe file says (train, export, install, evaluate, crossval "
               "steps); resumes"),
}
# The modules that are commands (everything else in the package is library).
COMMAND_MODULES: tuple[str, ...] = tuple(module for module, _ in COMMANDS.values())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="serapp-train", description="Train, compare, evaluate and export models.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(f".{module_name}", __package__)
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
    except ModuleNotFoundError as exc:  # the app's install (`pip install serapp`) has no trainer dependencies
        print(f"serapp-train: {exc.name} is not installed: the trainer needs `pip install 'serapp[train]'`.",
              file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    args.command_line = shlex.join(["serapp-train", *argv])  # for outputs that quote what wrote them
    status = run_command("serapp-train", lambda: args.run(args))
    if status == INTERRUPTED:
        # Ctrl-C: every output is already written or left as scratch, and the command has said so. Leave without
        # the interpreter's shutdown: TensorFlow's threads, stopped mid-step, can crash it there (a CI run's
        # interrupted recipe exited with SIGSEGV instead of 130).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status
