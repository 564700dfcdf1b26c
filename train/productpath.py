"""Scoring a model through the path users get, beside the fixed crops the trainer scores.

Two measurements on the same clips:

- **file analysis** (:func:`score_file_analysis`): each clip through :func:`serapp.engine.analysis.analyze_signal`
  (the engine of ``serapp analyze``), predicted emotion = the top label of ``summary.probabilities``; a clip in
  which no speech was found counts as wrong. Reported as UA (unweighted accuracy, the mean recall over
  emotions) beside the fixed-crop UA of the same clips.
- **live replay** (:func:`live_replay`): clips joined into conversations with pauses (seeded), written to a WAV
  file and run through the real-time :class:`serapp.engine.analyzer.Analyzer` (a file source fed in 32 ms blocks,
  as a microphone would, at default settings), scored update by update: the share of updates inside an
  utterance whose top emotion is the truth, top-emotion switches per utterance, and the share of pause updates
  at least ``late_pause_s`` into a pause that still say "speech".
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from serapp.engine import audio
from serapp.engine.adaptation import SpeakerMean
from serapp.engine.analysis import analyze_signal
from serapp.engine.analyzer import Analyzer
from serapp.engine.config import AnalyzerConfig
from serapp.engine.filesource import FileSource
from serapp.engine.model import OnnxModel
from serapp.engine.preprocess import frame_levels_db, frames_span
from serapp.engine.result import EmotionResult
from serapp.engine.summary import summarize
from serapp.errors import SerappError

from .corpora import Clip
from .metrics import share_interval, uar

if TYPE_CHECKING:
    from .scoring import Condition

# The live replay's pauses between utterances (s), drawn uniformly: the range of a relaxed conversation.
PAUSE_S = (2.0, 8.0)
# Clips per conversation: about two minutes each, long enough for the display's habits to show.
CONVERSATION_CLIPS = 12
# Pause updates this far after an utterance ends must say "no speech" (the hold and hangover are shorter).
LATE_PAUSE_S = 1.0
# A clip's speech, for the replay's truth: frames within TRUTH_TOP_DB of its loudest (training's trim rule) and at
# least TRUTH_OVER_FLOOR_DB above its noise floor (the TRUTH_FLOOR_PERCENTILE of its frame levels). The trim rule
# alone keeps a noisy recording's room tone: CREMA-D's background lies within 30 dB of its speech, so its trimmed
# clip begins well before the actor speaks (docs/engine-settings/replay-truth.md, decision 0014), and the replay
# counted the room as speech the display should name. A clip recorded in silence (RAVDESS) keeps its span.
TRUTH_TOP_DB = 30.0
TRUTH_OVER_FLOOR_DB = 10.0
TRUTH_FLOOR_PERCENTILE = 10.0
TRUTH_FRAME_LENGTH, TRUTH_HOP_LENGTH = 512, 160  # samples at 16 kHz: the frames both rules judge
# The truth rule a record was scored with, written beside its figures (records without it used "trim").
TRUTH_RULE = "speech"
# Blocks the replay's file source delivers: a microphone's typical period.
REPLAY_BLOCK_S = 0.032
# The figure `evaluate --product` writes beside its record: the live shares by time since speech began.
LIVE_FIGURE = "live-by-time.png"


def _load(clip: Clip, sample_rate: int) -> np.ndarray | None:
    try:
        return audio.load(clip.path, sample_rate)
    except SerappError as exc:
        print(f"skipped {clip.path}: {exc}")
        return None


@dataclass(frozen=True)
class FileAnalysisScore:
    """Per-clip file analysis: UA, how many clips, and how many had no speech found; per clip, the prediction,
    the truth, whether it was adapted to its speaker (every utterance scored by the adapted head) and its corpus."""

    ua: float
    clips: int
    no_speech: int
    predictions: list[int]
    truths: list[int]
    adapted: list[bool]
    corpora: list[str]


def speaker_means(model: OnnxModel) -> dict[str, SpeakerMean]:
    """One running speaker mean per speaker id, made on first use (an adaptable model's)."""
    SpeakerMean.for_model(model)  # refused now, before any clip is scored, for a model that cannot adapt
    return collections.defaultdict(lambda: SpeakerMean.for_model(model))


def score_file_analysis(model: OnnxModel, clips: Sequence[Clip], config: AnalyzerConfig | None = None,
                        progress: Callable[[int, int], None] | None = None, *, adapt: bool = False,
                        condition: Condition | None = None) -> FileAnalysisScore:
    """Each clip through whole-file analysis; predicted label = argmax of ``summary.probabilities``. With
    ``adapt``, each speaker's clips share one running speaker mean, in the order given (a user analysing their
    recordings one after another): give clips in session order (:func:`sessions`). With a ``condition`` (a room,
    noise, a level, a device chain) each whole clip is degraded before it is analysed, as a recording made through
    it would be (noise at the stated SNR against the whole clip, its pauses included)."""
    from .scoring import degrade

    labels = model.labels
    sr = model.info.spec.sample_rate
    means = speaker_means(model) if adapt else None
    rng = np.random.default_rng(condition.seed if condition is not None else 0)
    truths, preds, silent, adapted, corpora = [], [], 0, [], []
    for i, clip in enumerate(clips):
        if clip.label not in labels:
            continue
        y = _load(clip, sr)
        if y is None:
            continue
        if condition is not None and not condition.clean:
            y = degrade(y[None], condition, rng, sr)[0]
        timeline, utterances, duration, _ = analyze_signal(
            [y], model, config, speaker=None if means is None else means[clip.speaker])
        summary = summarize(timeline, labels, duration, utterances)
        adapted.append(bool(utterances) and all(u.adapted for u in utterances))
        corpora.append(clip.corpus)
        truths.append(labels.index(clip.label))
        if summary.utterances == 0:
            silent += 1
            preds.append(-1)
        else:
            preds.append(labels.index(summary.dominant))
        if progress is not None:
            progress(i + 1, len(clips))
    # UA is the trainer's UAR; a clip without speech (-1) is simply wrong.
    return FileAnalysisScore(uar(np.array(truths), np.array(preds)) if truths else float("nan"), len(truths), silent,
                             preds, truths, adapted, corpora)


def sessions(clips: Sequence[Clip], *, seed: int = 0, per_speaker: int | None = None) -> list[Clip]:
    """``clips`` as speakers' sessions: each speaker's clips in a seeded random order (the trainer's session
    order, :func:`serapp_train.splits.session_order`), at most ``per_speaker`` of each, speakers one after
    another."""
    from .splits import session_order

    return [clips[i] for order in session_order(clips, np.arange(len(clips)), seed=seed).values()
            for i in order[:per_speaker]]


def speech_bounds(y: np.ndarray, *, top_db: float = TRUTH_TOP_DB, over_floor_db: float = TRUTH_OVER_FLOOR_DB,
                  floor_percentile: float = TRUTH_FLOOR_PERCENTILE, frame_length: int = TRUTH_FRAME_LENGTH,
                  hop_length: int = TRUTH_HOP_LENGTH) -> tuple[int, int]:
    """Samples ``[start, end)`` of a clip's speech ``y`` ``(n,)``: from the first to the last centred RMS frame
    (:func:`serapp.engine.preprocess.frame_levels_db`, the trim rule's frames) both within ``top_db`` of the
    loudest frame and ``over_floor_db`` above the clip's noise floor (its frames' ``floor_percentile``-th level),
    the floor rule capped at 6 dB under the loudest frame. ``(0, n)`` for a clip shorter than a frame or without
    any level."""
    if y.shape[-1] < frame_length:
        return 0, y.shape[-1]
    db = frame_levels_db(np.asarray(y, dtype=np.float64), frame_length, hop_length)
    peak = float(db.max())
    threshold = max(peak - top_db, min(peak - 6.0, float(np.percentile(db, floor_percentile)) + over_floor_db))
    loud = np.flatnonzero(db > threshold)
    if loud.size == 0:
        return 0, y.shape[-1]
    return frames_span(loud, hop_length, y.shape[-1])


@dataclass(frozen=True)
class Conversation:
    """Clips joined with pauses: the audio (float32, 16 kHz) and each utterance's ``(start, end, label)`` in s."""

    audio: np.ndarray
    truth: list[tuple[float, float, str]]


def conversations(clips: Sequence[Clip], labels: Sequence[str], sample_rate: int, *, seed: int = 0,
                  per_conversation: int = CONVERSATION_CLIPS, pause_s: tuple[float, float] = PAUSE_S,
                  shuffle: bool = True) -> list[Conversation]:
    """Shuffle ``clips`` (seeded; with ``shuffle`` False, keep their order) into conversations of
    ``per_conversation`` clips with random pauses between them (and one before the first). A clip's truth span
    is its speech (:func:`speech_bounds`): the clip without the leading and trailing silence or room tone."""
    rng = np.random.default_rng(seed)
    usable = [c for c in clips if c.label in labels]
    order = rng.permutation(len(usable)) if shuffle else np.arange(len(usable))
    out = []
    for first in range(0, len(order), per_conversation):
        parts: list[np.ndarray] = []
        truth = []
        t = 0
        for idx in order[first:first + per_conversation]:
            y = _load(usable[idx], sample_rate)
            if y is None:
                continue
            pause = np.zeros(round(rng.uniform(*pause_s) * sample_rate), np.float32)
            parts += [pause, y]
            t += pause.shape[0]
            lo, hi = speech_bounds(y)
            truth.append(((t + lo) / sample_rate, (t + hi) / sample_rate, usable[idx].label))
            t += y.shape[0]
        if truth:
            parts.append(np.zeros(round(pause_s[1] * sample_rate), np.float32))
            out.append(Conversation(np.concatenate(parts), truth))
    return out


def replay(model: OnnxModel, conversation: Conversation, config: AnalyzerConfig | None = None,
           speaker: SpeakerMean | None = None) -> list[EmotionResult]:
    """Run a conversation through the real-time engine (a WAV file source in 32 ms blocks, not paced by the
    clock) and return every update; ``speaker``: the engine adapts to the speaker with this running mean."""
    import soundfile as sf

    results: list[EmotionResult] = []
    with tempfile.TemporaryDirectory(prefix="serapp-replay-") as tmp:
        path = Path(tmp) / "conversation.wav"
        sf.write(path, conversation.audio, model.info.spec.sample_rate, subtype="FLOAT")
        source = FileSource(path, model.info.spec.sample_rate, realtime=False, chunk_s=REPLAY_BLOCK_S)
        analyzer = Analyzer(source, model, config or AnalyzerConfig(), on_result=results.append, speaker=speaker)
        analyzer.start()
        analyzer.wait()
        analyzer.stop()
        if analyzer.error:
            raise SerappError(f"The live replay failed: {analyzer.error}")
    return results


# Where in an utterance its updates are counted apart (s since its true speech began): the model hears little of
# an utterance at its start, and the figures say how much of the live share that costs.
SINCE_START_S = (0.0, 0.5, 1.0, 2.0, float("inf"))


@dataclass(frozen=True)
class ReplayScore:
    """Live replay figures. ``speech_right``: share of updates inside a true utterance showing its emotion;
    ``shown``: share of those showing any emotion; ``switches_per_utterance``: changes of the shown top emotion
    within a true utterance, averaged over utterances; ``late_pause_speech``: share of updates at least
    ``LATE_PAUSE_S`` into a pause that say speech; ``updates_per_s``: updates per second of audio.

    ``final_right``: share of the same updates that the engine's final answer for their utterance (the emotion it
    holds once the utterance ends) would have got right, had it been shown from the first update: what a display
    that knew the whole utterance at once would score, the ceiling of a live display of this model.
    ``since_start``: per span of :data:`SINCE_START_S` (time since the utterance's speech began), ``[from_s, to_s,
    updates, speech_right, final_right]``. ``speech_right_ci``: a 95 % bootstrap interval of ``speech_right``
    over utterances (:func:`serapp_train.metrics.share_interval`); ``per_utterance``: each true utterance's
    ``[updates, right]`` in replay order, so that two models replayed on the same clips can be compared utterance
    by utterance (:func:`serapp_train.metrics.paired_difference_interval`)."""

    speech_right: float
    shown: float
    switches_per_utterance: float
    late_pause_speech: float
    utterances: int
    conversations: int
    seconds: float
    updates_per_s: float
    final_right: float
    since_start: list[list[float]]
    speech_right_ci: list[float]
    per_utterance: list[list[int]]

    def to_dict(self) -> dict[str, Any]:
        out = {k: round(v, 6) if isinstance(v, float) else v for k, v in asdict(self).items()}
        out["speech_right_ci"] = [round(v, 6) for v in self.speech_right_ci]
        out["since_start"] = [[lo, None if hi == float("inf") else hi, int(n), round(r, 6), round(f, 6)]
                              for lo, hi, n, r, f in self.since_start]
        return out


@dataclass
class ReplayCounts:
    """Update counts of replayed conversations, summed with ``+=``: inside true utterances ``speech`` updates,
    ``right`` of them showing the truth, ``shown`` showing any emotion, ``final_right`` whose utterance's final
    answer is the truth, ``switches`` of the shown emotion; ``late`` updates at least ``LATE_PAUSE_S`` into a
    pause, ``late_speech`` of them saying speech; per span of :data:`SINCE_START_S`, ``by_start`` ``(n_spans, 3)``:
    updates, right, final right; ``utterances``: each true utterance's ``[updates, right]``, in order."""

    speech: int = 0
    right: int = 0
    shown: int = 0
    final_right: int = 0
    switches: int = 0
    late: int = 0
    late_speech: int = 0
    by_start: np.ndarray = dataclasses.field(
        default_factory=lambda: np.zeros((len(SINCE_START_S) - 1, 3), np.int64))
    utterances: list[list[int]] = dataclasses.field(default_factory=list)

    def __iadd__(self, other: ReplayCounts) -> ReplayCounts:
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self


def final_answer(results: Sequence[EmotionResult], start: float, until: float) -> str | None:
    """The emotion the engine holds for the utterance that began at ``start`` s: its first held update before
    ``until`` s (the next utterance's start), or None when it held none (too short, or a crowd)."""
    return next((r.emotion for r in results if r.phase == "held" and start <= r.t < until), None)


def score_replay(results: Sequence[EmotionResult], truth: Sequence[tuple[float, float, str]]) -> ReplayCounts:
    """Counts for one conversation (see :class:`ReplayCounts`)."""
    t = np.array([r.t for r in results])
    counts = ReplayCounts()
    starts = [*(start for start, _, _ in truth[1:]), float("inf")]
    for (start, end, label), nxt in zip(truth, starts, strict=True):
        inside = [r for r, tt in zip(results, t, strict=True) if start <= tt < end]
        final = final_answer(results, start, nxt)
        right = [r.emotion == label for r in inside]
        counts.speech += len(inside)
        counts.right += sum(right)
        counts.final_right += len(inside) * (final == label)
        counts.utterances.append([len(inside), int(sum(right))])
        spans = np.searchsorted(SINCE_START_S, [r.t - start for r in inside], side="right") - 1
        np.add.at(counts.by_start, (spans, 0), 1)
        np.add.at(counts.by_start, (spans, 1), right)
        np.add.at(counts.by_start, (spans, 2), final == label)
        shown_labels = [r.emotion for r in inside if r.probs is not None]
        counts.shown += len(shown_labels)
        counts.switches += sum(a != b for a, b in itertools.pairwise(shown_labels))
    for (_, end, _), nxt in zip(truth, starts, strict=True):
        mask = (t >= end + LATE_PAUSE_S) & (t < nxt)
        counts.late += int(mask.sum())
        counts.late_speech += int(sum(results[i].is_speech for i in np.flatnonzero(mask)))
    return counts


def live_replay(model: OnnxModel, clips: Sequence[Clip], config: AnalyzerConfig | None = None, *, seed: int = 0,
                progress: Callable[[int, int], None] | None = None, by_speaker: bool = False,
                adapt: bool = False) -> ReplayScore:
    """Conversations of ``clips`` through the real-time engine, scored update by update (see :class:`ReplayScore`).

    With ``by_speaker`` each speaker talks alone: their clips, in the order given (:func:`sessions`), make their
    own conversations; with ``adapt`` too, the engine adapts with one running mean per speaker that lasts across
    their conversations."""
    sr = model.info.spec.sample_rate
    if adapt and not by_speaker:
        raise SerappError("Adapting to the speaker needs conversations of one speaker each (by_speaker).")
    if by_speaker:
        means = speaker_means(model) if adapt else None
        own: dict[str, list[Clip]] = {}
        for clip in clips:
            own.setdefault(clip.speaker, []).append(clip)
        talks = [(conv, None if means is None else means[speaker]) for speaker, theirs in own.items()
                 for conv in conversations(theirs, model.labels, sr, seed=seed, shuffle=False)]
    else:
        talks = [(conv, None) for conv in conversations(clips, model.labels, sr, seed=seed)]
    convs = [conv for conv, _ in talks]
    if not convs:
        raise SerappError("No clips to replay.")
    totals = ReplayCounts()
    seconds = updates = 0.0
    n_utt = 0
    for i, (conv, speaker) in enumerate(talks):
        results = replay(model, conv, config, speaker)
        totals += score_replay(results, conv.truth)
        seconds += conv.audio.shape[0] / model.info.spec.sample_rate
        updates += len(results)
        n_utt += len(conv.truth)
        if progress is not None:
            progress(i + 1, len(convs))
    c = totals
    since = [[lo, hi, int(n), r / max(1, n), f / max(1, n)]
             for lo, hi, (n, r, f) in zip(SINCE_START_S, SINCE_START_S[1:], c.by_start, strict=False)]
    interval = list(share_interval(np.array(c.utterances))) if c.speech else [0.0, 0.0]
    return ReplayScore(c.right / max(1, c.speech), c.shown / max(1, c.speech), c.switches / max(1, n_utt),
                       c.late_speech / max(1, c.late), n_utt, len(convs), seconds, updates / max(seconds, 1e-9),
                       c.final_right / max(1, c.speech), since, interval, c.utterances)
