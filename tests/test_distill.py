"""Distillation: soft targets mixed into the batches, the leak check on teachers (the whole teacher tree, not only
the direct teachers), the teacher record a student keeps, and a real student run taught by a real exported teacher
on the same fold (and refused by one that tested on the student's speakers, or whose own teacher did)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from serapp_train.batches import Batches
from serapp_train.cli import main
from serapp_train.config import TrainConfig
from serapp_train.data import one_hot
from serapp_train.distill import check_teacher, provenance, teacher_tree

from serapp.engine.labels import EMOTIONS
from serapp.engine.modelmeta import ModelInfo
from serapp.engine.spec import FeatureSpec
from serapp.errors import SerappError
from tests.run_folders import make_run
from tests.test_fit import QUICK, TINY, only_run


def test_soft_targets_take_their_share_of_every_target() -> None:
    spec = FeatureSpec(kind="stats", n_mels=16, n_mfcc=8)
    y = np.array([0, 1, 2, 0, 1, 2])
    x = np.zeros((len(y), spec.n_stats), np.float32)
    soft = np.full((len(y), 3), 1 / 3, np.float32)
    batches = Batches(x, y, 3, spec, batch_size=6, imbalance="none", soft=soft, soft_weight=0.25, shuffle=False)
    _, targets = batches[0]
    np.testing.assert_allclose(targets, 0.75 * one_hot(y, 3) + 0.25 / 3, rtol=1e-6)
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, rtol=1e-6)
    with pytest.raises(SerappError, match="Soft targets must be"):
        Batches(x, y, 3, spec, soft=soft[:, :2], soft_weight=0.5)


def test_a_teacher_that_saw_validation_or_test_speakers_is_refused(tmp_path: Path) -> None:
    split = {"train_speakers": ["a", "b"], "val_speakers": ["c"]}
    check_teacher(tmp_path, split, val_speakers={"c"}, test_speakers={"d"})  # same split: allowed
    with pytest.raises(SerappError, match=r"validates or tests on \(b\)"):
        check_teacher(tmp_path, split, val_speakers={"b"}, test_speakers={"d"})
    with pytest.raises(SerappError, match=r"validates or tests on \(c\)"):
        check_teacher(tmp_path, split, val_speakers={"e"}, test_speakers={"c"})  # chose its epochs on "c"
    with pytest.raises(SerappError, match="no training speakers"):
        check_teacher(tmp_path, {}, val_speakers=set(), test_speakers=set())


def run_folder(folder: Path, *, train: list[str], val: list[str], test: list[str],
               teachers: tuple[str, ...] = ()) -> Path:
    """A run folder's config.json and split.json as `serapp-train train` writes them (its writers, its fields)."""
    folder.mkdir(parents=True)
    make_run(folder, config=TrainConfig(family="cnn1d", teachers=teachers),
             split={"name": "hand-made", "speaker_independent": True, "train_speakers": train, "val_speakers": val,
                    "test_speakers": test})
    return folder


def test_a_teacher_whose_own_teacher_heard_the_students_speakers_is_refused(tmp_path: Path) -> None:
    """Student: trains on a, b; validates on c; tests on d. Its teacher trained on a and validated on b: clean.
    But that teacher was distilled from one that trained on d, whose probabilities it learnt."""
    student_val, student_test = {"c"}, {"d"}
    grand = run_folder(tmp_path / "grand", train=["d", "e"], val=["a"], test=[])  # clean for its own student
    teacher = run_folder(tmp_path / "teacher", train=["a"], val=["b"], test=["f"], teachers=(str(grand),))
    # The check the teacher's own training ran passes: the grand-teacher heard none of the teacher's speakers.
    teacher_tree([grand], {"b"}, {"f"})
    check_teacher(teacher, json.loads((teacher / "split.json").read_text()), student_val, student_test)
    with pytest.raises(SerappError, match=rf"{grand.name} cannot teach this run: .*\(d\)"):
        teacher_tree([teacher], student_val, student_test)
    with pytest.raises(SerappError, match=rf"{grand.name} cannot teach"):
        provenance([teacher], {"train_speakers": ["a", "b"], "val_speakers": ["c"], "test_speakers": ["d"]})

    # A clean chain is recorded whole: run ids, speakers and their hash at every depth, checksum where a model is.
    clean = run_folder(tmp_path / "clean", train=["a"], val=["b"], test=[])
    (clean / "model.onnx").write_bytes(b"model bytes")
    middle = run_folder(tmp_path / "middle", train=["a", "b"], val=["e"], test=[], teachers=(str(clean),))
    record = provenance([middle], {"train_speakers": ["a", "b"], "val_speakers": ["c"], "test_speakers": ["d"]})
    top = record["teachers"][0]
    assert top["run_id"] == "middle" and top["model_sha256"] is None
    assert top["speakers"] == {"train": ["a", "b"], "val": ["e"], "test": []}
    below = top["teachers"][0]
    assert below["run_id"] == "clean" and below["model_sha256"] == hashlib.sha256(b"model bytes").hexdigest()
    assert record["student"]["speakers"]["test"] == ["d"] and below["speakers_sha256"] != top["speakers_sha256"]

    # A missing grand-teacher cannot be checked, and a run cannot teach itself.
    orphan = run_folder(tmp_path / "orphan", train=["a"], val=["b"], test=[], teachers=(str(tmp_path / "gone"),))
    with pytest.raises(SerappError, match="cannot be checked for leaks"):
        teacher_tree([orphan], student_val, student_test)
    loop = run_folder(tmp_path / "loop", train=["a"], val=["b"], test=[], teachers=(str(tmp_path / "loop"),))
    with pytest.raises(SerappError, match="is its own teacher"):
        teacher_tree([loop], student_val, student_test)


def test_distillation_settings_are_checked() -> None:
    with pytest.raises(SerappError, match="distill_weight"):
        TrainConfig(teachers=("runs/x",), distill_weight=0.0)
    with pytest.raises(SerappError, match="neural family"):
        TrainConfig(family="svm", teachers=("runs/x",))
    assert TrainConfig(teachers=["runs/x"]).teachers == ("runs/x",)  # JSON lists come back as tuples


@pytest.mark.corpora
@pytest.mark.slow
def test_a_student_learns_from_a_teacher_on_the_same_fold(corpora: Path, tmp_path: Path) -> None:
    common = ["--family", "crnn_small", *TINY, *QUICK, "--epochs", "1", "--root", str(corpora)]
    assert main(["train", *common, "--runs-dir", str(tmp_path / "teacher"), "--export"]) == 0
    teacher = only_run(tmp_path / "teacher")

    assert main(["train", *common, "--runs-dir", str(tmp_path / "student"), "--teacher", str(teacher),
                 "--distill-weight", "0.7"]) == 0
    student = only_run(tmp_path / "student")
    config = json.loads((student / "config.json").read_text())
    assert config["teachers"] == [str(teacher)] and config["distill_weight"] == 0.7
    assert 0.0 <= json.loads((student / "metrics.json").read_text())["uar"] <= 1.0

    # Fold 2 tests speakers that fold 1's teacher trained on: refused before any training.
    code = main(["train", *common, "--fold", "2", "--runs-dir", str(tmp_path / "leak"), "--teacher", str(teacher)])
    assert code == 2 and not (tmp_path / "leak").exists()


@pytest.mark.corpora
@pytest.mark.slow
def test_training_refuses_a_teacher_whose_own_teacher_tested_on_its_speakers(corpora: Path, tmp_path: Path,
                                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Three real runs: G, a SAVEE fold that trained on the speaker SAVEE fold 1 tests; T, a student of G on
    RAVDESS and TESS (G heard none of T's speakers, so T's training accepts it); then a SAVEE fold-1 student of T,
    refused before training because T learnt G's probabilities."""
    common = ["--family", "crnn_small", *TINY, "--epochs", "1", "--batch-size", "16", "--quiet", "--root",
              str(corpora), "--export"]
    savee = ["--corpora", "savee", "--protocol", "corpus-kfold", "--k", "4", "--limit", "40"]
    assert main(["train", *common, *savee, "--fold", "2", "--runs-dir", str(tmp_path / "g")]) == 0
    grand = only_run(tmp_path / "g")
    assert main(["train", *common, "--corpora", "ravdess,tess", "--protocol", "speaker-holdout", "--limit", "40",
                 "--teacher", str(grand), "--runs-dir", str(tmp_path / "t")]) == 0
    teacher = only_run(tmp_path / "t")
    # T keeps its teacher record, and its exported model carries it.
    from serapp_train.provenance import from_model

    record = json.loads((teacher / "teachers.json").read_text())
    assert [t["run"] for t in record["teachers"]] == [str(grand)] and record["teachers"][0]["model_sha256"]
    assert from_model(teacher / "model.onnx") == record
    capsys.readouterr()
    code = main(["train", *common, *savee, "--fold", "1", "--teacher", str(teacher), "--runs-dir",
                 str(tmp_path / "s")])
    assert code == 2 and not (tmp_path / "s").exists()
    assert f"{grand} cannot teach this run" in capsys.readouterr().err


def test_the_card_checks_a_students_teacher_record(tmp_path: Path) -> None:
    """A student's teacher record (written by the trainer's own function, carried in the model's metadata) is
    verified claim by claim; a changed teacher model fails, a teacher folder this checkout lacks is 'not in this
    clone', and a record that lost a teacher's checksum and speakers says 'not recorded'."""
    from serapp_train import provenance as records
    from serapp_train.cardata import teachers

    from tests.onnx_models import save_model
    from tests.tiny_models import tiny_spec

    spec = tiny_spec(FeatureSpec(kind="logmel"))
    teacher = run_folder(tmp_path / "teacher", train=["a", "b"], val=["e"], test=[])
    save_model(teacher / "model.onnx", spec)
    student = tmp_path / "student"
    split = {"train_speakers": ["a", "b"], "val_speakers": ["c"], "test_speakers": ["d"]}
    folder = make_run(student, config=TrainConfig(family="cnn1d", teachers=(str(teacher),)), split=split)
    record = provenance([teacher], split)
    model = save_model(student / "model.onnx", spec, metadata={
        **records.metadata(record), **ModelInfo(labels=EMOTIONS, spec=spec).to_metadata()})
    config = json.loads((student / "config.json").read_text())

    def statuses() -> dict[str, str]:
        found, where = records.find(model, student)
        assert found == record and where == "the model file's metadata"
        return {c.claim: c.status for c in records.verify(found, found_in=where, model_path=model,
                                                          student_config=config, student_split=split)}

    assert set(statuses().values()) == {records.VERIFIED}
    card = teachers(model, student, config, split)  # the card's Teachers data: the same checks
    assert card is not None and card.found_in == "the model file's metadata"
    assert [c.status for c in card.checks] == [records.VERIFIED] * 6
    save_model(teacher / "model.onnx", spec, seed=7)  # another teacher model under the same name
    assert statuses()["its model is the file the record names (SHA-256)"] == records.FAILED
    (teacher / "model.onnx").unlink()
    assert statuses()["its model is the file the record names (SHA-256)"] == records.ABSENT
    # A record beside the files must name the student's model checksum, and a lost teacher is said to be lost.
    lost = {**record["teachers"][0], "model_sha256": None, "speakers": None, "unrecorded": "the run is gone",
            "recipe": {"config": str(student / "config.json"), "options": ["--seed", "3"]}}
    beside = records.manifest(student={**record["student"], "model_sha256": records.sha256_file(model)},
                              teachers=[lost])
    checks = {c.claim: c for c in records.verify(beside, found_in="teachers.json", model_path=model,
                                                  student_config=config, student_split=split)}
    assert checks["the record belongs to this file"].status == records.VERIFIED
    assert checks["its model checksum"].status == records.UNRECORDED and "gone" in checks["its model checksum"].how
    recipe = checks["the recipe it was trained with draws the student's speakers"]
    assert recipe.status == records.FAILED and "speaker_seed differ" in recipe.how  # --seed 3 draws other speakers
    folder.write_split({**split, "test_speakers": ["f"]})
    assert records.verify(beside, found_in="teachers.json", model_path=model, student_config=config,
                          student_split={**split, "test_speakers": ["f"]})[1].status == records.FAILED


def test_a_bundled_teacher_is_checked_against_the_bundled_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A teacher that is a bundled model has its run folder in git without its ONNX file (git holds no ONNX file but
    the bundled ones): a clone checks the teacher's recorded checksum against the bundled file whose manifest entry
    names that run folder, and a record naming other bytes fails."""
    import shutil

    from serapp_train import provenance as records
    from serapp_train.runfolder import RunFolder, bundled_model

    from serapp import bundle

    repo = Path(__file__).resolve().parents[1]
    entry = next(e for e in bundle.read_manifest(bundle.models_dir())["models"]
                 if e["file"] == bundle.DEFAULT_MODEL_NAME)
    clone = tmp_path / "clone"  # the run folder as a clone has it: records, no model.onnx
    (clone / entry["run"]).mkdir(parents=True)
    shutil.copy(repo / entry["run"] / "split.json", clone / entry["run"] / "split.json")
    monkeypatch.chdir(clone)
    run = Path(entry["run"])
    assert bundled_model(run) == bundle.models_dir() / entry["file"]
    assert bundled_model(tmp_path) is None
    split = RunFolder(run).split()
    teacher = records.node(run=entry["run"], family="whisper_tiny", model_sha256=entry["sha256"], split=split)
    student_split = {"train_speakers": split["train_speakers"], "val_speakers": split["val_speakers"],
                     "test_speakers": split["test_speakers"]}
    checks = {c.claim: c for c in records._teacher_checks(teacher, 1, student_split, None)}
    checksum = checks["its model is the file the record names (SHA-256)"]
    assert checksum.status == records.VERIFIED and entry["file"] in checksum.how
    assert checks["its split.json lists the recorded speakers"].status == records.VERIFIED
    other = {**teacher, "model_sha256": "0" * 64}
    checks = {c.claim: c for c in records._teacher_checks(other, 1, student_split, None)}
    assert checks["its model is the file the record names (SHA-256)"].status == records.FAILED


@pytest.mark.corpora
@pytest.mark.slow
def test_a_whisper_head_learns_from_teacher_heads_on_its_own_rows_views_included(corpora: Path,
                                                                                 tmp_path: Path) -> None:
    """Two real teacher heads on the frozen encoder's cached outputs: the student's soft targets are the mean of
    their calibrated probabilities on each of its training rows, augmented views included (not on the clean clip
    only); a teacher head on other inputs (speaker-adapted embeddings) is refused, and the student trains."""
    import keras
    from serapp_train.data import load_data
    from serapp_train.fitting import teacher_targets
    from serapp_train.metrics import apply_temperature
    from serapp_train.runfolder import RunFolder

    from tests.whisper_support import require_whisper_extra

    require_whisper_extra()
    views = tmp_path / "views.json"  # every training clip once more, through a telephone
    views.write_text(json.dumps({"p_device": 1.0, "telephone_share": 1.0}))
    common = ["--family", "whisper_tiny", "--limit", "16", "--k", "3", "--epochs", "2", "--batch-size", "16",
              "--quiet", "--root", str(corpora), "--augment", str(views), "--views", "1", "--views-seed", "0"]
    teachers = []
    for seed in ("1", "2"):
        assert main(["train", *common, "--seed", seed, "--split-seed", "0", "--runs-dir",
                     str(tmp_path / f"t{seed}")]) == 0
        teachers.append(str(only_run(tmp_path / f"t{seed}")))

    student = RunFolder(Path(teachers[0])).config().replace(seed=3, teachers=tuple(teachers))
    data = load_data(student, corpora, progress=False)
    soft = teacher_targets(student, data)
    rows = data.split.train
    assert len(rows) > len({data.clips[i].path for i in rows})  # views among the rows
    want = np.zeros((len(rows), len(data.labels)))
    for run in map(RunFolder, map(Path, teachers)):
        head = keras.saving.load_model(run.keras_path, safe_mode=True)
        probs = apply_temperature(keras.ops.convert_to_numpy(head(data.features[rows], training=False)),
                                  run.temperature())
        want += probs[:, [run.labels().index(label) for label in data.labels]] / len(teachers)
    np.testing.assert_allclose(soft[rows], want, atol=1e-5)
    others = np.setdiff1d(np.arange(len(data.y)), rows)
    np.testing.assert_array_equal(soft[others], one_hot(data.y[others], len(data.labels)))
    view_rows = rows[rows >= len(data.y) - len(rows) // 2]  # a view's target is the teachers' word on the view
    clean_of = {data.clips[i].path: i for i in rows if i < len(data.y) - len(rows) // 2}
    assert not np.allclose(soft[view_rows], soft[[clean_of[data.clips[i].path] for i in view_rows]], atol=1e-3)

    with pytest.raises(SerappError, match="speaker_adaptation differ"):
        teacher_targets(student.replace(speaker_adaptation=2), load_data(student.replace(speaker_adaptation=2),
                                                                          corpora, progress=False))
    assert main(["train", *common, "--seed", "3", "--split-seed", "0", "--runs-dir", str(tmp_path / "s"),
                 *[arg for t in teachers for arg in ("--teacher", t)]]) == 0
    record = json.loads((only_run(tmp_path / "s") / "teachers.json").read_text())
    assert [t["run"] for t in record["teachers"]] == teachers
