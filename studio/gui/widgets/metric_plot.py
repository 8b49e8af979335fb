"""A metric over training steps (loss, learning rate, ...), fast with hundreds of thousands of points.

Redrawn by the page's 10 Hz timer, never per event. pyqtgraph draws only what is in view
(clipToView) and a few points per pixel (peak downsampling keeps spikes visible), and the numpy
arrays are rebuilt only when the run's history changed since the last frame. Series of more than
a hundred points are drawn with a 1-pixel pen: Qt strokes an antialiased wider pen
slowly, the more so the noisier the curve (measured offscreen, 420x440 px, a noisy loss: 500
points 10.6 ms with 2 px, 0.7 ms with 1 px; 2,000 points 50 ms vs 1.2 ms).

A live plot must not redraw its axes every frame: pyqtgraph's auto-range moves the view with
every new point, and regenerating an axis with its grid (tick text, grid lines) was most of a
frame (8-14 ms of a plot's 11-14 ms offscreen, 30-50 ms while training uses every core). So the
view moves only when the data leaves it, with headroom (`stable_range`), the x axis reaching the
run's last step from the start (`x_end`), and the axes are cached as pixmaps that are redrawn
only when the view moved. Panning or zooming by hand stops the view following the data until a
double-click.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGraphicsItem, QVBoxLayout, QWidget

from studio.gui.theme import Theme
from studio.gui.widgets.plot_style import fast_axes, fitted_title, pyqtgraph, style_plot, title_html, title_width


def series_arrays(series: dict[int, float]) -> tuple[Any, Any]:
    """Steps and values as numpy arrays, sorted by step (dicts keep insertion order, usually sorted)."""
    import numpy as np

    steps = np.fromiter(series.keys(), dtype=np.float64, count=len(series))
    values = np.fromiter(series.values(), dtype=np.float64, count=len(series))
    if len(steps) > 1 and np.any(np.diff(steps) < 0):
        order = np.argsort(steps, kind="stable")
        steps, values = steps[order], values[order]
    return steps, values


TITLE_MARGIN = 8         # px beside the title, right of the left axis
THIN_ABOVE = 100         # points: past this the curve is drawn with a 1-pixel pen
HEADROOM = 0.08          # of the data's span, added on the side where the data left the view

Bounds = tuple[float, float, float, float]        # x min, x max, y min, y max


def stable_range(view: tuple[float, float] | None, lo: float, hi: float, pad_lo: bool = True) -> tuple[float, float]:
    """The view (lo', hi') to show data spanning lo..hi: the current one while the data fits it and
    fills at least half of it, else one with HEADROOM on each side, so that a growing series moves
    the view now and then, not on every point."""
    span = hi - lo if hi > lo else (abs(hi) or 1.0)
    if view is not None and view[0] <= lo and view[1] >= hi and (view[1] - view[0]) <= 2 * span:
        return view
    return (lo - HEADROOM * span if pad_lo else lo), hi + HEADROOM * span


class MetricPlot(QWidget):
    def __init__(self, theme: Theme, title: str, unit: str = "", transform: Callable[[Any], Any] | None = None,
                 parent: QWidget | None = None, *, zero_based: bool = False,
                 y_range: tuple[float, float] | None = None, legend_at: tuple[int, int] = (-8, 8),
                 legend_from: int = 0, short_title: str = "") -> None:
        """`unit` labels the y axis (the title stays short enough to fit a narrow plot: a longer
        one widens the plot past its cell and is cut off); `zero_based` keeps 0 in view, so that a
        flat series (memory) is not magnified noise; `y_range` fixes the y axis (a share: 0-1),
        widened only if a value falls outside it; `legend_at` is pyqtgraph's legend offset
        (negative: from the right or bottom), a corner the curves usually leave free; below
        `legend_from` pixels of width or height the legend is hidden (it would cover the curves;
        the colours stay the same, and the tooltip names them); `short_title` is shown when the
        title does not fit (it is shortened with an ellipsis otherwise)."""
        super().__init__(parent)
        pg = pyqtgraph()
        self.theme = theme
        self.title = title
        self.short_title = short_title
        self.unit = unit
        self.transform = transform
        self.zero_based = zero_based
        self.y_range = y_range
        self._empty: bool | None = None          # what _show_empty last showed
        self.curves: dict[str, Any] = {}
        self.x_end: float | None = None          # the step the x axis reaches (a live run's last step)
        self._bounds: dict[str, Bounds] = {}
        self._view: tuple[tuple[float, float], tuple[float, float]] | None = None
        self._follow = True                      # False once the person pans or zooms
        self.plot_widget = pg.PlotWidget(axisItems=fast_axes())
        self.plot_widget.setMenuEnabled(False)
        self.plot_widget.hideButtons()
        self.setMinimumHeight(150)
        self.plot_item = self.plot_widget.getPlotItem()
        self.plot_item.disableAutoRange()
        self.plot_item.getViewBox().sigRangeChangedManually.connect(self._moved_by_hand)
        self.plot_widget.scene().sigMouseClicked.connect(self._clicked)
        for name in ("left", "bottom"):
            axis = self.plot_item.getAxis(name)
            axis.enableAutoSIPrefix(False)
            axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.plot_item.addLegend(offset=legend_at, labelTextSize="8pt")
        self.plot_item.legend.setVisible(False)
        self.legend_from = legend_from
        self.empty_note = pg.TextItem("no data yet", anchor=(0.5, 0.5))
        self.plot_item.addItem(self.empty_note, ignoreBounds=True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget)
        theme.changed.connect(self.restyle)
        self.restyle()

    def restyle(self) -> None:
        pg = pyqtgraph()
        style_plot(self.plot_widget, self.theme, title=self.title, left=self.unit, bottom="step")
        self._title_shown = self.title
        rendered = self.plot_item.titleLabel.itemRect().width()      # pyqtgraph's HTML, wider than metrics
        self._title_scale = title_width(self.title) / rendered if rendered > 0 else 1.0
        self._fit_title()
        self.empty_note.setColor(self.theme.colors()["muted"])
        self._empty = None
        self._show_empty(not any(b is not None for b in self._bounds.values()))
        palette = self.theme.series()
        for curve in self.curves.values():
            color = palette[curve.opts["_slot"] % len(palette)]
            curve.setPen(pg.mkPen(color, width=curve.opts.get("_width", 2), style=curve.opts.get("_style")))
            if curve.opts.get("symbol"):
                curve.setSymbolBrush(color)
                curve.setSymbolPen(color)

    def curve(self, name: str, dashed: bool = False, points: bool = False, slot: int | None = None,
              legend: bool = True) -> Any:
        """The curve called `name`, made on first use in colour `slot` of the palette (a fixed
        colour: chosen green, rejected red), else in the first colour no other curve uses; without
        `legend` it has no legend entry (a dashed eval twin of a curve the legend names)."""
        if name not in self.curves:
            pg = pyqtgraph()
            palette = self.theme.series()
            used = {c.opts["_slot"] for c in self.curves.values()}
            if slot is None:
                slot = next(i for i in range(len(self.curves) + 1) if i not in used)     # the first free colour
            color = palette[slot % len(palette)]
            style = pg.QtCore.Qt.PenStyle.DashLine if dashed else pg.QtCore.Qt.PenStyle.SolidLine
            item = self.plot_widget.plot([], [], name=name if legend else None,
                                         pen=pg.mkPen(color, width=2, style=style),
                                         symbol="o" if points else None, symbolSize=6, symbolBrush=color,
                                         symbolPen=color, skipFiniteCheck=True)
            item.opts["_style"] = style
            item.opts["_slot"] = slot
            item.setDownsampling(auto=True, method="peak")
            item.setClipToView(True)
            self.curves[name] = item
            self._show_legend()
        return self.curves[name]

    def set_series(self, name: str, series: dict[int, float], dashed: bool = False, points: bool = False,
                   slot: int | None = None, legend: bool = True) -> None:
        steps, values = series_arrays(series)
        if self.transform is not None and len(values):
            values = self.transform(values)
        curve = self.curve(name, dashed, points, slot, legend)
        width = 1 if len(steps) > THIN_ABOVE else 2
        if curve.opts.get("_width", 2) != width:
            curve.opts["_width"] = width
            pen = curve.opts["pen"]
            curve.setPen(pyqtgraph().mkPen(pen.color() if hasattr(pen, "color") else pen, width=width,
                                           style=curve.opts.get("_style")))
        curve.setData(steps, values)
        self._bounds[name] = _bounds(steps, values)
        self.fit_view()

    def fit_view(self, force: bool = False) -> None:
        """Move the view to the data only when the data left it (see the module's docstring)."""
        if not self._follow and not force:
            return
        bounds = [b for b in self._bounds.values() if b is not None]
        self._show_empty(not bounds)
        if not bounds:
            return
        x_lo, x_hi = min(b[0] for b in bounds), max(b[1] for b in bounds)
        if self.x_end is not None and self.x_end > x_hi:
            x_hi = self.x_end
        y_lo, y_hi = min(b[2] for b in bounds), max(b[3] for b in bounds)
        if self.zero_based:
            y_lo = min(0.0, y_lo)
        old = None if force else self._view
        x = (x_lo, x_hi) if self.x_end is not None else stable_range(old and old[0], x_lo, x_hi, pad_lo=False)
        if self.y_range is not None:       # fixed, with a margin so that points on 0 and 1 show whole
            lo, hi = min(self.y_range[0], y_lo), max(self.y_range[1], y_hi)
            y = (lo - 0.04 * (hi - lo), hi + 0.04 * (hi - lo))
        else:
            y = stable_range(old and old[1], y_lo, y_hi)
        view = (x, y)
        if view != self._view:
            self._view = view
            self.plot_item.setRange(xRange=view[0], yRange=view[1], padding=0)

    def _show_empty(self, empty: bool) -> None:
        """An empty plot says so, instead of showing made-up 0-1 axes. Changed only when it changes:
        restyling an axis regenerates it, which a live plot must not do every frame."""
        if empty == self._empty:
            return
        self._empty = empty
        self.empty_note.setVisible(empty)
        for name in ("left", "bottom"):
            self.plot_item.getAxis(name).setStyle(showValues=not empty)
        if empty:
            self.plot_item.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
            self.empty_note.setPos(0.5, 0.5)

    def _moved_by_hand(self, *_args: Any) -> None:
        self._follow = False

    def _clicked(self, event: Any) -> None:
        if event.double():            # back to following the data
            self._follow = True
            self._view = None          # the view shown is the person's, whatever was fitted before
            self.fit_view(force=True)

    def retain(self, names: set[str]) -> None:
        """Remove the curves not named (reusing the others is much cheaper than making them anew)."""
        for name in [n for n in self.curves if n not in names]:
            curve = self.curves.pop(name)
            self._bounds.pop(name, None)
            self.plot_item.legend.removeItem(curve)
            self.plot_widget.removeItem(curve)
        self._show_legend()

    def _show_legend(self) -> None:
        """The legend when it names more than one curve and the plot is wide enough for it."""
        shown = len(self.plot_item.legend.items) > 1 and min(self.width(), self.height()) >= self.legend_from
        if shown != self.plot_item.legend.isVisible():
            self.plot_item.legend.setVisible(shown)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._fit_title()
        if self.legend_from:
            self._show_legend()

    def _fit_title(self) -> None:
        """The title shortened to the plot's width (set again only when that changes it)."""
        axis = self.plot_item.getAxis("left")           # what it needs, which may be more than it has now
        room = self.width() - max(axis.width(), axis.effectiveSizeHint(Qt.SizeHint.MinimumSize).width()) - TITLE_MARGIN
        text = fitted_title(self.title, room * self._title_scale)
        if text != self.title and self.short_title:
            text = fitted_title(self.short_title, room * self._title_scale)
        if text != self._title_shown:
            self._title_shown = text
            self.plot_item.setTitle(title_html(self.theme, text))
            if text != self.title and not self.toolTip():
                self.setToolTip(self.title)          # the whole title on hover

    def clear_curves(self) -> None:
        """Empty every curve (kept for the next run), follow the data again."""
        for curve in self.curves.values():
            curve.setData([], [])
        self._bounds.clear()
        self._view = None
        self._follow = True
        self.x_end = None
        self._show_empty(True)


def _bounds(steps: Any, values: Any) -> Bounds | None:
    import numpy as np

    finite = np.isfinite(values)
    if not len(steps) or not finite.any():
        return None
    shown = values[finite]
    return float(steps[0]), float(steps[-1]), float(shown.min()), float(shown.max())
