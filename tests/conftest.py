"""Shared fixtures: real corpus clips (chosen deterministically) and the corpora root.

Outside CI a missing corpus skips the tests that need it, with a plain reason; under CI (CI=true) it fails.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from serapp.paths import CORPORA_ENV_VAR, corpora_root

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# A small fixed subset: (corpus folder, relative path). Two emotions per corpus at least.
SAMPLE_CLIPS: dict[str, list[str]] = {
    "ravdess": ["Actor_01/03-01-05-01-01-01-01.ogg", "Actor_02/03-01-04-02-02-01-02.ogg",
                "Actor_03/03-01-03-01-01-02-03.ogg", "Actor_04/03-01-01-01-02-01-04.ogg"],
    "crema-d": ["AudioWAV/1001_DFA_ANG_XX.ogg", "AudioWAV/1002_IEO_SAD_HI.ogg",
                "AudioWAV/1005_TIE_HAP_XX.ogg", "AudioWAV/1004_ITS_NEU_XX.ogg"],
    "tess": ["OAF_angry/OAF_back_angry.ogg", "YAF_sad/YAF_back_sad.ogg"],
    "savee": ["ALL/DC_a01.ogg", "ALL/JE_sa01.ogg"],
}


def require_corpora(*names: str) -> Path:
    """Return the corpora root, or skip (fail under CI) when it or one of ``names`` is missing."""
    root = corpora_root()
    missing = [n for n in names if not (root / n).is_dir()] if root.is_dir() else [str(root)]
    if missing:
        reason = (f"corpora not found: {', '.join(missing)} (set {CORPORA_ENV_VAR} or put the corpora "
                  f"at ../shared/corpora beside the checkout)")
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    return root


@pytest.fixture(scope="session")
def corpora() -> Path:
    """The corpora root with RAVDESS, CREMA-D, TESS and SAVEE present."""
    return require_corpora("ravdess", "crema-d", "tess", "savee")


@pytest.fixture(scope="session")
def sample_clips(corpora: Path) -> list[Path]:
    """A dozen real clips from the four shared corpora, the same every run."""
    paths = [corpora / c / rel for c, items in SAMPLE_CLIPS.items() for rel in items]
    absent = [str(p) for p in paths if not p.exists()]
    if absent:
        pytest.fail(f"expected sample clips are missing: {absent}")
    return paths


@pytest.fixture(scope="session")
def onnx_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real ONNX model (logmel spec, the seven emotions) with serapp metadata; see tests/onnx_models.py."""
    from serapp.engine.spec import FeatureSpec
    from tests.onnx_models import save_model

    return save_model(tmp_path_factory.mktemp("models") / "logmel.onnx", FeatureSpec())


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The UI tests' model: a small real ONNX model on 1-s windows (tests/ui_helpers.py), one per test module."""
    from tests.ui_helpers import build_model

    return build_model(tmp_path_factory.mktemp("ui-model"))


@pytest.fixture
def window(qtbot: Any, tmp_path: Path, model_path: Path) -> Any:
    """A shown main window on :func:`model_path`, its settings in the test's own folder (closed at teardown)."""
    from tests.ui_helpers import open_window

    return open_window(qtbot, tmp_path, model=str(model_path))


@pytest.fixture
def fake_audio(monkeypatch: pytest.MonkeyPatch, sample_clips: list[Path]) -> Any:
    """Installs a fake PortAudio (tests/fake_sounddevice.py) whose devices are fed with real speech (a window
    notices and retries failures fast when given ``tests.ui_helpers.FAST_DEVICES``). Returns
    ``install(devices) -> FakeSoundDevice``."""
    import sys

    from serapp.engine.audio import load
    from tests.fake_sounddevice import FakeDevice, FakeSoundDevice

    def install(devices: list[FakeDevice]) -> FakeSoundDevice:
        fake = FakeSoundDevice(devices, load(sample_clips[4], 16000))
        monkeypatch.setitem(sys.modules, "sounddevice", fake)
        return fake

    return install
