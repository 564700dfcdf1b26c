"""The live pipeline and whole-file analysis on real corpus clips, through real ONNX sessions."""

from __future__ import annotations

import csv
import io
import itertools
import json
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from serapp.cli import main
from serapp.engine import analyzer as analyzer_module
from serapp.engine import audio
from serapp.engine.analysis import analyze_file
from serapp.engine.analyzer import Analyzer, SpectrumUpdate
from serapp.engine.capture import NO_PORTAUDIO
from serapp.engine.config import AnalyzerConfig
from serapp.engine.filesource import FileSource
from serapp.engine.labels import SILENCE
from serapp.engine.model import OnnxModel, load_model
from serapp.engine.result import EmotionResult
from serapp.engine.state import RunState
from serapp.engine.utterances import SpeechTracker, UtteranceScorer, score_utterance
from tests.fake_sounddevice import hide_portaudio


@pytest.fixture(scope="module")
def model(onnx_model_path: Path) -> OnnxModel:
    return load_model(onnx_model_path)


@pytest.fixture(scope="module")
def clip(sample_clips: list[Path]) -> Path:
    return sample_clips[0]  # RAVDESS, about 3.9 s with leading silence


@pytest.fixture(scope="module")
def silent_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("silence")
    rng = np.random.default_rng(0)
    zeros, hiss = folder / "zeros.wav", folder / "hiss.flac"
    sf.write(zeros, np.zeros(2 * 16000, dtype=np.float32), 16000)
    sf.write(hiss, (rng.standard_normal(2 * 44100) * 0.003).astype(np.float32), 44100)  # -50 dBFS steady noise
    return [zeros, hiss]


def _run(source: FileSource, model: OnnxModel, config: AnalyzerConfig,
         skipped: list[int] | None = None) -> tuple[list[EmotionResult], list[SpectrumUpdate]]:
    """The results and spectra of ``source`` through the engine; ``skipped`` receives the updates the engine
    skipped to keep up with real time."""
    results: list[EmotionResult] = []
    spectra: list[SpectrumUpdate] = []
    analyzer = Analyzer(source, model, config, on_result=results.append, on_spectrum=spectra.append)
    analyzer.start()
    assert analyzer.wait(30), "the analyzer did not finish the file"
    assert analyzer.state == RunState.FINISHED, analyzer.error
    if skipped is not None:
        skipped.append(analyzer.stats().skipped_updates)
    return results, spectra


def test_realtime_file_source_delivers_results_at_the_configured_rate(model: OnnxModel, clip: Path) -> None:
    config = AnalyzerConfig(hop_s=0.25)
    source = FileSource(clip, realtime=True)
    skipped: list[int] = []
    results, spectra = _run(source, model, config, skipped)
    duration = source.duration_s
    # Every hop gives an update or, when the machine fell behind real time (a busy CI worker), is counted as
    # skipped: the engine serves the newest instead of a backlog.
    assert abs(len(results) + skipped[0] - duration / config.hop_s) <= 2
    assert len(results) >= duration / config.hop_s / 2  # yet most hops are served
    steps = np.diff([r.t for r in results])
    assert abs(float(np.median(steps)) - config.hop_s) < 0.05
    speech = [r for r in results if r.is_speech]
    assert speech and all(abs(float(r.probs.sum()) - 1) < 1e-4 for r in speech if r.probs is not None)
    assert all(r.latency_ms >= r.compute_ms >= 0 for r in results)
    # Spectrogram columns for the GUI: >= 30 updates per second of audio, every 10 ms column present.
    assert len(spectra) / duration >= 25
    n_cols = sum(s.columns.shape[0] for s in spectra)
    assert abs(n_cols - duration * 100) <= 5
    assert spectra[0].columns.shape[1] == spectra[0].freqs.shape[0] == 257


def test_warm_up_runs_on_the_worker_and_the_first_update_is_not_late(onnx_model_path: Path, clip: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """start() leaves the warm-up to the worker (a GUI thread never freezes); the worker warms up before it reads
    the source, so a slow first inference makes no backlog: no update is skipped and the first ends one hop in."""
    model = load_model(onnx_model_path)  # a session of its own, not warmed up yet
    threads: list[str] = []

    def slow_warm_up(m: OnnxModel) -> None:
        threads.append(threading.current_thread().name)
        time.sleep(1.0)  # a first inference as slow as a large model's
        real_warm_up(m)

    real_warm_up = analyzer_module.warm_up
    monkeypatch.setattr(analyzer_module, "warm_up", slow_warm_up)
    config = AnalyzerConfig(hop_s=0.25)
    for _ in range(2):  # the second analyzer on the same model (a restart) does not warm up again
        source = FileSource(clip, realtime=True)
        analyzer = Analyzer(source, model, config)
        analyzer.start()
        assert analyzer.wait(30) and analyzer.state == RunState.FINISHED, analyzer.error
        results = analyzer.results.drain()
        assert analyzer.stats().skipped_updates == 0
        assert config.hop_s <= results[0].t < 2 * config.hop_s  # the first window, not a catch-up
        assert abs(len(results) - source.duration_s / config.hop_s) <= 2
    assert threads == ["serapp-analyzer"]


def test_silence_is_reported_as_silence(model: OnnxModel, silent_files: list[Path]) -> None:
    for path in silent_files:
        results, _ = _run(FileSource(path, realtime=False), model, AnalyzerConfig())
        assert results and all(r.emotion == SILENCE and r.probs is None and not r.is_speech for r in results)
        summary = analyze_file(path, model).summary
        assert summary.dominant == SILENCE and summary.speech_ratio == 0 and summary.shares[SILENCE] == 1


def test_analysis_scores_each_utterance_as_in_training_and_live_ends_on_the_same_scores(
        model: OnnxModel, sample_clips: list[Path]) -> None:
    """Two clips with a pause: file analysis finds two utterances and scores each one's audio exactly as
    score_utterance does; the live pipeline, fed in 32 ms blocks, shows each utterance while it grows, then its
    final score (the same numbers as the file's), then no speech; the timeline's hops follow the utterances."""
    config = AnalyzerConfig(hop_s=0.25)
    sr = model.info.spec.sample_rate
    pause = np.zeros(3 * sr, np.float32)
    y = np.concatenate([pause, audio.load(sample_clips[1], sr), pause, audio.load(sample_clips[5], sr), pause])
    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "two.wav"
        sf.write(wav, y, sr, subtype="FLOAT")
        fa = analyze_file(wav, model, config)
        live, _ = _run(FileSource(wav, realtime=False, chunk_s=0.032), model, config)
    assert len(fa.utterances) == 2
    tracker = SpeechTracker(config)
    _, events = tracker.push(y)
    clips = [clip for kind, _, clip in events + tracker.flush() if kind == "offset"]
    for u, clip in zip(fa.utterances, clips, strict=True):
        np.testing.assert_allclose(u.probs, score_utterance(clip, model), atol=1e-6)
        assert 3.0 - 0.2 < u.start < u.end < y.size / sr
    # The timeline: a hop is speech when its middle lies in an utterance, with that utterance's scores.
    for w in fa.timeline:
        owner = [u for u in fa.utterances if u.start <= w.t - config.hop_s / 2 < u.end]
        assert w.is_speech == bool(owner)
        if owner:
            np.testing.assert_allclose(w.probs, owner[0].probs)
    assert fa.summary.dominant == model.labels[int(np.argmax(list(fa.summary.probabilities.values())))]
    # Live: the same hop grid; each utterance's first 'held' update shows its final (file) score.
    assert [round(r.t, 3) for r in live] == [round(w.t, 3) for w in fa.timeline]
    held_starts = [r for prev, r in itertools.pairwise(live) if r.phase == "held" and prev.phase != "held"]
    assert len(held_starts) == 2
    for r, u in zip(held_starts, fa.utterances, strict=True):
        np.testing.assert_allclose(r.probs, u.probs, atol=1e-5)
    assert {r.phase for r in live} == {"silence", "speech", "held"}
    assert all(r.probs is None for r in live if r.phase == "silence")
    assert all(r.is_speech == (r.phase == "speech") for r in live)


def test_an_utterance_is_trimmed_whole_then_windowed_as_a_training_clip_is(model: OnnxModel,
                                                                           sample_clips: list[Path]) -> None:
    """A clip a little shorter than the window, padded with silence past it (as the detector pads an utterance):
    scored as one window of its speech, the same as training prepares the clip, not cut into two windows."""
    from serapp.engine import features, preprocess

    spec = model.info.spec
    sr = spec.sample_rate
    speeches = [preprocess.trim_silence(audio.load(p, sr), spec) for p in sample_clips]
    speech = next(y for y in speeches if 0.6 * spec.n_samples < y.size < spec.n_samples)
    pad = np.zeros(spec.n_samples // 3, np.float32)
    utterance = np.concatenate([pad, speech, pad])
    assert utterance.size > spec.n_samples  # windowing before trimming would score two windows here
    want = model.predict(features.compute_batch([speech], spec))[0]
    np.testing.assert_allclose(score_utterance(utterance, model), want, atol=1e-6)
    # growing, it ends on the same score
    scorer = UtteranceScorer(model)
    for end in range(sr // 2, utterance.size, sr // 4):
        scorer.score(utterance[:end])
    np.testing.assert_allclose(scorer.score(utterance), want, atol=1e-6)


def test_analysis_is_the_same_whatever_the_decoding_blocks(model: OnnxModel, clip: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from serapp.engine import analysis

    reference = analyze_file(clip, model, AnalyzerConfig(hop_s=0.25))
    assert len(reference.timeline) > 10 and any(w.probs is None for w in reference.timeline)
    monkeypatch.setattr(analysis, "_DECODE_BLOCK_S", 0.3)
    other = analyze_file(clip, model, AnalyzerConfig(hop_s=0.25))
    assert [(w.t, w.is_speech) for w in other.timeline] == [(w.t, w.is_speech) for w in reference.timeline]
    for a, b in zip(other.utterances, reference.utterances, strict=True):
        assert (a.start, a.end) == (b.start, b.end)
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-5)


def test_source_error_surfaces_and_restart_recovers(model: OnnxModel, clip: Path) -> None:
    errors: list[str] = []
    got_result = threading.Event()
    source = FileSource(clip, realtime=True, loop=True)
    analyzer = Analyzer(source, model, on_error=errors.append, on_result=lambda r: got_result.set())
    analyzer.start()
    try:
        assert got_result.wait(10)
        source.fail("The input device vanished.")
        assert analyzer.wait(5)
        assert analyzer.state == RunState.ERROR and errors == ["The input device vanished."]
        got_result.clear()
        analyzer.restart()
        assert analyzer.state == RunState.RUNNING and analyzer.error is None
        assert got_result.wait(10)
    finally:
        analyzer.stop()
    assert analyzer.state == RunState.STOPPED


def test_analyze_json_reports_every_file_and_fails_for_the_bad_ones(
        onnx_model_path: Path, sample_clips: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 4)
    files = [sample_clips[0], tmp_path / "missing.ogg", corrupt, sample_clips[4]]
    code = main(["analyze", "--json", "--model", str(onnx_model_path), *map(str, files)])
    out = capsys.readouterr()
    entries = json.loads(out.out)
    assert code == 1 and "Traceback" not in out.err
    assert [e["file"] for e in entries] == list(map(str, files))
    assert "no such file" in entries[1]["error"] and "not a readable audio file" in entries[2]["error"]
    for e in (entries[0], entries[3]):
        s = e["summary"]
        assert s["dominant"] in s["probabilities"] and abs(sum(s["probabilities"].values()) - 1) < 1e-3
        assert e["timeline"] and set(e["timeline"][0]) == {"t", "emotion", "speech", "level_db", "probabilities"}
        assert e["utterances"] and set(e["utterances"][0]) == {"start", "end", "emotion", "confidence",
                                                                "probabilities", "adapted"}
        assert e["utterances"][0]["adapted"] is False  # no --adapt


def test_analyze_csv_has_a_row_per_window_of_each_readable_file(
        onnx_model_path: Path, sample_clips: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = [sample_clips[0], tmp_path / "missing.ogg", sample_clips[4]]
    code = main(["analyze", "--csv", "--model", str(onnx_model_path), *map(str, files)])
    out = capsys.readouterr()
    assert code == 1 and "no such file" in out.err
    rows = list(csv.DictReader(io.StringIO(out.out)))
    model = load_model(onnx_model_path)
    assert list(rows[0]) == ["file", "t", "emotion", "speech", "level_db", *(f"p_{lab}" for lab in model.labels)]
    for path in (sample_clips[0], sample_clips[4]):
        fa = analyze_file(path, model)
        mine = [r for r in rows if r["file"] == str(path)]
        assert [float(r["t"]) for r in mine] == [round(w.t, 3) for w in fa.timeline]
        for r, w in zip(mine, fa.timeline, strict=True):
            assert r["emotion"] == w.emotion and r["speech"] == str(int(w.is_speech))
            cells = [r[f"p_{lab}"] for lab in model.labels]
            if w.probs is None:
                assert cells == [""] * len(model.labels)
            else:
                np.testing.assert_allclose([float(c) for c in cells], w.probs, atol=1e-6)
    assert {r["file"] for r in rows} == {str(sample_clips[0]), str(sample_clips[4])}


def test_without_portaudio_listen_says_so_and_analyze_works(
        monkeypatch: pytest.MonkeyPatch, onnx_model_path: Path, clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hide_portaudio(monkeypatch)
    assert main(["listen", "--model", str(onnx_model_path)]) == 2
    assert NO_PORTAUDIO in capsys.readouterr().err
    assert main(["analyze", "--model", str(onnx_model_path), str(clip)]) == 0
    assert clip.name in capsys.readouterr().out


def test_analysis_reports_progress_within_a_decoding_block(model: OnnxModel, clip: Path) -> None:
    """The window's progress bar and Cancel need reports while one large block is worked on: several per block,
    rising, ending at the duration; an exception raised by the callback (a cancel) stops the analysis."""
    from serapp.engine.analysis import analyze_signal

    y = np.resize(audio.load(clip, 16000), 60 * 16000)
    seen: list[float] = []
    duration = analyze_signal([y], model, progress=seen.append).duration_s
    assert len(seen) >= 5 and seen == sorted(seen) and seen[-1] == duration == 60.0
    assert 0 < seen[0] < 30

    class Stop(Exception):
        pass

    def cancel(_: float) -> None:
        raise Stop

    with pytest.raises(Stop):
        analyze_signal([y], model, progress=cancel)


def test_analyze_utterances_csv_has_a_row_per_utterance(onnx_model_path: Path, sample_clips: list[Path],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    files = [sample_clips[0], sample_clips[4]]
    assert main(["analyze", "--utterances-csv", "--model", str(onnx_model_path), *map(str, files)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    model = load_model(onnx_model_path)
    expected = [(str(p), u) for p in files for u in analyze_file(p, model).utterances]
    assert len(rows) == len(expected) >= 2
    for row, (name, u) in zip(rows, expected, strict=True):
        assert row["file"] == name and float(row["start"]) == round(u.start, 3) and float(row["end"]) == round(u.end, 3)
        assert row["emotion"] == u.emotion(model.labels) and float(row["confidence"]) == pytest.approx(u.confidence)
        np.testing.assert_allclose([float(row[f"p_{lab}"]) for lab in model.labels], u.probs, atol=1e-6)


def test_spectrum_updates_report_the_input_peak_for_the_clip_light(model: OnnxModel, tmp_path: Path,
                                                                   sample_clips: list[Path]) -> None:
    """The level is an RMS; clipping is a sample at full scale in the device's own audio, reported as peak_db."""
    y = audio.load(sample_clips[1], 16000)
    quiet, clipped = tmp_path / "quiet.wav", tmp_path / "clipped.wav"
    sf.write(quiet, 0.5 * y / np.abs(y).max(), 16000, subtype="FLOAT")
    sf.write(clipped, np.clip(4.0 * y / np.abs(y).max(), -1.0, 1.0), 16000, subtype="FLOAT")  # 12 dB too hot
    peaks = {}
    for path in (quiet, clipped):
        _, spectra = _run(FileSource(path, realtime=False, chunk_s=0.032), model, AnalyzerConfig())
        peaks[path.stem] = max(s.peak_db for s in spectra)
    assert peaks["quiet"] == pytest.approx(20 * np.log10(0.5), abs=0.05)
    assert peaks["clipped"] == pytest.approx(0.0, abs=0.01)


def test_an_utterance_is_scored_as_recorded_and_a_devices_offset_is_removed(model: OnnxModel,
                                                                            sample_clips: list[Path]) -> None:
    """The tracker hands the scorer the utterance's samples as they came in (the DC filter is for the detector
    and the levels only); a DC offset larger than the corpora's is removed when the audio is prepared, so a
    recording with one scores as the same recording without it."""
    from serapp.engine import features, preprocess

    sr = model.info.spec.sample_rate
    pause = np.zeros(sr, np.float32)
    y = np.concatenate([pause, audio.load(sample_clips[1], sr), pause])
    tracker = SpeechTracker(AnalyzerConfig())
    _, events = tracker.push(y)
    (_, span, clip), = [e for e in events + tracker.flush() if e[0] == "offset"]
    assert np.array_equal(clip, y[span.start:span.end])  # not the DC-filtered samples
    offset = np.float32(0.01)  # a cheap USB microphone's
    assert preprocess.remove_device_offset(y + offset) == pytest.approx(y, abs=2e-6)
    assert np.array_equal(preprocess.remove_device_offset(y + np.float32(1e-3)), y + np.float32(1e-3))
    # with an offset, the clip less its mean: its own tiny mean goes too (the model hears that, hence the limit)
    centred = (clip - np.float32(np.mean(clip, dtype=np.float64))).astype(np.float32)
    spec = model.info.spec
    np.testing.assert_allclose(features.compute(clip + offset, spec), features.compute(centred, spec), atol=1e-3)
    np.testing.assert_allclose(score_utterance(clip + offset, model), score_utterance(centred, model), atol=1e-4)
