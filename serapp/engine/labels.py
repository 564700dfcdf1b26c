"""The canonical emotion labels shared by every corpus loader, model and view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
SILENCE = "silence"

# Words the engine and the views use for "no emotion": a model label spelled like one of these would be
# indistinguishable from silence in the timeline, the exports and the display. Compared case-insensitively,
# with spaces, hyphens and underscores alike.
RESERVED_WORDS: tuple[str, ...] = (SILENCE, "no speech", "speech", "listening", "pause")


def reserved_collision(labels: tuple[str, ...] | list[str]) -> str | None:
    """The first label that collides with a reserved word (see :data:`RESERVED_WORDS`), or ``None``."""
    def norm(text: str) -> str:
        return " ".join(text.replace("_", " ").replace("-", " ").lower().split())

    reserved = {norm(w) for w in RESERVED_WORDS}
    return next((label for label in labels if norm(label) in reserved), None)


def top_label(probs: Any, labels: Sequence[str]) -> str:
    """The label of the largest of ``probs`` ``(n_labels,)`` (an array or sequence), or ``"silence"`` for
    ``None``: *the* rule for a shown emotion, used by windows, utterances, summaries and their exports."""
    return SILENCE if probs is None else labels[int(np.argmax(probs))]
