"""The feature cache on real clips: cold vs warm, no decoding when warm, bad files skipped, exact values."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from serapp_train import cache
from serapp_train.corpora import Clip, scan

from serapp.engine import audio, features
from serapp.engine.spec import FeatureSpec
from serapp.errors import SerappError

pytestmark = pytest.mark.corpora

SPEC = FeatureSpec(kind="mfcc", n_mfcc=20)


def clip_of(path: Path) -> Clip:
    return Clip(path, "test", "sad", "test:a", None, "sad")


@pytest.fixture(scope="module")
def clips(corpora: Path) -> list[Clip]:
    """Six real clips from two corpora, the same every run."""
    return scan(corpora, ["savee"])[::80] + scan(corpora, ["tess"])[:1]


def count_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every call of serapp.engine.audio.load (in this process)."""
    calls: list[str] = []
    real = audio.load

    def spy(path: str | Path, sample_rate: int = 16000) -> np.ndarray:
        calls.append(str(path))
        return real(path, sample_rate)

    monkeypatch.setattr(audio, "load", spy)
    return calls


def test_cold_then_warm_without_decoding(clips: list[Clip], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_loads(monkeypatch)
    cold = cache.extract(clips, SPEC, audio=True, cache=tmp_path, workers=1, progress=False)
    assert len(calls) == len(clips)
    assert cold.features.shape == (len(clips), *SPEC.shape) and cold.features.dtype == np.float32
    assert cold.audio.shape == (len(clips), SPEC.n_samples) and cold.audio.dtype == np.float16
    assert cold.kept.all() and cold.errors == []
    calls.clear()
    warm = cache.extract(clips, SPEC, audio=True, cache=tmp_path, workers=1, progress=False)
    assert calls == []
    np.testing.assert_array_equal(warm.features, cold.features)
    np.testing.assert_array_equal(warm.audio, cold.audio)
    # Cached values are exactly what the one feature pipeline computes.
    for i in (0, len(clips) - 1):
        y = audio.load(clips[i].path, SPEC.sample_rate)
        np.testing.assert_array_equal(warm.features[i], features.compute(y, SPEC))
        prepared = features.prepare_batch([y], SPEC)[0]
        np.testing.assert_allclose(warm.audio[i], prepared, atol=1e-3)  # float16 storage


def test_changed_spec_or_file_is_recomputed(clips: list[Clip], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    local = tmp_path / "clip.ogg"
    shutil.copyfile(clips[0].path, local)
    cache.features([clip_of(local)], SPEC, cache=tmp_path / "c", progress=False)
    calls = count_loads(monkeypatch)
    other = cache.features([clip_of(local)], SPEC.replace(n_mfcc=13), cache=tmp_path / "c", progress=False)
    assert other.features.shape == (1, SPEC.n_frames, 13) and len(calls) == 1
    shutil.copyfile(clips[1].path, local)  # a different file under the same name
    again = cache.features([clip_of(local)], SPEC, cache=tmp_path / "c", progress=False)
    assert len(calls) == 2
    np.testing.assert_array_equal(again.features[0], features.compute(audio.load(clips[1].path), SPEC))


def test_a_corpus_copied_again_keeps_its_entries(clips: list[Clip], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The shared corpora are copied afresh for each session (new paths or modification times): entries are found
    by the files' contents, so the copy is warm; the same bytes edited are not."""
    first, second = tmp_path / "a" / "clip.ogg", tmp_path / "b" / "clip.ogg"
    for path in (first, second):
        path.parent.mkdir()
    shutil.copyfile(clips[0].path, first)
    cache.features([clip_of(first)], SPEC, cache=tmp_path / "c", progress=False)
    shutil.copyfile(clips[0].path, second)  # another folder, a newer mtime
    calls = count_loads(monkeypatch)
    warm = cache.features([clip_of(second)], SPEC, cache=tmp_path / "c", progress=False)
    assert calls == [] and cache.file_key(first, SPEC.hash) == cache.file_key(second, SPEC.hash)
    np.testing.assert_array_equal(warm.features[0], features.compute(audio.load(first), SPEC))
    data = bytearray(second.read_bytes())
    data[-1] ^= 0xFF  # one byte of the last Ogg page changed: the same size, other contents
    second.write_bytes(bytes(data))
    assert cache.file_key(first, SPEC.hash) != cache.file_key(second, SPEC.hash)


def test_bad_files_are_reported_skipped_and_remembered(clips: list[Clip], tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "notes.ogg"
    text.write_text("not audio at all " * 50)
    truncated = tmp_path / "cut.ogg"
    truncated.write_bytes(clips[0].path.read_bytes()[:600])
    batch = [clip_of(empty), clips[0], clip_of(text), clip_of(tmp_path / "gone.wav"), clip_of(truncated), clips[1]]
    with caplog.at_level(logging.WARNING, logger="serapp_train.cache"):
        out = cache.features(batch, SPEC, cache=tmp_path / "c", workers=1, progress=False)
    assert out.kept.tolist() == [False, True, False, False, False, True]
    assert out.clips == [clips[0], clips[1]] and out.features.shape == (2, *SPEC.shape)
    assert [p.name for p, _ in out.errors] == ["empty.wav", "notes.ogg", "gone.wav", "cut.ogg"]
    for name in ("empty.wav", "notes.ogg", "gone.wav", "cut.ogg"):
        assert name in caplog.text
    calls = count_loads(monkeypatch)
    warm = cache.features(batch, SPEC, cache=tmp_path / "c", workers=1, progress=False)
    assert calls == [] and warm.kept.tolist() == out.kept.tolist()
    np.testing.assert_array_equal(warm.features, out.features)


@pytest.mark.slow  # starting worker processes takes a few seconds
def test_parallel_extraction_matches_serial(clips: list[Clip], tmp_path: Path) -> None:
    many = clips * 3  # enough clips to use worker processes
    spec = SPEC.replace(kind="stats")
    parallel = cache.features(many, spec, cache=tmp_path / "p", workers=2, chunk_size=4, progress=False)
    serial = cache.features(clips, spec, cache=tmp_path / "s", workers=1, progress=False)
    np.testing.assert_array_equal(parallel.features, np.concatenate([serial.features] * 3))


def test_cache_dir_setting_and_plain_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(cache.CACHE_ENV_VAR, str(tmp_path / "elsewhere"))
    assert cache.cache_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv(cache.CACHE_ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "serapp"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG spec: only absolute paths count
    assert cache.cache_dir() == Path.home() / ".cache" / "serapp"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache.cache_dir() == Path.home() / ".cache" / "serapp"
    with pytest.raises(SerappError, match="Nothing to extract"):
        cache.extract([], SPEC, features=False)
