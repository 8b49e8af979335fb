"""The Runs page's plots of a preference run, from fixture events (no training): rewards of the
chosen and rejected answers (train solid, eval dashed in the same colour), the margin, preference
accuracy on a 0-1 axis, KTO's KL; the Preference and Training tabs; an SFT run as it always was."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from studio.core.run_history import RunHistory
from studio.gui.theme import Theme
from studio.gui.widgets.preference_plots import CHOSEN, LEGEND_FROM, REJECTED
from studio.gui.widgets.run_plots import RunPlots


def history_of(objective: str, steps: int = 20, evals: tuple[int, ...] = (10, 20), status: str = "completed") -> RunHistory:
    """A replayed run of `objective`: the fields its TRL trainer logs, as our events carry them."""
    history = RunHistory()
    history.apply({"type": "hello", "t": 1.0})
    history.apply({"type": "data_stats", "objective": objective, "train_examples": 40, "eval_examples": 10})
    history.apply({"type": "progress", "step": 0, "max_steps": steps})
    for step in range(1, steps + 1):
        event = {"type": "metrics", "step": step, "loss": 0.7 - 0.02 * step, "lr": 1e-4, "grad_norm": 1.0,
                 "tokens_per_s": 500.0, "mem_bytes": 2**30}
        if objective != "sft":
            event.update(reward_chosen=0.05 * step, reward_rejected=-0.04 * step, reward_margin=0.09 * step)
        if objective in ("dpo", "orpo"):
            event["pref_accuracy"] = min(1.0, 0.5 + 0.03 * step)
        if objective == "kto":
            event["kl"] = 0.01 * step
        history.apply(event)
    for step in evals:
        event = {"type": "eval", "step": step, "eval_loss": 0.6}
        if objective != "sft":
            event.update(eval_reward_chosen=0.04 * step, eval_reward_rejected=-0.03 * step,
                         eval_reward_margin=0.07 * step)
        if objective in ("dpo", "orpo"):
            event["eval_pref_accuracy"] = 0.9 if step == steps else 0.6
        history.apply(event)
    if status != "running":
        history.apply({"type": "done", "status": status})
    return history


@pytest.fixture()
def plots(qtbot, tmp_path: Path) -> RunPlots:  # noqa: ANN001
    widget = RunPlots(Theme(QSettings(str(tmp_path / "gui.ini"), QSettings.Format.IniFormat)))
    qtbot.addWidget(widget)
    widget.resize(900, 460)
    widget.show()
    return widget


def data(curve) -> tuple[list[float], list[float]]:  # noqa: ANN001
    xs, ys = curve.getData()
    return ([] if xs is None else list(xs)), ([] if ys is None else [round(float(y), 6) for y in ys])


def y_view(plot) -> tuple[float, float]:  # noqa: ANN001
    return tuple(plot.plot_item.getViewBox().viewRange()[1])


def test_a_dpo_run_shows_rewards_margin_and_accuracy_first(plots: RunPlots) -> None:
    history = history_of("dpo")
    plots.show_history(history, version=1)
    assert plots.tabs.tabBar().isVisible() and plots.tabs.currentWidget() is plots.preference
    assert plots.preference.shown == ("rewards", "accuracy", "margin")
    assert not plots.preference.kl.isVisible() and plots.preference.accuracy.isVisible()

    rewards = plots.preference.rewards.curves
    assert set(rewards) == {"chosen", "rejected", "chosen (eval)", "rejected (eval)"}
    assert rewards["chosen"].opts["_slot"] == rewards["chosen (eval)"].opts["_slot"] == CHOSEN
    assert rewards["rejected"].opts["_slot"] == rewards["rejected (eval)"].opts["_slot"] == REJECTED
    assert data(rewards["rejected (eval)"]) == ([10.0, 20.0], [-0.3, -0.6])
    legend = plots.preference.rewards.plot_item.legend
    assert [label.text for _, label in legend.items] == ["chosen", "rejected"]     # dashed is eval everywhere
    plots.resize(1400, 600)
    QApplication.processEvents()
    assert legend.isVisible() and plots.preference.rewards.height() >= LEGEND_FROM
    plots.resize(700, 460)                   # a 1024-pixel screen: the legend would cover the curves
    QApplication.processEvents()
    assert not legend.isVisible() and plots.loss.plot_item.legend.isVisible()

    accuracy = plots.preference.accuracy
    assert data(accuracy.curves["eval"]) == ([10.0, 20.0], [0.6, 0.9])
    assert len(data(accuracy.curves["train"])[0]) == 20
    low, high = y_view(accuracy)
    assert -0.1 < low <= 0.0 and 1.0 <= high < 1.1          # the whole 0-1 share, not fitted to 0.53-1.0
    assert plots.preference.margin.curves["train"].opts["_style"] != plots.preference.margin.curves["eval"].opts["_style"]
    assert data(plots.preference.margin.curves["eval"])[1] == [0.7, 1.4]

    assert data(plots.loss.curves["train"])[0][-1] == 20.0
    assert "lr" not in plots.lr.curves or not data(plots.lr.curves["lr"])[0]        # hidden tab: not drawn yet
    plots.tabs.setCurrentIndex(1)                                                   # Training: drawn at once
    assert len(data(plots.lr.curves["lr"])[0]) == 20 and len(data(plots.memory.curves["memory"])[0]) == 20


def test_an_sft_run_looks_as_before_without_tabs(plots: RunPlots) -> None:
    plots.show_history(history_of("sft"), version=1)
    assert not plots.tabs.tabBar().isVisible() and plots.tabs.currentIndex() == 1
    assert len(data(plots.grad_norm.curves["grad norm"])[0]) == 20
    assert not any(plot.curves for plot in plots.preference.plots().values())
    old = RunHistory()                        # a run of an older worker: no objective in data_stats, no series
    old.apply({"type": "metrics", "step": 1, "loss": 1.0})
    plots.clear()
    plots.show_history(old, version=1)
    assert not plots.is_preference


def test_a_kto_run_shows_kl_instead_of_accuracy(plots: RunPlots) -> None:
    plots.show_history(history_of("kto"), version=1)
    assert plots.preference.shown == ("rewards", "margin", "kl")
    assert plots.preference.kl.isVisible() and not plots.preference.accuracy.isVisible()
    assert data(plots.preference.kl.curves["train"])[1][-1] == 0.2


def test_selecting_another_run_switches_the_layout(plots: RunPlots) -> None:
    plots.show_history(history_of("dpo"), version=1)
    plots.clear()
    plots.show_history(history_of("sft"), version=2)
    assert not plots.is_preference and plots.tabs.currentIndex() == 1
    plots.clear()
    plots.show_history(history_of("orpo"), version=3)
    assert plots.is_preference and plots.tabs.currentIndex() == 0


def test_a_live_preference_run_redraws_only_the_plots_shown(plots: RunPlots) -> None:
    history = history_of("dpo", evals=(), status="running")
    plots.show_history(RunHistory(), version=0)
    drawn = [plots.refresh_next(history, 1) for _ in range(8)]
    assert drawn == [True] * 4 + [False] * 4       # loss, rewards, accuracy, margin; then nothing is behind
    assert plots.preference.accuracy.x_end == 20     # the x axis reaches the last step of the live run
    assert "lr" not in plots.lr.curves or not data(plots.lr.curves["lr"])[0]


def test_the_runs_page_shows_a_preference_run_folder(app, qtbot) -> None:  # noqa: ANN001
    """A DPO run's folder (fixture events): its plots open on Preference, Details says the objective."""
    from helpers import write_jsonl
    from studio.core.run_setup import create_run
    from studio.core.runs import EVENTS

    ctx, window = app
    config = ctx.config.snapshot()
    config.name, config.train.objective, config.pref.beta = "pairs-dpo", "dpo", 0.2
    run_dir = create_run(ctx.workspace, config)
    history = history_of("dpo")
    events = [{"type": "hello", "t": 1.0}, {"type": "data_stats", "objective": "dpo"}]
    events += [{"type": "metrics", "step": s, **{k: v[s] for k, v in history.series.items() if s in v}}
               for s in range(1, 21)]
    events += [{"type": "eval", "step": s, **{k: v[s] for k, v in history.series.items() if k.startswith("eval_")
                                             and s in v}} for s in (10, 20)]
    write_jsonl(run_dir / EVENTS, [{"v": 1, **e} for e in events + [{"type": "done", "status": "completed"}]])
    ctx.runs.refresh()
    window.show_page("Runs")
    runs = window.page("Runs")
    runs.list.select(run_dir.name)
    qtbot.waitUntil(lambda: runs.selected == run_dir.name, timeout=5000)
    assert runs.plots.is_preference and runs.plots.tabs.currentWidget() is runs.plots.preference
    assert data(runs.plots.preference.accuracy.curves["eval"]) == ([10.0, 20.0], [0.6, 0.9])
    details = runs.details.toPlainText()
    assert "dpo (beta 0.2, sigmoid loss), reference base model" in details
    assert "train: accuracy 100%, margin 1.8; eval: accuracy 90%, margin 1.4" in details
