"""The window under bad input, faults and long runs (offscreen, real window, real ONNX sessions):

- 113 bad and odd files (mutated real speech, the named odd files) dropped at once: no crash, each refused file
  shows its plain reason in its table row and in the message, each other one is analysed exactly as the
  engine analyses it, and the window takes the next file as usual;
- a missing, corrupt, metadata-less or inconsistent model (--model or saved) gives way to the bundled model,
  with a banner saying why, and live and file analysis work with it;
- a settings change survives SIGKILL right after it (written at once, never only after a debounce);
- the microphone failing mid-run (stream error, unplugged and plugged back under another index and rate) and
  no microphone at start are reported in the window, which recovers by itself without a restart.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from serapp.engine.analysis import analyze_file
from serapp.engine.labels import SILENCE
from serapp.errors import SerappError
from serapp.paths import REPO_ROOT, default_model_path
from serapp.ui.mainwindow import MainWindow
from serapp.ui.settings import AppSettings, load_settings, save_settings
from tests.audio_mutations import (
    MUTATIONS,
    REFUSED,
    assert_plain,
    base_files,
    mutate,
    named_cases,
    speech_excerpt,
)
from tests.fake_sounddevice import FakeDevice, FakeSoundDevice
from tests.onnx_models import broken_models
from tests.test_reliability_models import BROKEN
from tests.ui_helpers import FAST_DEVICES, UI_SPEC, drop_files, open_window, settings_store, without_bundled_model

DROP_SEEDS = range(4)  # per (base format, mutation): 4 formats x 6 mutations x 4 = 96 mutated files
MODEL_FAULTS = ("missing", "garbage", "truncated", "no_metadata", "wrong_input_shape", "wrong_output_width")
MIC = FakeDevice(3, "USB Mic (hw:1,0)")


def wait_done(qtbot: QtBot, window: MainWindow, n: int, timeout_ms: int = 30000) -> None:
    qtbot.waitUntil(lambda: len(window.file_view.order) == n and not window.file_view.busy, timeout=timeout_ms)


# ------------------------------------------------------------------------------------------- fuzzed drop
def odd_files(folder: Path, sample_clips: list[Path]) -> tuple[dict[str, Path], list[Path]]:
    """The named odd files and the mutated real files, written under ``folder``."""
    speech = speech_excerpt(sample_clips)
    bases = base_files(speech, sample_clips)
    mutated = []
    for base in bases:
        for mutation in MUTATIONS:
            for seed in DROP_SEEDS:
                path = folder / f"{base}-{mutation}-{seed}.audio"
                path.write_bytes(mutate(bases, base, mutation, seed))
                mutated.append(path)
    return named_cases(speech, folder), mutated


def test_a_hundred_bad_files_dropped_at_once_are_each_refused_plainly_or_analysed(
        qtbot: QtBot, tmp_path: Path, model_path: Path, sample_clips: list[Path]) -> None:
    window = open_window(qtbot, tmp_path, model=str(model_path))
    named, mutated = odd_files(tmp_path, sample_clips)
    dropped = [*named.values(), *mutated]
    assert len(dropped) == 113
    assert drop_files(window, dropped)
    wait_done(qtbot, window, len(dropped), timeout_ms=120000)
    view = window.file_view
    assert window.isVisible() and window.tabs.currentWidget() is view
    assert view.order == [str(p) for p in dropped]
    assert view.table.rowCount() == len(dropped)

    for row, path in enumerate(dropped):
        key = str(path)
        assert (key in view.results) != (key in view.errors), key
        try:  # what the engine says about this file with the window's model and settings
            expected = analyze_file(path, window.model, view.config)
        except SerappError as exc:
            assert view.errors.get(key) == str(exc), key
        else:
            assert key in view.results, (key, view.errors.get(key))
            got = view.results[key].analysis.summary
            assert (got.dominant, got.windows) == (expected.summary.dominant, expected.summary.windows), key
        view.table.selectRow(row)
        if key in view.errors:
            # A person's message (never the "analysis failed (SomeError: ...)" of an internal error), in the
            # row's tooltip and, once the row is selected, above the view.
            reason = view.errors[key]
            assert_plain(reason, path)
            assert "analysis failed" not in reason
            assert view.table.item(row, 2).text() == "error" and view.table.item(row, 0).toolTip() == reason
            assert view.message.isVisible() and view.message.text() == reason
        else:
            assert view.current == key and view.pages.currentWidget() is view.detail

    errors = {name: view.errors.get(str(p), "") for name, p in named.items()}
    for name, text in REFUSED.items():
        assert text in errors[name], (name, errors[name])
    analysed = {name: view.results[str(p)].analysis.summary for name, p in named.items() if name not in REFUSED}
    assert set(analysed) == set(named) - set(REFUSED)  # 96 kHz, 6 channels, lying RIFF sizes, 0.05 s, silence...
    # Silence, and 0.05 s of speech (less than an utterance needs before it begins), hold no utterance.
    assert analysed["silence"].dominant == SILENCE and analysed["0.05s"].windows == 1
    assert analysed["0.05s"].dominant == SILENCE
    assert all(s.dominant != SILENCE for name, s in analysed.items() if name not in ("silence", "0.05s"))
    assert sum(str(p) in view.errors for p in mutated) >= len(mutated) // 2  # most damage is noticed

    # Still usable: the next good file is analysed and shown, and exported.
    assert drop_files(window, [sample_clips[0]])
    wait_done(qtbot, window, len(dropped) + 1)
    assert view.current == str(sample_clips[0]) and not view.message.isVisible()
    assert view.results[view.current].analysis.summary.windows > 0
    assert view.write_export(tmp_path / "after.csv", "csv")


# ------------------------------------------------------------------------------------------- model faults
@pytest.fixture(scope="module")
def bad_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return broken_models(tmp_path_factory.mktemp("bad-models"), UI_SPEC)


def assert_bundled_stands_in(window: MainWindow, bad: Path, why: str) -> None:
    """The window uses the bundled model and its banner names the bad file, what is wrong, and the stand-in."""
    assert window.model is not None and window.model.path == default_model_path()
    banner = window.banner_text
    assert "Model problem" in banner and str(bad) in banner and why in banner, banner
    assert f"Using the bundled model {default_model_path().name} instead." in banner
    assert window.status_labels["model"].text().endswith(f"({default_model_path().name})")


@pytest.mark.parametrize("case", MODEL_FAULTS)
def test_a_bad_model_gives_way_to_the_bundled_one_for_live_and_file_analysis(
        qtbot: QtBot, tmp_path: Path, bad_models: dict[str, Path], sample_clips: list[Path], case: str) -> None:
    bad = bad_models[case]
    window = open_window(qtbot, tmp_path, model=str(bad), input=str(sample_clips[4]))
    assert_bundled_stands_in(window, bad, BROKEN[case])
    assert window.session is not None and window.session.running and window.start_button.isEnabled()
    qtbot.waitUntil(lambda: window.live_view.results_seen >= 2, timeout=15000)
    assert window.live_view.timeline.labels == window.model.info.labels
    window.analyse_files([str(sample_clips[2])])
    wait_done(qtbot, window, 1)
    assert window.file_view.results[str(sample_clips[2])].analysis.labels == window.model.info.labels
    assert load_settings(settings_store(tmp_path)).model_path == ""  # --model is not saved, bad or good


def test_a_bad_saved_model_gives_way_to_the_bundled_one_and_stays_saved(
        qtbot: QtBot, tmp_path: Path, bad_models: dict[str, Path], sample_clips: list[Path]) -> None:
    bad = bad_models["wrong_input_shape"]
    save_settings(settings_store(tmp_path), AppSettings(model_path=str(bad)))
    window = open_window(qtbot, tmp_path)
    assert_bundled_stands_in(window, bad, BROKEN["wrong_input_shape"])
    window.analyse_files([str(sample_clips[0])])
    wait_done(qtbot, window, 1)
    assert str(sample_clips[0]) in window.file_view.results
    window.close()
    # The user's choice is kept (they may fix or replace the file), not overwritten by the stand-in.
    assert load_settings(settings_store(tmp_path)).model_path == str(bad)


def test_without_a_usable_bundled_model_the_no_model_banner_says_both(
        qtbot: QtBot, tmp_path: Path, bad_models: dict[str, Path]) -> None:
    window = open_window(qtbot, tmp_path, model_loader=without_bundled_model(tmp_path / "no-bundled.onnx"),
                         model=str(bad_models["garbage"]))
    banner = window.banner_text
    assert banner.startswith("No model:") and "garbage.onnx" in banner and "no-bundled.onnx" in banner
    assert "Live analysis and file analysis are off" in banner
    assert window.model is None and window.session is None and not window.start_button.isEnabled()


# ------------------------------------------------------------------------------------------- settings
CHANGE_THEN_HANG = """
import sys, time
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv[:1])
app.setOrganizationName("serapp"); app.setApplicationName("serapp")
from serapp.ui.mainwindow import LaunchOptions, MainWindow
from serapp.ui.playback import Player
from serapp.ui.settings import default_store
window = MainWindow(LaunchOptions(model=sys.argv[1]), default_store(), player=Player(with_sound=False))
window.hop_spin.setValue(0.75)  # no event loop runs after this: only an immediate write can save it
window.gate_spin.setValue(-33.0)
window.apply_theme("light")
print(default_store().fileName(), flush=True)
time.sleep(120)
"""


def test_a_settings_change_survives_sigkill_right_after_it(tmp_path: Path, model_path: Path) -> None:
    # The user settings live under XDG_CONFIG_HOME: pointed at tmp_path, the real ones are never touched.
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"), HOME=str(tmp_path),
               QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO_ROOT))
    child = subprocess.Popen([sys.executable, "-c", CHANGE_THEN_HANG, str(model_path)], env=env, cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ini = Path(child.stdout.readline().strip())  # type: ignore[union-attr]
    finally:
        child.send_signal(signal.SIGKILL)
        _, err = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL, err
    assert ini == tmp_path / "config" / "serapp" / "serapp.ini", err
    fresh = load_settings(QSettings(str(ini), QSettings.Format.IniFormat))
    assert (fresh.hop_s, fresh.gate_db, fresh.theme) == (0.75, -33.0, "light")


# ------------------------------------------------------------------------------------------- capture faults
def wait_new_results(qtbot: QtBot, window: MainWindow, n: int = 2) -> None:
    seen = window.live_view.results_seen
    qtbot.waitUntil(lambda: window.live_view.results_seen >= seen + n, timeout=15000)


def test_microphone_failing_mid_run_is_reported_and_recovers_in_the_window(
        qtbot: QtBot, tmp_path: Path, model_path: Path,
        fake_audio: Callable[[list[FakeDevice]], FakeSoundDevice]) -> None:
    fake = fake_audio([MIC])
    window = open_window(qtbot, tmp_path, FAST_DEVICES, model=str(model_path))
    assert window.session is not None and window.session.running and window.banner_text == ""
    wait_new_results(qtbot, window)

    fake.stream_error()
    qtbot.waitUntil(lambda: "stopped unexpectedly" in window.banner_text, timeout=10000)
    assert "Retrying in" in window.banner_text and MIC.name in window.banner_text
    qtbot.waitUntil(lambda: window.banner_text == "", timeout=10000)  # the same device, reopened
    wait_new_results(qtbot, window)

    fake.unplug()
    qtbot.waitUntil(lambda: "No audio input device was found" in window.banner_text, timeout=10000)
    assert "Retrying in" in window.banner_text and window.start_button.text().endswith("Stop")
    fake.plug(FakeDevice(5, MIC.name, rate=44100))  # back under another index and rate
    qtbot.waitUntil(lambda: window.banner_text == "" and window.session.state == "running", timeout=10000)
    wait_new_results(qtbot, window)
    assert fake.live_stream().device == 5 and window.session.source.sample_rate == 44100


def test_no_microphone_at_start_is_reported_and_start_waits_for_one(
        qtbot: QtBot, tmp_path: Path, model_path: Path,
        fake_audio: Callable[[list[FakeDevice]], FakeSoundDevice]) -> None:
    fake = fake_audio([])
    window = open_window(qtbot, tmp_path, FAST_DEVICES, model=str(model_path))
    assert "Live input is off: No audio input device was found." in window.banner_text
    assert "press Start" in window.banner_text and not window.session.running
    assert window.start_button.isEnabled() and not window.device_combo.isEnabled()

    window.start_button.click()
    assert window.session.running and "Retrying in" in window.banner_text
    fake.plug(MIC)
    qtbot.waitUntil(lambda: window.banner_text == "" and window.session.state == "running", timeout=10000)
    wait_new_results(qtbot, window)
    assert window.device_combo.isEnabled() and window.device_combo.currentData() == MIC.name
    assert np.isfinite(window.live_view.bars.probabilities()).all()
