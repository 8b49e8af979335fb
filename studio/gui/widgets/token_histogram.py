"""Token lengths of a dataset under the chosen model's tokenizer, with the max-length cut-off.

The counts come from the preview worker (LengthStats.histogram, the same numbers training
reports); each record's untruncated length comes with them, so moving max length redraws the
cut-off and recounts the examples that will be cut without tokenizing again. The plot itself is
made when the first numbers arrive (pyqtgraph is not imported at start-up), and not before the
widget is shown: numbers that come while the Data page is hidden (a preview finishing after the
person went to the Runs page) would otherwise make a plot there in the middle of a live run,
a 50 ms stall of the window.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from studio.gui.theme import Theme
from studio.gui.widgets.plot_style import pyqtgraph, style_plot


class TokenHistogram(QWidget):
    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.theme = theme
        self.lengths: Any = ()
        self.stats: dict[str, Any] = {}
        self.max_len = 0
        self.plot: Any = None
        self.bars: Any = None
        self.cutoff: Any = None
        self.cutoff_label: Any = None
        self._drawn = True                       # False while numbers wait for the widget to be shown
        self.summary = QLabel("Pick a base model on the Train page to see token lengths.")
        self.summary.setWordWrap(True)
        self.summary.setProperty("role", "muted")
        self.box = QVBoxLayout(self)
        self.box.setContentsMargins(8, 8, 8, 8)
        self.box.addWidget(self.summary)
        self.box.addStretch(1)
        theme.changed.connect(self.restyle)

    def _ensure_plot(self) -> None:
        if self.plot is not None:
            return
        pg = pyqtgraph()
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.cutoff = pg.InfiniteLine(angle=90, movable=False)
        self.cutoff_label = pg.TextItem(anchor=(1.05, 0))
        self.plot.addItem(self.cutoff)
        self.plot.addItem(self.cutoff_label)
        self.box.takeAt(1)                        # the stretch that held the place
        self.box.addWidget(self.plot, 1)
        self.restyle()

    def restyle(self) -> None:
        if self.plot is None:
            return
        pg = pyqtgraph()
        style_plot(self.plot, self.theme, left="examples", bottom="tokens per example")
        colors = self.theme.colors()
        self.cutoff.setPen(pg.mkPen(colors["bad"], width=2, style=pg.QtCore.Qt.PenStyle.DashLine))
        self.cutoff_label.setColor(colors["bad"])
        if self.bars is not None:
            self.bars.setOpts(brush=pg.mkBrush(self.theme.series()[0] + "b0"), pen=pg.mkPen(None))

    def set_message(self, text: str) -> None:
        self.summary.setText(text)
        self._drawn = True                 # numbers held back while hidden are out of date now

    def set_stats(self, stats: dict[str, Any], lengths: list[int], max_len: int) -> None:
        import numpy as np

        self.stats = stats
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self._drawn = False
        if self.isVisible():
            self._draw_bars()
        self.set_max_len(max_len)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._drawn:
            self._draw_bars()
            self.set_max_len(self.max_len)

    def _draw_bars(self) -> None:
        import numpy as np

        self._ensure_plot()
        self._drawn = True
        pg = pyqtgraph()
        stats = self.stats
        if self.bars is not None:
            self.plot.removeItem(self.bars)
            self.bars = None
        edges, counts = stats.get("histogram") or ([], [])
        if counts:
            edges_a = np.asarray(edges, dtype=float)
            self.bars = pg.BarGraphItem(x0=edges_a[:-1], x1=edges_a[1:], height=np.asarray(counts, dtype=float),
                                        brush=pg.mkBrush(self.theme.series()[0] + "b0"), pen=pg.mkPen(None))
            self.plot.addItem(self.bars)

    def set_max_len(self, max_len: int) -> None:
        self.max_len = max_len
        if not len(self.lengths):
            return
        longer = int((self.lengths > max_len).sum())
        s = self.stats
        self.summary.setText(
            f"{len(self.lengths):,} examples · mean {s.get('mean', 0):,.0f} · p95 {s.get('p95', 0):,} · "
            f"longest {s.get('max', 0):,} tokens.  "
            + (f"<b>{longer:,} ({100 * longer / len(self.lengths):.1f}%) are longer than max length {max_len:,} "
               "and will be cut.</b>" if longer else f"All fit in max length {max_len:,}."))
        if self.plot is None or not self._drawn:
            return
        self.cutoff.setValue(max_len)
        counts = (self.stats.get("histogram") or ([], [1]))[1] or [1]
        self.cutoff_label.setText(f"max length {max_len:,}")
        self.cutoff_label.setPos(max_len, max(counts))
        top = max(int(self.lengths.max()), max_len)
        self.plot.setXRange(0, top * 1.05, padding=0)
        self.plot.setYRange(0, max(counts) * 1.15, padding=0)
