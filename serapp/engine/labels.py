"""The canonical emotion labels shared by every corpus loader, model and view."""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
SILENCE = "silence"
