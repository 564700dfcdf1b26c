"""Playback of an analysed file with a moving cursor. Sound goes out through PortAudio when an output device
exists; the cursor runs on a timer either way (so it also works, silently, on machines without a sound card).
"""

from __future__ import annotations

from pathlib import Path

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
    """Plays one file from the start and reports the position (s) ~30 times a second."""

    position = Signal(float)
    finished = Signal()

    def __init__(self, parent: QObject | None = None, with_sound: bool | None = None) -> None:
        super().__init__(parent)
        self.unavailable = "" if with_sound else output_unavailable_reason() if with_sound is None else "sound off"
        self._clock = QElapsedTimer()
        self._timer = QTimer(self)
        self._timer.setInterval(CURSOR_MS)
        self._timer.timeout.connect(self._tick)
        self._duration = 0.0
        self._sd = None

    @property
    def can_play_sound(self) -> bool:
        return not self.unavailable

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    def play(self, path: str | Path, duration_s: float, sample_rate: int = 16000) -> None:
        """Start from 0; sound too when possible. Raises :class:`SerappError` if the file cannot be decoded."""
        self.stop()
        if self.can_play_sound:
            self._sd = import_sounddevice()
            self._sd.play(audio.load(path, sample_rate), sample_rate)
        self._duration = float(duration_s)
        self._clock.start()
        self._timer.start()
        self.position.emit(0.0)

    def stop(self) -> None:
        if self._sd is not None:
            self._sd.stop()
            self._sd = None
        if self._timer.isActive():
            self._timer.stop()
            self.finished.emit()

    def _tick(self) -> None:
        t = self._clock.elapsed() / 1000.0
        if t >= self._duration:
            self.position.emit(self._duration)
            self.stop()
        else:
            self.position.emit(t)
