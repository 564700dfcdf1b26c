"""`serapp` command line: no sub-command opens the window; sub-commands use the engine without Qt."""

from __future__ import annotations

import argparse
import errno
import os
import sys
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


# Exit status of a command whose reader went away (`serapp listen | head -2`): the shells' 128 + SIGPIPE.
EXIT_READER_GONE = 141
# Errors writing stdout that are the output's fault, not serapp's: told in one line, never as a traceback.
_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EIO, errno.EDQUOT, errno.EROFS}


def main(argv: Sequence[str] | None = None) -> int:
    """Run `serapp`: the window, or a sub-command. A closed stdout pipe ends the command quietly (exit 141); a
    stdout that cannot take the output (full disk, ``/dev/full``) is one ``serapp:`` line on stderr (exit 2)."""
    try:
        code = _dispatch(argv)
        sys.stdout.flush()  # here, not at interpreter exit, where a failure would print "Exception ignored"
        return code
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_READER_GONE
    except OSError as exc:
        if exc.errno not in _OUTPUT_ERRNOS:
            raise
        _silence_stdout()
        print(f"serapp: cannot write to standard output ({exc.strerror or exc}).", file=sys.stderr)
        return 2


def _silence_stdout() -> None:
    """Point stdout at the null device, so what is still buffered is dropped at exit instead of raising again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout replaced by something without a descriptor
        pass


def _dispatch(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        from serapp.ui.app import run_app

        return run_command("serapp", lambda: run_app(args))
    return run_command("serapp", lambda: args.run(check_limits(args)))


def check_limits(args: argparse.Namespace) -> argparse.Namespace:
    """``args`` when `listen`'s stop conditions make sense; a :class:`SerappError` otherwise. A negative, zero or
    NaN ``--seconds`` and a ``--max-results`` below 1 used to end the run at once (or never) with exit 0."""
    import math

    from serapp.errors import SerappError

    if args.command != "listen":
        return args
    seconds, results = getattr(args, "seconds", None), getattr(args, "max_results", None)
    if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
        raise SerappError(f"--seconds must be a positive number of seconds, got {seconds}.")
    if results is not None and results < 1:
        raise SerappError(f"--max-results must be 1 or more, got {results}.")
    return args
