"""The toolbar's analysis controls (hop, smoothing, gate, label hold, adapting to the speaker): spin boxes and a
check box that own their section of the settings.

They show the saved values at start, write a change to the :class:`~serapp.ui.settingsmodel.SettingsModel` at
once (a crash right after keeps it), and follow the model when it changes elsewhere. Applying the new values to
the analysis is the window's business: it listens to the model, not to the spin boxes.
"""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QWidget

from serapp.ui.settings import RANGES
from serapp.ui.settingsmodel import SettingsModel

# the settings these controls own
ANALYSIS_KEYS = frozenset({"hop_s", "smoothing_s", "gate_db", "switch_margin", "adapt_speaker"})
ADAPT_TIP = ("Adapt to the speaker: after the first utterances, emotions are judged against this speaker's own "
             "voice (one person at a time; on validation speakers it helped file analysis, not the live label). "
             "File analysis adapts within each file.")
NO_ADAPT_TIP = "This model cannot adapt to its speaker (it was exported without an adapted head)."


class AnalysisControls:
    """``hop``, ``smoothing``, ``gate`` and ``hold`` spin boxes and the ``adapt`` check box (children of ``parent``)
    bound to ``settings``."""

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
        self.adapt = QCheckBox("Adapt", parent)
        self.adapt.setToolTip(ADAPT_TIP)
        self.restore()
        for spin in self._spins.values():
            spin.valueChanged.connect(self._save)
        self.adapt.toggled.connect(self._save)
        settings.changed.connect(self._on_settings_changed)

    def set_adaptable(self, adaptable: bool) -> None:
        """Whether the model in use can adapt: the check box keeps the user's choice but is off while it cannot."""
        self.adapt.setEnabled(adaptable)
        self.adapt.setToolTip(ADAPT_TIP if adaptable else NO_ADAPT_TIP)

    @property
    def adapting(self) -> bool:
        """Adapting is asked for and the model can."""
        return self.adapt.isEnabled() and self.adapt.isChecked()

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
        self.adapt.blockSignals(True)
        self.adapt.setChecked(values.adapt_speaker)
        self.adapt.blockSignals(False)

    def _save(self) -> None:
        self.settings.update(**{key: spin.value() for key, spin in self._spins.items()},
                             adapt_speaker=self.adapt.isChecked())

    def _on_settings_changed(self, names: frozenset) -> None:
        if names & ANALYSIS_KEYS:
            self.restore()  # set elsewhere: show it (a no-op for a change made here)
