"""Figures written small: every PNG the trainer writes (confusion matrices, training curves) and the repository's
screenshots are palette-quantised here, so that they keep their look at about a third of the size.

``scripts/shrink_pngs.py`` shrinks (or checks) PNGs already on disk with the same :func:`quantise`.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from serapp.atomic import replacing

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from PIL import Image

COLOURS = 256
DPI = 110


def quantise(image: Image.Image, path: Path, colours: int = COLOURS) -> None:
    """Write ``image`` to ``path`` as a palette PNG (median cut, no dithering, zlib optimised). An opaque image
    (matplotlib's RGBA on a white face) drops its alpha channel; a translucent one keeps it (fast octree)."""
    from PIL import Image

    if image.mode in ("RGBA", "LA") and image.getchannel("A").getextrema()[0] < 255:
        small = image.convert("RGBA").quantize(colors=colours, method=Image.Quantize.FASTOCTREE,
                                               dither=Image.Dither.NONE)
    else:
        small = image.convert("RGB").quantize(colors=colours, method=Image.Quantize.MEDIANCUT,
                                              dither=Image.Dither.NONE)
    small.save(path, format="PNG", optimize=True)


def save_figure(fig: Figure, path: Path, dpi: int = DPI, colours: int = COLOURS) -> Path:
    """Write a matplotlib figure to ``path`` as a palette-quantised PNG, atomically (temp + rename), and close it."""
    import matplotlib.pyplot as plt
    from PIL import Image

    try:
        buffer = io.BytesIO()
        fig.savefig(buffer, dpi=dpi, format="png")
    finally:
        plt.close(fig)
    buffer.seek(0)
    with Image.open(buffer) as image, replacing(path) as tmp:
        quantise(image, tmp, colours)
    return Path(path)
