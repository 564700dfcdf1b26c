"""The one exception type of the project: every expected failure carries a plain message."""

from __future__ import annotations

import sys
from collections.abc import Callable

INTERRUPTED = 130  # a command's exit status after Ctrl-C, as a shell reports a SIGINT death (128 + 2)


class SerappError(Exception):
    """A failure the user can act on (bad file, bad model, missing device, bad parameter).

    The message is written for a person, not a developer: it names the file or setting involved
    and, where there is one, the fix. Command-line and GUI front ends show it without a traceback.
    """


class Cancelled(SerappError):
    """The user cancelled long work (Esc, Cancel, quitting): raised from a progress callback to stop it there."""


def run_command(prog: str, command: Callable[[], int]) -> int:
    """Run a command-line entry point: a :class:`SerappError` becomes one ``prog: message`` line on stderr and
    exit status 2, Ctrl+C exit status 130; anything else is a bug and keeps its traceback."""
    try:
        return int(command())
    except SerappError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return INTERRUPTED
