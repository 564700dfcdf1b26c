"""Shared set-up for the UI tests: a real main window on a small real ONNX model, settings in a temp INI file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from serapp.engine.model import OnnxModel, load_model
from serapp.engine.source import AudioSource
from serapp.engine.spec import FeatureSpec
from serapp.errors import SerappError
from serapp.ui.audiodevices import AudioDevices
from serapp.ui.dialogs import Dialogs
from serapp.ui.mainwindow import LaunchOptions, MainWindow
from serapp.ui.modelchoice import ModelLoader
from serapp.ui.playback import Player
from tests.onnx_models import save_model

# Short windows keep features + inference cheap on the 2-core CI machine.
UI_SPEC = FeatureSpec(duration_s=1.0)


def build_model(folder: Path) -> Path:
    return save_model(folder / "ui-test-model.onnx", UI_SPEC, temperature=4.0)


def settings_store(folder: Path) -> QSettings:
    return QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)


@dataclass(frozen=True)
class FakeDevices(AudioDevices):
    """The live inputs a test wants, given to the window instead of patching module globals: ``list_error``
    makes listing fail with that reason (as without PortAudio); ``microphone(device, rescan)`` opens the
    microphone instead of PortAudio. Everything else, and the retry and rescan periods given, is the real thing."""

    list_error: str = ""
    microphone: Callable[[str | None, bool], AudioSource] | None = None

    def list_inputs(self) -> list:
        if self.list_error:
            raise SerappError(self.list_error)
        return super().list_inputs()

    def open_microphone(self, device: str | None, rescan: bool) -> AudioSource:
        if self.microphone is not None:
            return self.microphone(device, rescan)
        return super().open_microphone(device, rescan)


# A fake PortAudio (tests/fake_sounddevice.py) answers at once: failures are retried and devices rescanned fast,
# and a device that goes silent is declared gone sooner.
FAST_DEVICES = FakeDevices(retry_s=0.05, rescan_s=0.1, stall_s=0.4)


class AnsweringDialogs(Dialogs):
    """File dialogs that answer at once with ``answer`` ("" = cancel) and keep the path each was started at in
    :attr:`asked`."""

    def __init__(self, answer: str = "") -> None:
        self.answer = answer
        self.asked: list[str] = []

    def open_paths(self, parent: QWidget, caption: str, start: str, filters: str) -> list[str]:
        self.asked.append(start)
        return [self.answer] if self.answer else []

    def open_path(self, parent: QWidget, caption: str, start: str, filters: str) -> str:
        self.asked.append(start)
        return self.answer

    def folder(self, parent: QWidget, caption: str, start: str) -> str:
        self.asked.append(start)
        return self.answer

    def save_path(self, parent: QWidget, caption: str, start: str, filters: str) -> str:
        self.asked.append(start)
        return self.answer


def without_bundled_model(absent: Path) -> ModelLoader[OnnxModel]:
    """The real loader, with the bundled model replaced by the file ``absent`` (which does not exist)."""
    return lambda path: load_model(path or absent)


def open_window(qtbot: QtBot, folder: Path, devices: AudioDevices | None = None,
                model_loader: ModelLoader[OnnxModel] = load_model, dialogs: Dialogs | None = None,
                **options: object) -> MainWindow:
    """A shown main window (closed, with its session stopped, at teardown by pytest-qt), its settings in
    ``folder``; ``devices``, ``model_loader`` and ``dialogs`` as :class:`MainWindow` takes them, ``options`` for
    :class:`LaunchOptions`."""
    window = MainWindow(LaunchOptions(**options), settings_store(folder), player=Player(with_sound=False),  # type: ignore[arg-type]
                        devices=devices, model_loader=model_loader, dialogs=dialogs)
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
