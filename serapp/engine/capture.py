"""Microphone capture through PortAudio (sounddevice): device listing and choice, and the capture source.

sounddevice is imported lazily: it raises OSError at import when the PortAudio library is missing, which is
turned into a plain :class:`SerappError` so that everything not needing a microphone keeps working.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from serapp.engine.ringbuffer import RingBuffer
from serapp.engine.source import RingSource
from serapp.engine.state import RunState
from serapp.errors import SerappError

NO_PORTAUDIO = ("Audio capture needs the PortAudio library, which is not installed. Install it "
                "(Debian/Ubuntu: `sudo apt install libportaudio2`; macOS: `brew install portaudio`) and try again. "
                "`serapp analyze FILE` works without it.")
NO_DEVICE = ("No audio input device was found. Connect or enable a microphone (check that the sound server "
             "is running and the device is not muted), list devices with `serapp devices`, and choose one "
             "with --device NAME|INDEX. `serapp analyze FILE` works without one.")
# Seconds of native-rate audio the ring holds: far more than the worker's wake period, so nothing is lost
# unless the worker stalls.
_RING_S = 4.0
# No callback for this long while the stream claims to run means the device went away (the default of
# MicrophoneSource's ``stall_s``; the window's AudioDevices and tests give their own).
STALL_S = 2.0
# Input missing for at least this long (s), compared with the wall clock, is counted as a dropped block once the
# shortfall has lasted this long too (so a burst of buffered audio catching up is not counted).
_LOSS_S = 0.5
# The wall-clock reference of that comparison is renewed this often (s), so the drift of the device's clock
# against the computer's (about 0.01 %) never adds up to a false loss.
_ANCHOR_S = 30.0


def import_sounddevice() -> ModuleType:
    """The sounddevice module, or a :class:`SerappError` saying PortAudio is missing."""
    try:
        import sounddevice
    except OSError as exc:
        raise SerappError(NO_PORTAUDIO) from exc
    return sounddevice


# Output streams the app opened itself (the file view's playback at a file's own rate): a device rescan must not
# re-initialise PortAudio under them. Registered by their owner, so no private sounddevice state is needed.
_playbacks: dict[int, Any] = {}  # by id(): a stream need not be hashable


def register_playback(stream: Any) -> None:
    """Tell the engine an output stream of the app's is open (see :func:`refresh_devices`)."""
    _playbacks[id(stream)] = stream


def unregister_playback(stream: Any) -> None:
    _playbacks.pop(id(stream), None)


def playback_active(sd: ModuleType) -> bool:
    """Whether the app's own playback (a registered output stream, or ``sounddevice.play()``) is still playing."""
    if any(getattr(stream, "active", False) for stream in list(_playbacks.values())):
        return True
    try:
        return bool(sd.get_stream().active)
    except RuntimeError:  # nothing was played yet
        return False


def refresh_devices() -> bool:
    """Make PortAudio scan the devices again (it lists them once, at start-up): for a device plugged in or a
    sound server started since. Returns whether it did: never while a playback runs, because re-initialising
    PortAudio closes every open stream (the caller just retries later). Callers close their own streams first."""
    sd = import_sounddevice()
    if playback_active(sd):
        return False
    sd.stop()  # close a finished playback's stream, so that nothing keeps a pointer into the old PortAudio
    sd._terminate()  # sounddevice's documented way to re-initialise PortAudio
    sd._initialize()
    return True


@dataclass(frozen=True)
class InputDevice:
    """An input device as PortAudio sees it. ``default_samplerate`` in Hz."""

    index: int
    name: str
    hostapi: str
    channels: int
    default_samplerate: float
    is_default: bool


def list_input_devices() -> list[InputDevice]:
    """Every device with at least one input channel (may be empty). Raises when PortAudio is missing."""
    sd = import_sounddevice()
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
        default_in = sd.default.device[0]
    except Exception as exc:  # PortAudioError when the audio system cannot be queried
        raise SerappError(f"The audio system could not be queried ({exc}). {NO_DEVICE}") from exc
    return [InputDevice(int(d["index"]), str(d["name"]), str(hostapis[d["hostapi"]]["name"]),
                        int(d["max_input_channels"]), float(d["default_samplerate"]),
                        int(d["index"]) == default_in)
            for d in devices if d["max_input_channels"] > 0]


def resolve_device(device: str | int | None, rescan: bool = False) -> InputDevice:
    """The device named (case-insensitive substring) or numbered by ``device``; ``None`` = the default input.

    ``rescan``: look at the devices present now (:func:`refresh_devices`) rather than PortAudio's start-up list.
    """
    if rescan:
        refresh_devices()
    devices = list_input_devices()
    if not devices:
        raise SerappError(NO_DEVICE)
    if device is None or device == "":
        return next((d for d in devices if d.is_default), devices[0])
    text = str(device).strip()
    if text.isdigit():
        match = [d for d in devices if d.index == int(text)]
    else:
        exact = [d for d in devices if d.name.lower() == text.lower()]
        match = exact or [d for d in devices if text.lower() in d.name.lower()]
    if len(match) == 1:
        return match[0]
    names = "; ".join(f"{d.index}: {d.name}" for d in devices)
    if not match:
        raise SerappError(f"No input device matches {text!r}. Input devices: {names}.")
    raise SerappError(f"{text!r} matches several input devices; give its index. Input devices: {names}.")


def _close(stream: Any) -> None:
    """Abort and close a PortAudio stream (``None``: nothing to do)."""
    if stream is None:
        return
    try:
        stream.abort()
        stream.close()
    except Exception:  # closing a stream whose device vanished may fail; it is gone either way
        pass


class MicrophoneSource(RingSource):
    """Live input from a PortAudio device at its native rate, mono (first channel).

    The stream callback only copies into the preallocated ring and counts overflows. A stream error or a
    vanished device puts the source in the ``error`` state (see :meth:`check`); :meth:`restart` reopens it,
    rescanning the devices first. ``rescan``: rescan before choosing the device (a retry after no device was
    found at all). ``stall_s``: how long without audio means the device is gone (None: :data:`STALL_S`).
    ``clock``: the monotonic seconds its stall and loss detection judge by (a test makes time jump with it).
    """

    def __init__(self, device: str | int | None = None, blocksize: int = 0, rescan: bool = False,
                 stall_s: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        # None is resolved here, not in the signature, so the default is read when a source is made.
        self.stall_s = STALL_S if stall_s is None else float(stall_s)
        self.device = resolve_device(device, rescan=rescan)
        # What to look for again after a failure: the name (an index may change when a device is re-plugged),
        # or None to follow the system default.
        self._wanted: str | None = None if device is None or device == "" else self.device.name
        super().__init__(self.device.name, round(self.device.default_samplerate), _RING_S, realtime=True)
        self.blocksize = blocksize
        self._stream: Any = None
        self.delivered = 0  # frames the stream's callbacks brought since the last start
        self.lost_frames = 0  # frames missing against the wall clock (a stalled process; see check())
        self._clock()

    def _clock(self) -> None:
        """Forget the worker's timing references (at each start)."""
        self._last_check = self.clock()
        self._judge_from = self._last_check  # silence before this moment says nothing about the device
        self._anchor: tuple[float, int] | None = None  # (monotonic s, delivered frames) once audio flows
        self._short_since: float | None = None  # since when the input falls short of the wall clock

    def _rebind(self) -> None:
        """Rescan devices and find ours again (PortAudio lists devices once, so a device unplugged and plugged
        back in is only seen after a rescan, possibly under another index or default rate)."""
        self.device = resolve_device(self._wanted, rescan=True)
        self.label = self.device.name
        rate = round(self.device.default_samplerate)
        if rate != self.sample_rate:
            self.sample_rate = rate
            self.ring = RingBuffer(round(_RING_S * rate))

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        # Audio thread: copy and count, nothing else (no allocation of audio-sized arrays, no locks, no I/O).
        if status.input_overflow:
            self._overflows += 1
        self.ring.write(indata[:, 0])
        self.delivered += frames
        self.last_arrival = self.clock()

    def _finished(self) -> None:
        if self._state == RunState.RUNNING:
            self.fail(f"The input stream from {self.label!r} stopped unexpectedly (device unplugged or taken "
                      "by another program). Retry, or choose another device with --device.")

    def start(self) -> None:
        """Open and start the stream. Raises :class:`SerappError` when the device cannot be opened."""
        if self._state == RunState.RUNNING:
            return
        sd = import_sounddevice()
        if self._state == RunState.ERROR:  # the retry after a failure: the device may have come back
            self.stop()
            self._rebind()
        self._reset_reading()
        self.delivered = 0
        self._clock()
        try:
            self._stream = sd.InputStream(device=self.device.index, channels=1, samplerate=self.sample_rate,
                                          dtype="float32", blocksize=self.blocksize, latency="low",
                                          callback=self._callback, finished_callback=self._finished)
            self._state = RunState.RUNNING
            self._stream.start()
        except Exception as exc:
            _close(self._stream)
            self._stream = None
            message = (f"Could not open input device {self.device.index} ({self.label}): {exc}. "
                       "Choose another with --device (see `serapp devices`).")
            self.fail(message)  # the error state makes the next start rescan the devices
            raise SerappError(message) from exc

    def stop(self) -> None:
        """Stop and close the stream (idempotent)."""
        stream, self._stream = self._stream, None
        if self._state != RunState.ERROR:
            self._state = RunState.STOPPED
        _close(stream)

    def check(self) -> None:
        """Detect a stalled or dead stream from the worker; sets the error state (does not raise).

        A stalled *process* (suspended, swapped out, starved) is told from a lost device by the worker's own
        timing: when this check has not run for a while, nobody could have received audio, so the device gets a
        fresh :attr:`stall_s` to deliver. Audio the device could not deliver meanwhile is counted as a dropped
        block (see :meth:`_count_shortfall`).
        """
        if self._state != RunState.RUNNING or self._stream is None:
            return
        now = self.clock()
        if now - self._last_check > self.stall_s / 2:  # the worker itself was not running: judge from now on
            self._judge_from = now
        self._last_check = now
        if not self._stream.active or now - max(self.last_arrival, self._judge_from) > self.stall_s:
            self.fail(f"No audio has arrived from {self.label!r} for {self.stall_s:.0f} s (device unplugged, "
                      "muted at system level, or taken by another program). Retry, or choose another device.")
            return
        self._count_shortfall(now)

    def _count_shortfall(self, now: float) -> None:
        """Compare the frames delivered with the wall clock since audio began to flow: a shortfall of at least
        :data:`_LOSS_S` that lasts while audio flows again is input lost (a frozen process whose device could
        not deliver; PortAudio does not always flag it as an overflow): one dropped block, ``lost_frames``."""
        if self._anchor is None:
            if self.delivered:
                self._anchor = (now, self.delivered)
            return
        since, frames = self._anchor
        short = (now - since) * self.sample_rate - (self.delivered - frames)
        if short < _LOSS_S * self.sample_rate:
            self._short_since = None
            if now - since > _ANCHOR_S:
                self._anchor = (now, self.delivered)
            return
        if self._short_since is None:
            self._short_since = now
        elif now - self._short_since >= _LOSS_S and now - self.last_arrival < _LOSS_S:
            self._overflows += 1
            self.lost_frames += round(short)
            self._anchor, self._short_since = (now, self.delivered), None
