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
