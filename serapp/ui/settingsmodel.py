"""The settings as one object that loads once and saves itself: views read :attr:`SettingsModel.values` and
change them with :meth:`SettingsModel.update`, never by writing the store themselves.

Every change is written at once, whole (all keys, one ``sync``: QSettings writes the INI file through a temporary
file renamed over the old one), so a crash or a kill right after a change keeps it and never leaves half a file.
A store that cannot be written keeps the values in memory for this run and says so through :attr:`problem` /
:attr:`problem_changed` (the window's banner), until a later save reaches the disk.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QSettings, Signal

from serapp.ui.settings import AppSettings, load_settings, save_settings


class SettingsModel(QObject):
    """The app's :class:`AppSettings` for this run, saved to ``store`` on every change."""

    changed = Signal(frozenset)  # frozenset[str]: the names of the fields that changed (after they were saved)
    problem_changed = Signal(str)  # why the last save failed; "" once a save reached the disk again

    def __init__(self, store: QSettings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self._values = load_settings(store)
        self._problem = ""

    @property
    def values(self) -> AppSettings:
        """The current settings (immutable; change them with :meth:`update`)."""
        return self._values

    @property
    def problem(self) -> str:
        """"" when the last save reached the disk, else a plain message saying it did not."""
        return self._problem

    def update(self, **changes: Any) -> bool:
        """Set the fields named in ``changes`` (validated: a bad value raises :class:`~serapp.errors.SerappError`
        and changes nothing), save them and emit :attr:`changed`. Returns whether anything changed; setting the
        values already held writes nothing."""
        new = self._values.replace(**changes)
        names = frozenset(k for k in changes if getattr(new, k) != getattr(self._values, k))
        if not names:
            return False
        self._values = new
        self.save()
        self.changed.emit(names)
        return True

    def save(self) -> bool:
        """Write every field now (also used once at start, which tells early that the store is not writable).
        Returns whether it reached the disk."""
        self._set_problem(save_settings(self.store, self._values))
        return not self._problem

    def _set_problem(self, message: str) -> None:
        if message != self._problem:
            self._problem = message
            self.problem_changed.emit(message)
