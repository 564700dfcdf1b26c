"""A pyqtgraph plot made to match the app's palette, without mouse panning (views follow the data), time below."""

from __future__ import annotations

from collections.abc import Callable

import pyqtgraph as pg
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QCursor, QFont
from PySide6.QtWidgets import QToolTip, QWidget

from serapp.ui.theme import Palette
from serapp.ui.timeaxis import TimeAxisItem

pg.setConfigOptions(antialias=True, imageAxisOrder="row-major")


def make_plot(parent: QWidget | None = None, interactive: bool = False) -> pg.PlotWidget:
    """A PlotWidget with the context menu and (unless ``interactive``) mouse zoom/pan turned off. The bottom axis
    is time in seconds, drawn as a clock (:class:`~serapp.ui.timeaxis.TimeAxisItem`)."""
    plot = pg.PlotWidget(parent, axisItems={"bottom": TimeAxisItem("bottom")})
    item = plot.getPlotItem()
    item.setMenuEnabled(False)
    item.hideButtons()
    item.getViewBox().setMouseEnabled(x=interactive, y=False)
    plot.setMinimumHeight(60)
    return plot


def apply_plot_palette(plot: pg.PlotWidget, palette: Palette, font: QFont | None = None) -> None:
    """Colour the plot's background, axes and labels from ``palette``; ``font`` sizes the tick labels."""
    plot.setBackground(QColor(palette.plot_bg))
    item = plot.getPlotItem()
    for name in ("left", "bottom", "right", "top"):
        axis = item.getAxis(name)
        axis.setPen(pg.mkPen(palette.plot_fg))
        axis.setTextPen(pg.mkPen(palette.plot_fg))
        if font is not None:
            axis.setStyle(tickFont=font)
        label = axis.label
        if label is not None:
            label.setDefaultTextColor(QColor(palette.plot_fg))
            if font is not None:
                label.setFont(font)


def add_hover_readout(plot: pg.PlotWidget, describe: Callable[[float, float], str]) -> None:
    """Show ``describe(x, y)`` (data coordinates under the pointer; "" for nothing) as the plot's tooltip while
    the pointer moves over its data area. The text is also kept as ``plot.hover_text``."""
    plot.hover_text = ""  # type: ignore[attr-defined]
    view = plot.getPlotItem().getViewBox()

    def moved(scene_pos: QPointF) -> None:
        text = ""
        if view.sceneBoundingRect().contains(scene_pos):
            point = view.mapSceneToView(scene_pos)
            text = describe(point.x(), point.y())
        if text == plot.hover_text:  # type: ignore[attr-defined]
            return
        plot.hover_text = text  # type: ignore[attr-defined]
        plot.setToolTip(text)
        if text and plot.underMouse():
            QToolTip.showText(QCursor.pos(), text, plot)
        elif not text:
            QToolTip.hideText()

    plot.scene().sigMouseMoved.connect(moved)
