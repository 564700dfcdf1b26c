"""The toolbar's analysis controls (hop, smoothing, gate, label hold): spin boxes that own their section of the
settings.

They show the saved values at start, write a change to the :class:`~serapp.ui.settingsmodel.SettingsModel` at
once (a crash right after keeps it), and follow the model when it changes elsewhere. Applying the new values to
the analysis is the window's business: it listens to the model, not to the spin boxes.
"""

from __future__ import annotations

from PySide6.QtWidgets import QDoubleSpinBox, QWidget

from serapp.ui.settings import RANGES
from serapp.ui.settingsmodel import SettingsModel

ANALYSIS_KEYS = frozenset({"hop_s", "smoothing_s", "gate_db", "switch_margin"})  # the settings these controls own


class AnalysisControls:
    """``hop``, ``smoothing``, ``gate`` and ``hold`` spin boxes (children of ``parent``) bound to ``settings``."""

    def __init__(self, parent: QWidget, settings: SettingsModel) -> None:
        self.settings = settings
        self.hop = self._spin(parent, "hop_s", " s", 0.05, 2, "Time between emotion updates")
        self.smoothing = self._spin(parent, "smoothing_s", " s", 0.1, 1, "Smoothing time constant (0 = off)")
        self.gate = self._spin(parent, "gate_db", " dBFS", 1.0, 0, "Voice gate: quieter input counts as silence")
        self.hold = self._spin(parent, "switch_margin", "", 0.05, 2,
                               "Label hold: another emotion is named only when it leads the shown one by this much "
                               "(0 = always the top one; more = a steadier label, a little less often right)")
        self._spins = {"hop_s": self.hop, "smoothing_s": self.smoothing, "gate_db": self.gate,
                       "switch_margin": self.hold}
        self.restore()
        for spin in self._spins.values():
            spin.valueChanged.connect(self._save)
        settings.changed.connect(self._on_settings_changed)

    def _spin(self, parent: QWidget, key: str, suffix: str, step: float, decimals: int,
              tip: str) -> QDoubleSpinBox:
        lo, hi = RANGES[key]
        spin = QDoubleSpinBox(parent)
        spin.setRange(lo, hi)
        spin.setSingleStep(step)
        spin.setDecimals(decimals)
        spin.setSuffix(suffix)
        spin.setToolTip(tip)
        return spin

    def restore(self) -> None:
        """Show the settings' values (without writing them back)."""
        values = self.settings.values
        for key, spin in self._spins.items():
            spin.blockSignals(True)
            spin.setValue(getattr(values, key))
            spin.blockSignals(False)

    def _save(self) -> None:
        self.settings.update(**{key: spin.value() for key, spin in self._spins.items()})

    def _on_settings_changed(self, names: frozenset) -> None:
        if names & ANALYSIS_KEYS:
            self.restore()  # set elsewhere: show it (a no-op for a change made here)
