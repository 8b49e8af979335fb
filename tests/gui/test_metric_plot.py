"""Live plots: the view moves only when the data leaves it (so the axes are not redrawn every
frame), a person's pan or zoom is kept until a double-click, curves are reused, and the run list
updates its rows without telling the compare plot that the ticked runs changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt

from studio.gui.theme import Theme
from studio.gui.widgets.metric_plot import HEADROOM, MetricPlot, stable_range


@pytest.fixture()
def plot(qtbot, tmp_path: Path) -> MetricPlot:  # noqa: ANN001
    widget = MetricPlot(Theme(QSettings(str(tmp_path / "gui.ini"), QSettings.Format.IniFormat)), "Loss")
    qtbot.addWidget(widget)
    widget.resize(400, 300)
    widget.show()
    return widget


def view(plot: MetricPlot) -> tuple[tuple[float, float], tuple[float, float]]:
    (x0, x1), (y0, y1) = plot.plot_item.getViewBox().viewRange()
    return (round(x0, 6), round(x1, 6)), (round(y0, 6), round(y1, 6))


def test_stable_range_keeps_the_view_while_the_data_fits_it() -> None:
    assert stable_range(None, 0.0, 10.0) == (-HEADROOM * 10, 10 + HEADROOM * 10)
    assert stable_range((-1.0, 11.0), 0.0, 9.0) == (-1.0, 11.0)          # fits and fills half: kept
    lo, hi = stable_range((-1.0, 11.0), 0.0, 12.0)                         # left it: refit with headroom
    assert lo == -HEADROOM * 12 and hi == 12 + HEADROOM * 12
    assert stable_range((-1.0, 11.0), 4.0, 5.0) == (4 - HEADROOM, 5 + HEADROOM)   # fills too little: refit
    assert stable_range(None, 3.0, 3.0, pad_lo=False) == (3.0, 3 + 3 * HEADROOM)  # one value still has a span


def test_a_live_plot_moves_its_view_only_when_the_data_leaves_it(plot: MetricPlot) -> None:
    plot.x_end = 300                          # a live run of 300 steps: the x axis reaches its end at once
    series = {1: 2.0, 2: 1.8}
    plot.set_series("train", series)
    first = view(plot)
    assert first[0] == (1.0, 300.0) and first[1][0] < 1.8 and first[1][1] > 2.0
    for step in range(3, 40):                 # falling, within the y headroom at first
        series[step] = 1.79
        plot.set_series("train", series)
    assert view(plot) == first                # unchanged: the axes were not redrawn
    series[40] = 0.5                          # leaves the view: it moves, with headroom below
    plot.set_series("train", series)
    assert view(plot)[1][0] < 0.5 and view(plot) != first


def test_a_pan_by_hand_is_kept_until_a_double_click(plot: MetricPlot) -> None:
    series = {step: 1.0 / step for step in range(1, 50)}
    plot.set_series("train", series)
    plot.plot_item.getViewBox().sigRangeChangedManually.emit([True, True])     # what a drag emits
    plot.plot_item.setRange(xRange=(10, 20), yRange=(0, 0.2), padding=0)
    series[200] = 5.0
    plot.set_series("train", series)
    assert view(plot) == ((10.0, 20.0), (0.0, 0.2))                         # not pulled back to the data

    class DoubleClick:
        def double(self) -> bool:
            return True

    plot._clicked(DoubleClick())
    (x0, x1), (y0, y1) = view(plot)
    assert x0 <= 1 and x1 >= 200 and y0 < 1 / 49 and y1 > 5
    fitted = view(plot)                       # and back again with no new data (a finished run)
    plot.plot_item.getViewBox().sigRangeChangedManually.emit([True, True])
    plot.plot_item.setRange(xRange=(10, 20), yRange=(0, 0.2), padding=0)
    plot._clicked(DoubleClick())
    assert view(plot) == fitted


def test_curves_are_reused_and_retain_removes_the_rest(plot: MetricPlot) -> None:
    plot.set_series("a", {1: 1.0, 2: 2.0})
    plot.set_series("b", {1: 3.0})
    curve_a = plot.curves["a"]
    plot.clear_curves()
    assert plot.curves["a"] is curve_a and len(curve_a.getData()[0] if curve_a.getData()[0] is not None else []) == 0
    plot.retain({"a"})
    assert list(plot.curves) == ["a"]
    plot.set_series("c", {1: 1.0})           # takes the free colour of "b", not the one of "a"
    assert plot.curves["c"].opts["_slot"] == 1 and curve_a.opts["_slot"] == 0


def test_run_list_updates_rows_without_reporting_a_tick(app, qtbot) -> None:  # noqa: ANN001
    """A live run's row changes a few times a second; that is not a change of the ticked runs (it
    used to be reported as one, and the compare plot was rebuilt each time)."""
    ctx, window = app
    window.show_page("Runs")
    run_list = window.page("Runs").list
    args = ["event-flood", "--run-dir", "{run_dir}", "--rate", "200", "--seconds", "0.2"]
    run_id = ctx.runs.start_stand_in(ctx.config.config, args)
    qtbot.waitUntil(lambda: ctx.runs.history(run_id).status == "completed" and run_id in run_list.items,
                    timeout=60_000)
    run_list.refresh_rows()
    reported: list[list[str]] = []
    run_list.compare_changed.connect(reported.append)
    history = ctx.runs.history(run_id)
    history.status, history.step, history.max_steps = "running", 10, 40        # as a live run's row changes
    run_list.refresh_rows()
    assert run_list.items[run_id].text(1) == "25%" and reported == []
    history.status = "completed"
    run_list.refresh_rows()
    assert run_list.items[run_id].text(1) == "completed" and reported == []
    run_list.items[run_id].setCheckState(0, Qt.CheckState.Checked)
    assert reported == [[run_id]]                            # a tick still reports


def test_a_narrow_plot_shortens_its_title_instead_of_pushing_its_curves_out(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    """pyqtgraph makes a plot at least as wide as its left axis and title: at 1024x700 the Runs
    page's small plots are 135 px wide, and "Learning rate" pushed the plot's right part out of view."""
    from PySide6.QtWidgets import QApplication

    theme = Theme(QSettings(str(tmp_path / "gui.ini"), QSettings.Format.IniFormat))
    plots = [MetricPlot(theme, "Learning rate", "lr", short_title="LR"), MetricPlot(theme, "Throughput", "tokens/s")]
    for plot in plots:
        qtbot.addWidget(plot)
        plot.set_series("lr", {1: 0.001, 2: 0.002})
        plot.resize(135, 170)
        plot.show()
    QApplication.processEvents()
    assert plots[0]._title_shown == "LR" and plots[1]._title_shown.endswith("…")
    for plot in plots:
        assert plot.plot_item.geometry().width() <= plot.plot_widget.viewport().width() + 1
        assert plot.toolTip() == plot.title                  # the whole title on hover
    plots[0].resize(500, 300)
    QApplication.processEvents()
    assert plots[0]._title_shown == "Learning rate"
