"""The settings model (serapp.ui.settingsmodel): loads once, saves itself whole on every change, tells what
changed, keeps everything in memory and says so when the store cannot be written. Real QSettings INI files."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from serapp.errors import SerappError
from serapp.ui.settings import AppSettings, load_settings
from serapp.ui.settingsmodel import SettingsModel
from serapp.ui.spectrogram import FileSpectrogram, ScrollingSpectrogram, SpectrogramMenu
from tests.ui_helpers import settings_store


def test_a_change_is_on_disk_at_once_and_signalled_with_its_names(qtbot: QtBot, tmp_path: Path) -> None:
    model = SettingsModel(settings_store(tmp_path))
    seen: list[frozenset] = []
    model.changed.connect(seen.append)
    assert model.update(hop_s=0.5, theme="light", gate_db=AppSettings().gate_db)
    assert seen == [frozenset({"hop_s", "theme"})]  # the gate was not changed
    assert load_settings(settings_store(tmp_path)) == AppSettings(hop_s=0.5, theme="light")
    assert not model.update(hop_s=0.5) and len(seen) == 1  # nothing new: nothing written, nothing signalled


def test_a_bad_value_changes_nothing(qtbot: QtBot, tmp_path: Path) -> None:
    model = SettingsModel(settings_store(tmp_path))
    with pytest.raises(SerappError, match="hop_s"):
        model.update(hop_s=0.0, theme="light")
    assert model.values == AppSettings() and not (tmp_path / "settings.ini").exists()


def test_settings_saved_by_an_earlier_version_load_as_they_were(qtbot: QtBot, tmp_path: Path) -> None:
    # The keys and the INI format existing users have (one key per field, floats as text).
    (tmp_path / "settings.ini").write_text("[General]\nhop_s=0.5\ntheme=light\ndevice=USB Mic\n"
                                           "spectrogram_n_fft=1024\nrecord_format=wav\n"
                                           "spectrogram_cmap=viridis\nspectrogram_range_db=65\n")
    model = SettingsModel(settings_store(tmp_path))
    values = model.values
    assert (values.hop_s, values.theme, values.device, values.spectrogram_n_fft, values.record_format) == \
        (0.5, "light", "USB Mic", 1024, "wav")
    assert (values.spectrogram_cmap, values.spectrogram_range_db) == ("viridis", 65.0)
    # The spectrogram menu, which owns those keys, shows and applies them as they were saved.
    views = (ScrollingSpectrogram(), FileSpectrogram())
    for view in views:
        qtbot.addWidget(view)
    parent = QWidget()
    qtbot.addWidget(parent)
    menu = SpectrogramMenu(parent, model, views, lambda _paused: None)
    assert menu.cmap_actions["viridis"].isChecked() and menu.range_actions[65.0].isChecked()
    assert menu.n_fft_actions[1024].isChecked()
    assert all(view.cmap == "viridis" and view.range_db == 65.0 for view in views)
    menu.cmap_actions["magma" if "magma" in menu.cmap_actions else next(iter(menu.cmap_actions))].trigger()
    menu.range_actions[50.0].trigger()
    menu.n_fft_actions[2048].trigger()
    stored = load_settings(settings_store(tmp_path))  # written at once, under the same keys
    assert (stored.spectrogram_cmap, stored.spectrogram_range_db, stored.spectrogram_n_fft) == \
        (model.values.spectrogram_cmap, 50.0, 2048)
    assert all(view.cmap == stored.spectrogram_cmap and view.range_db == 50.0 for view in views)
    model.update(spectrogram_n_fft=256, spectrogram_range_db=80.0)  # changed elsewhere: the menu follows
    assert menu.n_fft_actions[256].isChecked() and menu.range_actions[80.0].isChecked()
    assert all(view.range_db == 80.0 for view in views)


def test_an_unwritable_store_keeps_the_values_and_says_so_until_a_save_works(qtbot: QtBot, tmp_path: Path) -> None:
    blocked = tmp_path / "config"
    blocked.write_text("not a folder")  # the settings file's folder is a file: nothing can be written there
    model = SettingsModel(settings_store(blocked))
    problems: list[str] = []
    model.problem_changed.connect(problems.append)
    model.update(theme="light")
    assert model.values.theme == "light" and "Settings could not be saved" in model.problem
    assert problems == [model.problem]
    blocked.unlink()
    blocked.mkdir()
    assert model.save() and model.problem == "" and problems[-1] == ""
    assert load_settings(settings_store(blocked)) == AppSettings(theme="light")  # nothing the user made was lost
