"""Playback of an analysed file with a moving cursor, pause, resume and seek. Sound goes out through PortAudio
when an output device exists; the cursor runs on a timer either way (so it also works, silently, on machines
without a sound card).

The file plays as it is: at its own sample rate and channel count, decoded block by block from the original file
in PortAudio's callback (never the whole file in memory). When the output refuses that format, it plays the 16 kHz
mono analysis copy instead and :attr:`Player.fallback` says why.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import soundfile as sf
from PySide6.QtCore import QElapsedTimer, QObject, QTimer, Signal

from serapp.engine import audio, capture
from serapp.engine.capture import import_sounddevice
from serapp.errors import SerappError

CURSOR_MS = 33


def output_unavailable_reason() -> str:
    """"" when sound can be played, else a plain reason (no PortAudio, no output device)."""
    try:
        sd = import_sounddevice()
        devices = sd.query_devices()
    except SerappError as exc:
        return str(exc)
    except Exception as exc:  # PortAudioError when the audio system cannot be queried
        return f"The audio system could not be queried ({exc})."
    if not any(d["max_output_channels"] > 0 for d in devices):
        return "No audio output device was found, so playback is off (the cursor still runs)."
    return ""


class _FileSource:
    """The original file, read block by block into PortAudio's output buffer (called on PortAudio's thread)."""

    def __init__(self, path: Path, start_frame: int) -> None:
        self.file = sf.SoundFile(audio.open_regular(path), closefd=True)
        self.file.seek(min(max(0, start_frame), self.file.frames))

    def callback(self, outdata: np.ndarray, frames: int, _time: Any, _status: Any) -> None:
        """Fill ``outdata`` (shape ``(frames, channels)``, float32) with the next frames; silence past the end or
        after a decoding error (the cursor's timer ends the playback at the file's length)."""
        try:
            got = len(self.file.read(frames, dtype="float32", always_2d=True, out=outdata))
        except Exception:  # a file damaged past the analysed part: silence rather than a dead audio thread
            got = 0
        outdata[got:] = 0.0


class Player(QObject):
    """Plays one file with pause, resume and seek, and reports the position (s) ~30 times a second."""

    position = Signal(float)
    finished = Signal()  # stopped, or played to the end (not on pause)
    state_changed = Signal()  # playing, paused or stopped

    def __init__(self, parent: QObject | None = None, with_sound: bool | None = None) -> None:
        super().__init__(parent)
        self.unavailable = "" if with_sound else output_unavailable_reason() if with_sound is None else "sound off"
        self._clock = QElapsedTimer()
        self._timer = QTimer(self)
        self._timer.setInterval(CURSOR_MS)
        self._timer.timeout.connect(self._tick)
        self._duration = 0.0
        self._offset_s = 0.0  # position when the clock (re)started, or where a pause or seek left it
        self._paused = False
        self._path: Path | None = None
        self._info: audio.AudioInfo | None = None  # the file's own format, played as it is
        self._samples: np.ndarray | None = None  # the 16 kHz mono copy, only when the output refuses the format
        self._rate = 16000
        self._sd: ModuleType | None = None
        self._stream: Any = None  # the OutputStream of the original file
        self._source: _FileSource | None = None
        self.fallback = ""  # why the file plays as the 16 kHz mono copy ("" when it plays as it is)

    @property
    def can_play_sound(self) -> bool:
        return not self.unavailable

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def duration_s(self) -> float:
        return self._duration

    @property
    def position_s(self) -> float:
        """Where the playback is (s): moving while playing, held while paused."""
        if self.playing:
            return min(self._duration, self._offset_s + self._clock.elapsed() / 1000.0)
        return self._offset_s

    def play(self, path: str | Path, duration_s: float, sample_rate: int = 16000, start_s: float = 0.0) -> None:
        """Play from ``start_s``; sound too when possible. Raises :class:`SerappError` if the file cannot be
        decoded."""
        self.stop()
        self._path = Path(path)
        self._info = audio.probe(path) if self.can_play_sound else None
        self._samples = None
        self.fallback = ""
        self._rate = sample_rate
        self._duration = float(duration_s)
        self._offset_s = min(max(0.0, float(start_s)), self._duration)
        self._run()

    def pause(self) -> None:
        """Hold the playback where it is (:meth:`resume` goes on from there)."""
        if not self.playing:
            return
        self._offset_s = self.position_s
        self._halt_sound()
        self._timer.stop()
        self._paused = True
        self.position.emit(self._offset_s)
        self.state_changed.emit()

    def resume(self) -> None:
        if self._paused:
            self._run()

    def seek(self, t_s: float) -> None:
        """Move to ``t_s`` seconds: a playback goes on from there, a paused one waits there."""
        self._offset_s = min(max(0.0, float(t_s)), self._duration)
        if self.playing:
            self._run()
        else:
            self.position.emit(self._offset_s)

    def stop(self) -> None:
        self._halt_sound()
        was = self.playing or self._paused
        self._paused = False
        if self._timer.isActive():
            self._timer.stop()
        if was:
            self.finished.emit()
            self.state_changed.emit()

    def _run(self) -> None:
        """(Re)start sound and clock at :attr:`_offset_s`."""
        self._halt_sound()
        if self._info is not None:
            self._start_sound()
        self._paused = False
        self._clock.start()
        self._timer.start()
        self.position.emit(self._offset_s)
        self.state_changed.emit()

    def _start_sound(self) -> None:
        """Sound from :attr:`_offset_s`: the file as it is, or the 16 kHz mono copy if the output refuses it."""
        assert self._info is not None and self._path is not None
        sd = import_sounddevice()
        if self._samples is None:
            try:
                self._open_native(sd, self._info)
                return
            except SerappError:
                raise
            except Exception as exc:  # PortAudioError or ValueError: this output cannot take the format
                self._close_native(sd)
                self.fallback = (f"This output cannot play {self._info.sample_rate / 1000:g} kHz "
                                 f"{_channels(self._info.channels)} sound ({exc}), so the file plays at 16 kHz mono.")
                self._samples = audio.load(self._path, self._rate)
        self._sd = sd
        sd.play(self._samples[round(self._offset_s * self._rate):], self._rate)

    def _open_native(self, sd: ModuleType, info: audio.AudioInfo) -> None:
        self._source = _FileSource(info.path, round(self._offset_s * info.sample_rate))
        self._stream = sd.OutputStream(samplerate=info.sample_rate, channels=info.channels, dtype="float32",
                                       callback=self._source.callback)
        self._stream.start()
        self._sd = sd
        capture.register_playback(self._stream)  # a device rescan must not re-initialise PortAudio under it

    def _close_native(self, sd: ModuleType) -> None:
        if self._stream is not None:
            capture.unregister_playback(self._stream)
            try:
                self._stream.stop()
                self._stream.close()  # waits for the callback to return, so the file can be closed after it
            except Exception:  # PortAudio re-initialised under it (the stream is gone already)
                pass
            self._stream = None
        if self._source is not None:
            self._source.file.close()
            self._source = None

    def _halt_sound(self) -> None:
        if self._sd is not None:
            if self._stream is not None:
                self._close_native(self._sd)
            else:
                self._sd.stop()
            self._sd = None

    def _tick(self) -> None:
        t = self.position_s
        if t >= self._duration:
            self._offset_s = 0.0  # the next Play starts from the beginning
            self.position.emit(self._duration)
            self.stop()
        else:
            self.position.emit(t)


def _channels(n: int) -> str:
    return {1: "mono", 2: "stereo"}.get(n, f"{n}-channel")
