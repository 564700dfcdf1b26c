"""Speaker adaptation in the engine (issue 29, item 4): the running speaker mean, an adaptable model's second head
through a real onnxruntime session, and whole-file analysis and the live analyzer adapting utterance by utterance
on real corpus clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from serapp.engine import audio
from serapp.engine.adaptation import SpeakerMean
from serapp.engine.analysis import analyze_signal
from serapp.engine.analyzer import Analyzer
from serapp.engine.config import AnalyzerConfig
from serapp.engine.filesource import FileSource
from serapp.engine.model import OnnxModel, calibrate, load_model
from serapp.engine.result import EmotionResult
from serapp.engine.spec import FeatureSpec
from serapp.errors import SerappError
from tests.onnx_models import build_adaptable_model

SPEC = FeatureSpec()


@pytest.fixture(scope="module")
def adaptable(tmp_path_factory: pytest.TempPathFactory) -> OnnxModel:
    path = tmp_path_factory.mktemp("adaptable") / "adaptable.onnx"
    onnx.save_model(build_adaptable_model(SPEC, adapt_clips=2), str(path))
    return load_model(path)


def test_the_speaker_mean_is_ready_after_enough_utterances_and_forgets_on_reset() -> None:
    mean = SpeakerMean(2)
    assert mean.mean is None and not mean.ready
    mean.add(np.array([1.0, 3.0]))
    assert mean.mean is None and mean.count == 1
    mean.add(np.array([3.0, 5.0]))
    mean.add(np.array([np.nan, 0.0]))  # a bad utterance is left out, not averaged in
    assert mean.ready and mean.count == 2
    np.testing.assert_allclose(mean.mean, [2.0, 4.0])
    with pytest.raises(SerappError, match="cannot join"):
        mean.add(np.zeros(3))
    mean.reset()
    assert mean.mean is None and mean.count == 0
    with pytest.raises(SerappError, match="at least one utterance"):
        SpeakerMean(0)


def test_an_adaptable_model_gives_embeddings_and_its_adapted_head_on_the_embedding_less_the_mean(
        adaptable: OnnxModel, onnx_model_path: Path) -> None:
    x = np.random.default_rng(0).standard_normal((3, *SPEC.shape)).astype(np.float32)
    plain, embedding = adaptable.scores(x, embeddings=True)
    assert adaptable.scores(x)[1] is None  # embeddings only when asked (the plain path does not copy them)
    assert embedding is not None and embedding.shape == (3, int(np.prod(SPEC.shape[1:])))
    np.testing.assert_allclose(embedding, x.mean(axis=1).reshape(3, -1), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(adaptable.predict(x), plain)
    mean = embedding.mean(axis=0)
    adapted, again = adaptable.scores(x, mean, embeddings=True)
    np.testing.assert_array_equal(again, embedding)
    # the second head on the centred embedding, calibrated with the adapted head's own temperature (1.5)
    w2 = onnx.numpy_helper.to_array(next(i for i in onnx.load(str(adaptable.path)).graph.initializer if i.name == "w2"))
    logits = (embedding - mean) @ w2
    expected = calibrate(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), 1.5)
    np.testing.assert_allclose(adapted, expected, rtol=1e-4, atol=1e-5)
    assert not np.allclose(adapted, plain)
    plain_model = load_model(onnx_model_path)
    assert not plain_model.adaptable and plain_model.scores(x)[1] is None
    with pytest.raises(SerappError, match="cannot adapt"):
        plain_model.scores(x, mean)
    with pytest.raises(SerappError, match="cannot adapt"):
        plain_model.scores(x, embeddings=True)


def test_a_model_that_says_it_adapts_but_lacks_the_parts_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "half.onnx"
    onnx.save_model(build_adaptable_model(SPEC, outputs=("probs",)), str(path))
    with pytest.raises(SerappError, match="adapts to its speaker but lacks adapted_probs, embedding"):
        load_model(path)


@pytest.mark.corpora
def test_file_analysis_adapts_once_the_speaker_was_heard_and_the_mean_carries_across_files(
        adaptable: OnnxModel, sample_clips: list[Path]) -> None:
    speaker = SpeakerMean(adaptable.info.adapt_clips)
    seen: list[bool] = []
    for path in sample_clips[:4]:  # one utterance each
        utterances = analyze_signal([audio.load(path, 16000)], adaptable, speaker=speaker).utterances
        seen += [u.adapted for u in utterances]
    assert seen == [False, False, True, True]  # two utterances heard, then the adapted head
    assert speaker.count == 4
    # the same files without a speaker: the plain head throughout, and the same answers before the warm-up
    plain = analyze_signal([audio.load(sample_clips[0], 16000)], adaptable).utterances
    assert not plain[0].adapted


@pytest.mark.corpora
def test_the_live_analyzer_adapts_after_the_warm_up_and_keeps_the_mean_across_a_restart(
        adaptable: OnnxModel, sample_clips: list[Path], tmp_path: Path) -> None:
    import soundfile as sf

    pause = np.zeros(16000 * 2, np.float32)
    y = np.concatenate([x for p in sample_clips[:3] for x in (pause, audio.load(p, 16000))] + [pause])
    path = tmp_path / "talk.wav"
    sf.write(path, y, 16000)
    speaker = SpeakerMean(2)
    results: list[EmotionResult] = []
    analyzer = Analyzer(FileSource(path, realtime=False), adaptable, AnalyzerConfig(), on_result=results.append,
                        speaker=speaker)
    analyzer.start()
    assert analyzer.wait(60)
    analyzer.stop()
    assert analyzer.error is None
    assert speaker.count == 3 and speaker.ready
    # a second run (a restart) continues with the same speaker: its first utterance is already adapted
    utterances = analyze_signal([audio.load(sample_clips[3], 16000)], adaptable, speaker=speaker).utterances
    assert utterances[0].adapted


@pytest.mark.corpora
def test_analyze_adapt_carries_one_speaker_across_files_and_a_plain_model_refuses_it(
        adaptable: OnnxModel, onnx_model_path: Path, sample_clips: list[Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from serapp.cli import main

    files = [str(p) for p in sample_clips[:3]]
    assert main(["analyze", "--json", "--adapt", "--model", str(adaptable.path), *files]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [u["adapted"] for e in entries for u in e["utterances"]] == [False, False, True]
    assert main(["analyze", "--adapt", "--model", str(adaptable.path), *files]) == 0  # the lines say it too
    lines = capsys.readouterr().out.splitlines()
    assert ["not adapted yet" in line for line in lines] == [True, True, False]
    assert lines[2].endswith("1 of them adapted to the speaker")
    assert main(["analyze", "--json", "--model", str(adaptable.path), *files]) == 0  # without --adapt: plain
    assert not any(u["adapted"] for e in json.loads(capsys.readouterr().out) for u in e["utterances"])
    code = main(["analyze", "--adapt", "--model", str(onnx_model_path), files[0]])
    err = capsys.readouterr().err
    assert code == 2 and "cannot adapt to its speaker" in err and "Traceback" not in err


@pytest.mark.corpora
@pytest.mark.slow
def test_listen_adapt_says_when_the_answers_start_to_use_the_speakers_voice(
        adaptable: OnnxModel, sample_clips: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import soundfile as sf

    from serapp.cli import main

    pause = np.zeros(16000, np.float32)
    talk = tmp_path / "talk.wav"
    sf.write(talk, np.concatenate([x for p in sample_clips[:3] for x in (pause, audio.load(p, 16000))] + [pause]),
             16000)
    assert main(["listen", "--adapt", "--model", str(adaptable.path), "--input", str(talk), "--seconds", "30"]) == 0
    said = capsys.readouterr()
    lines = [line for line in (said.out + said.err).splitlines() if "judged against this speaker" in line]
    assert len(lines) == 1 and lines[0].startswith("serapp: 2 utterances heard")


def test_the_benchmark_times_adapting_against_not_adapting(adaptable: OnnxModel, onnx_model_path: Path,
                                                           tmp_path: Path) -> None:
    import math

    import soundfile as sf

    from serapp.bench import adapting_cost

    clip = tmp_path / "clip.wav"
    sf.write(clip, np.random.default_rng(0).standard_normal(5 * 16000).astype(np.float32) * 0.1, 16000)
    ratio = adapting_cost(adaptable, clip)
    assert math.isfinite(ratio) and ratio > 0  # a ratio of medians, printed by `serapp bench` (never asserted on)
    assert math.isnan(adapting_cost(load_model(onnx_model_path), clip))  # a model that cannot adapt: n/a
