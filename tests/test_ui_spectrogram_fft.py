"""View › Spectrogram › FFT size in a real window (offscreen): remembered in the settings, taken by the live
analysis at once (its spectrogram columns change size) and by the file view when it shows a file."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from serapp.ui.mainwindow import MainWindow
from serapp.ui.settings import AppSettings, analyzer_config, load_settings
from tests.ui_helpers import open_window, settings_store


def test_fft_size_reaches_live_and_file_spectrograms_and_is_remembered(qtbot: QtBot, tmp_path: Path,
                                                                       model_path: Path,
                                                                       sample_clips: list[Path]) -> None:
    window: MainWindow = open_window(qtbot, tmp_path, model=str(model_path), input=str(sample_clips[0]))
    window.analyse_files([str(sample_clips[4])])
    qtbot.waitUntil(lambda: window.file_view.current is not None, timeout=30000)
    shown = window.file_view.current
    assert window.file_view.spectrogram._db.shape[1] == 512 // 2 + 1  # the default
    assert window.spectrogram_menu.n_fft_actions[512].isChecked()
    if window.session is None or not window.session.running:
        window.toggle_live()
    assert window.session is not None
    qtbot.waitUntil(lambda: window.live_view.spectrogram.columns_seen > 0, timeout=15000)

    window.spectrogram_menu.n_fft_actions[1024].trigger()
    assert load_settings(settings_store(tmp_path)).spectrogram_n_fft == 1024
    assert window.session.config.spectrum_n_fft == 1024 and window.file_view.config.spectrum_n_fft == 1024
    assert window.live_view.spectrogram.n_bins == 1024 // 2 + 1
    seen = window.live_view.spectrogram.columns_seen
    qtbot.waitUntil(lambda: window.live_view.spectrogram.columns_seen > seen + 5, timeout=15000)  # 513-bin columns
    window.file_view.show_file(shown)
    assert window.file_view.spectrogram._db.shape[1] == 1024 // 2 + 1
    assert window.file_view.results[shown].freqs[-1] == pytest.approx(8000.0)
    window.close()

    again = open_window(qtbot, tmp_path, model=str(model_path))
    assert again.spectrogram_menu.n_fft_actions[1024].isChecked()
    assert analyzer_config(again.settings.values).spectrum_n_fft == 1024


def test_a_bad_stored_fft_size_falls_back_to_the_default(tmp_path: Path) -> None:
    store = settings_store(tmp_path)
    for bad in ("1000", "x", "512.5"):
        store.setValue("spectrogram_n_fft", bad)
        assert load_settings(store).spectrogram_n_fft == AppSettings().spectrogram_n_fft == 512
    store.setValue("spectrogram_n_fft", "2048")
    assert load_settings(store).spectrogram_n_fft == 2048
