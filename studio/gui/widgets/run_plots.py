"""The live plots of one run: loss (train and eval), learning rate, grad norm, tokens/s, memory,
and for a preference run (DPO, ORPO, KTO) its rewards, margin and preference accuracy.

The loss keeps the left half. A preference run's own figures share the right half with the
training ones through two tabs, Preference (shown first) and Training: four more small plots
would not fit a laptop screen beside them. An SFT run has no tabs and looks as it always did.

While a run is live one plot is redrawn per frame, the loss every other frame (`refresh_next`):
the event loop must stay free for clicks between frames, and one plot at a time keeps each frame
to a few milliseconds (see `studio bench`'s GUI section). Plots on the tab not shown are not
drawn; they catch up when their tab is picked. The x axes of a live run reach its last step from
the start, so they are not redrawn as the run advances (MetricPlot.x_end).
"""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QTabWidget, QWidget

from studio.core.run_history import RunHistory
from studio.gui.theme import Theme
from studio.gui.widgets.metric_plot import MetricPlot
from studio.gui.widgets.preference_plots import PreferencePlots, is_preference_run

GiB = 1024 ** 3
SINGLE_SERIES = {"lr": ("lr", "lr"), "grad_norm": ("grad norm", "grad_norm"),        # plot: (curve, series)
                 "speed": ("tokens/s", "tokens_per_s"), "memory": ("memory", "mem_bytes")}
TRAINING = ("lr", "grad_norm", "speed", "memory")


class RunPlots(QWidget):
    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loss = MetricPlot(theme, "Loss", "loss")
        self.lr = MetricPlot(theme, "Learning rate", "lr", zero_based=True, short_title="LR")
        self.grad_norm = MetricPlot(theme, "Grad norm", "norm", zero_based=True)
        self.speed = MetricPlot(theme, "Throughput", "tokens/s", zero_based=True, short_title="Speed")
        self.memory = MetricPlot(theme, "Memory", "GiB", transform=lambda v: v / GiB, zero_based=True)
        self.preference = PreferencePlots(theme)
        training = QWidget()
        small = QGridLayout(training)
        small.setContentsMargins(0, 0, 0, 0)
        small.setSpacing(8)
        for index, name in enumerate(TRAINING):
            small.addWidget(getattr(self, name), *divmod(index, 2))
        self.tabs = QTabWidget()
        self.tabs.setObjectName("run-plot-tabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.preference, "Preference")
        self.tabs.addTab(training, "Training")
        self.tabs.currentChanged.connect(self._tab_changed)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(8)
        grid.addWidget(self.loss, 0, 0)
        grid.addWidget(self.tabs, 0, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        self._next = 0
        self._drawn: dict[str, int] = {}          # plot -> the history version it shows
        self._history: RunHistory | None = None
        self._version = -1
        self._kind: bool | None = None            # a preference run's layout is shown (None: not decided yet)
        self._set_kind(False)

    @property
    def is_preference(self) -> bool:
        return bool(self._kind)

    def _set_kind(self, preference: bool) -> None:
        """Tabs, Preference first, for a preference run; the training plots alone otherwise."""
        if preference == self._kind:
            return
        self._kind = preference
        self.tabs.tabBar().setVisible(preference)
        self.tabs.setTabEnabled(0, preference)
        self.tabs.blockSignals(True)          # no catch-up: the caller draws (a live run one plot per frame)
        self.tabs.setCurrentIndex(0 if preference else 1)
        self.tabs.blockSignals(False)

    def visible_names(self) -> list[str]:
        """The plots on screen: the loss and those of the tab shown."""
        if self.tabs.currentIndex() == 0 and self.is_preference:
            return ["loss", *self.preference.shown]
        return ["loss", *TRAINING]

    def _order(self) -> list[str]:
        others = self.visible_names()[1:]
        return [name for other in others for name in ("loss", other)]

    def _follow(self, history: RunHistory, version: int) -> None:
        self._history, self._version = history, version
        self._set_kind(is_preference_run(history))
        if self.is_preference:
            self.preference.arrange(self.preference.wanted(history))

    def show_history(self, history: RunHistory, version: int = -1) -> None:
        self._follow(history, version)
        for name in self.visible_names():
            self._draw(name, history)
            self._drawn[name] = version

    def refresh_next(self, history: RunHistory, version: int) -> bool:
        """Redraw the next plot in turn (the loss every other call) that does not show `version`
        yet; False when all of them do."""
        self._follow(history, version)
        order = self._order()
        for _ in range(len(order)):
            self._next %= len(order)
            name = order[self._next]
            self._next += 1
            if self._drawn.get(name) != version:
                self._draw(name, history)
                self._drawn[name] = version
                return True
        return False

    def _tab_changed(self, index: int) -> None:
        if index == 0 and not self.is_preference:    # (its tab bar is hidden; a shortcut could still pick it)
            self.tabs.setCurrentIndex(1)
            return
        self._catch_up()

    def _catch_up(self) -> None:
        """The tab picked shows its plots at once (they were not drawn while hidden)."""
        if self._history is None:
            return
        for name in self.visible_names():
            if self._drawn.get(name) != self._version:
                self._draw(name, self._history)
                self._drawn[name] = self._version

    def _draw(self, name: str, history: RunHistory) -> None:
        series = history.series
        x_end = history.max_steps if history.status in ("created", "running") and history.max_steps else None
        if name in self.preference.plots():
            self.preference.draw(name, history, x_end)
            return
        plot = getattr(self, name)
        plot.x_end = x_end
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
        self._history, self._version = None, -1
        self._kind = None                 # the next run decides its own layout
        for plot in (self.loss, self.lr, self.grad_norm, self.speed, self.memory):
            plot.clear_curves()
        self.preference.clear()
