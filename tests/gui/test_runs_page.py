"""The Runs page with real training on the tiny model: one click on Train, live events and plots,
cancel, resume, a worker killed with SIGKILL, and a run started from the command line."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from PySide6.QtWidgets import QWidget

from studio.core.run_history import RunHistory
from studio.core.run_setup import create_run
from studio.core.runs import EVENTS, checkpoints
from studio.core.worker_process import WorkerProcess

pytestmark = pytest.mark.slow
TRAIN_TIMEOUT = 600_000          # the shared 2-core machines are slow under load


def click_train(window, qtbot) -> str:  # noqa: ANN001
    window.show_page("Train")
    train = window.page("Train")
    qtbot.waitUntil(lambda: train.info is not None, timeout=10_000)
    train.findChild(QWidget, "train-button").click()
    runs = window.page("Runs")
    qtbot.waitUntil(lambda: runs.selected is not None and runs.isVisible(), timeout=10_000)
    return runs.selected


def test_train_shows_live_events_then_cancel_and_resume(app, qtbot) -> None:
    ctx, window = app
    ctx.config.set("train.max_steps", 60)
    ctx.config.set("train.batch_size", 4)
    ctx.config.set("data.eval_split", 0.0)
    run_id = click_train(window, qtbot)
    runs = window.page("Runs")
    history = ctx.runs.history(run_id)
    qtbot.waitUntil(lambda: len(history.series["loss"]) >= 5, timeout=TRAIN_TIMEOUT)
    curve = runs.plots.loss.curves["train"]
    qtbot.waitUntil(lambda: curve.xData is not None and len(curve.xData) >= 5, timeout=5000)  # drawn by the timer
    assert runs.summary.badge.text() == "running"
    assert runs.summary.progress.maximum() == 60
    assert window.page("Train").train_button.text().strip() == "Add to queue"   # one run at a time

    runs.summary.cancel.click()
    qtbot.waitUntil(lambda: history.status == "cancelled", timeout=TRAIN_TIMEOUT)
    saved = checkpoints(ctx.workspace.run_dir(run_id))
    assert len(saved) == 1
    qtbot.waitUntil(lambda: runs.summary.resume.isEnabled(), timeout=TRAIN_TIMEOUT)   # once the worker exited
    assert "can be resumed" in runs.summary.stage.text()

    runs.summary.resume.click()                                  # continues in the same run folder
    resumed = ctx.runs.history(run_id)
    qtbot.waitUntil(lambda: resumed.status == "completed", timeout=TRAIN_TIMEOUT)
    assert resumed.attempts == 2 and resumed.step == 60
    steps, _ = RunHistory.from_file(ctx.workspace.run_dir(run_id) / EVENTS).points("loss")
    assert steps == list(range(1, 61))
    qtbot.waitUntil(lambda: runs.summary.badge.text() == "completed", timeout=5000)


def test_killed_worker_is_reported_and_the_app_keeps_running(app, qtbot) -> None:
    ctx, window = app
    ctx.config.set("train.max_steps", 400)
    ctx.config.set("train.batch_size", 4)
    ctx.config.set("train.save_every", 2)
    ctx.config.set("data.eval_split", 0.0)
    run_id = click_train(window, qtbot)
    history = ctx.runs.history(run_id)
    qtbot.waitUntil(lambda: bool(history.checkpoints) and history.step >= 3, timeout=TRAIN_TIMEOUT)
    os.kill(int(history.hello["pid"]), signal.SIGKILL)
    qtbot.waitUntil(lambda: history.status == "failed", timeout=30_000)
    runs = window.page("Runs")
    qtbot.waitUntil(lambda: runs.summary.banner.isVisible(), timeout=5000)
    assert runs.summary.banner.title.text() == "The training worker stopped unexpectedly"
    assert "killed by a signal" in runs.summary.banner.body.text()
    assert "resume from checkpoint-" in runs.summary.banner.body.text()
    assert RunHistory.from_file(ctx.workspace.run_dir(run_id) / EVENTS).status == "failed"   # recorded on disk
    assert window.isVisible() and runs.summary.resume.isEnabled()
    window.show_page("Data")                                       # the app still works
    assert window.stack.currentWidget() is window.page("Data")


def test_a_run_started_from_the_terminal_is_followed(app, qtbot) -> None:
    ctx, window = app
    ctx.config.set("train.max_steps", 8)
    ctx.config.set("data.eval_split", 0.0)
    run_dir = create_run(ctx.workspace, ctx.config.snapshot())
    worker = WorkerProcess(["train", "--run-dir", str(run_dir)])
    try:
        ctx.runs.refresh()
        assert run_dir.name in ctx.runs.run_ids()
        runs = window.page("Runs")
        window.show_page("Runs")
        runs.list.select(run_dir.name)
        qtbot.waitUntil(lambda: ctx.runs.history(run_dir.name).status == "completed", timeout=TRAIN_TIMEOUT)
        assert ctx.runs.history(run_dir.name).step == 8
        qtbot.waitUntil(lambda: runs.summary.badge.text() == "completed", timeout=5000)
    finally:
        for _ in worker.events():
            pass
        worker.wait()


def test_runs_list_survives_a_restart(app, qtbot, tmp_path: Path) -> None:
    ctx, window = app
    ctx.config.set("train.max_steps", 3)
    ctx.config.set("data.eval_split", 0.0)
    run_id = click_train(window, qtbot)
    qtbot.waitUntil(lambda: ctx.runs.history(run_id).status == "completed", timeout=TRAIN_TIMEOUT)

    from PySide6.QtCore import QSettings

    from studio.gui.app import build

    ctx2, window2 = build(ctx.workspace.home, QSettings(str(tmp_path / "other.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window2)
    ctx2.runs.refresh()
    assert ctx2.runs.history(run_id).status == "completed"
    assert window2.page("Runs").list.items[run_id].text(1) == "completed"
