"""Colours, fonts and axes for every pyqtgraph plot, from the current theme.

pyqtgraph (and numpy) take about half a second to import, so they are imported when the first
plot is made, after the window is on screen, never at start-up (`pyqtgraph()` below).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from PySide6.QtGui import QFont

from studio.gui.theme import Theme


def pyqtgraph() -> ModuleType:
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=True, useNumba=False)
    return pg


def style_plot(widget: Any, theme: Theme, title: str = "", left: str = "", bottom: str = "") -> None:
    pg = pyqtgraph()
    colors = theme.colors()
    widget.setBackground(colors["plot_bg"])
    item = widget.getPlotItem()
    font = QFont()
    font.setPointSizeF(8.5)
    for name in ("left", "bottom"):
        axis = item.getAxis(name)
        axis.setPen(pg.mkPen(colors["grid"]))
        axis.setTextPen(pg.mkPen(colors["plot_fg"]))
        axis.setTickFont(font)
    item.showGrid(x=True, y=True, alpha=0.25)
    if title:
        item.setTitle(f"<span style='color:{colors['plot_fg']};font-size:9.5pt;font-weight:600'>{title}</span>")
    if left:
        item.setLabel("left", left, color=colors["plot_fg"])
    if bottom:
        item.setLabel("bottom", bottom, color=colors["plot_fg"])
    if item.legend is not None:
        item.legend.setLabelTextColor(colors["plot_fg"])
        item.legend.setBrush(pg.mkBrush(colors["plot_bg"] + "cc"))
        item.legend.setPen(pg.mkPen(colors["grid"]))
