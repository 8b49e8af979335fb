"""The live plots of one run: loss (train and eval), learning rate, grad norm, tokens/s, memory.

While a run is live one plot is redrawn per frame, the loss every other frame (`refresh_next`):
the event loop must stay free for clicks between frames, and one plot at a time keeps each frame
to a few milliseconds (see `studio bench`'s GUI section). The x axes of a live run reach its
last step from the start, so they are not redrawn as the run advances (MetricPlot.x_end).
"""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QWidget

from studio.core.run_history import RunHistory
from studio.gui.theme import Theme
from studio.gui.widgets.metric_plot import MetricPlot

GiB = 1024 ** 3
SINGLE_SERIES = {"lr": ("lr", "lr"), "grad_norm": ("grad norm", "grad_norm"),        # plot: (curve, series)
                 "speed": ("tokens/s", "tokens_per_s"), "memory": ("memory", "mem_bytes")}


class RunPlots(QWidget):
    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loss = MetricPlot(theme, "Loss", "loss")
        self.lr = MetricPlot(theme, "Learning rate", "lr", zero_based=True)
        self.grad_norm = MetricPlot(theme, "Grad norm", "norm", zero_based=True)
        self.speed = MetricPlot(theme, "Throughput", "tokens/s", zero_based=True)
        self.memory = MetricPlot(theme, "Memory", "GiB", transform=lambda v: v / GiB, zero_based=True)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(8)
        grid.addWidget(self.loss, 0, 0, 2, 1)
        grid.addWidget(self.lr, 0, 1)
        grid.addWidget(self.grad_norm, 0, 2)
        grid.addWidget(self.speed, 1, 1)
        grid.addWidget(self.memory, 1, 2)
        grid.setColumnStretch(0, 2)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(2, 1)
        self._order = ["loss", "lr", "loss", "grad_norm", "loss", "speed", "loss", "memory"]
        self._next = 0
        self._drawn: dict[str, int] = {}          # plot -> the history version it shows

    def show_history(self, history: RunHistory, version: int = -1) -> None:
        for name in ("loss", "lr", "grad_norm", "speed", "memory"):
            self._draw(name, history)
            self._drawn[name] = version

    def refresh_next(self, history: RunHistory, version: int) -> bool:
        """Redraw the next plot in turn (the loss every other call) that does not show `version`
        yet; False when all of them do."""
        for _ in range(len(self._order)):
            name = self._order[self._next]
            self._next = (self._next + 1) % len(self._order)
            if self._drawn.get(name) != version:
                self._draw(name, history)
                self._drawn[name] = version
                return True
        return False

    def _draw(self, name: str, history: RunHistory) -> None:
        series = history.series
        plot = getattr(self, name)
        plot.x_end = history.max_steps if history.status in ("created", "running") and history.max_steps else None
        if name != "loss":
            curve, key = SINGLE_SERIES[name]
            plot.set_series(curve, series[key])
            return
        plot.set_series("train", series["loss"])
        if series["eval_loss"]:
            plot.set_series("eval", series["eval_loss"], dashed=True, points=True)
        elif "eval" in plot.curves:
            plot.retain({"train"})

    def clear(self) -> None:
        self._drawn.clear()
        for plot in (self.loss, self.lr, self.grad_norm, self.speed, self.memory):
            plot.clear_curves()
