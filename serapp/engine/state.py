"""The lifecycle shared by an audio source and the analyzer that drives it: one enum, :class:`RunState`."""

from __future__ import annotations

import enum


class RunState(enum.StrEnum):
    """stopped → running → (finished | error) → restart → running.

    ``finished``: a file source reached its end (and the analyzer analysed its last window); ``error``: see the
    object's ``error`` message; its ``restart()`` retries.
    """

    STOPPED = "stopped"
    RUNNING = "running"
    FINISHED = "finished"
    ERROR = "error"
