"""Engine building blocks: ring buffer, windows, voice gate, EMA, spectrogram columns, config JSON."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serapp.engine.analyzer import BoundedQueue
from serapp.engine.config import AnalyzerConfig
from serapp.engine.ringbuffer import RingBuffer
from serapp.engine.smoothing import EmaSmoother
from serapp.engine.spectrum import SpectrumTracker
from serapp.engine.vad import VoiceGate
from serapp.engine.windowing import Windower
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


def test_windower_cuts_at_every_hop_whatever_the_chunking() -> None:
    y = np.arange(100, dtype=np.float32)
    for chunk in (1, 7, 100):
        w = Windower(window=30, hop=25)
        got = []
        for i in range(0, 100, chunk):
            got += [(end, w.current()) for end in w.feed(y[i:i + chunk])]
        assert [e for e, _ in got] == [25, 50, 75, 100]
        np.testing.assert_array_equal(got[0][1], y[:25])  # before a full window: what has arrived
        np.testing.assert_array_equal(got[2][1], y[45:75])


def test_gate_tells_speech_from_silence_and_steady_noise() -> None:
    sr = 16000
    rng = np.random.default_rng(0)
    gate = VoiceGate(sr)
    silence = np.zeros(3 * sr, dtype=np.float32)
    noise = (rng.standard_normal(3 * sr) * 0.01).astype(np.float32)  # -40 dBFS, above the gate, but steady
    bursts = noise.copy()
    bursts[sr:2 * sr] += (np.sin(2 * np.pi * 200 * np.arange(sr) / sr) * 0.3).astype(np.float32)
    assert not gate(silence).is_speech
    assert not gate(noise).is_speech
    decision = gate(bursts)
    assert decision.is_speech and 0.9 <= decision.voiced_s <= 1.1


def test_ema_follows_with_the_time_constant() -> None:
    ema = EmaSmoother(step_s=0.25, time_constant_s=0.25)
    a, b = np.array([1.0, 0.0], np.float32), np.array([0.0, 1.0], np.float32)
    np.testing.assert_allclose(ema.update(a), a)
    np.testing.assert_allclose(ema.update(b), [np.exp(-1), 1 - np.exp(-1)], rtol=1e-5)
    ema.reset()
    np.testing.assert_allclose(ema.update(b), b)
    np.testing.assert_allclose(EmaSmoother(0.25, 0.0).update(b), b)


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


def test_bounded_queue_drops_oldest_and_counts() -> None:
    q: BoundedQueue[int] = BoundedQueue(3)
    for i in range(5):
        q.put(i)
    assert q.dropped == 2 and q.drain() == [2, 3, 4] and q.get(timeout=0.01) is None
