"""A worker that sends thousands of events at once: every event arrives, in order, the app keeps
drawing, and the plots catch up with the last event."""

from __future__ import annotations

from pathlib import Path

from studio.core.runs import EVENTS
from studio.core.run_history import RunHistory
from studio.gui.worker_task import WorkerTask


def test_a_burst_of_events_arrives_complete_and_in_order(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    task = WorkerTask(["event-flood", "--run-dir", str(run_dir), "--rate", "100000", "--seconds", "0.05"])
    steps: list[int] = []
    kinds: list[str] = []
    task.event.connect(lambda e: (kinds.append(e["type"]), e["type"] == "progress" and steps.append(e["step"])))
    with qtbot.waitSignal(task.finished, timeout=60_000) as finished:
        task.start()
    assert finished.args[0] == 0
    assert steps == list(range(1, 5001))            # none lost, none reordered
    assert kinds[0] == "hello" and kinds[-1] == "done" and task.done_event["steps"] == 5000
    assert RunHistory.from_file(run_dir / EVENTS).step == 5000   # the same events on disk


def test_runs_page_follows_a_flood_and_every_plot_catches_up(app, qtbot) -> None:  # noqa: ANN001
    ctx, window = app
    page = window.page("Runs")
    window.show_page("Runs")
    args = ["event-flood", "--run-dir", "{run_dir}", "--rate", "2000", "--seconds", "1"]
    run_id = ctx.runs.start_stand_in(ctx.config.config, args)
    qtbot.waitUntil(lambda: page.selected == run_id, timeout=10_000)
    # while the run is live, plots are redrawn one per frame; they still show data before the end
    plots = (page.plots.loss, page.plots.lr, page.plots.grad_norm, page.plots.speed, page.plots.memory)

    def points(plot) -> int:  # noqa: ANN001
        # the points given to the curve (getData() is what is drawn: fewer on a narrow plot, downsampled)
        curve = next(iter(plot.curves.values()), None)
        xs = curve.getOriginalDataset()[0] if curve is not None else None
        return 0 if xs is None else len(xs)

    qtbot.waitUntil(lambda: points(page.plots.loss) > 0, timeout=30_000)
    qtbot.waitUntil(lambda: ctx.runs.history(run_id).status == "completed", timeout=60_000)
    qtbot.waitUntil(lambda: all(points(p) == 2000 for p in plots), timeout=10_000)
    # the status bar says so when the worker process has exited, which may come after its last event
    qtbot.waitUntil(lambda: "completed" in window.run_label.text(), timeout=30_000)
