"""The engine's speech detection on non-speech and on real speech (issue 28, item 1), at a reduced size of
``benchmarks/bench_vad.py``'s set: every non-speech kind at -50/-30/-15 dBFS for 3 s, and the dozen sample
clips, each through :class:`~serapp.engine.utterances.SpeechTracker` at default settings in 32 ms blocks, and
then through the bundled model's crowd check as file analysis applies it (what a user is shown).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from serapp.engine import audio
from serapp.engine.config import AnalyzerConfig
from serapp.engine.model import OnnxModel, load_model
from serapp.engine.utterances import SpeechTracker
from serapp.engine.vad import SAMPLE_RATE
from tests.nonspeech import (
    CrowdChecked,
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
TARGET = 0.95  # non-speech hops that say no speech
SPEECH_TARGET = 0.98  # corpus speech's voiced frames inside an utterance


@pytest.fixture(scope="module")
def clips(sample_clips: list[Path]) -> list[np.ndarray]:
    return [audio.load(p, SAMPLE_RATE) for p in sample_clips]


@pytest.fixture(scope="module")
def bundled() -> OnnxModel:
    model = load_model()
    assert model.crowd_checked, "the bundled model should carry a crowd check (serapp-train crowd)"
    return model


@pytest.fixture(scope="module")
def signals(clips: list[np.ndarray]) -> list[Signal]:
    return nonspeech_set(clips, seconds=3.0, seed=0)  # babble from the sample clips


@pytest.fixture(scope="module")
def detected(signals: list[Signal]) -> dict[str, np.ndarray]:
    """Per non-speech signal: which hops the speech detector alone calls speech."""
    return {s.label: speech_windows(s.y.shape[0], utterance_spans(s.y, SpeechTracker(CONFIG)), HOP) for s in signals}


@pytest.fixture(scope="module")
def calls(signals: list[Signal], bundled: OnnxModel) -> dict[str, np.ndarray]:
    """Per non-speech signal: which hops are speech after the bundled model's crowd check (file analysis)."""
    return {s.label: speech_windows(s.y.shape[0], utterance_spans(s.y, CrowdChecked(SpeechTracker(CONFIG), bundled)),
                                    HOP) for s in signals}


def _shares(calls: dict[str, np.ndarray]) -> str:
    return ", ".join(f"{k}: {w.mean():.0%}" for k, w in calls.items() if w.any()) or "none"


def test_the_set_is_what_it_claims(calls: dict[str, np.ndarray]) -> None:
    # 16 kinds at 3 levels and digital silence, 12 whole hops of 3 s each: a shrunken set would pass too easily.
    assert len(calls) == 16 * 3 + 1
    assert all(w.size == 12 for w in calls.values())


def test_every_kind_but_babble_is_no_speech_to_the_detector_alone(detected: dict[str, np.ndarray]) -> None:
    # Tones, hum, music, clicks, keyboard, fans, noise, DC and silence carry no voice at any level: the detector
    # rejects them without the model's help.
    failing = {k: w for k, w in detected.items() if not k.startswith("babble") and 1.0 - w.mean() < TARGET}
    assert not failing, f"non-speech called speech in more than 5 % of hops: {_shares(failing)}"


def test_the_detector_alone_takes_babble_for_speech(detected: dict[str, np.ndarray]) -> None:
    # Why the crowd check exists: Silero gives babble of 8 reversed talkers speech probabilities of 0.96-0.998.
    # If a detector change ever rejects babble by itself, the crowd check's figures need measuring again.
    babble = [w.mean() for k, w in detected.items() if k.startswith("babble")]
    assert len(babble) == 3 and min(babble) > 0.5, _shares(detected)


def test_the_crowd_check_turns_babble_into_no_speech(calls: dict[str, np.ndarray]) -> None:
    babble = {k: w for k, w in calls.items() if k.startswith("babble")}
    assert all(1.0 - w.mean() >= TARGET for w in babble.values()), f"babble called speech: {_shares(babble)}"


def test_nonspeech_is_no_speech_in_95_percent_of_windows(calls: dict[str, np.ndarray]) -> None:
    # The target over the whole set, babble of reversed speech included.
    windows = np.concatenate(list(calls.values()))
    no_speech = 1.0 - float(windows.mean())
    assert no_speech >= TARGET, f"'no speech' in {no_speech:.1%} of non-speech hops; called speech: {_shares(calls)}"


def test_corpus_speech_is_detected(clips: list[np.ndarray], bundled: OnnxModel) -> None:
    # Voiced frames within 40 dB of each clip's loud voiced frames: pYIN also calls SAVEE's room hum and
    # RAVDESS's noise floor voiced, which no detector should call speech (see tests.nonspeech.audible).
    detected = voiced = 0
    for y in clips:
        centres = voiced_centres(y)
        keep = audible(y, centres)
        hit = voiced_detected(y, centres, CrowdChecked(SpeechTracker(CONFIG), bundled))[keep]
        detected, voiced = detected + int(hit.sum()), voiced + hit.size
    assert voiced > 500  # a dozen clips of a few seconds each: hundreds of voiced frames
    assert detected / voiced >= SPEECH_TARGET, f"{detected} of {voiced} voiced frames in an utterance"
