"""Bootstrap intervals of shares counted in groups (the live replay's updates, grouped by utterance)."""

from __future__ import annotations

import numpy as np
import pytest
from serapp_train.metrics import paired_difference_interval, share_interval

from serapp.errors import SerappError


def test_the_interval_holds_the_share_and_narrows_with_more_groups() -> None:
    rng = np.random.default_rng(1)
    widths = []
    for groups in (20, 320):
        n = rng.integers(4, 12, groups)
        right = rng.binomial(n, rng.uniform(0.2, 0.8, groups))  # utterances differ: some easy, some hard
        counts = np.stack([n, right], axis=1)
        low, high = share_interval(counts)
        assert low < right.sum() / n.sum() < high
        widths.append(high - low)
    assert widths[1] < widths[0] / 2  # sixteen times the utterances: about a quarter of the width
    assert share_interval(np.array([[5, 5], [5, 5]])) == (1.0, 1.0)  # nothing varies: no width


def test_groups_are_resampled_whole() -> None:
    # Half the utterances all right, half all wrong: 50 %. Updates counted as independent trials would give a
    # narrow interval; whole utterances resampled give the honest, wide one.
    counts = np.array([[10, 10], [10, 0]] * 10)
    low, high = share_interval(counts)
    assert high - low > 0.3


def test_a_paired_difference_cancels_what_both_find_hard() -> None:
    rng = np.random.default_rng(2)
    n = np.full(60, 10)
    hard = rng.integers(0, 11, 60)  # how many each utterance gets right varies widely...
    a = np.stack([n, hard], axis=1)
    b = np.stack([n, np.minimum(hard + 1, 10)], axis=1)  # ...and the second model gets one more nearly everywhere
    low, high = paired_difference_interval(a, b)
    assert 0.0 < low <= high < 0.15
    alone = share_interval(b)[0] - share_interval(a)[1]
    assert alone < 0  # unpaired intervals overlap: they could not tell the two apart
    with pytest.raises(SerappError, match="same groups"):
        paired_difference_interval(a, b[:-1])
    with pytest.raises(SerappError, match="at least one group"):
        share_interval(np.zeros((0, 2)))
