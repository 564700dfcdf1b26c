"""Bad and odd audio files through loader -> features -> model and through streaming analysis / `serapp analyze`.

Fuzzing: real speech cut short and written as WAV (PCM and float), FLAC and Ogg Opus, then mutated with
deterministic seeds (bit flips, truncation, header field corruption with lying RIFF/data sizes, junk), plus
hypothesis-generated WAV headers, sample values and raw bytes: 1,320 inputs in all. Every input either
gives valid probabilities or a one-line :class:`SerappError` naming the file; nothing else may escape.

Round 2 (issue 32), each class generated: random cuts of WAV/FLAC/AIFF/AU/MP3 files and files cut while they are
analysed (never reported whole), false bits-per-sample fields (refused or decoded exactly), pipe-streamed WAV
sizes (read whole), every kind of non-regular path (refused promptly, in-process and by each command), and file
names of any bytes (analysed, shown safely).
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import threading
import unicodedata
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serapp.cli import main
from serapp.engine import audio, features
from serapp.engine.analysis import analyze_file
from serapp.engine.analyzer import Analyzer
from serapp.engine.config import AnalyzerConfig
from serapp.engine.filesource import FileSource
from serapp.engine.labels import SILENCE
from serapp.engine.model import OnnxModel, load_model
from serapp.engine.state import RunState
from serapp.errors import SerappError
from tests.audio_mutations import (
    MUTATIONS,
    NON_REGULAR,
    REFUSED,
    SR,
    assert_plain,
    base_files,
    chunk_offset,
    encode,
    fmt_offset,
    lie_bits,
    more_base_files,
    mutate,
    named_cases,
    non_regular_paths,
    speech_excerpt,
    stream_sizes,
)

FUZZ_CONFIG = AnalyzerConfig(hop_s=1.0)  # few windows per file: the fuzz budget goes to inputs, not windows
SEEDS = range(20)  # per (base format, mutation): 4 formats x 6 mutations x 20 = 480 inputs
HYPOTHESIS = settings(max_examples=280, deadline=None, derandomize=True,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def model(onnx_model_path: Path) -> OnnxModel:
    return load_model(onnx_model_path)


@pytest.fixture(scope="module")
def speech(sample_clips: list[Path]) -> np.ndarray:
    return speech_excerpt(sample_clips)


@pytest.fixture(scope="module")
def bases(speech: np.ndarray, sample_clips: list[Path]) -> dict[str, bytes]:
    return base_files(speech, sample_clips)


def check_file(path: Path, model: OnnxModel) -> None:
    """Loader -> features -> model, and streaming analysis: valid probabilities or a plain SerappError."""
    spec = model.info.spec
    try:
        y = audio.load(path, SR)
    except SerappError as exc:
        assert_plain(exc, path)
    else:
        assert y.dtype == np.float32 and y.ndim == 1 and y.size >= 0.05 * SR and np.isfinite(y).all()
        assert_probabilities(model.predict(features.compute(y, spec)[None]))
    try:
        fa = analyze_file(path, model, FUZZ_CONFIG)
    except SerappError as exc:
        assert_plain(exc, path)
    else:
        assert fa.timeline and fa.summary.windows == len(fa.timeline)
        speech = [w.probs for w in fa.timeline if w.probs is not None]
        if speech:
            assert_probabilities(np.stack(speech))
            assert fa.utterances  # a window scored as speech lies in an utterance
        # the summary comes from the utterances (an utterance shorter than the 1-s hop may fall between windows)
        if fa.utterances:
            assert_probabilities(np.stack([u.probs for u in fa.utterances]))
        else:
            assert fa.summary.dominant == SILENCE


def assert_probabilities(p: np.ndarray) -> None:
    assert np.isfinite(p).all() and (p >= 0).all(), p
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-4)


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
@pytest.mark.parametrize("base", ["wav16", "wavfloat", "flac", "opus"])
def test_mutated_real_files_load_or_fail_plainly(tmp_path: Path, model: OnnxModel, bases: dict[str, bytes],
                                                 base: str, mutation: str) -> None:
    refused = 0
    for seed in SEEDS:
        path = tmp_path / f"{base}-{mutation}-{seed}.audio"
        data = mutate(bases, base, mutation, seed)
        path.write_bytes(data)
        try:
            check_file(path, model)
        except AssertionError as exc:
            raise AssertionError(f"{path.name} ({len(data)} bytes): {exc}") from exc
        refused += _refused(path)
    if mutation in {"truncate", "header_only"} and base != "opus":
        assert refused >= len(SEEDS) // 2  # most of a file missing is noticed, not analysed as if whole


def _refused(path: Path) -> bool:
    try:
        audio.probe(path)
        audio.load(path, SR)
    except SerappError:
        return True
    return False


# ------------------------------------------------------------------------------------------- hypothesis
u16, u32 = st.integers(0, 2**16 - 1), st.integers(0, 2**32 - 1)


@HYPOTHESIS
@given(fmt=st.sampled_from([1, 3, 0xFFFE]) | u16, channels=st.sampled_from([1, 2, 6]) | u16,
       rate=st.sampled_from([8000, 16000, 44100, 96000]) | u32, bits=st.sampled_from([8, 16, 24, 32]) | u16,
       riff=st.none() | u32, data_size=st.none() | u32, payload=st.binary(max_size=3000))
def test_any_wav_header_loads_or_fails_plainly(tmp_path: Path, model: OnnxModel, fmt: int, channels: int,
                                              rate: int, bits: int, riff: int | None, data_size: int | None,
                                              payload: bytes) -> None:
    align = max(1, channels * bits // 8) & 0xFFFF
    fmt_chunk = struct.pack("<HHIIHH", fmt, channels, rate, (rate * align) & 0xFFFFFFFF, align, bits)
    body = b"WAVEfmt " + struct.pack("<I", 16) + fmt_chunk + b"data" + struct.pack(
        "<I", len(payload) if data_size is None else data_size) + payload
    path = tmp_path / "header.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body) if riff is None else riff) + body)
    check_file(path, model)


@HYPOTHESIS
@given(samples=st.lists(st.floats(width=32, allow_nan=True, allow_infinity=True), min_size=1, max_size=64),
       rate=st.sampled_from([8000, 44100, 96000]), channels=st.sampled_from([1, 2, 6]),
       frames=st.integers(1, 12000))
def test_any_float_samples_give_finite_results_or_fail_plainly(tmp_path: Path, model: OnnxModel,
                                                               samples: list[float], rate: int, channels: int,
                                                               frames: int) -> None:
    y = np.resize(np.asarray(samples, dtype=np.float32), frames * channels).reshape(frames, channels)
    path = tmp_path / "samples.wav"
    path.write_bytes(encode(y, rate, "WAV", "FLOAT"))
    check_file(path, model)


MAGIC = [b"", b"RIFF\x24\x00\x00\x00WAVEfmt ", b"fLaC", b"OggS\x00\x02", b"FORM\x00\x00\x10\x00AIFF", b".snd"]


@HYPOTHESIS
@given(magic=st.sampled_from(MAGIC), rest=st.binary(max_size=2000))
def test_any_bytes_fail_plainly(tmp_path: Path, model: OnnxModel, magic: bytes, rest: bytes) -> None:
    path = tmp_path / "bytes.wav"
    path.write_bytes(magic + rest)
    check_file(path, model)


# ------------------------------------------------------------------------------------------- named cases
# Files that hold no utterance: digital silence, and 0.05 s of speech, shorter than the speech an utterance needs
# before it begins (AnalyzerConfig.min_speech_s, two 32-ms chunks): too little to judge, so reported as no speech.
SHORTER_THAN_AN_UTTERANCE = ("silence", "0.05s")


def test_analyze_json_on_odd_files(tmp_path: Path, onnx_model_path: Path, speech: np.ndarray,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    cases = named_cases(speech, tmp_path)
    code = main(["analyze", "--json", "--model", str(onnx_model_path), *map(str, cases.values())])
    out, err = capsys.readouterr()
    entries = dict(zip(cases, json.loads(out), strict=True))
    assert code == 1 and err == ""
    for name, entry in entries.items():
        assert entry["file"] == str(cases[name])
        if name in REFUSED:
            assert set(entry) == {"file", "error"} and REFUSED[name] in entry["error"], (name, entry)
            assert "\n" not in entry["error"] and str(cases[name]) in entry["error"]
            continue
        s = entry["summary"]
        assert "error" not in entry and s["windows"] == len(entry["timeline"]), name
        if name in SHORTER_THAN_AN_UTTERANCE:
            assert s["dominant"] == SILENCE and s["speech_ratio"] == 0 and s["shares"][SILENCE] == 1
            assert all(w["probabilities"] is None for w in entry["timeline"])
        else:  # real speech at any rate, channel count, level or header size lie is heard as speech
            assert s["dominant"] != SILENCE and s["speech_ratio"] > 0, name
            assert abs(sum(s["probabilities"].values()) - 1) < 1e-3, name
            assert abs(s["duration_s"] - (0.05 if name == "0.05s" else speech.size / SR)) < 0.01, name
    assert entries["0.05s"]["summary"]["windows"] == 1


def test_analyze_plain_output_prints_one_line_per_bad_file(tmp_path: Path, onnx_model_path: Path,
                                                          speech: np.ndarray,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    cases = named_cases(speech, tmp_path)
    bad = [cases[name] for name in REFUSED]
    assert main(["analyze", "--model", str(onnx_model_path), *map(str, bad)]) == 1
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert out == "" and len(lines) == len(bad)
    assert all(line.startswith(f"serapp: {p}") for line, p in zip(lines, bad, strict=True))


def test_damaged_file_in_the_live_pipeline_is_an_error_state(tmp_path: Path, model: OnnxModel,
                                                             speech: np.ndarray) -> None:
    good = encode(np.tile(speech, 3), SR, "WAV", "FLOAT")
    damaged = bytearray(good)
    at = chunk_offset(good, b"data") + 4 + 4 * int(2.4 * SR)  # a NaN 2.4 s in
    damaged[at:at + 4] = struct.pack("<f", np.nan)
    path = tmp_path / "damaged.wav"
    path.write_bytes(bytes(damaged))
    errors: list[str] = []
    analyzer = Analyzer(FileSource(path, realtime=False), model, FUZZ_CONFIG, on_error=errors.append)
    analyzer.start()
    assert analyzer.wait(20)
    assert analyzer.state == RunState.ERROR and len(errors) == 1 and "invalid samples" in errors[0]
    assert analyzer.stats().results >= 1  # what came before the damage was analysed


def test_analysis_streams_and_never_loads_the_whole_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                         onnx_model_path: Path, speech: np.ndarray,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    def whole_file(*args: object, **kwargs: object) -> None:
        raise AssertionError("the whole file was loaded at once")

    minute = tmp_path / "minute.flac"
    sf.write(minute, np.resize(speech, 60 * SR), SR)
    blocks: list[int] = []
    real_stream = audio.stream

    def counting_stream(*args: object, **kwargs: object) -> object:
        for block in real_stream(*args, **kwargs):  # type: ignore[arg-type]
            blocks.append(block.size)
            yield block

    from serapp.engine import analysis

    monkeypatch.setattr(audio, "load", whole_file)
    monkeypatch.setattr(sf, "read", whole_file)
    monkeypatch.setattr(audio, "stream", counting_stream)
    # Analysis decodes blocks of _DECODE_BLOCK_S (minutes, for the speech detector's batches); a smaller value
    # shows on a one-minute file that it streams block by block and never holds more than one.
    monkeypatch.setattr(analysis, "_DECODE_BLOCK_S", 10.0)
    assert main(["analyze", "--json", "--hop", "1", "--model", str(onnx_model_path), str(minute)]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["summary"]["windows"] == 60 and entry["summary"]["duration_s"] == 60.0
    assert len(blocks) >= 6 and max(blocks) <= 10 * SR  # ten-second blocks, never the whole minute


# ------------------------------------------------------------------------------------------- round 2 (issue 32)
@pytest.fixture(scope="module")
def more_bases(speech: np.ndarray) -> dict[str, bytes]:
    return more_base_files(speech)


def _decoded_frames(path: Path) -> int:
    with sf.SoundFile(path) as f:
        return f.frames


@pytest.mark.parametrize("base", ["wav16", "wavfloat", "flac", "opus", "aiff", "au", "mp3"])
def test_a_truncated_file_is_never_analysed_as_if_whole(tmp_path: Path, model: OnnxModel, bases: dict[str, bytes],
                                                        more_bases: dict[str, bytes], base: str) -> None:
    """Generated: 20 cuts of each file at random points. A file that loads must hold (nearly) all of the audio:
    at most the header-estimate slack (1 % or 0.1 s) may be missing, never half the file reported as complete."""
    data = {**bases, **more_bases}[base]
    whole = tmp_path / f"whole-{base}"
    whole.write_bytes(data)
    full = audio.load(whole, SR).size
    for seed in range(20):
        cut = data[: int(np.random.default_rng([seed, 7]).integers(len(data) // 10, len(data) - 1))]
        path = tmp_path / f"cut-{base}-{seed}"
        path.write_bytes(cut)
        for read in (lambda p: audio.load(p, SR), lambda p: np.concatenate(list(audio.stream(p, SR, 0.1)))):
            try:
                y = read(path)
            except SerappError as exc:
                assert_plain(exc, path)
            else:
                assert y.size >= full - max(0.01 * full, 0.1 * SR) - 1, (path.name, len(cut), y.size, full)
        check_file(path, model)


@pytest.mark.parametrize("fmt", [("WAV", "PCM_16"), ("FLAC", "PCM_16"), ("AIFF", "PCM_24"), ("MP3", "MPEG_LAYER_III")])
@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_a_file_cut_while_it_is_analysed_is_an_error(tmp_path: Path, model: OnnxModel, speech: np.ndarray,
                                                     fmt: tuple[str, str], keep: float) -> None:
    """The file shrinks (another program rewrites it) after the first decoded block: the analysis fails with a
    plain message instead of reporting the part it read as the whole file."""
    path = tmp_path / f"growing.{fmt[0].lower()}"
    path.write_bytes(encode(np.resize(speech, 20 * SR), SR, *fmt))
    blocks = audio.stream(path, SR, 2.0)
    next(blocks)
    with open(path, "r+b") as f:
        f.truncate(int(path.stat().st_size * keep))
    with pytest.raises(SerappError, match=r"truncated|could not be decoded") as exc:
        for _ in blocks:
            pass
    assert_plain(exc.value, path)


@HYPOTHESIS
@given(seed=st.integers(0, 2**32 - 1), base=st.sampled_from(["wav16", "wavfloat"]))
def test_a_lying_bits_per_sample_field_is_refused_or_harmless(tmp_path: Path, bases: dict[str, bytes], seed: int,
                                                             base: str) -> None:
    """Generated: any false bits-per-sample. Decoding with the wrong sample width gives noise that would be
    analysed as speech; the file is refused, or decodes to exactly the samples it holds."""
    path = tmp_path / "bits.wav"
    path.write_bytes(lie_bits(bases[base], np.random.default_rng(seed)))
    truth = tmp_path / "truth.wav"
    truth.write_bytes(bases[base])
    try:
        y = audio.load(path, SR)
    except SerappError as exc:
        assert_plain(exc, path)
    else:
        np.testing.assert_allclose(y, audio.load(truth, SR), atol=1e-4)


def test_the_issue_s_seven_bit_file_is_refused(tmp_path: Path, bases: dict[str, bytes]) -> None:
    data = bases["wav16"]
    at = fmt_offset(data) + 14
    path = tmp_path / "seven.wav"
    path.write_bytes(data[:at] + struct.pack("<H", 7) + data[at + 2:])
    with pytest.raises(SerappError, match=r"sample size \(7 bits\) disagrees with its block size"):
        audio.probe(path)


@HYPOTHESIS
@given(seed=st.integers(0, 2**32 - 1), base=st.sampled_from(["wav16", "wavfloat"]))
def test_a_wav_streamed_through_a_pipe_is_read_whole(tmp_path: Path, model: OnnxModel, bases: dict[str, bytes],
                                                    seed: int, base: str) -> None:
    """Generated: the data size 0x7FFFF000 or 0xFFFFFFFF (sox, ffmpeg writing to a pipe) with any RIFF size: the
    file is read whole, like libsndfile reads it, not refused as truncated."""
    path = tmp_path / "streamed.wav"
    path.write_bytes(stream_sizes(bases[base], np.random.default_rng(seed)))
    truth = tmp_path / "truth.wav"
    truth.write_bytes(bases[base])
    np.testing.assert_array_equal(audio.load(path, SR), audio.load(truth, SR))
    assert np.concatenate(list(audio.stream(path, SR))).size == audio.load(truth, SR).size
    assert analyze_file(path, model, FUZZ_CONFIG).summary.duration_s == pytest.approx(0.6, abs=1e-3)


def _finishes(call: Callable[[], object], timeout_s: float = 20.0) -> BaseException | None:
    """Run ``call`` in a thread; the exception it raised (None if none). Fails the test when it blocks."""
    box: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            box.append(None)
        except BaseException as exc:  # handed back to the test
            box.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout_s)
    assert box, f"still blocked after {timeout_s:.0f} s"
    return box[0]


def test_pipes_devices_folders_and_sockets_are_refused_before_opening(tmp_path: Path, model: OnnxModel) -> None:
    """Generated over every kind of non-regular path: each entry point refuses it promptly, naming what it is."""
    paths = non_regular_paths(tmp_path)
    assert {"fifo", "link_to_fifo", "folder", "dev_zero"} <= set(paths)
    for name, path in paths.items():
        for entry in (lambda p=path: audio.probe(p), lambda p=path: audio.load(p, SR),
                      lambda p=path: list(audio.stream(p, SR)), lambda p=path: FileSource(p),
                      lambda p=path: analyze_file(p, model, FUZZ_CONFIG), lambda p=path: OnnxModel(p)):
            exc = _finishes(entry)
            assert isinstance(exc, SerappError), (name, exc)
            assert NON_REGULAR[name] in str(exc) and str(path) in str(exc) and "\n" not in str(exc), (name, exc)


@pytest.mark.parametrize("command", [["analyze", "{path}"], ["analyze", "--json", "{path}"],
                                     ["listen", "--input", "{path}"], ["--model", "{path}", "analyze", "{clip}"],
                                     ["bench", "--model", "{path}", "--seconds", "1"]])
def test_a_named_pipe_given_to_any_command_is_refused_in_a_fresh_process(tmp_path: Path, onnx_model_path: Path,
                                                                         sample_clips: list[Path],
                                                                         command: list[str]) -> None:
    fifo = non_regular_paths(tmp_path)["fifo"]
    argv = [a.format(path=fifo, clip=sample_clips[0]) for a in command]
    if "--model" not in argv:
        argv = ["--model", str(onnx_model_path), *argv]
    proc = subprocess.run([sys.executable, "-m", "serapp", *argv], capture_output=True, text=True, timeout=120)
    assert proc.returncode in (1, 2) and "Traceback" not in proc.stderr, proc.stderr
    assert f"{fifo}: is a named pipe" in proc.stderr + proc.stdout, proc  # --json reports it in the JSON


@HYPOTHESIS
@given(name=st.binary(min_size=1, max_size=40).filter(lambda b: b"/" not in b and b"\0" not in b
                                                       and b not in (b".", b"..")))
def test_any_file_name_bytes_are_analysed_and_shown_safely(tmp_path: Path, onnx_model_path: Path,
                                                           bases: dict[str, bytes], name: bytes,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Generated file names: any bytes (not valid UTF-8, control characters, a leading '=' ...). The file is
    analysed; JSON names it as Python sees it; the plain line shows it with no raw control character."""
    folder = os.fsencode(tmp_path / "names")
    os.makedirs(folder, exist_ok=True)
    raw = os.path.join(folder, name)
    with open(raw, "wb") as f:
        f.write(bases["wav16"])
    path = os.fsdecode(raw)
    try:
        assert main(["analyze", "--json", "--model", str(onnx_model_path), path]) == 0
        (entry,) = json.loads(capsys.readouterr().out)
        assert entry["file"] == path and entry["summary"]["windows"] > 0
        assert main(["analyze", "--model", str(onnx_model_path), path]) == 0
        out = capsys.readouterr().out
        out.encode("utf-8")  # shown, never unencodable
        assert not any(unicodedata.category(c) == "Cc" for c in out.rstrip("\n")), repr(out)
    finally:
        os.unlink(raw)


def test_dev_zero_is_a_device_and_too_short_never_says_the_limit(tmp_path: Path) -> None:
    with pytest.raises(SerappError, match="is a device, not an audio file"):
        audio.probe("/dev/zero")
    for frames in range(700, 800):  # 43.75-49.94 ms at 16 kHz: below the 50 ms limit, however it is rounded
        path = tmp_path / f"short{frames}.wav"
        path.write_bytes(encode(np.full(frames, 0.1, np.float32), SR, "WAV", "PCM_16"))
        with pytest.raises(SerappError, match="too short") as exc:
            audio.load(path, SR)
        assert "(50 ms" not in str(exc.value), exc.value


@pytest.mark.parametrize("fmt", [("WAV", "PCM_16"), ("AIFF", "PCM_16"), ("MP3", "MPEG_LAYER_III")])
def test_a_file_cut_while_the_live_pipeline_reads_it_ends_in_the_error_state(tmp_path: Path, speech: np.ndarray,
                                                                             fmt: tuple[str, str]) -> None:
    raw = os.path.join(os.fsencode(tmp_path), b"live-\xff." + fmt[0].lower().encode())
    with open(raw, "wb") as f:
        f.write(encode(np.resize(speech, 20 * SR), SR, *fmt))
    source = FileSource(os.fsdecode(raw), realtime=False, chunk_s=1.0)
    assert source.label.encode("utf-8") and "\\xff" in source.label  # shown, never unencodable
    source.start()
    for _ in range(3):
        source.poll()
    os.truncate(raw, os.stat(raw).st_size // 3)
    for _ in range(40):
        source.poll()
        if source.state != RunState.RUNNING:
            break
    assert source.state == RunState.ERROR and source.error is not None, source.state
    assert "truncated" in source.error or "could not be decoded" in source.error, source.error
