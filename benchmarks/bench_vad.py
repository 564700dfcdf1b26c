"""Speech detection (issue 28, item 1): non-speech called "no speech", corpus speech detected, and the cost per hop,
for the engine's detector (Silero VAD) and ten-vad, both through the engine's own DC removal, level gate and
:class:`~serapp.engine.utterances.Segmenter` at the same :class:`~serapp.engine.config.AnalyzerConfig`.

- **Non-speech** (targets >= 95 %): the fixed, seeded set of ``tests/nonspeech.py`` (noise of three colours,
  babble of reversed corpus speech, music, tones, hum, clicks, keyboard, a fan, a square wave, DC, digital
  silence; ``--seconds`` each at -50/-30/-15 dBFS). Each signal is pushed in 32 ms blocks, as live, and flushed;
  a 0.25-s hop (``hop_s``) is called speech when its middle lies in an utterance. Prints each signal's share of
  hops called speech and the share of all non-speech hops called "no speech".
- **Speech** (target >= 98 %): ``--clips`` clips drawn with ``--seed`` evenly from RAVDESS, CREMA-D, TESS and
  SAVEE; voiced frames are pYIN's (65-600 Hz, 1024-sample frames, 256-sample hop at 16 kHz); a frame is
  detected when its centre lies in an utterance of the detector run on the clip with 1 s of silence each side.
  Also printed: the share of *audible* voiced frames detected, those within 40 dB of the clip's loud voiced frames
  (pYIN ignores level and calls some recordings' hum and noise floor voiced: see ``tests/nonspeech.audible``).
- **Cost per hop**: the time to push one hop's audio (0.25 s, in 32 ms blocks) through DC removal, the
  detector, levels and the segmenter, summed over the blocks of each whole hop of every run above; median and
  p95 in ms, one thread (the machine may be shared: compare detectors from the same run).

Silero is run as the engine runs it (:class:`~serapp.engine.utterances.SpeechTracker`). "silero + crowd check"
adds the model's crowd check (``--model``, by default the bundled one) as file analysis applies it: each ended
utterance is scored and a crowd's is dropped (:class:`tests.nonspeech.CrowdChecked`); its cost per hop includes
that scoring. The live display applies the check to the growing utterance from its first score (``min_score_s``)
on, so it is also measured live: each non-speech signal through the real-time engine
(:func:`serapp_train.productpath.replay`), the share of its updates that say speech. ten-vad (``ten_vad``,
native library; needs ``libc++1`` on Linux) judges 256-sample frames of int16 audio; a 512-sample chunk gets
the ``--ten-vad-map`` (default max) of its two frames' probabilities, then the same level gate and segmenter.
A detector that cannot be loaded is reported and skipped.

``--set key=value`` (repeatable) runs with other AnalyzerConfig values, e.g. ``--set vad_onset=0.7``.

    python benchmarks/bench_vad.py [--clips 100] [--seconds 10] [--seed 0] [--set KEY=VALUE] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `tests.nonspeech`

import numpy as np
from serapp_train.corpora import Clip, scan
from threadpoolctl import threadpool_limits

from serapp.engine import audio
from serapp.engine.config import AnalyzerConfig
from serapp.engine.model import OnnxModel, load_model
from serapp.engine.utterances import Segmenter, Span, SpeechTracker
from serapp.engine.vad import CHUNK, SAMPLE_RATE, DcBlocker, chunk_levels_db
from serapp.errors import SerappError
from serapp.paths import corpora_root
from tests.nonspeech import (
    AUDIBLE_DB,
    LEVELS_DB,
    PYIN,
    SPEECH_PAD_S,
    CrowdChecked,
    Signal,
    Tracker,
    audible,
    nonspeech_set,
    speech_windows,
    utterance_spans,
    voiced_centres,
    voiced_detected,
)

CORPORA = ("ravdess", "crema-d", "tess", "savee")
BABBLE_PER_CORPUS = 3  # 12 source clips for the babble's talkers
NONSPEECH_TARGET, SPEECH_TARGET = 0.95, 0.98
CROWD_CHECKED = "silero + crowd check"
DETECTORS = ("silero", CROWD_CHECKED, "ten-vad")
TEN_VAD_HOP = 256  # samples per ten-vad decision (16 ms)


# ---------------------------------------------------------------------------------------------- ten-vad
class TenVadTracker:
    """:class:`SpeechTracker`'s events from ten-vad: DC removal, ten-vad on each 256-sample frame (int16), a
    probability per 512-sample chunk (``mapping`` of its two frames: ``"max"`` or ``"mean"``), chunk levels,
    and the engine's :class:`Segmenter`. Offsets carry no audio (the scoring needs only spans)."""

    def __init__(self, config: AnalyzerConfig, mapping: str = "max") -> None:
        from ten_vad import TenVad

        self._vad = TenVad(TEN_VAD_HOP)
        self._reduce = {"max": np.max, "mean": np.mean}[mapping]
        self._dc = DcBlocker(SAMPLE_RATE)
        self._segmenter = Segmenter(config)
        self._buf = np.zeros(0, np.float32)
        self.total = 0

    def push(self, y: np.ndarray) -> tuple[np.ndarray, list[tuple[str, Span, np.ndarray | None]]]:
        clean = self._dc.process(np.asarray(y, dtype=np.float32))
        self.total += clean.shape[0]
        self._buf = np.concatenate([self._buf, clean])
        n = self._buf.shape[0] // CHUNK
        chunks, self._buf = self._buf[: n * CHUNK], self._buf[n * CHUNK:]
        pcm = np.clip(np.round(chunks * 32767.0), -32768, 32767).astype(np.int16)
        frame_probs = np.array([self._vad.process(np.ascontiguousarray(pcm[i:i + TEN_VAD_HOP]))[0]
                                for i in range(0, pcm.shape[0], TEN_VAD_HOP)], np.float32)
        probs = self._reduce(frame_probs.reshape(n, CHUNK // TEN_VAD_HOP), axis=1) if n else np.zeros(0, np.float32)
        events = self._segmenter.push(probs, chunk_levels_db(chunks))
        return clean, [(kind, Span(start, end if kind == "offset" else start), None) for kind, start, end in events]

    def flush(self) -> list[tuple[str, Span, np.ndarray | None]]:
        return [(kind, Span(start, min(end, self.total)), None) for kind, start, end in self._segmenter.flush()]


def tracker_factory(name: str, config: AnalyzerConfig, ten_vad_map: str, model: OnnxModel | None
                    ) -> Callable[[], Tracker]:
    """A function making a fresh tracker of detector ``name``; raises ImportError/OSError when it cannot load,
    SerappError when the crowd check has no ``model`` that carries one."""
    if name in ("silero", CROWD_CHECKED):
        SpeechTracker(config)  # load the model now: a missing one fails here, not mid-run
        if name == "silero":
            return lambda: SpeechTracker(config)
        if model is None or not model.crowd_checked or not config.crowd_check:
            raise SerappError("no model with a crowd check (or crowd_check is off)")
        return lambda: CrowdChecked(SpeechTracker(config), model)
    TenVadTracker(config, ten_vad_map)
    return lambda: TenVadTracker(config, ten_vad_map)


# ---------------------------------------------------------------------------------------------- material
def pick_clips(clips: list[Clip], n: int, seed: int) -> list[Clip]:
    """``n`` clips drawn with ``seed``, as evenly as possible from each corpus in :data:`CORPORA`, in a fixed order."""
    rng = np.random.default_rng(seed)
    out: list[Clip] = []
    for i, corpus in enumerate(CORPORA):
        pool = [c for c in clips if c.corpus == corpus]
        k = min(len(pool), n // len(CORPORA) + (i < n % len(CORPORA)))
        out += [pool[j] for j in sorted(rng.choice(len(pool), size=k, replace=False))]
    return out


@dataclasses.dataclass(frozen=True)
class SpeechClip:
    """A corpus clip at 16 kHz, the sample positions of its voiced frames' centres ``(k,)`` and which of them are
    audible ``(k,)`` (see :func:`tests.nonspeech.audible`)."""

    clip: Clip
    y: np.ndarray
    centres: np.ndarray
    audible: np.ndarray


def load_speech(clips: list[Clip]) -> list[SpeechClip]:
    out = []
    for c in clips:
        y = audio.load(c.path, SAMPLE_RATE)
        centres = voiced_centres(y)
        out.append(SpeechClip(c, y, centres, audible(y, centres)))
    return out


# ---------------------------------------------------------------------------------------------- measuring
def hop_costs(block_times: list[tuple[int, float]], hop: int) -> list[float]:
    """Seconds per whole hop of one stream: the push times of the blocks ending in it, summed."""
    if not block_times:
        return []
    ends = np.array([e for e, _ in block_times])
    secs = np.array([s for _, s in block_times])
    hops = (ends - 1) // hop
    sums = np.bincount(hops, weights=secs)
    return sums[: ends[-1] // hop].tolist()  # the last, partial hop left out


def measure(make: Callable[[], Tracker], signals: list[Signal], speech: list[SpeechClip],
            hop: int) -> dict[str, Any]:
    """Both figures and the cost per hop for one detector (see the module docstring)."""
    costs: list[float] = []
    per_signal: dict[str, float] = {}
    called = windows = 0
    for s in signals:
        times: list[tuple[int, float]] = []
        w = speech_windows(s.y.shape[0], utterance_spans(s.y, make(), block_times=times), hop)
        per_signal[s.label] = float(w.mean())
        called, windows = called + int(w.sum()), windows + w.size
        costs += hop_costs(times, hop)
    per_corpus: dict[str, list[int]] = {}  # corpus -> [detected, voiced, audible detected, audible]
    for c in speech:
        times = []
        hit = voiced_detected(c.y, c.centres, make(), block_times=times)
        tally = per_corpus.setdefault(c.clip.corpus, [0, 0, 0, 0])
        for i, n in enumerate((int(hit.sum()), hit.size, int(hit[c.audible].sum()), int(c.audible.sum()))):
            tally[i] += n
        costs += hop_costs(times, hop)
    detected, voiced, a_detected, a_voiced = (sum(t[i] for t in per_corpus.values()) for i in range(4))
    ms = np.array(costs) * 1000.0
    return {"nonspeech_no_speech": 1.0 - called / windows if windows else None, "nonspeech_windows": windows,
            "per_signal_speech": per_signal,
            "voiced_detected": detected / voiced if voiced else None, "voiced_frames": voiced,
            "audible_detected": a_detected / a_voiced if a_voiced else None, "audible_frames": a_voiced,
            "per_corpus_detected": {k: t[0] / t[1] if t[1] else None for k, t in per_corpus.items()},
            "per_corpus_audible_detected": {k: t[2] / t[3] if t[3] else None for k, t in per_corpus.items()},
            "hop_ms": {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)), "hops": ms.size}
            if ms.size else None}


def live_nonspeech(model: OnnxModel, signals: list[Signal], config: AnalyzerConfig) -> dict[str, Any]:
    """Each signal through the real-time engine: per signal, the share of its updates that say speech, and the
    share of all updates that say no speech."""
    from serapp_train.productpath import Conversation, replay

    per_signal: dict[str, float] = {}
    called = updates = 0
    for s in signals:
        speech = [r.is_speech for r in replay(model, Conversation(s.y, []), config)]
        per_signal[s.label] = float(np.mean(speech)) if speech else 0.0
        called, updates = called + int(np.sum(speech)), updates + len(speech)
    return {"nonspeech_no_speech": 1.0 - called / updates if updates else None, "updates": updates,
            "per_signal_speech": per_signal}


# ---------------------------------------------------------------------------------------------- command
def parse_set(items: list[str]) -> AnalyzerConfig:
    """AnalyzerConfig with ``key=value`` overrides (typed as the field); SerappError/ValueError when bad."""
    fields = {f.name: f for f in dataclasses.fields(AnalyzerConfig)}
    changes: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in fields:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE with KEY one of {', '.join(fields)}")
        default = fields[key].default
        changes[key] = type(default)(value) if isinstance(default, int | float) else value
    return dataclasses.replace(AnalyzerConfig(), **changes)


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100.0 * x:.1f} %"


def render(record: dict[str, Any]) -> str:
    """The plain-text tables of a record."""
    results: dict[str, dict[str, Any]] = record["detectors"]
    names = list(results)
    sets = record["nonspeech"]
    lines = [f"Speech detection, {sets['signals']} non-speech signals of {sets['seconds']} s, "
             f"{record['speech']['clips']} corpus clips (seed {record['seed']}), config changes: "
             f"{record['config_changes'] or 'none'}", ""]
    lines += ["| detector | non-speech hops 'no speech' (>= 95 %) | voiced frames detected (>= 98 %) | "
              f"audible voiced frames detected (within {AUDIBLE_DB:.0f} dB) | ms per hop p50 | p95 |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name in names:
        r = results[name]
        cost = r["hop_ms"] or {"p50": float("nan"), "p95": float("nan")}
        lines.append(f"| {name} | {pct(r['nonspeech_no_speech'])} | {pct(r['voiced_detected'])} | "
                     f"{pct(r['audible_detected'])} | {cost['p50']:.3f} | {cost['p95']:.3f} |")
    for name, why in record["skipped"].items():
        lines.append(f"| {name} | skipped: {why} | | | | |")
    live = record.get("live")
    if live:
        called = {k: v for k, v in live["per_signal_speech"].items() if v}
        lines += ["", f"Live, {CROWD_CHECKED} (the real-time engine, `{record['model']}`): "
                  f"{pct(live['nonspeech_no_speech'])} of {live['updates']} non-speech updates say no speech; "
                  "signals with updates saying speech: "
                  + (", ".join(f"{k} {pct(v)}" for k, v in called.items()) or "none") + "."]
    if names:
        lines += ["", "Share of hops called speech, per non-speech signal:", "",
                  "| signal | " + " | ".join(names) + " |", "| --- |" + " ---: |" * len(names)]
        for label in results[names[0]]["per_signal_speech"]:
            lines.append(f"| {label} | " + " | ".join(pct(results[n]["per_signal_speech"][label]) for n in names)
                         + " |")
        lines += ["", "Voiced frames detected (all / audible), per corpus:", "",
                  "| corpus | " + " | ".join(names) + " |", "| --- |" + " ---: |" * len(names)]
        for corpus in results[names[0]]["per_corpus_detected"]:
            lines.append(f"| {corpus} | " + " | ".join(
                f"{pct(results[n]['per_corpus_detected'][corpus])} / "
                f"{pct(results[n]['per_corpus_audible_detected'][corpus])}" for n in names) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=100, help="corpus clips for the speech figure (default 100)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each non-speech signal (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", dest="changes", action="append", default=[], metavar="KEY=VALUE",
                        help="an AnalyzerConfig value (repeatable), e.g. vad_onset=0.7")
    parser.add_argument("--detectors", default=",".join(DETECTORS), help=f"comma-separated: {','.join(DETECTORS)}")
    parser.add_argument("--model", type=Path, default=None,
                        help=f"the model whose crowd check '{CROWD_CHECKED}' uses (default: the bundled one)")
    parser.add_argument("--ten-vad-map", choices=("max", "mean"), default="max",
                        help="ten-vad's two 16-ms probabilities -> one per 32-ms chunk (default max)")
    parser.add_argument("--json", action="store_true", help="print the record as JSON instead of tables")
    args = parser.parse_args()
    if args.clips < 1 or not 1.0 <= args.seconds <= 600.0:
        parser.error("--clips must be >= 1 and --seconds 1-600")
    try:
        config = parse_set(args.changes)
    except (ValueError, SerappError) as exc:
        parser.error(str(exc))
    unknown = [d for d in args.detectors.split(",") if d not in DETECTORS]
    if unknown:
        parser.error(f"unknown detector(s) {', '.join(unknown)} (known: {', '.join(DETECTORS)})")
    try:
        clips = scan(corpora_root(), CORPORA)
    except SerappError as exc:
        sys.exit(f"bench_vad: {exc}")
    hop = round(config.hop_s * SAMPLE_RATE)
    with threadpool_limits(limits=1):
        sources = [audio.load(c.path, SAMPLE_RATE) for c in pick_clips(clips, BABBLE_PER_CORPUS * len(CORPORA),
                                                                           args.seed + 1)]
        signals = nonspeech_set(sources, seconds=args.seconds, seed=args.seed)
        speech = load_speech(pick_clips(clips, args.clips, args.seed))
        results: dict[str, dict[str, Any]] = {}
        skipped: dict[str, str] = {}
        model = None
        try:
            model = load_model(args.model)
        except SerappError as exc:
            skipped["model"] = str(exc)
        for name in args.detectors.split(","):
            try:
                make = tracker_factory(name, config, args.ten_vad_map, model)
            except (ImportError, OSError, SerappError) as exc:
                skipped[name] = f"{type(exc).__name__}: {exc}"
                continue
            start = time.perf_counter()
            results[name] = measure(make, signals, speech, hop)
            results[name]["run_s"] = time.perf_counter() - start
        live = (live_nonspeech(model, signals, config) if CROWD_CHECKED in results and model is not None
                else None)
    record = {"seed": args.seed, "config": dataclasses.asdict(config), "config_changes": args.changes,
              "ten_vad_map": args.ten_vad_map, "targets": {"nonspeech": NONSPEECH_TARGET, "speech": SPEECH_TARGET},
              "nonspeech": {"signals": len(signals), "seconds": args.seconds, "levels_db": list(LEVELS_DB)},
              "speech": {"clips": len(speech), "corpora": list(CORPORA), "pyin": PYIN, "pad_s": SPEECH_PAD_S,
                         "audible_db": AUDIBLE_DB},
              "detectors": results, "skipped": skipped, "live": live,
              "model": None if model is None else model.path.name,
              "machine": platform.processor() or platform.machine()}
    print(json.dumps(record) if args.json else render(record))


if __name__ == "__main__":
    main()
