"""The live plots of one run: loss (train and eval), learning rate, grad norm, tokens/s, memory."""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QWidget

from studio.core.run_history import RunHistory
from studio.gui.theme import Theme
from studio.gui.widgets.metric_plot import MetricPlot

GiB = 1024 ** 3


class RunPlots(QWidget):
    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loss = MetricPlot(theme, "Loss")
        self.lr = MetricPlot(theme, "Learning rate")
        self.grad_norm = MetricPlot(theme, "Grad norm")
        self.speed = MetricPlot(theme, "Throughput", "tokens/s")
        self.memory = MetricPlot(theme, "Memory", "GiB", transform=lambda v: v / GiB)
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

    def show_history(self, history: RunHistory) -> None:
        series = history.series
        self.loss.set_series("train", series["loss"])
        if series["eval_loss"] or "eval" in self.loss.curves:
            self.loss.set_series("eval", series["eval_loss"], dashed=True, points=True)
        self.lr.set_series("lr", series["lr"])
        self.grad_norm.set_series("grad norm", series["grad_norm"])
        self.speed.set_series("tokens/s", series["tokens_per_s"])
        self.memory.set_series("memory", series["mem_bytes"])

    def clear(self) -> None:
        for plot in (self.loss, self.lr, self.grad_norm, self.speed, self.memory):
            plot.clear_curves()
