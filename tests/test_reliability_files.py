"""Bad and odd audio files through loader -> features -> model and through streaming analysis / `serapp analyze`.

Fuzzing: real speech cut short and written as WAV (PCM and float), FLAC and Ogg Opus, then mutated with
deterministic seeds (bit flips, truncation, header field corruption with lying RIFF/data sizes, junk), plus
hypothesis-generated WAV headers, sample values and raw bytes: 1,320 inputs in all. Every input either
gives valid probabilities or a one-line :class:`SerappError` naming the file; nothing else may escape.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serapp.cli import main
from serapp.engine import audio, features
from serapp.engine.analysis import analyze_file
from serapp.engine.analyzer import Analyzer, AnalyzerState
from serapp.engine.config import AnalyzerConfig
from serapp.engine.filesource import FileSource
from serapp.engine.labels import SILENCE
from serapp.engine.model import OnnxModel, load_model
from serapp.errors import SerappError
from tests.audio_mutations import (
    MUTATIONS,
    REFUSED,
    SR,
    assert_plain,
    base_files,
    chunk_offset,
    encode,
    mutate,
    named_cases,
    speech_excerpt,
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
        if name == "silence":
            assert s["dominant"] == SILENCE and s["speech_ratio"] == 0 and s["shares"][SILENCE] == 1
            assert all(w["probabilities"] is None for w in entry["timeline"])
        else:  # real speech at any rate, channel count, level or header size lie is heard as speech
            assert s["dominant"] != SILENCE and s["speech_ratio"] > 0, name
            assert abs(sum(s["probabilities"].values()) - 1) < 1e-3, name
            assert abs(s["duration_s"] - (0.2 if name == "0.2s" else speech.size / SR)) < 0.01, name
    assert entries["0.2s"]["summary"]["windows"] == 1


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
    assert analyzer.state == AnalyzerState.ERROR and len(errors) == 1 and "invalid samples" in errors[0]
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

    monkeypatch.setattr(audio, "load", whole_file)
    monkeypatch.setattr(sf, "read", whole_file)
    monkeypatch.setattr(audio, "stream", counting_stream)
    assert main(["analyze", "--json", "--hop", "1", "--model", str(onnx_model_path), str(minute)]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["summary"]["windows"] == 60 and entry["summary"]["duration_s"] == 60.0
    assert len(blocks) >= 6 and max(blocks) <= 10 * SR  # ten-second blocks, never the whole minute
