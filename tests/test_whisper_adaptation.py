"""Speaker adaptation variants: sessions in a seeded random order, what each variant subtracts, and which clips a
user of it would get answers for; the cross-validated part pools held-out speakers only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from serapp_train.corpora import Clip
from serapp_train.splits import session_order
from serapp_train.whisper.adaptation import adapt, crossvalidate_variants, evaluate_variants, render

from serapp.errors import SerappError


def _clips() -> list[Clip]:
    # two speakers; values below are 10 * speaker + position in file order, so the expected means can be read off
    spec = [("a", "0", "neutral"), ("a", "1", "angry"), ("a", "2", "neutral"), ("a", "3", "sad"),
            ("b", "0", "happy"), ("b", "1", "neutral"), ("b", "2", "sad")]
    return [Clip(path=Path(f"/c/{s}/{n}.ogg"), corpus="c", label=label, speaker=f"c:{s}", sex=None, raw_label=label)
            for s, n, label in spec]


X = np.array([[1.0], [5.0], [3.0], [7.0], [10.0], [20.0], [30.0]])


def test_a_session_is_each_speakers_clips_in_a_seeded_random_order() -> None:
    clips = [Clip(path=Path(f"/c/{s}/{i:02d}.ogg"), corpus="c", label="x", speaker=f"c:{s}", sex=None, raw_label="x")
             for s in "ab" for i in range(20)]
    rows = np.arange(40)
    one = session_order(clips, rows, seed=0)
    assert sorted(one) == ["c:a", "c:b"]
    assert sorted(one["c:a"]) == list(range(20)) and sorted(one["c:b"]) == list(range(20, 40))
    assert one["c:a"] != list(range(20))  # not file order: corpora that file clips by emotion would bias it
    assert session_order(clips, rows[::-1], seed=0) == one  # the order rows come in does not matter
    assert session_order(clips, rows, seed=1) != one


def test_enrolment_subtracts_the_sessions_first_neutral_clips_and_never_scores_them() -> None:
    clips, rows = _clips(), np.arange(7)
    out, scored = adapt(X, clips, rows, "enrol-1")
    for speaker, order in session_order(clips, rows).items():
        first_neutral = next(i for i in order if clips[i].label == "neutral")
        own = [i for i in rows if clips[i].speaker == speaker]
        np.testing.assert_allclose(out[own, 0], X[own, 0] - X[first_neutral, 0])
        assert [i for i in own if not scored[i]] == [first_neutral]


def test_running_uses_the_sessions_first_clips_whatever_their_emotion() -> None:
    clips, rows = _clips(), np.arange(7)
    out, scored = adapt(X, clips, rows, "running-2")
    for order in session_order(clips, rows).values():
        np.testing.assert_allclose(out[order, 0], X[order, 0] - X[order[:2], 0].mean())
        assert scored[order].tolist() == [False, False] + [True] * (len(order) - 2)


def test_transductive_standardises_with_every_clip_and_none_changes_nothing() -> None:
    out, scored = adapt(X, _clips(), np.arange(7), "transductive")
    for part in (slice(0, 4), slice(4, 7)):
        assert abs(out[part].mean()) < 1e-9 and out[part].std() == pytest.approx(1.0)
    assert scored.all()
    same, scored = adapt(X, _clips(), np.arange(7), "none")
    np.testing.assert_array_equal(same, X)
    assert scored.all()
    for bad in ("magic-3", "enrol", "running-x"):
        with pytest.raises(SerappError, match="Unknown adaptation"):
            adapt(X, _clips(), np.arange(7), bad)


def _separable(speakers: str, per_speaker: int = 12) -> tuple[list[Clip], np.ndarray, np.ndarray]:
    """Clips of ``speakers`` ("corpus:speaker ..."): two classes 2 apart on every feature, and a speaker offset
    (spread 5) that only adaptation removes."""
    rng = np.random.default_rng(0)
    pairs = [name.split(":") for name in speakers.split()]
    clips = [Clip(path=Path(f"/{c}/{s}/{i:02d}.ogg"), corpus=c, label=("neutral", "angry")[i % 2],
                  speaker=f"{c}:{s}", sex=None, raw_label="x") for c, s in pairs for i in range(per_speaker)]
    y = np.array([i % 2 for _ in pairs for i in range(per_speaker)])
    offsets = np.repeat(rng.normal(scale=5.0, size=(len(pairs), 3)), per_speaker, axis=0)
    return clips, y, rng.normal(size=(len(clips), 3)) + y[:, None] * 2.0 + offsets


def test_every_variant_is_scored_on_the_same_clips() -> None:
    clips, y, x = _separable("c:a c:b c:c c:d")
    results = evaluate_variants(x, y, clips, np.arange(24), np.arange(24, 48), ["none", "enrol-2", "running-3"])
    # per test speaker: running-3's three warm-up clips and enrol-2's two neutral clips, overlapping or not
    assert {r["n"] for r in results.values()} == {results["none"]["n"]}
    assert 24 - 2 * 5 <= results["none"]["n"] <= 24 - 2 * 3
    assert results["running-3"]["all"] > results["none"]["all"]  # the speaker offset is what running removes


def test_crossvalidation_scores_each_held_out_speaker_once_and_renders() -> None:
    clips, y, x = _separable("c:a c:b c:c c:d d:e d:f d:g d:h")
    rows = np.arange(len(clips))
    results = crossvalidate_variants(x, y, clips, rows, ["none", "transductive"], k=4)
    assert set(results) == {"none", "transductive"}
    assert results["none"]["n"] == len(clips)  # every speaker held out once, nothing warmed up
    assert set(results["none"]) == {"all", "n", "c", "d"}
    table = render({"command": "cmd", "seed": 0, "uar": {"cv": results}})
    assert "| transductive |" in table and "| variant | all | c | d |" in table


def test_training_subtracts_each_speakers_session_mean_and_scores_no_warm_up_clip() -> None:
    from serapp_train.data import adapt_speakers
    from serapp_train.splits import Split

    clips = _clips()
    kept = [*clips, clips[1], clips[4]]  # two augmented views after the clean clips: of a:1 and of b:0
    x = np.concatenate([X, [[50.0], [60.0]]])[:, None, :]  # (N, 1, 1), as pooled layers are (N, layers, width)
    split = Split("s", train=np.array([0, 1, 2, 3, 7, 8]), test=np.array([4, 5, 6]), val=np.array([0, 2]))
    out, new = adapt_speakers(kept, x, split, n_clean=7, clips=2, seed=0)
    order = session_order(clips, np.arange(7))
    for speaker, views in (("c:a", [7]), ("c:b", [8])):
        mean = X[order[speaker][:2], 0].mean()
        rows = [*order[speaker], *views]
        np.testing.assert_allclose(out[rows, 0, 0], x[rows, 0, 0] - mean)
    warm = set(order["c:a"][:2]) | set(order["c:b"][:2])
    assert not warm & set(new.test) and not warm & set(new.val)
    assert set(new.test) | set(new.val) == ({4, 5, 6} | {0, 2}) - warm
    np.testing.assert_array_equal(new.train, split.train)  # warm-up clips still train


def test_a_head_trained_on_adapted_embeddings_is_refused_for_export(tmp_path: Path) -> None:
    import json

    from serapp_train.config import TrainConfig
    from serapp_train.exporting import export_run
    from serapp_train.runfolder import MODEL_KERAS

    from tests.run_folders import make_run

    config = TrainConfig.from_json(json.dumps({"family": "whisper_tiny", "speaker_adaptation": 20}))
    run = make_run(tmp_path / "run", config=config, labels=["angry", "sad"], spec=config.feature_spec,
                   split={"test_speakers": ["c:a"]}, metrics={})
    (run.path / MODEL_KERAS).write_bytes(b"not reached")
    with pytest.raises(SerappError, match="speaker-adapted"):
        export_run(run.path)
    with pytest.raises(SerappError, match="speaker_adaptation must be >= 0"):
        TrainConfig.from_json(json.dumps({"family": "whisper_tiny", "speaker_adaptation": -1}))
    with pytest.raises(SerappError, match="speaker_adaptation is for encoder families"):
        TrainConfig.from_json(json.dumps({"family": "cnn2d", "speaker_adaptation": 5}))
