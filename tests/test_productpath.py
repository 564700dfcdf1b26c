"""Scoring through the product path: per-clip file analysis, live replay of conversations, and the card's table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from serapp_train import productpath
from serapp_train.corpora import Clip
from serapp_train.metrics import uar
from serapp_train.modelcard import product_path_section

from serapp.engine.model import OnnxModel, load_model
from serapp.engine.result import EmotionResult

LABELS = ("angry", "sad")


def _result(t: float, phase: str, label: str | None) -> EmotionResult:
    probs = None if label is None else np.array([0.9, 0.1] if label == "angry" else [0.1, 0.9], np.float32)
    return EmotionResult(t=t, labels=LABELS, probs=probs, raw_probs=probs, is_speech=phase == "speech",
                         level_db=-30.0, compute_ms=1.0, latency_ms=2.0, phase=phase)


def test_file_analysis_ua_is_the_mean_recall_and_no_prediction_is_wrong() -> None:
    """File analysis scores with the trainer's UAR; a clip without speech is predicted -1, always wrong."""
    assert uar(np.array([0, 0, 0, 1]), np.array([0, 0, 1, 1])) == pytest.approx((2 / 3 + 1) / 2)
    assert uar(np.array([0, 1]), np.array([-1, 1])) == pytest.approx(0.5)


def test_replay_counts_right_updates_switches_and_late_pause_speech() -> None:
    truth = [(1.0, 3.0, "angry"), (6.0, 7.0, "sad")]
    results = [_result(0.5, "silence", None),
               _result(1.25, "speech", None),  # too short to judge: inside speech, shown nothing, wrong
               _result(1.75, "speech", "sad"), _result(2.25, "speech", "angry"), _result(2.75, "speech", "angry"),
               _result(3.5, "held", "angry"),  # in the pause but < 1 s after the end: not judged
               _result(4.25, "speech", "angry"),  # >= 1 s into the pause and called speech
               _result(4.75, "silence", None), _result(6.5, "speech", "sad")]
    speech, right, shown, switches, late, late_speech = productpath.score_replay(results, truth)
    assert (speech, right, shown, switches) == (5, 3, 4, 1)  # sad -> angry in the first utterance
    assert (late, late_speech) == (2, 1)  # 4.25 and 4.75 lie >= 1 s after 3.0 and before 6.0


def test_conversations_hold_each_clip_once_with_pauses(sample_clips: list[Path]) -> None:
    clips = [Clip(p, "x", "angry" if i % 2 else "sad", f"x:{i}", None, "a") for i, p in enumerate(sample_clips[:5])]
    convs = productpath.conversations(clips, LABELS, 16000, seed=1, per_conversation=3)
    assert [len(c.truth) for c in convs] == [3, 2]
    for conv in convs:
        starts = [s for s, _, _ in conv.truth]
        ends = [e for _, e, _ in conv.truth]
        assert starts[0] >= productpath.PAUSE_S[0] and all(e > s for s, e in zip(starts, ends, strict=True))
        gaps = np.array(starts[1:]) - np.array(ends[:-1])
        assert np.all(gaps >= productpath.PAUSE_S[0])  # the clips' own trimmed silence only widens the pause
        assert conv.audio.shape[0] / 16000 >= ends[-1] + productpath.PAUSE_S[1] - 0.01


def test_live_replay_runs_clips_through_the_real_time_engine(onnx_model_path: Path, sample_clips: list[Path]) -> None:
    model: OnnxModel = load_model(onnx_model_path)
    clips = [Clip(p, "x", model.labels[i % 3], f"x:{i}", None, "a") for i, p in enumerate(sample_clips[:4])]
    score = productpath.live_replay(model, clips, seed=0)
    assert score.utterances == 4 and score.conversations == 1
    assert 3.9 < score.updates_per_s < 4.1  # one update per 0.25-s hop of audio
    assert 0.5 < score.shown <= 1.0 and score.late_pause_speech <= 0.1
    assert 0.0 <= score.speech_right <= score.shown


def test_the_card_table_says_met_or_missed_from_the_record() -> None:
    record = {"product_path": {"clips": 10, "fixed_crop_ua": 0.70, "file_analysis_ua": 0.685,
                               "file_analysis_no_speech": 1,
                               "replay": {"speech_right": 0.61, "shown": 0.8, "switches_per_utterance": 1.5,
                                          "late_pause_speech": 0.02, "utterances": 12, "conversations": 1,
                                          "seconds": 120.0, "updates_per_s": 4.0},
                               "replay_settings": {"pause_s": [2.0, 8.0], "clips_per_conversation": 12,
                                                   "late_pause_s": 1.0, "block_s": 0.032}}}
    lines = product_path_section(record, Path("docs/models/x"), {"augment": {"p_partial": 0.5}})
    rows = {r.split(" | ")[0].lstrip("| "): r for r in lines if r.startswith("| ")}
    assert "--out docs/models/x/product-path" in lines[-2] and "utterance beginnings" in lines[-2]
    whole = product_path_section(record, Path("docs/models/x"), {"augment": {}})
    assert "trained on whole clips" in whole[-2]
    assert rows["UA, file analysis (`serapp analyze`)"].endswith("| **missed** |")  # 1.5 points below
    assert rows["live: speech updates right"].endswith("| met |")
    assert rows["live: top-emotion switches per utterance"].endswith("| **missed** |")
    assert rows["live: updates ≥ 1 s into a pause called speech"].endswith("| met |")


def test_the_card_counts_an_encoder_familys_weights_from_the_file() -> None:
    from serapp_train.modelcard import _parameters

    from serapp.bundle import default_model_path

    assert _parameters("cnn2d", 1234, Path("unused.onnx")) == "1,234 parameters"
    stated = _parameters("whisper_tiny", 1234, default_model_path())  # the bundled default has Whisper tiny inside
    weights = int(stated.split("; ")[1].split(" ")[0].replace(",", ""))
    assert stated.startswith("1,234 trained parameters") and 7_000_000 < weights < 9_000_000
