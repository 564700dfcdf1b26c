"""The tracked tree holds no experiment artifacts: the only ONNX files are the bundled models of the manifest."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def tracked(pattern: str) -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "ls-files", "--", pattern], cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_only_the_bundled_models_are_tracked_onnx_files():
    manifest = json.loads((ROOT / "assets" / "models" / "manifest.json").read_text())
    bundled = {f"assets/models/{m['file']}" for m in manifest["models"]}
    assert set(tracked("*.onnx")) == bundled


# The repository holds code, configs, the shipped models and generated summaries (issue 30's bound).
MAX_TRACKED_BYTES = 15_000_000


def test_the_tracked_tree_stays_small():
    files = [ROOT / name for name in tracked(".")]
    sizes = {f: f.stat().st_size for f in files if f.is_file()}
    total = sum(sizes.values())
    biggest = sorted(sizes, key=sizes.__getitem__, reverse=True)[:5]
    assert total < MAX_TRACKED_BYTES, (f"{total / 1e6:.1f} MB tracked; the largest: "
                                       + ", ".join(f"{f.relative_to(ROOT)} ({sizes[f] / 1e6:.1f} MB)" for f in biggest))
