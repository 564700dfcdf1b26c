"""Whether live input can run, and whether it does, as one explicit state (no Qt).

The window used to keep this in three loose fields (why live input was off, whether a microphone could still
appear, which ``--device`` was missing); here one frozen object moves between phases by named transitions, and
the button, the menu, the banner and demo mode all read it.

Phases and their transitions::

    (scan) ──▶ UNAVAILABLE   no input listed and none can appear (no PortAudio): Start is off
           ──▶ WAITING       PortAudio works but lists no input: a rescan finds one; Start waits for it
           ──▶ STOPPED       inputs are listed
    STOPPED / WAITING ──start──▶ STARTING ──running──▶ RUNNING ──lost──▶ RETRYING ──running──▶ RUNNING
    STARTING ──lost──▶ RETRYING          any run phase ──stopped──▶ STOPPED (WAITING while no input is listed)

A start forced from UNAVAILABLE (demo mode keeps trying) stays UNAVAILABLE until audio actually runs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum


class LivePhase(Enum):
    UNAVAILABLE = "unavailable"
    WAITING = "waiting"
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    RETRYING = "retrying"


RUN_PHASES = frozenset({LivePhase.STARTING, LivePhase.RUNNING, LivePhase.RETRYING})


@dataclass(frozen=True)
class LiveInputState:
    """The live input's phase; ``no_input``: why the picker lists no input ("" when it lists some), kept through
    a start that waits for one; ``missing_device``: the ``--device`` that matches no present input (listed as
    "(not found)" and waited for, never silently replaced)."""

    phase: LivePhase = LivePhase.STOPPED
    no_input: str = ""
    missing_device: str = ""

    # ------------------------------------------------------------------ what it allows
    @property
    def can_start(self) -> bool:
        """Start is offered: an input is listed, or none is but one can still appear."""
        return self.phase is not LivePhase.UNAVAILABLE

    @property
    def unavailable_reason(self) -> str:
        """Why live input is off ("" when an input is listed)."""
        return self.no_input

    @property
    def watch_for_devices(self) -> bool:
        """Rescan for a microphone: none is listed, and PortAudio works so one can appear."""
        return bool(self.no_input) and self.phase is not LivePhase.UNAVAILABLE

    @property
    def needs_rescan_when_running(self) -> bool:
        """Audio came while the picker lacked the device: list the devices present now."""
        return bool(self.no_input or self.missing_device)

    def describe(self) -> str:
        """The phase in a few words (the status tip of Live › Start)."""
        return {LivePhase.UNAVAILABLE: f"Live input is off: {self.no_input}",
                LivePhase.WAITING: "No microphone yet: Start waits for one",
                LivePhase.STOPPED: "Live analysis is stopped",
                LivePhase.STARTING: "Opening the input…",
                LivePhase.RUNNING: "Live analysis is running",
                LivePhase.RETRYING: "The input failed: retrying by itself"}[self.phase]

    # ------------------------------------------------------------------ transitions
    def scanned(self, no_input: str, may_appear: bool, missing_device: str = "") -> LiveInputState:
        """The inputs were listed: ``no_input`` says why none is ("" = some are); ``may_appear``: PortAudio works,
        so a later rescan can find one. A session running or retrying keeps its run phase."""
        if self.phase in RUN_PHASES and (not no_input or may_appear):
            phase = self.phase
        elif not no_input:
            phase = LivePhase.STOPPED
        else:
            phase = LivePhase.WAITING if may_appear else LivePhase.UNAVAILABLE
        return LiveInputState(phase, no_input, missing_device)

    def starting(self) -> LiveInputState:
        return self._to(LivePhase.STARTING)

    def running(self) -> LiveInputState:
        return dataclasses.replace(self, phase=LivePhase.RUNNING)

    def lost(self, retrying: bool) -> LiveInputState:
        """The input failed; ``retrying``: the session tries again by itself (a microphone), else it gave up."""
        return self._to(LivePhase.RETRYING) if retrying else self.stopped()

    def stopped(self) -> LiveInputState:
        """Not analysing (stopped by the user, a file that ended, or a failure not retried)."""
        if self.phase is LivePhase.UNAVAILABLE:
            return self
        return dataclasses.replace(self, phase=LivePhase.WAITING if self.no_input else LivePhase.STOPPED)

    def _to(self, phase: LivePhase) -> LiveInputState:
        if self.phase is LivePhase.UNAVAILABLE:
            return self  # a forced start (demo mode) retries unseen until audio runs
        return dataclasses.replace(self, phase=phase)
