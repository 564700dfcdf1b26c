"""`serapp-train crossval`: four SAVEE folds (leave one speaker out) with real ONNX models, scored on real clips
and pooled; incomplete or mismatched fold sets are refused with a plain message."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from serapp_train.cli import main

from serapp.engine.spec import FeatureSpec
from tests.onnx_models import save_model
from tests.run_folders import make_run
from tests.tiny_models import tiny_spec

pytestmark = pytest.mark.corpora

SAVEE = ("savee:DC", "savee:JE", "savee:JK", "savee:KL")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERAPP_CACHE", str(tmp_path / "cache"))


def fold_run(parent: Path, fold: int, speaker: str, spec: FeatureSpec, *, onnx: bool = True, model_seed: int = 0,
             val_speaker: str | None = None, **changes: object) -> Path:
    """A fold's run folder as `serapp-train train --protocol corpus-kfold --k 4 --export` leaves it."""
    from serapp_train.config import TrainConfig

    folder = parent / f"run-{fold}-{speaker.split(':')[1]}"
    folder.mkdir()
    settings: dict = {"family": "cnn1d", "spec": spec, "corpora": ("savee",), "protocol": "corpus-kfold",
                      "k": 4, "fold": fold, **changes}
    val_speakers = [val_speaker] if val_speaker else []
    make_run(folder, config=TrainConfig(**settings),
             split={"name": f"speaker-kfold-by-corpus-{fold}of4", "speaker_independent": True,
                    "train_speakers": sorted(set(SAVEE) - {speaker, *val_speakers}), "test_speakers": [speaker],
                    "val_speakers": val_speakers})
    if onnx:
        save_model(folder / "model.onnx", spec, seed=fold + model_seed)  # each fold its own (different) model
    return folder


@pytest.mark.slow
def test_crossval_pools_every_fold_on_its_own_speakers(corpora: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    spec = tiny_spec(FeatureSpec(kind="logmel"))
    runs = [fold_run(tmp_path, i + 1, speaker, spec) for i, speaker in enumerate(SAVEE)]
    out = tmp_path / "cv"
    assert main(["crossval", *map(str, reversed(runs)), "--root", str(corpora), "--out", str(out),
                 "--command", "serapp-train train ... --fold I"]) == 0
    report = json.loads((out / "crossval.json").read_text())
    folds, pooled = report["folds"], report["pooled"]
    assert [f["fold"] for f in folds] == [1, 2, 3, 4]
    assert [f["test_speakers"] for f in folds] == [[s] for s in SAVEE]
    assert [f["n"] for f in folds] == [120] * 4 and pooled["n"] == 480  # SAVEE: 120 clips per speaker
    # Pooling is the sum of the folds: confusion counts add up, and accuracy is the pooled trace.
    summed = np.sum([np.asarray(f["confusion"]) for f in folds], axis=0)
    assert np.array_equal(np.asarray(pooled["confusion"]), summed)
    assert pooled["accuracy"] == pytest.approx(np.trace(summed) / 480)
    assert pooled["per_corpus"]["savee"]["n"] == 480
    # The four different models really scored their own folds: the per-fold results are not all alike.
    assert len({json.dumps(f["confusion"]) for f in folds}) > 1
    text = (out / "README.md").read_text()
    assert "| savee uar | 0.70 |" in text and "mean ± sd" in text
    for fold, speaker in enumerate(SAVEE, 1):
        assert f"- fold {fold}: `{tmp_path.name}/run-{fold}-{speaker.split(':')[1]}`" in text
    for name in ("confusion-all.png", "confusion-savee.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
        assert f"]({name})" in text
    assert "UAR" in capsys.readouterr().out

    # The model card of a model trained with this recipe quotes the pooled figures and links the report.
    from serapp_train import cardata
    from serapp_train.jsonfile import write_json
    from serapp_train.runfolder import RunFolder

    run = runs[0]
    folder = RunFolder(run)
    folder.write_metrics({"n_params": 1234, "calibration": {"temperature": 1.0, "ece_val_before": 0.2,
                                                            "ece_val_after": 0.1}})
    card = tmp_path / "docs" / "card.md"
    assert main(["card", str(run), "--model", str(run / "model.onnx"), "--root", str(corpora), "--out", str(card),
                 "--crossval", str(out)]) == 0
    cv = cardata.crossval(out, folder.config_record(), card)
    assert cv.pooled == pooled and cv.k == 4 and cv.speakers == 4 and cv.protocol == "corpus-kfold"
    assert cv.per_fold == {"savee": [1, 1, 1, 1]} and cv.link == "../cv/README.md"
    assert cv.differs == "" and cv.teachers == 0  # this recipe, without teachers
    # The card quotes the command that wrote it, so that it can be re-run as it was.
    assert card.read_text().endswith(f"`serapp-train card {run} --model {run / 'model.onnx'} --root {corpora} "
                                     f"--out {card} --crossval {out}`.\n")
    # Through each device chain the card also analyses each whole clip as a file, against the targets it has.
    chains = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[-2:] for line in card.read_text().splitlines()
              if " chain | " in line}
    assert set(chains) == {"laptop chain", "telephone chain", "mp3 chain", "opus chain"}
    assert chains["laptop chain"][1].startswith("≥ 62 %: ") and chains["telephone chain"][1].startswith("≥ 55 %: ")
    assert chains["mp3 chain"][1] == "— |" and all(cells[0].endswith(" %") for cells in chains.values())

    # A distilled student of that recipe: the folds are the recipe without teachers.
    config = folder.config()
    folder.write_config(config.replace(teachers=("runs/teacher",), distill_weight=0.5))
    assert cardata.crossval(out, folder.config_record(), card).differs == "without distillation"
    shipped = cardata.protocol(folder)
    assert shipped.teachers == 1 and shipped.distill_weight == 0.5
    # A student of another family: both differences are named.
    folder.write_config(config.replace(family="cnn2d", teachers=("runs/t",), distill_weight=0.5))
    assert cardata.crossval(out, folder.config_record(), card).differs == \
        f"on `{config.family}`, not the shipped `cnn2d`; without distillation"
    # Folds of the distilled recipe itself: each fold's teachers are counted.
    folder.write_config(config.replace(teachers=("runs/t1", "runs/t2"), distill_weight=0.5))
    report = json.loads((out / "crossval.json").read_text())
    write_json(out / "crossval.json", {**report, "config": {**report["config"], "teachers": ["f1/t1", "f1/t2"]}})
    cv = cardata.crossval(out, folder.config_record(), card)
    assert cv.differs == "" and cv.teachers == 2


@pytest.mark.parametrize("case, message", [
    ("missing fold", "needs folds 1..4 once each; got [1, 2, 3]"),
    ("other recipe", "learning_rate differ"),
    ("speaker twice", "savee:DC are tested in two folds"),
    ("no model", "lacks model.onnx"),
    ("holdout", "is not a k-fold protocol"),
])
def test_crossval_refuses_what_is_not_one_cross_validation(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             case: str, message: str) -> None:
    spec = tiny_spec(FeatureSpec(kind="logmel"))
    speakers = list(SAVEE)
    if case == "speaker twice":
        speakers[3] = "savee:DC"
    runs = [fold_run(tmp_path, i + 1, s, spec, onnx=not (case == "no model" and i == 2),
                     **({"learning_rate": 0.01} if case == "other recipe" and i == 1 else {}),
                     **({"protocol": "speaker-holdout"} if case == "holdout" else {}))
            for i, s in enumerate(speakers)]
    if case == "missing fold":
        runs = runs[:3]
    assert main(["crossval", *map(str, runs), "--out", str(tmp_path / "cv")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "cv").exists()  # nothing written for a refused set


def student_folds(parent: Path, teacher_changes: dict[int, dict]) -> list[Path]:
    """Four distilled fold runs, each with a teacher trained on its own fold; ``teacher_changes[i]`` alters
    fold *i*'s teacher (its fold number or its recipe)."""
    spec = tiny_spec(FeatureSpec(kind="logmel"))
    runs = []
    for i, speaker in enumerate(SAVEE):
        changes = dict(teacher_changes.get(i + 1, {}))
        teacher_fold = changes.pop("fold", i + 1)
        teachers = parent / f"teachers-of-fold{i + 1}"
        teachers.mkdir()
        teacher = fold_run(teachers, teacher_fold, SAVEE[teacher_fold - 1], spec, onnx=False, **changes)
        runs.append(fold_run(parent, i + 1, speaker, spec, distill_weight=0.5, teachers=(str(teacher),)))
    return runs


@pytest.mark.parametrize("teacher_changes, message", [
    ({}, None),
    ({3: {"fold": 2}}, "it trained or validated on speakers this run validates or tests on \\(savee:JK\\)"),
    ({2: {"learning_rate": 0.01}}, "teachers differ"),
])
def test_crossval_checks_each_folds_teachers_by_recipe(tmp_path: Path, teacher_changes: dict,
                                                       message: str | None) -> None:
    """A distilled recipe's folds have different teacher paths (each fold its own teachers): they are one
    cross-validation when every teacher is of the student's fold and the teachers' recipes agree."""
    from serapp_train.crossvalidation import check_folds, read_fold

    from serapp.errors import SerappError

    folds = [read_fold(run) for run in student_folds(tmp_path, teacher_changes)]
    if message is None:
        check_folds(folds)
    else:
        with pytest.raises(SerappError, match=message):
            check_folds(folds)


def add_validation(run: Path, fold: int) -> dict:
    """Give a fold run the validation record `serapp-train train` writes (metrics.json and history.json)."""
    record = {"accuracy": 0.5 + fold / 100, "macro_f1": 0.4 + fold / 100, "uar": 0.45 + fold / 100, "n": 120,
              "per_corpus": {"savee": {"uar": 0.3 + fold / 50, "n": 120}}}
    make_run(run, metrics={"validation": record}, history={"val_loss": [2.0, 1.2 + fold / 10, 1.5]})
    return record


@pytest.mark.slow
def test_crossval_reports_the_folds_validation_scores(corpora: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    spec = tiny_spec(FeatureSpec(kind="logmel"))
    runs = [fold_run(tmp_path, i + 1, s, spec) for i, s in enumerate(SAVEE)]
    records = [add_validation(run, i + 1) for i, run in enumerate(runs)]
    out = tmp_path / "cv"
    assert main(["crossval", *map(str, runs), "--root", str(corpora), "--out", str(out)]) == 0
    report = json.loads((out / "crossval.json").read_text())
    mean = report["validation"]["mean"]
    assert mean["uar"] == pytest.approx(np.mean([r["uar"] for r in records]))
    assert mean["loss"] == pytest.approx(np.mean([1.3, 1.4, 1.5, 1.5]))  # each fold's best epoch (min val_loss)
    assert mean["per_corpus_uar"]["savee"] == pytest.approx(np.mean([0.32, 0.34, 0.36, 0.38]))
    assert "pooled" in report  # the test scoring is still there
    text = (out / "README.md").read_text()
    assert "## Validation speakers (what a search may select on)" in text
    assert "| 1 | 0 | 1.300 | 51.0 % | 0.410 | 46.0 % | 32.0 % |" in text
    assert "validation, mean over folds: loss 1.425" in capsys.readouterr().out


def test_crossval_validation_only_scores_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tiny_spec(FeatureSpec(kind="logmel"))
    runs = [fold_run(tmp_path, i + 1, s, spec, onnx=False) for i, s in enumerate(SAVEE)]  # no model needed
    for i, run in enumerate(runs):
        add_validation(run, i + 1)
    out = tmp_path / "val"
    assert main(["crossval", *map(str, runs), "--validation-only", "--out", str(out), "--root",
                 str(tmp_path / "no-corpora-here")]) == 0
    report = json.loads((out / "crossval.json").read_text())
    assert "pooled" not in report and len(report["validation"]["folds"]) == 4
    text = (out / "README.md").read_text()
    assert "Test speakers were not scored" in text and "## Per corpus" not in text
    assert not list(out.glob("*.png"))
    capsys.readouterr()

    (runs[2] / "metrics.json").unlink()  # a run without a validation record is refused, not averaged over
    assert main(["crossval", *map(str, runs), "--validation-only", "--out", str(tmp_path / "val2")]) == 2
    assert "has no validation scores" in capsys.readouterr().err


@pytest.mark.slow
def test_crossval_scores_an_ensemble_of_recipes_per_fold(corpora: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from serapp_train import corpora as corpus_scan
    from serapp_train.scoring import score

    from serapp.engine.model import load_model

    spec = tiny_spec(FeatureSpec(kind="logmel"))
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
    validating = SAVEE[1:] + SAVEE[:1]  # fold i validates on the next speaker
    pairs = list(enumerate(zip(SAVEE, validating, strict=True), 1))
    first = [fold_run(tmp_path / "a", i, s, spec, val_speaker=v) for i, (s, v) in pairs]
    second = [fold_run(tmp_path / "b", i, s, spec.replace(n_mels=24), model_seed=100, learning_rate=0.01,
                       val_speaker=v) for i, (s, v) in pairs]

    # The ensemble's probabilities are the mean of its models', each with its own features.
    clips = [c for c in corpus_scan.scan(corpora, ["savee"]) if c.speaker == SAVEE[0]]
    a, b = load_model(first[0] / "model.onnx"), load_model(second[0] / "model.onnx")
    both = score(a, clips, members=[b])
    np.testing.assert_allclose(both.probs, (score(a, clips).probs + score(b, clips).probs) / 2, rtol=1e-5)

    out = tmp_path / "cv"
    assert main(["crossval", *map(str, first), "--member", *map(str, second), "--root", str(corpora),
                 "--out", str(out)]) == 0
    report = json.loads((out / "crossval.json").read_text())
    assert report["members"] == {str(i + 1): [str(run)] for i, run in enumerate(second)}
    assert report["pooled"]["n"] == 480
    # The ensemble is scored on each fold's validation speaker as well (what a search selects on), without a loss.
    assert [f["val_speakers"] for f in report["validation"]["folds"]] == [[v] for v in validating]
    assert all(f["n"] == 120 and f["loss"] is None for f in report["validation"]["folds"])
    assert 0.0 <= report["validation"]["mean"]["uar"] <= 1.0 and report["validation"]["mean"]["loss"] is None
    assert main(["crossval", *map(str, first), "--member", *map(str, second), "--root", str(corpora),
                 "--out", str(tmp_path / "val"), "--validation-only"]) == 0
    only = json.loads((tmp_path / "val" / "crossval.json").read_text())
    assert "pooled" not in only and only["validation"] == report["validation"]
    text = (out / "README.md").read_text()
    assert "(ensembles of 2 models)" in text and f"- fold 1: `a/{first[0].name}`, `b/{second[0].name}`" in text

    # A member recipe whose folds test other speakers is refused.
    shuffled = [fold_run(tmp_path / "c", i + 1, s, spec) for i, s in enumerate(reversed(SAVEE))]
    capsys.readouterr()
    assert main(["crossval", *map(str, first), "--member", *map(str, shuffled), "--root", str(corpora),
                 "--out", str(tmp_path / "bad")]) == 2
    assert "splits the speakers differently" in capsys.readouterr().err
