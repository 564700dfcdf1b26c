"""A crowd check for a Whisper model: a logistic head on the model's own embedding that tells many voices at once
(a hall's babble, which every speech detector takes for speech) from one speaker, attached to the model file as
its ``crowd`` output with the threshold the engine applies (:class:`serapp.engine.modelmeta.ModelInfo`).

What ``serapp-train crowd`` runs:

1. :func:`examples`: audio of one part of a run's split: its clips as utterances (clean, in white, pink or brown
   noise, over a crowd at 10-25 dB SNR; -40..-10 dBFS) and crowds made of its clips (:func:`babble`: 3-12
   talkers, forward or reversed, unequal levels, some in noise; -50..-10 dBFS). Each is cut into utterances by the
   engine's own speech tracker, and each utterance also gives a beginning (0.5-2 s), what the live display scores
   first. The crowds' clips and the utterances' clips are the same speakers': a crowd of strangers is what the
   app meets, and the check must not learn voices.
2. :func:`window_embeddings`: every utterance's windows as the engine prepares them, through the model file's
   ``embedding`` output (an adaptable model's; int8 or not, what the app computes).
3. :func:`fit`: logistic regression on the training speakers' windows (standardisation folded into the weights).
4. :func:`choose_threshold`: on the **validation** speakers' utterances (the mean of their windows' probabilities,
   as the engine decides), the lowest threshold that calls at most ``max_speech_loss`` of their speech a crowd.
5. :func:`attach`: the head joins the graph (``Flatten -> MatMul -> Add -> Sigmoid``), the base's outputs are
   untouched, the threshold and a provenance record go into the metadata; the file is written atomically after
   the served crowd output matches the head's within 1e-3 (float32 sums of thousands of terms).

Test speakers are never read.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from serapp.atomic import replacing
from serapp.engine import audio, features
from serapp.engine.config import AnalyzerConfig
from serapp.engine.model import CROWD, EMBEDDING, OnnxModel
from serapp.engine.modelmeta import ModelInfo
from serapp.engine.utterances import SpeechTracker, window_audio, window_layout
from serapp.engine.vad import CHUNK, SAMPLE_RATE
from serapp.errors import SerappError

from .corpora import Clip

RECORD_FILES: tuple[str, str] = ("crowd.json", "crowd.md")  # a crowd check's record and its table
CROWD_KEY = "serapp.crowd_check"  # provenance: how the head was made (speakers, counts, seed)
CROWD_NOTE = "no speech where"  # begins the note attach adds (replaced when the check is learnt again)
TALKERS = (3, 4, 6, 8, 12)
SPEECH_KINDS = ("clean", "white noise", "pink noise", "brown noise", "over a crowd")
PREFIX_S = (0.5, 2.0)  # the live display first scores an utterance at min_score_s (0.5 s)
# make_crowd_check's options, by the names `serapp-train crowd` and a recipe's crowd step give them. The head's
# inverse L2 strength: 0.003-0.1 gave validation figures within a few points of each other.
CROWD_DEFAULTS: dict[str, Any] = {"clips": 150, "crowds": 700, "c": 0.03, "max_speech_loss": 0.005, "seed": 0}


# ---------------------------------------------------------------------------------------------- audio
def at_level(y: np.ndarray, level_db: float) -> np.ndarray:
    """``y`` scaled to an RMS level of ``level_db`` dBFS, clipped to full scale as an input would be; float32."""
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if y.size else 0.0
    if rms <= 0.0:
        return np.zeros_like(y, dtype=np.float32)
    return np.clip(y * (10.0 ** (level_db / 20.0) / rms), -1.0, 1.0).astype(np.float32)


def coloured_noise(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Gaussian noise with power falling as ``1 / f ** exponent`` (0 white, 1 pink, 2 brown), ``(n,)``."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    f[0] = f[1]  # no infinite gain at DC (the engine removes DC anyway)
    return np.fft.irfft(spectrum / f ** (exponent / 2.0), n)


def babble(sources: Sequence[np.ndarray], *, talkers: int, reverse: bool = True, spread_db: float = 0.0
           ) -> Callable[[np.random.Generator, int], np.ndarray]:
    """A crowd of ``talkers`` streams, each clips from ``sources`` (16 kHz) end to end from a random clip and
    offset (``reverse``: each clip played backwards, speech's spectrum and rhythm without words), each stream at
    unit RMS times a gain drawn within +-``spread_db`` dB, summed. Returns ``make(rng, n) -> (n,)`` float64."""
    if len(sources) < 2:
        raise SerappError("A crowd needs at least two source clips.")

    def make(rng: np.random.Generator, n: int) -> np.ndarray:
        out = np.zeros(n)
        for _ in range(talkers):
            parts, total, i = [], 0, int(rng.integers(len(sources)))
            while total < n + SAMPLE_RATE:
                clip = np.asarray(sources[i % len(sources)], dtype=np.float64)
                parts.append(clip[::-1] if reverse else clip)
                total += clip.shape[0]
                i += 1 + int(rng.integers(2))
            stream = np.concatenate(parts)
            start = int(rng.integers(0, stream.shape[0] - n))
            piece = stream[start:start + n]
            gain = 10 ** (rng.uniform(-spread_db, spread_db) / 20) if spread_db else 1.0
            out += gain * piece / max(float(piece.std()), 1e-9)
        return out
    return make


def mix(y: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``y`` plus ``noise`` (at least as long) at ``snr_db`` dB below ``y``'s power."""
    noise = noise[:y.shape[0]]
    gain = np.sqrt(np.mean(y ** 2) / max(float(np.mean(noise ** 2)), 1e-12) / 10 ** (snr_db / 10))
    return y + gain * noise


def utterances(y: np.ndarray, config: AnalyzerConfig) -> list[np.ndarray]:
    """The utterances the engine's speech tracker finds in ``y`` (16 kHz), pushed in 32 ms blocks as live."""
    tracker = SpeechTracker(config)
    y = np.asarray(y, np.float32)
    found: list[np.ndarray] = []
    for start in range(0, y.shape[0], CHUNK):
        found += [clip for kind, _, clip in tracker.push(y[start:start + CHUNK])[1] if kind == "offset"
                  and clip is not None]
    return found + [clip for kind, _, clip in tracker.flush() if kind == "offset" and clip is not None]


@dataclass(frozen=True)
class Example:
    """One utterance to learn or judge: its audio (16 kHz float32), whether it is a crowd, and its ``kind``."""

    y: np.ndarray
    crowd: bool
    kind: str


def _with_beginnings(found: list[np.ndarray], crowd: bool, kind: str, rng: np.random.Generator) -> list[Example]:
    out = []
    for y in found:
        out.append(Example(y, crowd, kind))
        n = round(rng.uniform(*PREFIX_S) * SAMPLE_RATE)
        if y.shape[0] > n:
            out.append(Example(y[:n], crowd, f"{kind}, beginning"))
    return out


def examples(clips: Sequence[Clip], *, crowds: int, seed: int = 0, config: AnalyzerConfig | None = None,
             progress: Callable[[int, int], None] | None = None) -> list[Example]:
    """Speech utterances of ``clips`` (one condition each, in turn) and ``crowds`` crowds made of them (see the
    module), each cut by the engine's tracker, with their beginnings. Same arguments, same examples."""
    config = config or AnalyzerConfig()
    rng = np.random.default_rng(seed)
    ys = [audio.load(c.path, SAMPLE_RATE).astype(np.float64) for c in clips]
    if len(ys) < 2:
        raise SerappError("The crowd check needs at least two clips.")
    pad = np.zeros(SAMPLE_RATE // 2)
    out: list[Example] = []
    total = len(ys) + crowds
    for i, y in enumerate(ys):
        kind = SPEECH_KINDS[i % len(SPEECH_KINDS)]
        z = np.concatenate([pad, y, pad])
        if kind.endswith("noise"):
            z = mix(z, coloured_noise(rng, z.shape[0], SPEECH_KINDS.index(kind) - 1.0), rng.uniform(5.0, 25.0))
        elif kind == "over a crowd":
            crowd = babble(ys, talkers=int(rng.choice(TALKERS)), reverse=bool(rng.integers(2)), spread_db=6.0)
            z = mix(z, crowd(rng, z.shape[0]), rng.uniform(10.0, 25.0))
        out += _with_beginnings(utterances(at_level(z, rng.uniform(-40.0, -10.0)), config), False, kind, rng)
        if progress is not None:
            progress(i + 1, total)
    for k in range(crowds):
        talkers, reverse = int(TALKERS[k % len(TALKERS)]), bool((k // len(TALKERS)) % 2)
        z = babble(ys, talkers=talkers, reverse=reverse, spread_db=float(rng.uniform(0.0, 6.0)))(
            rng, round(rng.uniform(2.0, 8.0) * SAMPLE_RATE))
        if k % 4 == 0:
            z = mix(z, coloured_noise(rng, z.shape[0], float(rng.integers(3))), rng.uniform(5.0, 20.0))
        kind = f"crowd of {talkers}, {'reversed' if reverse else 'forward'}"
        out += _with_beginnings(utterances(at_level(z, rng.uniform(-50.0, -10.0)), config), True, kind, rng)
        if progress is not None:
            progress(len(ys) + k + 1, total)
    return out


# ---------------------------------------------------------------------------------------------- the head
def window_embeddings(model: OnnxModel, y: np.ndarray) -> np.ndarray:
    """The model's embedding of each window the engine scores for utterance ``y``, flattened:
    ``(n_windows, embedding size)`` float32. The model must give its ``embedding`` (an adaptable model)."""
    if not model.adaptable:
        raise SerappError(f"{model.path} gives no {EMBEDDING!r} output: the crowd check needs an adaptable Whisper "
                          "model (serapp-train export RUN --onto MODEL).")
    spec = model.info.spec
    offset, n, starts = window_layout(y, spec)
    x = features.compute_batch(window_audio(y, offset, n, starts, spec.n_samples), spec)
    embedding = model.score_windows(x, embeddings=True, crowd=False).embeddings
    assert embedding is not None  # asked for
    return embedding.reshape(embedding.shape[0], -1)


@dataclass(frozen=True)
class Head:
    """A logistic crowd head on flattened embeddings: ``p = sigmoid(x @ weights + bias)``."""

    weights: np.ndarray  # (embedding size,) float32
    bias: float

    def probability(self, x: np.ndarray) -> np.ndarray:
        """``(n, size)`` -> ``(n,)`` crowd probabilities."""
        z = np.asarray(x, np.float64) @ self.weights.astype(np.float64) + self.bias
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


def fit(x: np.ndarray, crowd: np.ndarray, *, c: float = CROWD_DEFAULTS["c"]) -> Head:
    """Standardised logistic regression (``c``: inverse L2 strength), the standardisation folded into the
    weights. ``x`` ``(n, size)``, ``crowd`` ``(n,)`` bool."""
    from sklearn.linear_model import LogisticRegression

    if len(set(np.asarray(crowd).tolist())) != 2:
        raise SerappError("The crowd check needs both crowds and speech to learn from.")
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    clf = LogisticRegression(C=c, max_iter=5000).fit((x - mean) / std, np.asarray(crowd, int))
    w = clf.coef_[0] / std
    return Head(w.astype(np.float32), float(clf.intercept_[0] - np.dot(w, mean)))


def utterance_probability(head: Head, windows: Sequence[np.ndarray]) -> np.ndarray:
    """Per utterance, the mean crowd probability of its windows (what the engine compares with the threshold)."""
    return np.array([float(head.probability(w).mean()) for w in windows], np.float32)


def choose_threshold(speech: np.ndarray, *, max_speech_loss: float, floor: float = 0.5) -> float:
    """The lowest threshold (at least ``floor``) above all but ``max_speech_loss`` of the speech utterances'
    crowd probabilities ``speech``."""
    if not speech.size:
        raise SerappError("No speech utterances to choose the crowd threshold on.")
    return float(min(max(floor, np.quantile(speech, 1.0 - max_speech_loss) + 1e-6), 0.999))


def shares(p: np.ndarray, kinds: Sequence[str], threshold: float) -> dict[str, dict[str, float]]:
    """Per kind of example: utterances and the share called a crowd at ``threshold``."""
    kinds_arr = np.asarray(kinds)
    return {k: {"utterances": int((kinds_arr == k).sum()), "called_crowd": float((p[kinds_arr == k] >= threshold)
                                                                                 .mean())}
            for k in sorted(set(kinds))}


def attach(base_path: Path, out: Path, head: Head, threshold: float, record: dict[str, Any], *,
           check: np.ndarray, atol: float = 1e-3) -> ModelInfo:
    """Write ``base_path`` with ``head`` as its ``crowd`` output and ``threshold`` in its metadata to ``out``
    (atomic; may be the base itself; a crowd check the base has is replaced), after the served output matches
    ``head`` on the flattened embeddings of ``check`` (features ``(n, *spec.shape)``) within ``atol`` and the
    base's probabilities are unchanged."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from .adaptable import pooled_tensor

    base = OnnxModel(base_path)
    if not base.adaptable:
        raise SerappError(f"{base_path} gives no embedding: attach the adapted head first (export --onto).")
    model = onnx.load(str(base_path))
    graph = model.graph
    p = "crowd/"
    if base.crowd_checked:  # learnt again: the old head goes, the base's own graph stays
        kept_nodes = [n for n in graph.node if not n.name.startswith(p)]
        kept_init = [t for t in graph.initializer if not t.name.startswith(p)]
        kept_out = [o for o in graph.output if o.name != CROWD]
        del graph.node[:], graph.initializer[:], graph.output[:]
        graph.node.extend(kept_nodes)
        graph.initializer.extend(kept_init)
        graph.output.extend(kept_out)
    pooled = pooled_tensor(graph)
    graph.node.extend([
        helper.make_node("Flatten", [pooled], [p + "flat"], axis=1, name=p + "flatten"),
        helper.make_node("MatMul", [p + "flat", p + "weights"], [p + "logit2d"], name=p + "matmul"),
        helper.make_node("Add", [p + "logit2d", p + "bias"], [p + "biased"], name=p + "add"),
        helper.make_node("Sigmoid", [p + "biased"], [p + "prob2d"], name=p + "sigmoid"),
        helper.make_node("Reshape", [p + "prob2d", p + "shape"], [CROWD], name=p + "out"),
    ])
    graph.initializer.extend([numpy_helper.from_array(head.weights.reshape(-1, 1).astype(np.float32), p + "weights"),
                              numpy_helper.from_array(np.array([head.bias], np.float32), p + "bias"),
                              numpy_helper.from_array(np.array([-1], np.int64), p + "shape")])
    graph.output.append(helper.make_tensor_value_info(CROWD, TensorProto.FLOAT, ["batch"]))
    onnx.checker.check_model(model)
    notes = base.info.notes.split(CROWD_NOTE)[0].rstrip("; ")
    info = dataclasses.replace(base.info, crowd_threshold=threshold,
                               notes=f"{notes}; {CROWD_NOTE} an utterance's windows' crowd probability averages "
                                     f"{threshold:.3f} or more (serapp-train crowd)")
    props = {q.key: q.value for q in model.metadata_props} | info.to_metadata() | {CROWD_KEY: json.dumps(record)}
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, props)
    with replacing(Path(out)) as tmp:
        tmp.write_bytes(model.SerializeToString())
        served = OnnxModel(tmp)
        scored = served.score_windows(check, embeddings=True)
        assert scored.embeddings is not None and scored.crowd is not None  # asked for; the model checks crowds
        crowd_diff = float(np.max(np.abs(scored.crowd - head.probability(scored.embeddings.reshape(len(check), -1)))))
        plain_diff = float(np.max(np.abs(scored.probs - base.predict(check))))
        if not (crowd_diff <= atol and plain_diff == 0.0):  # also catches NaN
            raise SerappError(f"The crowd-checked model disagrees with its parts: crowd {crowd_diff:.2e} > {atol:.0e} "
                              f"or probabilities moved by {plain_diff:.2e}; the file was not written.")
    return served.info


# ---------------------------------------------------------------------------------------------- the whole job
@dataclass(frozen=True)
class CrowdCheck:
    """What :func:`make_crowd_check` wrote: the model file, its threshold and the record (``crowd.json``)."""

    path: Path
    threshold: float
    record: dict[str, Any]


def _every(step: int, say: Callable[[str], None], part: str) -> Callable[[int, int], None]:
    """A progress callback saying how many recordings of ``part`` are cut, every ``step`` and at the end."""
    def progress(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            say(f"{part}: cut {done}/{total} recordings into utterances")
    return progress


def _embedded(model: OnnxModel, found: list[Example], say: Callable[[str], None], part: str) -> list[np.ndarray]:
    out = []
    for i, ex in enumerate(found):
        out.append(window_embeddings(model, ex.y))
        if (i + 1) % 200 == 0 or i + 1 == len(found):
            say(f"{part}: embedded {i + 1}/{len(found)} utterances")
    return out


def check_options(options: dict[str, Any]) -> None:
    """Refuse out-of-range :data:`CROWD_DEFAULTS` options (``options``: some of them, by those names)."""
    o = {**CROWD_DEFAULTS, **options}
    if not (o["clips"] >= 2 and o["crowds"] >= 2 and o["c"] > 0 and 0 <= o["max_speech_loss"] < 0.5):
        raise SerappError(f"The crowd check needs clips and crowds of at least 2, c above 0 and max_speech_loss "
                          f"within 0-0.5; got {o}.")


def make_crowd_check(model_path: Path, split: Path, out: Path, *, root: Path,
                     clips_per_corpus: int = CROWD_DEFAULTS["clips"], crowds: int = CROWD_DEFAULTS["crowds"],
                     seed: int = CROWD_DEFAULTS["seed"], c: float = CROWD_DEFAULTS["c"],
                     max_speech_loss: float = CROWD_DEFAULTS["max_speech_loss"],
                     say: Callable[[str], None] = print) -> CrowdCheck:
    """The whole of ``serapp-train crowd`` (see the module): learn on ``split``'s training speakers, choose the
    threshold on its validation speakers, write ``out``. ``clips_per_corpus`` clips of each corpus per part; the
    validation part gets half as many crowds."""
    from .evaluation import part_clips
    from .provenance import sha256_file

    check_options({"clips": clips_per_corpus, "crowds": crowds, "c": c, "max_speech_loss": max_speech_loss})
    model = OnnxModel(model_path)
    parts: dict[str, tuple[list[Example], list[np.ndarray]]] = {}
    for part, n_crowds in (("train", crowds), ("val", max(1, crowds // 2))):
        clips = part_clips(root, split, part, limit=clips_per_corpus, seed=seed)
        say(f"{part}: {len(clips)} clips of {len({c.speaker for c in clips})} speakers, {n_crowds} crowds")
        found = examples(clips, crowds=n_crowds, seed=seed + (part == "val"), progress=_every(200, say, part))
        parts[part] = found, _embedded(model, found, say, part)
    train_found, train_windows = parts["train"]
    head = fit(np.concatenate(train_windows), np.concatenate([np.full(len(w), ex.crowd) for ex, w in
                                                               zip(train_found, train_windows, strict=True)]), c=c)
    val_found, val_windows = parts["val"]
    p_val = utterance_probability(head, val_windows)
    is_crowd = np.array([ex.crowd for ex in val_found])
    threshold = choose_threshold(p_val[~is_crowd], max_speech_loss=max_speech_loss)
    p_train = utterance_probability(head, train_windows)
    record = {
        "model": {"file": Path(model_path).name, "sha256": sha256_file(model_path)},
        "split": str(split), "seed": seed, "c": c, "max_speech_loss": max_speech_loss, "threshold": threshold,
        "clips_per_corpus": clips_per_corpus, "crowds": crowds,
        "chosen_on": "validation speakers (the head learnt on the training speakers; test speakers never read)",
        "val": shares(p_val, [ex.kind for ex in val_found], threshold),
        "train": shares(p_train, [ex.kind for ex in train_found], threshold),
    }
    sampled = val_found[:: max(1, len(val_found) // 8)][:8]  # the parity check's utterances, spread over the part
    check = features.compute_batch([ex.y[:model.info.spec.n_samples] for ex in sampled], model.info.spec)
    attach(model_path, out, head, threshold, {k: record[k] for k in ("split", "seed", "c", "threshold")},
           check=check)
    return CrowdCheck(Path(out), threshold, record)


def write_records(folder: Path, record: dict[str, Any]) -> str:
    """Write ``record`` (``make_crowd_check``'s, perhaps with more keys) and its table (:func:`render`) into
    ``folder`` as :data:`RECORD_FILES` (atomically); returns the table."""
    from serapp.atomic import write_text

    from .jsonfile import write_json

    text = render(record)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / RECORD_FILES[0], record)
    write_text(folder / RECORD_FILES[1], text)
    return text


def render(record: dict[str, Any]) -> str:
    """``crowd.json`` -> Markdown: per kind of utterance, the share called a crowd on each part."""
    from .tables import markdown, pct

    kinds = sorted(set(record["val"]) | set(record["train"]))
    rows = [[k, *(f"{pct(record[p][k]['called_crowd'])} of {record[p][k]['utterances']}" if k in record[p] else ""
                  for p in ("val", "train"))] for k in kinds]
    head = (f"Crowd check of `{record['model']['file']}` (`serapp-train crowd`, split `{record['split']}`, seed "
            f"{record['seed']}): threshold {record['threshold']:.3f}, the lowest calling at most "
            f"{pct(record['max_speech_loss'])} of the validation speakers' speech a crowd.\n\n"
            "Utterances called a crowd (an utterance's windows' mean probability at or above the threshold):\n\n")
    return head + markdown(["utterance", "validation speakers", "training speakers (learnt on)"], rows, "lrr") + "\n"
