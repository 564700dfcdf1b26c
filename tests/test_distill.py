"""Distillation: soft targets mixed into the batches, the leak check on teachers, and a real student run taught
by a real exported teacher on the same fold (and refused by one that tested on the student's speakers)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from serapp.engine.spec import FeatureSpec
from serapp.errors import SerappError
from tests.test_fit import QUICK, TINY, only_run
from train.cli import main
from train.distill import check_teacher
from train.fit import Batches, TrainConfig, one_hot


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
