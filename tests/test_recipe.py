"""Recipes (:mod:`serapp_train.recipe`, `serapp-train recipe`): the schema's plain refusals, the shipped recipe
files, the dry-run plan, and a tiny real recipe (two teachers, a distilled student, an export and an install on
real clips, one epoch each) interrupted with Ctrl-C, resumed, run again (nothing redone) and, after one teacher's
run is removed, redone for that teacher and the steps after it that use it."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from serapp_train.cli import main
from serapp_train.config import TrainConfig
from serapp_train.recipe import (
    Options,
    attach_base,
    installed_records,
    installed_run,
    load,
    parse,
    plan,
    run_recipe,
)
from serapp_train.runfolder import RunFolder

from serapp.bundle import read_manifest, sha256_file
from serapp.errors import SerappError

REPO = Path(__file__).resolve().parents[1]
# test_fit.py's tiny settings, so the feature cache it filled serves these runs too
TINY_SPEC = {"duration_s": 1.0, "n_mels": 32, "n_mfcc": 20}
TINY = {"limit": 20, "k": 3, "seed": 1, "batch_size": 16, "epochs": 1}


def base_config(folder: Path) -> Path:
    """A crnn_small base config file (recipes make its features tiny through ``defaults``)."""
    config = TrainConfig(family="crnn_small")
    path = folder / "base.json"
    path.write_text(config.to_json(), encoding="utf-8")
    return path


def recipe_data(base: Path, *steps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"description": "test", "steps": list(steps) or [{"name": "a", "kind": "train", "config": str(base)}],
            **extra}


def train(name: str, base: Path, **fields: Any) -> dict[str, Any]:
    return {"name": name, "kind": "train", "config": str(base), **fields}


# ------------------------------------------------------------------------------------------------- schema
@pytest.mark.parametrize("change, message", [
    ({"extra": 1}, "unknown field(s) extra"),
    ({"steps": []}, "non-empty list"),
    ({"steps": [{"name": "a", "kind": "fit", "config": "x"}]}, "kind 'fit'"),
    ({"steps": [{"name": "a/b", "kind": "train", "config": "x"}]}, "needs a name"),
    ({"steps": [{"name": "a", "kind": "train"}]}, "a train step needs config"),
    ({"steps": [{"name": "a", "kind": "export", "run": "a", "int8": "yes"}]}, "int8 must be bool"),
    ({"defaults": {"teachers": ["x"]}}, "defaults cannot set teachers"),
    ({"folds": [1, 1]}, "distinct fold numbers"),
    ({"steps": [{"name": "a", "kind": "train", "config": "x", "bundled_teachers": ["runs/nothing"]}]},
     "no bundled model's run folder"),
])
def test_malformed_recipes_are_refused_plainly(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    data = {**recipe_data(base_config(tmp_path)), **change}
    with pytest.raises(SerappError, match=None) as caught:
        parse(data, tmp_path / "r.json")
    assert message in str(caught.value) and "r.json" in str(caught.value)


@pytest.mark.parametrize("steps, message", [
    (lambda b: [train("a", b), {"name": "a", "kind": "export", "run": "a"}], "two steps are named 'a'"),
    (lambda b: [train("a", b, teachers=["nobody"])], "names 'nobody', which is no step"),
    (lambda b: [train("a", b, teachers=["b"]), train("b", b, teachers=["a"])], "cycle: a -> b -> a"),
    (lambda b: [train("a", b, teachers=["a"])], "cycle: a -> a"),
    (lambda b: [train("a", b, teachers=["b"]), train("b", b)], "'b', which comes after it"),
    (lambda b: [train("a", b, export=False), train("b", b, teachers=["a"])], "which is not exported"),
    (lambda b: [train("a", b), {"name": "e", "kind": "export", "run": "a"},
                {"name": "f", "kind": "export", "run": "e"}], "reads 'e' as a train step, but it is a export"),
    (lambda b: [train("a", b), {"name": "e", "kind": "export", "run": "a"},
                {"name": "m", "kind": "ensemble", "models": ["a", "e"]}], "reads 'e' as a train step"),
    (lambda b: [train("a", b), {"name": "i", "kind": "install", "from": "a", "to": "x.onnx"}],
     "reads 'a' as a export or ensemble or crowd step"),
    (lambda b: [train("a", b, export=False), train("b", b), {"name": "m", "kind": "ensemble", "models": ["a", "b"]}],
     "reads the model of 'a', which is not exported"),
    (lambda b: [train("a", b), train("b", b), {"name": "m", "kind": "ensemble", "models": ["a", "b"]},
                {"name": "i", "kind": "install", "from": "m", "to": "x.onnx", "int8": True}], "writes none"),
    (lambda b: [train("a", b), {"name": "e", "kind": "export", "run": "a"},
                {"name": "i", "kind": "install", "from": "e", "to": "x.onnx", "int8": True}], "writes none"),
    (lambda b: [train("a", b), {"name": "e", "kind": "export", "run": "a"},
                {"name": "x", "kind": "export", "run": "a", "onto": "e", "onto_int8": True}], "writes none"),
    (lambda b: [train("a", b), {"name": "e", "kind": "export", "run": "a"},
                {"name": "x", "kind": "export", "run": "a", "onto": "e", "int8": True}], "no int8 or model_name"),
    (lambda b: [train("a", b), {"name": "x", "kind": "export", "run": "a", "onto": "a"}],
     "reads 'a' as a export step, but it is a train step"),
    (lambda b: [train("a", b), {"name": "x", "kind": "export", "run": "a", "onto_int8": False}], "give onto"),
    (lambda b: [train("a", b, set={"teachers": ["x"]})], "not in set"),
    (lambda b: [train("a", b, set={"mixup": 0.2})], "unknown settings mixup"),
    (lambda b: [train("a", b, set={"mixup_alpha": -1})], "mixup_alpha must be >= 0"),
    (lambda b: [train("a", b, set={"spec": {"n_melz": 3}})], "n_melz"),
    (lambda b: [train("a", Path("no/such/config.json"))], "cannot read the training config"),
    (lambda b: [train("a", b), {"name": "s", "kind": "evaluate", "models": ["a"], "split_of": "a", "part": "train"}],
     "part must be one of val, test"),
    (lambda b: [train("a", b), {"name": "s", "kind": "evaluate", "models": [], "split_of": "a", "part": "val"}],
     "models must name at least one"),
    (lambda b: [train("a", b), {"name": "s", "kind": "evaluate", "models": ["a"], "split_of": "a", "part": "val",
                                "limit": 0}], "limit must be at least 1"),
    (lambda b: [train("a", b, export=False), {"name": "s", "kind": "evaluate", "models": ["a"], "split_of": "a",
                                              "part": "val"}], "reads the model of 'a', which is not exported"),
    (lambda b: [train("a", b), {"name": "cv", "kind": "crossval", "models": ["a"]}], "pools folds, but the recipe "
     "has none"),
    (lambda b: [train("a", b), {"name": "cv", "kind": "crossval", "models": ["e"]}], "names 'e', which is no step"),
    (lambda b: [train("a", b), {"name": "cv", "kind": "crossval", "models": ["a"], "validation_only": 1}],
     "validation_only must be bool"),
])
def test_steps_that_cannot_run_are_refused_before_anything_runs(tmp_path: Path, steps: Any, message: str) -> None:
    with pytest.raises(SerappError) as caught:
        parse(recipe_data(base_config(tmp_path), *steps(base_config(tmp_path))), tmp_path / "r.json")
    assert message in str(caught.value)


def test_a_crossval_step_runs_once_after_every_fold(tmp_path: Path) -> None:
    base = base_config(tmp_path)
    cv = {"name": "cv", "kind": "crossval", "models": ["a", "b"], "out": str(tmp_path / "report")}
    data = recipe_data(base, train("a", base), train("b", base), cv,
                       defaults={"protocol": "corpus-kfold", "k": 2}, folds=[1, 2])
    recipe = parse(data, tmp_path / "r.json")
    runs = tmp_path / "runs"
    lines = [(item.label, item.line, item.status.reason) for item in plan(recipe, runs)]
    assert [label for label, _, _ in lines] == [
        "fold 1/2 (fold 1), step 1/3 a", "fold 1/2 (fold 1), step 2/3 b", "fold 2/2 (fold 2), step 1/3 a",
        "fold 2/2 (fold 2), step 2/3 b", "all folds, step 3/3 cv"]
    assert lines[-1][1:] == (f"crossval a + b over folds 1, 2 -> {tmp_path / 'report'}", "a, b are redone")
    with pytest.raises(SerappError, match="comes after the crossval step 'cv'"):
        parse({**data, "steps": [*data["steps"], train("c", base)]}, tmp_path / "r.json")


def test_a_recipe_takes_another_recipes_steps_and_runs_them_on_every_fold(tmp_path: Path) -> None:
    base = base_config(tmp_path)
    first = tmp_path / "first.json"
    first.write_text(json.dumps(recipe_data(base, train("a", base), defaults={"epochs": 2, "k": 3})))
    more = tmp_path / "more.json"
    more.write_text(json.dumps({"steps_of": str(first), "steps": [train("b", base, teachers=["a"])],
                                "defaults": {"epochs": 1, "protocol": "corpus-kfold"}, "folds": [2, 3]}))
    recipe = load(more)
    assert [s.name for s in recipe.steps] == ["a", "b"] and recipe.folds == (2, 3)
    assert recipe.defaults == {"epochs": 1, "k": 3, "protocol": "corpus-kfold"}  # its own over the other's
    runs = tmp_path / "runs"
    lines = [(item.label, item.line) for item in plan(recipe, runs)]
    assert [label for label, _ in lines] == ["fold 1/2 (fold 2), step 1/2 a", "fold 1/2 (fold 2), step 2/2 b",
                                             "fold 2/2 (fold 3), step 1/2 a", "fold 2/2 (fold 3), step 2/2 b"]
    assert lines[3][1].endswith(f"-> {runs / 'fold3' / 'b'}")
    config = recipe.for_fold(3).config(recipe.step("b"), runs / "fold3")
    assert (config.fold, config.protocol, config.epochs, config.teachers) == (3, "corpus-kfold", 1,
                                                                               (str(runs / "fold3" / "a"),))
    looped = tmp_path / "loop.json"
    looped.write_text(json.dumps({"steps_of": str(looped)}))
    with pytest.raises(SerappError, match="not one naming this one back"):
        load(looped)


def test_overrides_merge_objects_and_replace_the_rest(tmp_path: Path) -> None:
    base = base_config(tmp_path)
    recipe = parse(recipe_data(base, train("w", base, set={"mixup_alpha": 0.2, "model_options": {"width": 32},
                                                            "spec": {"deltas": True}}),
                               train("f", base, set={"family": "cnn2d"}), train("s", base, teachers=["w"])),
                   tmp_path / "r.json")
    runs = tmp_path / "runs"
    w = recipe.config(recipe.step("w"), runs)
    family_spec = TrainConfig(family="crnn_small").feature_spec
    assert w.mixup_alpha == 0.2 and w.model_options == {"width": 32}
    assert w.feature_spec == family_spec.replace(deltas=True)  # one field changed, the rest the base's
    assert recipe.config(recipe.step("f"), runs).feature_spec == TrainConfig(family="cnn2d").feature_spec
    assert recipe.config(recipe.step("s"), runs).teachers == (str(runs / "w"),)


def test_shipped_recipes_load_and_say_what_the_scripts_said(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # recipes name files relative to the repository root
    distilled = load(REPO / "configs/recipes/cnn2d-distilled.json")
    assert [s.name for s in distilled.steps] == ["base", "mixup", "w32", "deltas", "utt", "cnn2d", "student"]
    runs = Path("runs/x")
    student = distilled.config(distilled.step("student"), runs)
    assert student.family == "cnn2d" and student.distill_weight == 0.5
    assert sorted(Path(t).name for t in student.teachers) == ["base", "cnn2d", "deltas", "mixup", "utt", "w32"]
    assert distilled.config(distilled.step("w32"), runs).model_options == {"width": 32}
    assert distilled.config(distilled.step("utt"), runs).feature_spec.normalization == "utterance"
    scored = load(REPO / "configs/recipes/cnn2d-distilled-scored.json")
    assert scored.steps[:7] == distilled.steps
    teachers = scored.step("score-teachers-val")
    assert sorted(teachers.models) == sorted(Path(t).name for t in student.teachers)
    assert {s.fields["part"] for s in scored.steps[7:]} == {"val", "test"}
    crossval = load(REPO / "configs/recipes/cnn2d-distilled-crossval.json")
    assert crossval.steps[:-1] == scored.steps and crossval.folds == (1, 2, 3, 4)
    pooled = crossval.steps[-1]  # what scripts/crossval-cnn-model.sh ran `serapp-train crossval` for
    assert (pooled.kind, pooled.models) == ("crossval", ("student",))
    assert pooled.fields["out"] == "docs/models/cnn2d-student/crossval-student"
    fold3 = crossval.for_fold(3).config(crossval.step("student"), runs)
    assert (fold3.protocol, fold3.k, fold3.fold) == ("corpus-kfold", 4, 3)

    fast = load(REPO / "configs/recipes/cnn-fast.json")
    crnn = fast.config(fast.step("crnn"), runs)
    # the fast CNN distils from the bundled default model, named by its run folder (which every clone has)
    assert crnn.family == "crnn_small" and crnn.teachers == ("docs/models/whisper-tiny",)
    manifest = read_manifest(REPO / "assets/models")
    default = next(e for e in manifest["models"] if e["file"] == "serapp-default.onnx")
    assert default["run"] == "docs/models/whisper-tiny"
    assert RunFolder(Path(default["run"])).model_sha256() == default["sha256"]
    assert next(e for e in manifest["models"] if e["file"] == "serapp-cnn.onnx")["run"] == "docs/models/crnn-small"
    assert fast.step("export").fields["model_name"] == "serapp-cnn"
    assert fast.step("install").fields["to"] == "assets/models/serapp-cnn.onnx"
    whisper = load(REPO / "configs/recipes/whisper-default.json")
    assert whisper.config(whisper.step("whisper"), runs).family == "whisper_tiny"
    assert whisper.config(whisper.step("whisper-adapted"), runs).speaker_adaptation == 20
    # the bundled file: the int8 export with the adapted head attached; its records are the plain run's
    adaptable = whisper.step("adaptable")
    assert adaptable.needs == ("whisper-adapted", "export") and adaptable.fields["onto_int8"]
    assert attach_base(adaptable, runs) == runs / "export" / "model-int8.onnx"
    # then the crowd check, learnt on the plain run's split, attached to that file; the install ships it
    assert whisper.step("crowd").needs == ("adaptable", "whisper")
    assert whisper.step("install").needs == ("crowd",)
    assert whisper.step("install").fields["to"] == "assets/models/serapp-default.onnx"
    assert installed_run(whisper, whisper.step("install"), runs) == runs / "whisper"
    distilled = load(REPO / "configs/recipes/whisper-distilled.json")  # decision 0025's candidate
    student = distilled.config(distilled.step("whisper"), runs)
    assert sorted(Path(t).name for t in student.teachers) == ["s0", "s1", "s2", "s3", "s4"]
    assert [distilled.config(distilled.step(f"s{i}"), runs).seed for i in range(5)] == [0, 1, 2, 3, 4]
    # the student is its first teacher's config and seed: only its targets differ
    assert student.replace(teachers=()) == distilled.config(distilled.step("s0"), runs)
    assert distilled.step("ensemble").models == ("s0", "s1", "s2", "s3", "s4")
    # the default is decision 0025's student: it takes that recipe's steps first (steps_of), so it can finish
    # from that recipe's runs folder
    assert whisper.steps[:len(distilled.steps)] == distilled.steps
    assert whisper.config(whisper.step("whisper"), runs).teachers == student.teachers


def test_an_install_of_a_crowd_checked_file_copies_the_check_record_beside_the_run_records(tmp_path: Path) -> None:
    """The bundled file's crowd record in its docs folder is the check that file carries, not an older one."""
    whisper, runs = load(REPO / "configs/recipes/whisper-default.json"), tmp_path / "runs"
    for made in ("whisper/config.json", "whisper/metrics.json", "crowd/crowd.json", "crowd/crowd.md",
                 "whisper-adapted/metrics.json"):
        (runs / made).parent.mkdir(parents=True, exist_ok=True)
        (runs / made).write_text(made, encoding="utf-8")
    docs = Path(whisper.step("install").fields["docs"])
    pairs = dict(installed_records(whisper, whisper.step("install"), runs))
    assert pairs == {runs / "whisper/config.json": docs / "config.json",
                     runs / "whisper/metrics.json": docs / "metrics.json",
                     runs / "crowd/crowd.json": docs / "crowd/crowd.json",
                     runs / "crowd/crowd.md": docs / "crowd/crowd.md"}
    fast = load(REPO / "configs/recipes/cnn-fast.json")  # no crowd step: the run's records alone
    (runs / "crnn/config.json").parent.mkdir(parents=True)
    (runs / "crnn/config.json").write_text("{}", encoding="utf-8")
    assert [dst.name for _, dst in installed_records(fast, fast.step("install"), runs)] == ["config.json"]


@pytest.mark.parametrize("step, message", [
    ({"from": "t", "split_of": "t"}, "reads 't' as a export and a train step"),
    ({"from": "e", "split_of": "e"}, "reads 'e' as a export and a train step"),
    ({"from": "t", "split_of": "t2"}, "no step of this recipe"),
    ({"from": "e", "split_of": "t", "crowds": 1}, "crowds of at least 2"),
    ({"from": "e", "split_of": "t", "c": 0}, "c above 0"),
    ({"from": "e", "split_of": "t", "clips": "many"}, "clips must be int"),
    ({"from": "e"}, "needs split_of"),
])
def test_a_crowd_step_is_checked_before_anything_runs(tmp_path: Path, step: dict[str, Any], message: str) -> None:
    base = base_config(tmp_path)
    data = recipe_data(base, train("t", base), {"name": "e", "kind": "export", "run": "t"},
                       {"name": "crowd", "kind": "crowd", **step})
    with pytest.raises(SerappError, match=message):
        parse(data, tmp_path / "r.json")


def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = base_config(tmp_path)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(recipe_data(base, train("t", base), train("s", base, teachers=["t"]),
                                           {"name": "e", "kind": "export", "run": "s", "model_name": "m"})))
    runs = tmp_path / "runs"
    assert main(["recipe", str(path), "--runs", str(runs), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"step 1/3 t: train {base} -> {runs / 't'} [to run: not trained yet]",
                     f"step 2/3 s: train {base} teachers t -> {runs / 's'} [to run: t is redone]",
                     f"step 3/3 e: export s as m -> {runs / 'e'} [to run: s is redone]"]
    assert not runs.exists()
    assert main(["recipe", str(path), "--runs", str(runs), "--only", "nope"]) == 2
    assert "no step named 'nope'" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------- running
def tiny_recipe(folder: Path) -> Path:
    """Two teachers, a student distilled from them, the teachers' mean scored on the student's validation speakers,
    the teachers merged into one file (an ensemble with an int8 copy), the student's export and the installs of
    both into ``folder/assets``."""
    base = base_config(folder)
    path = folder / "tiny.json"
    steps = [train("t1", base), train("t2", base, set={"mixup_alpha": 0.2}),
             train("student", base, teachers=["t1", "t2"], set={"distill_weight": 0.5}),
             {"name": "score", "kind": "evaluate", "models": ["t1", "t2"], "split_of": "student", "part": "val",
              "limit": 6},
             {"name": "mix", "kind": "ensemble", "models": ["t1", "t2"], "model_name": "tiny-mix", "int8": True},
             {"name": "export", "kind": "export", "run": "student", "model_name": "tiny-student", "int8": True},
             {"name": "install", "kind": "install", "from": "export", "int8": True,
              "to": str(folder / "assets" / "tiny.onnx"), "docs": str(folder / "docs" / "tiny")},
             {"name": "install-mix", "kind": "install", "from": "mix", "int8": True,
              "to": str(folder / "assets" / "mix.onnx"), "docs": str(folder / "docs" / "mix")}]
    defaults = {**TINY, "spec": TINY_SPEC}
    path.write_text(json.dumps(recipe_data(base, *steps, defaults=defaults)), encoding="utf-8")
    return path


def _ctrl_c_as_in_a_terminal() -> None:
    """In the child before it starts: SIGINT delivered and not ignored, as for a command typed in a terminal.
    A test run started in the background by a shell without job control (``pytest ... &``) ignores SIGINT, and its
    children inherit that: the recipe then never saw the test's Ctrl-C and ran to its end."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt_first_step(path: Path, runs: Path, corpora: Path) -> subprocess.CompletedProcess[str]:
    """`serapp-train recipe` in a subprocess, sent SIGINT (Ctrl-C) once its first step's scratch folder holds a run."""
    command = [sys.executable, "-m", "serapp_train", "recipe", str(path), "--runs", str(runs), "--root",
               str(corpora), "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=_ctrl_c_as_in_a_terminal)
    scratch = runs / ".scratch-t1"
    deadline = time.monotonic() + 300
    while not (scratch.is_dir() and any(scratch.iterdir())) and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    # Pressed again, as a user would, while the process lives: a SIGINT has been lost in CI (the recipe ran to its
    # end), most likely swallowed where TensorFlow calls back into Python; the command ignores repeats. Pressed
    # every second: a tiny recipe's remaining steps take only seconds, and with a press every 5 s it once finished
    # between a lost press and the next.
    for _ in range(120):
        process.send_signal(signal.SIGINT)
        try:
            out, err = process.communicate(timeout=1)
            break
        except subprocess.TimeoutExpired:
            continue
    else:
        process.kill()
        out, err = process.communicate()
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def mtimes(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*")}


@pytest.mark.corpora
@pytest.mark.slow
def test_a_tiny_recipe_resumes_keeps_finished_steps_and_redoes_dependents(corpora: Path, tmp_path: Path) -> None:
    path, runs = tiny_recipe(tmp_path), tmp_path / "runs"
    stopped = interrupt_first_step(path, runs, corpora)
    assert stopped.returncode == 130, stopped.stderr[-3000:]
    assert "run the same command again to resume" in stopped.stdout
    assert not (runs / "t1").exists() and (runs / ".scratch-t1").is_dir()  # the interrupted step left only scratch

    lines: list[str] = []
    options = Options(runs, corpora, quiet=True)
    recipe = load(path)
    everything = ["t1", "t2", "student", "score", "mix", "export", "install", "install-mix"]
    assert run_recipe(recipe, options, say=lines.append) == everything
    assert "step 1/8 t1: training (not trained yet)" in lines and "step 8/8 install-mix: done" in lines
    assert not (runs / ".scratch-t1").exists()  # the interrupted step's scratch was discarded and redone
    student = RunFolder(runs / "student")
    taught = {ref.run_id: ref.model_sha256 for ref in student.teacher_refs()}
    assert taught == {name: RunFolder(runs / name).model_sha256() for name in ("t1", "t2")}
    assert student.config().teachers == (str(runs / "t1"), str(runs / "t2"))
    assert RunFolder(runs / "t2").config().mixup_alpha == 0.2
    installed = tmp_path / "assets" / "tiny.onnx"
    assert sha256_file(installed) == sha256_file(runs / "export" / "model-int8.onnx")
    entries = {e["file"]: e for e in read_manifest(installed.parent)["models"]}
    entry = entries["tiny.onnx"]
    assert (entry["file"], entry["name"]) == ("tiny.onnx", "tiny-student")
    assert entry["sha256"] == sha256_file(installed)
    assert entry["run"] == (tmp_path / "docs" / "tiny").as_posix()
    assert (tmp_path / "docs/tiny/config.json").read_bytes() == (runs / "student/config.json").read_bytes()
    score = json.loads((runs / "score" / "metrics.json").read_text())
    assert [Path(score["model"]).parent.name, *(Path(m).parent.name for m in score["members"])] == ["t1", "t2"]
    assert score["part"] == "val" and set(score["speakers"]) <= student.speakers("val")
    mixed = tmp_path / "assets" / "mix.onnx"  # the ensemble's int8 copy, shipped with its own run folder's records
    assert sha256_file(mixed) == sha256_file(runs / "mix" / "model-int8.onnx")
    mix_entry = entries["mix.onnx"]
    assert (mix_entry["file"], mix_entry["name"], mix_entry["run"]) == \
        ("mix.onnx", "tiny-mix", (tmp_path / "docs" / "mix").as_posix())
    assert [ref.run_id for ref in RunFolder(tmp_path / "docs" / "mix").member_refs()] == ["t1", "t2"]

    before = mtimes(tmp_path)
    lines.clear()
    assert run_recipe(recipe, options, say=lines.append) == []
    assert all(": kept (" in line for line in lines) and len(lines) == 8
    assert mtimes(tmp_path) == before
    assert all(item.status.done for item in plan(recipe, runs))

    t1_files = mtimes(runs / "t1")
    shutil.rmtree(runs / "t2")
    assert [item.status.done for item in plan(recipe, runs)] == [True, *[False] * 7]
    assert run_recipe(recipe, options, say=lines.append) == everything[1:]
    assert mtimes(runs / "t1") == t1_files  # the other teacher is kept
    taught = {ref.run_id: ref.model_sha256 for ref in RunFolder(runs / "student").teacher_refs()}
    assert taught["t2"] == RunFolder(runs / "t2").model_sha256()
    assert sha256_file(installed) == sha256_file(runs / "export" / "model-int8.onnx")

    changed = json.loads(path.read_text())
    changed["steps"][0]["set"] = {"label_smoothing": 0.2}
    with pytest.raises(SerappError, match="differs in label_smoothing"):
        run_recipe(parse(changed, path), options, say=lines.append)


@pytest.mark.corpora
@pytest.mark.slow
def test_a_tiny_crossval_recipe_pools_its_folds_as_the_command_does(corpora: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """One tiny model on the four folds of SAVEE (corpus-kfold, k 4: leave one speaker out), pooled by the recipe's
    crossval step: the report is the one `serapp-train crossval` writes from the same fold runs; it is kept on a
    second call and planned again when a fold's run is gone, and its record names each fold's model checksum."""
    monkeypatch.chdir(tmp_path)  # the report quotes the recipe's path as given
    base = base_config(tmp_path)
    steps = [train("a", base), {"name": "cv", "kind": "crossval", "models": ["a"], "out": "report"}]
    defaults = {**TINY, "spec": TINY_SPEC, "corpora": ["savee"], "protocol": "corpus-kfold", "k": 4}
    Path("cv.json").write_text(json.dumps(recipe_data(base, *steps, defaults=defaults, folds=[1, 2, 3, 4])))
    runs, options = Path("runs"), Options(Path("runs"), corpora, quiet=True)
    recipe = load(Path("cv.json"))
    lines: list[str] = []
    assert run_recipe(recipe, options, say=lines.append) == ["fold1/a", "fold2/a", "fold3/a", "fold4/a", "cv"]
    assert "all folds, step 2/2 cv: pooling the folds (a is redone)" in lines
    report = json.loads(Path("report/crossval.json").read_text())
    assert [f["fold"] for f in report["folds"]] == [1, 2, 3, 4]
    assert report["pooled"]["n"] == sum(f["n"] for f in report["folds"])  # every SAVEE clip once
    assert report["runs"] == [str(runs / f"fold{i}" / "a") for i in (1, 2, 3, 4)]
    assert "serapp-train recipe cv.json" in Path("report/README.md").read_text()

    assert main(["crossval", *(str(runs / f"fold{i}" / "a") for i in (4, 3, 2, 1)), "--root", str(corpora),
                 "--out", "by-command", "--command", "serapp-train recipe cv.json"]) == 0
    assert json.loads(Path("by-command/crossval.json").read_text()) == report
    assert Path("by-command/README.md").read_text() == Path("report/README.md").read_text()

    before = mtimes(Path("report"))
    lines.clear()
    assert run_recipe(recipe, options, say=lines.append) == []
    assert lines[-1] == "all folds, step 2/2 cv: kept (report)" and mtimes(Path("report")) == before
    record = json.loads((runs / "cv" / "crossval-step.json").read_text())
    assert record["folds"]["2"] == [["a", RunFolder(runs / "fold2" / "a").model_sha256()]]
    shutil.rmtree(runs / "fold2" / "a")
    assert [item.status.done for item in plan(recipe, runs)] == [True, False, True, True, False]
    with pytest.raises(SerappError, match=r"needs fold2/a, not finished yet"):
        run_recipe(recipe, options, only="cv", say=lines.append)
