"""Playback of an analysed file with a moving cursor, pause, resume and seek. Sound goes out through PortAudio
when an output device exists; the cursor runs on a timer either way (so it also works, silently, on machines
without a sound card).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QElapsedTimer, QObject, QTimer, Signal

from serapp.engine import audio
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
        self._samples: np.ndarray | None = None  # the decoded file, kept for resume and seek
        self._rate = 16000
        self._sd = None

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
        self._samples = audio.load(path, sample_rate) if self.can_play_sound else None
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
        if self._samples is not None:
            self._sd = import_sounddevice()
            self._sd.play(self._samples[round(self._offset_s * self._rate):], self._rate)
        self._paused = False
        self._clock.start()
        self._timer.start()
        self.position.emit(self._offset_s)
        self.state_changed.emit()

    def _halt_sound(self) -> None:
        if self._sd is not None:
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
