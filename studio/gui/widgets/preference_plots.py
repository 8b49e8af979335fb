"""The figures of a preference run (DPO, ORPO, KTO): rewards of the chosen and rejected answers,
their margin, preference accuracy, and the objective's own extra (KTO's KL, ORPO's NLL loss).

Train curves are solid, eval curves dashed with points in the same colour, so "chosen (eval)"
reads as the held-out twin of "chosen". Chosen is always the palette's green and rejected its
red whatever was drawn first. Accuracy keeps a 0-1 axis: a share drawn on an axis fitted to
0.93-0.97 would look like a collapse. A plot whose series the objective does not log is hidden
(KTO logs no accuracy, DPO neither KL nor NLL), and the others fill the two columns.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QGridLayout, QWidget

from studio.core.run_history import RunHistory
from studio.gui.theme import Theme
from studio.gui.widgets.metric_plot import MetricPlot

PREFERENCE_OBJECTIVES = ("dpo", "orpo", "kto")
CHOSEN, REJECTED = 2, 3              # palette slots: green, red
# plot -> the series it draws: (curve name, series key, colour slot, eval?). The eval rewards have
# no legend entry: four entries would cover a small plot, and dashed is eval on every plot.
CURVES: dict[str, list[tuple[str, str, int | None, bool]]] = {
    "rewards": [("chosen", "reward_chosen", CHOSEN, False), ("rejected", "reward_rejected", REJECTED, False),
                ("chosen (eval)", "eval_reward_chosen", CHOSEN, True),
                ("rejected (eval)", "eval_reward_rejected", REJECTED, True)],
    "accuracy": [("train", "pref_accuracy", 0, False), ("eval", "eval_pref_accuracy", 1, True)],
    "margin": [("train", "reward_margin", 0, False), ("eval", "eval_reward_margin", 1, True)],
    "kl": [("train", "kl", 0, False), ("eval", "eval_kl", 1, True)],
    "nll": [("train", "nll_loss", 0, False), ("eval", "eval_nll_loss", 1, True)],
}
NAMES = tuple(CURVES)
LEGEND_FROM = 220          # px of plot width and height


def is_preference_run(history: RunHistory) -> bool:
    """From the objective the worker reported (data_stats), else from the series logged: a run
    replayed from an events.jsonl of an older worker has only the latter."""
    objective = history.data_stats.get("objective")
    if objective:
        return objective in PREFERENCE_OBJECTIVES
    return any(history.series.get(key) for key in ("reward_chosen", "reward_margin", "pref_accuracy", "kl"))


def logged(history: RunHistory, name: str) -> bool:
    return any(history.series.get(key) for _, key, _, _ in CURVES[name])


class PreferencePlots(QWidget):
    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Short titles: a plot is 140 px wide on a 1024-pixel screen. Legends go to the corner the
        # curves leave free: rewards part downwards from 0, accuracy rises from about 0.5, the margin from 0.
        # Narrower than LEGEND_FROM (each plot on a 1024-pixel screen) the legend would hide the curves.
        self.rewards = MetricPlot(theme, "Rewards", "reward", legend_at=(8, -8), legend_from=LEGEND_FROM)
        self.accuracy = MetricPlot(theme, "Accuracy", "share of pairs", y_range=(0.0, 1.0), legend_at=(-8, -8),
                                   legend_from=LEGEND_FROM)
        self.margin = MetricPlot(theme, "Margin", "reward", legend_at=(8, 8), legend_from=LEGEND_FROM)
        self.kl = MetricPlot(theme, "KL", "nats", zero_based=True, legend_at=(-8, -8), legend_from=LEGEND_FROM)
        self.nll = MetricPlot(theme, "NLL loss", "loss", legend_from=LEGEND_FROM)
        for plot, tip in ((self.rewards, "Rewards of the chosen (green) and rejected (red) answers: β × the "
                                         "log-probability ratio of the adapter to the reference, averaged. "
                                         "Solid: training batches; dashed: the eval pairs"),
                          (self.accuracy, "Preference accuracy: the share of pairs whose chosen answer gets the "
                                          "higher reward (solid: training batches; dashed: the eval pairs)"),
                          (self.margin, "Reward margin: the chosen answer's reward minus the rejected one's, "
                                        "averaged over pairs"),
                          (self.kl, "KTO's estimate of the KL divergence of the adapter from the reference"),
                          (self.nll, "ORPO's supervised part: the loss on the chosen answers")):
            plot.setToolTip(tip)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(8)
        self.shown: tuple[str, ...] = ()
        self.arrange(("rewards", "accuracy", "margin"))

    def plots(self) -> dict[str, MetricPlot]:
        return {name: getattr(self, name) for name in NAMES}

    def arrange(self, names: tuple[str, ...]) -> None:
        """Lay out these plots two per row (the last spans both when alone); hide the others."""
        if names == self.shown:
            return
        self.shown = names
        for plot in self.plots().values():
            self.grid.removeWidget(plot)
            plot.hide()
        for index, name in enumerate(names):
            row, column = divmod(index, 2)
            span = 2 if index == len(names) - 1 and column == 0 else 1
            self.grid.addWidget(getattr(self, name), row, column, 1, span)
            getattr(self, name).show()
        for column in (0, 1):
            self.grid.setColumnStretch(column, 1)

    def wanted(self, history: RunHistory) -> tuple[str, ...]:
        """Rewards, accuracy and margin while nothing is logged yet (a live run's first steps);
        then those the run logs, plus KL or NLL when it logs them."""
        logged_any = [name for name in NAMES if logged(history, name)]
        if not logged_any:
            return ("rewards", "accuracy", "margin")
        return tuple(logged_any)

    def draw(self, name: str, history: RunHistory, x_end: Any) -> None:
        plot = getattr(self, name)
        plot.x_end = x_end
        kept = set()
        for curve, key, slot, is_eval in CURVES[name]:
            series = history.series.get(key) or {}
            if series or not is_eval:        # an eval curve appears with the first evaluation
                plot.set_series(curve, series, dashed=is_eval, points=is_eval, slot=slot,
                                legend=not (is_eval and name == "rewards"))
                kept.add(curve)
        plot.retain(kept)

    def clear(self) -> None:
        for plot in self.plots().values():
            plot.clear_curves()
