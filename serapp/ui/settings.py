"""The app's persistent settings: a dataclass ⇄ JSON ⇄ QSettings (one key per field).

A stored value that is missing, of the wrong type or out of range falls back to its default, so a damaged
settings file can never stop the app from starting.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from PySide6.QtCore import QSettings

from serapp.engine.config import TUNABLES, AnalyzerConfig
from serapp.errors import SerappError
from serapp.jsonconfig import JsonConfig
from serapp.ui.recorder import RECORD_FORMATS
from serapp.ui.theme import SPECTROGRAM_CMAPS, SPECTROGRAM_RANGE_DB

ORGANIZATION = "serapp"
APPLICATION = "serapp"
THEMES = ("dark", "light")
SPECTROGRAM_N_FFTS = (256, 512, 1024, 2048)  # FFT sizes (samples at the model's rate) offered for the spectrograms

# (low, high) for the numeric settings; the same ranges bound the spin boxes in the window. The analysis settings'
# defaults and ranges are the engine's (serapp.engine.config.TUNABLES), shared with the CLI.
RANGES: dict[str, tuple[float, float]] = {
    **{name: (t.low, t.high) for name, t in TUNABLES.items()},
    "spectrogram_range_db": (30.0, 120.0),  # dB from the spectrograms' loudest colour to their quietest
}


@dataclass(frozen=True)
class AppSettings(JsonConfig):
    """What the window remembers. Times in seconds, levels in dBFS; empty strings mean "the default"."""

    KIND: ClassVar[str] = "settings"

    model_path: str = ""
    device: str = ""
    hop_s: float = TUNABLES["hop_s"].default
    smoothing_s: float = TUNABLES["smoothing_s"].default
    gate_db: float = TUNABLES["gate_db"].default
    switch_margin: float = TUNABLES["switch_margin"].default
    # Scores relative to the speaker's own voice once enough utterances were heard (a model that can adapt; live and
    # file analysis). Off by default: one person at a time, which a demo at an event is not.
    adapt_speaker: bool = False
    theme: str = "dark"
    last_dir: str = ""
    window_geometry: str = ""  # base64 of QWidget.saveGeometry(): size, place and maximised state of the window
    record_dir: str = ""  # where recordings of the live input go ("" = not chosen yet); recording starts off
    record_format: str = "flac"
    spectrogram_range_db: float = SPECTROGRAM_RANGE_DB  # the spectrograms' display (serapp.ui.spectrogram)
    spectrogram_cmap: str = SPECTROGRAM_CMAPS[0]
    spectrogram_n_fft: int = 512  # the live and the file spectrograms' FFT size, one of SPECTROGRAM_N_FFTS

    def __post_init__(self) -> None:
        for name, (lo, hi) in RANGES.items():
            value = getattr(self, name)
            if not isinstance(value, int | float) or not lo <= float(value) <= hi:
                raise SerappError(f"Setting {name} must be a number in {lo}-{hi}, got {value!r}.")
            object.__setattr__(self, name, float(value))
        if not isinstance(self.adapt_speaker, bool):
            raise SerappError(f"Setting adapt_speaker must be true or false, got {self.adapt_speaker!r}.")
        if self.theme not in THEMES:
            raise SerappError(f"Setting theme must be one of {', '.join(THEMES)}, got {self.theme!r}.")
        if self.record_format not in RECORD_FORMATS:
            raise SerappError(f"Setting record_format must be one of {', '.join(RECORD_FORMATS)}, "
                              f"got {self.record_format!r}.")
        if self.spectrogram_cmap not in SPECTROGRAM_CMAPS:
            raise SerappError(f"Setting spectrogram_cmap must be one of {', '.join(SPECTROGRAM_CMAPS)}, "
                              f"got {self.spectrogram_cmap!r}.")
        if type(self.spectrogram_n_fft) is not int or self.spectrogram_n_fft not in SPECTROGRAM_N_FFTS:
            raise SerappError(f"Setting spectrogram_n_fft must be one of {', '.join(map(str, SPECTROGRAM_N_FFTS))}, "
                              f"got {self.spectrogram_n_fft!r}.")
        for name in ("model_path", "device", "last_dir", "window_geometry", "record_dir"):
            if not isinstance(getattr(self, name), str):
                raise SerappError(f"Setting {name} must be text, got {getattr(self, name)!r}.")


def _coerce(raw: object, default: Any) -> Any:
    """QSettings returns strings from INI files; convert ``raw`` to the type of ``default``."""
    if isinstance(default, bool):  # before int: a bool is an int too; the INI file says "true" or "false"
        text = str(raw).strip().lower()
        if text not in ("true", "false"):
            raise ValueError(f"not a truth value: {raw!r}")
        return text == "true"
    if isinstance(default, float):
        return float(raw)  # type: ignore[arg-type]
    if isinstance(default, int):
        return int(str(raw))  # "1024" from the INI file; "1024.5" or "x" raise ValueError (the default is kept)
    return str(raw)


def load_settings(store: QSettings) -> AppSettings:
    """Read the settings from ``store``; each bad or missing value takes its default."""
    values: dict[str, Any] = {}
    defaults = AppSettings()
    for f in dataclasses.fields(AppSettings):
        default = getattr(defaults, f.name)
        raw = store.value(f.name)
        if raw is None:
            continue
        try:
            candidate = _coerce(raw, default)
            AppSettings(**{f.name: candidate})  # validates this one field
        except (ValueError, TypeError, SerappError):
            continue
        values[f.name] = candidate
    return AppSettings(**values)


def save_settings(store: QSettings, settings: AppSettings) -> str:
    """Write every field of ``settings`` to ``store`` and flush it to disk. Returns "" when they were saved, else
    a plain message saying they could not be (a read-only or full config folder; the app goes on with them)."""
    # QSettings keeps the first error it met for good: a fresh object on the same file tells whether *this* save
    # reached the disk (so the message goes once the location is writable again).
    fresh = QSettings(store.fileName(), store.format())
    for key, value in settings.to_dict().items():
        store.setValue(key, value)
        fresh.setValue(key, value)
    fresh.sync()
    if fresh.status() == QSettings.Status.NoError:
        return ""
    return (f"Settings could not be saved to {store.fileName()} (the folder or file is not writable, or the disk "
            "is full). They apply until you quit; make that location writable to keep them.")


def default_store() -> QSettings:
    """The per-user settings store (an INI file under the platform's config folder)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


# The worker's wake-up period sets how often new spectrogram columns arrive, hence the live frame rate:
# 20 ms gives ~50 frames/s, a margin over the 30 frames/s the view must hold when the machine is busy.
LIVE_WAKE_S = 0.02


def analyzer_config(settings: AppSettings, base: AnalyzerConfig | None = None) -> AnalyzerConfig:
    """The engine config for ``settings`` (hop, smoothing, gate, switch margin and the spectrogram's FFT size from the
    window; the rest from ``base``)."""
    return (base or AnalyzerConfig(wake_s=LIVE_WAKE_S)).replace(hop_s=settings.hop_s, smoothing_s=settings.smoothing_s,
                                              gate_db=settings.gate_db, switch_margin=settings.switch_margin,
                                              spectrum_n_fft=settings.spectrogram_n_fft)
