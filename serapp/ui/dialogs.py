"""The file dialogs the window and the file view ask (open audio, choose a model or a folder, save an export), as
one injectable object: the real one shows Qt's dialogs; a test gives one that answers at once, without patching
``QFileDialog``. Each returns "" (or no paths) when the user cancels."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QWidget


class Dialogs:
    """Qt's file dialogs. Override a method to answer without a person (tests, scripts)."""

    def open_paths(self, parent: QWidget, caption: str, start: str, filters: str) -> list[str]:
        """Files to open (several may be chosen)."""
        paths, _ = QFileDialog.getOpenFileNames(parent, caption, start, filters)
        return list(paths)

    def open_path(self, parent: QWidget, caption: str, start: str, filters: str) -> str:
        """One file to open."""
        path, _ = QFileDialog.getOpenFileName(parent, caption, start, filters)
        return path

    def folder(self, parent: QWidget, caption: str, start: str) -> str:
        """An existing folder."""
        return QFileDialog.getExistingDirectory(parent, caption, start)

    def save_path(self, parent: QWidget, caption: str, start: str, filters: str) -> str:
        """Where to save (``start``: the suggested path)."""
        path, _ = QFileDialog.getSaveFileName(parent, caption, start, filters)
        return path
