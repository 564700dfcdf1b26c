"""The distilled recipe with its scores (`configs/recipes/cnn2d-distilled-scored.json`, run by `serapp-train
recipe`; each fold of `scripts/crossval-cnn-model.sh`) on one split, end to end on real clips (one epoch each): six
teachers and the student on the fold its defaults name, the student distilled from exactly those teachers, the base
recipe, the teachers' mean and the student scored on the split's validation and test speakers, and a second call
that keeps every finished step instead of running it again."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.corpora, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
TEACHERS = ("base", "mixup", "w32", "deltas", "utt", "cnn2d")
SCORES = tuple(f"score-{name}-{part}" for name in ("base", "teachers", "student") for part in ("val", "test"))


def _recipe(runs: Path, corpora: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SERAPP_CACHE": str(cache)}
    recipe = runs.parent / "fold2.json"  # the shipped steps on one fold, quick
    recipe.write_text(json.dumps({"steps_of": "configs/recipes/cnn2d-distilled-scored.json",
                                  "defaults": {"protocol": "corpus-kfold", "k": 4, "fold": 2, "limit": 24,
                                               "epochs": 1}}), encoding="utf-8")
    command = [str(REPO / ".venv/bin/serapp-train"), "recipe", str(recipe), "--runs", str(runs), "--root",
               str(corpora), "--quiet"]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)


def test_recipe_trains_six_teachers_and_their_student_on_one_fold_and_resumes(corpora: Path,
                                                                               tmp_path: Path) -> None:
    runs = tmp_path / "fold2"
    first = _recipe(runs, corpora, tmp_path / "cache")
    assert first.returncode == 0, first.stderr[-3000:]
    assert sorted(p.name for p in runs.iterdir()) == sorted((*TEACHERS, "student", *SCORES))
    for name in (*TEACHERS, "student"):
        config = json.loads((runs / name / "config.json").read_text(encoding="utf-8"))
        assert (config["protocol"], config["k"], config["fold"]) == ("corpus-kfold", 4, 2), name
        assert (runs / name / "model.onnx").is_file(), name
    student = json.loads((runs / "student" / "config.json").read_text(encoding="utf-8"))
    assert student["family"] == "cnn2d" and student["distill_weight"] == 0.5
    assert sorted(Path(t).name for t in student["teachers"]) == sorted(TEACHERS)
    assert json.loads((runs / "mixup" / "config.json").read_text(encoding="utf-8"))["mixup_alpha"] == 0.2
    assert json.loads((runs / "deltas" / "spec.json").read_text(encoding="utf-8"))["deltas"] is True

    before = {p: p.stat().st_mtime_ns for p in runs.rglob("*")}
    again = _recipe(runs, corpora, tmp_path / "cache")
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count(": kept (") == len(TEACHERS) + 1 + len(SCORES)
    assert {p: p.stat().st_mtime_ns for p in runs.rglob("*")} == before

    split = json.loads((runs / "student" / "split.json").read_text(encoding="utf-8"))
    for part in ("val", "test"):
        for name in ("base", "teachers", "student"):
            result = json.loads((runs / f"score-{name}-{part}" / "metrics.json").read_text(encoding="utf-8"))
            assert set(result["speakers"]) <= set(split[f"{part}_speakers"]), (name, part)
            assert result["part"] == part and Path(result["split"]) == runs / "student" / "split.json"
            if name != "teachers":
                assert Path(result["model"]).parent.name == name and result["members"] == [], (name, part)
        teachers = json.loads((runs / f"score-teachers-{part}" / "metrics.json").read_text(encoding="utf-8"))
        assert sorted(Path(p).parent.name for p in [teachers["model"], *teachers["members"]]) == sorted(TEACHERS)
