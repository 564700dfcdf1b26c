"""The run folder: what its writers write its readers read back, typed; missing files are named; a new folder never
reuses an existing one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from serapp_train.config import TrainConfig
from serapp_train.runfolder import MemberRef, RunFolder, TeacherRef

from serapp.bundle import sha256_file
from serapp.engine.labels import EMOTIONS
from serapp.engine.spec import FeatureSpec
from serapp.errors import SerappError
from tests.run_folders import make_run

SPLIT = {"name": "speaker-holdout", "speaker_independent": True, "train": 10, "val": 2, "test": 3,
         "train_speakers": ["a", "b"], "val_speakers": ["c"], "test_speakers": ["d"]}


def test_what_is_written_reads_back(tmp_path: Path) -> None:
    config = TrainConfig(family="cnn1d", seed=3, teachers=("runs/t",))
    config = config.replace(spec=config.feature_spec)  # config.json holds the resolved spec
    teachers = {"format": 1, "teachers": [{"run": "runs/t", "run_id": "t", "model_sha256": "ab" * 32}]}
    members = [make_run(tmp_path / name) for name in ("m1", "m2")]
    (members[0].path / "model.onnx").write_bytes(b"onnx")
    run = make_run(tmp_path / "run", config=config, members=members, labels=EMOTIONS,
                   spec=config.feature_spec, split=SPLIT,
                   metrics={"uar": 0.5, "calibration": {"temperature": 1.3},
                            "validation": {"uar": 0.4, "per_corpus": {}, "n": 2}},
                   history={"val_loss": [1.5, 0.9, 1.1]}, teachers=teachers)
    assert run.config() == config and run.members() == ("m1", "m2")
    assert run.config_record()["members"] == [{"run_id": "m1", "model_sha256": sha256_file(members[0].model_path)},
                                              {"run_id": "m2", "model_sha256": None}]
    assert run.member_refs() == (MemberRef("m1", sha256_file(members[0].model_path), None),
                                 MemberRef("m2", None, None))
    assert run.labels() == EMOTIONS and run.spec() == config.feature_spec
    assert run.split() == SPLIT and run.speakers("test") == {"d"} and run.speakers("val") == {"c"}
    assert run.temperature() == 1.3
    assert run.validation() == {"uar": 0.4, "per_corpus": {}, "n": 2, "loss": 0.9}  # the best epoch's loss
    assert run.teacher_refs() == (TeacherRef("t", "ab" * 32, "runs/t"),)
    assert run.model_sha256() is None and run.history() == {"val_loss": [1.5, 0.9, 1.1]}
    # the layout other tools read: indented, sorted JSON; the spec canonical, as a model's metadata holds it
    assert (run.path / "config.json").read_text().startswith('{\n  "all_speakers": false,\n')
    assert FeatureSpec.from_json((run.path / "spec.json").read_text()) == config.feature_spec


def test_absent_records_and_missing_files(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", split={"test_speakers": ["d"]})
    assert run.history() is None and run.teachers() is None and run.teacher_refs() == ()
    assert run.validation() is None and run.selection() is None and run.product_path() is None
    assert run.missing(("split.json", "config.json", "model.onnx")) == ["config.json", "model.onnx"]
    with pytest.raises(SerappError, match=r"not a finished, exported run \(it lacks config.json\)"):
        run.require(("split.json", "config.json"))
    with pytest.raises(SerappError, match="cannot read the run file"):
        run.metrics()
    (run.path / "metrics.json").write_text("{not json")
    with pytest.raises(SerappError, match=r"metrics\.json: cannot read the run file"):
        run.metrics()


def test_create_never_reuses_a_folder(tmp_path: Path) -> None:
    config = TrainConfig(family="cnn1d", protocol="speaker-holdout")
    first, second = RunFolder.create(tmp_path, config), RunFolder.create(tmp_path, config)
    assert first.path != second.path and first.path.is_dir() and second.path.is_dir()
    assert first.run_id.endswith("-cnn1d-speaker-holdout") and json.loads(json.dumps(first.run_id))


def test_a_checkpoint_with_serapps_own_layers_loads_in_a_fresh_process(tmp_path: Path) -> None:
    """A layer-weighted Whisper head's checkpoint loads in a process that imported nothing else first (a recipe's
    distillation step reads its teacher heads before any model module is imported)."""
    import subprocess
    import sys

    from serapp_train.models import build_model

    folder = RunFolder(tmp_path / "run")
    folder.path.mkdir()
    build_model("whisper_tiny", (5, 768), len(EMOTIONS), seed=0, layer_weighting=True).save(str(folder.keras_path))
    code = ("import sys; from pathlib import Path; from serapp_train.runfolder import RunFolder, load_checkpoint; "
            "print(load_checkpoint(RunFolder(Path(sys.argv[1]))).output_shape)")
    done = subprocess.run([sys.executable, "-c", code, str(folder.path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith(f"(None, {len(EMOTIONS)})")
