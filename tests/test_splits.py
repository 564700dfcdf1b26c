"""Evaluation protocols: no speaker on both sides of any split, determinism, sane stratification."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from serapp_train import splits as S
from serapp_train.corpora import Clip, scan

from serapp.engine.labels import EMOTIONS
from serapp.errors import SerappError


@pytest.fixture(scope="module")
def clips(corpora: Path) -> list[Clip]:
    return scan(corpora)


def speakers_of(clips: list[Clip], idx: np.ndarray) -> set[str]:
    return {clips[i].speaker for i in idx}


def assert_partition(clips: list[Clip], split: S.Split) -> None:
    """Train, val and test are disjoint, cover the clips, and share no speaker (when speaker-independent)."""
    parts = [split.train, split.val, split.test]
    assert sum(len(p) for p in parts) == len(clips)
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(len(clips)))
    assert len(split.train) > 0 and len(split.test) > 0
    if split.speaker_independent:
        train, val, test = (speakers_of(clips, p) for p in parts)
        assert train & test == set()
        assert val & test == set()
        assert train & val == set()


@pytest.mark.corpora
@pytest.mark.parametrize("protocol", ["kfold", "holdout", "loco"])
def test_real_protocols_have_no_speaker_leak(clips: list[Clip], protocol: str) -> None:
    result = S.make_splits(protocol, clips, seed=3)
    for split in result:
        assert_partition(clips, split)
        assert split.speaker_independent and "speaker-dependent" not in split.name
        assert len(split.val) > 0
    tested = [speakers_of(clips, s.test) for s in result]
    if protocol == "kfold":  # every speaker tested exactly once
        assert sum(len(t) for t in tested) == len({c.speaker for c in clips}) == len(set().union(*tested))
    if protocol == "loco":
        assert sorted({clips[i].corpus for s in result for i in s.test}) == ["crema-d", "ravdess", "savee", "tess"]
        assert all(len({clips[i].corpus for i in s.test}) == 1 for s in result)


@pytest.mark.corpora
def test_real_corpus_kfold_tests_every_corpus_in_its_own_folds(clips: list[Clip]) -> None:
    result = S.make_splits("corpus-kfold", clips, k=4, seed=0)
    assert [s.name for s in result] == [f"speaker-kfold-by-corpus-{i}of4" for i in range(1, 5)]
    tested: list[set[str]] = []
    for split in result:
        assert_partition(clips, split)
        assert len(split.val) > 0
        tested.append(speakers_of(clips, split.test))
    # Every speaker tested exactly once.
    assert sum(len(t) for t in tested) == len({c.speaker for c in clips}) == len(set().union(*tested))
    per_fold = [Counter(s.split(":")[0] for s in t) for t in tested]
    assert [f["savee"] for f in per_fold] == [1, 1, 1, 1]  # leave one speaker out
    assert [f["ravdess"] for f in per_fold] == [6, 6, 6, 6]  # folds by actor
    assert all(19 <= f["crema-d"] <= 22 for f in per_fold)
    assert [f["tess"] for f in per_fold] == [1, 1, 0, 0]  # two speakers: one fold each


@pytest.mark.corpora
def test_real_holdout_represents_each_corpus_and_stratifies(clips: list[Clip]) -> None:
    split = S.speaker_holdout(clips, 0.2, seed=0)
    test_corpora = Counter(clips[i].corpus for i in split.test)
    assert set(test_corpora) == {"crema-d", "ravdess", "savee", "tess"}
    # TESS has 2 speakers: one is held out; CREMA-D's 81 give about a fifth.
    assert test_corpora["tess"] == 1400
    assert 0.15 < test_corpora["crema-d"] / 6622 < 0.25
    share = Counter(clips[i].label for i in split.test)
    overall = Counter(c.label for c in clips)
    for label in EMOTIONS:  # class shares in the test set within 5 points of the whole
        assert abs(share[label] / len(split.test) - overall[label] / len(clips)) < 0.05


@pytest.mark.corpora
def test_random_split_is_labelled_speaker_dependent(clips: list[Clip]) -> None:
    split = S.make_splits("random", clips, seed=1)[0]
    assert_partition(clips, split)
    assert not split.speaker_independent and "speaker-dependent" in split.name
    assert speakers_of(clips, split.train) & speakers_of(clips, split.test)  # it does mix speakers


def synthetic(draw: st.DrawFn) -> list[Clip]:
    """Random clip lists: 1-4 corpora with 1-12 speakers each, 1-15 clips per speaker, random labels."""
    out = []
    for c in range(draw(st.integers(1, 4))):
        for s in range(draw(st.integers(1, 12))):
            labels = draw(st.lists(st.sampled_from(EMOTIONS), min_size=1, max_size=15))
            out += [Clip(Path(f"/x/{c}/{s}/{i}.wav"), f"corpus{c}", label, f"corpus{c}:{s}", None, label)
                    for i, label in enumerate(labels)]
    return out


clip_lists = st.composite(synthetic)()


@settings(max_examples=40, deadline=None)
@given(clip_lists, st.integers(0, 2**16), st.sampled_from(["kfold", "corpus-kfold", "holdout", "loco"]))
def test_no_speaker_leak_on_random_clip_lists(clips: list[Clip], seed: int, protocol: str) -> None:
    try:
        result = S.make_splits(protocol, clips, k=3, seed=seed)
    except SerappError:  # too few speakers or corpora for this protocol: a plain refusal is correct
        n_speakers = len({c.speaker for c in clips})
        n_corpora = len({c.corpus for c in clips})
        most = max(len({c.speaker for c in clips if c.corpus == k}) for k in {c.corpus for c in clips})
        assert (protocol == "kfold" and n_speakers < 3) or (protocol == "loco" and n_corpora < 2) \
            or (protocol == "corpus-kfold" and most < 3) \
            or (protocol == "holdout" and all(
                len({c.speaker for c in clips if c.corpus == k}) < 2 for k in {c.corpus for c in clips}))
        return
    for split in result:
        assert_partition(clips, split)


@settings(max_examples=15, deadline=None)
@given(clip_lists, st.integers(0, 2**16))
def test_splits_are_deterministic(clips: list[Clip], seed: int) -> None:
    for protocol in ["kfold", "corpus-kfold", "holdout", "loco", "random"]:
        try:
            first = S.make_splits(protocol, clips, k=2, seed=seed)
        except SerappError:
            continue
        again = S.make_splits(protocol, clips, k=2, seed=seed)
        for a, b in zip(first, again, strict=True):
            assert a.name == b.name
            for part in ("train", "val", "test"):
                assert np.array_equal(getattr(a, part), getattr(b, part))


def test_refusals_are_plain() -> None:
    two = [Clip(Path(f"/x/{s}.wav"), "tess", "sad", f"tess:{s}", "female", "sad") for s in ("A", "B")]
    with pytest.raises(SerappError, match="at least 5 speakers"):
        S.speaker_kfold(two, 5)
    with pytest.raises(SerappError, match="a corpus with at least 3 speakers"):
        S.speaker_kfold_by_corpus(two, 3)
    with pytest.raises(SerappError, match="at least 2 corpora"):
        S.leave_one_corpus_out(two)
    with pytest.raises(SerappError, match="Unknown split protocol"):
        S.make_splits("speakers", two)
    with pytest.raises(SerappError, match="test_fraction"):
        S.speaker_holdout(two, 1.5)
    # Two speakers: the holdout tests one and trains on the other, with no validation speakers left.
    split = S.speaker_holdout(two, 0.2)
    assert len(split.train) == len(split.test) == 1 and len(split.val) == 0


def test_split_seed_keeps_the_speakers_while_the_seed_changes(clips: list[Clip]) -> None:
    from serapp_train.config import TrainConfig
    from serapp_train.data import choose_split

    def parts(**seeds: int) -> list[set[str]]:
        split = choose_split(clips, TrainConfig(protocol="speaker-holdout", **seeds))
        return [speakers_of(clips, idx) for idx in (split.train, split.val, split.test)]

    assert parts(seed=1, split_seed=0) == parts(seed=0)
    assert parts(seed=1) != parts(seed=0)  # without it, the seed draws other speakers
