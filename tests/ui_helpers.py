"""Shared set-up for the UI tests: a real main window on a small real ONNX model, settings in a temp INI file."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from serapp.engine.spec import FeatureSpec
from serapp.ui.mainwindow import LaunchOptions, MainWindow
from serapp.ui.playback import Player
from tests.onnx_models import save_model

# Short windows keep features + inference cheap on the 2-core CI machine.
UI_SPEC = FeatureSpec(duration_s=1.0)


def build_model(folder: Path) -> Path:
    return save_model(folder / "ui-test-model.onnx", UI_SPEC, temperature=4.0)


def settings_store(folder: Path) -> QSettings:
    return QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)


def open_window(qtbot: QtBot, folder: Path, **options: object) -> MainWindow:
    """A shown main window (closed, with its session stopped, at teardown by pytest-qt)."""
    window = MainWindow(LaunchOptions(**options), settings_store(folder), player=Player(with_sound=False))  # type: ignore[arg-type]
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    # Keyboard shortcuts go to the active window; offscreen, activation has to be asked for.
    window.windowHandle().requestActivate()
    qtbot.waitUntil(window.isActiveWindow, timeout=3000)
    return window


def drop_files(target: MainWindow, paths: list[Path]) -> bool:
    """Simulate dragging ``paths`` onto ``target`` and dropping them; returns whether the drop was accepted."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(QPoint(200, 200), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, enter)
    if not enter.isAccepted():
        return False
    drop = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, drop)
    return drop.isAccepted()
