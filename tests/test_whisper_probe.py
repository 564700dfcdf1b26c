"""The linear probe's mechanics on the real corpora's clip lists (speakers, labels) with made-up embeddings: a layer
that carries the emotion scores high on unseen speakers, one that carries noise scores at chance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from serapp_train.corpora import scan
from serapp_train.whisper.probe import ALL_LAYERS, probe

from serapp.engine.labels import EMOTIONS
from serapp.errors import SerappError


def test_probe_scores_signal_high_and_noise_at_chance(corpora: Path) -> None:
    clips = scan(corpora, ["ravdess", "savee"])
    rng = np.random.default_rng(0)
    y = np.array([EMOTIONS.index(c.label) for c in clips])
    values = rng.normal(size=(len(clips), 2, 16)).astype(np.float32)
    values[:, 1, :7] += 5.0 * np.eye(7)[y]  # layer 1 carries the label, layer 0 only noise
    scores = probe(clips, values, layers=[0, 1, ALL_LAYERS], k=4)
    assert set(scores) == {"0", "1", "all"}
    assert set(scores["1"]) == {"ravdess", "savee", "all"}
    assert scores["1"]["ravdess"] > 0.9 and scores["1"]["savee"] > 0.9 and scores["all"]["all"] > 0.9
    assert scores["0"]["all"] < 0.25  # seven classes: chance is about 0.14
    with pytest.raises(SerappError, match="one \\(layers, d\\) embedding a clip"):
        probe(clips[:5], values, layers=[0])
