"""Reading audio files: any format libsndfile reads, any rate and channel count, with plain errors.

Everything returned is float32 mono at the requested rate, in [-1, 1] nominal full scale.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from serapp.engine.resample import StreamResampler, resample, to_mono
from serapp.errors import SerappError

# libsndfile notes a data chunk longer than the file as "data : <declared> (should be <present>)".
_SHORT_DATA = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
# Shorter audio than this cannot hold a word; it is refused rather than padded into a guess.
_MIN_DURATION_S = 0.05
# Native rates outside this range are a damaged header (speech needs 4 kHz; libsndfile tops out at 655 kHz):
# a rate field of 1 Hz would stretch half a second of audio into hours.
_MIN_RATE, _MAX_RATE = 4000, 768000
# Float samples beyond 60 dB above full scale are garbage (a damaged float file), and their squares would
# overflow float32 into NaN probabilities.
_MAX_ABS_SAMPLE = 1000.0


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says: native rate (Hz), channels, frames and duration (s)."""

    path: Path
    sample_rate: int
    channels: int
    frames: int
    format: str

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def _open_error(path: Path, exc: Exception) -> SerappError:
    if not path.exists():
        return SerappError(f"{path}: no such file.")
    if path.is_dir():
        return SerappError(f"{path}: is a folder, not an audio file.")
    if path.stat().st_size == 0:
        return SerappError(f"{path}: the file is empty (0 bytes).")
    return SerappError(f"{path}: not a readable audio file ({_plain(exc)}).")


def _plain(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    # libsndfile prefixes messages with the path in angle brackets; the caller already names the file.
    return text.split(": ", 1)[-1] if text.startswith("Error opening") else text


def probe(path: str | Path) -> AudioInfo:
    """Read a file's header without decoding it. Raises :class:`SerappError` for unreadable files."""
    p = Path(path)
    try:
        info = sf.info(str(p))
    except Exception as exc:  # soundfile raises RuntimeError/LibsndfileError/OSError variants
        raise _open_error(p, exc) from exc
    if info.samplerate <= 0 or info.channels <= 0:
        raise SerappError(f"{p}: the header gives no valid sample rate or channel count.")
    if not _MIN_RATE <= info.samplerate <= _MAX_RATE:
        raise SerappError(f"{p}: the header gives a sample rate of {info.samplerate} Hz, outside "
                          f"{_MIN_RATE}-{_MAX_RATE} Hz; the file is damaged.")
    short = _SHORT_DATA.search(info.extra_info or "")
    if short and int(short.group(2)) < int(short.group(1)):
        raise SerappError(f"{p}: the file is truncated (its header promises {int(short.group(1))} bytes of audio, "
                          f"{int(short.group(2))} are present).")
    return AudioInfo(p, int(info.samplerate), int(info.channels), int(info.frames), str(info.format))


def _check_samples(p: Path, y: np.ndarray) -> None:
    if not np.all(np.isfinite(y)):
        raise SerappError(f"{p}: the audio contains invalid samples (NaN or infinity); the file is damaged.")
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > _MAX_ABS_SAMPLE:
        raise SerappError(f"{p}: the audio contains samples far beyond full scale (peak {peak:.3g}); the file is "
                          "damaged.")


def _check_duration(p: Path, frames: int, sample_rate: int) -> None:
    if frames < _MIN_DURATION_S * sample_rate:
        raise SerappError(f"{p}: the audio is too short ({frames / sample_rate * 1000:.0f} ms; need at least "
                          f"{_MIN_DURATION_S * 1000:.0f} ms).")


def load(path: str | Path, sample_rate: int = 16000) -> np.ndarray:
    """Decode a whole file to float32 mono at ``sample_rate`` Hz. Shape ``(n_samples,)``.

    Raises :class:`SerappError` for a missing, empty, truncated, corrupt or non-audio file, for invalid
    samples, and for audio shorter than 50 ms.
    """
    p = Path(path)
    info = probe(p)
    try:
        y, sr = sf.read(str(p), dtype="float32", always_2d=True)
    except Exception as exc:
        raise SerappError(f"{p}: the audio data could not be decoded ({_plain(exc)}); "
                          "the file may be truncated or damaged.") from exc
    if y.shape[0] == 0:
        raise SerappError(f"{p}: the file holds no audio samples.")
    if info.frames > 0 and y.shape[0] < info.frames * 0.5:
        # libsndfile returns what it could read; a large shortfall means a truncated file.
        raise SerappError(f"{p}: the file is truncated ({y.shape[0]} of {info.frames} frames readable).")
    _check_samples(p, y)
    mono = to_mono(y)
    _check_duration(p, mono.shape[0], int(sr))
    return resample(mono, int(sr), sample_rate)


def stream(path: str | Path, sample_rate: int = 16000, block_s: float = 10.0) -> Iterator[np.ndarray]:
    """Decode a file block by block, yielding float32 mono chunks at ``sample_rate`` Hz.

    Memory stays bounded by ``block_s`` whatever the file's length. Raises :class:`SerappError` as
    :func:`load` does, possibly after some blocks were yielded (for a file damaged in the middle).
    """
    p = Path(path)
    info = probe(p)
    if info.frames == 0:
        raise SerappError(f"{p}: the file holds no audio samples.")
    block = max(1024, int(block_s * info.sample_rate))
    resampler = StreamResampler(info.sample_rate, sample_rate)
    total = 0
    try:
        with sf.SoundFile(str(p)) as f:
            while True:
                y = f.read(block, dtype="float32", always_2d=True)
                if y.shape[0] == 0:
                    break
                total += y.shape[0]
                _check_samples(p, y)
                out = resampler.process(to_mono(y))
                if out.size:
                    yield out
    except SerappError:
        raise
    except Exception as exc:
        raise SerappError(f"{p}: the audio data could not be decoded after {total / info.sample_rate:.1f} s "
                          f"({_plain(exc)}); the file may be truncated or damaged.") from exc
    if total == 0:
        raise SerappError(f"{p}: the file holds no audio samples.")
    _check_duration(p, total, info.sample_rate)
    tail = resampler.flush()
    if tail.size:
        yield tail
