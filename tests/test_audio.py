"""Reading audio: real clips, odd rates and channel counts, and bad files with plain errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from serapp.engine import audio
from serapp.errors import SerappError


def test_reads_real_opus_clip(sample_clips: list[Path]) -> None:
    y = audio.load(sample_clips[0])
    assert y.dtype == np.float32 and y.ndim == 1
    assert 1.0 < y.size / 16000 < 10.0
    assert 0.01 < np.abs(y).max() <= 1.0


@pytest.mark.parametrize(("rate", "channels"), [(8000, 1), (44100, 2), (96000, 6), (22050, 1)])
def test_any_rate_and_channel_count(tmp_path: Path, rate: int, channels: int) -> None:
    t = np.arange(int(rate * 0.5)) / rate
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    data = np.repeat(tone[:, None], channels, axis=1)
    path = tmp_path / f"tone_{rate}_{channels}.wav"
    sf.write(path, data, rate, subtype="PCM_16")
    y = audio.load(path, 16000)
    assert abs(y.size - 8000) <= 2
    # the tone survives resampling and mixing at the same level
    assert 0.45 < np.abs(y[1000:-1000]).max() < 0.55


def test_stream_equals_load(sample_clips: list[Path]) -> None:
    whole = audio.load(sample_clips[1])
    streamed = np.concatenate(list(audio.stream(sample_clips[1], block_s=0.3)))
    assert abs(streamed.size - whole.size) <= 2
    n = min(whole.size, streamed.size)
    np.testing.assert_allclose(streamed[:n], whole[:n], atol=1e-4)


def test_stream_resamples_without_edge_glitches(tmp_path: Path) -> None:
    rate = 44100
    t = np.arange(rate * 2) / rate
    path = tmp_path / "tone.wav"
    sf.write(path, 0.5 * np.sin(2 * np.pi * 300 * t), rate, subtype="FLOAT")
    streamed = np.concatenate(list(audio.stream(path, 16000, block_s=0.1)))
    whole = audio.load(path, 16000)
    n = min(whole.size, streamed.size)
    np.testing.assert_allclose(streamed[200:n - 200], whole[200:n - 200], atol=1e-3)


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty"),
    (b"this is plainly a text file, not audio\n" * 20, "not a readable audio file"),
])
def test_bad_files_give_plain_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(SerappError, match=message):
        audio.load(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SerappError, match="no such file"):
        audio.load(tmp_path / "absent.wav")


def test_nan_samples_are_refused(tmp_path: Path) -> None:
    data = np.zeros(16000, dtype=np.float32)
    data[100] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, data, 16000, subtype="FLOAT")
    with pytest.raises(SerappError, match="NaN"):
        audio.load(path)


def test_truncated_wav(tmp_path: Path, sample_clips: list[Path]) -> None:
    y = audio.load(sample_clips[0])
    path = tmp_path / "cut.wav"
    sf.write(path, y, 16000, subtype="PCM_16")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 4])  # header promises 4x the data
    with pytest.raises(SerappError, match="truncated"):
        audio.load(path)


def test_header_only_wav(tmp_path: Path) -> None:
    path = tmp_path / "header.wav"
    sf.write(path, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(SerappError, match="no audio"):
        audio.load(path)
