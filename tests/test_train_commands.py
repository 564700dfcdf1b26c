"""`serapp-train export` and `serapp-train evaluate` end to end on real clips: a run folder becomes a served
ONNX model; an ONNX model is scored clean and with noise, with metrics.json and a confusion PNG written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from serapp_train.cli import main

from serapp.engine.labels import EMOTIONS
from serapp.engine.spec import FeatureSpec
from tests.onnx_models import save_model
from tests.run_folders import make_run
from tests.tiny_models import tiny_spec

pytestmark = pytest.mark.corpora


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERAPP_CACHE", str(tmp_path / "cache"))


def _run_folder(folder: Path, spec: FeatureSpec) -> Path:
    """A run folder as `serapp-train train` leaves it, for a cnn1d model trained on SAVEE."""
    keras = pytest.importorskip("keras")
    from serapp_train.config import TrainConfig
    from serapp_train.models import build_model

    folder.mkdir()
    run = make_run(folder, config=TrainConfig(family="cnn1d", spec=spec, corpora=("savee",), epochs=1),
                   labels=EMOTIONS, spec=spec,
                   split={"name": "speaker-kfold-1of4", "speaker_independent": True, "train": 300, "val": 60,
                          "test": 120, "test_speakers": ["savee:DC"]},
                   metrics={"accuracy": 0.4, "macro_f1": 0.3, "uar": 0.35, "evaluated_on": "test",
                            "calibration": {"temperature": 1.4}})
    model = build_model("cnn1d", spec.shape, len(EMOTIONS), seed=4)
    assert isinstance(model, keras.Model)
    model.save(run.keras_path)
    return folder


def test_export_command_writes_a_served_model(corpora: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from serapp.engine.model import load_model

    spec = tiny_spec(FeatureSpec(kind="frames"))
    run = _run_folder(tmp_path / "run-1", spec)
    assert main(["export", str(run), "--root", str(corpora), "--parity-clips", "3"]) == 0
    served = load_model(run / "model.onnx")
    assert served.info.labels == EMOTIONS and served.info.spec == spec
    assert served.info.family == "cnn1d" and served.info.corpora == ("savee",)
    assert served.info.temperature == pytest.approx(1.4)
    assert served.info.metrics == {"accuracy": 0.4, "macro_f1": 0.3, "uar": 0.35}
    assert "speaker-kfold-1of4" in served.info.notes
    assert "agree on 3 held-out clips" in capsys.readouterr().out


def test_export_fp16_stores_large_weights_as_float16_and_answers_as_the_float_model(
        corpora: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import onnx
    from onnx import TensorProto

    from serapp.engine.model import load_model

    spec = tiny_spec(FeatureSpec(kind="frames"))
    run = _run_folder(tmp_path / "run-1", spec)
    assert main(["export", str(run), "--root", str(corpora), "--parity-clips", "3", "--fp16"]) == 0
    full, half = run / "model.onnx", run / "model-fp16.onnx"
    assert "model-fp16.onnx" in capsys.readouterr().out
    types = {i.name: i.data_type for i in onnx.load(str(half)).graph.initializer}
    assert TensorProto.FLOAT16 in types.values()
    assert half.stat().st_size < 0.75 * full.stat().st_size  # the large weights take half the bytes
    a, b = load_model(full), load_model(half)
    assert b.info.labels == a.info.labels and b.info.spec == a.info.spec and "float16" in b.info.notes
    x = np.random.default_rng(0).standard_normal((4, *spec.shape)).astype(np.float32)
    pa, pb = a.predict(x), b.predict(x)
    assert pb.dtype == np.float32 and np.abs(pa - pb).max() < 1e-2  # the weights' rounding only
    assert not np.array_equal(pa, pb)  # ... which is there: the copy did change the weights


def test_export_command_names_missing_run_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "run").mkdir()
    assert main(["export", str(tmp_path / "run")]) == 2
    assert "lacks config.json" in capsys.readouterr().err


def test_evaluate_clean_and_noisy(corpora: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tiny_spec(FeatureSpec(kind="logmel"))
    model = save_model(tmp_path / "m.onnx", spec)
    base = ["evaluate", "--model", str(model), "--root", str(corpora), "--corpora", "tess,savee", "--limit", "4"]
    results = {}
    for name, extra in (("clean", []), ("noisy", ["--noise-snr", "0", "--noise", "pink", "--gain-db", "-6"])):
        out = tmp_path / name
        assert main([*base, "--out", str(out), *extra]) == 0
        results[name] = json.loads((out / "metrics.json").read_text())
        assert (out / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    text = capsys.readouterr().out
    assert "pink noise at 0 dB SNR, gain -6 dB" in text
    clean, noisy = results["clean"], results["noisy"]
    assert clean["n"] == noisy["n"] == 8
    assert set(clean["per_corpus"]) == {"tess", "savee"}
    assert sum(map(sum, clean["confusion"])) == 8
    assert clean["condition"] == "clean" and noisy["condition"] == "pink noise at 0 dB SNR, gain -6 dB"


def test_degradation_reaches_the_features(sample_clips: list[Path]) -> None:
    from serapp_train.corpora import Clip
    from serapp_train.scoring import Condition, features_for

    spec = tiny_spec(FeatureSpec(kind="logmel"))
    clips = [Clip(p, "test", "angry", f"test:{i}", None, "angry") for i, p in enumerate(sample_clips[:3])]
    clean, kept = features_for(clips, spec, Condition())
    noisy, _ = features_for(clips, spec, Condition(noise_snr=0.0))
    again, _ = features_for(clips, spec, Condition(noise_snr=0.0))
    assert kept == clips and clean.shape == noisy.shape == (3, *spec.shape)
    np.testing.assert_array_equal(noisy, again)  # seeded
    # at 0 dB SNR the quiet bins fill with noise: the log-mel floor rises
    assert np.median(noisy) > np.median(clean) + 3.0


def test_rooms_and_devices_reach_the_features(sample_clips: list[Path]) -> None:
    from serapp_train.corpora import Clip
    from serapp_train.scoring import Condition, features_for

    from serapp.errors import SerappError

    spec = FeatureSpec(kind="logmel", n_mels=64, fmax=8000.0)
    clips = [Clip(p, "test", "angry", f"test:{i}", None, "angry") for i, p in enumerate(sample_clips[:3])]
    clean, _ = features_for(clips, spec, Condition())
    phone, _ = features_for(clips, spec, Condition(device="telephone"))
    laptop, _ = features_for(clips, spec, Condition(device="laptop"))
    room, _ = features_for(clips, spec, Condition(rt60_s=0.8))
    def level(x: np.ndarray, bands: slice) -> float:
        return float(x[..., bands, :].mean())

    air, voice, rumble = slice(56, 64), slice(8, 40), slice(0, 3)  # about 5-8 kHz, 200 Hz-2 kHz, below 100 Hz
    assert level(phone, air) < level(laptop, air) - 3.0 < level(clean, air) - 6.0  # a laptop keeps up to 6 kHz
    for degraded in (phone, laptop):
        assert abs(level(degraded, voice) - level(clean, voice)) < 1.0
    assert level(phone, rumble) < level(clean, rumble) - 5.0
    assert not np.allclose(room, clean)
    assert Condition(device="telephone", rt60_s=0.5).describe() == "room reverberation RT60 0.5 s, telephone chain"
    with pytest.raises(SerappError, match="Unknown device"):
        Condition(device="fax")
    with pytest.raises(SerappError, match=r"0\.05-3 s"):
        Condition(rt60_s=9.0)


def test_evaluate_speaker_filter(corpora: Path, tmp_path: Path) -> None:
    spec = tiny_spec(FeatureSpec(kind="stats"))
    model = save_model(tmp_path / "m.onnx", spec)
    args = ["evaluate", "--model", str(model), "--root", str(corpora), "--corpora", "savee", "--limit", "3",
            "--out", str(tmp_path / "out")]
    assert main([*args, "--speakers", "savee:JE"]) == 0
    result = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert result["speakers"] == ["savee:JE"] and result["n"] == 3
    assert main([*args, "--speakers", "savee:XX"]) == 2
    assert np.isfinite(result["ece"])


def test_evaluate_on_a_split_part_and_an_ensemble(corpora: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    model = save_model(tmp_path / "m.onnx", tiny_spec(FeatureSpec(kind="stats")))
    other = save_model(tmp_path / "o.onnx", tiny_spec(FeatureSpec(kind="logmel")))
    run = make_run(tmp_path, split={"val_speakers": ["savee:JE"], "test_speakers": ["savee:DC", "savee:KL"]})
    split = tmp_path / "split.json"
    args = ["evaluate", "--root", str(corpora), "--corpora", "savee", "--limit", "4", "--split", str(split)]
    results = {}
    for name, models, part in (("one", [model], "val"), ("twice", [model, model], "val"),
                               ("pair", [model, other], "val"), ("test", [model], "test")):
        out = tmp_path / name
        assert main([*args, "--part", part, *[a for m in models for a in ("--model", str(m))], "--out", str(out)]) == 0
        results[name] = json.loads((out / "metrics.json").read_text())
    one, twice, pair = results["one"], results["twice"], results["pair"]
    assert one["speakers"] == ["savee:JE"] and one["n"] == 4 and one["members"] == []
    assert set(results["test"]["speakers"]) <= {"savee:DC", "savee:KL"}
    # which part was scored is recorded: validation speakers may choose, test speakers are reported only
    assert (one["part"], one["split"]) == ("val", str(split)) and one["use"].startswith("selection")
    assert results["test"]["part"] == "test" and results["test"]["use"].startswith("reported only")
    # the ensemble is the mean probability: a model averaged with itself scores as it does alone
    assert twice["members"] == [str(model)] and twice["log_loss"] == pytest.approx(one["log_loss"])
    assert twice["confusion"] == one["confusion"]
    assert pair["members"] == [str(other)] and pair["log_loss"] != pytest.approx(one["log_loss"])
    assert "and 1 more (mean probability)" in capsys.readouterr().out
    run.write_split({"test_speakers": ["savee:DC"]})
    assert main([*args, "--part", "val", "--model", str(model), "--out", str(tmp_path / "x")]) == 2
    assert "lists no val_speakers" in capsys.readouterr().err


@pytest.mark.slow
def test_compare_writes_a_table_and_merges_runs_made_alike(corpora: Path, tmp_path: Path) -> None:
    common = ["--corpora", "savee", "--k", "4", "--runs-dir", str(tmp_path / "runs"), "--repeats", "3",
              "--epochs", "1", "--quiet", "--root", str(corpora)]
    assert main(["compare", "--families", "tree", "--out", str(tmp_path / "a"), *common]) == 0
    assert main(["compare", "--families", "mlp", "--out", str(tmp_path / "b"), *common]) == 0
    one = json.loads((tmp_path / "a" / "compare.json").read_text())
    tree = one["families"]["tree"]
    confusion = np.asarray(tree["confusion"])
    assert confusion.shape == (len(EMOTIONS), len(EMOTIONS)) and confusion.sum() > 0
    # accuracy in the table is the diagonal share of the confusion counts (one fold)
    assert tree["accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())
    # the validation figures are the run's own record (metrics.json), kept apart from the test ones
    run_metrics = json.loads((Path(tree["runs"][0]) / "metrics.json").read_text())
    assert tree["validation"]["uar"] == pytest.approx(run_metrics["validation"]["uar"])
    assert tree["validation"]["loss"] is None  # scikit-learn has no validation loss
    assert one["ranked_on"] == "validation uar"
    assert main(["compare", "--merge", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "all"),
                 "--note", "tree=a scikit-learn baseline"]) == 0
    merged = json.loads((tmp_path / "all" / "compare.json").read_text())["families"]
    table = (tmp_path / "all" / "README.md").read_text()
    rows = {line.split(" | ")[1]: line for line in table.splitlines() if " | tree | " in line or " | mlp | " in line}
    assert set(rows) == {"tree", "mlp"}
    assert "| 1 / 1 |" in rows["mlp"] and "| — | — |" in rows["tree"]  # epochs run / max; none for the baseline
    # Ranked on validation UAR, best first; the test figures sit in their own, labelled column.
    best = max(merged, key=lambda f: merged[f]["validation"]["uar"])
    assert rows[best].startswith(f"| 1 | {best} |")
    assert "| test (reported only): accuracy / macro-F1 / UAR; UAR per corpus |" in table
    for family, row in rows.items():
        e = merged[family]
        assert row.endswith(f"| {e['accuracy']:.3f} / {e['macro_f1']:.3f} / {e['uar']:.3f}; "
                            f"savee {e['per_corpus_uar']['savee']:.3f} |")
        assert f"| {e['validation']['uar']:.3f} |" in row
    assert "- tree: a scikit-learn baseline" in table
    for link in ("../a/confusion-tree.png", "../b/confusion-mlp.png"):
        assert f"({link})" in table and (tmp_path / "all" / link).is_file()
    # a comparison made under another protocol does not share the table
    assert main(["compare", "--families", "knn", "--out", str(tmp_path / "c"), *common, "--seed", "1"]) == 0
    assert main(["compare", "--merge", str(tmp_path / "a"), str(tmp_path / "c"), "--out",
                 str(tmp_path / "bad")]) != 0
    assert not (tmp_path / "bad" / "README.md").exists()


def test_compare_reads_a_table_written_before_validation_figures(tmp_path: Path) -> None:
    """An older compare.json (test figures only) renders and merges: its rows say n/a and are not ranked."""
    from serapp_train.compare import merge_reports, render
    from serapp_train.config import TrainConfig
    from serapp_train.jsonfile import write_json

    def report(family: str, uar: float, validation: dict | None) -> dict:
        entry = {"runs": [], "n_params": 10, "ms_per_inference": 1.0, "timed_with": "onnxruntime",
                 "seconds_per_epoch": [2.0], "epochs_run": [3], "max_epochs": 3, "per_corpus_uar": {"savee": uar},
                 "confusion": [[1]], "confusion_png": f"confusion-{family}.png",
                 **{k: uar for k in ("accuracy", "macro_f1", "weighted_f1", "uar")},
                 **{f"{k}_std": 0.0 for k in ("accuracy", "macro_f1", "weighted_f1", "uar")}}
        if validation is not None:
            entry["validation"] = validation
        return {"protocol": "speaker-kfold", "folds": [1], "config": TrainConfig().to_dict(), "corpora": ["savee"],
                "labels": ["angry", "sad"], "families": {family: entry}}

    for name, family, uar, validation in (("old", "mlp", 0.9, None),
                                          ("new", "cnn1d", 0.2, {"loss": 1.5, "loss_std": 0.0, "accuracy": 0.4,
                                                                 "accuracy_std": 0.0, "macro_f1": 0.3,
                                                                 "macro_f1_std": 0.0, "uar": 0.35, "uar_std": 0.0,
                                                                 "per_corpus_uar": {"savee": 0.35}, "n": [60]})):
        (tmp_path / name).mkdir()
        write_json(tmp_path / name / "compare.json", report(family, uar, validation))
    text = (tmp_path / "old" / "README.md")
    render(tmp_path / "old")
    assert "| — | mlp |" in text.read_text() and "| n/a | n/a | n/a | n/a |" in text.read_text()
    merge_reports([tmp_path / "old", tmp_path / "new"], tmp_path / "both")
    table = (tmp_path / "both" / "README.md").read_text()
    # the row with the higher test UAR (0.9) is not ranked above the one with validation figures
    lines = [line for line in table.splitlines() if " | mlp | " in line or " | cnn1d | " in line]
    assert lines[0].startswith("| 1 | cnn1d |") and lines[1].startswith("| — | mlp |")
    assert "**Not ranked (n/a):** mlp." in table


@pytest.mark.parametrize("protocol", ["speaker-kfold", "corpus-kfold", "speaker-holdout", "loco", "random"])
def test_compare_runs_the_folds_of_every_protocol(protocol: str) -> None:
    from serapp_train.compare import fold_numbers, protocol_text
    from serapp_train.config import PROTOCOLS, TrainConfig

    assert protocol in PROTOCOLS  # the list above covers every protocol the trainer offers
    assert len(PROTOCOLS) == 5
    config = TrainConfig(protocol=protocol, k=4)
    folds = fold_numbers(config, 3)
    assert folds == ([1, 2, 3] if protocol in ("speaker-kfold", "corpus-kfold", "loco") else [1])
    text = protocol_text(config, folds)
    assert ("folds 1, 2, 3" in text) == (len(folds) == 3)
    assert ("corpus by corpus" in text) == (protocol == "corpus-kfold")
