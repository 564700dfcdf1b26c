"""The live inputs as the window sees them: list, resolve, rescan and open, plus how often a failed microphone is
retried, a missing one looked for, and how long a silent one is waited for. The real one is PortAudio through
:mod:`serapp.engine.capture`; tests give the window and the live session a fake or faster one instead of
patching module globals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from serapp.engine import capture
from serapp.engine.capture import STALL_S, InputDevice, MicrophoneSource
from serapp.engine.filesource import FileSource
from serapp.engine.retry import RESCAN_S, RETRY_S
from serapp.engine.source import AudioSource

if TYPE_CHECKING:
    from serapp.ui.engine_bridge import SourceChoice

# The one retry policy of the window and `serapp listen` (serapp/engine/retry.py): reopen a failed microphone every
# RETRY_S; scan for devices every RESCAN_S while there are none.


@dataclass(frozen=True)
class AudioDevices:
    """PortAudio's inputs. Subclass (or replace a method of) it for tests; every method may raise
    :class:`~serapp.errors.SerappError` with a plain reason."""

    retry_s: float = RETRY_S
    rescan_s: float = RESCAN_S
    stall_s: float = STALL_S  # no audio for this long: the microphone is gone (the engine's default)

    def list_inputs(self) -> list[InputDevice]:
        """Every input device present (may be empty); raises when PortAudio is missing."""
        return capture.list_input_devices()

    def resolve(self, wanted: str) -> InputDevice:
        """The device ``wanted`` names by the CLI's rule (index, name, or part of a name)."""
        return capture.resolve_device(wanted)

    def refresh(self) -> bool:
        """Make PortAudio scan again; False while a playback runs (a rescan would cut it off)."""
        return capture.refresh_devices()

    def open(self, choice: SourceChoice, sample_rate: int, rescan: bool = False) -> AudioSource:
        """The source for ``choice``: the file at real-time pace, or the microphone (``rescan``: look for it
        among the devices present now)."""
        if choice.is_file:
            return FileSource(choice.path, sample_rate=sample_rate, realtime=True, loop=choice.loop)
        return self.open_microphone(choice.device or None, rescan)

    def open_microphone(self, device: str | None, rescan: bool) -> AudioSource:
        """The microphone ``device`` (None = the default input)."""
        return MicrophoneSource(device, rescan=rescan, stall_s=self.stall_s)
