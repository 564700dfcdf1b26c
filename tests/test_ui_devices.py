"""Devices in the window (offscreen, a fake PortAudio fed with real speech): a --device that matches nothing is
said and waited for, never replaced by another microphone; the status bar names the device actually opened, as
the picker does; a microphone that appears is picked up by itself; without one the big display says so."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pytestqt.qtbot import QtBot

from serapp.engine.capture import STALL_S
from serapp.ui.audiodevices import RESCAN_S, AudioDevices
from tests.fake_sounddevice import FakeDevice, FakeSoundDevice
from tests.ui_helpers import FAST_DEVICES, open_window

PULSE = FakeDevice(0, "pulse")
USB = FakeDevice(3, "USB Mic (hw:1,0)")


def test_a_device_that_is_not_there_is_said_and_waited_for_never_replaced(
        qtbot: QtBot, tmp_path: Path, model_path: Path,
        fake_audio: Callable[[list[FakeDevice]], FakeSoundDevice]) -> None:
    fake = fake_audio([PULSE])
    window = open_window(qtbot, tmp_path, FAST_DEVICES, model=str(model_path), device="USB Mic")
    qtbot.waitUntil(lambda: "No input device matches 'USB Mic'" in window.banner_text, timeout=5000)
    assert "pulse" in window.banner_text  # the devices there are, as the CLI lists them
    assert window.device_combo.currentText() == "USB Mic (not found)"
    assert window.live_view.emotion.current_text == "No input"
    assert not any(s.device == PULSE.index for s in fake.streams)  # pulse was never opened instead

    fake.plug(USB)  # the wanted microphone arrives: the session's retries find it
    qtbot.waitUntil(lambda: window.banner_text == "" and window.session.state == "running", timeout=10000)
    assert fake.live_stream().device == USB.index
    assert window.device_combo.currentText() == f"{USB.name} (FakeAPI)" and window.live_input.missing_device == ""


def test_status_bar_names_the_device_opened_as_the_picker_does(
        qtbot: QtBot, tmp_path: Path, model_path: Path,
        fake_audio: Callable[[list[FakeDevice]], FakeSoundDevice]) -> None:
    fake = fake_audio([PULSE, USB])
    fake.default.device = [USB.index, -1]  # the system default is the second device listed
    window = open_window(qtbot, tmp_path, FAST_DEVICES, model=str(model_path))
    assert window.device_combo.currentText() == f"{USB.name} (FakeAPI)"
    qtbot.waitUntil(lambda: window.status_labels["source"].text() != "Input: —", timeout=5000)
    assert window.status_labels["source"].text() == f"Input: {window.device_combo.currentText()}"
    assert fake.live_stream().device == USB.index


def test_a_microphone_that_appears_is_picked_up_without_pressing_start(
        qtbot: QtBot, tmp_path: Path, model_path: Path,
        fake_audio: Callable[[list[FakeDevice]], FakeSoundDevice]) -> None:
    assert RESCAN_S <= 3.0  # "within a few seconds" (issue 31 item 8: it took about 20 s)
    fake = fake_audio([])
    window = open_window(qtbot, tmp_path, FAST_DEVICES, model=str(model_path))
    assert not window.session.running and window.device_watcher.active
    # Without a microphone the big display says so; never "Listening…" (nothing can be heard).
    assert window.live_view.emotion.current_text == "No input"
    assert "Listening" not in window.live_view.emotion.confidence_label.text()

    fake.plug(USB)
    qtbot.waitUntil(lambda: window.session.running and window.session.state == "running", timeout=5000)
    assert window.banner_text == "" and not window.device_watcher.active
    assert window.device_combo.isEnabled() and window.device_combo.currentData() == USB.name
    qtbot.waitUntil(lambda: window.live_view.results_seen > 0, timeout=15000)


def test_the_stall_time_is_given_through_the_devices_not_a_module_global(
        fake_audio: Callable[[list[FakeDevice]], FakeSoundDevice]) -> None:
    """How long a silent microphone is waited for travels with AudioDevices to the source it opens; the
    engine's default is the one in serapp.engine.capture."""
    fake_audio([USB])
    assert AudioDevices().open_microphone(None, rescan=False).stall_s == STALL_S == 2.0
    assert FAST_DEVICES.open_microphone(USB.name, rescan=False).stall_s == FAST_DEVICES.stall_s == 0.4
