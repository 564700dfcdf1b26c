"""The distilled recipe (`configs/recipes/cnn2d-distilled.json`, run by `serapp-train recipe`, which
`scripts/distilled-recipe.sh` wraps) on one split, end to end on real clips (one epoch each): six teachers and the
student on the fold its defaults name, the student distilled from exactly those teachers, and a second call that
keeps every finished run instead of training again; then `scripts/score-fold.sh` scores the base recipe, the
teachers' mean and the student on the split's validation and test speakers."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.corpora, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
TEACHERS = ("base", "mixup", "w32", "deltas", "utt", "cnn2d")


def _recipe(runs: Path, corpora: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SERAPP_CACHE": str(cache)}
    recipe = runs.parent / "fold2.json"  # the shipped steps on one fold, quick
    recipe.write_text(json.dumps({"steps_of": "configs/recipes/cnn2d-distilled.json",
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
    assert sorted(p.name for p in runs.iterdir()) == sorted((*TEACHERS, "student"))
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
    assert again.stdout.count(": kept (") == len(TEACHERS) + 1
    assert {p: p.stat().st_mtime_ns for p in runs.rglob("*")} == before

    scored = subprocess.run(["bash", "scripts/score-fold.sh", str(runs), "--root", str(corpora), "--limit", "6"],
                            cwd=REPO, env={**os.environ, "SERAPP_CACHE": str(tmp_path / "cache")},
                            capture_output=True, text=True, timeout=900, check=False)
    assert scored.returncode == 0, scored.stderr[-3000:]
    split = json.loads((runs / "student" / "split.json").read_text(encoding="utf-8"))
    for part in ("val", "test"):
        for name in ("base", "teachers", "student"):
            result = json.loads((runs / "eval" / f"{name}-{part}" / "metrics.json").read_text(encoding="utf-8"))
            assert set(result["speakers"]) <= set(split[f"{part}_speakers"]), (name, part)
            if name != "teachers":
                assert Path(result["model"]).parent.name == name and result["members"] == [], (name, part)
        teachers = json.loads((runs / "eval" / f"teachers-{part}" / "metrics.json").read_text(encoding="utf-8"))
        assert sorted(Path(p).parent.name for p in [teachers["model"], *teachers["members"]]) == sorted(TEACHERS)
