"""Speaker adaptation variants: what each one subtracts, and which clips a user of it would get answers for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from serapp_train.corpora import Clip
from serapp_train.whisper.adaptation import adapt, evaluate_variants

from serapp.errors import SerappError


def _clips() -> list[Clip]:
    # two speakers, clips named so that file order is known; speaker b's second clip is its first neutral one
    spec = [("a", "0", "neutral"), ("a", "1", "angry"), ("a", "2", "neutral"), ("a", "3", "sad"),
            ("b", "0", "happy"), ("b", "1", "neutral"), ("b", "2", "sad")]
    return [Clip(path=Path(f"/c/{s}/{n}.ogg"), corpus="c", label=label, speaker=f"c:{s}", sex=None, raw_label=label)
            for s, n, label in spec]


X = np.array([[1.0], [5.0], [3.0], [7.0], [10.0], [20.0], [30.0]])


def test_enrolment_subtracts_the_first_neutral_clips_and_never_scores_them() -> None:
    rows = np.arange(7)
    out, scored = adapt(X, _clips(), rows, "enrol-2")
    np.testing.assert_allclose(out[:4, 0], [-1.0, 3.0, 1.0, 5.0])  # speaker a: mean of clips 0 and 2 is 2
    np.testing.assert_allclose(out[4:, 0], [-10.0, 0.0, 10.0])  # speaker b has one neutral clip: 20
    assert scored.tolist() == [False, True, False, True, True, False, True]


def test_running_uses_the_first_clips_whatever_their_emotion() -> None:
    out, scored = adapt(X, _clips(), np.arange(7), "running-1")
    np.testing.assert_allclose(out[:, 0], [0.0, 4.0, 2.0, 6.0, 0.0, 10.0, 20.0])
    assert scored.tolist() == [False, True, True, True, False, True, True]


def test_transductive_standardises_with_every_clip_and_none_changes_nothing() -> None:
    out, scored = adapt(X, _clips(), np.arange(7), "transductive")
    for part in (slice(0, 4), slice(4, 7)):
        assert abs(out[part].mean()) < 1e-9 and out[part].std() == pytest.approx(1.0)
    assert scored.all()
    same, scored = adapt(X, _clips(), np.arange(7), "none")
    np.testing.assert_array_equal(same, X)
    assert scored.all()
    with pytest.raises(SerappError, match="Unknown adaptation"):
        adapt(X, _clips(), np.arange(7), "magic-3")


def test_every_variant_is_scored_on_the_same_clips() -> None:
    rng = np.random.default_rng(0)
    clips = [Clip(path=Path(f"/c/{s}/{i:02d}.ogg"), corpus="c", label=("neutral", "angry")[i % 2],
                  speaker=f"c:{s}", sex=None, raw_label="x") for s in "abcd" for i in range(12)]
    y = np.array([i % 2 for _ in "abcd" for i in range(12)])
    x = rng.normal(size=(48, 3)) + y[:, None] * 2.0
    results = evaluate_variants(x, y, clips, np.arange(24), np.arange(24, 48), ["none", "enrol-2", "running-3"])
    assert {r["n"] for r in results.values()} == {24 - 2 * 3}  # per test speaker: running-3's warm-up clips, a
    assert all(0.5 < r["all"] <= 1.0 for r in results.values())  # superset of enrol-2's (clips 0 and 2)
