"""Speech-detector material: a fixed, seeded set of non-speech signals, and how a detector is scored on them
and on real speech (issue 28, item 1). Shared by ``tests/test_vad_nonspeech.py`` and ``benchmarks/bench_vad.py``.

Signals are mono float32 at :data:`SR` (16 kHz). Each is generated from its own seed (the set's seed, its name
and its level), so a signal does not change when others are added. A level is the RMS level in dBFS as
:func:`serapp.engine.vad.level_db` measures it (a full-scale sine is -3 dBFS); peaks beyond full scale are
clipped, as a real input would clip them (impulsive signals at -15 dBFS: clicks, keyboard, drums).

Scoring, through any tracker with :class:`serapp.engine.utterances.SpeechTracker`'s ``push``/``flush``:

- *non-speech windows*: the stream is cut into hops of ``hop`` samples (the analyzer's ``hop_s``); a hop is
  called speech when its middle sample lies inside an utterance span (an ``offset`` event's span, pads included).
- *voiced frames*: librosa's pYIN voiced flag on the clip (:data:`PYIN`); a voiced frame is detected when its
  centre lies inside an utterance span of the tracker run on the clip with :data:`SPEECH_PAD_S` of digital
  silence before and after it. :func:`audible` marks the voiced frames within :data:`AUDIBLE_DB` of the clip's
  loud voiced frames (pYIN also calls some recordings' hum and noise floor voiced).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import scipy.signal
from serapp_train import crowd
from serapp_train.crowd import at_level as _at_level
from serapp_train.crowd import coloured_noise as _coloured

from serapp.engine.model import OnnxModel
from serapp.engine.utterances import Span, UtteranceScorer
from serapp.engine.vad import CHUNK, SAMPLE_RATE

SR = SAMPLE_RATE
LEVELS_DB: tuple[float, ...] = (-50.0, -30.0, -15.0)
SECONDS = 10.0
BABBLE_TALKERS = 8  # concurrent reversed talkers: enough that no single voice stands out
SPEECH_PAD_S = 1.0
# pYIN over 65-600 Hz (deep male voices to children's and shouted speech). A 1024-sample frame (64 ms) holds
# four periods of the lowest pitch; a 256-sample hop (16 ms) gives about 60 voiced frames per second.
PYIN = {"fmin": 65.0, "fmax": 600.0, "frame_length": 1024, "hop_length": 256}
# Speech within an utterance spans about 40 dB; voiced frames further below the talker are the recording's floor.
AUDIBLE_DB = 40.0


# ---------------------------------------------------------------------------------------------- helpers
def _rng(seed: int, name: str, level_db: float) -> np.random.Generator:
    """An independent generator per (set seed, signal name, level)."""
    return np.random.default_rng([seed, zlib.crc32(name.encode()), round(-level_db * 10)])


def _decay(n: int, tau_s: float) -> np.ndarray:
    """Exponential envelope ``(n,)`` with time constant ``tau_s``."""
    return np.exp(-np.arange(n) / (tau_s * SR))


def _place(out: np.ndarray, event: np.ndarray, at: int) -> None:
    """Add ``event`` into ``out`` starting at sample ``at`` (cut at the end)."""
    if at < out.shape[0]:
        m = min(event.shape[0], out.shape[0] - at)
        out[at:at + m] += event[:m]


def _harmonic(freq: float, n: int, n_harmonics: int, rolloff: float = 1.0) -> np.ndarray:
    """Sum of the first ``n_harmonics`` harmonics of ``freq`` (amplitude ``1 / h ** rolloff``), below 7.5 kHz."""
    t = np.arange(n) / SR
    return sum(np.sin(2 * np.pi * h * freq * t) / h ** rolloff for h in range(1, n_harmonics + 1)
               if h * freq < 7500.0)


# ---------------------------------------------------------------------------------------------- generators
# Each takes (rng, n samples) and returns float64 (n,) at an arbitrary level; the set scales it.
def white(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.standard_normal(n)


def pink(rng: np.random.Generator, n: int) -> np.ndarray:
    return _coloured(rng, n, 1.0)


def brown(rng: np.random.Generator, n: int) -> np.ndarray:
    return _coloured(rng, n, 2.0)


def tone(freq: float) -> Callable[[np.random.Generator, int], np.ndarray]:
    """A pure tone at ``freq`` Hz (random phase)."""
    def make(rng: np.random.Generator, n: int) -> np.ndarray:
        return np.sin(2 * np.pi * freq * np.arange(n) / SR + rng.uniform(0, 2 * np.pi))
    return make


def hum(mains_hz: float) -> Callable[[np.random.Generator, int], np.ndarray]:
    """Mains hum: the fundamental and harmonics up to the 9th, odd ones stronger (transformer and rectifier buzz)."""
    def make(rng: np.random.Generator, n: int) -> np.ndarray:
        t = np.arange(n) / SR
        amps = {1: 1.0, 2: 0.3, 3: 0.5, 4: 0.1, 5: 0.25, 6: 0.05, 7: 0.12, 9: 0.06}
        return sum(a * np.sin(2 * np.pi * h * mains_hz * t + rng.uniform(0, 2 * np.pi)) for h, a in amps.items())
    return make


def square(rng: np.random.Generator, n: int) -> np.ndarray:
    """A 200 Hz square wave (a pitch in the speech range, every odd harmonic)."""
    return scipy.signal.square(2 * np.pi * 200.0 * np.arange(n) / SR + rng.uniform(0, 2 * np.pi))


def dc(rng: np.random.Generator, n: int) -> np.ndarray:
    """A constant level (a sound card's DC offset)."""
    return np.ones(n)


def clicks(rng: np.random.Generator, n: int) -> np.ndarray:
    """Clicks: 2-ms decaying impulses of random sign, 0.1-0.6 s apart."""
    out = np.zeros(n)
    click = _decay(int(0.002 * SR), 0.0004)
    at = int(rng.uniform(0, 0.3) * SR)
    while at < n:
        _place(out, click * rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.0), at)
        at += int(rng.uniform(0.1, 0.6) * SR)
    return out


def keyboard(rng: np.random.Generator, n: int) -> np.ndarray:
    """Typing: each key a press and a release 60-120 ms later (band-passed 1-6 kHz noise bursts, 4-15 ms),
    keys 80-350 ms apart with an occasional pause of up to 1.5 s."""
    out = np.zeros(n)
    sos = scipy.signal.butter(4, [1000.0, 6000.0], btype="bandpass", fs=SR, output="sos")
    at = int(rng.uniform(0, 0.2) * SR)
    while at < n:
        for offset, gain in ((0, 1.0), (int(rng.uniform(0.06, 0.12) * SR), 0.5)):
            m = int(rng.uniform(0.004, 0.015) * SR)
            burst = scipy.signal.sosfilt(sos, rng.standard_normal(m)) * _decay(m, m / SR / 4)
            _place(out, burst * gain * rng.uniform(0.6, 1.0), at + offset)
        at += int((rng.uniform(0.08, 0.35) + (rng.uniform(0.5, 1.5) if rng.random() < 0.08 else 0.0)) * SR)
    return out


def fan(rng: np.random.Generator, n: int) -> np.ndarray:
    """A fan: noise low-passed at 800 Hz plus a blade-pass tone (7 blades at 19 rev/s: 133 Hz, two harmonics)
    whose speed wanders by 1 %."""
    sos = scipy.signal.butter(2, 800.0, btype="lowpass", fs=SR, output="sos")
    noise = scipy.signal.sosfilt(sos, rng.standard_normal(n))
    wobble = 1.0 + 0.01 * np.sin(2 * np.pi * 0.3 * np.arange(n) / SR + rng.uniform(0, 2 * np.pi))
    phase = 2 * np.pi * np.cumsum(133.0 * wobble) / SR
    blades = np.sin(phase) + 0.4 * np.sin(2 * phase) + 0.2 * np.sin(3 * phase)
    return noise / noise.std() + 0.5 * blades


# Music at 120 beats per minute: I-V-vi-IV in C major, a chord per bar of two beats (1 s).
_BEAT_S = 0.5
_CHORDS_HZ = ((261.63, 329.63, 392.00), (196.00, 246.94, 293.66), (220.00, 261.63, 329.63), (174.61, 220.00, 261.63))


def chords(rng: np.random.Generator, n: int) -> np.ndarray:
    """A chord progression: each chord's three notes and its bass an octave down, six harmonics each, struck
    with a 10-ms attack and a 0.6-s decay, once per beat."""
    out = np.zeros(n)
    beat = int(_BEAT_S * SR)
    attack = np.minimum(1.0, np.arange(beat) / (0.01 * SR))
    for i, at in enumerate(range(0, n, beat)):
        notes = _CHORDS_HZ[(i // 2) % len(_CHORDS_HZ)]
        voice = sum(_harmonic(f, beat, 6) for f in notes) + 0.8 * _harmonic(notes[0] / 2, beat, 6)
        _place(out, voice * attack * _decay(beat, 0.6) * rng.uniform(0.8, 1.0), at)
    return out


def drums(rng: np.random.Generator, n: int) -> np.ndarray:
    """A drum pattern: kick (a 120->45 Hz sweep) on beats 1 and 3, snare (noise and a 190 Hz body) on 2 and 4,
    closed hi-hat (high-passed noise) on every eighth."""
    out = np.zeros(n)
    beat = int(_BEAT_S * SR)
    k = int(0.25 * SR)
    t = np.arange(k) / SR
    kick = np.sin(2 * np.pi * np.cumsum(45.0 + 75.0 * np.exp(-t / 0.03)) / SR) * _decay(k, 0.08)
    hat_sos = scipy.signal.butter(4, 7000.0, btype="highpass", fs=SR, output="sos")
    for i, at in enumerate(range(0, n, beat)):
        if i % 2 == 0:
            _place(out, kick, at)
        else:
            snare = 0.6 * rng.standard_normal(k) * _decay(k, 0.05) + 0.5 * np.sin(2 * np.pi * 190 * t) * _decay(k, 0.04)
            _place(out, snare, at)
        for half in (0, beat // 2):
            hat = scipy.signal.sosfilt(hat_sos, rng.standard_normal(int(0.05 * SR))) * _decay(int(0.05 * SR), 0.01)
            _place(out, 0.3 * hat, at + half)
    return out


def music(rng: np.random.Generator, n: int) -> np.ndarray:
    """The chord progression and the drum pattern together (equal RMS)."""
    a, b = chords(rng, n), drums(rng, n)
    return a / a.std() + b / b.std()


def babble(sources: Sequence[np.ndarray], talkers: int = BABBLE_TALKERS) -> Callable[[np.random.Generator, int],
                                                                                        np.ndarray]:
    """Babble of reversed speech: ``talkers`` streams, each reversed clips from ``sources`` (16 kHz) end to end
    from a random clip and offset, every stream at the same RMS, summed (:func:`serapp_train.crowd.babble`).
    Reversed speech keeps speech's spectrum and rhythm but carries no words; many at once are a crowd."""
    return crowd.babble(sources, talkers=talkers, reverse=True)


# ---------------------------------------------------------------------------------------------- the set
@dataclass(frozen=True)
class Signal:
    """One non-speech test signal: ``name`` (kind), ``level_db`` (RMS dBFS; ``None`` for digital silence)."""

    name: str
    level_db: float | None
    y: np.ndarray

    @property
    def label(self) -> str:
        return self.name if self.level_db is None else f"{self.name} {self.level_db:+.0f} dBFS"


def generators(babble_sources: Sequence[np.ndarray]) -> dict[str, Callable[[np.random.Generator, int], np.ndarray]]:
    """The non-speech kinds by name (digital silence apart), babble from ``babble_sources``."""
    return {"white noise": white, "pink noise": pink, "brown noise": brown, "babble": babble(babble_sources),
            "music": music, "chords": chords, "drums": drums, "tone 1 kHz": tone(1000.0), "tone 440 Hz": tone(440.0),
            "hum 50 Hz": hum(50.0), "hum 60 Hz": hum(60.0), "clicks": clicks, "keyboard": keyboard, "fan": fan,
            "square 200 Hz": square, "DC": dc}


def nonspeech_set(babble_sources: Sequence[np.ndarray], *, seconds: float = SECONDS,
                  levels: Iterable[float] = LEVELS_DB, seed: int = 0) -> list[Signal]:
    """Every kind at every level, plus digital silence; each ``seconds`` long. Same arguments, same samples."""
    n = round(seconds * SR)
    out = [Signal(name, level, _at_level(make(_rng(seed, name, level), n), level))
           for name, make in generators(babble_sources).items() for level in levels]
    return [*out, Signal("digital silence", None, np.zeros(n, np.float32))]


# ---------------------------------------------------------------------------------------------- scoring
class Tracker(Protocol):
    """What :class:`serapp.engine.utterances.SpeechTracker` offers the scoring: push blocks, flush at the end."""

    def push(self, y: np.ndarray) -> tuple[np.ndarray, list[tuple[str, Span, np.ndarray | None]]]: ...

    def flush(self) -> list[tuple[str, Span, np.ndarray | None]]: ...


class CrowdChecked:
    """A tracker whose utterances also pass the model's crowd check, as file analysis applies it
    (:func:`serapp.engine.analysis.analyze_signal`): each ended utterance is scored, and a crowd's is dropped."""

    def __init__(self, tracker: Tracker, model: OnnxModel) -> None:
        self.tracker = tracker
        self.scorer = UtteranceScorer(model)

    def _judged(self, events: list[tuple[str, Span, np.ndarray | None]]) -> list[tuple[str, Span, np.ndarray | None]]:
        kept = []
        for kind, span, clip in events:
            if kind == "offset" and clip is not None and clip.size:
                self.scorer.reset()
                if self.scorer.score_ended(clip) is None:
                    continue
            kept.append((kind, span, clip))
        return kept

    def push(self, y: np.ndarray) -> tuple[np.ndarray, list[tuple[str, Span, np.ndarray | None]]]:
        clean, events = self.tracker.push(y)
        return clean, self._judged(events)

    def flush(self) -> list[tuple[str, Span, np.ndarray | None]]:
        return self._judged(self.tracker.flush())


def utterance_spans(y: np.ndarray, tracker: Tracker, *, block: int = CHUNK,
                    block_times: list[tuple[int, float]] | None = None) -> list[Span]:
    """Push ``y`` through a fresh ``tracker`` in ``block``-sample blocks (the live path's 32 ms by default),
    flush, and return the utterance spans of its ``offset`` events. With ``block_times``, appends each push's
    (end sample, seconds) to it."""
    spans: list[Span] = []
    for start in range(0, y.shape[0], block):
        t0 = time.perf_counter()
        _, events = tracker.push(y[start:start + block])
        if block_times is not None:
            block_times.append((min(start + block, y.shape[0]), time.perf_counter() - t0))
        spans += [span for kind, span, _ in events if kind == "offset"]
    return spans + [span for kind, span, _ in tracker.flush() if kind == "offset"]


def inside(positions: np.ndarray, spans: Sequence[Span]) -> np.ndarray:
    """Boolean ``(len(positions),)``: each sample position lies in some span ``[start, end)``."""
    hit = np.zeros(positions.shape[0], bool)
    for span in spans:
        hit |= (positions >= span.start) & (positions < span.end)
    return hit


def speech_windows(n_samples: int, spans: Sequence[Span], hop: int) -> np.ndarray:
    """Boolean ``(n_samples // hop,)``: each whole hop's middle sample lies in an utterance."""
    return inside(np.arange(n_samples // hop) * hop + hop // 2, spans)


def voiced_centres(y: np.ndarray) -> np.ndarray:
    """Sample positions ``(k,)`` (in ``y``) of the centres of pYIN's voiced frames (:data:`PYIN`)."""
    import librosa

    _, voiced, _ = librosa.pyin(y.astype(np.float32), sr=SR, **PYIN)
    return np.flatnonzero(voiced) * PYIN["hop_length"]


def audible(y: np.ndarray, centres: np.ndarray, below_db: float = AUDIBLE_DB) -> np.ndarray:
    """Boolean ``(len(centres),)``: each voiced frame's RMS (pYIN's frame) is at most ``below_db`` under the
    clip's loud voiced frames (their 95th percentile). pYIN's voicing ignores level, so it also flags periodic
    recording floors (SAVEE's ~120 Hz room hum near -62 dBFS, RAVDESS's -80..-99 dBFS floor and reverb tails);
    this keeps the frames a listener hears as the talker."""
    if centres.size == 0:
        return np.zeros(0, bool)
    import librosa

    rms = librosa.feature.rms(y=y, frame_length=PYIN["frame_length"], hop_length=PYIN["hop_length"])[0]
    db = 20.0 * np.log10(np.maximum(rms[centres // PYIN["hop_length"]], 1e-7))
    return db >= np.percentile(db, 95) - below_db


def padded(y: np.ndarray, pad_s: float = SPEECH_PAD_S) -> np.ndarray:
    """``y`` with ``pad_s`` of digital silence before and after; float32."""
    pad = np.zeros(round(pad_s * SR), np.float32)
    return np.concatenate([pad, y.astype(np.float32), pad])


def voiced_detected(y: np.ndarray, centres: np.ndarray, tracker: Tracker, *, pad_s: float = SPEECH_PAD_S,
                    block_times: list[tuple[int, float]] | None = None) -> np.ndarray:
    """Boolean ``(len(centres),)``: each voiced frame of clip ``y`` lies in an utterance of ``tracker`` run on
    the clip padded with ``pad_s`` of silence each side."""
    spans = utterance_spans(padded(y, pad_s), tracker, block_times=block_times)
    return inside(centres + round(pad_s * SR), spans)
