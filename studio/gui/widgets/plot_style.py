"""Colours, fonts and axes for every pyqtgraph plot, from the current theme.

pyqtgraph (and numpy) take about half a second to import, so they are imported when the first
plot is made, after the window is on screen, never at start-up (`pyqtgraph()` below).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics

from studio.gui.theme import Theme


def pyqtgraph() -> ModuleType:
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=True, useNumba=False)
    return pg


_axis_class: Any = None


def fast_axes() -> dict[str, Any]:
    """Left and bottom axes for a PlotWidget(axisItems=...) whose bounding box is worked out once
    per change of size or view, not at each of the dozens of times Qt asks for it while painting
    (with a grid the box spans the whole view: pyqtgraph's own maps rectangles each time, 13% of
    the time it took to show the Runs page)."""
    global _axis_class
    if _axis_class is None:
        pg = pyqtgraph()

        class CachedBoundsAxis(pg.AxisItem):
            _bounds: Any = None

            def boundingRect(self) -> Any:  # noqa: N802 - Qt's name
                if self._bounds is None:
                    self._bounds = super().boundingRect()
                return self._bounds

            def prepareGeometryChange(self) -> None:  # noqa: N802 - pyqtgraph calls it on grid, font, style
                self._bounds = None
                super().prepareGeometryChange()

            def resizeEvent(self, event: Any = None) -> None:  # noqa: N802
                self._bounds = None
                super().resizeEvent(event)

            def linkedViewChanged(self, view: Any, newRange: Any = None) -> None:  # noqa: N802, N803
                self._bounds = None
                super().linkedViewChanged(view, newRange)

        _axis_class = CachedBoundsAxis
    return {"left": _axis_class("left"), "bottom": _axis_class("bottom")}


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
        axis.setStyle(maxTickLevel=0)
    # Grid lines at the major ticks only, opaque in the theme's grid colour: pyqtgraph's default
    # (every tick level, translucent) made showing the Runs page's five plots 19 ms instead of 6.
    item.showGrid(x=True, y=True, alpha=1.0)
    if title:
        item.setTitle(title_html(theme, title))
    if left:
        item.setLabel("left", left, color=colors["plot_fg"])
    else:   # room for labels such as 0.0002 or 13500: pyqtgraph dropped the ones wider than its first guess
        item.getAxis("left").setWidth(QFontMetrics(font).horizontalAdvance("0.00000") + 10)
    if bottom:
        item.setLabel("bottom", bottom, color=colors["plot_fg"])
    if item.legend is not None:
        item.legend.setLabelTextColor(colors["plot_fg"])
        item.legend.setBrush(pg.mkBrush(colors["plot_bg"] + "cc"))
        item.legend.setPen(pg.mkPen(colors["grid"]))


TITLE_POINTS = 9.5


def title_html(theme: Theme, text: str) -> str:
    return f"<span style='color:{theme.colors()['plot_fg']};font-size:{TITLE_POINTS}pt;font-weight:600'>{text}</span>"


def title_width(text: str) -> float:
    """`text`'s width in the title font, as QFontMetrics measures it (pyqtgraph's HTML label
    renders wider: MetricPlot scales by the ratio it measured on its own title)."""
    return float(_title_metrics().horizontalAdvance(text))


def fitted_title(text: str, width: float) -> str:
    """The title, shortened with an ellipsis to `width` (in title_width's units): pyqtgraph makes
    a plot at least as wide as its title plus its left axis, so a title wider than that pushed
    the plot's right part (axis and curves) out of its cell on a 1024-pixel screen."""
    return _title_metrics().elidedText(text, Qt.TextElideMode.ElideRight, max(int(width), 0))


def _title_metrics() -> QFontMetrics:
    font = QFont()
    font.setPointSizeF(TITLE_POINTS)
    font.setWeight(QFont.Weight.DemiBold)
    return QFontMetrics(font)
