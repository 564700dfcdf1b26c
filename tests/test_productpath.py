"""Scoring through the product path: per-clip file analysis and live replay of conversations (the card's checks
of these figures: tests/test_modelcard.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from serapp_train import productpath
from serapp_train.corpora import Clip
from serapp_train.metrics import uar

from serapp.engine.config import AnalyzerConfig
from serapp.engine.model import OnnxModel, load_model
from serapp.engine.result import EmotionResult
from serapp.errors import SerappError

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
    c = productpath.score_replay(results, truth)
    assert (c.speech, c.right, c.shown, c.switches) == (5, 3, 4, 1)  # sad -> angry in the first utterance
    assert (c.late, c.late_speech) == (2, 1)  # 4.25 and 4.75 lie >= 1 s after 3.0 and before 6.0
    # the first utterance's final answer (held at 3.5) is angry, right for its 4 updates; the second held nothing
    assert c.final_right == 4
    # by time since speech began: 1.25 (0.25 s in) in the first half second, 1.75 and 6.5 (0.5 s in) in the
    # second, 2.25 and 2.75 in 1-2 s; [updates, right live, right had the final answer been shown]
    assert c.by_start.tolist() == [[1, 0, 1], [2, 1, 1], [2, 2, 2], [0, 0, 0]]
    assert c.utterances == [[4, 2], [1, 1]]  # [updates, right] of each true utterance


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


def test_the_replay_truth_is_speech_not_the_room_before_it(sample_clips: list[Path]) -> None:
    """A clip recorded over room tone within 30 dB of its speech (as CREMA-D's are) is trimmed to the room's start,
    but its truth span starts and ends with the speech; a clip recorded in silence keeps its trimmed span."""
    from serapp.engine import audio
    from serapp.engine.preprocess import nonsilent_bounds

    y = audio.load(sample_clips[0], 16000)  # RAVDESS: speech in a quiet room
    lo, hi = productpath.speech_bounds(y)
    trim_lo, trim_hi = nonsilent_bounds(y, 30.0, 512, 160)
    assert abs(lo - trim_lo) <= 160 and abs(hi - trim_hi) <= 160 and hi - lo > 8000
    speech = y[lo:hi]
    peak_rms = np.max(np.sqrt(np.convolve(speech ** 2, np.ones(512) / 512, mode="valid")))
    room = np.random.default_rng(0).normal(0.0, peak_rms * 10 ** (-24 / 20), 10_000).astype(np.float32)  # -24 dB
    noisy = np.concatenate([room, speech + np.resize(room, speech.shape[0]), room])
    assert nonsilent_bounds(noisy, 30.0, 512, 160)[0] == 0  # the trim keeps the room
    start, end = productpath.speech_bounds(noisy)
    # within 0.15 s of the speech (its softest edges drown in the room), not 0.6 s before or after it
    assert abs(start - room.shape[0]) <= 2400 and abs(end - (room.shape[0] + speech.shape[0])) <= 2400
    assert productpath.speech_bounds(np.zeros(100, np.float32)) == (0, 100)


def test_live_replay_runs_clips_through_the_real_time_engine(onnx_model_path: Path, sample_clips: list[Path]) -> None:
    model: OnnxModel = load_model(onnx_model_path)
    clips = [Clip(p, "x", model.labels[i % 3], f"x:{i}", None, "a") for i, p in enumerate(sample_clips[:4])]
    score = productpath.live_replay(model, clips, seed=0)
    assert score.utterances == 4 and score.conversations == 1
    assert 3.9 < score.updates_per_s < 4.1  # one update per 0.25-s hop of audio
    assert 0.5 < score.shown <= 1.0 and score.late_pause_speech <= 0.1
    assert 0.0 <= score.speech_right <= score.shown
    # the spans since speech began split the same updates: their weighted shares are the overall ones
    n = np.array([row[2] for row in score.since_start])
    assert n.sum() > 0 and n[0] > 0
    for column, overall in ((3, score.speech_right), (4, score.final_right)):
        assert np.dot(n, [row[column] for row in score.since_start]) / n.sum() == pytest.approx(overall)
    # each utterance's counts, in order, add up to the share; its interval holds it
    per = np.array(score.per_utterance)
    assert per.shape == (score.utterances, 2) and per[:, 0].sum() == n.sum()
    assert per[:, 1].sum() / per[:, 0].sum() == pytest.approx(score.speech_right)
    assert score.speech_right_ci[0] <= score.speech_right <= score.speech_right_ci[1]


def test_a_switch_margin_names_fewer_emotions_per_utterance(sample_clips: list[Path]) -> None:
    """The real-time engine holds the named emotion against near ties: the display's label (``emotion``, what the
    window and exports show) is the one held, not always the largest probability, and it switches less. The
    bundled model: its probabilities have near ties (the tests' tiny model's are all but one-hot)."""
    from serapp.bundle import default_model_path

    model: OnnxModel = load_model(default_model_path())
    clips = [Clip(p, "x", model.labels[i % 3], f"x:{i}", None, "a") for i, p in enumerate(sample_clips)]
    conv = productpath.conversations(clips, model.labels, 16000, seed=3)[0]
    plain = productpath.replay(model, conv, AnalyzerConfig())
    held = productpath.replay(model, conv, AnalyzerConfig(switch_margin=0.3))
    assert [r.t for r in plain] == [r.t for r in held]
    for a, b in zip(plain, held, strict=True):  # the same scores; only the name differs
        assert (a.probs is None) == (b.probs is None)
        if a.probs is not None:
            np.testing.assert_array_equal(a.probs, b.probs)
            assert a.emotion == a.labels[int(np.argmax(a.probs))]
            assert b.emotion == b.labels[b.shown] and b.probs[b.shown] >= b.probs.max() - 0.3
    switches = [productpath.score_replay(r, conv.truth).switches for r in (plain, held)]
    assert switches[1] < switches[0]  # near ties swap the top emotion without the margin


def test_evaluate_scores_the_product_path_with_other_engine_settings(onnx_model_path: Path, sample_clips: list[Path],
                                                                     tmp_path: Path) -> None:
    """`serapp-train evaluate --product --analyzer FILE` runs file analysis and the live replay with those engine
    settings and records the settings it used; the figures move with the setting."""
    from serapp_train.cli import main

    model: OnnxModel = load_model(onnx_model_path)
    manifest = tmp_path / "clips.csv"
    manifest.write_text("path,label,speaker\n" + "".join(
        f"{p},{model.labels[i % 3]},s{i % 2}\n" for i, p in enumerate(sample_clips[:6])), encoding="utf-8")
    records = {}
    for name, settings in (("defaults", None), ("late", {"min_speech_s": 1.5})):
        args = ["evaluate", "--model", str(onnx_model_path), "--manifest", str(manifest), "--product",
                "--replay-clips", "6", "--out", str(tmp_path / name)]
        if settings is not None:
            (tmp_path / f"{name}.json").write_text(json.dumps(settings), encoding="utf-8")
            args += ["--analyzer", str(tmp_path / f"{name}.json")]
        assert main(args) == 0
        records[name] = json.loads((tmp_path / name / "metrics.json").read_text())["product_path"]
    assert records["defaults"]["engine"] == AnalyzerConfig().to_dict()
    assert records["late"]["engine"] == {**AnalyzerConfig().to_dict(), "min_speech_s": 1.5}
    # an utterance must hold 1.5 s of speech before it begins: later onsets, fewer updates showing an emotion
    assert records["late"]["replay"]["shown"] < records["defaults"]["replay"]["shown"]
    # beside each record, the live shares by time since speech began as a figure (a real PNG)
    figure = tmp_path / "defaults" / "live-by-time.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.stat().st_size > 5000


def test_evaluate_refuses_engine_settings_it_cannot_use(onnx_model_path: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from serapp_train.cli import main

    bad = tmp_path / "bad.json"
    bad.write_text('{"min_speech_s": 99}', encoding="utf-8")
    base = ["evaluate", "--model", str(onnx_model_path), "--manifest", str(tmp_path / "none.csv")]
    assert main([*base, "--analyzer", str(bad)]) == 2
    assert "give --product or --adapt too" in capsys.readouterr().err
    assert main([*base, "--product", "--analyzer", str(bad)]) == 2  # refused before the clips are looked for
    assert "min_speech_s must be 0.03-5 s, got 99" in capsys.readouterr().err


def test_evaluate_adapt_scores_speaker_sessions_without_and_with_adapting(sample_clips: list[Path],
                                                                           tmp_path: Path) -> None:
    """`serapp-train evaluate --adapt`: each speaker's session (a seeded random order) through file analysis, where
    the speaker mean carries from clip to clip, and through the live replay, the speaker alone; the same sessions
    not adapting and adapting, rendered as a table. A model that cannot adapt is refused."""
    import onnx
    from serapp_train.cli import main

    from serapp.engine.spec import FeatureSpec
    from tests.onnx_models import build_adaptable_model, save_model

    path = tmp_path / "adaptable.onnx"
    onnx.save_model(build_adaptable_model(FeatureSpec(), adapt_clips=2), str(path))
    model = load_model(path)
    save_model(tmp_path / "plain.onnx", FeatureSpec())
    clips = [Clip(p, "x", model.labels[i % 3], f"x:{i % 2}", None, "a") for i, p in enumerate(sample_clips[:8])]
    ordered = productpath.sessions(clips, seed=0, per_speaker=3)
    assert [c.speaker for c in ordered] == ["x:0"] * 3 + ["x:1"] * 3
    assert {c.path for c in ordered} < {c.path for c in clips}
    done = productpath.score_file_analysis(model, ordered, adapt=True)
    assert done.adapted == [False, False, True] * 2  # per speaker: two utterances heard, then adapting
    assert not any(productpath.score_file_analysis(model, ordered).adapted)
    replay = productpath.live_replay(model, ordered, seed=0, by_speaker=True, adapt=True)
    assert replay.conversations == 2 and replay.utterances == 6
    with pytest.raises(SerappError, match="one speaker each"):
        productpath.live_replay(model, ordered, adapt=True)
    manifest = tmp_path / "clips.csv"
    manifest.write_text("path,label,speaker\n" + "".join(f"{c.path},{c.label},{c.speaker}\n" for c in clips),
                        encoding="utf-8")
    assert main(["evaluate", "--model", str(path), "--manifest", str(manifest), "--adapt", "--session-clips", "3",
                 "--out", str(tmp_path / "out")]) == 0
    record = json.loads((tmp_path / "out" / "metrics.json").read_text())["adaptation"]
    assert record["clips"] == 6 and record["speakers"] == 2 and record["warm_up"] == 2
    assert record["plain"]["replay"]["utterances"] == record["adapted"]["replay"]["utterances"] == 6
    assert set(record["adapted"]["per_corpus_after_warm_up"]) == {"manifest"}  # a manifest without a corpus column
    table = (tmp_path / "out" / "adaptation.md").read_text()
    assert "| not adapting |" in table and "| adapting |" in table and "per corpus" in table
    with pytest.raises(SerappError, match="cannot adapt"):
        productpath.score_file_analysis(load_model(tmp_path / "plain.onnx"), ordered, adapt=True)


def test_file_analysis_under_a_device_chain_analyses_each_whole_clip_through_it(
        onnx_model_path: Path, sample_clips: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """With a condition, the engine gets the whole clip degraded as the fixed crops are (the same chain), not the
    clean clip; without one, the clean clip."""
    from serapp_train.scoring import Condition, degrade

    from serapp.engine import audio

    model: OnnxModel = load_model(onnx_model_path)
    sr = model.info.spec.sample_rate
    clips = [Clip(p, "x", model.labels[0], "x:1", None, "a") for p in sample_clips[:2]]
    seen: list[np.ndarray] = []
    analyse = productpath.analyze_signal

    def spy(blocks: list[np.ndarray], *args: object, **kwargs: object) -> object:
        seen.append(np.concatenate(blocks))
        return analyse(blocks, *args, **kwargs)

    monkeypatch.setattr(productpath, "analyze_signal", spy)
    telephone = Condition(device="telephone")
    scored = productpath.score_file_analysis(model, clips, condition=telephone)
    assert scored.clips == 2 and 0.0 <= scored.ua <= 1.0
    productpath.score_file_analysis(model, clips[:1])
    clean = audio.load(clips[0].path, sr)
    expected = degrade(clean[None], telephone, np.random.default_rng(0), sr)[0]
    assert np.allclose(seen[0], expected, atol=1e-6) and not np.allclose(seen[0], clean, atol=1e-3)
    assert np.array_equal(seen[2], clean)  # no condition: the clip as loaded


def test_evaluate_product_under_a_condition_records_file_analysis_beside_the_fixed_crops(
        onnx_model_path: Path, sample_clips: list[Path], tmp_path: Path) -> None:
    """`evaluate --product --device laptop`: a plain record under that condition with the file-analysis UA of each
    whole clip through the chain (no live replay); `serapp-train table` adds its column."""
    from serapp_train.cli import main

    model: OnnxModel = load_model(onnx_model_path)
    manifest = tmp_path / "clips.csv"
    manifest.write_text("path,label,speaker\n" + "".join(
        f"{p},{model.labels[i % 3]},s{i % 2}\n" for i, p in enumerate(sample_clips[:6])), encoding="utf-8")
    out = tmp_path / "laptop"
    assert main(["evaluate", "--model", str(onnx_model_path), "--manifest", str(manifest), "--product",
                 "--device", "laptop", "--out", str(out)]) == 0
    record = json.loads((out / "metrics.json").read_text())
    assert record["condition"] == "laptop chain" and "product_path" not in record
    assert record["file_analysis"]["clips"] == 6 and 0.0 <= record["file_analysis"]["ua"] <= 1.0
    assert record["file_analysis"]["engine"] == AnalyzerConfig().to_dict()
    assert not (out / "live-by-time.png").exists()
    table = tmp_path / "devices.md"
    assert main(["table", f"laptop={out / 'metrics.json'}", "--out", str(table)]) == 0
    header, _, row = table.read_text().splitlines()
    assert header.endswith("| UAR | file-analysis UA |")
    assert row.endswith(f"| {100 * record['file_analysis']['ua']:.1f} % |")
