"""The lifecycle shared by an audio source and the analyzer that drives it: one enum, :class:`RunState`, and the
read-only ``state``/``error`` pair both expose (:class:`Lifecycle`)."""

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


class Lifecycle:
    """A :class:`RunState` and the plain message of the last failure, read-only from outside (the owner sets
    ``_state`` and ``_error``)."""

    _state: RunState = RunState.STOPPED
    _error: str | None = None

    @property
    def state(self) -> RunState:
        return self._state

    @property
    def error(self) -> str | None:
        """The plain message of the last failure while in the ``error`` state."""
        return self._error
