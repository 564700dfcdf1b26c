"""Settings round-trip (dataclass ⇄ JSON ⇄ QSettings), damaged values, and persistence through the window."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from serapp.errors import SerappError
from serapp.ui.settings import AppSettings, analyzer_config, load_settings, save_settings
from tests.ui_helpers import build_model, open_window, settings_store


def test_settings_round_trip_through_json_and_qsettings(tmp_path: Path) -> None:
    s = AppSettings(model_path="/models/x.onnx", device="USB Mic", hop_s=0.5, smoothing_s=1.5, gate_db=-40.0,
                    theme="light", last_dir="/data")
    assert AppSettings.from_json(s.to_json()) == s
    save_settings(settings_store(tmp_path), s)
    assert load_settings(settings_store(tmp_path)) == s  # a fresh store reads the INI file back


def test_damaged_stored_values_fall_back_to_defaults(tmp_path: Path) -> None:
    (tmp_path / "settings.ini").write_text("[General]\nhop_s=fast\ngate_db=12\ntheme=purple\nsmoothing_s=2\n")
    s = load_settings(settings_store(tmp_path))
    defaults = AppSettings()
    assert (s.hop_s, s.gate_db, s.theme, s.smoothing_s) == (defaults.hop_s, defaults.gate_db, defaults.theme, 2.0)


@pytest.mark.parametrize("bad", [{"hop_s": 0.0}, {"gate_db": 5.0}, {"theme": "pink"}, {"device": 3}])
def test_invalid_settings_are_refused_with_a_plain_message(bad: dict) -> None:
    with pytest.raises(SerappError, match=next(iter(bad))):
        AppSettings(**bad)
    with pytest.raises(SerappError, match="Invalid settings: unknown settings volume"):
        AppSettings.from_dict({"volume": 11})


def test_analyzer_config_takes_hop_smoothing_gate_and_hold() -> None:
    config = analyzer_config(AppSettings(hop_s=0.5, smoothing_s=2.0, gate_db=-35.0, switch_margin=0.15))
    assert (config.hop_s, config.smoothing_s, config.gate_db, config.switch_margin) == (0.5, 2.0, -35.0, 0.15)


def test_controls_persist_across_windows(qtbot: QtBot, tmp_path: Path) -> None:
    model = build_model(tmp_path)
    window = open_window(qtbot, tmp_path, model=str(model))
    window.hop_spin.setValue(0.5)
    window.gate_spin.setValue(-42.0)
    window.hold_spin.setValue(0.1)
    window.apply_theme("light")
    qtbot.waitUntil(lambda: load_settings(settings_store(tmp_path)).hop_s == 0.5, timeout=3000)
    window.close()
    again = open_window(qtbot, tmp_path, model=str(model))
    assert again.hop_spin.value() == 0.5 and again.gate_spin.value() == -42.0 and again.hold_spin.value() == 0.1
    assert analyzer_config(again.settings.values).switch_margin == 0.1  # what a live session starts with
    assert not again.dark_action.isChecked() and again.settings.values.theme == "light"
    assert again.file_view.config.hop_s == 0.5


def test_another_model_relabels_the_views_and_a_bad_one_keeps_the_current(qtbot: QtBot, tmp_path: Path) -> None:
    from serapp.ui.about import AboutDialog
    from tests.onnx_models import save_model
    from tests.ui_helpers import UI_SPEC

    window = open_window(qtbot, tmp_path, model=str(build_model(tmp_path)))
    other = save_model(tmp_path / "three.onnx", UI_SPEC, labels=("calm", "excited", "bored"))
    window.load_model_file(str(other))
    assert window.model is not None and window.model.info.labels == ("calm", "excited", "bored")
    assert window.live_view.timeline.labels == ("calm", "excited", "bored")
    assert load_settings(settings_store(tmp_path)).model_path == str(other)

    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    assert not window.load_model_file(str(garbage))
    assert "garbage.onnx" in window.banner_text and "Keeping three.onnx" in window.banner_text
    assert window.model.path == other

    about = AboutDialog(window.model, window)
    qtbot.addWidget(about)
    text = about.metadata.toPlainText()
    assert "calm, excited, bored" in text and "three.onnx" in text
    assert about.card.toPlainText()


def test_each_view_keeps_its_own_section_and_follows_the_model(qtbot: QtBot, tmp_path: Path,
                                                               model_path: Path) -> None:
    window = open_window(qtbot, tmp_path, model=str(model_path))
    window.settings.update(hop_s=0.75, last_dir=str(tmp_path))  # changed elsewhere than in the toolbar
    assert window.hop_spin.value() == 0.75  # the controls show it
    qtbot.waitUntil(lambda: window.file_view.config.hop_s == 0.75, timeout=3000)  # applied after the pause
    assert window.file_view.last_dir == str(tmp_path)  # the file view reads its folder from the model
    assert load_settings(settings_store(tmp_path)).hop_s == 0.75


def test_choices_made_in_dialogs_are_saved(qtbot: QtBot, tmp_path: Path, model_path: Path) -> None:
    from tests.ui_helpers import AnsweringDialogs

    dialogs = AnsweringDialogs(str(model_path))
    window = open_window(qtbot, tmp_path, dialogs=dialogs)  # the saved (here: bundled) model first
    window.choose_model()  # Live › Choose model…
    assert window.model is not None and window.model.path == model_path
    dialogs.answer = str(tmp_path)
    assert window.choose_record_folder()
    stored = load_settings(settings_store(tmp_path))
    assert (stored.model_path, stored.record_dir) == (str(model_path), str(tmp_path))
    dialogs.answer = ""  # cancelled: nothing changes
    assert not window.choose_record_folder() and window.settings.values.record_dir == str(tmp_path)
