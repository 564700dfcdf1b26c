"""The crowd check (issue 28: a hall's babble is no speech): the model's ``crowd`` output and threshold, how file
analysis and the live display apply it, and ``serapp-train crowd``, which learns it and attaches it to a model.
Real parts: the bundled model, real corpus clips, babble made of them, the real-time engine."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from pytestqt.qtbot import QtBot

from serapp.engine import audio
from serapp.engine.analysis import analyze_signal
from serapp.engine.config import AnalyzerConfig
from serapp.engine.model import OnnxModel, load_model
from serapp.engine.modelmeta import ModelInfo
from serapp.engine.spec import FeatureSpec
from serapp.engine.utterances import UtteranceScorer
from serapp.engine.vad import SAMPLE_RATE
from serapp.errors import SerappError

EMOTIONS = ("angry", "happy", "sad")


@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5, math.nan])
def test_a_crowd_threshold_out_of_range_is_refused(value: float) -> None:
    with pytest.raises(SerappError, match="crowd threshold"):
        ModelInfo(labels=EMOTIONS, spec=FeatureSpec(), crowd_threshold=value)


def test_the_crowd_threshold_is_written_only_when_there_is_a_check() -> None:
    plain = ModelInfo(labels=EMOTIONS, spec=FeatureSpec())
    assert "serapp.crowd_threshold" not in plain.to_metadata()  # older readers see the file they knew
    checked = ModelInfo(labels=EMOTIONS, spec=FeatureSpec(), crowd_threshold=0.93)
    assert ModelInfo.from_metadata(checked.to_metadata()).crowd_threshold == 0.93
    assert ModelInfo.from_metadata(plain.to_metadata()).crowd_threshold == 0.0


# ---------------------------------------------------------------------------------------------- real parts

@pytest.fixture(scope="module")
def bundled() -> OnnxModel:
    return load_model()


@pytest.fixture(scope="module")
def crowd_audio(sample_clips: list[Path]) -> np.ndarray:
    """6 s of babble of 8 reversed talkers made of the sample clips, at -25 dBFS, with 0.5 s of silence each side."""
    from serapp_train.crowd import at_level, babble

    sources = [audio.load(p, SAMPLE_RATE) for p in sample_clips]
    y = babble(sources, talkers=8)(np.random.default_rng(7), 6 * SAMPLE_RATE)
    pad = np.zeros(SAMPLE_RATE // 2, np.float32)
    return np.concatenate([pad, at_level(y, -25.0), pad])


@pytest.mark.corpora
@pytest.mark.slow
def test_file_analysis_calls_a_crowd_no_speech_and_keeps_speech(bundled: OnnxModel, crowd_audio: np.ndarray,
                                                                 sample_clips: list[Path]) -> None:
    assert bundled.crowd_checked
    on = analyze_signal([crowd_audio], bundled, AnalyzerConfig())
    off = analyze_signal([crowd_audio], bundled, AnalyzerConfig(crowd_check=False))
    assert off.utterances, "the detector alone should take the babble for speech (else this test shows nothing)"
    assert not on.utterances and not any(r.is_speech for r in on.timeline)
    # what was dropped is said: the seconds the detector heard as voice, which the check called a crowd
    assert on.crowd_s == pytest.approx(sum(u.duration_s for u in off.utterances), abs=0.01) and off.crowd_s == 0
    for path in sample_clips:  # each real clip is still one speaker's speech
        y = np.concatenate([np.zeros(SAMPLE_RATE // 2, np.float32), audio.load(path, SAMPLE_RATE)])
        speech = analyze_signal([y], bundled, AnalyzerConfig())
        assert speech.utterances and speech.crowd_s == 0, f"{path.name}: its speech was called a crowd"


@pytest.mark.corpora
@pytest.mark.slow
def test_serapp_analyze_says_how_long_it_heard_a_crowd(crowd_audio: np.ndarray, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """A hall recording is "no speech", and the user is told why: its voices sounded like a crowd."""
    import json

    import soundfile as sf

    from serapp.cli import main

    path = tmp_path / "hall.wav"
    sf.write(path, crowd_audio, SAMPLE_RATE)
    assert main(["analyze", str(path)]) == 0
    line = capsys.readouterr().out
    assert "hall.wav: silence (no speech)" in line and "s sounded like a crowd, not one speaker" in line
    assert main(["analyze", "--json", str(path)]) == 0
    summary = json.loads(capsys.readouterr().out)[0]["summary"]
    assert summary["dominant"] == "silence" and summary["crowd_s"] > 1.0
    assert f"{summary['crowd_s']:.1f} s sounded like a crowd" in line


@pytest.mark.corpora
@pytest.mark.slow
def test_the_window_says_a_dropped_recording_sounded_like_a_crowd(qtbot: QtBot, crowd_audio: np.ndarray,
                                                                  tmp_path: Path) -> None:
    import soundfile as sf

    from serapp.bundle import default_model_path
    from tests.ui_helpers import drop_files, open_window

    path = tmp_path / "hall.wav"
    sf.write(path, crowd_audio, SAMPLE_RATE)
    window = open_window(qtbot, tmp_path / "settings", model=str(default_model_path()))
    assert drop_files(window, [path])
    view = window.file_view
    qtbot.waitUntil(lambda: str(path) in view.results and not view.busy, timeout=60000)
    crowd_s = view.results[str(path)].analysis.summary.crowd_s
    assert crowd_s > 1.0 and view.emotion.current_text == "No speech"
    assert view.emotion.confidence_label.text().startswith(f"{crowd_s:.1f} s of voices sounded like a crowd")
    assert f"{crowd_s:.1f} s of crowd not scored" in view.title.text()
    column = [view.table.horizontalHeaderItem(c).text() for c in range(view.table.columnCount())].index("Crowd s")
    assert view.table.item(0, column).text() == f"{crowd_s:.1f}"


@pytest.mark.corpora
@pytest.mark.slow
def test_the_live_display_calls_a_crowd_no_speech_once_it_is_scored(bundled: OnnxModel,
                                                                    crowd_audio: np.ndarray) -> None:
    from serapp_train.productpath import Conversation, replay

    config = AnalyzerConfig()
    on = replay(bundled, Conversation(crowd_audio, []), config)
    off = replay(bundled, Conversation(crowd_audio, []), AnalyzerConfig(crowd_check=False))
    assert sum(r.is_speech for r in off) > len(off) / 2
    # Before its first score (min_score_s of speech) an utterance says speech without an emotion; after, no speech.
    scored_from = 0.5 + config.min_score_s + config.hop_s
    late = [r for r in on if r.t >= scored_from + 1.0]
    assert late and not any(r.is_speech or r.probs is not None for r in late)
    assert not any(r.phase == "held" for r in on)  # a crowd's end holds no emotion


@pytest.mark.corpora
@pytest.mark.slow
def test_a_scorer_without_the_check_never_says_crowd(bundled: OnnxModel, crowd_audio: np.ndarray) -> None:
    checked, unchecked = UtteranceScorer(bundled), UtteranceScorer(bundled, crowd_check=False)
    speech = crowd_audio[SAMPLE_RATE // 2:-SAMPLE_RATE // 2]
    np.testing.assert_array_equal(checked.score(speech), unchecked.score(speech))  # the emotions are the same
    assert checked.is_crowd and checked.crowd is not None and checked.crowd >= bundled.info.crowd_threshold
    assert not unchecked.is_crowd and unchecked.crowd is None


@pytest.mark.corpora
@pytest.mark.slow
def test_serapp_train_crowd_learns_and_replaces_the_check(tmp_path: Path, bundled: OnnxModel, corpora: Path) -> None:
    from serapp_train.crowd import make_crowd_check

    split = Path(__file__).resolve().parents[1] / "docs" / "models" / "whisper-tiny" / "split.json"
    out = tmp_path / "crowd.onnx"
    done = make_crowd_check(bundled.path, split, out, root=corpora, clips_per_corpus=5, crowds=12,
                            say=lambda _: None)
    served = OnnxModel(out)
    assert served.crowd_checked and served.info.crowd_threshold == pytest.approx(done.threshold)
    assert 0.5 <= done.threshold < 1.0
    assert served.info.notes.count("crowd probability") == 1  # the bundled one's note was replaced, not repeated
    x = np.random.default_rng(0).standard_normal((3, *bundled.info.spec.shape)).astype(np.float32)
    np.testing.assert_array_equal(served.predict(x), bundled.predict(x))  # its emotions are the base's
    record = done.record
    assert record["chosen_on"].startswith("validation speakers")
    speech = [v for k, v in record["val"].items() if not k.startswith("crowd")]
    called = sum(v["called_crowd"] * v["utterances"] for v in speech)
    total = sum(v["utterances"] for v in speech)
    assert total > 0 and called <= max(1, record["max_speech_loss"] * total)  # what the threshold promises
    assert any(k.startswith("crowd of") for k in record["train"])


def test_serapp_train_crowd_refuses_a_model_without_an_embedding(tmp_path: Path) -> None:
    from serapp_train.crowd import Head, attach

    cnn = Path(__file__).resolve().parents[1] / "assets" / "models" / "serapp-cnn.onnx"
    with pytest.raises(SerappError, match="no embedding"):
        attach(cnn, tmp_path / "x.onnx", Head(np.zeros(4, np.float32), 0.0), 0.9, {},
               check=np.zeros((1, *OnnxModel(cnn).info.spec.shape), np.float32))
    assert not (tmp_path / "x.onnx").exists()
