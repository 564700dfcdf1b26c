"""Look of the app as data: emotion colours and faces, light/dark/demo palettes, the spectrogram colour map.

Icons are drawn faces (see :mod:`serapp.ui.face`), never emoji: emoji fonts are often missing (Xvfb, bare
Linux installs) and a missing glyph would leave the most important element of the window blank.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from PySide6.QtGui import QColor, QPalette

from serapp.engine.labels import SILENCE


@dataclass(frozen=True)
class FaceShape:
    """Parameters of a drawn face. ``mouth``: -1 frown .. +1 smile; ``open_``: 0 closed .. 1 round open mouth;
    ``brow``: -1 inner ends down (anger) .. +1 inner ends up (sadness, fear); ``raise_``: 0..1 brows lifted;
    ``eye``: eye size relative to a neutral eye (1)."""

    mouth: float = 0.0
    open_: float = 0.0
    brow: float = 0.0
    raise_: float = 0.0
    eye: float = 1.0
    wavy: bool = False


@dataclass(frozen=True)
class EmotionStyle:
    """How one label looks: display name, colour (hex) and face."""

    name: str
    color: str
    face: FaceShape


EMOTION_STYLES: dict[str, EmotionStyle] = {
    "angry": EmotionStyle("Angry", "#e53935", FaceShape(mouth=-0.7, brow=-1.0, eye=0.8)),
    "disgust": EmotionStyle("Disgust", "#7cb342", FaceShape(mouth=-0.4, brow=-0.5, eye=0.7, wavy=True)),
    "fear": EmotionStyle("Fear", "#8e24aa", FaceShape(mouth=-0.3, open_=0.5, brow=1.0, raise_=0.6, eye=1.3)),
    "happy": EmotionStyle("Happy", "#fbc02d", FaceShape(mouth=1.0, eye=0.9)),
    # Neutral is warm (brown-grey) and Silence cool (blue-grey): they were nearly one grey (issue 31 item 7).
    "neutral": EmotionStyle("Neutral", "#8d6e63", FaceShape()),
    "sad": EmotionStyle("Sad", "#1e88e5", FaceShape(mouth=-1.0, brow=1.0, eye=0.9)),
    "surprise": EmotionStyle("Surprise", "#fb8c00", FaceShape(open_=1.0, raise_=1.0, eye=1.4)),
    SILENCE: EmotionStyle("Silence", "#607d8b", FaceShape(eye=0.6)),
}

# Colours for labels of other models (any self-describing ONNX model may bring its own), chosen by name.
_EXTRA_COLOURS = ("#26a69a", "#ec407a", "#5c6bc0", "#d4e157", "#00897b", "#29b6f6", "#ab47bc", "#ff7043")


def emotion_style(label: str) -> EmotionStyle:
    """The style of ``label``; unknown labels get a stable colour and a neutral face."""
    style = EMOTION_STYLES.get(label.lower())
    if style is not None:
        return style
    index = int(hashlib.sha1(label.encode()).hexdigest(), 16) % len(_EXTRA_COLOURS)
    return EmotionStyle(label.replace("_", " ").capitalize(), _EXTRA_COLOURS[index], FaceShape())


def emotion_color(label: str) -> QColor:
    return QColor(emotion_style(label).color)


# ---------------------------------------------------------------------------------------------- palettes
@dataclass(frozen=True)
class Palette:
    """The colours of one theme (hex). ``plot_bg``/``plot_fg`` style the pyqtgraph plots."""

    name: str
    window: str
    base: str
    alt_base: str
    text: str
    muted: str
    button: str
    highlight: str
    plot_bg: str
    plot_fg: str
    banner_bg: str
    banner_fg: str


PALETTES: dict[str, Palette] = {
    "dark": Palette("dark", window="#16181d", base="#1e2128", alt_base="#252932", text="#e8eaed",
                    muted="#9aa0a6", button="#2a2e37", highlight="#4f8cff", plot_bg="#101216",
                    plot_fg="#b8bec6", banner_bg="#5c3c00", banner_fg="#ffe0a3"),
    "light": Palette("light", window="#f3f4f6", base="#ffffff", alt_base="#eef0f3", text="#1b1d21",
                     muted="#5f6368", button="#e6e8ec", highlight="#1a5fd6", plot_bg="#ffffff",
                     plot_fg="#3c4043", banner_bg="#fff1c2", banner_fg="#4a3500"),
    # Demo mode: pure black, white type, for a projector across a room.
    "demo": Palette("demo", window="#000000", base="#000000", alt_base="#111111", text="#ffffff",
                    muted="#c8c8c8", button="#222222", highlight="#ffd54f", plot_bg="#000000",
                    plot_fg="#ffffff", banner_bg="#b71c1c", banner_fg="#ffffff"),
}


def palette_named(name: str) -> Palette:
    """The palette ``name`` (``dark``, ``light`` or ``demo``); unknown names fall back to dark."""
    return PALETTES.get(name, PALETTES["dark"])


def qpalette(p: Palette) -> QPalette:
    """A QPalette for the whole application from ``p``."""
    pal = QPalette()
    roles = {
        QPalette.ColorRole.Window: p.window, QPalette.ColorRole.WindowText: p.text,
        QPalette.ColorRole.Base: p.base, QPalette.ColorRole.AlternateBase: p.alt_base,
        QPalette.ColorRole.Text: p.text, QPalette.ColorRole.Button: p.button,
        QPalette.ColorRole.ButtonText: p.text, QPalette.ColorRole.ToolTipBase: p.base,
        QPalette.ColorRole.ToolTipText: p.text, QPalette.ColorRole.Highlight: p.highlight,
        QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.PlaceholderText: p.muted,
        QPalette.ColorRole.Link: p.highlight,
    }
    for role, colour in roles.items():
        pal.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor(p.muted))
    return pal


# ---------------------------------------------------------------------------------------------- spectrogram
# Colour maps offered for the spectrogram (pyqtgraph's bundled names), quiet (first colour) to loud (last).
SPECTROGRAM_CMAPS: tuple[str, ...] = ("inferno", "viridis", "magma", "plasma", "cividis", "grey")
SPECTROGRAM_CMAP = SPECTROGRAM_CMAPS[0]
SPECTROGRAM_RANGE_DB = 80.0  # default dB range from the loudest colour to the quietest


def spectrogram_lut(n: int = 256, name: str = SPECTROGRAM_CMAP) -> np.ndarray:
    """The spectrogram's lookup table for colour map ``name`` (:data:`SPECTROGRAM_CMAPS`; unknown names give the
    default): ``(n, 4)`` uint8 RGBA, ``n <= 256`` (one entry per uint8 level), quiet first."""
    import pyqtgraph as pg

    if name == "grey":
        ramp = np.linspace(0, 255, n).round().astype(np.uint8)
        return np.column_stack([ramp, ramp, ramp, np.full(n, 255, np.uint8)])
    cmap = pg.colormap.get(name if name in SPECTROGRAM_CMAPS else SPECTROGRAM_CMAP)
    return cmap.getLookupTable(nPts=n, alpha=True)


def stylesheet(p: Palette) -> str:
    """Application style sheet for the named widgets (banner, cards, placeholders, demo labels)."""
    return f"""
#banner {{ background: {p.banner_bg}; color: {p.banner_fg}; border-radius: 6px; padding: 8px 12px; }}
#emotionCard {{ background: {p.alt_base}; border-radius: 10px; }}
#placeholder {{ color: {p.muted}; border: 2px dashed {p.muted}; border-radius: 16px; font-size: 16pt;
                padding: 32px; margin: 48px; }}
#fileMessage {{ background: {p.alt_base}; color: {p.text}; border-radius: 6px; padding: 6px 10px; }}
#fileMessage[error="true"] {{ background: {p.banner_bg}; color: {p.banner_fg}; }}
#fileTitle {{ font-size: 12pt; }}
#caption {{ color: {p.muted}; }}
#demoView {{ background: {p.window}; }}
#demoProblem {{ background: {p.banner_bg}; color: {p.banner_fg}; border-radius: 12px; padding: 16px; }}
#demoHint {{ color: {p.muted}; }}
QStatusBar QLabel {{ color: {p.muted}; padding: 0 6px; }}
QToolBar {{ spacing: 6px; padding: 4px; border: none; }}
"""
