"""Evaluation protocols: which clips train, which validate (early stopping) and which test.

Speaker-independent by default: no speaker's clips are ever on both sides of a split, and validation speakers
are drawn from the *training* speakers only. Every function is deterministic given ``seed`` and returns
indices into the clip list it was given (keep that list's order, e.g. as :func:`serapp_train.corpora.scan` sorts it).

Corpora with few speakers (TESS 2, SAVEE 4):
  - :func:`speaker_kfold` groups over all speakers jointly, so a fold's test set may hold no clip of such a
    corpus (and a TESS speaker's 1,400 clips land in one fold). It needs at least ``k`` speakers in total.
  - :func:`speaker_kfold_by_corpus` splits each corpus's speakers into its own ``k`` folds (fewer when it has
    fewer speakers), so every corpus is tested in every fold it can be: with ``k = 4`` SAVEE is
    leave-one-speaker-out, RAVDESS is 4 folds of 6 actors, every CREMA-D actor is tested once, unseen, and
    TESS's two speakers are tested in folds 1 and 2.
  - :func:`speaker_holdout` and validation draw speakers corpus by corpus, so each corpus with enough speakers
    is represented: a corpus gives at least one held-out speaker when it has at least 2 speakers (test) or
    3 speakers (validation, so that 2 stay for training); a one-speaker corpus stays wholly on the training side.
    TESS therefore gives 1 of its 2 speakers (half its clips) to the holdout test set.
  - A random split (:func:`random_split_speaker_dependent`) mixes speakers; it is an explicit opt-in and its
    name says "speaker-dependent".
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold, train_test_split

from serapp.errors import SerappError

from .corpora import Clip

PROTOCOLS: tuple[str, ...] = ("kfold", "corpus-kfold", "holdout", "loco", "random")
# Corpora need this many speakers before they give any to the test / validation side.
_MIN_SPEAKERS_TEST = 2
_MIN_SPEAKERS_VAL = 3


def _empty() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class Split:
    """One train/validation/test partition: int64 index arrays into the clip list, disjoint and sorted."""

    name: str
    train: np.ndarray
    test: np.ndarray
    val: np.ndarray = field(default_factory=_empty)
    speaker_independent: bool = True

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def _arrays(clips: Sequence[Clip]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, speakers and corpora as object arrays, shape ``(n_clips,)``."""
    if len(clips) == 0:
        raise SerappError("No clips to split.")
    labels = np.array([c.label for c in clips], dtype=object)
    speakers = np.array([c.speaker for c in clips], dtype=object)
    corpora = np.array([c.corpus for c in clips], dtype=object)
    return labels, speakers, corpora


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise SerappError(f"{name} must be between 0 and 1 (exclusive), got {value}.")


def _group_fold(idx: np.ndarray, labels: np.ndarray, speakers: np.ndarray, n_splits: int,
                seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """StratifiedGroupKFold over ``idx`` (groups = speakers): ``(train, test)`` index pairs into the clip list."""
    sgkf = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # "The least populated class has only N members": expected with few speakers; groups win over strata.
        warnings.simplefilter("ignore", UserWarning)
        try:
            folds = list(sgkf.split(idx, labels[idx], speakers[idx]))
        except ValueError:  # every class has fewer clips than folds: no strata possible, group only
            gkf = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
            folds = list(gkf.split(idx, labels[idx], speakers[idx]))
    return [(np.sort(idx[tr]), np.sort(idx[te])) for tr, te in folds]


def _hold_out_speakers(idx: np.ndarray, clips_arrays: tuple[np.ndarray, np.ndarray, np.ndarray], fraction: float,
                       seed: int, min_speakers: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``idx`` by speaker, corpus by corpus: about ``fraction`` of each corpus's speakers are held out.

    Within a corpus the held-out speakers are chosen by StratifiedGroupKFold (label balance as far as whole
    speakers allow). Corpora with fewer than ``min_speakers`` speakers keep all theirs. Returns
    ``(kept, held_out)`` sorted index arrays.
    """
    labels, speakers, corpora = clips_arrays
    held: list[np.ndarray] = []
    for corpus in sorted(set(corpora[idx])):
        part = idx[corpora[idx] == corpus]
        n_speakers = len(set(speakers[part]))
        if n_speakers < min_speakers:
            continue
        n_splits = min(max(2, round(1.0 / fraction)), n_speakers)
        held.append(_group_fold(part, labels, speakers, n_splits, seed)[0][1])
    held_out = np.sort(np.concatenate(held)) if held else _empty()
    return np.setdiff1d(idx, held_out), held_out


def _with_validation(name: str, clips_arrays: tuple[np.ndarray, np.ndarray, np.ndarray], train: np.ndarray,
                     test: np.ndarray, val_fraction: float, seed: int) -> Split:
    """A speaker-independent Split whose validation speakers come from ``train``'s speakers (0 = no val)."""
    if val_fraction <= 0:
        return Split(name, train.astype(np.int64), test.astype(np.int64))
    _check_fraction("val_fraction", val_fraction)
    kept, val = _hold_out_speakers(train, clips_arrays, val_fraction, seed, _MIN_SPEAKERS_VAL)
    return Split(name, kept.astype(np.int64), test.astype(np.int64), val.astype(np.int64))


def speaker_kfold(clips: Sequence[Clip], k: int = 5, *, seed: int = 0, val_fraction: float = 0.1) -> list[Split]:
    """Speaker-independent k-fold: StratifiedGroupKFold with groups = speaker, over all corpora jointly.

    Every speaker is tested in exactly one fold. Needs at least ``k`` speakers in total. Each fold's
    validation set takes about ``val_fraction`` of its training speakers (0 for none).
    """
    arrays = _arrays(clips)
    n_speakers = len(set(arrays[1]))
    if k < 2:
        raise SerappError(f"k-fold needs k >= 2, got {k}.")
    if n_speakers < k:
        raise SerappError(f"{k}-fold speaker-independent splits need at least {k} speakers; these clips have "
                          f"{n_speakers}. Lower k or use the holdout protocol.")
    idx = np.arange(len(clips))
    return [_with_validation(f"speaker-kfold-{i + 1}of{k}", arrays, tr, te, val_fraction, seed)
            for i, (tr, te) in enumerate(_group_fold(idx, arrays[0], arrays[1], k, seed))]


def speaker_kfold_by_corpus(clips: Sequence[Clip], k: int = 4, *, seed: int = 0,
                            val_fraction: float = 0.1) -> list[Split]:
    """Speaker-independent k-fold drawn corpus by corpus: fold ``i`` tests the ``i``-th speaker group of *every*
    corpus (StratifiedGroupKFold within each corpus), so per-corpus figures pool over all ``k`` folds.

    A corpus with fewer than ``k`` speakers (but at least 2) has one fold per speaker, tested in the first
    folds; a one-speaker corpus always trains. Every speaker is tested exactly once. Needs a corpus with
    ``k`` speakers, so that no fold is empty.
    """
    if k < 2:
        raise SerappError(f"k-fold needs k >= 2, got {k}.")
    arrays = _arrays(clips)
    labels, speakers, corpora = arrays
    idx = np.arange(len(clips))
    tests: list[list[np.ndarray]] = [[] for _ in range(k)]
    for corpus in sorted(set(corpora)):
        part = idx[corpora == corpus]
        n_speakers = len(set(speakers[part]))
        if n_speakers < _MIN_SPEAKERS_TEST:
            continue
        for i, (_, test) in enumerate(_group_fold(part, labels, speakers, min(k, n_speakers), seed)):
            tests[i].append(test)
    if not tests[-1]:
        raise SerappError(f"{k}-fold per-corpus splits need a corpus with at least {k} speakers; these clips have "
                          f"at most {max(len(set(speakers[corpora == c])) for c in set(corpora))}. Lower k.")
    folds = [np.sort(np.concatenate(parts)) for parts in tests]
    return [_with_validation(f"speaker-kfold-by-corpus-{i + 1}of{k}", arrays, np.setdiff1d(idx, test), test,
                             val_fraction, seed) for i, test in enumerate(folds)]


def speaker_holdout(clips: Sequence[Clip], test_fraction: float = 0.2, *, seed: int = 0,
                    val_fraction: float = 0.1) -> Split:
    """A fixed speaker holdout: about ``test_fraction`` of each corpus's speakers are test speakers.

    See the module notes for corpora with few speakers. Raises :class:`SerappError` when no corpus has the
    2 speakers needed to hold one out.
    """
    _check_fraction("test_fraction", test_fraction)
    arrays = _arrays(clips)
    train, test = _hold_out_speakers(np.arange(len(clips)), arrays, test_fraction, seed, _MIN_SPEAKERS_TEST)
    if test.size == 0:
        raise SerappError("A speaker holdout needs a corpus with at least 2 speakers.")
    return _with_validation("speaker-holdout", arrays, train, test, val_fraction, seed)


def leave_one_corpus_out(clips: Sequence[Clip], *, seed: int = 0, val_fraction: float = 0.1) -> list[Split]:
    """One split per corpus: test on that corpus, train (and validate) on all the others. Needs 2 corpora."""
    arrays = _arrays(clips)
    corpora = arrays[2]
    names = sorted(set(corpora))
    if len(names) < 2:
        raise SerappError(f"Leave-one-corpus-out needs at least 2 corpora; these clips come from {names[0]} only.")
    idx = np.arange(len(clips))
    return [_with_validation(f"leave-out-{name}", arrays, idx[corpora != name], idx[corpora == name],
                             val_fraction, seed) for name in names]


def random_split_speaker_dependent(clips: Sequence[Clip], test_fraction: float = 0.2, *, seed: int = 0,
                                   val_fraction: float = 0.1) -> Split:
    """Random clip-level split, stratified by label. **Speaker-dependent**: the same speakers train and test,
    so its scores overstate accuracy on new voices. Only for comparison with published random-split figures.
    """
    _check_fraction("test_fraction", test_fraction)
    labels = _arrays(clips)[0]
    idx = np.arange(len(clips))
    train, test = _stratified_random(idx, labels, test_fraction, seed)
    val = _empty()
    if val_fraction > 0:
        _check_fraction("val_fraction", val_fraction)
        train, val = _stratified_random(train, labels, val_fraction, seed)
    return Split("random-speaker-dependent", train, test, val, speaker_independent=False)


def _stratified_random(idx: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    """Random ``(kept, held_out)`` split of ``idx``, stratified by label where the class counts allow it."""
    for stratify in (labels[idx], None):  # too few clips of a class for strata: fall back to plain random
        try:
            a, b = train_test_split(idx, test_size=fraction, random_state=seed, shuffle=True, stratify=stratify)
        except ValueError:
            continue
        return np.sort(a).astype(np.int64), np.sort(b).astype(np.int64)
    raise SerappError(f"Too few clips ({len(idx)}) for a random split with fraction {fraction}.")


def make_splits(protocol: str, clips: Sequence[Clip], *, k: int = 5, test_fraction: float = 0.2, seed: int = 0,
                val_fraction: float = 0.1) -> list[Split]:
    """Splits for a protocol named in :data:`PROTOCOLS`: ``kfold``, ``corpus-kfold``, ``holdout``, ``loco`` or
    ``random``.

    ``random`` is the speaker-dependent opt-in; the others are speaker-independent.
    """
    if protocol == "kfold":
        return speaker_kfold(clips, k, seed=seed, val_fraction=val_fraction)
    if protocol == "corpus-kfold":
        return speaker_kfold_by_corpus(clips, k, seed=seed, val_fraction=val_fraction)
    if protocol == "holdout":
        return [speaker_holdout(clips, test_fraction, seed=seed, val_fraction=val_fraction)]
    if protocol == "loco":
        return leave_one_corpus_out(clips, seed=seed, val_fraction=val_fraction)
    if protocol == "random":
        return [random_split_speaker_dependent(clips, test_fraction, seed=seed, val_fraction=val_fraction)]
    raise SerappError(f"Unknown split protocol {protocol!r} (known: {', '.join(PROTOCOLS)}).")


def session_order(clips: Sequence[Clip], rows: np.ndarray, *, seed: int = 0) -> dict[str, list[int]]:
    """``rows`` grouped by speaker, each speaker's in a random order seeded by ``seed`` and the speaker: the order
    a session would play them in. (File order would not do: some corpora file their clips by emotion.)"""
    out: dict[str, list[int]] = {}
    for i in sorted(rows, key=lambda i: str(clips[i].path)):
        out.setdefault(clips[i].speaker, []).append(int(i))
    for speaker, order in out.items():
        rng = np.random.default_rng([seed, *speaker.encode("utf-8")])
        out[speaker] = [order[k] for k in rng.permutation(len(order))]
    return out
