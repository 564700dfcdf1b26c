"""Reading audio files: any format libsndfile reads, any rate and channel count, with plain errors.

Everything returned is float32 mono at the requested rate, in [-1, 1] nominal full scale.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from serapp.engine.resample import StreamResampler, resample, to_mono
from serapp.errors import SerappError
from serapp.paths import not_regular
from serapp.textsafe import shown_path, terminal_text

# File-name suffixes of the formats libsndfile reads (Opus lives in Ogg files, sometimes named .opus), lower case:
# the one list for the window's open dialog and folder drops and the trainer's corpus scans.
AUDIO_SUFFIXES: tuple[str, ...] = (".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff",
                                   ".aifc", ".au", ".snd", ".caf", ".w64", ".rf64")

# libsndfile notes a data chunk longer than the file as "<chunk> : <declared> (should be <present>)": "data" in
# WAV, "SSND" in AIFF, "Data Size" in AU; RF64 says its ds64 frame count disagrees with the data present.
_SHORT_DATA = re.compile(r"^\s*(?:data|SSND|Data Size)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
_SHORT_DS64 = re.compile(r"Calculated frame count (\d+) does not match value from 'ds64' chunk of (\d+)")
# Data sizes that mean "unknown length" in a WAV written to a pipe (sox: 0x7FFFF000, ffmpeg and others:
# 0xFFFFFFFF): libsndfile reads such a file whole, so it is not truncated.
_STREAMED_SIZES = (0x7FFFF000, 0xFFFFFFFF)
# WAV header fields, as libsndfile's log gives them: a block size (bytes per frame) that disagrees with the
# sample width libsndfile decodes with means a lying bits-per-sample field, and decoding would give garbage.
_BLOCK_ALIGN = re.compile(r"^\s*Block Align\s*:\s*(\d+)", re.MULTILINE)
_BIT_WIDTH = re.compile(r"^\s*Bit Width\s*:\s*(\d+)", re.MULTILINE)
_SAMPLE_BYTES = {"PCM_S8": 1, "PCM_U8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8,
                 "ULAW": 1, "ALAW": 1}
# libsndfile's frame count for a file whose length it cannot know (SF_COUNT_MAX).
_UNKNOWN_FRAMES = 2**62
# A header's frame count is an estimate for some formats (an MP3 without a Xing/LAME tag): a shortfall within
# this share of the file, or this many seconds, is not called truncation.
_FRAMES_SLACK, _FRAMES_SLACK_S = 0.01, 0.1
# Shorter audio than this cannot hold a word; it is refused rather than padded into a guess.
_MIN_DURATION_S = 0.05
# Native rates outside this range are a damaged header (speech needs 4 kHz; libsndfile tops out at 655 kHz):
# a rate field of 1 Hz would stretch half a second of audio into hours.
_MIN_RATE, _MAX_RATE = 4000, 768000
# Float samples beyond 60 dB above full scale are garbage (a damaged float file), and their squares would
# overflow float32 into NaN probabilities.
_MAX_ABS_SAMPLE = 1000.0
# libsndfile messages that describe its own state rather than the file; the user is told what they mean.
_INTERNAL = {"SF_INFO struct incomplete": "the header is incomplete"}


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


def open_regular(path: str | Path) -> int:
    """Open ``path`` for reading and return the descriptor, refusing anything but a non-empty regular file.

    Opened without blocking (a named pipe with no writer would block ``open()`` forever), then checked with
    ``fstat`` on the descriptor itself, so a file swapped for a pipe or a device after a check is still refused.
    The name is passed to the OS as bytes (``os.fsencode``), so names that are not valid UTF-8 open as well.
    Raises :class:`SerappError` for a missing, unreadable, empty or non-regular file.
    """
    p = Path(path)
    shown = shown_path(p)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(os.fsencode(p), flags)
    except FileNotFoundError as exc:
        raise SerappError(f"{shown}: no such file.") from exc
    except IsADirectoryError as exc:
        raise SerappError(f"{shown}: is a folder, not an audio file.") from exc
    except PermissionError as exc:
        raise SerappError(f"{shown}: cannot be read (permission denied).") from exc
    except OSError as exc:  # e.g. a socket (ENXIO): say what it is when stat can tell
        try:
            what = not_regular(os.stat(os.fsencode(p)).st_mode)
        except OSError:
            what = ""
        raise SerappError(f"{shown}: {what}, not an audio file." if what
                          else f"{shown}: cannot be opened ({exc.strerror or exc}).") from exc
    try:
        st = os.fstat(fd)
        what = not_regular(st.st_mode)
        if what:
            raise SerappError(f"{shown}: {what}, not an audio file.")
        if st.st_size == 0:
            raise SerappError(f"{shown}: the file is empty (0 bytes).")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)  # a regular file never blocks; libsndfile expects ordinary reads
    except BaseException:
        os.close(fd)
        raise
    return fd


def _plain(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    # libsndfile prefixes messages with the path (or descriptor) in angle brackets; the caller names the file.
    text = text.split(": ", 1)[-1] if text.startswith("Error opening") else text
    for internal, meaning in _INTERNAL.items():
        if internal in text:
            return meaning
    return terminal_text(text.removeprefix("Internal error : ").rstrip("."))


def _soundfile(p: Path) -> sf.SoundFile:
    """A libsndfile reader of the regular file ``p`` (the descriptor is handed over; libsndfile closes it)."""
    return sf.SoundFile(open_regular(p), closefd=True)


def probe(path: str | Path) -> AudioInfo:
    """Read a file's header without decoding it. Raises :class:`SerappError` for unreadable files and for
    headers that are damaged or promise more audio than the file holds."""
    p = Path(path)
    shown = shown_path(p)
    fd = open_regular(p)
    try:
        info = sf.info(fd)  # type: ignore[arg-type]  # soundfile takes a descriptor
    except Exception as exc:  # soundfile raises RuntimeError/LibsndfileError/OSError variants
        raise SerappError(f"{shown}: not a readable audio file ({_plain(exc)}).") from exc
    if info.samplerate <= 0 or info.channels <= 0:
        raise SerappError(f"{shown}: the header gives no valid sample rate or channel count.")
    if not _MIN_RATE <= info.samplerate <= _MAX_RATE:
        raise SerappError(f"{shown}: the header gives a sample rate of {info.samplerate} Hz, outside "
                          f"{_MIN_RATE}-{_MAX_RATE} Hz; the file is damaged.")
    log = info.extra_info or ""
    short = _SHORT_DATA.search(log)
    declared, present = (int(short.group(1)), int(short.group(2))) if short else (0, 0)
    if short and present < declared and declared not in _STREAMED_SIZES:
        raise SerappError(f"{shown}: the file is truncated (its header promises {declared} bytes of audio, "
                          f"{present} are present).")
    ds64 = _SHORT_DS64.search(log)
    if ds64 and int(ds64.group(1)) < int(ds64.group(2)):
        raise SerappError(f"{shown}: the file is truncated (its header promises {int(ds64.group(2))} frames, "
                          f"{int(ds64.group(1))} are present).")
    _check_sample_width(shown, log, str(info.subtype), int(info.channels))
    if str(info.format) == "OGG" and not _ogg_stream_ends(p):
        raise SerappError(f"{shown}: the file is truncated (its last Ogg page does not end the stream).")
    return AudioInfo(p, int(info.samplerate), int(info.channels), int(info.frames), str(info.format))


# An Ogg page: "OggS", version 0, header type (bit 2: end of stream), ..., segment count at byte 26, then the
# segment table; pages are at most 27 + 255 + 255 * 255 bytes.
_OGG_MAX_PAGE = 27 + 255 + 255 * 255
_OGG_EOS = 0x04


def _ogg_stream_ends(p: Path) -> bool:
    """Whether the last complete Ogg page of ``p`` carries the end-of-stream flag. An Ogg header counts no frames
    (libsndfile takes the length from the last page it finds), so this flag is the only sign that the end of the
    file is the end of the stream and not a cut."""
    fd = open_regular(p)
    try:
        size = os.fstat(fd).st_size
        start = max(0, size - 2 * _OGG_MAX_PAGE)
        os.lseek(fd, start, os.SEEK_SET)
        tail = b""
        while len(tail) < size - start:
            chunk = os.read(fd, size - start - len(tail))
            if not chunk:
                break
            tail += chunk
    finally:
        os.close(fd)
    at = tail.rfind(b"OggS")
    while at >= 0:
        if at + 27 <= len(tail) and tail[at + 4] == 0:
            n_segments = tail[at + 26]
            table = tail[at + 27: at + 27 + n_segments]
            if len(table) == n_segments and at + 27 + n_segments + sum(table) <= len(tail):
                return bool(tail[at + 5] & _OGG_EOS)  # the last complete page
        at = tail.rfind(b"OggS", 0, at)
    return False


def _check_sample_width(shown: str, log: str, subtype: str, channels: int) -> None:
    """Refuse a WAV whose bits-per-sample field disagrees with its block size (bytes per frame): libsndfile
    would decode it with the wrong sample width, i.e. as noise."""
    align, bits, width = _BLOCK_ALIGN.search(log), _BIT_WIDTH.search(log), _SAMPLE_BYTES.get(subtype)
    if align is None or bits is None or width is None:
        return
    if int(align.group(1)) != width * channels:
        raise SerappError(f"{shown}: the header's sample size ({int(bits.group(1))} bits) disagrees with its "
                          f"block size ({int(align.group(1))} bytes for {channels} channel"
                          f"{'s' if channels > 1 else ''}); the file is damaged.")


def _check_samples(shown: str, y: np.ndarray) -> None:
    if not np.all(np.isfinite(y)):
        raise SerappError(f"{shown}: the audio contains invalid samples (NaN or infinity); the file is damaged.")
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > _MAX_ABS_SAMPLE:
        raise SerappError(f"{shown}: the audio contains samples far beyond full scale (peak {peak:.3g}); the file "
                          "is damaged.")


def _ms(frames: int, sample_rate: int) -> str:
    """A duration for a message, never rounded up to the limit it is compared with (49.96 ms is "49.9 ms")."""
    ms = math.floor(frames / sample_rate * 10000) / 10
    if ms < 1:
        return "under 1"
    return f"{ms:.0f}" if ms == int(ms) else f"{ms:.1f}"


def _check_duration(shown: str, frames: int, sample_rate: int) -> None:
    if frames < _MIN_DURATION_S * sample_rate:
        raise SerappError(f"{shown}: the audio is too short ({_ms(frames, sample_rate)} ms; need at least "
                          f"{_MIN_DURATION_S * 1000:.0f} ms).")


def _check_complete(shown: str, info: AudioInfo, decoded: int) -> None:
    """Refuse a file that decodes to fewer frames than its header counts (truncated, or cut while being read).
    Skipped when the format cannot know its length (libsndfile's "unknown" count)."""
    if not 0 < info.frames < _UNKNOWN_FRAMES:
        return
    slack = max(_FRAMES_SLACK * info.frames, _FRAMES_SLACK_S * info.sample_rate)
    if decoded < info.frames - slack:
        raise SerappError(f"{shown}: the file is truncated ({decoded} of the {info.frames} frames its header "
                          "counts are readable).")


def load(path: str | Path, sample_rate: int = 16000) -> np.ndarray:
    """Decode a whole file to float32 mono at ``sample_rate`` Hz. Shape ``(n_samples,)``.

    Raises :class:`SerappError` for a missing, empty, truncated, corrupt, non-regular or non-audio file, for
    invalid samples, and for audio shorter than 50 ms.
    """
    p = Path(path)
    shown = shown_path(p)
    info = probe(p)
    try:
        with _soundfile(p) as f:
            y = f.read(dtype="float32", always_2d=True)
            sr = f.samplerate
    except SerappError:
        raise
    except Exception as exc:
        raise SerappError(f"{shown}: the audio data could not be decoded ({_plain(exc)}); "
                          "the file may be truncated or damaged.") from exc
    if y.shape[0] == 0:
        raise SerappError(f"{shown}: the file holds no audio samples.")
    _check_complete(shown, info, y.shape[0])
    _check_samples(shown, y)
    mono = to_mono(y)
    _check_duration(shown, mono.shape[0], int(sr))
    return resample(mono, int(sr), sample_rate)


def stream(path: str | Path, sample_rate: int = 16000, block_s: float = 10.0) -> Iterator[np.ndarray]:
    """Decode a file block by block, yielding float32 mono chunks at ``sample_rate`` Hz.

    Memory stays bounded by ``block_s`` whatever the file's length. Raises :class:`SerappError` as
    :func:`load` does, possibly after some blocks were yielded (for a file damaged in the middle, or one that
    ends before its header's frame count, e.g. truncated while it is being read).
    """
    p = Path(path)
    shown = shown_path(p)
    info = probe(p)
    if info.frames == 0:
        raise SerappError(f"{shown}: the file holds no audio samples.")
    block = max(1024, int(block_s * info.sample_rate))
    resampler = StreamResampler(info.sample_rate, sample_rate)
    total = 0
    try:
        with _soundfile(p) as f:
            while True:
                y = f.read(block, dtype="float32", always_2d=True)
                if y.shape[0] == 0:
                    break
                total += y.shape[0]
                _check_samples(shown, y)
                out = resampler.process(to_mono(y))
                if out.size:
                    yield out
    except SerappError:
        raise
    except Exception as exc:
        raise SerappError(f"{shown}: the audio data could not be decoded after {total / info.sample_rate:.1f} s "
                          f"({_plain(exc)}); the file may be truncated or damaged.") from exc
    if total == 0:
        raise SerappError(f"{shown}: the file holds no audio samples.")
    _check_complete(shown, info, total)
    _check_duration(shown, total, info.sample_rate)
    tail = resampler.flush()
    if tail.size:
        yield tail
