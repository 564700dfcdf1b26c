"""A stand-in for the `sounddevice` module (there is no sound card here) with fault injection.

It behaves like PortAudio where the engine relies on it: the device list is a snapshot taken at
initialisation (``_initialize``), streams call ``callback(indata, frames, time_info, status)`` from their own
thread with real audio, and call ``finished_callback`` when the stream dies. Faults: :meth:`FakeSoundDevice.
stream_error` (the stream aborts), :meth:`unplug` (the device goes silent and away), :meth:`plug` (it comes
back, possibly under another index and rate), :meth:`overflow` (status flags on the next callbacks) and
``mute`` (streams open and run but never call back, as a device that delivers nothing). Streams follow the clock:
a stream whose callbacks were held up (a frozen process) catches up on at most ``BACKLOG_S`` of audio; the rest
is lost without a flag, as PortAudio through PulseAudio loses it.
``play``/``stop``/``get_stream`` stand for sounddevice's playback, ``OutputStream`` for a callback stream (pulled
by the test with :meth:`FakeOutput.pull`; it refuses more than ``max_output_channels`` channels or a rate outside
``output_rates``); ``get_stream`` reads ``_last_callback.stream`` as the real library does. Re-initialising
PortAudio cuts playback off, as the real library does.
"""

from __future__ import annotations

import builtins
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from serapp.engine.resample import resample

AUDIO_RATE = 16000  # the rate of FakeSoundDevice.audio; streams play it at their own rate
BACKLOG_S = 1.0  # audio a device buffers while nobody takes it (s)


class PortAudioError(Exception):
    """What sounddevice raises for PortAudio failures."""


@dataclass
class FakeDevice:
    index: int
    name: str
    channels: int = 1
    rate: float = 16000.0

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name, "hostapi": 0, "max_input_channels": self.channels,
                "default_samplerate": self.rate}


class FakeSoundDevice:
    """Module-like object: install with ``monkeypatch.setitem(sys.modules, "sounddevice", fake)``.

    ``audio``: mono float32 at 16 kHz, fed in a loop (resampled to each stream's rate); ``block_s``: callback
    period.
    """

    def __init__(self, devices: list[FakeDevice], audio: np.ndarray, block_s: float = 0.02) -> None:
        self.plugged = list(devices)  # the real world
        self.audio = np.asarray(audio, dtype=np.float32)
        self.block_s = block_s
        self.PortAudioError = PortAudioError
        self.default = SimpleNamespace(device=[devices[0].index if devices else -1, -1])
        self.streams: list[FakeStream] = []
        self.pending_overflows = 0
        self.mute = False
        self.rescans = 0
        self._last_callback: Any = None  # what play() set last (sounddevice keeps its stream there too)
        self.max_output_channels = 2
        self.output_rates: set[int] | None = None  # rates an OutputStream accepts (None: any)
        self.opened_outputs: list[FakeOutput] = []  # every OutputStream opened, in order
        self._listed: list[FakeDevice] = []
        self._initialize()
        self.rescans = 0
        outer = self

        class InputStream(FakeStream):
            def __init__(self, **kwargs: Any) -> None:
                super().__init__(outer, **kwargs)

        self.InputStream = InputStream

        def output_stream(**kwargs: Any) -> FakeOutput:
            channels, rate = int(kwargs["channels"]), int(kwargs["samplerate"])
            if channels > outer.max_output_channels:
                raise PortAudioError("Error opening OutputStream: Invalid number of channels [PaErrorCode -9998]")
            if outer.output_rates is not None and rate not in outer.output_rates:
                raise PortAudioError("Error opening OutputStream: Invalid sample rate [PaErrorCode -9997]")
            out = FakeOutput(active=False, samplerate=rate, channels=channels, callback=kwargs.get("callback"))
            outer.opened_outputs.append(out)
            return out

        self.OutputStream = output_stream

    @property
    def output(self) -> FakeOutput | None:
        """The stream of the last play() (or whatever was published as sounddevice's current stream)."""
        return self._last_callback.stream if self._last_callback is not None else None

    # PortAudio's view: a snapshot of the devices at initialisation
    def _initialize(self) -> None:
        self._listed = list(self.plugged)
        self.rescans += 1

    def _terminate(self) -> None:
        self._listed = []
        for out in [*self.opened_outputs, *([self.output] if self.output is not None else [])]:
            if out.active:  # Pa_Terminate closes every open stream
                out.cut = True
                out.active = False

    # playback (sounddevice.play and friends): sound that lasts until stopped
    def play(self, data: np.ndarray, samplerate: float) -> None:
        self.stop()
        self._last_callback = SimpleNamespace(stream=FakeOutput(samplerate=int(samplerate)))

    def stop(self) -> None:
        if self.output is not None:
            self.output.active = False
            self.output.closed = True

    def get_stream(self) -> FakeOutput:
        if self.output is None:
            raise RuntimeError("play()/rec()/playrec() was not called yet")
        return self.output

    def query_devices(self) -> list[dict[str, Any]]:
        return [d.as_dict() for d in self._listed]

    def query_hostapis(self) -> list[dict[str, Any]]:
        return [{"name": "FakeAPI"}]

    # faults
    def live_stream(self) -> FakeStream:
        return next(s for s in reversed(self.streams) if s.active)

    def stream_error(self) -> None:
        """The running stream aborts (PortAudio error mid-run): its finished callback fires."""
        self.live_stream().die(silently=False)

    def unplug(self) -> None:
        """The device disappears: the stream just stops delivering (as with a yanked USB mic)."""
        stream = self.live_stream()
        self.plugged = [d for d in self.plugged if d.index != stream.device]
        stream.die(silently=True)

    def plug(self, device: FakeDevice) -> None:
        """A device appears (PortAudio sees it only after a rescan); it becomes the default input."""
        self.plugged.append(device)
        self.default.device = [device.index, -1]

    def overflow(self, n: int) -> None:
        """The next ``n`` callbacks carry the input-overflow flag."""
        self.pending_overflows += n

    def delivered(self) -> int:
        """Callbacks made by every stream so far."""
        return sum(s.calls for s in self.streams)


@dataclass
class FakeOutput:
    """A playback stream: ``cut`` when PortAudio was re-initialised while it played."""

    active: bool = True
    closed: bool = False
    cut: bool = False
    samplerate: int = 0
    channels: int = 1
    callback: Callable[..., None] | None = None

    def start(self) -> None:
        self.active = True

    def stop(self, ignore_errors: bool = True) -> None:
        self.active = False

    def close(self, ignore_errors: bool = True) -> None:
        self.active = False
        self.closed = True

    def pull(self, frames: int) -> np.ndarray:
        """What the device asks the callback for next: ``frames`` frames, shape ``(frames, channels)``."""
        assert self.callback is not None and self.active
        out = np.full((frames, self.channels), np.nan, dtype=np.float32)
        self.callback(out, frames, None, SimpleNamespace(output_underflow=False))
        return out


class FakeStream:
    """An input stream whose thread calls back with ``block_s`` blocks of the fake's audio in real time."""

    def __init__(self, fake: FakeSoundDevice, *, device: int, channels: int, samplerate: float,
                 callback: Callable[..., None], finished_callback: Callable[[], None] | None = None,
                 **_: Any) -> None:
        if not any(d.index == device for d in fake.plugged) or not any(d.index == device for d in fake._listed):
            raise PortAudioError(f"Error opening InputStream: Invalid device [PaErrorCode -9996] ({device})")
        self.fake, self.device, self.channels = fake, device, channels
        self.rate = int(samplerate)
        self.audio = resample(fake.audio, AUDIO_RATE, self.rate)
        self.callback, self.finished_callback = callback, finished_callback
        self.active = False
        self.closed = False
        self.calls = 0
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        fake.streams.append(self)

    def start(self) -> None:
        self.active = True
        self._thread.start()

    def _run(self) -> None:
        n = max(1, round(self.fake.block_s * self.rate))
        pos, sent, began = 0, 0, time.monotonic()
        while not self._halt.wait(self.fake.block_s):
            due = int((time.monotonic() - began) / self.fake.block_s)  # blocks the device's clock has made
            if due - sent > BACKLOG_S / self.fake.block_s:  # held up too long: the oldest audio is gone, unflagged
                skip = due - sent - round(BACKLOG_S / self.fake.block_s)
                sent, pos = sent + skip, pos + skip * n
            while sent < due and not self._halt.is_set():
                sent += 1
                idx = (pos + np.arange(n)) % self.audio.size
                pos += n
                if self.fake.mute:
                    continue
                block = np.repeat(self.audio[idx, None], self.channels, axis=1)
                overflow = self.fake.pending_overflows > 0
                self.fake.pending_overflows -= int(overflow)
                self.callback(block, n, None, SimpleNamespace(input_overflow=overflow))
                self.calls += 1

    def die(self, silently: bool) -> None:
        self._halt.set()
        if not silently:
            self.active = False
            if self.finished_callback is not None:
                self.finished_callback()

    def abort(self) -> None:
        """Stop now; like PortAudio, the finished callback fires for a stream that was running."""
        self._halt.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(1.0)
        if self.active:
            self.active = False
            if self.finished_callback is not None:
                self.finished_callback()

    def close(self) -> None:
        self.closed = True


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``condition`` every 20 ms until true or ``timeout`` seconds pass."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def hide_portaudio(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import sounddevice`` fail as it does without libportaudio2 (an ``OSError`` at import)."""
    real_import = builtins.__import__

    def fail_sounddevice(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(builtins, "__import__", fail_sounddevice)
