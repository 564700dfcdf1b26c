"""The code a run was trained with (:mod:`serapp_train.codeversion`): a tiny real run records its checkout's commit
in ``metrics.json`` and the models manifest copies it as ``training_commit``; a scratch git checkout with and
without uncommitted changes to a tracked trainer file; no record outside a checkout; none invented for old runs
(the shipped models')."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from serapp_train.cli import main
from serapp_train.codeversion import CHECKOUT, code_record
from serapp_train.modelmanifest import run_hashes
from serapp_train.runfolder import METRICS, RunFolder

REPO = Path(__file__).resolve().parents[1]
TINY = ["--spec-set", "duration_s=1.0", "--spec-set", "n_mels=32", "--spec-set", "n_mfcc=20"]
QUICK = ["--limit", "20", "--k", "3", "--seed", "1", "--batch-size", "16", "--quiet"]
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(folder: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          capture_output=True, text=True, check=True, timeout=60)
    return done.stdout.strip()


@needs_git
@pytest.mark.corpora
def test_a_tiny_run_records_its_commit_and_the_manifest_copies_it(corpora: Path, tmp_path: Path) -> None:
    if code_record() is None:
        pytest.skip("the trainer does not run from a git checkout here")
    runs = tmp_path / "runs"
    assert main(["train", "--family", "knn", *TINY, *QUICK, "--root", str(corpora), "--runs-dir", str(runs)]) == 0
    (run,) = [p for p in runs.iterdir() if p.is_dir()]
    code = json.loads((run / METRICS).read_text())["code"]
    assert code["commit"] == git(CHECKOUT, "rev-parse", "HEAD") and isinstance(code["changes"], bool)
    assert RunFolder(run).code() == code
    hashes = run_hashes(run)
    assert (hashes["training_commit"], hashes["training_changes"]) == (code["commit"], code["changes"])

    metrics = json.loads((run / METRICS).read_text())
    del metrics["code"]  # a run from before the record: nothing is invented for it
    (run / METRICS).write_text(json.dumps(metrics), encoding="utf-8")
    assert (run_hashes(run)["training_commit"], run_hashes(run)["training_changes"]) == (None, None)


@needs_git
def test_the_record_says_whether_tracked_code_had_uncommitted_changes(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    (checkout / "train").mkdir(parents=True)
    (checkout / "train" / "fit.py").write_text("x = 1\n", encoding="utf-8")
    (checkout / "docs").mkdir()
    (checkout / "docs" / "notes.md").write_text("notes\n", encoding="utf-8")
    git(checkout, "init", "-q")
    git(checkout, "add", ".")
    git(checkout, "commit", "-q", "-m", "first")
    head = git(checkout, "rev-parse", "HEAD")
    assert code_record(checkout) == {"commit": head, "changes": False}
    (checkout / "docs" / "notes.md").write_text("more notes\n", encoding="utf-8")  # not code
    (checkout / "train" / "new.py").write_text("y = 2\n", encoding="utf-8")  # untracked
    assert code_record(checkout) == {"commit": head, "changes": False}
    (checkout / "train" / "fit.py").write_text("x = 2\n", encoding="utf-8")
    assert code_record(checkout) == {"commit": head, "changes": True}
    assert code_record(checkout / "train") is None  # a folder inside a checkout is not the trainer's checkout


def test_no_record_outside_a_git_checkout(tmp_path: Path) -> None:
    assert code_record(tmp_path) is None
    assert code_record(tmp_path / "missing") is None


def test_the_shipped_models_entries_name_only_the_commit_their_runs_recorded() -> None:
    from serapp.bundle import read_manifest

    for entry in read_manifest(REPO / "assets" / "models")["models"]:
        recorded = (RunFolder(REPO / entry["run"]).code() or {}).get("commit")  # None: a run from before the record
        assert run_hashes(REPO / entry["run"])["training_commit"] == recorded
        assert entry.get("training_commit", recorded) == recorded, entry["file"]
