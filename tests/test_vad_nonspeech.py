"""The engine's speech detection on non-speech and on real speech (issue 28, item 1), at a reduced size of
``benchmarks/bench_vad.py``'s set: every non-speech kind at -50/-30/-15 dBFS for 3 s, and the dozen sample
clips, each through :class:`~serapp.engine.utterances.SpeechTracker` at default settings in 32 ms blocks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from serapp.engine import audio
from serapp.engine.config import AnalyzerConfig
from serapp.engine.utterances import SpeechTracker
from serapp.engine.vad import SAMPLE_RATE
from tests.nonspeech import (
    Signal,
    audible,
    nonspeech_set,
    speech_windows,
    utterance_spans,
    voiced_centres,
    voiced_detected,
)

pytestmark = [pytest.mark.corpora, pytest.mark.slow]  # pYIN on a dozen clips and 2.5 min of audio: ~30 s

CONFIG = AnalyzerConfig()
HOP = round(CONFIG.hop_s * SAMPLE_RATE)
TARGET = 0.95


@pytest.fixture(scope="module")
def clips(sample_clips: list[Path]) -> list[np.ndarray]:
    return [audio.load(p, SAMPLE_RATE) for p in sample_clips]


@pytest.fixture(scope="module")
def calls(clips: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Per non-speech signal (babble from the sample clips): which hops the engine calls speech."""
    signals: list[Signal] = nonspeech_set(clips, seconds=3.0, seed=0)
    return {s.label: speech_windows(s.y.shape[0], utterance_spans(s.y, SpeechTracker(CONFIG)), HOP)
            for s in signals}


def _shares(calls: dict[str, np.ndarray]) -> str:
    return ", ".join(f"{k}: {w.mean():.0%}" for k, w in calls.items() if w.any()) or "none"


def test_the_set_is_what_it_claims(calls: dict[str, np.ndarray]) -> None:
    # 16 kinds at 3 levels and digital silence, 12 whole hops of 3 s each: a shrunken set would pass too easily.
    assert len(calls) == 16 * 3 + 1
    assert all(w.size == 12 for w in calls.values())


def test_every_kind_but_babble_is_no_speech(calls: dict[str, np.ndarray]) -> None:
    # Tones, hum, music, clicks, keyboard, fans, noise, DC and silence carry no voice at any level.
    failing = {k: w for k, w in calls.items() if not k.startswith("babble") and 1.0 - w.mean() < TARGET}
    assert not failing, f"non-speech called speech in more than 5 % of hops: {_shares(failing)}"


@pytest.mark.xfail(strict=True, reason="issue 28's target, not reached: babble of 8 reversed talkers gets speech "
                   "probabilities of 0.96-0.998 from Silero VAD (higher than much real speech), so no threshold, "
                   "level gate or minimum length separates it; every other kind passes (see the test above). "
                   "Strict: the day babble is handled, this test passes and must lose its mark.")
def test_nonspeech_is_no_speech_in_95_percent_of_windows(calls: dict[str, np.ndarray]) -> None:
    # The target over the whole set, babble of reversed speech included.
    windows = np.concatenate(list(calls.values()))
    no_speech = 1.0 - float(windows.mean())
    assert no_speech >= TARGET, f"'no speech' in {no_speech:.1%} of non-speech hops; called speech: {_shares(calls)}"


def test_corpus_speech_is_detected(clips: list[np.ndarray]) -> None:
    # Voiced frames within 40 dB of each clip's loud voiced frames: pYIN also calls SAVEE's room hum and
    # RAVDESS's noise floor voiced, which no detector should call speech (see tests.nonspeech.audible).
    detected = voiced = 0
    for y in clips:
        centres = voiced_centres(y)
        keep = audible(y, centres)
        hit = voiced_detected(y, centres, SpeechTracker(CONFIG))[keep]
        detected, voiced = detected + int(hit.sum()), voiced + hit.size
    assert voiced > 500  # a dozen clips of a few seconds each: hundreds of voiced frames
    assert detected / voiced >= TARGET, f"{detected} of {voiced} voiced frames in an utterance"
