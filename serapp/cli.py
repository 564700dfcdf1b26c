"""`serapp` command line: no sub-command opens the window; sub-commands use the engine without Qt."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from serapp import __version__
from serapp.errors import run_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="serapp", description="Real-time speech emotion recognition.")
    parser.add_argument("--version", action="version", version=f"serapp {__version__}")
    parser.add_argument("--model", help="ONNX model file (default: the bundled model)")
    parser.add_argument("--input", metavar="FILE", help="feed the live view from FILE at real-time pace")
    parser.add_argument("--device", help="input device name or index")
    parser.add_argument("--demo", action="store_true", help="fullscreen demo mode")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from serapp import commands

    commands.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        from serapp.ui.app import run_app

        return run_command("serapp", lambda: run_app(args))
    return run_command("serapp", lambda: args.run(args))
