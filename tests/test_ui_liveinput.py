"""The live input's one state (serapp.ui.liveinput, no Qt): its phases, its transitions and what each allows."""

from __future__ import annotations

from serapp.ui.liveinput import LiveInputState, LivePhase

NO_PORTAUDIO = "PortAudio is missing."
NO_DEVICE = "No audio input device was found."


def test_a_scan_decides_between_unavailable_waiting_and_stopped() -> None:
    start = LiveInputState()
    assert start.scanned("", may_appear=False).phase is LivePhase.STOPPED
    waiting = start.scanned(NO_DEVICE, may_appear=True)
    assert waiting.phase is LivePhase.WAITING and waiting.can_start and waiting.watch_for_devices
    off = start.scanned(NO_PORTAUDIO, may_appear=False)
    assert off.phase is LivePhase.UNAVAILABLE and not off.can_start and not off.watch_for_devices
    assert off.unavailable_reason == NO_PORTAUDIO and NO_PORTAUDIO in off.describe()


def test_start_run_lose_and_stop() -> None:
    state = LiveInputState().scanned("", may_appear=False).starting()
    assert state.phase is LivePhase.STARTING
    state = state.running()
    assert state.phase is LivePhase.RUNNING and not state.needs_rescan_when_running
    assert state.lost(retrying=True).phase is LivePhase.RETRYING
    assert state.lost(retrying=False).phase is LivePhase.STOPPED  # a file that failed: not retried
    assert state.lost(retrying=True).running().phase is LivePhase.RUNNING
    assert state.stopped().phase is LivePhase.STOPPED


def test_start_without_a_microphone_waits_and_a_microphone_that_comes_is_listed() -> None:
    state = LiveInputState().scanned(NO_DEVICE, may_appear=True).starting().lost(retrying=True)
    assert state.phase is LivePhase.RETRYING and state.unavailable_reason == NO_DEVICE and state.can_start
    assert state.stopped().phase is LivePhase.WAITING  # stopped while none is listed: still waiting for one
    came = state.running()
    assert came.needs_rescan_when_running  # audio came while the picker listed nothing: list the devices now
    rescanned = came.scanned("", may_appear=False)
    assert rescanned.phase is LivePhase.RUNNING and rescanned.unavailable_reason == ""


def test_a_forced_start_without_portaudio_stays_unavailable_until_audio_runs() -> None:
    off = LiveInputState().scanned(NO_PORTAUDIO, may_appear=False)
    assert off.starting() == off and off.lost(retrying=True) == off and off.stopped() == off
    assert off.running().phase is LivePhase.RUNNING


def test_a_missing_device_is_kept_until_a_scan_finds_it() -> None:
    state = LiveInputState().scanned("", may_appear=False, missing_device="USB Mic")
    assert state.missing_device == "USB Mic" and state.can_start
    running = state.starting().lost(retrying=True).running()
    assert running.needs_rescan_when_running and running.missing_device == "USB Mic"
    assert running.scanned("", may_appear=False).missing_device == ""


def test_a_scan_during_a_run_keeps_the_run_phase_unless_input_is_gone_for_good() -> None:
    running = LiveInputState().scanned("", may_appear=False).starting().running()
    assert running.scanned("", may_appear=False).phase is LivePhase.RUNNING
    assert running.scanned(NO_DEVICE, may_appear=True).phase is LivePhase.RUNNING
    assert running.scanned(NO_PORTAUDIO, may_appear=False).phase is LivePhase.UNAVAILABLE
