"""Adapting to the speaker in the window (issue 29, item 4): the toolbar's Adapt check box (saved with the
settings, off while the model cannot adapt), Live › New speaker, the live session's speaker mean and its
count in the status bar, and file analysis adapting within each file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import soundfile as sf
from pytestqt.qtbot import QtBot

from serapp.engine import audio
from serapp.errors import SerappError
from serapp.ui.settings import AppSettings, load_settings, save_settings
from tests.onnx_models import build_adaptable_model
from tests.ui_helpers import UI_SPEC, build_model, open_window, settings_store


@pytest.fixture
def adaptable(tmp_path: Path) -> Path:
    path = tmp_path / "adaptable.onnx"
    onnx.save_model(build_adaptable_model(UI_SPEC, adapt_clips=2), str(path))
    return path


def test_the_setting_is_a_truth_value_that_survives_the_ini_file(tmp_path: Path) -> None:
    save_settings(settings_store(tmp_path), AppSettings(adapt_speaker=True))
    assert load_settings(settings_store(tmp_path)).adapt_speaker is True
    (tmp_path / "settings.ini").write_text("[General]\nadapt_speaker=maybe\n")
    assert load_settings(settings_store(tmp_path)).adapt_speaker is False  # damaged: the default
    with pytest.raises(SerappError, match="adapt_speaker must be true or false"):
        AppSettings(adapt_speaker="yes")  # type: ignore[arg-type]


def test_adapt_is_off_for_a_model_that_cannot_and_drives_the_session_and_file_view_for_one_that_can(
        qtbot: QtBot, tmp_path: Path, adaptable: Path) -> None:
    window = open_window(qtbot, tmp_path, model=str(build_model(tmp_path)))
    assert not window.adapt_check.isEnabled() and not window.new_speaker_action.isEnabled()
    assert "cannot adapt" in window.adapt_check.toolTip()
    window.load_model_file(str(adaptable))
    assert window.adapt_check.isEnabled() and not window.adapt_check.isChecked()
    assert window.session is not None and window.session.speaker is None
    window.adapt_check.setChecked(True)
    qtbot.waitUntil(lambda: window.session is not None and window.session.speaker is not None, timeout=3000)
    assert window.new_speaker_action.isEnabled() and window.file_view.adapt
    assert load_settings(settings_store(tmp_path)).adapt_speaker is True
    speaker = window.session.speaker
    speaker.add(np.ones(int(np.prod(UI_SPEC.shape[1:]))))
    window.new_speaker_action.trigger()
    assert speaker.count == 0 and window.session.speaker is speaker
    window.adapt_check.setChecked(False)
    qtbot.waitUntil(lambda: window.session is not None and window.session.speaker is None, timeout=3000)
    assert not window.file_view.adapt and not window.new_speaker_action.isEnabled()


@pytest.mark.corpora
def test_a_live_run_counts_the_speakers_utterances_in_the_status_bar(qtbot: QtBot, tmp_path: Path,
                                                                      adaptable: Path,
                                                                      sample_clips: list[Path]) -> None:
    save_settings(settings_store(tmp_path), AppSettings(adapt_speaker=True))
    pause = np.zeros(8000, np.float32)
    talk = tmp_path / "talk.wav"
    sf.write(talk, np.concatenate([pause, audio.load(sample_clips[4], 16000), pause]), 16000)
    window = open_window(qtbot, tmp_path, model=str(adaptable), input=str(talk))
    window.start_live()
    qtbot.waitUntil(lambda: window.status_labels["adapt"].text() == "Adapting: 1/2 utterances", timeout=15000)
    window.stop_live()
