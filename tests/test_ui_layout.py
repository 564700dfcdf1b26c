"""Window layout in a real window (offscreen): first-start size on small screens, remembered geometry and
maximised state, demo mode giving the window back as it was, readable plots with many files, clock time axes."""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPoint, QRect, QSize
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from serapp.ui.fileview import SPECTROGRAM_MIN_LINES, TIMELINE_MIN_LINES
from serapp.ui.mainwindow import FRAME_ALLOWANCE, MainWindow, initial_geometry
from serapp.ui.settings import load_settings
from serapp.ui.timeaxis import TimeAxisItem, decimals_for, format_clock, tick_steps
from tests.ui_helpers import open_window, settings_store


def inside(widget: QWidget, window: MainWindow) -> bool:
    """Whether all of ``widget`` is shown and lies within the window's content."""
    top_left = widget.mapTo(window, QPoint(0, 0))
    return widget.isVisible() and window.rect().contains(QRect(top_left, widget.size()))


@pytest.mark.parametrize("available", [QRect(0, 0, 1280, 680), QRect(0, 32, 1280, 688), QRect(0, 0, 1920, 1040),
                                       QRect(1920, 0, 3840, 2100), QRect(0, 0, 800, 800)])
def test_first_start_geometry_fits_the_available_screen(available: QRect) -> None:
    rect = initial_geometry(available)
    framed = rect.adjusted(-FRAME_ALLOWANCE.width() // 2, -(FRAME_ALLOWANCE.height() - FRAME_ALLOWANCE.width() // 2),
                           FRAME_ALLOWANCE.width() // 2, FRAME_ALLOWANCE.width() // 2)
    assert available.contains(framed), (rect, framed)
    assert rect.width() <= 1280 and rect.height() <= 820
    if available.width() >= 1400 and available.height() >= 900:
        assert rect.size() == QSize(1280, 820)  # a big screen gets the full preferred size


def test_first_window_fits_its_screen_and_a_1280x720_laptop(qtbot: QtBot, tmp_path: Path, model_path: Path) -> None:
    window = open_window(qtbot, tmp_path, model=str(model_path))
    available = window.screen().availableGeometry()
    assert available.contains(window.geometry())
    # As on a 1280x720 laptop (a 40 px task bar): the timeline, the level meter and the status bar are on screen.
    laptop = initial_geometry(QRect(0, 0, 1280, 680))
    assert window.minimumSizeHint().width() <= laptop.width() and window.minimumSizeHint().height() <= laptop.height()
    window.setGeometry(laptop)
    qtbot.waitUntil(lambda: window.size() == laptop.size(), timeout=3000)
    live = window.live_view
    for part in (live.timeline, live.level, live.spectrogram, window.statusBar()):
        assert inside(part, window), part
    assert live.timeline.height() >= 60 and live.spectrogram.height() >= 60


def test_size_place_and_maximised_state_are_remembered(qtbot: QtBot, tmp_path: Path, model_path: Path) -> None:
    window = open_window(qtbot, tmp_path, model=str(model_path))
    window.setGeometry(QRect(40, 50, 760, 560))
    qtbot.waitUntil(lambda: load_settings(settings_store(tmp_path)).window_geometry != "", timeout=3000)
    window.close()
    again = open_window(qtbot, tmp_path, model=str(model_path))
    assert again.size() == QSize(760, 560) and not again.isMaximized()
    again.showMaximized()
    qtbot.waitUntil(again.isMaximized, timeout=3000)
    again.close()
    third = open_window(qtbot, tmp_path, model=str(model_path))
    assert third.isMaximized()


def test_leaving_demo_mode_gives_the_window_back_as_it_was(qtbot: QtBot, tmp_path: Path, model_path: Path) -> None:
    window = open_window(qtbot, tmp_path, model=str(model_path))
    window.setGeometry(QRect(30, 40, 700, 520))
    qtbot.waitUntil(lambda: window.size() == QSize(700, 520), timeout=3000)
    window.set_demo(True)
    assert window.isFullScreen()
    window.set_demo(False)
    qtbot.waitUntil(lambda: not window.isFullScreen(), timeout=3000)
    assert window.size() == QSize(700, 520) and not window.isMaximized()

    window.showMaximized()
    qtbot.waitUntil(window.isMaximized, timeout=3000)
    window.set_demo(True)
    window.close()  # closed in demo mode: the window as the user had it is what is remembered
    assert load_settings(settings_store(tmp_path)).window_geometry
    window.set_demo(False)  # (the closed window's own state no longer matters)
    again = open_window(qtbot, tmp_path, model=str(model_path))
    assert again.isMaximized() and not again.isFullScreen()
    again.set_demo(True)
    again.set_demo(False)
    qtbot.waitUntil(again.isMaximized, timeout=3000)
    assert not again.isFullScreen()


def test_many_files_keep_the_plots_readable(qtbot: QtBot, tmp_path: Path, model_path: Path,
                                           sample_clips: list[Path]) -> None:
    window = open_window(qtbot, tmp_path, model=str(model_path))
    window.setGeometry(initial_geometry(QRect(0, 0, 1280, 680)))
    window.analyse_files([str(p) for p in sample_clips[:6]])
    view = window.file_view
    qtbot.waitUntil(lambda: len(view.order) == 6 and not view.busy, timeout=60000)
    qtbot.wait(50)
    line = view.fontMetrics().height()
    assert view.table.isVisible() and view.table.rowCount() == 6
    assert view.spectrogram.plot.height() >= SPECTROGRAM_MIN_LINES * line
    assert view.timeline.plot.height() >= TIMELINE_MIN_LINES * line
    # The rotated axis captions fit beside their plots (at 20 px they ran into each other).
    for plot in (view.spectrogram.plot, view.timeline.plot):
        axis = plot.getAxis("left")
        assert axis.label.boundingRect().width() <= axis.height()
    # What does not fit scrolls, and can be scrolled to.
    bar = view.detail_scroll.verticalScrollBar()
    assert bar.maximum() > 0
    bar.setValue(bar.maximum())
    view.detail_scroll.ensureWidgetVisible(view.timeline)
    viewport = view.detail_scroll.viewport()
    shown = viewport.rect().intersected(QRect(view.timeline.mapTo(viewport, QPoint(0, 0)), view.timeline.size()))
    assert shown.height() >= min(viewport.height(), TIMELINE_MIN_LINES * line)


def test_clock_labels_and_tick_steps() -> None:
    assert [format_clock(t) for t in (0, 5, 59.4, 75, 600, 3599.6, 3725)] == \
        ["0:00", "0:05", "0:59", "1:15", "10:00", "1:00:00", "1:02:05"]
    assert format_clock(59.96, 1) == "1:00.0" and format_clock(1.25, 2) == "0:01.25"
    assert format_clock(-30) == "-0:30" and format_clock(-0.01) == "0:00"
    assert decimals_for(0.5) == 1 and decimals_for(0.1) == 1 and decimals_for(5) == 0
    assert tick_steps(1800, 900) == (300.0, 120.0)  # a 30-minute file: 5-minute labels
    assert tick_steps(60, 900) == (5.0, 2.0)
    assert tick_steps(2.0, 900)[0] == 0.2


def test_every_time_axis_reads_minutes_and_seconds(qtbot: QtBot, tmp_path: Path, model_path: Path) -> None:
    window = open_window(qtbot, tmp_path, model=str(model_path))
    plots = window.findChildren(pg.PlotWidget)
    assert len(plots) >= 5  # live spectrogram and timeline, file spectrogram and timeline, demo timeline
    for plot in plots:
        axis = plot.getAxis("bottom")
        assert isinstance(axis, TimeAxisItem)
        assert "m:ss" in axis.labelString() and "(s)" not in axis.labelString()
    axis = window.file_view.spectrogram.plot.getAxis("bottom")
    axis.setRange(0.0, 1800.0)  # a 30-minute file: no SI prefix ("ks"), clock labels
    values = axis.tickValues(0.0, 1800.0, 900)
    assert axis.tickStrings(values[0][1], 1.0, values[0][0])[:3] == ["0:00", "5:00", "10:00"]
    assert "ks" not in axis.labelString() and axis.autoSIPrefixScale == 1.0
