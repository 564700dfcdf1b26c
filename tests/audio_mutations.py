"""Bad and odd audio files for reliability tests, shared by the engine/CLI fuzzing (test_reliability_files.py)
and the window's drop fuzzing (test_ui_reliability.py): short real speech in four encodings, deterministic
mutations of them (bit flips, truncation, header corruption with lying sizes, junk, header-only), the odd files
people actually have by name, and what a plain refusal looks like.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from serapp.engine import audio
from serapp.errors import SerappError

SR = 16000


def speech_excerpt(sample_clips: list[Path]) -> np.ndarray:
    """1.2 s of real speech (TESS "back", angry) at 16 kHz; its loudest 0.2 s start at 0.5 s."""
    return audio.load(sample_clips[8], SR)[int(0.1 * SR): int(1.3 * SR)]


def encode(y: np.ndarray, sr: int, fmt: str, subtype: str) -> bytes:
    """``y`` (samples, or ``(frames, channels)``) at ``sr`` Hz as a file in memory (soundfile format/subtype)."""
    buf = io.BytesIO()
    sf.write(buf, y, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def base_files(speech: np.ndarray, sample_clips: list[Path]) -> dict[str, bytes]:
    """The files mutated: short real speech in four encodings (the Ogg one is a real corpus file as is)."""
    short = speech[: int(0.6 * SR)]
    return {"wav16": encode(short, SR, "WAV", "PCM_16"), "wavfloat": encode(short, SR, "WAV", "FLOAT"),
            "flac": encode(short, SR, "FLAC", "PCM_16"), "opus": sample_clips[4].read_bytes()}


def assert_plain(exc: SerappError | str, path: Path) -> None:
    """A message for a person: one line, names the file, says what is wrong in words."""
    message = str(exc)
    assert str(path) in message and "\n" not in message and "Traceback" not in message, message
    assert len(message) < 400 and message.endswith("."), message
    # libsndfile's words about its own state are not for users (issue 32)
    assert "Internal error" not in message and "SF_INFO" not in message, message


def chunk_offset(data: bytes, name: bytes) -> int:
    """Offset of a RIFF chunk's size field (-1 when absent)."""
    i = data.find(name, 12)
    return i + 4 if i >= 0 else -1


def flip_bits(data: bytes, rng: np.random.Generator) -> bytes:
    out = bytearray(data)
    for pos in rng.integers(0, len(out), rng.integers(1, 9)):
        out[pos] ^= 1 << int(rng.integers(0, 8))
    return bytes(out)


def flip_header(data: bytes, rng: np.random.Generator) -> bytes:
    out = bytearray(data)
    for pos in rng.integers(0, min(64, len(out)), rng.integers(1, 4)):
        out[pos] = int(rng.integers(0, 256))
    return bytes(out)


def truncate(data: bytes, rng: np.random.Generator) -> bytes:
    return data[: int(rng.integers(0, len(data)))]


def lie_sizes(data: bytes, rng: np.random.Generator) -> bytes:
    """Overwrite the RIFF size, the data chunk size (WAV) or any 32-bit word near the start (others)."""
    lies = [0, 1, 0xFFFFFFFF, 0x7FFFFFFF, len(data) // 2, len(data) * 4, int(rng.integers(0, 2**32))]
    value = lies[int(rng.integers(0, len(lies)))]
    fields = [4, chunk_offset(data, b"data")] if data[:4] == b"RIFF" else [int(rng.integers(4, 60))]
    pos = fields[int(rng.integers(0, len(fields)))]
    return data[:pos] + struct.pack("<I", value) + data[pos + 4:]


def junk(data: bytes, rng: np.random.Generator) -> bytes:
    """Random bytes over a random span, or appended after the end."""
    blob = rng.integers(0, 256, int(rng.integers(1, 2000)), dtype=np.uint8).tobytes()
    if rng.random() < 0.5:
        return data + blob
    pos = int(rng.integers(0, len(data)))
    return data[:pos] + blob + data[pos + len(blob):]


def header_only(data: bytes, rng: np.random.Generator) -> bytes:
    """The header and at most a few bytes of audio."""
    start = chunk_offset(data, b"data") + 4 if data[:4] == b"RIFF" else 60
    return data[: start + int(rng.integers(0, 8))]


MUTATIONS: dict[str, Callable[[bytes, np.random.Generator], bytes]] = {
    "bitflip": flip_bits, "headerflip": flip_header, "truncate": truncate, "lying_sizes": lie_sizes,
    "junk": junk, "header_only": header_only}


def mutate(bases: dict[str, bytes], base: str, mutation: str, seed: int) -> bytes:
    """``bases[base]`` damaged by ``MUTATIONS[mutation]``, the same bytes for the same ``seed`` every run."""
    return MUTATIONS[mutation](bases[base], np.random.default_rng([seed, len(base), len(mutation)]))


def _wav_with(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + struct.pack("<I", value) + data[offset + 4:]


def named_cases(speech: np.ndarray, folder: Path) -> dict[str, Path]:
    """The odd files people actually have, by name."""
    from serapp.engine.resample import resample

    wav = encode(speech, SR, "WAV", "PCM_16")
    nan, inf = speech.copy(), speech.copy()
    nan[5000], inf[9000] = np.nan, np.inf
    contents: dict[str, bytes] = {
        "empty": b"", "truncated": wav[: len(wav) // 3], "header_only": wav[:44],
        "not_audio": b"%PDF-1.4\n" + bytes(range(256)) * 8,
        "riff_size_too_big": _wav_with(wav, 4, 2**31), "riff_size_too_small": _wav_with(wav, 4, 36),
        "data_size_too_big": _wav_with(wav, 40, len(wav) * 10),
        "data_size_too_small": _wav_with(wav, 40, 400),
        "8khz": encode(resample(speech, SR, 8000), 8000, "WAV", "PCM_16"),
        "44khz": encode(resample(speech, SR, 44100), 44100, "FLAC", "PCM_24"),
        "96khz": encode(resample(speech, SR, 96000), 96000, "WAV", "FLOAT"),
        "6_channels": encode(np.repeat(speech[:, None], 6, axis=1), SR, "WAV", "PCM_16"),
        "silence": encode(np.zeros(2 * SR, np.float32), SR, "WAV", "PCM_16"),
        "clipping": encode(np.clip(speech * 50, -1, 1), SR, "WAV", "PCM_16"),
        "nan": encode(nan, SR, "WAV", "FLOAT"), "inf": encode(inf, SR, "WAV", "FLOAT"),
        "0.05s": encode(speech[int(0.5 * SR):int(0.55 * SR)], SR, "WAV", "PCM_16"),
    }
    paths = {}
    for name, data in contents.items():
        paths[name] = folder / f"{name}.wav"
        paths[name].write_bytes(data)
    return paths


# named case -> what its refusal message says (the other named cases are analysed)
REFUSED = {"empty": "empty (0 bytes)", "truncated": "truncated", "header_only": "truncated",
           "not_audio": "not a readable audio file", "data_size_too_big": "truncated",
           "data_size_too_small": "too short", "nan": "invalid samples", "inf": "invalid samples"}


# ------------------------------------------------------------------------------------------- round 2 (issue 32)
def more_base_files(speech: np.ndarray) -> dict[str, bytes]:
    """More encodings of the same short speech: formats whose headers count frames differently (AIFF's COMM
    chunk, AU's data size, MP3's Xing/LAME tag)."""
    short = speech[: int(0.6 * SR)]
    return {"aiff": encode(short, SR, "AIFF", "PCM_16"), "au": encode(short, SR, "AU", "PCM_16"),
            "mp3": encode(short, SR, "MP3", "MPEG_LAYER_III")}


def fmt_offset(data: bytes) -> int:
    """Offset of a WAV's fmt chunk body (format tag), -1 when absent."""
    i = data.find(b"fmt ", 12)
    return i + 8 if i >= 0 else -1


def lie_bits(data: bytes, rng: np.random.Generator) -> bytes:
    """A WAV whose bits-per-sample field says anything from 1 to 64 (or any 16-bit value) but the truth."""
    at = fmt_offset(data) + 14
    true_bits = struct.unpack("<H", data[at:at + 2])[0]
    choices = [b for b in range(1, 65) if b != true_bits]
    bits = int(rng.choice(choices)) if rng.random() < 0.8 else int(rng.integers(65, 2**16))
    return data[:at] + struct.pack("<H", bits) + data[at + 2:]


# The "unknown length" sizes of a WAV written to a pipe (sox, ffmpeg), and what the RIFF size may say then.
STREAMED_SIZES = (0x7FFFF000, 0xFFFFFFFF)


def stream_sizes(data: bytes, rng: np.random.Generator) -> bytes:
    """A WAV as a program writing to a pipe leaves it: the data size (and often the RIFF size) a sentinel."""
    sentinel = STREAMED_SIZES[int(rng.integers(0, len(STREAMED_SIZES)))]
    riff = [sentinel, 0xFFFFFFFF, len(data) - 8, 0][int(rng.integers(0, 4))]
    out = _wav_with(data, chunk_offset(data, b"data"), sentinel)
    return _wav_with(out, 4, riff)


def non_regular_paths(folder: Path) -> dict[str, Path]:
    """Paths that are not regular files, of every kind a user can name: a named pipe (no writer: opening it
    for reading would block for ever), a link to one, a folder, character devices, and a socket."""
    import os
    import socket

    fifo = folder / "pipe.wav"
    os.mkfifo(fifo)
    link = folder / "link-to-pipe.wav"
    link.symlink_to(fifo)
    sub = folder / "folder.wav"
    sub.mkdir()
    paths = {"fifo": fifo, "link_to_fifo": link, "folder": sub, "dev_zero": Path("/dev/zero"),
             "dev_null": Path("/dev/null"), "dev_urandom": Path("/dev/urandom")}
    sock_path = folder / "sock.wav"
    if len(os.fsencode(sock_path)) < 100:  # AF_UNIX paths are short
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(sock_path))
        sock.close()  # the socket file stays
        paths["socket"] = sock_path
    return {name: p for name, p in paths.items() if os.path.lexists(p)}


# what the refusal of each non-regular path says
NON_REGULAR = {"fifo": "named pipe", "link_to_fifo": "named pipe", "folder": "folder", "dev_zero": "device",
               "dev_null": "device", "dev_urandom": "device", "socket": "socket"}
