"""Engine building blocks: ring buffer, speech detector, segmenter, utterance windows, EMA, spectrogram columns,
config JSON."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serapp.engine.analyzer import BoundedQueue
from serapp.engine.config import TUNABLES, AnalyzerConfig
from serapp.engine.ringbuffer import RingBuffer
from serapp.engine.smoothing import EmaSmoother, StickyTop
from serapp.engine.spectrum import SpectrumTracker
from serapp.engine.utterances import Segmenter, window_starts
from serapp.engine.vad import CHUNK, SEGMENT_CHUNKS, DcBlocker, SileroVad, level_db
from serapp.errors import SerappError


@settings(max_examples=60, deadline=None)
@given(capacity=st.integers(1, 50), sizes=st.lists(st.integers(0, 80), max_size=12), n=st.integers(0, 50))
def test_ring_latest_is_the_tail_of_everything_written(capacity: int, sizes: list[int], n: int) -> None:
    ring = RingBuffer(capacity)
    stream = np.arange(sum(sizes), dtype=np.float32)
    pos = 0
    for size in sizes:
        ring.write(stream[pos:pos + size])
        pos += size
    n = min(n, capacity, pos)
    view = ring.latest(n)
    assert view.base is not None  # a view, not a copy
    np.testing.assert_array_equal(view, stream[pos - n:pos])


def test_ring_since_reports_lost_samples() -> None:
    ring = RingBuffer(10)
    ring.write(np.arange(25, dtype=np.float32))
    view, total, lost = ring.since(0)
    assert (total, lost) == (25, 15)
    np.testing.assert_array_equal(view, np.arange(15, 25))


@settings(max_examples=40, deadline=None)
@given(capacity=st.integers(1, 20), sizes=st.lists(st.integers(0, 30), max_size=8))
def test_ring_of_rows_keeps_the_newest_rows_in_order(capacity: int, sizes: list[int]) -> None:
    """The spectrogram's uint8 columns and the timeline's probabilities: rows of any shape, the same ring."""
    ring = RingBuffer(capacity, (3,), np.uint8)
    rows = (np.arange(3 * sum(sizes)) % 251).astype(np.uint8).reshape(-1, 3)
    pos = 0
    for size in sizes:
        ring.write(rows[pos:pos + size])
        pos += size
    assert len(ring) == min(pos, capacity) and ring.latest(len(ring)).shape == (len(ring), 3)
    np.testing.assert_array_equal(ring.latest(len(ring)), rows[pos - len(ring):pos])


def _babble_like_speech(seconds: float, seed: int = 0) -> np.ndarray:
    """A voiced signal with a moving pitch and syllable-rate bursts: what a detector should call speech-like."""
    sr = 16000
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * sr)) / sr
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = sum(np.sin(k * phase) / k for k in range(1, 20)) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2)
    return (0.1 * y + 0.001 * rng.standard_normal(t.size)).astype(np.float32)


def test_detector_output_does_not_depend_on_block_sizes() -> None:
    """Live capture pushes 10-30 ms blocks, file analysis minutes at a time: the same probabilities (the reset
    grid makes each chunk's state a function of the stream only), across several segments."""
    rng = np.random.default_rng(1)
    y = np.concatenate([_babble_like_speech(5.0), np.zeros(16000 * 4, np.float32), _babble_like_speech(10.0, 2)])
    assert y.size > 2 * SEGMENT_CHUNKS * CHUNK
    whole = SileroVad().push(y)
    vad, parts, i = SileroVad(), [], 0
    while i < y.size:
        n = int(rng.integers(1, 4000))
        parts.append(vad.push(y[i:i + n]))
        i += n
    pieces = np.concatenate(parts)
    assert whole.shape == (y.size // CHUNK,) == pieces.shape
    np.testing.assert_allclose(pieces, whole, atol=1e-6)


def test_detector_hears_corpus_speech_and_not_silence(sample_clips: list) -> None:
    from serapp.engine import audio
    from serapp.engine.preprocess import nonsilent_bounds

    for path in sample_clips[:4]:
        y = audio.load(path, 16000)
        lo, hi = nonsilent_bounds(y, 30.0, 512, 160)
        probs = SileroVad().push(y)
        voiced = probs[lo // CHUNK + 3:hi // CHUNK - 3]  # the clip's speech, away from its edges
        assert np.mean(voiced > 0.5) > 0.6, path
    assert np.all(SileroVad().push(np.zeros(16000 * 3, np.float32)) < 0.1)


def test_dc_blocker_removes_an_offset_and_is_block_size_independent() -> None:
    rng = np.random.default_rng(0)
    y = (0.004 + 0.05 * rng.standard_normal(48000)).astype(np.float32)
    whole = DcBlocker().process(y)
    blocker = DcBlocker()
    pieces = np.concatenate([blocker.process(y[i:i + 777]) for i in range(0, y.size, 777)])
    np.testing.assert_allclose(pieces, whole, atol=1e-6)
    assert abs(float(np.mean(whole[16000:]))) < 5e-4  # the offset is gone after the first second
    # A stream that starts at an offset gives no step: a constant input comes out as silence from the first sample.
    assert float(np.abs(DcBlocker().process(np.full(800, 0.3, np.float32))).max()) < 1e-6
    assert abs(level_db(whole[16000:]) - level_db(y - 0.004)) < 0.2  # speech-band level unchanged


def _segment(probs: list[float], **config: float) -> list[tuple[str, int, int]]:
    seg = Segmenter(AnalyzerConfig(**config))
    p = np.asarray(probs, np.float32)
    return seg.push(p, np.zeros_like(p)) + seg.flush()


def test_segmenter_needs_min_speech_and_ends_after_the_hangover() -> None:
    cfg = dict(min_speech_s=0.1, hangover_s=0.2, pad_s=0.0)  # 3 chunks to begin, 6 quiet chunks to end
    assert _segment([0.9, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1], **cfg) == []  # a click
    events = _segment([0.0] * 4 + [0.9] * 10 + [0.4] * 2 + [0.9] * 3 + [0.0] * 10, **cfg)
    # The dip to 0.4 (above vad_offset 0.35) does not end it; the pause after chunk 18 does.
    assert events == [("onset", 4 * CHUNK, 0), ("offset", 4 * CHUNK, 19 * CHUNK)]


def test_segmenter_splits_long_speech_and_ignores_quiet_chunks() -> None:
    events = _segment([0.9] * 150, max_utterance_s=3.0, pad_s=0.0)  # 4.8 s: 3 s, then the rest
    kinds = [e[0] for e in events]
    assert kinds == ["onset", "offset", "onset", "offset"]
    assert events[1][2] - events[1][1] == pytest.approx(3.0 * 16000, abs=CHUNK)
    seg = Segmenter(AnalyzerConfig(gate_db=-50.0))
    loud_enough = np.full(20, -70.0, np.float32)  # the detector says speech, the level says digital hiss
    assert seg.push(np.full(20, 0.99, np.float32), loud_enough) == []


def test_utterance_windows_cover_long_utterances_and_keep_their_grid() -> None:
    assert window_starts(100, 300) == [0]
    assert window_starts(300, 300) == [0]
    assert window_starts(700, 300) == [0, 150, 300, 400]
    # Growing from 700 to 720 samples only moves the last window: the grid's windows stay (they are cached live).
    assert window_starts(720, 300)[:-1] == window_starts(700, 300)[:-1]


def test_ema_follows_with_the_time_constant() -> None:
    ema = EmaSmoother(step_s=0.25, time_constant_s=0.25)
    a, b = np.array([1.0, 0.0], np.float32), np.array([0.0, 1.0], np.float32)
    np.testing.assert_allclose(ema.update(a), a)
    np.testing.assert_allclose(ema.update(b), [np.exp(-1), 1 - np.exp(-1)], rtol=1e-5)
    ema.reset()
    np.testing.assert_allclose(ema.update(b), b)
    np.testing.assert_allclose(EmaSmoother(0.25, 0.0).update(b), b)


def test_the_named_emotion_holds_against_near_ties() -> None:
    sticky = StickyTop(margin=0.1)
    assert sticky.choose(np.array([0.5, 0.4, 0.1])) == 0
    assert sticky.choose(np.array([0.42, 0.48, 0.1])) == 0  # 6 points ahead: not enough
    assert sticky.choose(np.array([0.35, 0.5, 0.15])) == 1  # 15 points ahead: named
    assert sticky.choose(np.array([0.45, 0.4, 0.15])) == 1
    sticky.reset()
    assert sticky.choose(np.array([0.45, 0.4, 0.15])) == 0  # a new utterance starts from its top
    assert StickyTop(0.0).choose(np.array([0.2, 0.3, 0.5])) == 2
    assert StickyTop(0.0).choose(np.array([0.5, 0.5])) == 0  # a tie names the first, as argmax does


def test_spectrum_columns_are_seamless_and_in_dbfs() -> None:
    sr = 16000
    tone = np.sin(2 * np.pi * 1000 * np.arange(sr) / sr).astype(np.float32)
    whole = SpectrumTracker(sr).push(tone)
    parts = SpectrumTracker(sr)
    pieces = np.concatenate([parts.push(tone[i:i + 333]) for i in range(0, sr, 333)])
    np.testing.assert_allclose(pieces, whole, atol=1e-3)
    peak = whole[:, np.argmin(np.abs(parts.freqs - 1000))]
    assert np.all(np.abs(peak) < 1.0)  # a full-scale sine reads 0 dB


def test_config_json_round_trip_and_validation() -> None:
    cfg = AnalyzerConfig(hop_s=0.5, gate_db=-40)
    assert AnalyzerConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(SerappError, match="hop_s"):
        AnalyzerConfig(hop_s=0)
    with pytest.raises(SerappError, match="Invalid analyzer setting: unknown settings colour"):
        AnalyzerConfig.from_dict({"colour": 1})


def test_tunable_settings_have_one_default_and_one_range() -> None:
    """The CLI, the window and the engine read the same table: its defaults are the config's, and each end of
    each range is accepted while a step beyond it is refused."""
    for name, t in TUNABLES.items():
        assert getattr(AnalyzerConfig(), name) == t.default
        for ok in (t.low, t.high):
            AnalyzerConfig(**{name: ok})
        for bad in (t.low - 0.01, t.high + 0.01, float("nan")):
            with pytest.raises(SerappError, match=name):
                AnalyzerConfig(**{name: bad})


def test_bounded_queue_drops_oldest_and_counts() -> None:
    q: BoundedQueue[int] = BoundedQueue(3)
    for i in range(5):
        q.put(i)
    assert q.dropped == 2 and q.drain() == [2, 3, 4] and q.get(timeout=0.01) is None
