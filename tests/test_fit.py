"""Training: a tiny end-to-end run on real clips (run folder, speaker independence, metrics, ONNX), the
imbalance handling on synthetic labels, and the config's JSON round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from serapp_train.batches import Batches
from serapp_train.cli import build_parser, main
from serapp_train.config import TrainConfig
from serapp_train.configargs import config_from_args
from serapp_train.data import class_weights, corpus_class_cells, load_data, oversample_indices

from serapp.engine.modelmeta import ModelInfo
from serapp.engine.spec import FeatureSpec
from serapp.errors import SerappError

TINY = ["--spec-set", "duration_s=1.0", "--spec-set", "n_mels=32", "--spec-set", "n_mfcc=20"]
QUICK = ["--limit", "20", "--k", "3", "--seed", "1", "--batch-size", "16", "--quiet"]
SCORES = ("accuracy", "macro_f1", "weighted_f1", "uar", "ece_before", "ece_after")


def only_run(runs_dir: Path) -> Path:
    found = [p for p in runs_dir.iterdir() if p.is_dir()]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.corpora
@pytest.mark.slow
def test_tiny_training_run_end_to_end(corpora: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    code = main(["train", "--family", "crnn_small", *TINY, *QUICK, "--epochs", "2", "--augment", "light",
                 "--mixup", "0.2", "--imbalance", "corpus_class_weight", "--root", str(corpora), "--runs-dir",
                 str(runs), "--export"])
    assert code == 0
    run = only_run(runs)
    assert "crnn_small-speaker-kfold-fold1of3" in run.name
    for name in ("config.json", "model.keras", "labels.json", "spec.json", "history.json", "curves.png",
                 "metrics.json", "confusion.png", "split.json", "model.onnx"):
        assert (run / name).is_file() and (run / name).stat().st_size > 0, name

    config = TrainConfig.from_dict(json.loads((run / "config.json").read_text()))
    assert config.feature_spec == FeatureSpec.from_json((run / "spec.json").read_text())
    assert config.feature_spec.duration_s == 1.0 and config.augment.audio_enabled
    assert config.imbalance == "corpus_class_weight"

    # Speaker independence, checked on the split rebuilt from the saved config (same clips, same indices).
    data = load_data(config, corpora, progress=False)
    speakers = {part: {data.clips[i].speaker for i in getattr(data.split, part)} for part in ("train", "val", "test")}
    assert all(speakers.values())
    assert not speakers["test"] & (speakers["train"] | speakers["val"])
    assert not speakers["val"] & speakers["train"]
    saved = json.loads((run / "split.json").read_text())
    assert set(saved["test_speakers"]) == speakers["test"] and saved["test"] == len(data.split.test)

    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["evaluated_on"] == "test" and metrics["n"] == len(data.split.test)
    for key in SCORES:
        assert 0.0 <= metrics[key] <= 1.0, key
    assert set(metrics["per_class"]) == set(json.loads((run / "labels.json").read_text()))
    assert set(metrics["per_corpus"]) == {data.clips[i].corpus for i in data.split.test}
    assert np.asarray(metrics["confusion"]).sum() == len(data.split.test)
    validation = metrics["validation"]  # what a search selects on: the validation speakers, per corpus too
    assert validation["n"] == len(data.split.val) and 0.0 <= validation["uar"] <= 1.0
    assert set(validation["per_corpus"]) == {data.clips[i].corpus for i in data.split.val}
    calibration = metrics["calibration"]
    assert 0.05 <= calibration["temperature"] <= 20 and 0 <= calibration["ece_val_after"] <= 1
    history = json.loads((run / "history.json").read_text())
    assert len(history["loss"]) == len(history["seconds_per_epoch"]) == 2

    import onnxruntime as ort

    session = ort.InferenceSession(str(run / "model.onnx"), providers=["CPUExecutionProvider"])
    info = ModelInfo.from_metadata(session.get_modelmeta().custom_metadata_map, "model.onnx")
    assert list(info.labels) == json.loads((run / "labels.json").read_text())
    assert info.spec == config.feature_spec and info.temperature == pytest.approx(calibration["temperature"])
    assert "non-commercial" in info.license and info.protocol == "speaker-kfold-fold1of3"
    assert info.metrics["uar"] == pytest.approx(metrics["uar"])
    probs = session.run(None, {session.get_inputs()[0].name: data.features[data.split.test[:4]]})[0]
    assert probs.shape == (4, len(info.labels)) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)


@pytest.mark.corpora
@pytest.mark.parametrize("family, imbalance", [("knn", "class_weight"), ("svm", "corpus_class_weight")])
def test_classical_baseline_runs_in_the_same_protocol(corpora: Path, tmp_path: Path, family: str,
                                                      imbalance: str, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    quick = [a for a in QUICK if a != "--quiet"]  # its printout: what a person reads before choosing
    assert main(["train", "--family", family, "--imbalance", imbalance, *TINY, *quick, "--root", str(corpora),
                 "--runs-dir", str(runs)]) == 0
    run = only_run(runs)
    metrics = json.loads((run / "metrics.json").read_text())
    assert all(0.0 <= metrics[k] <= 1.0 for k in SCORES)
    printed = capsys.readouterr().out
    # the validation figures are printed, the test ones only written
    assert f"validation: accuracy {metrics['validation']['accuracy']:.3f}" in printed
    assert "test figures in its metrics.json" in printed and "test:" not in printed
    assert (run / "confusion.png").is_file() and not (run / "model.keras").exists()
    assert json.loads((run / "config.json").read_text())["spec"]["kind"] == "stats"


def test_class_weights_balance_the_classes() -> None:
    y = np.array([0] * 90 + [1] * 10 + [3] * 20)
    w = class_weights(y, 4)
    assert w[2] == 0.0  # absent class
    assert np.mean(w[y]) == pytest.approx(1.0)  # loss scale unchanged
    totals = np.bincount(y, weights=w[y], minlength=4)
    np.testing.assert_allclose(totals[[0, 1, 3]], totals[0])  # every present class weighs the same in all


def test_oversampling_draws_classes_equally() -> None:
    y = np.array([0] * 900 + [1] * 100)
    idx = oversample_indices(y, np.random.default_rng(0))
    assert idx.shape == y.shape
    share = np.bincount(y[idx]) / len(idx)
    np.testing.assert_allclose(share, [0.5, 0.5], atol=0.05)


def test_batches_apply_the_imbalance_choice() -> None:
    spec = FeatureSpec(kind="stats", n_mels=16, n_mfcc=8)
    y = np.array([0] * 45 + [1] * 5)
    x = np.arange(len(y), dtype=np.float32)[:, None].repeat(spec.n_stats, axis=1)

    def epoch_rows(batches: Batches) -> np.ndarray:
        return np.concatenate([batches[i][0][:, 0] for i in range(len(batches))]).astype(int)

    plain = Batches(x, y, 2, spec, batch_size=8, imbalance="none")
    assert sorted(epoch_rows(plain)) == list(range(50)) and len(plain[0]) == 2  # each example once, no weights

    weighted = Batches(x, y, 2, spec, batch_size=8, imbalance="class_weight")
    _, yb, wb = weighted[0]
    np.testing.assert_allclose(wb, class_weights(y, 2)[yb.argmax(axis=1)])

    over = Batches(x, y, 2, spec, batch_size=8, imbalance="oversample", seed=3)
    first = epoch_rows(over)
    over.on_epoch_end()
    second = epoch_rows(over)
    assert len(over[0]) == 2 and len(first) == len(second) == 50 and not np.array_equal(first, second)
    drawn = np.concatenate([first, second])
    assert 0.3 < np.mean(y[drawn] == 1) < 0.7  # the 10 % minority is about half of what is served

    # Two corpora, a big one (40 clips, 36 of class 0) and a small one (10 clips): every (corpus, class) cell
    # carries the same total weight, so each clip of the small corpus weighs more than any of the big one.
    corpora = np.array(["big"] * 40 + ["small"] * 10)
    y2 = np.array([0] * 36 + [1] * 4 + [0] * 5 + [1] * 5)
    cells = corpus_class_cells(corpora, y2, 2)
    assert cells.tolist() == [0] * 36 + [1] * 4 + [2] * 5 + [3] * 5
    by_corpus = Batches(x, y2, 2, spec, batch_size=50, imbalance="corpus_class_weight", cells=cells, shuffle=False)
    _, _, w = by_corpus[0]
    totals = [w[cells == c].sum() for c in range(4)]
    np.testing.assert_allclose(totals, [12.5] * 4, rtol=1e-5)  # 50 clips, 4 cells, mean weight 1
    with pytest.raises(SerappError, match="corpus-and-class cell"):
        Batches(x, y2, 2, spec, imbalance="corpus_class_weight")

    subset = Batches(x, y, 2, spec, rows=np.arange(40, 50), batch_size=4, imbalance="none")
    assert len(subset) == 3 and set(epoch_rows(subset)) == set(range(40, 50))


def test_train_config_round_trips_and_flags_override(tmp_path: Path) -> None:
    parser = build_parser()
    args = parser.parse_args(["train", "--family", "mlp", "--protocol", "speaker-holdout", "--augment", "spec",
                              "--spec-set", "n_mels=48", "--option", "l2=0.001", "--corpora", "tess,savee"])
    config = config_from_args(args)
    assert config.family == "mlp" and config.feature_spec.kind == "stats" and config.feature_spec.n_mels == 48
    assert config.augment.features_enabled and config.model_options == {"l2": 0.001}
    assert config.corpora == ("tess", "savee") and config.protocol_label == "speaker-holdout"
    assert TrainConfig.from_dict(json.loads(config.to_json())) == config
    saved = tmp_path / "config.json"
    saved.write_text(config.to_json())
    again = config_from_args(parser.parse_args(["train", "--config", str(saved), "--epochs", "3"]))
    assert again == config.replace(epochs=3)
    other = config_from_args(parser.parse_args(["train", "--config", str(saved), "--family", "lstm"]))
    assert other.feature_spec.kind == "mfcc"  # a new family takes its own features
    reseeded = config_from_args(parser.parse_args(["train", "--config", str(saved), "--seed", "3",
                                                   "--split-seed", "0"]))
    assert (reseeded.seed, reseeded.split_seed, reseeded.speaker_seed) == (3, 0, 0)
    assert (config.split_seed, config.speaker_seed) == (None, 0)
    with pytest.raises(SerappError, match="protocol"):
        TrainConfig(protocol="random-ish")
    with pytest.raises(SerappError, match="unknown settings"):
        TrainConfig.from_dict({"epoch": 3})
